"""Vectors in Milvus, against a real Milvus standalone server started here on 127.0.0.1 (nothing mocked)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, SEEDS, FakeEmbedder, require_extra

require_extra("pymilvus", "the [scale] extra")

from scale_servers import MilvusServer  # noqa: E402
from semsearch import Index, store  # noqa: E402
from semsearch.errors import IndexProblem  # noqa: E402
from semsearch.store.milvus import MilvusStore  # noqa: E402
from semsearch.store.vector_index import MilvusVectors  # noqa: E402

pytestmark = pytest.mark.slow
RESTART_TIMEOUT = 300  # a restart on existing data waits for the old sessions and reloads collections

EXTERNAL_CORPUS = REPO / "bench" / "corpora" / "maint-guide-zh-cn"  # real HTML as Debian ships it
EXTERNAL_QUERIES = [json.loads(line)["q"] for line in
                    (REPO / "bench" / "external" / "maint-cn.jsonl").read_text(encoding="utf-8").splitlines() if line]
QUESTIONS = [json.loads(line)["q"] for name in ("seeds_questions.jsonl", "dev_questions.jsonl")
             for line in (REPO / "bench" / "questions" / name).read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def milvus(tmp_path_factory):
    server = MilvusServer(tmp_path_factory.mktemp("milvus"))
    try:
        seconds = server.start()
    except RuntimeError as exc:
        pytest.fail(f"the Milvus server could not start in this sandbox: {exc}")
    print(f"milvus healthy in {seconds:.1f}s on port {server.port}")
    yield server
    server.stop()


def _rows(url: str) -> set[str]:
    client = MilvusStore.connect(url)
    try:
        return set() if client._description() is None else {r["text_hash"] for r in client.client.query(
            client.collection, filter='text_hash != ""', output_fields=["text_hash"], consistency_level="Strong",
            limit=16_384)}
    finally:
        client.close()


def _live_hashes(index: Path) -> set[str]:
    gen = store.live_generation(index)
    db = sqlite3.connect(gen / store.DB_FILE)
    try:
        return {row[0] for row in db.execute("SELECT DISTINCT text_hash FROM chunks")}
    finally:
        db.close()


def _vector_rows(index: Path) -> dict[str, bytes]:
    """The live generation's ``vectors`` table: text hash -> blob (empty: the vector is in the store)."""
    db = sqlite3.connect(store.live_generation(index) / store.DB_FILE)
    try:
        return dict(db.execute("SELECT text_hash, vector FROM vectors"))
    finally:
        db.close()


def _answer(idx: Index, q: str) -> tuple:
    answer = idx.ask(q)
    return answer.no_answer, [(s.text, s.citation, round(s.score, 4)) for s in answer.sentences]


def _hits(idx: Index, q: str, mode: str) -> list[tuple[str, int, float]]:
    return [(h.source.path, h.source.char_start, round(h.score, 4)) for h in idx.search(q, k=10, mode=mode)]


def _same_ranking(a, b, tol: float = 0.0) -> bool:
    """Same passages in the same order, except that passages whose scores differ by at most ``tol`` (ties, or
    float32 rounding in another engine) may swap places."""
    if tol == 0.0:
        return sorted(a, key=lambda t: (-t[2], t[0], t[1])) == sorted(b, key=lambda t: (-t[2], t[0], t[1]))
    return len(a) == len(b) and all(x[:2] == y[:2] or abs(x[2] - y[2]) <= tol for x, y in zip(a, b))


def test_top_10_through_milvus_equal_local_faiss_on_the_seed_questions(milvus, tmp_path):
    local = Index.open(tmp_path / "local", embedder=FakeEmbedder())
    local.reindex([SEEDS])
    remote = Index.open(tmp_path / "remote", embedder=FakeEmbedder())
    remote.reindex([SEEDS], store=milvus.url + "/same_hits")
    assert remote.status()["vector_store"] == f"{milvus.url}/same_hits"
    assert (store.live_generation(tmp_path / "remote") / store.VECTORS_FILE).exists() is False
    for q in QUESTIONS:
        for mode in ("dense", "hybrid"):
            assert _same_ranking(_hits(local, q, mode), _hits(remote, q, mode)), (q, mode)
    # A fresh Index (the store is read from the folder, no flag) gives the same.
    again = Index.open(tmp_path / "remote", embedder=FakeEmbedder())
    assert _hits(again, QUESTIONS[0], "dense") == _hits(remote, QUESTIONS[0], "dense")
    assert _rows(f"{milvus.url}/same_hits") == _live_hashes(tmp_path / "remote")


