"""The fast encoders (ONNX Runtime, numpy) must give sentence-transformers' vectors, or not be used."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from semsearch.encoders import onnx as onnxencoder
from semsearch.config import models_dir
from semsearch.encoders.embedder import Embedder
from semsearch.encoders.onnx import OnnxEncoder, has_valid_export

from conftest import SEEDS

MODEL = models_dir() / "multilingual-e5-small"


# These tests load the real model (or run the CLI/server, which does).
pytestmark = pytest.mark.slow


def _texts() -> list[str]:
    paragraphs = [p.strip() for f in sorted(SEEDS.glob("*.txt"))
                  for p in f.read_text(encoding="utf-8").splitlines() if len(p.strip()) > 20]
    # Short and long (past the 512-token truncation), Traditional and Simplified, plus English.
    return paragraphs[::9][:12] + [paragraphs[0] * 8, "committee member workstations", "政協委員如何參與基層協商？"]


@pytest.fixture(scope="module")
def reference() -> tuple[list[str], np.ndarray]:
    from sentence_transformers import SentenceTransformer

    texts = _texts()
    model = SentenceTransformer(str(MODEL), device="cpu")
    return texts, model.encode(["passage: " + t for t in texts], normalize_embeddings=True, batch_size=4)


def _folder_copy(tmp_path: Path, with_onnx: bool) -> Path:
    """A model folder of symlinks to the real files (the weights are not copied)."""
    folder = tmp_path / "model"
    folder.mkdir()
    for item in MODEL.iterdir():
        if item.name != onnxencoder.ONNX_DIRNAME:
            (folder / item.name).symlink_to(item)
    if with_onnx:
        shutil.copytree(MODEL / onnxencoder.ONNX_DIRNAME, folder / onnxencoder.ONNX_DIRNAME, symlinks=True)
    return folder


def test_setup_leaves_a_checked_onnx_export_of_the_default_model():
    assert has_valid_export(MODEL)
    stamp = json.loads((MODEL / "onnx" / onnxencoder.STAMP).read_text(encoding="utf-8"))
    assert stamp["min_cosine_to_reference"]["encoder.onnx"] >= onnxencoder.MIN_COSINE


@pytest.mark.slow
def test_onnx_vectors_match_sentence_transformers_one_by_one_and_padded_in_batches(reference):
    texts, expected = reference
    encoder = OnnxEncoder(MODEL)
    batched = encoder.encode(texts, "passage: ")
    single = np.stack([encoder.encode([t], "passage: ")[0] for t in texts])
    assert (batched * expected).sum(axis=1).min() >= 0.9999
    assert (single * expected).sum(axis=1).min() >= 0.9999


@pytest.mark.slow
def test_int8_graph_stays_close_to_the_float_vectors_but_is_not_them(reference):
    texts, expected = reference
    vectors = OnnxEncoder(MODEL, int8=True).encode(texts, "passage: ")
    cosines = (vectors * expected).sum(axis=1)
    assert cosines.min() >= onnxencoder.MIN_INT8_COSINE
    assert cosines.max() < 0.99999  # it really is the quantised graph


def test_int8_graph_keeps_each_feed_forward_output_in_float_and_quantises_the_rest():
    import onnx

    graph = onnx.load(str(MODEL / "onnx" / onnxencoder.INT8_GRAPH), load_external_data=False).graph
    constants = {i.name for i in graph.initializer}
    float_matmuls = [n.name for n in graph.node if n.op_type == "MatMul" and n.input[1] in constants]
    quantised = [n for n in graph.node if n.op_type == "MatMulInteger"]
    assert len(float_matmuls) == 12 and all(name.endswith("/output/dense/MatMul") for name in float_matmuls)
    assert len(quantised) == 12 * 5  # query, key, value, attention output, feed-forward input
    assert float_matmuls == onnxencoder._ffn_output_matmuls(MODEL / "onnx" / onnxencoder.GRAPH)


def test_new_indexes_get_the_int8_graph_only_on_a_cpu_where_it_pays_and_either_when_asked(monkeypatch):
    monkeypatch.delenv("SEMSEARCH_INT8", raising=False)
    monkeypatch.setattr(onnxencoder, "int8_pays", lambda: True)
    assert Embedder().passage_precision() == "int8"
    monkeypatch.setattr(onnxencoder, "int8_pays", lambda: False)
    assert Embedder().passage_precision() == "float32"
    monkeypatch.setenv("SEMSEARCH_INT8", "1")
    assert Embedder().passage_precision() == "int8"
    monkeypatch.setenv("SEMSEARCH_INT8", "0")
    monkeypatch.setattr(onnxencoder, "int8_pays", lambda: True)
    assert Embedder().passage_precision() == "float32"


def test_an_existing_index_keeps_its_passage_graph_unless_another_is_asked_for(monkeypatch):
    monkeypatch.delenv("SEMSEARCH_INT8", raising=False)
    monkeypatch.setattr(onnxencoder, "int8_pays", lambda: False)
    assert Embedder().passage_precision("int8") == "int8"
    assert Embedder().passage_precision("mixed") == "float32"  # new text in a mixed index: the CPU's graph
    monkeypatch.setattr(onnxencoder, "int8_pays", lambda: True)
    assert Embedder().passage_precision("float32") == "float32"
    monkeypatch.setenv("SEMSEARCH_INT8", "1")
    assert Embedder().passage_precision("float32") == "int8"


def test_int8_pays_only_with_int8_dot_product_instructions(monkeypatch):
    monkeypatch.setattr(onnxencoder.platform, "system", lambda: "Linux")
    zen2 = "fpu sse sse2 avx fma avx2 sha_ni"  # the AVX2-only EPYC the benchmarks ran on
    for flags, pays in ((zen2, False), (zen2 + " avx512f avx512_vnni", True), (zen2 + " avx_vnni", True),
                        ("fp asimd asimddp", True), ("", False)):
        monkeypatch.setattr(onnxencoder, "cpu_flags", lambda flags=flags: frozenset(flags.split()))
        onnxencoder.int8_pays.cache_clear()
        assert onnxencoder.int8_pays() is pays, flags
    onnxencoder.int8_pays.cache_clear()


def test_cpu_flags_reads_this_machines_cpu():
    flags = onnxencoder.cpu_flags()
    if Path("/proc/cpuinfo").is_file():
        assert flags and ("sse2" in flags or "asimd" in flags or "fp" in flags)


def test_questions_stay_on_the_float_graph_unless_int8_questions_are_asked_for(monkeypatch):
    from semsearch.config import DEFAULTS

    question = "如何建设委员工作站?"
    monkeypatch.setenv("SEMSEARCH_INT8", "1")
    default = Embedder()
    assert default.passage_precision() == "int8" and default._light.graph.name == onnxencoder.GRAPH
    int8 = Embedder(settings=DEFAULTS.but(questions_int8=True))  # the variant bench/quality.py --int8-questions measures
    assert int8._light.graph.name == onnxencoder.INT8_GRAPH
    cosine = float(int8.encode_query(question) @ default.encode_query(question))
    assert onnxencoder.MIN_INT8_COSINE <= cosine < 0.99999  # close to the float vector, and not it


def test_questions_are_encoded_one_at_a_time_on_one_thread_and_two_threads_give_the_same_vector():
    embedder = Embedder()
    assert embedder._light.threads == 1 and embedder._light.batch_size == 1
    two_threads = OnnxEncoder(MODEL, threads=2, short_texts=True)  # the variant bench/question_threads.py times
    assert two_threads.batch_size == 1
    question = "如何建设委员工作站?"
    assert float(embedder.encode_query(question) @ two_threads.encode([question], "query: ")[0]) >= 0.99999


def test_an_int8_graph_of_an_older_recipe_is_not_used_and_model_install_remakes_it(tmp_path, monkeypatch):
    monkeypatch.setenv("SEMSEARCH_INT8", "1")
    folder = _folder_copy(tmp_path, with_onnx=True)
    stamp_path = folder / "onnx" / onnxencoder.STAMP
    stamp = json.loads(stamp_path.read_text(encoding="utf-8"))
    del stamp["int8_recipe"]  # as an export made before the recipe was recorded
    stamp_path.write_text(json.dumps(stamp), encoding="utf-8")
    assert has_valid_export(folder) and not onnxencoder.has_current_int8(folder)
    assert Embedder(str(folder)).passage_precision() == "float32"  # the float graph still serves

    from semsearch.interfaces import model_commands

    assert model_commands._export_onnx(folder, force=False)
    assert onnxencoder.has_current_int8(folder)
    assert Embedder(str(folder)).passage_precision() == "int8"


def test_embedder_indexes_and_queries_through_onnx_without_importing_torch():
    import subprocess
    import sys

    code = ("import sys; from semsearch.encoders.embedder import Embedder; e = Embedder(); "
            "q = e.encode_query('如何建设委员工作站?'); p = e.encode_passages(['委员工作站', '协商']); "
            "print(type(e._light).__name__, type(e._passage_encoder()).__name__, q.shape, p.shape, "
            "'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["OnnxEncoder", "OnnxEncoder", "(384,)", "(2,", "384)", "False"]


def test_an_export_from_other_weights_is_ignored_for_the_numpy_path(tmp_path):
    folder = _folder_copy(tmp_path, with_onnx=True)
    stamp_path = folder / "onnx" / onnxencoder.STAMP
    assert has_valid_export(folder)
    stamp = json.loads(stamp_path.read_text(encoding="utf-8"))
    stamp["safetensors_size"] += 1  # as if model.safetensors had been replaced since the export
    stamp_path.write_text(json.dumps(stamp), encoding="utf-8")
    assert not has_valid_export(folder)
    embedder = Embedder(str(folder))
    assert embedder._light is None and embedder._passage_encoder() is None  # sentence-transformers encodes


def test_a_failed_export_leaves_no_graph_behind(tmp_path, monkeypatch):
    folder = _folder_copy(tmp_path, with_onnx=False)

    def broken_export(source, out):
        out.write_bytes(b"half a graph")
        raise RuntimeError("disk full")

    monkeypatch.setattr(onnxencoder, "_export_graph", broken_export)
    with pytest.raises(RuntimeError, match="disk full"):
        onnxencoder.export(folder)
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in MODEL.iterdir() if p.name != "onnx")
    assert not has_valid_export(folder)


def test_export_refuses_a_folder_it_cannot_reproduce(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "t5"}', encoding="utf-8")
    with pytest.raises(RuntimeError, match="not a BERT"):
        onnxencoder.export(tmp_path)


def test_preloading_in_the_background_gives_the_same_query_vector():
    preloaded = Embedder()
    preloaded.preload()
    assert len(preloaded._preloads) == 3
    vector = preloaded.encode_query("如何建设委员工作站?")
    assert not any(thread.is_alive() for thread in preloaded._preloads)
    assert float(vector @ Embedder().encode_query("如何建设委员工作站?")) >= 0.99999


def test_reindex_int8_without_an_int8_graph_warns_and_embeds_in_float(tmp_path):
    import subprocess
    import sys

    folder = _folder_copy(tmp_path, with_onnx=True)
    stamp_path = folder / "onnx" / onnxencoder.STAMP
    stamp = json.loads(stamp_path.read_text(encoding="utf-8"))
    stamp["int8_recipe"] = "an older recipe"
    stamp_path.write_text(json.dumps(stamp), encoding="utf-8")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("委员工作站的建设情况。", encoding="utf-8")
    index = tmp_path / "index"
    cmd = [sys.executable, "-m", "semsearch"]
    proc = subprocess.run([*cmd, "reindex", str(corpus), "--int8", "--model", str(folder), "--index", str(index)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "no int8 graph" in proc.stderr
    status = subprocess.run([*cmd, "status", "--json", "--index", str(index)], capture_output=True, text=True)
    assert json.loads(status.stdout)["passage_vectors"] == "float32"
