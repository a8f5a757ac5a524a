"""Retrieval: a question -> ranked ``Hit``s from one index generation.

Owns how passages are found and ordered: the question is folded like the
passages (Simplified, no glosses), embedded with the model's query prompt, and
matched against the FAISS vectors; the nearest passages are rescored by their
best sentence window, so a fact buried in a long paragraph still counts. That
ranking is fused with BM25 keyword search (keyword.py). Passages whose text
repeats a higher-ranked one are dropped, so the same paragraph is never shown
twice. The first five are then put in the order of their best answer sentence
(rerank.py).
"""

from __future__ import annotations

import math
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

from . import store
from .chunk import own_text
from .embed import Embedder
from .keyword import question_name_keys, search_terms
from .normalize import fold_text
from .translate import translations, translations_by_word

CANDIDATE_FACTOR = 4
MIN_CANDIDATES = 50
# Reciprocal-rank fusion constant: larger flattens the difference between ranks.
RRF_K = 60
# Relative trust in each ranking (tuned on bench/questions, see bench/RESULTS.md).
DENSE_WEIGHT = 1.0
KEYWORD_WEIGHT = 1.25
# Keyword search is the stronger ranking only over Chinese, where character bigrams catch what e5-small blurs
# (keyword-only hit@1 0.83 against dense 0.75 on our seeds set). A Chinese question over English text, or an English
# one over Chinese, has only dictionary translations to match, and over English text e5 is the stronger (dense
# hit@1 0.95 against keyword 0.80 on our English-over-English set): there the keyword ranking weighs less
# (bench/results/quality.md).
OTHER_KEYWORD_WEIGHT = 0.75
MODES = ("hybrid", "dense", "keyword")
# Passages sharing this share of their character trigrams count as one.
NEAR_DUPLICATE = 0.8
# Score a passage by its best sentence window too ("small to big"; see with_window_scores).
USE_WINDOWS = True
# Words of a question the index lacks are also searched as words it has (translate.py: English
# translations, romanised names, same-sense Chinese words).
TRANSLATE = True
# An English question is embedded with the corpus's likeliest word for each of its words appended
# ("... deliberation rooms ... 协商 议事 ..."): e5-small matches English to Chinese loosely, and the
# mixed text lands nearer the passage (see query_text_for_embedding).
EMBED_TRANSLATIONS = True
# A passage whose document names the places, people and bodies the question names gains up to this
# much (fused scores lie in 0..1): a passage often leaves out what its article is about.
DOCUMENT_NAME_WEIGHT = 0.2
# A question asking "how many" in a measure word (多少间) lifts passages stating a count in that word.
ANSWER_UNIT_WEIGHT = 0.1
# The first hits are reordered by their best answer sentence (rerank.py), this many of them.
RERANK = True
RERANK_DEPTH = 5
FUSION = "score"  # "score": weighted sum of normalised scores; "rrf": reciprocal-rank fusion
# The keyword lookup needs no query vector, so it runs on the other core while the query is
# encoded (both release the GIL: BLAS and SQLite). A server answering several requests at once
# already keeps the cores busy and turns this off (npencoder.serve_concurrently).
OVERLAP_KEYWORD = True
_HAS_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_keyword_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _keyword_pool
    with _pool_lock:
        if _keyword_pool is None:
            _keyword_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="semsearch-keyword")
        return _keyword_pool


@dataclass(frozen=True)
class Source:
    path: str
    line_start: int
    line_end: int
    char_start: int
    char_end: int
    page: int | None = None  # PDFs only

    def as_json(self) -> dict:
        out = {"path": self.path, "line_start": self.line_start, "line_end": self.line_end,
               "char_start": self.char_start, "char_end": self.char_end}
        if self.page is not None:
            out["page"] = self.page
        return out

    def cite(self) -> str:
        lines = str(self.line_start) if self.line_start == self.line_end else f"{self.line_start}-{self.line_end}"
        page = f" (p. {self.page})" if self.page is not None else ""
        return f"{self.path}:{lines}{page}"


