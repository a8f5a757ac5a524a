"""A LangChain retriever over a semsearch ``Index`` (``pip install "semsearch[langchain]"``).

    from semsearch.integrations.langchain import SemsearchRetriever
    retriever = SemsearchRetriever("index", k=5)
    docs = retriever.invoke("如何建设委员工作站?")   # list[Document]
    docs[0].metadata  # {"path", "line_start", "line_end", "char_start", "char_end", ["page"], "title", "rank", "score"}

Each ``Document`` is one passage: ``page_content`` is its exact text (the source file's
``[char_start:char_end]``), ``id`` is ``"path#char_start-char_end"``. Errors from semsearch (``InputError``,
``IndexProblem``) propagate unchanged. The async path is LangChain's own: the search runs in an executor thread.
"""

from __future__ import annotations

from os import PathLike
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from semsearch.index import Index
from semsearch.integrations import check_arguments, citation_metadata, open_index, passage_id
from semsearch.types import Hit


def to_document(hit: Hit) -> Document:
    return Document(page_content=hit.text, metadata=citation_metadata(hit), id=passage_id(hit))


class SemsearchRetriever(BaseRetriever):
    """The top ``k`` passages of ``index.search(query, k, mode)`` as LangChain ``Document``s, best first."""

    index: Index
    k: int = 5
    mode: str = "hybrid"

    def __init__(self, index: Index | str | PathLike, k: int = 5, mode: str = "hybrid", **kwargs: Any):
        """``index``: an ``Index``, or the folder of one; ``mode``: "hybrid", "dense" or "keyword"."""
        check_arguments(k, mode)
        super().__init__(index=open_index(index), k=k, mode=mode, **kwargs)

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return [to_document(hit) for hit in self.index.search(query, k=self.k, mode=self.mode)]
