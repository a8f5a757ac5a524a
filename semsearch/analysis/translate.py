"""Dictionary bridges for keyword search: the words of a question that the index lacks -> words it has.

Every bridge is kept only where the index actually uses its result:

- English words -> their Chinese translations (the model carries an English question's meaning
  across, but is weakest where keyword search is strongest: which of several numbers, which body).
- A romanised place or person name that CC-CEDICT glosses with itself (Hechi -> 河池).
- Numbers and capitalised months spelt out in English -> their digits (twenty-five -> 25).
- A capitalised romanised name the index lacks (Sanmeng) -> the character bigrams it can be read as.
- A Chinese word the index never uses (归拢) -> words of the same sense it does use (汇总).
- A Chinese word the index never uses -> the English words of its short glosses, in the forms the
  index holds (图书馆 -> library, libraries): a Chinese question over English text.

Per word, the results the index contains are ranked by how often the corpus uses them: a dictionary
offers dozens of senses, but a corpus uses only some of them.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Callable, Sequence

from semsearch.analysis.dictionary import (CAPITALISED_WORD, LONG_CAPITALISED_WORD, MONTHS, content_words, english_of,
                                           glosses, named, spelt_number, stemmer, table_rows)
from semsearch.analysis.keyword import query_words
from semsearch.config import DEFAULTS, Settings


def inflections(word: str) -> list[str]:
    """``word`` and its regular English forms that stem as it does (library: libraries; open: opened, opening;
    stop: stopped; close: closed, closing): an English text's words are indexed as written."""
    consonant_y = len(word) >= 2 and word[-1] == "y" and word[-2] not in "aeiou"
    forms = [word]
    if word.endswith(("s", "x", "z", "ch", "sh")):
        forms.append(word + "es")
    elif consonant_y:
        forms += [word[:-1] + "ies", word[:-1] + "ied"]
    else:
        forms.append(word + "s")
    if word.endswith("e"):
        forms += [word + "d", word[:-1] + "ing" if not word.endswith("ee") else word + "ing"]
    else:
        forms += [word + "ing"] + ([] if consonant_y else [word + "ed"])
        if len(word) >= 3 and word[-1] not in "aeiouwxy" and word[-2] in "aeiou" and word[-3] not in "aeiou":
            forms += [word + word[-1] + "ed", word + word[-1] + "ing"]  # stop: stopped, stopping
    root = stemmer()(word)
    return [form for form in dict.fromkeys(forms) if form == word or stemmer()(form) == root]


def english_by_word(query: str, document_counts: Callable[[list[str]], dict[str, int]],
                    settings: Settings = DEFAULTS) -> dict[str, list[str]]:
    """Each Chinese word of ``query`` that the index never uses -> the English words (in the forms the index holds)
    its dictionary glosses give, the most used first: a Chinese question over English text (图书馆 -> library,
    libraries). Words the index holds are left alone, so over Chinese text this adds nothing."""
    words = query_words(query)
    if not words:
        return {}
    absent = [w for w, n in document_counts(words).items() if n == 0]
    if not absent:
        return {}
    offered = {head: [form for word in english[:settings.translations_per_word] for form in inflections(word)]
               for head, english in english_of(absent).items()}
    found = _most_used(offered, document_counts, settings.translations_per_word)
    # A part of a word that was found (书馆 in 图书馆: "library") glosses something else ("old-style school"):
    # parts are searched only for words the dictionary cannot help with.
    return {word: [] if any(word != other and word in other and found[other] for other in found) else terms
            for word, terms in found.items()}


def _syllable_splits(word: str, syllables: set[str], parts: int = 3) -> list[list[str]]:
    """Every way to read ``word`` as 2 to ``parts`` pinyin syllables."""
    if not word:
        return [[]]
    if parts == 0:
        return []
    out = []
    for end in range(1, min(6, len(word)) + 1):
        if word[:end] in syllables:
            out.extend([word[:end], *rest] for rest in _syllable_splits(word[end:], syllables, parts - 1))
    return out


def _chars_of(syllables: list[str]) -> dict[str, str]:
    """Syllable -> the characters read so (every syllable, with no characters, when none are asked for)."""
    if not syllables:
        return dict(table_rows("SELECT syllable, '' FROM readings"))
    marks = ",".join("?" * len(syllables))
    return dict(table_rows(f"SELECT syllable, chars FROM readings WHERE syllable IN ({marks})", tuple(syllables)))


@lru_cache(maxsize=1)
def _syllables() -> frozenset[str]:
    return frozenset(_chars_of([]))


def name_readings(word: str, document_counts: Callable[[list[str]], dict[str, int]],
                  most: int = DEFAULTS.max_name_readings) -> list[str]:
    """The character bigrams of the index that a romanised name (``Sanmeng`` -> 三猛) can be, when few.

    Each reading of the word as 2 or 3 syllables is tried: first two characters that the
    index holds as a bigram, then, for a third syllable, a bigram that continues one found.
    A name that could be many things in this corpus is no evidence of any: then nothing.
    """
    found: list[str] = []
    for split in _syllable_splits(word, _syllables()):
        if len(split) < 2:
            continue
        chars = _chars_of(split)
        if len(chars) < len(set(split)):
            continue
        pairs = [a + b for a in chars[split[0]] for b in chars[split[1]]]
        counts = document_counts(pairs)
        present = [p for p in pairs if counts[p]]
        if len(split) == 3 and present:
            tails = [p[1] + c for p in present for c in chars[split[2]]]
            counts = document_counts(tails)
            present = [p for p in present if any(counts[p[1] + c] for c in chars[split[2]])]
            present += [t for t in tails if counts[t] and any(t[0] == p[1] for p in present)]
        found.extend(present)
    found = list(dict.fromkeys(found))
    return found if 0 < len(found) <= most else []


