"""Extractive answers: ranked hits -> 1–3 sentences that answer, each citing its passage.

Owns choosing answer sentences and deciding when there is no answer. Each
sentence of the top passages is scored by meaning (cosine between the question
and the sentence) and by wording (the share of the question's character
bigrams, weighted by rarity among the candidates, that the sentence contains),
with a small preference for higher-ranked passages. The best sentence is
always kept; up to two more are kept when they score close to it. Sentences
are quoted exactly from the source, so their citations stay exact.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from .chunk import sentence_spans
from .embed import Embedder
from .normalize import match_key
from .search import Hit

# Dense cosine below which the best passage is taken not to answer at all.
DEFAULT_MIN_SCORE = 0.0
MAX_SENTENCES = 3
CLOSE_TO_BEST = 0.85
_WORD = re.compile(r"[0-9a-z]+|[\u3400-\u9fff\uf900-\ufaff]")


@dataclass(frozen=True)
class AnswerSentence:
    text: str
    citation: int  # rank of the hit it comes from
    char_start: int  # offsets in the source file
    char_end: int
    score: float

    def as_json(self) -> dict:
        return {"text": self.text, "citation": self.citation}


@dataclass
class Answer:
    no_answer: bool
    text: str
    sentences: list[AnswerSentence] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)

    def as_json(self, question: str) -> dict:
        return {"schema": 1, "question": question, "no_answer": self.no_answer,
                "answer": {"text": self.text, "sentences": [s.as_json() for s in self.sentences]},
                "results": [h.as_json() for h in self.hits]}


def bigrams(text: str) -> set[str]:
    """Character bigrams of CJK text and whole ASCII words, on the match-key form."""
    units = _WORD.findall(match_key(text).lower())
    grams = {a + b for a, b in zip(units, units[1:]) if len(a) == 1 and len(b) == 1}
    grams.update(u for u in units if len(u) > 1)
    return grams


def answer_question(question: str, hits: list[Hit], embedder: Embedder,
                    min_score: float | None = None) -> Answer:
    threshold = DEFAULT_MIN_SCORE if min_score is None else min_score
    if not hits or hits[0].score < threshold:
        return Answer(no_answer=True, text="", hits=[])

    candidates: list[tuple[Hit, int, int, str]] = []
    for hit in hits:
        for start, end in sentence_spans(hit.text):
            candidates.append((hit, start, end, hit.text[start:end]))
    if not candidates:
        return Answer(no_answer=True, text="", hits=hits)

    q_grams = bigrams(question)
    s_grams = [bigrams(c[3]) for c in candidates]
    n = len(candidates)
    idf = {g: math.log(1 + n / (1 + sum(g in sg for sg in s_grams))) for g in q_grams}
    q_weight = sum(idf.values()) or 1.0
    lexical = np.array([sum(idf[g] for g in q_grams & sg) / q_weight for sg in s_grams])

    from .normalize import fold_text

    q_vec = embedder.encode_query(fold_text(question))
    s_vecs = embedder.encode_passages([fold_text(c[3]) for c in candidates])
    dense = s_vecs @ q_vec
    prior = np.array([1.0 / (c[0].rank + 1) for c in candidates])
    scores = 0.5 * lexical + 0.5 * dense + 0.1 * prior

    order = np.argsort(-scores)
    best = float(scores[order[0]])
    chosen = [int(i) for i in order[:MAX_SENTENCES] if scores[i] >= best * CLOSE_TO_BEST]
    chosen.sort(key=lambda i: (candidates[i][0].rank, candidates[i][1]))
    sentences = []
    for i in chosen:
        hit, start, end, text = candidates[i]
        sentences.append(AnswerSentence(text=text, citation=hit.rank,
                                        char_start=hit.source.char_start + start,
                                        char_end=hit.source.char_start + end, score=float(scores[i])))
    text = " ".join(f"{s.text} [{s.citation}]" for s in sentences)
    return Answer(no_answer=False, text=text, sentences=sentences, hits=hits)