@dataclass(frozen=True)
class Hit:
    rank: int
    score: float
    text: str
    source: Source
    title: str | None
    chunk_id: int = -1
    dense_rank: int | None = None
    keyword_rank: int | None = None
    dense_score: float | None = None
    names: tuple[int, int] | None = None  # the question's names its document contains, of those the corpus has
    states_count: bool | None = None  # for a "how many" question in a measure word: does the passage state one
    sentence_score: float | None = None  # the score of its best answer sentence, for the hits rerank.py ordered
    fused_score: float | None = None  # for those hits, the fused score before reranking lifted ``score``
    # What the model embedded for it (folded title and text): kept so answers need not fold the passage again.
    embed_text: str | None = field(default=None, repr=False, compare=False)

    def as_json(self, explain: bool = False) -> dict:
        out = {"rank": self.rank, "score": round(float(self.score), 4), "text": self.text,
               "source": self.source.as_json(), "title": self.title}
        if explain:
            out["explain"] = self.explanation()
        return out

    def explanation(self) -> dict:
        """Where the hit came from: its place in each ranking and the fused score."""
        return {"dense_rank": self.dense_rank, "keyword_rank": self.keyword_rank,
                "cosine": None if self.dense_score is None else round(float(self.dense_score), 4),
                "document_names": None if self.names is None else f"{self.names[0]}/{self.names[1]}",
                "states_asked_count": self.states_count,
                "best_sentence": None if self.sentence_score is None else round(float(self.sentence_score), 4),
                "fused": round(float(self.score if self.fused_score is None else self.fused_score), 4)}


def results_json(query: str, hits: list[Hit], explain: bool = False) -> dict:
    """The ``search`` JSON of CONVENTIONS.md (schema 1); ``explain`` adds each hit's rankings."""
    return {"schema": 1, "query": query, "results": [h.as_json(explain) for h in hits]}


def query_vector(gen: store.Generation, embedder: Embedder, folded: str,
                 english: dict[str, list[str]] | None = None):
    """The (folded) query's vector, as dense search and reranking use it (``english``: its words' translations,
    if known)."""
    return embedder.encode_query(query_text_for_embedding(folded, gen.term_document_counts, english))


def dense_candidates(gen: store.Generation, vector, n: int, cores_free: bool = False) -> list[tuple[int, float]]:
    """(chunk id, cosine) for the ``n`` passages nearest the query ``vector``.

    ``cores_free``: no other search of this process is running.
    """
    if gen.faiss_index.ntotal == 0:
        return []
    from .vectors import faiss_module

    faiss = faiss_module()
    vector = vector.reshape(1, -1)
    # One query on one OpenMP thread, except an inverted-file search with the cores to itself: it splits
    # the query's probed lists between threads (vectors.tune_for_search), 2.8 against 1.6 ms p50 at 100k
    # chunks on two cores. Elsewhere the second thread's wake-up cost more than it saved (bench/scale.py),
    # and concurrent searches would only fight over the cores. The setting is per thread; restore it.
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(threads if cores_free and gen.splits_one_query else 1)
    try:
        scores, ids = gen.faiss_index.search(vector, min(n, gen.faiss_index.ntotal))
    finally:
        faiss.omp_set_num_threads(threads)
    found = [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]
    return with_window_scores(gen, vector[0], found) if USE_WINDOWS else found


def keyword_weight(folded: str, nearest_text: str | None) -> float:
    """The keyword ranking's weight in fusion: ``KEYWORD_WEIGHT`` when the (folded) query and ``nearest_text``, the
    passage nearest it by meaning, are both Chinese, else the lower ``OTHER_KEYWORD_WEIGHT``."""
    if nearest_text is None:
        return KEYWORD_WEIGHT
    both_chinese = bool(_HAS_CJK.search(folded)) and bool(_HAS_CJK.search(nearest_text))
    return KEYWORD_WEIGHT if both_chinese else OTHER_KEYWORD_WEIGHT


