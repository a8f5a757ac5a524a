"""Extractive answers: ranked hits -> 1-3 sentences that answer, each citing its passage.

Each sentence of the top passages is scored as reranking scores them (meaning, wording, the number
asked for, the names asked about), with a small preference for higher-ranked passages. The best
sentence is always kept; up to two more when they score close to it. Sentences are quoted exactly
from the source, so their citations stay exact.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from semsearch.answer.abstain import unanswerable
from semsearch.config import DEFAULTS, Settings
from semsearch.encoders.base import Encoder
from semsearch.retrieval.dense import query_text_for_embedding
from semsearch.retrieval.sentences import (WindowLookup, answer_fit, sentence_candidates, sentence_cosines,
                                           wording_scores)
from semsearch.text.normalize import fold_text, match_key_of_folded
from semsearch.text.similarity import jaccard, shingles
from semsearch.types import Answer, AnswerSentence, Hit, Nearest


def repeats(key: str, trigrams: set[str], other_key: str, other_trigrams: set[str],
            near_duplicate: float = DEFAULTS.near_duplicate) -> bool:
    """Whether two sentences (their match keys and trigrams) state the same thing: one holds the other, or they
    share as many trigrams as near-duplicate passages do."""
    return key in other_key or other_key in key or jaccard(trigrams, other_trigrams) >= near_duplicate


def answer_question(question: str, hits: list[Hit], encoder: Encoder,
                    term_counts: Callable[[list[str]], dict[str, int]] | None = None,
                    min_score: float | None = None, windows: WindowLookup | None = None,
                    settings: Settings = DEFAULTS, nearest: Nearest | None = None) -> Answer:
    """The answer from ``hits``; ``windows`` (the index's stored window vectors) spares embedding sentences;
    ``nearest``: the dense ranking's first passage (``retrieval.search.found``)."""
    if unanswerable(question, hits, term_counts or (lambda terms: dict.fromkeys(terms, 1)), min_score, settings,
                    nearest):
        return Answer(no_answer=True, text="", hits=[])

    candidates, folded_sentences = sentence_candidates(hits)
    if not candidates:
        return Answer(no_answer=True, text="", hits=hits)

    lexical = wording_scores(question, folded_sentences, term_counts, settings)
    prior = np.array([1.0 / (c[0].rank + 1) for c in candidates])
    fit = answer_fit(question, candidates, folded_sentences, settings)
    # Meaning is scored only for a shortlist (by wording, answer type and passage rank) plus every
    # sentence of the best passage: embedding each sentence of every passage costs more than the search.
    shortlist = set(np.argsort(-(0.5 * lexical + 0.1 * prior + fit))[:settings.dense_shortlist].tolist())
    shortlist.update(i for i, c in enumerate(candidates) if c[0].rank == 1)
    picked = sorted(shortlist)
    folded = fold_text(question)
    # The vector search used: encoding it again would cost as much as the search did.
    q_vec = encoder.encode_query(query_text_for_embedding(folded, term_counts, None, settings) if term_counts else folded)
    dense = np.full(len(candidates), -1.0)
    dense[picked] = sentence_cosines(q_vec, [candidates[i][::3] for i in picked], encoder, windows,
                                     [folded_sentences[i] for i in picked])
    scores = 0.5 * lexical + 0.5 * dense + 0.1 * prior + fit

    order = np.argsort(-scores)
    best = float(scores[order[0]])
    chosen: list[int] = []
    kept: list[tuple[str, set[str]]] = []
    for i in (int(i) for i in order):
        if len(chosen) == settings.max_sentences or scores[i] < best * settings.close_to_best:
            break
        key = match_key_of_folded(folded_sentences[i])
        trigrams = shingles(key)
        if any(repeats(key, trigrams, *other, settings.near_duplicate) for other in kept):
            continue  # the same fact again, quoted by another passage: said once
        chosen.append(i)
        kept.append((key, trigrams))
    chosen.sort(key=lambda i: (candidates[i][0].rank, candidates[i][1]))
    sentences = []
    for i in chosen:
        hit, start, end, text = candidates[i]
        sentences.append(AnswerSentence(text=text, citation=hit.rank,
                                        char_start=hit.source.char_start + start,
                                        char_end=hit.source.char_start + end, score=float(scores[i])))
    text = " ".join(f"{s.text} [{s.citation}]" for s in sentences)
    return Answer(no_answer=False, text=text, sentences=sentences, hits=hits)
