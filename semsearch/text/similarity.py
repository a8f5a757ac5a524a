"""How alike two texts are: character trigrams for near-duplicates, bigrams for shared wording."""

from __future__ import annotations

from semsearch.text.normalize import match_key
from semsearch.text.script import WORD_UNIT


def shingles(text: str) -> set[str]:
    """Character trigrams of ``text``, whitespace removed: what near-duplicate checks compare."""
    compact = "".join(text.split())
    return {compact[i:i + 3] for i in range(max(1, len(compact) - 2))}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / (len(a | b) or 1)


def bigrams(text: str) -> set[str]:
    """Character bigrams of CJK text and whole ASCII words, on the match-key form."""
    return grams(match_key(text))


def grams(key: str) -> set[str]:
    units = WORD_UNIT.findall(key.lower())
    grams = {a + b for a, b in zip(units, units[1:]) if len(a) == 1 and len(b) == 1}
    grams.update(u for u in units if len(u) > 1)
    return grams
