"""Second stage of a hybrid search: the first hits reordered by the best answer sentence each holds.

Owns the order of the first ``RERANK_DEPTH`` hits. Fusion ranks whole passages, and a long
passage that mentions everything a question names can outrank the short one that answers it.
Each of the first hits is scored instead by its best sentence, as ``ask`` scores sentences
(answer.py): wording shared with the question, the cosine of the stored sentence window that
holds it, and the bonuses for stating the number asked for and for naming what was asked
about. A hit's score becomes its fused score plus ``SENTENCE_WEIGHT`` times the margin by which
its best sentence beats the weakest of the first five's, so scores still fall with rank. Only stored vectors are used (nothing is embedded), so it costs a few milliseconds.
The hits past the depth keep their fused order, so the set of the first five never changes,
only their order (bench/results/quality.md: hybrid hit@1 with and without it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from .answer import WindowLookup, answer_fit, sentence_candidates, sentence_cosines, wording_scores
from .search import RERANK_DEPTH, Hit

# A point of best-sentence score is worth this much fused score. The passage's fused score still
# counts: the first five's best sentences often score within 0.02 of each other, and a passage both
# rankings put far ahead (fused 1.0 against 0.44) should not lose on such a margin. Ordering by the
# sentence alone put 4 more of 115 questions first on our sets (bench/results/variants.md), but 4 of the 5
# it moved up won on margins of 0.005 or less (a scratch look): coin flips, which the fused score settles.
SENTENCE_WEIGHT = 10.0


def rerank(question: str, hits: list[Hit], query_vector: np.ndarray,
           term_counts: Callable[[list[str]], dict[str, int]], windows: WindowLookup) -> list[Hit]:
    """``hits`` with the first ``RERANK_DEPTH`` reordered by their best sentence, ranks renumbered."""
    head, tail = hits[:RERANK_DEPTH], hits[RERANK_DEPTH:]
    if len(head) < 2:
        return hits
    candidates, folded = sentence_candidates(head)
    if not candidates:
        return hits
    scores = (0.5 * wording_scores(question, folded, term_counts)
              + 0.5 * sentence_cosines(query_vector, [(c[0], c[3]) for c in candidates], None, windows, folded)
              + answer_fit(question, candidates, folded))
    best: dict[int, float] = {}
    for (hit, *_), score in zip(candidates, scores.tolist()):
        best[hit.rank] = max(best.get(hit.rank, -np.inf), score)
    # A hit's score rises by how far its best sentence beats the weakest of the first five's: never below its
    # fused score, so the reordered hits still score at least as high as those after them.
    floor = min(best.get(hit.rank, np.inf) for hit in head)
    lifted = {hit.rank: hit.score + SENTENCE_WEIGHT * (best[hit.rank] - floor) if hit.rank in best else hit.score
              for hit in head}
    head = sorted(head, key=lambda hit: (-lifted[hit.rank], hit.rank))
    return [replace(hit, rank=rank, score=lifted[hit.rank], fused_score=hit.score, sentence_score=best.get(hit.rank))
            for rank, hit in enumerate(head, start=1)] + tail
