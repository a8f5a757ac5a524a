"""Reindex plumbing with a fast fake embedder: counts, reuse, atomic generations, model guard."""

import json
import os
import time

import numpy as np
import pytest

from conftest import WORKER
from semsearch.config import DEFAULTS
from semsearch import Index
from semsearch.errors import IndexProblem, InputError
from semsearch.store import CURRENT


def _touch_later(path):
    later = time.time() + 5
    os.utime(path, (later, later))


def test_first_reindex_counts_every_file_and_chunk(tmp_path, corpus, fake_embedder):
    report = Index.open(tmp_path / "idx", embedder=fake_embedder).reindex([corpus])
    assert report["schema"] == 1
    assert report["files"] == {"added": 5, "updated": 0, "deleted": 0, "unchanged": 0}
    assert report["chunks"]["total"] == report["chunks"]["embedded"] > 50
    assert report["model"] == fake_embedder.model_id


def test_unchanged_corpus_embeds_nothing(tmp_path, corpus, fake_embedder):
    idx = Index.open(tmp_path / "idx", embedder=fake_embedder)
    first = idx.reindex([corpus])
    second = idx.reindex()
    assert second["files"]["unchanged"] == 5
    assert second["chunks"] == {"total": first["chunks"]["total"], "embedded": 0, "removed": 0}


def test_add_edit_delete_and_rename_are_tracked(tmp_path, corpus, fake_embedder):
    idx = Index.open(tmp_path / "idx", embedder=fake_embedder)
    total = idx.reindex([corpus])["chunks"]["total"]
    (corpus / "new.md").write_text("# 新文件\n\n一个全新的段落，讲述委员读书活动。\n", encoding="utf-8")
    edited = corpus / "003_a04c3e3b5e096c7a.txt"
    edited.write_text(edited.read_text(encoding="utf-8") + "\n新增一段关于夜校的内容。\n", encoding="utf-8")
    deleted_text = (corpus / "000_f9c47bd5452f56e6.txt").read_text(encoding="utf-8")
    (corpus / "000_f9c47bd5452f56e6.txt").unlink()
    (corpus / "001_ba7e178bdbc88010.txt").rename(corpus / "renamed.txt")
    fake_embedder.embedded_texts.clear()
    report = idx.reindex()
    assert report["files"] == {"added": 2, "updated": 1, "deleted": 2, "unchanged": 2}
    # the renamed file's text and the edited file's old paragraphs were embedded before: not again
    assert report["chunks"]["embedded"] == 2
    assert report["chunks"]["removed"] > 0
    assert report["chunks"]["total"] == idx.status()["chunks"]
    assert report["chunks"]["total"] < total  # a whole file is gone
    texts = [h.text for h in idx.search("靖州县政协党组", k=20)]
    assert not any(t in deleted_text for t in texts)
    assert any("夜校" in h.text for h in idx.search("夜校", k=3))


def test_touched_files_keep_the_generation_and_edits_replace_it(tmp_path, corpus, fake_embedder):
    idx = Index.open(tmp_path / "idx", embedder=fake_embedder)
    idx.reindex([corpus])
    first = (tmp_path / "idx" / CURRENT).read_text().strip()
    _touch_later(corpus / "002_82a0a245436f2301.txt")
    touched = idx.reindex()
    assert (tmp_path / "idx" / CURRENT).read_text().strip() == first
    assert touched["files"]["unchanged"] == 5 and touched["chunks"]["embedded"] == 0
    assert idx.status()["stale"] is False  # the new mtime was recorded
    path = corpus / "002_82a0a245436f2301.txt"
    path.write_text(path.read_text(encoding="utf-8") + "\n补充一段。\n", encoding="utf-8")
    idx.reindex()
    second = (tmp_path / "idx" / CURRENT).read_text().strip()
    assert second != first
    assert sorted(p.name for p in (tmp_path / "idx").iterdir() if p.name.startswith("gen-")) == [second]