def translations_by_word(query: str, document_counts: Callable[[list[str]], dict[str, int]],
                         settings: Settings = DEFAULTS) -> dict[str, list[str]]:
    """Each English word of ``query`` -> its translations that the index contains, the corpus's most frequent first."""
    words = content_words(query)
    if not words:
        return {}
    offered = glosses(words)
    out = _most_used(offered, document_counts, settings.translations_per_word)
    # A name the dictionary spells (Hechi, Sichuan) means that place, not what else the word glosses (Sichuan
    # pepper): when the index holds it, only it and the translations that contain it (Gansu: 甘肃, 甘肃省) are kept.
    # A lower-case word is read as a name only when it translates as nothing else ("change" is no Chang'e).
    capitalised = {w.lower().replace("’", "'") for w in CAPITALISED_WORD.findall(query)}
    for word, heads in _most_used(named(words), document_counts, settings.translations_per_word).items():
        if heads and (word in capitalised or not out.get(word)):
            out[word] = list(dict.fromkeys(heads + [t for t in out.get(word, []) if any(h in t for h in heads)]))
    # Numbers and months spelt out (five, October) are searched as the digits the text writes; only a
    # capitalised month is one ("march" is also a word).
    numbers = {w: spelt_number(w) or (MONTHS.get(w) if w in capitalised else None) for w in words}
    numbers = {w: n for w, n in numbers.items() if n}
    present = document_counts(sorted(set(numbers.values()))) if numbers else {}
    for word, number in numbers.items():
        if present[number]:
            out[word] = [number]  # the word's glosses are other senses: "March" is no 长征, "Long March"
    # A capitalised word that is no English word and no indexed pinyin (keyword.document_terms_and_names) may be a
    # name the segmenter did not tag: read it as syllables.
    unread = [m.lower() for m in LONG_CAPITALISED_WORD.findall(query)]
    indexed = document_counts(unread)
    for name in unread:
        if name in out and not out[name] and not offered[name] and not indexed[name]:
            out[name] = name_readings(name, document_counts, settings.max_name_readings)
    return out


def _most_used(offered: dict[str, Sequence[str]], document_counts: Callable[[list[str]], dict[str, int]],
               per_word: int) -> dict[str, list[str]]:
    """Per word, at most ``per_word`` of the words offered for it that the index uses, the most used first.

    The sense a corpus uses most is the likeliest to be the one it means."""
    present = document_counts(sorted({h for heads in offered.values() for h in heads}))
    return {word: sorted((h for h in heads if present[h] > 0), key=lambda h: -present[h])[:per_word]
            for word, heads in offered.items()}


@lru_cache(maxsize=20_000)
def _same_sense(headword: str) -> tuple[str, ...]:
    """Headwords sharing a one-word gloss with ``headword`` (汇总 and 归拢 both gloss "to collect")."""
    stems = [row[0] for row in table_rows("SELECT word FROM glosses WHERE headword = ? AND rank = 1", (headword,))]
    if not stems:
        return ()
    marks = ",".join("?" * len(stems))
    return tuple(row[0] for row in table_rows(
        f"SELECT DISTINCT headword FROM glosses WHERE word IN ({marks}) AND rank = 1 AND headword != ?",
        (*stems, headword)))


def synonyms_by_word(query: str, document_counts: Callable[[list[str]], dict[str, int]],
                     settings: Settings = DEFAULTS) -> dict[str, list[str]]:
    """Each Chinese word of ``query`` that the index never uses -> words of the same sense that it does use.

    A reworded question says 归拢 where the text says 汇总: keyword search then has nothing
    to match for that word. Words the index already holds are left alone.
    """
    words = query_words(query)
    if not words:
        return {}
    absent = [w for w, n in document_counts(words).items() if n == 0]
    return _most_used({w: _same_sense(w) for w in absent}, document_counts, settings.synonyms_per_word)


def translations(query: str, document_counts: Callable[[list[str]], dict[str, int]],
                 english: dict[str, list[str]] | None = None, settings: Settings = DEFAULTS) -> list[str]:
    """The index's own words for the words of ``query`` it lacks: English words' translations (``english``, when
    ``translations_by_word`` was already asked), and for Chinese words it never uses, their synonyms and English
    glosses."""
    if english is None:
        english = translations_by_word(query, document_counts, settings)
    by_word = english | synonyms_by_word(query, document_counts, settings)
    for word, found in english_by_word(query, document_counts, settings).items():
        by_word[word] = by_word.get(word, []) + found
    terms = list(dict.fromkeys(t for found in by_word.values() for t in found))
    # BM25's cost grows with postings: the commonest dictionary words, which also weigh least, go first when
    # together they would exceed the budget.
    counts = document_counts(terms)
    kept, postings = set(), 0
    for term in sorted(terms, key=lambda t: counts[t]):
        postings += counts[term]
        if postings > settings.max_dictionary_postings:
            break
        kept.add(term)
    return [t for t in terms if t in kept]