def test_reindex_adds_updates_and_deletes_rows_and_never_resends_unchanged_text(milvus, tmp_path, corpus,
                                                                                monkeypatch):
    url = f"{milvus.url}/changes"
    sent: list[str] = []
    insert = MilvusStore.insert

    def spy(self, rows):
        rows = list(rows)
        sent.extend(h for hashes, _ in rows for h in hashes)
        return insert(self, rows)

    monkeypatch.setattr(MilvusStore, "insert", spy)
    index = tmp_path / "index"
    idx = Index.open(index, embedder=FakeEmbedder())
    idx.reindex([corpus], store=url)
    first = _live_hashes(index)
    assert set(sent) == first and len(sent) == len(first) and _rows(url) == first

    sent.clear()
    shutil.copy(SEEDS / "000_f9c47bd5452f56e6.txt", corpus / "added.txt")  # same text: nothing new to send
    assert idx.reindex()["files"]["added"] == 1
    assert sent == [] and _rows(url) == _live_hashes(index) == first

    (corpus / "new.txt").write_text("全新的一段文字，讲述政协委员工作站的建设情况。\n", encoding="utf-8")
    edited = corpus / "001_ba7e178bdbc88010.txt"
    text = edited.read_text(encoding="utf-8")
    edited.write_text(text[:len(text) // 2] + "（此处已修订）" + text[len(text) // 2:], encoding="utf-8")
    report = idx.reindex()
    assert report["files"]["added"] == 1 and report["files"]["updated"] == 1
    now = _live_hashes(index)
    assert set(sent) == now - first and sent  # only text never sent before
    assert _rows(url) == now  # the edited file's old passages are gone from Milvus

    sent.clear()
    (corpus / "002_82a0a245436f2301.txt").unlink()
    assert idx.reindex()["files"]["deleted"] == 1
    assert sent == [] and _rows(url) == _live_hashes(index) < now
    assert not (index / "milvus-pending").exists()


def test_server_killed_during_a_reindex_then_restarted(milvus, tmp_path, corpus, monkeypatch):
    """Kills the shared server (one Milvus standalone per machine: its embedded etcd takes a fixed port) and
    restarts it on the same data."""
    server = milvus
    try:
        url = f"{server.url}/killed"
        index = tmp_path / "index"
        idx = Index.open(index, embedder=FakeEmbedder())
        idx.reindex([corpus], store=url)
        before = {q: _hits(idx, q, "hybrid") for q in QUESTIONS[:10]}
        live = store.live_generation(index)

        (corpus / "doomed.txt").write_text("这一段文字只出现在被中断的那次重建里。\n" * 3, encoding="utf-8")
        insert = MilvusStore.insert

        def insert_then_crash(self, rows):
            sent = insert(self, rows)  # the rows reach Milvus (and the journal) ...
            server.kill()  # ... then the server dies (SIGKILL) before the generation can go live
            return sent

        monkeypatch.setattr(MilvusStore, "insert", insert_then_crash)
        started = time.monotonic()
        with pytest.raises(IndexProblem) as failure:
            idx.reindex()
        assert time.monotonic() - started < 60 and "\n" not in str(failure.value)
        monkeypatch.setattr(MilvusStore, "insert", insert)
        assert store.live_generation(index) == live  # nothing committed half-done
        assert (index / "milvus-pending").exists()

        # Down at query time: exit 3, one line, bounded time; no model is loaded for that.
        started = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "semsearch", "search", "政协", "--index", str(index)],
                              capture_output=True, text=True, timeout=120, env={**os.environ})
        assert proc.returncode == 3, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
        assert "unreachable" in proc.stderr or "failed" in proc.stderr
        assert time.monotonic() - started < 30

        print(f"milvus restarted in {server.start(timeout=RESTART_TIMEOUT):.1f}s")
        fresh = Index.open(index, embedder=FakeEmbedder())
        assert {q: _hits(fresh, q, "hybrid") for q in before} == before  # the previous generation answers

        (corpus / "doomed.txt").unlink()
        (corpus / "kept.txt").write_text("重建完成后，这一段文字应当能被检索到。\n", encoding="utf-8")
        fresh.reindex()
        assert _rows(url) == _live_hashes(index)  # the killed run's rows, no longer used, are gone
        assert not (index / "milvus-pending").exists()
        assert fresh.search("重建完成后这一段文字", k=1, mode="dense")[0].source.path == "kept.txt"
    finally:
        if server.proc is None:
            server.start()


def test_unreachable_store_exits_3_with_one_line_within_bounded_time(tmp_path):
    idx = Index.open(tmp_path / "index", embedder=FakeEmbedder())
    for url in ("milvus://127.0.0.1:1/none", "milvus://10.255.255.1:19530/none"):
        started = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "semsearch", "reindex", str(SEEDS), "--store", url,
                               "--index", str(tmp_path / "index")], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 3, proc.stderr
        assert "vector store" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert time.monotonic() - started < 40
    with pytest.raises(IndexProblem, match="unreachable|failed"):
        idx.reindex([SEEDS], store="milvus://127.0.0.1:1/none")
    assert not store.exists(tmp_path / "index")


