"""The keyword side of a generation: BM25 through SQLite FTS5, and the shortcut past common terms."""

import json

import pytest

from conftest import DEV_QUESTIONS, REPO
from semsearch import Index
from semsearch import store
from semsearch.analysis.keyword import bm25_ceiling, fts_match, search_terms
from semsearch.text.normalize import fold_text


@pytest.fixture
def seeds_generation(tmp_path, corpus, fake_embedder):
    idx = Index.open(tmp_path / "idx", embedder=fake_embedder)
    idx.reindex([corpus])
    return idx._generation()


def _questions() -> list[str]:
    out = []
    for path in (DEV_QUESTIONS, REPO / "bench" / "questions" / "seeds_questions.jsonl"):
        out += [json.loads(line)["q"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return out


def test_no_term_adds_more_to_a_rows_bm25_than_its_ceiling(seeds_generation):
    gen = seeds_generation
    rows = gen.chunk_count()
    counts = gen.term_document_counts(["政协", "委员", "协商", "工作站", "民意"])
    for term, count in counts.items():
        assert count > 0
        best = gen._bm25(fts_match([term]), rows)[0][1]  # a one-term query scores the term alone
        ceiling = bm25_ceiling(count, rows)
        # Below the ceiling, and of its size: the ceiling uses the same IDF as FTS5.
        assert 0.3 * ceiling < best < ceiling, term


def test_scoring_rare_terms_first_gives_exactly_the_whole_querys_top_n(seeds_generation, monkeypatch):
    gen = seeds_generation
    # The seeds are small: make a term common from 20% of the chunks on, however few rows that is.
    common = {"common_share": 0.2, "common_rows": 1}
    passes = []
    whole = gen._bm25
    monkeypatch.setattr(gen, "_bm25", lambda match, n, within=None: passes.append(within) or whole(match, n, within))
    compared, one_pass, more_passes = 0, 0, 0
    for question in _questions():
        terms = search_terms(fold_text(question))
        if not terms:
            continue
        for n in (5, 50):
            passes.clear()
            got = gen.keyword_candidates(terms, n, **common)
            expected = whole(fts_match(terms), n)
            assert sorted(got) == sorted(expected), question
            compared += 1
            if all(within is not None for within in passes):  # no pass over every matching row
                one_pass += len(passes) == 1
                more_passes += len(passes) > 1
    assert compared >= 100
    # Both ways of ending were taken: proved after the first pass, and after taking common terms in.
    assert one_pass >= compared // 10 and more_passes >= compared // 10


def test_a_keyword_lookup_of_terms_no_chunk_holds_finds_nothing(seeds_generation):
    assert seeds_generation.keyword_candidates(["没有这个词"], 10) == []
    assert seeds_generation.keyword_candidates([], 10) == []


def test_a_generation_knows_whether_its_text_is_traditional(tmp_path, fake_embedder):
    texts = {"traditional": "請在軟體中開啟檔案。\n\n設定記憶體與滑鼠的選項。\n\nThe English line.\n",
             "simplified": "请在软件中打开文件。\n\n设置内存与鼠标的选项。\n\nThe English line.\n"}
    for name, text in texts.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "help.txt").write_text(text, encoding="utf-8")
        idx = Index.open(tmp_path / f"{name}-index", embedder=fake_embedder)
        idx.reindex([tmp_path / name])
        assert idx._generation().written_in_traditional() == (name == "traditional")
