"""Where a generation's vectors are searched: the local FAISS file, or a Milvus collection.

Dense retrieval asks a ``VectorIndex`` for the chunks nearest a question; the generation's meta
(``vector_store``) says which one it is, and ``open_vector_index`` makes it. Both answer with
chunk ids of that generation and cosines (vectors are L2-normalised).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from semsearch.config import DEFAULTS, Settings
from semsearch.errors import IndexProblem
from semsearch.store.layout import VECTORS_FILE
from semsearch.store.vectors import faiss_module, load_vector_index, splits_one_query

LOCAL = "faiss"  # the meta value of an index whose vectors are in its own FAISS file


class VectorIndex(Protocol):
    ntotal: int  # vectors searchable (0: search returns nothing)
    dimension: int
    splits_one_query: bool  # one query's search can use several threads when it has the cores

    def search(self, vector: np.ndarray, n: int, threads: int = 1) -> list[tuple[int, float]]:
        """(chunk id, cosine) of the ``n`` nearest chunks, best first."""

    def vectors_of(self, hashes: list[str]) -> dict[str, np.ndarray]:
        """Vectors by chunk text hash that the store keeps and the generation's ``vectors`` table does not."""

    def close(self) -> None:
        ...


class FaissVectors:
    """The generation's own FAISS file: row i is chunk i."""

    def __init__(self, path: Path, settings: Settings = DEFAULTS):
        try:
            self.index = load_vector_index(path / VECTORS_FILE, settings)
        except RuntimeError as exc:
            raise IndexProblem(f"vector file in {path} is unreadable; rebuild it with: semsearch reindex --rebuild") from exc
        self.splits_one_query = splits_one_query(self.index)

    @property
    def ntotal(self) -> int:
        return self.index.ntotal

    @property
    def dimension(self) -> int:
        return self.index.d

    def search(self, vector: np.ndarray, n: int, threads: int = 1) -> list[tuple[int, float]]:
        if self.index.ntotal == 0:
            return []
        faiss = faiss_module()
        # The OpenMP setting is per thread; restore it.
        before = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(threads)
        try:
            scores, ids = self.index.search(vector.reshape(1, -1), min(n, self.index.ntotal))
        finally:
            faiss.omp_set_num_threads(before)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def vectors_of(self, hashes: list[str]) -> dict[str, np.ndarray]:
        return {}  # the generation's vectors table holds every vector

    def close(self) -> None:
        pass


class MilvusVectors:
    """A Milvus collection keyed by chunk text hash; hits are mapped to this generation's chunk ids.

    The collection may hold rows no longer (or not yet) used by this generation: a reindex inserts
    before its generation goes live and deletes after. Such hits are skipped, so a little more than
    ``n`` is fetched.
    """

    splits_one_query = False

    def __init__(self, url: str, chunk_count: int, dimension: int, model: str,
                 chunk_ids: Callable[[list[str]], dict[str, list[int]]], search_params: dict,
                 settings: Settings = DEFAULTS, written_at: float = 0.0):
        from semsearch.store.milvus import MilvusStore

        self.store = MilvusStore.connect(url, settings)
        self.store.check_model(model, dimension)
        self.store.ensure_loaded()
        self.ntotal = chunk_count
        self.dimension = dimension
        self._chunk_ids = chunk_ids
        self._params = search_params
        self._settings = settings
        self._written_at = written_at

    def search(self, vector: np.ndarray, n: int, threads: int = 1) -> list[tuple[int, float]]:
        if self.ntotal == 0:
            return []
        n = min(n, self.ntotal)
        fetch = int(n * self._settings.milvus_overfetch) + 8
        found = self.store.search(vector, fetch, self._params, self._consistency())
        ids = self._chunk_ids([h for h, _ in found])
        out = [(cid, score) for h, score in found for cid in ids.get(h, ())]
        return out[:n]

    def vectors_of(self, hashes: list[str]) -> dict[str, np.ndarray]:
        return self.store.vectors(hashes, self._consistency()) if hashes else {}

    def _consistency(self) -> str:
        # Strong waits for Milvus's next time tick (docs/scale-out.md): only needed while the last reindex's rows
        # may not be visible yet; after that, Bounded sees them all and answers at once.
        fresh = time.time() - self._written_at < self._settings.milvus_strong_seconds
        return "Strong" if fresh else "Bounded"

    def close(self) -> None:
        self.store.close()


def open_vector_index(path: Path, meta: dict[str, str], db: Callable[[], sqlite3.Connection], chunk_count: int,
                      settings: Settings = DEFAULTS) -> VectorIndex:
    """The vector index the generation at ``path`` records in its meta."""
    kind = meta.get("vector_store", LOCAL)
    if kind == LOCAL:
        return FaissVectors(path, settings)
    if kind.startswith("milvus://"):
        import json

        def chunk_ids(hashes: list[str]) -> dict[str, list[int]]:
            out: dict[str, list[int]] = {}
            rows = db().execute("SELECT text_hash, id FROM chunks WHERE text_hash IN (SELECT value FROM json_each(?)) "
                                "ORDER BY id", (json.dumps(hashes),))
            for h, cid in rows:
                out.setdefault(h, []).append(cid)
            return out

        return MilvusVectors(kind, chunk_count, int(meta.get("dimension") or 0), meta.get("model", ""), chunk_ids,
                             json.loads(meta.get("milvus_search", "{}")), settings,
                             float(meta.get("milvus_written_at", 0.0)))
    raise IndexProblem(f"index at {path} keeps its vectors in {kind!r}, which this semsearch cannot read")


def vector_store_name(value: str) -> str:
    """The meta value for a ``--store`` option: "faiss" (also "local"), or a canonical milvus:// URL."""
    if value.strip().lower() in (LOCAL, "local"):
        return LOCAL
    from semsearch.store.milvus import canonical

    return canonical(value)


def check_vector_store(name: str, model: str, settings: Settings = DEFAULTS) -> None:
    """Fail now (``IndexProblem``, one line) if the store ``name`` cannot be reached or holds another model's
    vectors, rather than after the embedding."""
    if name == LOCAL:
        return
    from semsearch.store.milvus import MilvusStore

    milvus = MilvusStore.connect(name, settings)
    try:
        description = milvus._description()
        if description is not None and not description.startswith(f"semsearch vectors of {model} ("):
            raise IndexProblem(f"collection {milvus.collection!r} in {milvus.url} holds other vectors "
                               f"({description!r}); use another collection or reindex --rebuild with its model")
    finally:
        milvus.close()
