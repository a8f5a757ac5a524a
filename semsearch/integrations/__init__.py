"""Retrievers for other frameworks over an ``Index``: ``semsearch.integrations.langchain`` (``SemsearchRetriever``,
LangChain ``Document``s) and ``semsearch.integrations.llamaindex`` (``SemsearchRetriever``, LlamaIndex
``NodeWithScore``s), installed with ``semsearch[langchain]`` and ``semsearch[llamaindex]``.

Each module imports its framework when it is imported; this package and ``semsearch`` itself import neither.
What both share lives here: opening the index, checking ``k`` and ``mode``, and a hit's citation as metadata.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

from semsearch.errors import InputError
from semsearch.index import Index
from semsearch.retrieval.search import MODES
from semsearch.types import Hit

# Metadata an LLM prompt has no use for: the offsets and the ranking are for code that quotes or checks the source.
NOT_FOR_THE_LLM = ("char_start", "char_end", "rank", "score")


def open_index(index: Index | str | PathLike) -> Index:
    """``index`` itself, or the index at that folder (opened lazily, as ``Index.open`` does)."""
    if isinstance(index, Index):
        return index
    if isinstance(index, (str, PathLike)):
        return Index.open(Path(index))
    raise InputError(f"expected a semsearch Index or an index folder, not {type(index).__name__}")


def check_arguments(k: int, mode: str) -> None:
    """The checks ``Index.search`` makes, made when the retriever is built rather than at its first query."""
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise InputError("k must be a whole number of at least 1")
    if mode not in MODES:
        raise InputError(f"mode must be one of {', '.join(MODES)}")


def citation_metadata(hit: Hit) -> dict:
    """The hit's citation as flat metadata: path, lines, character offsets, page (PDFs only), title, rank, score."""
    source = hit.source
    meta = {"path": source.path, "line_start": source.line_start, "line_end": source.line_end,
            "char_start": source.char_start, "char_end": source.char_end}
    if source.page is not None:
        meta["page"] = source.page
    meta.update(title=hit.title, rank=hit.rank, score=float(hit.score))
    return meta


def passage_id(hit: Hit) -> str:
    """A stable id for the passage: its file and character span (the same across reindexes of an unchanged file)."""
    return f"{hit.source.path}#{hit.source.char_start}-{hit.source.char_end}"
