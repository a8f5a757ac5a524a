"""Retrieval: a question -> ranked ``Hit``s from one index generation.

Owns how passages are found and ordered: the question is folded like the
passages (Simplified, no glosses), embedded with the model's query prompt, and
matched against the FAISS vectors; passages whose text repeats a higher-ranked
one are dropped, so the same paragraph is never shown twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import store
from .embed import Embedder
from .normalize import fold_text

CANDIDATE_FACTOR = 4


@dataclass(frozen=True)
class Source:
    path: str
    line_start: int
    line_end: int
    char_start: int
    char_end: int

    def as_json(self) -> dict:
        return {"path": self.path, "line_start": self.line_start, "line_end": self.line_end,
                "char_start": self.char_start, "char_end": self.char_end}

    def cite(self) -> str:
        lines = str(self.line_start) if self.line_start == self.line_end else f"{self.line_start}-{self.line_end}"
        return f"{self.path}:{lines}"


@dataclass(frozen=True)
class Hit:
    rank: int
    score: float
    text: str
    source: Source
    title: str | None
    chunk_id: int = -1
    dense_rank: int | None = None

    def as_json(self) -> dict:
        return {"rank": self.rank, "score": round(float(self.score), 4), "text": self.text,
                "source": self.source.as_json(), "title": self.title}


def dense_candidates(gen: store.Generation, embedder: Embedder, query: str, n: int) -> list[tuple[int, float]]:
    """(chunk id, cosine) for the ``n`` nearest passages."""
    if gen.faiss_index.ntotal == 0:
        return []
    vector = embedder.encode_query(fold_text(query)).reshape(1, -1)
    scores, ids = gen.faiss_index.search(vector, min(n, gen.faiss_index.ntotal))
    return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]


def search(gen: store.Generation, embedder: Embedder, query: str, k: int = 5) -> list[Hit]:
    candidates = dense_candidates(gen, embedder, query, k * CANDIDATE_FACTOR)
    rows = gen.chunks([cid for cid, _ in candidates])
    hits: list[Hit] = []
    seen_text: set[str] = set()
    for dense_rank, (cid, score) in enumerate(candidates, start=1):
        row = rows[cid]
        if row.text_hash in seen_text:
            continue
        seen_text.add(row.text_hash)
        hits.append(Hit(rank=len(hits) + 1, score=score, text=row.text, title=row.title, chunk_id=cid,
                        dense_rank=dense_rank,
                        source=Source(row.path, row.line_start, row.line_end, row.char_start, row.char_end)))
        if len(hits) == k:
            break
    return hits