def test_another_model_in_the_collection_is_refused(milvus, tmp_path):
    url = f"{milvus.url}/guarded"
    Index.open(tmp_path / "a", embedder=FakeEmbedder()).reindex([SEEDS], store=url)

    class Other(FakeEmbedder):
        model_id = "another-model"

    with pytest.raises(IndexProblem, match="holds other vectors"):
        Index.open(tmp_path / "b", embedder=Other()).reindex([SEEDS], store=url)


def test_real_model_end_to_end_through_the_cli(milvus, real_index, tmp_path):
    """The real model: reindex --store, then ask and search with no flag find what the local index finds."""
    index = tmp_path / "index"
    env = {**os.environ, "SEMSEARCH_INDEX": str(index)}
    proc = subprocess.run([sys.executable, "-m", "semsearch", "reindex", str(SEEDS), "--store", f"{milvus.url}/e2e",
                           "--json"], capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr
    status = json.loads(subprocess.run([sys.executable, "-m", "semsearch", "status", "--json"], capture_output=True,
                                       text=True, env=env, timeout=300).stdout)
    assert status["vector_store"] == f"{milvus.url}/e2e"
    local, remote = Index.open(real_index), Index.open(index)
    exact = 0
    for q in QUESTIONS:
        a, b = _hits(local, q, "hybrid"), _hits(remote, q, "hybrid")
        exact += _same_ranking(a, b)
        # Milvus computes cosines in its own float32 kernel: near-ties may swap, nothing else.
        assert _same_ranking(a, b, tol=2e-3), q
    print(f"{exact}/{len(QUESTIONS)} questions: identical top 10 through Milvus and FAISS")
    proc = subprocess.run([sys.executable, "-m", "semsearch", "ask", "如何建设委员工作站?", "--json"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["results"]


def test_top_10_through_milvus_equal_local_faiss_on_an_external_corpus(milvus, tmp_path):
    """The real model over a real corpus no one here wrote (the Debian New Maintainers' Guide) and its authors'
    section titles: the same top 10 in every mode. The Milvus index is the local one reindexed into Milvus, so
    both rank the same vectors."""
    local = Index.open(tmp_path / "local")
    local.reindex([EXTERNAL_CORPUS])
    shutil.copytree(tmp_path / "local", tmp_path / "remote")
    remote = Index.open(tmp_path / "remote")
    report = remote.reindex([EXTERNAL_CORPUS], store=milvus.url + "/external")
    assert report["chunks"]["embedded"] == 0  # the vectors are the local index's, sent as they are
    assert _rows(f"{milvus.url}/external") == _live_hashes(tmp_path / "remote")
    exact = 0
    for q in EXTERNAL_QUERIES:
        for mode in ("dense", "hybrid"):
            a, b = _hits(local, q, mode), _hits(remote, q, mode)
            exact += _same_ranking(a, b)
            assert _same_ranking(a, b, tol=2e-3), (q, mode)  # Milvus's own float32 kernel: near-ties may swap
    print(f"{exact}/{2 * len(EXTERNAL_QUERIES)} rankings identical through Milvus and FAISS")


def test_the_index_folder_keeps_no_vector_and_answers_as_the_local_index(milvus, tmp_path, corpus, monkeypatch):
    """With the vectors in Milvus, the folder's ``vectors`` rows only say "embedded" (empty blobs); search, and
    ask (whose sentence scoring reads passage vectors back from Milvus), answer as the local FAISS index does."""
    url = f"{milvus.url}/no_local_vectors"
    local = Index.open(tmp_path / "local", embedder=FakeEmbedder())
    local.reindex([corpus])
    embedder = FakeEmbedder()
    remote = Index.open(tmp_path / "remote", embedder=embedder)
    remote.reindex([corpus], store=url)
    rows = _vector_rows(tmp_path / "remote")
    assert set(rows) == _live_hashes(tmp_path / "remote") == _rows(url)
    assert {len(blob) for blob in rows.values()} == {0}

    fetched: list[str] = []
    vectors_of = MilvusVectors.vectors_of

    def spy(self, hashes):
        fetched.extend(hashes)
        return vectors_of(self, hashes)

    monkeypatch.setattr(MilvusVectors, "vectors_of", spy)
    for q in QUESTIONS:
        for mode in ("dense", "hybrid"):
            assert _same_ranking(_hits(local, q, mode), _hits(remote, q, mode)), (q, mode)
        assert _answer(local, q) == _answer(remote, q), q
    assert fetched  # sentence scoring took passage vectors from Milvus
    some = set(sorted(rows)[:100])
    mine, theirs = local._generation().cached_vectors(some), remote._generation().cached_vectors(some)
    assert set(mine) == set(theirs) == some and all(np.array_equal(mine[h], theirs[h]) for h in some)

    sent: list[str] = []
    insert = MilvusStore.insert

    def count_sent(self, blocks):
        blocks = list(blocks)
        sent.extend(h for hashes, _ in blocks for h in hashes)
        return insert(self, blocks)

    monkeypatch.setattr(MilvusStore, "insert", count_sent)
    before = _live_hashes(tmp_path / "remote")
    embedder.embedded_texts.clear()
    (corpus / "new.txt").write_text("新增的一段文字，说明委员夜校第十三期的安排。\n\n另起一段，讲读书群的活动。\n",
                                    encoding="utf-8")
    report = remote.reindex()
    new = _live_hashes(tmp_path / "remote") - before
    assert new and report["chunks"]["embedded"] == len(new)  # only the new text is embedded ...
    assert sorted(sent) == sorted(new)  # ... and sent, once
    assert embedder.embedded_texts  # passages and sentence windows, all of the new file
    assert all("夜校第十三期" in t or "读书群的活动" in t for t in embedder.embedded_texts), embedder.embedded_texts
    rows = _vector_rows(tmp_path / "remote")
    assert set(rows) == _live_hashes(tmp_path / "remote") == _rows(url) and {len(b) for b in rows.values()} == {0}
    local.reindex()
    for q in ["新增的一段文字，说明委员夜校第十三期的安排", *QUESTIONS[:10]]:
        assert _same_ranking(_hits(local, q, "hybrid"), _hits(remote, q, "hybrid")), q
        assert _answer(local, q) == _answer(remote, q), q


def test_a_local_index_switched_to_milvus_and_back_keeps_its_top_10(milvus, tmp_path, corpus):
    """faiss -> Milvus sends the folder's vectors and empties its rows; Milvus -> faiss reads them back from the
    collection: nothing is embedded again either way, and every top 10 stays the same."""
    url = f"{milvus.url}/switched"
    index = tmp_path / "index"
    idx = Index.open(index, embedder=FakeEmbedder())
    idx.reindex([corpus])
    keys = [(q, mode) for q in QUESTIONS for mode in ("dense", "hybrid")]
    before = {key: _hits(idx, *key) for key in keys}
    vectors = _vector_rows(index)

    report = idx.reindex(store=url)
    assert report["chunks"]["embedded"] == 0
    assert idx.status()["vector_store"] == url and not (store.live_generation(index) / store.VECTORS_FILE).exists()
    rows = _vector_rows(index)
    assert set(rows) == set(vectors) == _rows(url) and {len(b) for b in rows.values()} == {0}
    assert all(_same_ranking(before[key], _hits(idx, *key)) for key in keys)

    report = idx.reindex(store="faiss")
    assert report["chunks"]["embedded"] == 0
    assert idx.status()["vector_store"] == "faiss" and (store.live_generation(index) / store.VECTORS_FILE).exists()
    assert _vector_rows(index) == vectors  # the same float32 bytes, read back from the collection
    assert {key: _hits(idx, *key) for key in keys} == before


def test_texts_a_failed_reindex_sent_are_neither_embedded_nor_sent_again(milvus, tmp_path, corpus, monkeypatch):
    """Rows reach Milvus as they are embedded; a reindex that fails after that leaves them (journalled), and the
    next one finds them there instead of embedding and sending them again."""
    from semsearch.store import milvus_sync

    url = f"{milvus.url}/retried"
    index = tmp_path / "index"
    idx = Index.open(index, embedder=FakeEmbedder())
    idx.reindex([corpus], store=url)
    (corpus / "late.txt").write_text("迟到的一段文字，在第一次重建失败之后才进入索引。\n", encoding="utf-8")
    publish = milvus_sync.publish

    def fail(*args, **kwargs):
        raise IndexProblem("vector store failed to publish (test)")

    monkeypatch.setattr(milvus_sync, "publish", fail)
    with pytest.raises(IndexProblem):
        idx.reindex()
    assert (index / "milvus-pending").exists() and _rows(url) > _live_hashes(index)
    monkeypatch.setattr(milvus_sync, "publish", publish)

    sent: list[str] = []
    insert = MilvusStore.insert

    def count_sent(self, blocks):
        blocks = list(blocks)
        sent.extend(h for hashes, _ in blocks for h in hashes)
        return insert(self, blocks)

    monkeypatch.setattr(MilvusStore, "insert", count_sent)
    report = idx.reindex()
    assert report["files"]["added"] == 1 and report["chunks"]["embedded"] == 0 and sent == []
    assert _rows(url) == _live_hashes(index) == set(_vector_rows(index)) and not (index / "milvus-pending").exists()
    assert {len(blob) for blob in _vector_rows(index).values()} == {0}
