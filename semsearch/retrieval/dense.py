"""Dense retrieval: the question's vector, its nearest passages (FAISS file or Milvus), rescored by their best sentence window."""

from __future__ import annotations

from typing import Callable

import numpy as np

from semsearch.analysis.translate import translations_by_word
from semsearch.config import DEFAULTS, Settings
from semsearch.encoders.base import Encoder
from semsearch.store import Generation
from semsearch.store.vectors import faiss_module
from semsearch.text.script import has_cjk


def query_vector(gen: Generation, encoder: Encoder, folded: str, english: dict[str, list[str]] | None = None,
                 settings: Settings = DEFAULTS) -> np.ndarray:
    """The (folded) query's vector, as dense search and reranking use it (``english``: its words' translations,
    if known)."""
    return encoder.encode_query(query_text_for_embedding(folded, gen.term_document_counts, english, settings))


def dense_candidates(gen: Generation, vector: np.ndarray, n: int, cores_free: bool = False,
                     settings: Settings = DEFAULTS) -> list[tuple[int, float]]:
    """(chunk id, cosine) for the ``n`` passages nearest the query ``vector``.

    ``cores_free``: no other search of this process is running.
    """
    vector = vector.reshape(1, -1)
    # One thread per query, except an inverted-file search with the cores to itself: a second thread's
    # wake-up costs more than it saves elsewhere, and concurrent searches would fight over the cores.
    threads = faiss_module().omp_get_max_threads() if cores_free and gen.splits_one_query else 1
    found = gen.vectors.search(vector[0], n, threads)
    return with_window_scores(gen, vector[0], found) if settings.use_windows else found


def query_text_for_embedding(folded: str, document_counts: Callable[[list[str]], dict[str, int]],
                             english: dict[str, list[str]] | None = None, settings: Settings = DEFAULTS) -> str:
    """The text a (folded) query is embedded as: itself, plus, for a question with no Chinese, the
    index's most used translation of each of its English words (e5-small matches English to Chinese
    loosely; the mixed text lands nearer the passage)."""
    if not embeds_translations(folded, settings):
        return folded
    if english is None:
        english = translations_by_word(folded, document_counts, settings)
    found = [terms[0] for terms in english.values() if terms]
    return f"{folded} {' '.join(dict.fromkeys(found))}" if found else folded


def embeds_translations(folded: str, settings: Settings = DEFAULTS) -> bool:
    """Whether the query is embedded with its words' translations (see ``query_text_for_embedding``)."""
    return settings.translate and settings.embed_translations and not has_cjk(folded)


def with_window_scores(gen: Generation, query_vector: np.ndarray,
                       found: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """Each candidate scored by the better of its own cosine and its best sentence window's, re-sorted.

    Only the candidates are rescored (their window vectors are read from SQLite), so
    the cost stays a few dot products per candidate at any index size.
    """
    windows = gen.window_vectors([cid for cid, _ in found])
    if not windows:
        return found
    owners = list(windows)
    stacked = np.concatenate([windows[cid] for cid in owners]).astype(np.float32)
    starts = np.cumsum([0] + [len(windows[cid]) for cid in owners[:-1]])
    best = dict(zip(owners, np.maximum.reduceat(stacked @ query_vector, starts).tolist()))
    rescored = [(cid, max(score, best.get(cid, score))) for cid, score in found]
    return sorted(rescored, key=lambda pair: -pair[1])
