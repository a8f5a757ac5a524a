"""Keyword terms for BM25: folded text -> words and character bigrams.

Owns how text is cut into terms for the SQLite FTS5 index beside the chunks.
Chinese has no spaces, so each text gives both jieba's search-mode words (via
rjieba, the Rust port with the same dictionary, which loads much faster
than jieba) and every CJK character bigram, so a query still matches when the
segmenter cuts it differently from the passage. Latin words are lowercased and
NFKC-folded. Terms are joined by spaces; FTS5's ``unicode61`` tokenizer then
keeps each as one token.

Also owns name keys: the toneless pinyin of the names jieba tags (河池市 -> hechishi,
hechi) and capitalised Latin words, so a question in either language can be matched
with the places, people and bodies an article names (retrieval/fusion.py's name bonus).
"""

from __future__ import annotations

import math
import re
import unicodedata
from functools import lru_cache

from semsearch.text.script import CJK_CHAR, CJK_RANGES, CJK_RUN, QUESTION_WORDS

_CJK = CJK_CHAR
_TERM = re.compile(f"^[0-9a-z{CJK_RANGES}]+$")
_CJK_RUN = CJK_RUN


@lru_cache(maxsize=1)
def _segmenter():
    import rjieba

    return rjieba


def _words(text: str) -> list[str]:
    return _segmenter().cut_for_search(text)


def word_spans(folded: str) -> list[tuple[int, int]]:
    """[start, end) of each word of (folded) text as the segmenter cuts it, in order, covering it."""
    return [(start, end) for _, start, end in _segmenter().tokenize(folded)]


def terms(folded: str) -> list[str]:
    """Terms of already folded (Simplified, gloss-free) text, in order, with repeats."""
    text = unicodedata.normalize("NFKC", folded).lower()
    out = [w for w in _words(text) if _TERM.match(w) and not (len(w) == 1 and _CJK.match(w))]
    for run in _CJK_RUN.findall(text):
        out.extend(run[i:i + 2] for i in range(len(run) - 1))
    return out


_PROPER = {"ns", "nr", "nrt", "nrfg", "nt", "nz"}
_PERSON = {"nr", "nrfg"}
_PLACE_SUFFIX = "省市县区镇乡村州"
_LATIN = re.compile(r"[a-z]+")


@lru_cache(maxsize=1)
def _pinyin():
    from pypinyin import lazy_pinyin

    return lazy_pinyin


def _tagged_names(folded: str) -> list[tuple[str, bool, bool]]:
    """(word, is a place, is a person) for the proper nouns jieba tags in ``folded`` and words ending in a place
    suffix; a person is a word tagged as a person's name that names no place."""
    out = []
    for word, tag in _segmenter().tag(folded):
        if len(word) < 2 or not all(_CJK.match(ch) for ch in word):
            continue
        is_place = len(word) >= 3 and word[-1] in _PLACE_SUFFIX
        if tag in _PROPER or is_place:
            out.append((word, is_place, tag in _PERSON and not is_place))
    return out


def _readings(word: str, is_place: bool) -> list[str]:
    """Toneless joined pinyin of ``word``, and of a place name without its suffix (河池市 -> hechishi, hechi)."""
    syllables = _pinyin()(word)
    return ["".join(syllables), "".join(syllables[:-1])] if is_place else ["".join(syllables)]


def names(folded: str) -> list[str]:
    """Proper nouns (places, people, organisations) in ``folded``, as jieba tags them."""
    return [word for word, _, _ in _tagged_names(folded)]


def names_and_persons(folded: str) -> tuple[list[str], set[str]]:
    """``names(folded)``, and those of them tagged as a person's name, from one tagging."""
    tagged = _tagged_names(folded)
    return [word for word, _, _ in tagged], {word for word, _, is_person in tagged if is_person}


