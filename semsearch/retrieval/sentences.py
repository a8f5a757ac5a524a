"""Scoring the sentences of passages against a question: one scorer for reranking and for answers.

A sentence scores by meaning (the cosine of the stored vector of the sentence window that holds it,
or its own vector) and by wording (the share of the question's bigrams it holds, each weighted by
its rarity among the sentences), plus bonuses for stating the number asked for and for a document
that names what was asked about.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from semsearch.analysis.translate import translations
from semsearch.config import DEFAULTS, Settings
from semsearch.encoders.base import Encoder
from semsearch.ingest.chunk import embed_text_of, own_text, sentence_spans, sentence_windows, text_hash
from semsearch.text.normalize import fold_text, folded_spans, match_key_of_folded
from semsearch.text.quantity import answer_type_bonus, asked_unit
from semsearch.text.similarity import bigrams, grams
from semsearch.types import Hit


@dataclass(frozen=True)
class WindowLookup:
    """An index's stored vectors by text hash: sentence windows (cut at ``max_chars``) and whole chunks."""

    vectors: Callable[[list[str]], dict[str, np.ndarray]]
    max_chars: int
    chunk_vectors: Callable[[set[str]], dict[str, np.ndarray]] | None = None

    @classmethod
    def of(cls, gen) -> "WindowLookup":
        """The stored vectors of an index generation (``store.Generation``)."""
        return cls(gen.window_vectors_of_texts, gen.window_chars or 0, gen.cached_vectors)


def sentence_cosines(q_vec: np.ndarray, sentences: list[tuple[Hit, str]], encoder: Encoder | None,
                     windows: WindowLookup | None, folded: list[str] | None = None) -> np.ndarray:
    """Cosine of each (hit, sentence) to the question.

    Where the passage has sentence windows in the index, a sentence takes the stored vector of the
    window that holds it, which spares embedding a dozen sentences per question. A passage that fits in
    one window is its own window: its sentences take the chunk's vector. Only text the stored vectors
    cannot place is embedded; with no ``encoder``, nothing is, and such a sentence takes its passage's
    vector (-1 if none is stored).
    ``folded``, when given, is each sentence already folded.
    """
    if folded is None:
        folded = [fold_text(text) for _, text in sentences]
    out = np.full(len(sentences), np.nan)
    if windows is not None and windows.max_chars:
        window_texts = {}
        for hit, _ in sentences:
            if hit.chunk_id not in window_texts:
                embed_text = _embed_text(hit)
                window_texts[hit.chunk_id] = (text_hash(embed_text),
                                              sentence_windows(own_text(embed_text), windows.max_chars))
        stored = windows.vectors(sorted({key for key, _ in window_texts.values()}))
        single = {key for key, texts in window_texts.values() if not texts}
        whole = windows.chunk_vectors(single) if windows.chunk_vectors and single else {}
        for i, (hit, text) in enumerate(sentences):
            key, texts = window_texts[hit.chunk_id]
            if not texts:
                if key in whole:
                    out[i] = float(whole[key] @ q_vec)
                continue
            holder = next((j for j, w in enumerate(texts) if folded[i] in w), None)
            if key in stored and holder is not None and len(stored[key]) == len(texts):
                out[i] = float(stored[key][holder].astype(np.float32) @ q_vec)
    todo = [i for i in range(len(sentences)) if np.isnan(out[i])]
    if todo and encoder is not None:
        out[todo] = encoder.encode_sentences([folded[i] for i in todo]) @ q_vec
    elif todo:  # stored vectors only: such a sentence takes its passage's own vector
        keys = {i: text_hash(_embed_text(sentences[i][0])) for i in todo}
        whole = windows.chunk_vectors(set(keys.values())) if windows is not None and windows.chunk_vectors else {}
        for i, key in keys.items():
            out[i] = float(whole[key] @ q_vec) if key in whole else -1.0
    return out


def _embed_text(hit: Hit) -> str:
    """What the model embedded for ``hit`` (search keeps it; other hits are folded again)."""
    return hit.embed_text or embed_text_of(hit.title, hit.text)


Candidate = tuple[Hit, int, int, str]  # a sentence of a hit: (hit, start, end, text), offsets in hit.text


def sentence_candidates(hits: list[Hit]) -> tuple[list[Candidate], list[str]]:
    """Every sentence of ``hits``, in rank order, and each sentence folded (each passage is folded once)."""
    candidates: list[Candidate] = []
    folded: list[str] = []
    for hit in hits:
        spans = sentence_spans(hit.text)
        candidates.extend((hit, start, end, hit.text[start:end]) for start, end in spans)
        folded.extend(folded_spans(hit.text, spans))
    return candidates, folded


def wording_scores(question: str, folded_sentences: list[str],
                   term_counts: Callable[[list[str]], dict[str, int]] | None,
                   settings: Settings = DEFAULTS) -> np.ndarray:
    """Per (folded) sentence, the share of the question's bigrams (and of its words' translations the corpus uses) it
    holds, each bigram weighted by its rarity among the sentences."""
    q_grams = bigrams(question)
    if term_counts is not None:  # the question's words the corpus lacks, in the corpus's own words
        q_grams.update(*(bigrams(term) for term in translations(fold_text(question), term_counts, None, settings)))
    s_grams = [grams(match_key_of_folded(text)) for text in folded_sentences]
    n = len(s_grams)
    idf = {g: math.log(1 + n / (1 + sum(g in sg for sg in s_grams))) for g in q_grams}
    q_weight = sum(idf.values()) or 1.0
    return np.array([sum(idf[g] for g in q_grams & sg) / q_weight for sg in s_grams])


def answer_fit(question: str, candidates: list[Candidate], folded_sentences: list[str],
               settings: Settings = DEFAULTS) -> np.ndarray:
    """Per sentence, the bonuses for stating the number asked for and for its document holding the names asked about."""
    unit = asked_unit(question)
    typed = np.array([answer_type_bonus(unit, text, True, settings) for text in folded_sentences])
    named = settings.document_name_bonus * np.array([c[0].names[0] / c[0].names[1] if c[0].names else 0.0 for c in candidates])
    return typed + named
