"""Shared fixtures: a fast fake embedder for plumbing tests, and one real index for end-to-end tests."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "seeds"
WORKER = REPO / "tests" / "reindex_worker.py"
ENGLISH_CORPUS = REPO / "bench" / "corpora" / "english"
DEV_QUESTIONS = REPO / "bench" / "questions" / "dev_questions.jsonl"


class FakeEmbedder:
    """Deterministic bag-of-bigrams vectors: fast, meaningful enough for plumbing tests."""

    model_id = "fake-bigram-64"
    dimension = 64
    max_tokens = 512

    def __init__(self):
        self.embedded_texts: list[str] = []

    def count_tokens(self, texts):
        return [max(1, len(t) // 2) for t in texts]

    def _vector(self, text: str) -> np.ndarray:
        v = np.zeros(self.dimension, dtype=np.float32)
        for a, b in zip(text, text[1:]):
            v[int(hashlib.md5((a + b).encode()).hexdigest(), 16) % self.dimension] += 1.0
        norm = np.linalg.norm(v)
        return v / norm if norm else v

    def passage_precision(self, index_precision=None):
        return "float32"

    def encode_passages(self, texts, on_batch=None, exact=False, precision=None):
        self.embedded_texts.extend(texts)
        out = np.stack([self._vector(t) for t in texts]) if texts else np.zeros((0, self.dimension), np.float32)
        if on_batch:
            on_batch(len(texts))
        return out

    def encode_query(self, text):
        return self._vector(text)

    def encode_sentences(self, texts):
        return np.stack([self._vector(t) for t in texts]) if texts else np.zeros((0, self.dimension), np.float32)


def require_extra(module: str, install: str):
    """``module`` imported, or the test module skipped with how to install it; under CI (SEMSEARCH_REQUIRE_EXTRAS=1)
    a missing extra fails instead, so a missing install step cannot pass as a skip."""
    if os.environ.get("SEMSEARCH_REQUIRE_EXTRAS") == "1":
        import importlib

        return importlib.import_module(module)
    return pytest.importorskip(module, reason=f"needs {install}")


# Fixtures that build an index with the real default model: a test that uses one loads the model.
REAL_MODEL_FIXTURES = {"real_index", "english_index", "seeds_generation"}


def pytest_collection_modifyitems(items):
    """Every test that loads the real model is slow (``-m "not slow"`` leaves it out)."""
    for item in items:
        if REAL_MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def fake_embedder():
    return FakeEmbedder()


@pytest.fixture
def corpus(tmp_path) -> Path:
    """A private copy of the seed corpus that a test may change."""
    target = tmp_path / "corpus"
    shutil.copytree(SEEDS, target)
    return target


@pytest.fixture(scope="session")
def real_index(tmp_path_factory) -> Path:
    """One index of the seeds built with the real default model, shared by end-to-end tests."""
    from semsearch import Index

    path = tmp_path_factory.mktemp("real") / "index"
    Index.open(path).reindex([SEEDS])
    return path


@pytest.fixture(scope="session")
def english_index(tmp_path_factory) -> Path:
    """An index of bench/corpora/english (five English reports) built with the real default model."""
    from semsearch import Index

    path = tmp_path_factory.mktemp("english") / "index"
    Index.open(path).reindex([ENGLISH_CORPUS])
    return path


@pytest.fixture(scope="session", autouse=True)
def _offline():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