def test_index_built_with_one_model_refuses_another(tmp_path, corpus, fake_embedder):
    Index.open(tmp_path / "idx", embedder=fake_embedder).reindex([corpus])

    class Other(type(fake_embedder)):
        model_id = "another-model"

    with pytest.raises(IndexProblem, match="fake-bigram-64.*another-model|another-model.*fake-bigram-64"):
        Index.open(tmp_path / "idx", embedder=Other()).search("政协")
    with pytest.raises(IndexProblem, match="--rebuild"):
        Index.open(tmp_path / "idx", embedder=Other()).reindex()
    report = Index.open(tmp_path / "idx", embedder=Other()).reindex(rebuild=True)
    assert report["model"] == "another-model" and report["chunks"]["embedded"] == report["chunks"]["total"]


def test_search_on_a_missing_index_is_an_index_problem(tmp_path, fake_embedder):
    with pytest.raises(IndexProblem, match="no index"):
        Index.open(tmp_path / "nothing", embedder=fake_embedder).search("政协")


@pytest.mark.parametrize("query", ["", "   ", "x" * 4001, "政" * 1_000_000])
def test_empty_or_huge_queries_are_input_errors(tmp_path, corpus, fake_embedder, query):
    idx = Index.open(tmp_path / "idx", embedder=fake_embedder)
    idx.reindex([corpus])
    with pytest.raises(InputError):
        idx.search(query)


def test_missing_corpus_path_is_an_input_error(tmp_path, fake_embedder):
    with pytest.raises(InputError, match="no such file"):
        Index.open(tmp_path / "idx", embedder=fake_embedder).reindex([tmp_path / "absent"])
    assert not (tmp_path / "idx" / CURRENT).exists()


def test_status_reports_new_changed_and_deleted_files(tmp_path, corpus, fake_embedder):
    idx = Index.open(tmp_path / "idx", embedder=fake_embedder)
    idx.reindex([corpus])
    assert idx.status()["stale"] is False
    (corpus / "x.txt").write_text("新的内容。", encoding="utf-8")
    (corpus / "002_82a0a245436f2301.txt").write_text("改过了。", encoding="utf-8")
    (corpus / "004_a196217599c831b5.txt").unlink()
    status = idx.status()
    assert status["stale"] is True
    assert status["changes"] == {"new": ["x.txt"], "changed": ["002_82a0a245436f2301.txt"],
                                 "deleted": ["004_a196217599c831b5.txt"]}
    assert status["documents"] == 5 and status["chunks"] > 0 and status["model"] == fake_embedder.model_id
    json.dumps(status)


def test_results_cite_exact_source_spans(tmp_path, corpus, fake_embedder):
    idx = Index.open(tmp_path / "idx", embedder=fake_embedder)
    idx.reindex([corpus])
    for hit in idx.search("委员工作站", k=10):
        text = (corpus / hit.source.path).read_text(encoding="utf-8")
        assert text[hit.source.char_start:hit.source.char_end] == hit.text
        assert text.count("\n", 0, hit.source.char_start) + 1 == hit.source.line_start
        assert text.count("\n", 0, hit.source.char_end - 1) + 1 == hit.source.line_end


def test_a_new_chunker_recuts_unchanged_files_but_reuses_their_vectors(tmp_path, corpus, fake_embedder, monkeypatch):
    import semsearch.indexer as indexer

    idx = Index.open(tmp_path / "idx", embedder=fake_embedder)
    first = idx.reindex([corpus])
    monkeypatch.setattr(indexer, "CHUNKER_VERSION", "test-next")
    fake_embedder.embedded_texts.clear()
    report = idx.reindex()
    assert report["files"] == {"added": 0, "updated": 0, "deleted": 0, "unchanged": 5}
    assert report["chunks"]["embedded"] == 0 and report["chunks"]["total"] == first["chunks"]["total"]
    assert fake_embedder.embedded_texts == []


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_named_pipe_in_the_corpus_is_skipped_not_waited_on(tmp_path, corpus, fake_embedder):
    import signal

    os.mkfifo(corpus / "pipe.txt")
    signal.alarm(60)  # a read of the pipe would block for ever: fail instead of hanging the suite
    try:
        report = Index.open(tmp_path / "idx", embedder=fake_embedder).reindex_report([corpus])
    finally:
        signal.alarm(0)
    assert report.added == 5
    assert any("pipe.txt" in s and "not a regular file" in s for s in report.skipped)


