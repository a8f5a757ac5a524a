"""Normalising text for matching and embedding; for display only ``clean_text``, which keeps the script.

Owns the three repairs that scraped Chinese web text needs before a model or a
keyword index sees it, each keeping a map back to the original characters:

* pinyin glosses glued to characters are dropped: ``協(xié)`` -> ``協``;
* runs of doubled punctuation are collapsed: ``,,`` -> ``,``, ``,、`` -> ``、``;
* Traditional characters are folded to Simplified (OpenCC ``t2s``).

``fold`` returns the folded text with ``origin[i]``, the index in the source of
the folded character ``i`` (plus one entry for the end), so any span found in
folded text maps back to the exact source span. ``match_key`` is the stricter
form used to decide whether a passage contains a gold answer or a highlight:
folded, NFKC-unified punctuation and no whitespace.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from dataclasses import dataclass
from functools import lru_cache

_TONED = "āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜ"
_PINYIN = f"a-zü{_TONED}"
# A gloss is a parenthesised pinyin syllable carrying a tone mark, glued to the
# character before it. Requiring the tone mark keeps "(CPPCC)" or "f(x)" intact.
_GLOSS = re.compile(rf"(?<=\S)[(（][{_PINYIN}]*[{_TONED}][{_PINYIN}]*[)）]")

# Strength order for collapsing punctuation runs: the strongest mark survives.
_PUNCT_RANK = {c: r for marks, r in (("，,", 1), ("、", 2), ("：:", 3), ("；;", 4), ("。.！!？?", 5)) for c in marks}
_PUNCT_RUN = re.compile("[" + re.escape("".join(_PUNCT_RANK)) + "]{2,}")


@dataclass(frozen=True)
class Folded:
    text: str
    origin: tuple[int, ...]  # len(text) + 1 entries; origin[-1] == len(source)

    def source_span(self, start: int, end: int) -> tuple[int, int]:
        """Source [start, end) covering folded [start, end)."""
        if end <= start:
            return self.origin[start], self.origin[start]
        return self.origin[start], self.origin[end - 1] + 1


@lru_cache(maxsize=1)
def _t2s():
    import opencc

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    return _t2s().convert(text)


def _without(text: str, origin: list[int], drop: set[int]) -> tuple[str, list[int]]:
    kept = [i for i in range(len(text)) if i not in drop]
    return "".join(text[i] for i in kept), [origin[i] for i in kept]


def _drop_glosses(text: str, origin: list[int]) -> tuple[str, list[int]]:
    drop = {i for m in _GLOSS.finditer(text) for i in range(m.start(), m.end())}
    return _without(text, origin, drop) if drop else (text, origin)


def _repair_punctuation(text: str, origin: list[int]) -> tuple[str, list[int]]:
    drop: set[int] = set()
    for m in _PUNCT_RUN.finditer(text):
        run = m.group()
        # keep the strongest mark (the first of equals): ",," -> ",", ",。" -> "。"
        best = max(range(len(run)), key=lambda i: (_PUNCT_RANK[run[i]], -i))
        drop.update(m.start() + i for i in range(len(run)) if i != best)
    return _without(text, origin, drop) if drop else (text, origin)


def fold(text: str) -> Folded:
    """Gloss-free, punctuation-repaired, Simplified text with a map to the source."""
    cleaned, origin = _repair_punctuation(*_drop_glosses(text, list(range(len(text)))))
    simplified = to_simplified(cleaned)
    if len(simplified) != len(cleaned):
        # OpenCC phrase rules almost always keep length; when one does not,
        # convert line by line and keep per-character alignment where lengths agree.
        simplified, origin = _align_by_line(cleaned, origin)
    return Folded(simplified, tuple(origin) + (len(text),))


def _align_by_line(cleaned: str, origin: list[int]) -> tuple[str, list[int]]:
    out: list[str] = []
    out_origin: list[int] = []
    pos = 0
    for line in cleaned.splitlines(keepends=True):
        converted = to_simplified(line)
        if len(converted) == len(line):
            out_origin.extend(origin[pos:pos + len(line)])
        else:  # map every converted character to the start of its source line
            out_origin.extend([origin[pos]] * len(converted))
        out.append(converted)
        pos += len(line)
    return "".join(out), out_origin


def fold_text(text: str) -> str:
    return fold(text).text


def clean_text(text: str) -> str:
    """Gloss-free, punctuation-repaired text in its own script (for showing passages to a language model, and
    answer sentences to a reader)."""
    return _repair_punctuation(*_drop_glosses(text, list(range(len(text)))))[0]


def match_key(text: str) -> str:
    """Comparison form: folded, punctuation and width unified (NFKC), no whitespace."""
    return match_key_of_folded(fold_text(text))


def match_key_of_folded(folded: str) -> str:
    """``match_key`` of text that is already folded."""
    unified = unicodedata.normalize("NFKC", folded)
    return "".join(ch for ch in unified if not ch.isspace())


def folded_spans(text: str, spans: list[tuple[int, int]]) -> list[str]:
    """The folded form of each [start, end) span of ``text``, folding ``text`` once (as ``fold_text`` of each span,
    but for the rare OpenCC phrase that would straddle a span's edge)."""
    folded = fold(text)
    origin = folded.origin
    return [folded.text[bisect_left(origin, start):bisect_left(origin, end)] for start, end in spans]
