"""Highlighting: where a query's words occur in a passage, as spans of the source text.

Owns matching across scripts and glosses for display: the passage is folded
(``normalize.fold``), the query's terms (CJK character bigrams, ASCII words) are
found in the folded text, and each match is mapped back to the exact source
characters, so ``協(xié)商`` in a Traditional passage lights up for ``协商``.
"""

from __future__ import annotations

import re
import unicodedata

from semsearch.text.normalize import fold
from semsearch.text.script import WORD_UNIT

# Question words carry no content; lighting them up would only add noise.
_QUESTION_BIGRAMS = {"如何", "怎么", "怎样", "什么", "多少", "哪些", "哪里", "哪个", "为什", "是否", "有没", "没有", "几个", "请问"}


def query_terms(query: str) -> set[str]:
    folded = unicodedata.normalize("NFKC", fold(query).text).lower()
    units = WORD_UNIT.findall(folded)
    terms = {a + b for a, b in zip(units, units[1:]) if len(a) == 1 and len(b) == 1}
    terms -= _QUESTION_BIGRAMS
    terms.update(u for u in units if len(u) > 1 and not u.isdigit() or (u.isdigit() and len(u) >= 2))
    return terms


def term_spans(passage: str, query: str, extra_terms: tuple[str, ...] = ()) -> list[tuple[int, int]]:
    """Merged, sorted source spans of ``passage`` that match a term of ``query`` or one of ``extra_terms``
    (folded terms, such as an English question's translations)."""
    folded = fold(passage)
    haystack = folded.text.lower()
    spans = []
    for term in query_terms(query) | set(extra_terms):
        for m in re.finditer(re.escape(term), haystack):
            spans.append(folded.source_span(m.start(), m.end()))
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged
