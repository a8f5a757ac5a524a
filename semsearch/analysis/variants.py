"""Regional vocabulary: a query's words in the variety of Chinese the index is written in.

Folding to Simplified (``text.normalize``) changes characters, not words: Taiwan's 軟體 ("software")
folds to 软体, while mainland text says 软件; 檔案 ("file") folds to 档案, where mainland text says 文件.
A question in one variety over text in the other then shares no term for such words, and the model
too places them apart. OpenCC's phrase tables know these pairs: ``tw2sp`` gives a Traditional query's
mainland words, ``s2twp`` a query's Taiwan words. A word is swapped only where the index never uses
the query's own and does use the other: many pairs are false friends (Taiwan's 程序 is the mainland's
进程, "process", while the mainland's 程序 is "program"), so a word the text uses keeps its meaning, unless
the question is written in the other script than the text: a Traditional question over Simplified text is
most likely in Taiwan's words (檔案, "file"), and the word the text uses more is the one meant (文件).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Callable

from semsearch.analysis.keyword import word_spans
from semsearch.text.normalize import to_simplified
from semsearch.text.script import CJK_CHAR


@lru_cache(maxsize=2)
def _converter(config: str):
    import opencc

    return opencc.OpenCC(config)


def in_index_words(query: str, document_counts: Callable[[list[str]], dict[str, int]],
                    traditional_text: bool | None = None) -> str:
    """``query`` in Simplified characters, with each word the index never uses replaced by its regional
    counterpart where the index uses that; and, when the query is in the other script than the index's text
    (``traditional_text``: whether that is Traditional; None: unknown), where the index uses the counterpart in
    more passages."""
    words = to_simplified(query)
    if not CJK_CHAR.search(words) or len(words) != len(query):
        return words
    # A question can be in neither script: many words are written alike in both (文件, 设定 is not: 設定).
    traditional, simplified = words != query, _converter("s2t").convert(query) != query
    spans = word_spans(words)
    swaps: dict[tuple[int, int], str] = {}
    toward: dict[tuple[int, int], bool] = {}

    def offer(start: int, end: int) -> bool:
        own = words[start:end]
        if not CJK_CHAR.search(own):
            return False
        # A Traditional query's mainland words; any query's Taiwan words, in Simplified characters. Each toward
        # the other script than the query's own is the text's when the text is in that script.
        offered = [(_converter("tw2sp").convert(query[start:end]), traditional_text is False)] if traditional else []
        offered.append((to_simplified(_converter("s2twp").convert(own)), traditional_text is True and simplified))
        for other, toward_text in offered:
            if other != own and CJK_CHAR.search(other):
                swaps[(start, end)] = other
                toward[(start, end)] = toward_text
                return True
        return False

    changed = [offer(start, end) for start, end in spans]
    # Two words together where neither changes alone: OpenCC's phrase may span the segmenter's words (记忆|体).
    for i, ((start, _), (_, end)) in enumerate(zip(spans, spans[1:])):
        if not (changed[i] or changed[i + 1]):
            offer(start, end)
    if not swaps:
        return words
    grams = {span: (_bigrams(words, *span, words[span[0]:span[1]]), _bigrams(words, *span, other))
             for span, other in swaps.items()}
    counts = document_counts(sorted({g for pair in grams.values() for side in pair for g in side}))
    chosen = []
    for span, (own, other) in grams.items():
        mine, theirs = _uses(own, counts), _uses(other, counts)
        # Within one script a word the text uses keeps its meaning (false friends, above); a question in the
        # other script than the text's is in the other variety's words, and the text's usage decides.
        if theirs > mine and (mine == 0 or toward[span]):
            chosen.append((theirs, span))
    out, at = [], 0
    taken: list[tuple[int, int]] = []
    for _, (start, end) in sorted(chosen, reverse=True):  # the clearest first; a span overlapping it is left
        if all(end <= a or start >= b for a, b in taken):
            taken.append((start, end))
    for start, end in sorted(taken):
        out += [words[at:start], swaps[(start, end)]]
        at = end
    return "".join(out) + words[at:]


def _bigrams(words: str, start: int, end: int, stretch: str) -> list[str]:
    """The keyword index's character bigrams of ``stretch`` standing at words[start:end]; a single character is
    taken with its neighbours."""
    if len(stretch) < 2:
        stretch = words[max(0, start - 1):start] + stretch + words[end:end + 1]
    return [stretch[i:i + 2] for i in range(len(stretch) - 1)
            if CJK_CHAR.match(stretch[i]) and CJK_CHAR.match(stretch[i + 1])]


def _uses(bigrams: list[str], counts: dict[str, int]) -> int:
    """How many passages use a stretch: the count of its rarest bigram (0 for a stretch with none)."""
    return min((counts.get(b, 0) for b in bigrams), default=0)
