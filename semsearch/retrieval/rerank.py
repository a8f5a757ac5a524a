"""Second stage of a hybrid search: the first hits reordered by the best answer sentence each holds.

Fusion ranks whole passages, and a long passage that mentions everything a question names can
outrank the short one that answers it. Each of the first ``rerank_depth`` hits is scored instead by
its best sentence, as answers score sentences. A hit's score becomes its fused score plus
``sentence_weight`` times the margin by which its best sentence beats the weakest of the first
hits', so scores still fall with rank and a passage both rankings put far ahead does not lose on a
coin-flip margin. Only stored vectors are used (nothing is embedded). The hits past the depth keep
their fused order, so the set of the first hits never changes, only their order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from semsearch.config import DEFAULTS, Settings
from semsearch.retrieval.sentences import (WindowLookup, answer_fit, sentence_candidates, sentence_cosines,
                                           wording_scores)
from semsearch.types import Hit


@dataclass(frozen=True)
class BestSentence:
    """A hit's best answer sentence: its score as ``ask`` scores sentences, and the parts of that score."""

    score: float  # 0.5 * wording + 0.5 * cosine + fit
    wording: float
    cosine: float  # of the stored sentence window that holds it
    fit: float  # sentences.answer_fit: the bonuses for stating the number asked for and naming what was asked about
    top_cosine: float  # the best cosine of any of the hit's sentences


def best_sentences(question: str, head: list[Hit], query_vector: np.ndarray,
                   term_counts: Callable[[list[str]], dict[str, int]],
                   windows: WindowLookup | None, settings: Settings = DEFAULTS) -> dict[int, BestSentence]:
    """Per hit rank, the best sentence of each hit in ``head`` that has one."""
    candidates, folded = sentence_candidates(head)
    if not candidates:
        return {}
    wording = wording_scores(question, folded, term_counts, settings)
    cosines = sentence_cosines(query_vector, [(c[0], c[3]) for c in candidates], None, windows, folded)
    fit = answer_fit(question, candidates, folded, settings)
    scores = 0.5 * wording + 0.5 * cosines + fit
    best: dict[int, int] = {}
    top_cosine: dict[int, float] = {}
    for i, (hit, *_) in enumerate(candidates):
        if hit.rank not in best or scores[i] > scores[best[hit.rank]]:
            best[hit.rank] = i
        top_cosine[hit.rank] = max(top_cosine.get(hit.rank, -1.0), float(cosines[i]))
    return {rank: BestSentence(float(scores[i]), float(wording[i]), float(cosines[i]), float(fit[i]), top_cosine[rank])
            for rank, i in best.items()}


def rerank(question: str, hits: list[Hit], query_vector: np.ndarray,
           term_counts: Callable[[list[str]], dict[str, int]], windows: WindowLookup,
           settings: Settings = DEFAULTS) -> list[Hit]:
    """``hits`` with the first ``settings.rerank_depth`` reordered by their best sentence, ranks renumbered."""
    head, tail = hits[:settings.rerank_depth], hits[settings.rerank_depth:]
    if len(head) < 2:
        return hits
    found = best_sentences(question, head, query_vector, term_counts, windows, settings)
    if not found:
        return hits
    best = {rank: sentence.score for rank, sentence in found.items()}
    # A hit's score rises by how far its best sentence beats the weakest of the first hits': never below its
    # fused score, so the reordered hits still score at least as high as those after them.
    floor = min(best.values())
    lifted = {hit.rank: hit.score + settings.sentence_weight * (best[hit.rank] - floor) if hit.rank in best else hit.score
              for hit in head}
    head = sorted(head, key=lambda hit: (-lifted[hit.rank], hit.rank))
    return [replace(hit, rank=rank, score=lifted[hit.rank], fused_score=hit.score, sentence_score=best.get(hit.rank))
            for rank, hit in enumerate(head, start=1)] + tail
