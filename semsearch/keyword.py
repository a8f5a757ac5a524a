"""Keyword terms for BM25: folded text -> words and character bigrams.

Owns how text is cut into terms for the SQLite FTS5 index beside the chunks.
Chinese has no spaces, so each text gives both jieba's search-mode words (via
rjieba, the Rust port with the same dictionary, which loads in a tenth of the
time) and every CJK character bigram, so a query still matches when the
segmenter cuts it differently from the passage. Latin words are lowercased and
NFKC-folded. Terms are joined by spaces; FTS5's ``unicode61`` tokenizer then
keeps each as one token.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_TERM = re.compile(r"^[0-9a-z\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+$")
_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]{2,}")
# Words that ask rather than say: they never help find a passage.
QUESTION_WORDS = frozenset(
    "如何 怎么 怎样 怎么样 什么 多少 哪些 哪里 哪个 哪几个 为什么 是否 有没有 几个 几 请问 吗 呢 了 的 是 有 "
    "what which who how many much when where why does did do is are was were the a an of in on to for and".split())


@lru_cache(maxsize=1)
def _segmenter():
    import rjieba

    return rjieba


def _words(text: str) -> list[str]:
    return _segmenter().cut_for_search(text)


def terms(folded: str) -> list[str]:
    """Terms of already folded (Simplified, gloss-free) text, in order, with repeats."""
    text = unicodedata.normalize("NFKC", folded).lower()
    out = [w for w in _words(text) if _TERM.match(w) and not (len(w) == 1 and _CJK.match(w))]
    for run in _CJK_RUN.findall(text):
        out.extend(run[i:i + 2] for i in range(len(run) - 1))
    return out


_PROPER = {"ns", "nr", "nrt", "nrfg", "nt", "nz"}
_PLACE_SUFFIX = "省市县区镇乡村州"
_LATIN = re.compile(r"[a-z]+")


@lru_cache(maxsize=1)
def _pinyin():
    from pypinyin import lazy_pinyin

    return lazy_pinyin


def name_pinyin(folded: str) -> list[str]:
    """Toneless joined pinyin of the proper nouns in ``folded`` (and of place names without their suffix)."""
    out = []
    for word, tag in _segmenter().tag(folded):
        if len(word) < 2 or not all(_CJK.match(ch) for ch in word):
            continue
        is_place = len(word) >= 3 and word[-1] in _PLACE_SUFFIX
        if tag not in _PROPER and not is_place:
            continue
        syllables = _pinyin()(word)
        out.append("".join(syllables))
        if is_place:
            out.append("".join(syllables[:-1]))
    return out


def names(folded: str) -> list[str]:
    """Proper nouns (places, people, organisations) in ``folded``, as jieba tags them."""
    found = []
    for word, tag in _segmenter().tag(folded):
        if len(word) >= 2 and all(_CJK.match(ch) for ch in word) and (
                tag in _PROPER or (len(word) >= 3 and word[-1] in _PLACE_SUFFIX)):
            found.append(word)
    return found


def document_terms(folded: str) -> str:
    return " ".join(terms(folded) + name_pinyin(folded))


_QUESTION_PHRASES = re.compile("|".join(sorted((w for w in QUESTION_WORDS if len(w) > 1 and _CJK.match(w)),
                                               key=len, reverse=True)))


def query_terms(folded: str) -> list[str]:
    """Distinct content terms of a query, question words removed (also from the bigrams)."""
    seen: dict[str, None] = {}
    for term in terms(_QUESTION_PHRASES.sub(" ", folded)):
        if term not in QUESTION_WORDS:
            seen.setdefault(term, None)
    latin = _LATIN.findall(unicodedata.normalize("NFKC", folded).lower())
    for a, b in zip(latin, latin[1:]):
        seen.setdefault(a + b, None)
    return list(seen)


def query_words(folded: str) -> list[str]:
    """Distinct Chinese words (two or more characters) of a query, question words removed."""
    return [w for w in dict.fromkeys(_words(folded))
            if len(w) >= 2 and all(_CJK.match(ch) for ch in w) and w not in QUESTION_WORDS]


def fts_query(folded: str, extra_terms: list[str] = ()) -> str | None:
    """An FTS5 MATCH expression: any of the query's terms (and ``extra_terms``), each quoted."""
    quoted = [f'"{t}"' for t in dict.fromkeys([*query_terms(folded), *extra_terms])]
    return " OR ".join(quoted) if quoted else None
