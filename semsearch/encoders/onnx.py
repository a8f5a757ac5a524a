"""An ONNX Runtime forward pass for the BERT folders ``tokenized.TokenizedEncoder`` accepts: the fast encoder.

Owns the exported graph (``onnx/encoder.onnx`` in a model folder), its export,
its check against sentence-transformers, and running it. The graph takes word
embeddings, not token ids: the 96M-parameter embedding matrix stays in
``model.safetensors`` (memory-mapped; only the rows a batch uses are read), so
the graph stays small and quick to load, and no torch is imported. ORT encodes passages
faster than sentence-transformers on torch, with the same vectors (cosine ≥ 0.9999 is checked at export and in
tests/encoders/test_onnx.py), so an index stays searchable by either path.

``encoder-int8.onnx`` is a dynamically quantised copy (int8 weights per output
channel) that embeds passages by default where the CPU has int8 dot-product instructions
(``int8_pays``; ``reindex --int8/--float`` chooses): every weight matrix
is int8 except the feed-forward output layers, whose inputs (GELU outputs, heavy-tailed) lose most
under 8-bit activations: keeping those in float gives up some speed for a much smaller error.
Without those instructions it is no faster than the float graph, so there passages stay
in float. Questions run the float graph unless ``Settings.questions_int8`` (docs/decisions.md).

The export needs torch, transformers and onnx (present at install time); running
needs only onnxruntime. A folder without a valid export is encoded by sentence-transformers.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import platform
import shutil
import tempfile
import warnings
from contextlib import contextmanager
from functools import cache, cached_property
from pathlib import Path

import numpy as np

from semsearch.encoders.tokenized import TokenizedEncoder

ONNX_DIRNAME = "onnx"
GRAPH = "encoder.onnx"
INT8_GRAPH = "encoder-int8.onnx"
STAMP = "semsearch_onnx.json"
MIN_COSINE = 0.9999  # to sentence-transformers' own vectors
# Which int8 graph an export holds; an export without this recipe gets its int8 graph made again.
INT8_RECIPE = "dynamic-int8-per-channel, ffn-output-float"
MIN_INT8_COSINE = 0.995  # below it the int8 graph is not used (passages fall back to the float graph)

# Texts the export is checked on: both scripts, English, a long passage, and a batch that needs padding.
CHECK_TEXTS = [
    "query: 如何建设委员工作站?",
    "query: 政協委員如何參與基層協商？",
    "query: How many committee member workstations were built?",
    "passage: 全国政协委员深入基层，围绕乡村振兴、生态保护等议题开展协商议政，推动解决群众急难愁盼问题。" * 4,
    "passage: x",
]


# CPU features that give ONNX Runtime's int8 matrix products their speed: x86 VNNI (AVX-512 or AVX) and AMX,
# and the Arm dot-product / matrix-multiply extensions.
INT8_DOT_PRODUCT_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8", "asimddp", "i8mm"})


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags as Linux reports them (x86 ``flags``, Arm ``Features``); empty elsewhere."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


@cache
def int8_pays() -> bool:
    """True where the int8 graph embeds faster than the float one: a CPU with int8 dot-product instructions.

    Without them it runs no faster than the float graph, so it would only cost accuracy
    (docs/decisions.md). Apple silicon has the Arm dot product; elsewhere, unknown CPUs get
    the float graph, which is never wrong.
    """
    if platform.system() == "Darwin":
        return platform.machine() == "arm64"
    return bool(cpu_flags() & INT8_DOT_PRODUCT_FLAGS)


def _source_signature(folder: Path) -> dict:
    stat = (folder / "model.safetensors").stat()
    return {"safetensors_size": stat.st_size, "safetensors_mtime_ns": stat.st_mtime_ns}


def _valid_stamp(folder: Path) -> dict | None:
    """The export's stamp when it was made from the folder's current weights and ORT is installed."""
    try:
        stamp = json.loads((folder / ONNX_DIRNAME / STAMP).read_text(encoding="utf-8"))
        signature = _source_signature(folder)
    except (OSError, ValueError):
        return None
    if (all(stamp.get(key) == value for key, value in signature.items())
            and (folder / ONNX_DIRNAME / GRAPH).is_file()
            and importlib.util.find_spec("onnxruntime") is not None):
        return stamp
    return None


def has_valid_export(folder: str | Path) -> bool:
    """True when ``folder`` holds a checked export made from its current weights, and ORT is installed."""
    return _valid_stamp(Path(folder)) is not None


def has_current_int8(folder: str | Path) -> bool:
    """True when ``folder``'s export also holds an int8 graph of today's recipe that passed its check."""
    stamp = _valid_stamp(Path(folder))
    return stamp is not None and stamp.get("int8_recipe") == INT8_RECIPE and stamp.get("int8_checked") is True \
        and (Path(folder) / ONNX_DIRNAME / INT8_GRAPH).is_file()


def _ffn_output_matmuls(graph_path: Path) -> list[str]:
    """Names of the MatMuls that take a GELU's output: each layer's feed-forward output projection.

    Found by structure (a MatMul with a constant weight whose input a ``Mul`` or ``Gelu``
    produced: the erf GELU ends in a Mul), not by name, so any BERT export qualifies.
    """
    import onnx

    graph = onnx.load(str(graph_path), load_external_data=False).graph
    constants = {i.name for i in graph.initializer}
    producer = {out: node.op_type for node in graph.node for out in node.output}
    return [node.name for node in graph.node
            if node.op_type == "MatMul" and node.input[1] in constants
            and producer.get(node.input[0]) in ("Mul", "Gelu")]


class OnnxEncoder(TokenizedEncoder):
    """Tokenising and batching (``TokenizedEncoder``), with ORT running the encoder layers."""

    def __init__(self, folder: str | Path, threads: int = 1, int8: bool = False, short_texts: bool | None = None,
                 spin: bool = True):
        super().__init__(folder)
        self.threads = threads
        self.spin = spin
        self.graph = self.folder / ONNX_DIRNAME / (INT8_GRAPH if int8 else GRAPH)
        # Short texts are a question or a few answer sentences: ORT is already compute-bound on
        # one of them, so batching them only adds padding. Passages on all cores keep TokenizedEncoder's
        # 8, the best batch size (docs/decisions.md).
        if short_texts is None:
            short_texts = threads == 1
        if short_texts:
            self.batch_size = 1

    @staticmethod
    def available(folder: str | Path) -> bool:
        return TokenizedEncoder.supports(folder) and has_valid_export(folder)

    @cached_property
    def session(self):
        import onnxruntime as ort

        options = ort.SessionOptions()
        # Concurrent callers each run on their own thread (ORT releases the GIL); a server keeps each on one.
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        if not self.spin:
            # Idle pool threads sleep instead of busy-waiting for the next operator: cheaper for
            # whatever else runs, but slower per question, so only bench/question_threads.py asks for it.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        return ort.InferenceSession(str(self.graph), options, providers=["CPUExecutionProvider"])

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        words = self.word_embeddings[ids.reshape(-1)].astype(np.float32).reshape(*ids.shape, -1)
        return self.session.run(None, {"inputs_embeds": words, "attention_mask": mask.astype(np.int64)})[0]


def export(folder: str | Path) -> Path:
    """Export ``folder``'s encoder to ``folder/onnx`` (fp32 and int8), both checked against sentence-transformers.

    Written into a temporary sibling and renamed into place, so a failed or
    interrupted export leaves no half-written graph that could be used.
    Raises RuntimeError when the exported graph does not reproduce the model.
    """
    folder = Path(folder)
    if not TokenizedEncoder.supports(folder):
        raise RuntimeError(f"{folder} is not a BERT sentence-transformers folder semsearch can export")
    staging = Path(tempfile.mkdtemp(prefix=".onnx-", dir=folder))
    try:
        _export_graph(folder, staging / GRAPH)
        from onnxruntime.quantization import QuantType, quantize_dynamic

        with warnings.catch_warnings(), _quiet_root_logger():
            warnings.simplefilter("ignore")
            quantize_dynamic(str(staging / GRAPH), str(staging / INT8_GRAPH), weight_type=QuantType.QInt8,
                             per_channel=True, nodes_to_exclude=_ffn_output_matmuls(staging / GRAPH))
        reference = _reference_vectors(folder)
        cosines = {}
        for name in (GRAPH, INT8_GRAPH):
            encoder = OnnxEncoder(folder)
            encoder.graph = staging / name
            vectors = encoder.encode(CHECK_TEXTS)
            cosines[name] = float((vectors * reference).sum(axis=1).min())
        if cosines[GRAPH] < MIN_COSINE:
            raise RuntimeError(f"exported graph reproduces the model only to cosine {cosines[GRAPH]:.6f}")
        (staging / STAMP).write_text(json.dumps(_source_signature(folder) | {
            "min_cosine_to_reference": {k: round(v, 6) for k, v in cosines.items()},
            "int8_recipe": INT8_RECIPE, "int8_checked": cosines[INT8_GRAPH] >= MIN_INT8_COSINE,
            "inputs": ["inputs_embeds", "attention_mask"], "output": "normalised mean-pooled embedding",
        }, indent=2) + "\n", encoding="utf-8")
        staging.chmod(0o755)
        target = folder / ONNX_DIRNAME
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
        return target
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _reference_vectors(folder: Path) -> np.ndarray:
    """``CHECK_TEXTS`` embedded by sentence-transformers itself: what the graph must reproduce."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(folder), device="cpu")
    vectors = model.encode(CHECK_TEXTS, batch_size=8, normalize_embeddings=True, convert_to_numpy=True,
                           show_progress_bar=False)
    return np.ascontiguousarray(vectors, dtype=np.float32)


@contextmanager
def _quiet_root_logger():
    # onnxruntime.quantization advises pre-processing through the root logger; nothing to act on here.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def _export_graph(folder: Path, out: Path) -> None:
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    model = AutoModel.from_pretrained(str(folder), attn_implementation="eager").eval()

    class Pooled(torch.nn.Module):
        # sentence-transformers' Transformer -> mean Pooling -> Normalize, as one graph.
        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, inputs_embeds, attention_mask):
            hidden = self.bert(inputs_embeds=inputs_embeds, attention_mask=attention_mask).last_hidden_state
            weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=-1)

    hidden = int(model.config.hidden_size)
    example = (torch.randn(2, 7, hidden), torch.ones(2, 7, dtype=torch.long))
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(Pooled(model), example, str(out), input_names=["inputs_embeds", "attention_mask"],
                          output_names=["embedding"], opset_version=17, dynamo=False,
                          dynamic_axes={"inputs_embeds": {0: "batch", 1: "tokens"},
                                        "attention_mask": {0: "batch", 1: "tokens"}, "embedding": {0: "batch"}})