def _without_root_file_access() -> list[str] | None:
    """A command prefix under which file modes apply (root reads any file whatever its mode)."""
    import shutil

    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        return None
    caps = "-dac_override,-dac_read_search"
    return ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}"]


@pytest.mark.skipif(_without_root_file_access() is None, reason="root without setpriv cannot be denied a file")
def test_an_unreadable_file_is_skipped_with_a_warning_and_the_rest_is_indexed(tmp_path, corpus):
    import subprocess
    import sys
    from pathlib import Path

    secret = corpus / "secret.txt"
    secret.write_text("委员的私人笔记。\n", encoding="utf-8")
    os.chmod(secret, 0)
    worker = WORKER
    proc = subprocess.run(_without_root_file_access() + [sys.executable, str(worker), str(tmp_path / "idx"), str(corpus)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert report["files"]["added"] == 5
    assert any("secret.txt" in s and "Permission denied" in s for s in report["skipped"])


def _window_rows(idx) -> dict[str, int]:
    """Window count per chunk text hash in the live generation."""
    gen = idx._generation()
    return {h: n for h, n in gen.db.execute("SELECT text_hash, length(vectors) / 2 / ? FROM window_vectors",
                                             (gen.faiss_index.d,))}


def test_long_chunks_get_one_vector_per_sentence_window_and_short_ones_none(tmp_path, corpus, fake_embedder):
    from semsearch.ingest.chunk import own_text, sentence_windows
    WINDOW_CHARS = DEFAULTS.window_chars

    idx = Index.open(tmp_path / "idx", embedder=fake_embedder)
    idx.reindex([corpus])
    rows = _window_rows(idx)
    gen = idx._generation()
    chunks = gen.chunks(list(range(gen.chunk_count())))
    assert set(rows) == {c.text_hash for c in chunks.values()}
    for c in chunks.values():
        assert rows[c.text_hash] == len(sentence_windows(own_text(c.embed_text), WINDOW_CHARS))
    assert sum(rows.values()) > len(chunks) / 2  # the seeds have many long paragraphs
    long_chunk = next(c for c in chunks.values() if rows[c.text_hash])
    stored = gen.window_vectors([long_chunk.id])[long_chunk.id]
    expected = fake_embedder.encode_passages(sentence_windows(own_text(long_chunk.embed_text), WINDOW_CHARS))
    assert np.allclose(stored.astype(np.float32), expected, atol=1e-3)


def test_unchanged_text_keeps_its_window_vectors_and_only_new_text_is_embedded(tmp_path, corpus, fake_embedder):
    from semsearch.ingest.chunk import sentence_windows
    WINDOW_CHARS = DEFAULTS.window_chars

    idx = Index.open(tmp_path / "idx", embedder=fake_embedder)
    idx.reindex([corpus])
    paragraph = "委员读书活动在夜校举行。" * 12
    (corpus / "new.md").write_text(paragraph + "\n", encoding="utf-8")
    fake_embedder.embedded_texts.clear()
    idx.reindex()
    windows = sentence_windows(paragraph, WINDOW_CHARS)
    assert len(windows) >= 2
    assert sorted(fake_embedder.embedded_texts) == sorted([paragraph] + windows)


def test_an_index_from_before_windows_still_searches_and_gains_windows_on_reindex(tmp_path, corpus, fake_embedder):
    import sqlite3

    idx = Index.open(tmp_path / "idx", embedder=fake_embedder)
    idx.reindex([corpus])
    path = idx._generation().path / "index.sqlite"
    idx.close()
    with sqlite3.connect(path) as db:  # what an index built by an earlier semsearch looks like
        db.execute("DROP TABLE window_vectors")
        db.execute("DELETE FROM meta WHERE key = 'window_chars'")
    old = Index.open(tmp_path / "idx", embedder=fake_embedder)
    assert not old._generation().has_windows
    assert old.search("委员工作站", k=3)
    fake_embedder.embedded_texts.clear()
    report = old.reindex()
    assert report["chunks"]["embedded"] == 0  # chunk vectors are reused...
    assert fake_embedder.embedded_texts and sum(_window_rows(old).values()) == len(fake_embedder.embedded_texts)


def test_no_windows_is_remembered_until_windows_are_asked_for_again(tmp_path, corpus, fake_embedder):
    idx = Index.open(tmp_path / "idx", embedder=fake_embedder)
    first = idx.reindex([corpus], windows=False)
    embedded_without = len(fake_embedder.embedded_texts)
    assert embedded_without == first["chunks"]["embedded"]  # chunk texts only
    assert sum(_window_rows(idx).values()) == 0 and idx.status()["window_chars"] == 0
    (corpus / "new.md").write_text("委员读书活动在夜校举行。" * 12 + "\n", encoding="utf-8")
    idx.reindex()  # no choice given: the index's own
    assert sum(_window_rows(idx).values()) == 0 and idx.status()["window_chars"] == 0
    fake_embedder.embedded_texts.clear()
    report = idx.reindex(windows=True)
    assert report["chunks"]["embedded"] == 0 and fake_embedder.embedded_texts  # only windows are embedded
    assert sum(_window_rows(idx).values()) == len(fake_embedder.embedded_texts)
    assert idx.status()["window_chars"] > 0


def test_chunks_are_embedded_with_their_documents_title_but_keyword_terms_and_windows_are_not(tmp_path, fake_embedder):
    from semsearch.ingest.chunk import sentence_windows
    WINDOW_CHARS = DEFAULTS.window_chars

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    section = "组织建设方面，九个专门委员会全部成立分党组。" * 8
    (corpus / "report.md").write_text(
        f"# 云南省政协工作综述\n\n省政协推动党的组织全覆盖。\n\n## 组织建设\n\n{section}\n", encoding="utf-8")
    idx = Index.open(tmp_path / "idx", embedder=fake_embedder)
    idx.reindex([corpus])
    embedded = fake_embedder.embedded_texts
    assert "云南省政协工作综述\n组织建设\n" + section in embedded  # the title opens the chunk under another section
    assert "云南省政协工作综述\n省政协推动党的组织全覆盖。" in embedded  # the chunk under the title: no second copy
    assert not any("\x1e" in text for text in embedded)
    windows = sentence_windows("组织建设\n" + section, WINDOW_CHARS)
    assert len(windows) >= 2 and all(w in embedded for w in windows)
    assert [t for t in embedded if t.startswith("云南省政协工作综述\n组织建设")] == ["云南省政协工作综述\n组织建设\n" + section]
    hits = idx.search("综述", k=5, mode="keyword")  # a word of the title alone
    assert [h.title for h in hits] == ["云南省政协工作综述"]


def test_an_index_cut_by_an_earlier_chunker_says_so_until_reindexed(tmp_path, corpus, fake_embedder):
    import sqlite3

    idx = Index.open(tmp_path / "idx", embedder=fake_embedder)
    idx.reindex([corpus])
    assert idx.status()["chunker_current"] is True and not idx.cut_by_older_version()
    live = tmp_path / "idx" / (tmp_path / "idx" / CURRENT).read_text().strip()
    with sqlite3.connect(live / "index.sqlite") as db:
        db.execute("UPDATE meta SET value = '2' WHERE key = 'chunker'")
    old = Index.open(tmp_path / "idx", embedder=fake_embedder)
    assert old.cut_by_older_version() and old.status()["chunker"] == "2"
    assert old.search("委员工作站", k=1)  # still searchable as it is
    report = old.reindex()
    assert report["files"]["unchanged"] == 5 and not old.cut_by_older_version()