_LATIN_WORD = re.compile(r"[A-Za-z]+(?:['\u2019][A-Za-z]+)?")  # Xi'an is one word
_CAPITALISED_WORD = re.compile(r"\b(?:[A-Z][a-z]+(?:['\u2019][A-Za-z]+)?|[A-Z]{2,})\b")
POSSESSIVE = re.compile(r"['\u2019]s\b")
_SENTENCE_START = re.compile(r"(?:^|[.!?:;\"“(\n])\s*$")


def latin_names(text: str) -> set[str]:
    """Name keys of the capitalised Latin words of ``text`` that do not begin a sentence (Hechi, Xi'an -> hechi, xian)."""
    text = POSSESSIVE.sub("", text)
    return {re.sub(r"[^a-z]", "", m.group().lower()) for m in _CAPITALISED_WORD.finditer(text)
            if not _SENTENCE_START.search(text[max(0, m.start() - 3):m.start()])}


def document_terms_and_names(folded: str) -> tuple[str, set[str]]:
    """What the keyword index holds for ``folded`` (its terms and the pinyin readings of its names, joined
    by spaces for FTS5) and its name keys (see ``question_name_keys``): each name as written and read
    in pinyin (a place also without its suffix), and its capitalised Latin words."""
    readings, keys = [], latin_names(folded)
    for word, is_place, _ in _tagged_names(folded):
        read = _readings(word, is_place)
        readings.extend(read)
        keys.update(read)
        keys.update((word, word[:-1]) if is_place else (word,))
    return " ".join(terms(folded) + readings), keys


def question_name_keys(folded: str) -> set[str]:
    """Every way the question could be naming something, as name keys: its Chinese words (a place
    also without its suffix: 云南省 -> 云南省, 云南) and its Latin words alone and in pairs (Xi'an -> xian,
    matching the pinyin key of 西安).

    Keys are compared with the names the documents contain, so a question's words that name
    nothing in the corpus simply match nothing; no tagger has to recognise a name in a short
    question, and no pinyin is computed at query time (importing pypinyin would slow every cold ask).
    """
    keys: set[str] = set()
    for word in query_words(folded):
        keys.add(word)
        if len(word) >= 3 and word[-1] in _PLACE_SUFFIX:
            keys.add(word[:-1])
    text = POSSESSIVE.sub("", unicodedata.normalize("NFKC", folded))
    latin = [re.sub(r"[^a-z]", "", w.lower()) for w in _LATIN_WORD.findall(text)]
    latin = [w for w in latin if w not in QUESTION_WORDS]
    keys.update(latin)
    keys.update(a + b for a, b in zip(latin, latin[1:]))
    return keys


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


def main_words(folded: str) -> list[str]:
    """``query_words`` less those inside another of them (图书馆, not also 图书 and 书馆): one per thing asked about."""
    words = query_words(folded)
    return [w for w in words if not any(w != other and w in other for other in words)]


def search_terms(folded: str, extra_terms: list[str] = ()) -> list[str]:
    """The distinct terms a keyword search looks for: the query's own (``query_terms``), then ``extra_terms``."""
    return list(dict.fromkeys([*query_terms(folded), *extra_terms]))


def fts_match(terms: list[str]) -> str | None:
    """An FTS5 MATCH expression for rows holding any of ``terms``, each quoted."""
    return " OR ".join(f'"{t}"' for t in dict.fromkeys(terms)) or None


# FTS5's bm25() constants (fts5_aux.c); its IDF is log((N - n + 0.5) / (n + 0.5)), at least 1e-6.
BM25_K1 = 1.2


def bm25_ceiling(document_count: int, rows: int) -> float:
    """More than a term found in ``document_count`` of ``rows`` rows can add to any row's FTS5 bm25() score.

    A term adds IDF * f * (k1 + 1) / (f + k1 * (1 - b + b * length / mean length)), which stays below
    IDF * (k1 + 1) for every frequency f and length.
    """
    idf = max(1e-6, math.log((rows - document_count + 0.5) / (document_count + 0.5)))
    return idf * (BM25_K1 + 1.0)
