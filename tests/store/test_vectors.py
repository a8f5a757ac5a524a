"""The vector index by size: exact search while small, a trained inverted file past the limit."""

import os

import faiss
import numpy as np

from semsearch import Index
from semsearch.config import DEFAULTS
from semsearch.store import vectors as V

EXACT_LIMIT = DEFAULTS.exact_limit


def _clustered(n: int, dim: int = 32, centres: int = 40, seed: int = 0) -> np.ndarray:
    """Unit vectors in tight clusters: the hard case for approximate search."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(centres, dim))
    x = base[rng.integers(0, centres, n)] + rng.normal(scale=0.15, size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_small_collections_get_exact_search():
    assert isinstance(V.new_index(EXACT_LIMIT, 16), faiss.IndexFlatIP)
    assert V.training_size(EXACT_LIMIT) == 0


def test_large_collections_get_an_inverted_file_that_finds_the_exact_neighbours(tmp_path):
    x = _clustered(30_000)
    queries = _clustered(200, seed=1)
    V.build_vector_index(len(x), x.shape[1], [x[i:i + 4096] for i in range(0, len(x), 4096)],
                         tmp_path / "v.faiss", sample=lambda k: x[np.random.default_rng(0).choice(len(x), k, replace=False)],
                         settings=DEFAULTS.but(exact_limit=1_000))
    index = V.load_vector_index(tmp_path / "v.faiss")
    assert isinstance(index, faiss.IndexIVFScalarQuantizer)
    assert index.ntotal == len(x) and index.nprobe == V.probes(index.nlist)  # search settings survive the file
    exact = faiss.IndexFlatIP(x.shape[1])
    exact.add(x)
    _, want = exact.search(queries, 10)
    _, got = index.search(queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, want)])
    assert recall >= 0.95
    # One query's lists split between threads find the same neighbours as one thread scanning them all.
    assert V.splits_one_query(index) and not V.splits_one_query(exact)
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        one_thread = [index.search(q[None], 10) for q in queries[:50]]
    finally:
        faiss.omp_set_num_threads(threads)
    faiss.omp_set_num_threads(2)
    try:
        split = [index.search(q[None], 10) for q in queries[:50]]
    finally:
        faiss.omp_set_num_threads(threads)
    for (d1, i1), (d2, i2) in zip(one_thread, split):
        assert set(i1[0]) == set(i2[0]) and np.allclose(np.sort(d1[0]), np.sort(d2[0]), atol=1e-5)


def test_a_large_index_needs_its_training_sample():
    try:
        V.new_index(EXACT_LIMIT + 1, 16)
    except ValueError as exc:
        assert "training sample" in str(exc)
    else:
        raise AssertionError("an untrained inverted file was returned")


def test_reindex_past_the_exact_limit_builds_a_searchable_inverted_file(tmp_path, corpus, fake_embedder):
    idx = Index.open(tmp_path / "idx", embedder=fake_embedder, settings=DEFAULTS.but(exact_limit=20))
    total = idx.reindex([corpus])["chunks"]["total"]
    gen = idx._generation()
    assert isinstance(gen.faiss_index, faiss.IndexIVFScalarQuantizer) and gen.faiss_index.ntotal == total
    assert gen.splits_one_query  # a single query may use both cores (search.dense_candidates)
    # Every chunk's own text finds that chunk first by its vector.
    rows = gen.chunks(list(range(total)))
    for cid in range(0, total, 7):
        hits = idx.search(rows[cid].embed_text, k=1, mode="dense")
        assert hits[0].chunk_id == cid or hits[0].text == rows[cid].text


def test_faiss_is_loaded_with_sleeping_openmp_threads_unless_the_user_chose(monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    assert V.faiss_module() is faiss
    assert os.environ.get("OMP_WAIT_POLICY") == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    V.faiss_module()
    assert os.environ.get("OMP_WAIT_POLICY") == "ACTIVE"


def test_the_vectors_table_holds_local_vectors_and_an_empty_row_is_read_from_the_vector_store(tmp_path, corpus,
                                                                                              fake_embedder):
    import sqlite3

    from semsearch import store

    idx = Index.open(tmp_path / "idx", embedder=fake_embedder)
    idx.reindex([corpus])
    path = store.live_generation(tmp_path / "idx")
    db = sqlite3.connect(path / store.DB_FILE)
    rows = dict(db.execute("SELECT text_hash, vector FROM vectors"))
    assert rows and {len(blob) for blob in rows.values()} == {4 * fake_embedder.dimension}  # local: real vectors
    hashes = sorted(rows)[:6]
    # An empty row means "in the vector store" (vectors kept in Milvus): asked of the store, not decoded.
    db.executemany("UPDATE vectors SET vector = x'' WHERE text_hash = ?", [(h,) for h in hashes[:3]])
    db.commit()
    db.close()

    class Store:
        asked: list[str] = []

        def vectors_of(self, keys):
            Store.asked += keys
            return {k: np.frombuffer(rows[k], dtype=np.float32) for k in keys}

        def close(self):
            pass

    gen = store.Generation(path)
    try:
        gen.vectors = Store()
        got = gen.cached_vectors(set(hashes) | {"0" * 64})
        assert sorted(Store.asked) == hashes[:3] and sorted(got) == hashes
        for h in hashes:
            assert np.array_equal(got[h], np.frombuffer(rows[h], dtype=np.float32))
    finally:
        gen.close()