def query_text_for_embedding(folded: str, document_counts: Callable[[list[str]], dict[str, int]],
                             english: dict[str, list[str]] | None = None) -> str:
    """The text a (folded) query is embedded as: itself, plus, for a question with no Chinese, the
    index's most used translation of each of its English words.

    On our English questions (bench/quality.py) this put the right passage in the hybrid top 5 for
    3 more of 32, at the price of 1 fewer first place; all of each word's translations instead of
    one, or a second vector of the translations alone averaged in, did worse.
    """
    if not embeds_translations(folded):
        return folded
    if english is None:
        english = translations_by_word(folded, document_counts)
    found = [terms[0] for terms in english.values() if terms]
    return f"{folded} {' '.join(dict.fromkeys(found))}" if found else folded


def embeds_translations(folded: str) -> bool:
    """Whether the query is embedded with its words' translations (see ``query_text_for_embedding``)."""
    return TRANSLATE and EMBED_TRANSLATIONS and not _HAS_CJK.search(folded)


def with_window_scores(gen: store.Generation, query_vector, found: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """Each candidate scored by the better of its own cosine and its best sentence window's, re-sorted.

    Only the candidates are rescored (their window vectors are read from SQLite), so
    the cost stays a few dot products per candidate at any index size.
    """
    windows = gen.window_vectors([cid for cid, _ in found])
    if not windows:
        return found
    import numpy as np

    owners = list(windows)
    stacked = np.concatenate([windows[cid] for cid in owners]).astype(np.float32)
    starts = np.cumsum([0] + [len(windows[cid]) for cid in owners[:-1]])
    best = dict(zip(owners, np.maximum.reduceat(stacked @ query_vector, starts).tolist()))
    rescored = [(cid, max(score, best.get(cid, score))) for cid, score in found]
    return sorted(rescored, key=lambda pair: -pair[1])


def keyword_candidates(gen: store.Generation, query: str, n: int,
                       english: dict[str, list[str]] | None = None) -> list[tuple[int, float]]:
    folded = fold_text(query)
    terms = search_terms(folded, translations(folded, gen.term_document_counts, english) if TRANSLATE else [])
    return gen.keyword_candidates(terms, n) if terms else []


def fuse(ranked_lists: list[list[int]], weights: list[float], k: int | None = None) -> dict[int, float]:
    """Weighted reciprocal-rank fusion, scaled so first place in every list scores 1.0."""
    k = RRF_K if k is None else k
    fused: dict[int, float] = {}
    for ids, weight in zip(ranked_lists, weights):
        for rank, cid in enumerate(ids, start=1):
            fused[cid] = fused.get(cid, 0.0) + weight / (k + rank)
    top = sum(w / (k + 1) for w in weights) or 1.0
    return {cid: score / top for cid, score in fused.items()}


def shingles(text: str) -> set[str]:
    """Character trigrams of ``text``, whitespace removed: what near-duplicate checks compare."""
    compact = "".join(text.split())
    return {compact[i:i + 3] for i in range(max(1, len(compact) - 2))}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / (len(a | b) or 1)


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


def document_name_bonus(doc_counts: dict[str, int], named: dict[int, set[str]], documents: int) -> dict[int, float]:
    """Per passage, ``DOCUMENT_NAME_WEIGHT`` times the share of the question's names its document holds,
    each name weighted by its rarity (log of documents over documents naming it): a name every
    document holds, such as the country, tells no passage from another."""
    weight = {name: math.log(documents / count) for name, count in doc_counts.items() if 0 < count < documents}
    total = sum(weight.values())
    if total <= 0:
        return {}
    return {cid: DOCUMENT_NAME_WEIGHT * sum(weight.get(n, 0.0) for n in names) / total for cid, names in named.items()}


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


def search(gen: store.Generation, embedder: Embedder, query: str, k: int = 5, mode: str = "hybrid") -> list[Hit]:
    """Top ``k`` distinct passages; ``mode`` picks hybrid fusion or one ranking alone."""
    with _SEARCHES:
        return _search(gen, embedder, query, k, mode)


def _search(gen: store.Generation, embedder: Embedder, query: str, k: int, mode: str) -> list[Hit]:
    n = max(MIN_CANDIDATES, k * CANDIDATE_FACTOR)
    # An English question's translations are looked up once, before both rankings need them: looked up by
    # each at once on two threads, the keyword side's lookup took 58 ms p50 at 1M chunks (bench/scale.py).
    english = None
    folded = fold_text(query)
    if mode != "keyword" and embeds_translations(folded):
        english = translations_by_word(folded, gen.term_document_counts)
    pending = None
    if mode == "hybrid" and OVERLAP_KEYWORD:
        pending = _pool().submit(keyword_candidates, gen, query, n, english)
    vector = query_vector(gen, embedder, folded, english) if mode != "keyword" else None
    # Alone in the process, one query's inverted-file search takes both cores even while this search's own
    # keyword lookup may still be running: that lookup is nearly done by now, and at 1M chunks waiting
    # for it before splitting left the split unused in most queries (hybrid p50 32.1 against 30.5 ms, scratch).
    cores_free = _SEARCHES.running == 1
    dense = dense_candidates(gen, vector, n, cores_free) if vector is not None else []
    if pending is not None:
        keyword = pending.result()
    else:
        keyword = keyword_candidates(gen, query, n, english) if mode != "dense" else []
    dense_rank = {cid: r for r, (cid, _) in enumerate(dense, start=1)}
    dense_score = dict(dense)
    keyword_rank = {cid: r for r, (cid, _) in enumerate(keyword, start=1)}
    nearest = gen.chunks([dense[0][0]]).get(dense[0][0]) if dense and keyword else None
    weights = [DENSE_WEIGHT if dense else 0.0,
               keyword_weight(folded, nearest.text if nearest else None) if keyword else 0.0]
    if FUSION == "rrf":
        fused = fuse([[c for c, _ in dense], [c for c, _ in keyword]], weights)
    else:
        fused = fuse_scores([normalise_dense(dense), normalise_keyword(keyword)], weights)
    named: dict[int, set[str]] = {}
    asked_names: dict[str, int] = {}
    if mode == "hybrid" and DOCUMENT_NAME_WEIGHT:
        asked_names, named = gen.names_by_chunk(list(fused), question_name_keys(folded))
        for cid, bonus in document_name_bonus(asked_names, named, gen.name_scope_count()).items():
            fused[cid] += bonus
    rows = None
    counting: set[int] | None = None
    if mode == "hybrid" and ANSWER_UNIT_WEIGHT:
        from .answer import asked_unit, states_count_in

        unit = asked_unit(query)
        if unit:
            rows = gen.chunks(list(fused))
            counting = {cid for cid, row in rows.items() if states_count_in(unit, row.text)}
            for cid in counting:
                fused[cid] += ANSWER_UNIT_WEIGHT
    order = sorted(fused, key=lambda cid: -fused[cid])
    if rows is None:
        rows = gen.chunks(order[: n])
    reranking = mode == "hybrid" and RERANK and vector is not None
    wanted = max(k, RERANK_DEPTH) if reranking else k
    hits: list[Hit] = []
    kept_shingles: list[set[str]] = []
    for cid in order:
        row = rows.get(cid)
        if row is None:
            continue
        trigrams = shingles(own_text(row.embed_text))
        if any(jaccard(trigrams, other) >= NEAR_DUPLICATE for other in kept_shingles):
            continue  # the same passage again (copied, or lightly edited): shown once
        kept_shingles.append(trigrams)
        hits.append(Hit(rank=len(hits) + 1, score=fused[cid], text=row.text, title=row.title, chunk_id=cid,
                        dense_rank=dense_rank.get(cid), keyword_rank=keyword_rank.get(cid),
                        dense_score=dense_score.get(cid),
                        names=(len(named.get(cid, ())), len(asked_names)) if asked_names else None,
                        states_count=None if counting is None else cid in counting, embed_text=row.embed_text,
                        source=Source(row.path, row.line_start, row.line_end, row.char_start, row.char_end,
                                      row.page)))
        if len(hits) == wanted:
            break
    if reranking:
        from .answer import WindowLookup
        from .rerank import rerank

        hits = rerank(query, hits, vector, gen.term_document_counts, WindowLookup.of(gen))
    return hits[:k]
