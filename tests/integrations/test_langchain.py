"""The LangChain retriever: Documents carrying each hit's citation, inside an LCEL chain that needs no LLM."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from conftest import require_extra

require_extra("langchain_core", "pip install 'semsearch[langchain]'")

from langchain_core.documents import Document  # noqa: E402
from langchain_core.prompts import ChatPromptTemplate  # noqa: E402
from langchain_core.runnables import RunnableLambda, RunnablePassthrough  # noqa: E402

from semsearch import Index  # noqa: E402
from semsearch.errors import IndexProblem, InputError  # noqa: E402
from semsearch.integrations.langchain import SemsearchRetriever, to_document  # noqa: E402
from semsearch.types import Hit, Source  # noqa: E402

QUESTION = "如何建设委员工作站?"
CITATION_KEYS = {"path", "line_start", "line_end", "char_start", "char_end", "title", "rank", "score"}


def format_docs(docs: list[Document]) -> str:
    """The context a prompt would hold: each passage under its citation, ``[rank] path:lines``."""
    def cite(m: dict) -> str:
        lines = m["line_start"] if m["line_start"] == m["line_end"] else f"{m['line_start']}-{m['line_end']}"
        return f"[{m['rank']}] {m['path']}:{lines}"
    return "\n\n".join(f"{cite(d.metadata)}\n{d.page_content}" for d in docs)


@pytest.fixture
def fake_index(tmp_path, corpus, fake_embedder) -> Index:
    idx = Index.open(tmp_path / "idx", embedder=fake_embedder)
    idx.reindex([corpus])
    return idx


def test_documents_carry_each_hit_and_its_exact_source_span(fake_index, corpus):
    for mode in ("hybrid", "dense", "keyword"):
        hits = fake_index.search("委员工作站", k=4, mode=mode)
        docs = SemsearchRetriever(fake_index, k=4, mode=mode).invoke("委员工作站")
        assert len(docs) == len(hits) > 0
        for doc, hit in zip(docs, hits):
            assert set(doc.metadata) == CITATION_KEYS  # plain text files: no page
            assert doc.metadata == {**hit.source.as_json(), "title": hit.title, "rank": hit.rank,
                                    "score": pytest.approx(float(hit.score))}
            assert type(doc.metadata["score"]) is float
            text = (corpus / doc.metadata["path"]).read_text(encoding="utf-8")
            assert doc.page_content == hit.text == text[doc.metadata["char_start"]:doc.metadata["char_end"]]
            assert doc.id == f"{hit.source.path}#{hit.source.char_start}-{hit.source.char_end}"
        assert [d.metadata["rank"] for d in docs] == list(range(1, len(docs) + 1))


def test_a_pdf_passage_keeps_its_page_and_an_untitled_one_a_null_title():
    hit = Hit(rank=2, score=0.5, text="第二页的段落。", title=None,
              source=Source("report.pdf", line_start=3, line_end=4, char_start=10, char_end=17, page=2))
    doc = to_document(hit)
    assert doc.metadata == {"path": "report.pdf", "line_start": 3, "line_end": 4, "char_start": 10, "char_end": 17,
                          "page": 2, "title": None, "rank": 2, "score": 0.5}


def test_a_path_opens_the_index_and_the_async_path_gives_the_same_documents(fake_index):
    by_path = SemsearchRetriever(str(fake_index.path), k=3)
    assert isinstance(by_path.index, Index) and by_path.index.path == fake_index.path
    retriever = SemsearchRetriever(fake_index, k=3)
    assert asyncio.run(retriever.ainvoke("委员工作站")) == retriever.invoke("委员工作站")


def test_semsearch_errors_propagate_as_they_are(tmp_path, fake_index):
    with pytest.raises(InputError, match="mode must be one of"):
        SemsearchRetriever(fake_index, mode="fuzzy")
    with pytest.raises(InputError, match="k must be"):
        SemsearchRetriever(fake_index, k=0)
    with pytest.raises(InputError, match="empty"):
        SemsearchRetriever(fake_index).invoke("   ")
    with pytest.raises(IndexProblem, match="no index at"):
        (SemsearchRetriever(tmp_path / "nothing") | RunnableLambda(format_docs)).invoke(QUESTION)


def test_importing_semsearch_does_not_import_langchain():
    code = ("import sys, semsearch, semsearch.integrations; semsearch.Index; semsearch.Hit\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('langchain_core', 'langsmith')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_an_lcel_chain_puts_the_workstation_passage_and_its_citation_in_the_prompt(real_index):
    retriever = SemsearchRetriever(real_index, k=5)
    prompt = ChatPromptTemplate.from_template("Answer from the context, citing [n].\n\n{context}\n\nQuestion: {question}")
    chain = {"context": retriever | RunnableLambda(format_docs), "question": RunnablePassthrough()} | prompt
    text = chain.invoke(QUESTION).to_string()

    docs = retriever.invoke(QUESTION)
    top = docs[0]
    assert top.metadata["path"] == "002_82a0a245436f2301.txt" and "1363个委员工作站" in top.page_content
    assert f"{format_docs([top])}" in text and f"Question: {QUESTION}" in text
    assert text.index("[1] 002_82a0a245436f2301.txt:") < text.index("1363个委员工作站")
    assert [d.metadata["rank"] for d in docs] == [1, 2, 3, 4, 5]
    scores = [d.metadata["score"] for d in docs]
    assert scores == sorted(scores, reverse=True)
    hits = Index.open(real_index).search(QUESTION, k=5)
    assert [d.page_content for d in docs] == [h.text for h in hits]
