"""The LlamaIndex retriever: scored TextNodes carrying each hit's citation, inside a query engine with no LLM."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from conftest import require_extra

require_extra("llama_index.core", "pip install 'semsearch[llamaindex]'")

from llama_index.core.llms import MockLLM  # noqa: E402
from llama_index.core.query_engine import RetrieverQueryEngine  # noqa: E402
from llama_index.core.response_synthesizers.no_text import NoText  # noqa: E402
from llama_index.core.schema import MetadataMode, NodeWithScore, TextNode  # noqa: E402

from semsearch import Index  # noqa: E402
from semsearch.errors import IndexProblem, InputError  # noqa: E402
from semsearch.integrations.llamaindex import SemsearchRetriever, to_node  # noqa: E402
from semsearch.types import Hit, Source  # noqa: E402

QUESTION = "如何建设委员工作站?"
CITATION_KEYS = {"path", "line_start", "line_end", "char_start", "char_end", "title", "rank", "score"}


def engine_without_llm(retriever: SemsearchRetriever) -> RetrieverQueryEngine:
    """A query engine that only retrieves. ``from_args(..., response_mode="no_text")`` is not enough: llama-index
    builds its ``NoText`` synthesizer without the ``llm`` given, so it falls back to ``Settings.llm`` (OpenAI) and
    fails without ``llama-index-llms-openai`` (run-llama/llama_index#10970, still so in 0.14)."""
    return RetrieverQueryEngine.from_args(retriever, llm=MockLLM(), response_synthesizer=NoText(llm=MockLLM()))


@pytest.fixture
def fake_index(tmp_path, corpus, fake_embedder) -> Index:
    idx = Index.open(tmp_path / "idx", embedder=fake_embedder)
    idx.reindex([corpus])
    return idx


def test_nodes_carry_each_hit_its_score_and_its_exact_source_span(fake_index, corpus):
    for mode in ("hybrid", "dense", "keyword"):
        hits = fake_index.search("委员工作站", k=4, mode=mode)
        nodes = SemsearchRetriever(fake_index, k=4, mode=mode).retrieve("委员工作站")
        assert len(nodes) == len(hits) > 0
        for scored, hit in zip(nodes, hits):
            assert isinstance(scored, NodeWithScore) and isinstance(scored.node, TextNode)
            node, meta = scored.node, scored.node.metadata
            assert set(meta) == CITATION_KEYS  # plain text files: no page
            assert meta == {**hit.source.as_json(), "title": hit.title, "rank": hit.rank,
                            "score": pytest.approx(float(hit.score))}
            assert scored.score == meta["score"] and type(scored.score) is float
            text = (corpus / meta["path"]).read_text(encoding="utf-8")
            assert node.text == hit.text == text[meta["char_start"]:meta["char_end"]]
            assert (node.start_char_idx, node.end_char_idx) == (hit.source.char_start, hit.source.char_end)
            assert node.node_id == f"{hit.source.path}#{hit.source.char_start}-{hit.source.char_end}"
            assert node.ref_doc_id == hit.source.path
        assert [n.node.metadata["rank"] for n in nodes] == list(range(1, len(nodes) + 1))


def test_the_llm_sees_the_passage_under_its_path_and_title_but_not_offsets_or_scores(fake_index):
    node = SemsearchRetriever(fake_index, k=1).retrieve("委员工作站")[0].node
    shown = node.get_content(metadata_mode=MetadataMode.LLM)
    assert f"path: {node.metadata['path']}" in shown and f"line_start: {node.metadata['line_start']}" in shown
    assert f"title: {node.metadata['title']}" in shown and node.text in shown
    assert "char_start" not in shown and "score" not in shown and "rank" not in shown


def test_a_pdf_passage_keeps_its_page_and_an_untitled_one_a_null_title():
    hit = Hit(rank=2, score=0.5, text="第二页的段落。", title=None,
              source=Source("report.pdf", line_start=3, line_end=4, char_start=10, char_end=17, page=2))
    scored = to_node(hit)
    assert scored.node.metadata == {"path": "report.pdf", "line_start": 3, "line_end": 4, "char_start": 10, "char_end": 17,
                          "page": 2, "title": None, "rank": 2, "score": 0.5}


def test_a_path_opens_the_index_and_the_async_path_gives_the_same_nodes(fake_index):
    by_path = SemsearchRetriever(str(fake_index.path), k=3)
    assert isinstance(by_path.index, Index) and by_path.index.path == fake_index.path
    retriever = SemsearchRetriever(fake_index, k=3)
    assert asyncio.run(retriever.aretrieve("委员工作站")) == retriever.retrieve("委员工作站")


def test_semsearch_errors_propagate_as_they_are(tmp_path, fake_index):
    with pytest.raises(InputError, match="mode must be one of"):
        SemsearchRetriever(fake_index, mode="fuzzy")
    with pytest.raises(InputError, match="k must be"):
        SemsearchRetriever(fake_index, k=0)
    with pytest.raises(InputError, match="empty"):
        SemsearchRetriever(fake_index).retrieve("   ")
    engine = engine_without_llm(SemsearchRetriever(tmp_path / "nothing"))
    with pytest.raises(IndexProblem, match="no index at"):
        engine.query(QUESTION)


def test_importing_semsearch_does_not_import_llama_index():
    code = ("import sys, semsearch, semsearch.integrations; semsearch.Index; semsearch.Hit\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'llama_index'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_query_engine_returns_the_workstation_passage_with_citations_and_scores_in_rank_order(real_index):
    retriever = SemsearchRetriever(real_index, k=5)
    response = engine_without_llm(retriever).query(QUESTION)

    nodes = response.source_nodes
    assert [n.node.metadata["rank"] for n in nodes] == [1, 2, 3, 4, 5]
    assert [n.score for n in nodes] == [n.node.metadata["score"] for n in nodes]
    assert [n.score for n in nodes] == sorted((n.score for n in nodes), reverse=True)
    top = nodes[0].node
    assert top.metadata["path"] == "002_82a0a245436f2301.txt" and "1363个委员工作站" in top.text
    assert set(top.metadata) == CITATION_KEYS and top.metadata["line_start"] <= top.metadata["line_end"]
    hits = Index.open(real_index).search(QUESTION, k=5)
    assert [n.node.text for n in nodes] == [h.text for h in hits]
    assert [n.node.metadata["char_start"] for n in nodes] == [h.source.char_start for h in hits]
