"""Keyword retrieval: BM25 over the question's terms and the index's own words for those it lacks."""

from __future__ import annotations

from semsearch.analysis.keyword import search_terms
from semsearch.analysis.translate import translations
from semsearch.config import DEFAULTS, Settings
from semsearch.store import Generation
from semsearch.text.normalize import fold_text


def keyword_candidates(gen: Generation, query: str, n: int, english: dict[str, list[str]] | None = None,
                       settings: Settings = DEFAULTS) -> list[tuple[int, float]]:
    """(chunk id, BM25 score) of the ``n`` best passages for ``query`` (``english``: its English words'
    translations, when already looked up)."""
    folded = fold_text(query)
    extra = translations(folded, gen.term_document_counts, english, settings) if settings.translate else []
    terms = search_terms(folded, extra)
    if not terms:
        return []
    return gen.keyword_candidates(terms, n, settings.common_term_share, settings.common_term_rows)
