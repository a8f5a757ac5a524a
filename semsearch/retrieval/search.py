"""Search: a question -> ranked ``Hit``s from one index generation.

The question is folded like the passages (Simplified, no glosses). Dense retrieval embeds it and
finds the nearest passages, rescored by their best sentence window; keyword retrieval runs BM25 on
its terms. The two rankings are fused, passages whose article names what the question names and,
for a "how many" question, passages stating such a count gain a bonus. Near-duplicate passages are
shown once, and the first few are put in the order of their best answer sentence (rerank).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from semsearch.analysis.keyword import question_name_keys
from semsearch.analysis.translate import translations_by_word
from semsearch.config import DEFAULTS, Settings
from semsearch.encoders.base import Encoder
from semsearch.ingest.chunk import own_text
from semsearch.retrieval.dense import dense_candidates, embeds_translations, query_vector
from semsearch.retrieval.fusion import (document_name_bonus, fuse, fuse_scores, keyword_weight, normalise_dense,
                                        normalise_keyword)
from semsearch.retrieval.keyword import keyword_candidates
from semsearch.retrieval.rerank import rerank
from semsearch.retrieval.sentences import WindowLookup
from semsearch.store import ChunkRow, Generation
from semsearch.text.normalize import fold_text
from semsearch.text.quantity import asked_unit, states_count_in
from semsearch.text.script import asks, has_cjk
from semsearch.text.similarity import jaccard, shingles
from semsearch.types import Found, Hit, Nearest, Source

MODES = ("hybrid", "dense", "keyword")

_keyword_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _keyword_pool
    with _pool_lock:
        if _keyword_pool is None:
            _keyword_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="semsearch-keyword")
        return _keyword_pool


class _Running:
    """How many searches this process is running at once (threads of a server)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.running = 0

    def __enter__(self):
        with self._lock:
            self.running += 1

    def __exit__(self, *exc):
        with self._lock:
            self.running -= 1


_SEARCHES = _Running()


def search(gen: Generation, encoder: Encoder, query: str, k: int = 5, mode: str = "hybrid",
           settings: Settings = DEFAULTS) -> list[Hit]:
    """Top ``k`` distinct passages; ``mode`` picks hybrid fusion or one ranking alone."""
    return found(gen, encoder, query, k, mode, settings).hits


def found(gen: Generation, encoder: Encoder, query: str, k: int = 5, mode: str = "hybrid",
          settings: Settings = DEFAULTS) -> Found:
    """``search``'s hits with the dense ranking's nearest passage (what "no answer" weighs)."""
    with _SEARCHES:
        return _search(gen, encoder, query, k, mode, settings)


def _search(gen: Generation, encoder: Encoder, query: str, k: int, mode: str, settings: Settings) -> Found:
    n = max(settings.min_candidates, k * settings.candidate_factor)
    folded = fold_text(query)
    # An English question's translations are looked up once, before both rankings need them.
    english = None
    if mode != "keyword" and embeds_translations(folded, settings):
        english = translations_by_word(folded, gen.term_document_counts, settings)
    pending = None
    if mode == "hybrid" and settings.overlap_keyword:
        # The keyword lookup needs no vector: it runs on the other core while the question is encoded.
        pending = _pool().submit(keyword_candidates, gen, query, n, english, settings)
    vector = query_vector(gen, encoder, folded, english, settings) if mode != "keyword" else None
    dense = dense_candidates(gen, vector, n, _SEARCHES.running == 1, settings) if vector is not None else []
    if pending is not None:
        keyword = pending.result()
    else:
        keyword = keyword_candidates(gen, query, n, english, settings) if mode != "dense" else []

    nearest = gen.chunks([dense[0][0]]).get(dense[0][0]) if dense else None
    weights = [settings.dense_weight if dense else 0.0,
               keyword_weight(folded, nearest.text if nearest else None, settings) if keyword else 0.0]
    if settings.fusion == "rrf":
        fused = fuse([[c for c, _ in dense], [c for c, _ in keyword]], weights, settings.rrf_k)
    else:
        fused = fuse_scores([normalise_dense(dense), normalise_keyword(keyword)], weights)

    named: dict[int, set[str]] = {}
    asked_names: dict[str, int] = {}
    if mode == "hybrid" and settings.document_name_weight:
        asked_names, named = gen.names_by_chunk(list(fused), question_name_keys(folded))
        for cid, bonus in document_name_bonus(asked_names, named, gen.name_scope_count(),
                                              settings.document_name_weight).items():
            fused[cid] += bonus
    rows: dict[int, ChunkRow] | None = None
    counting: set[int] | None = None
    if mode == "hybrid" and settings.answer_unit_weight:
        unit = asked_unit(query)
        if unit:
            rows = gen.chunks(list(fused))
            counting = {cid for cid, row in rows.items() if states_count_in(unit, row.text)}
            for cid in counting:
                fused[cid] += settings.answer_unit_weight

    order = sorted(fused, key=lambda cid: -fused[cid])
    if rows is None:
        rows = gen.chunks(order[: n])
    reranking = (mode == "hybrid" and settings.rerank and vector is not None
                 and (asks(folded) or not settings.rerank_only_questions))
    wanted = max(k, settings.rerank_depth) if reranking else k
    signals = _Signals(dict(dense), {cid: r for r, (cid, _) in enumerate(dense, start=1)},
                       {cid: r for r, (cid, _) in enumerate(keyword, start=1)}, named, len(asked_names), counting)
    hits = _distinct_hits(order, rows, fused, signals, wanted, settings.near_duplicate)
    if reranking:
        hits = rerank(query, hits, vector, gen.term_document_counts, WindowLookup.of(gen), settings)
    return Found(hits[:k], Nearest(float(dense[0][1]), has_cjk(nearest.text)) if nearest else None)


class _Signals:
    """What each candidate's hit reports about where it came from (``Hit.explanation``)."""

    def __init__(self, dense_score, dense_rank, keyword_rank, named, asked_names, counting):
        self.dense_score, self.dense_rank, self.keyword_rank = dense_score, dense_rank, keyword_rank
        self.named, self.asked_names, self.counting = named, asked_names, counting


def _distinct_hits(order: list[int], rows: dict[int, ChunkRow], fused: dict[int, float], signals: _Signals,
                   wanted: int, near_duplicate: float) -> list[Hit]:
    """The first ``wanted`` candidates in ``order`` whose text repeats no earlier one (copied or lightly edited)."""
    hits: list[Hit] = []
    kept_shingles: list[set[str]] = []
    for cid in order:
        row = rows.get(cid)
        if row is None:
            continue
        trigrams = shingles(own_text(row.embed_text))
        if any(jaccard(trigrams, other) >= near_duplicate for other in kept_shingles):
            continue
        kept_shingles.append(trigrams)
        hits.append(Hit(rank=len(hits) + 1, score=fused[cid], text=row.text, title=row.title, chunk_id=cid,
                        dense_rank=signals.dense_rank.get(cid), keyword_rank=signals.keyword_rank.get(cid),
                        dense_score=signals.dense_score.get(cid),
                        names=(len(signals.named.get(cid, ())), signals.asked_names) if signals.asked_names else None,
                        states_count=None if signals.counting is None else cid in signals.counting,
                        embed_text=row.embed_text,
                        source=Source(row.path, row.line_start, row.line_end, row.char_start, row.char_end,
                                      row.page)))
        if len(hits) == wanted:
            break
    return hits
