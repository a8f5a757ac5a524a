"""Fusing the dense and keyword rankings into one score per passage, and the bonuses added to it."""

from __future__ import annotations

import math

from semsearch.config import DEFAULTS, Settings
from semsearch.text.script import has_cjk


def keyword_weight(folded: str, nearest_text: str | None, settings: Settings = DEFAULTS) -> float:
    """The keyword ranking's weight in fusion: ``keyword_weight`` when the (folded) query and ``nearest_text``, the
    passage nearest it by meaning, are both Chinese, else the lower ``other_keyword_weight``: across scripts the
    keyword side has only dictionary translations to match, and over English text e5 is the stronger ranking."""
    if nearest_text is None:
        return settings.keyword_weight
    both_chinese = has_cjk(folded) and has_cjk(nearest_text)
    return settings.keyword_weight if both_chinese else settings.other_keyword_weight


def fuse(ranked_lists: list[list[int]], weights: list[float], k: int = DEFAULTS.rrf_k) -> dict[int, float]:
    """Weighted reciprocal-rank fusion, scaled so first place in every list scores 1.0."""
    fused: dict[int, float] = {}
    for ids, weight in zip(ranked_lists, weights):
        for rank, cid in enumerate(ids, start=1):
            fused[cid] = fused.get(cid, 0.0) + weight / (k + rank)
    top = sum(w / (k + 1) for w in weights) or 1.0
    return {cid: score / top for cid, score in fused.items()}


def normalise_dense(scored: list[tuple[int, float]]) -> dict[int, float]:
    """Cosines rescaled so the best candidate is 1 and the last of the candidate pool is 0."""
    if not scored:
        return {}
    top, floor = scored[0][1], scored[-1][1]
    span = (top - floor) or 1.0
    return {cid: max(0.0, (s - floor) / span) for cid, s in scored}


def normalise_keyword(scored: list[tuple[int, float]]) -> dict[int, float]:
    """BM25 scores as a share of the best one."""
    if not scored:
        return {}
    top = scored[0][1] or 1.0
    return {cid: s / top for cid, s in scored}


def fuse_scores(normalised: list[dict[int, float]], weights: list[float]) -> dict[int, float]:
    total = sum(weights) or 1.0
    fused: dict[int, float] = {}
    for scores, weight in zip(normalised, weights):
        for cid, s in scores.items():
            fused[cid] = fused.get(cid, 0.0) + weight * s / total
    return fused


def document_name_bonus(doc_counts: dict[str, int], named: dict[int, set[str]], documents: int,
                        weight_of_all: float = DEFAULTS.document_name_weight) -> dict[int, float]:
    """Per passage, ``weight_of_all`` times the share of the question's names its document holds,
    each name weighted by its rarity (log of documents over documents naming it): a name every
    document holds, such as the country, tells no passage from another."""
    weight = {name: math.log(documents / count) for name, count in doc_counts.items() if 0 < count < documents}
    total = sum(weight.values())
    if total <= 0:
        return {}
    return {cid: weight_of_all * sum(weight.get(n, 0.0) for n in names) / total for cid, names in named.items()}
