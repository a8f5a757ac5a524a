"""What a search and an answer return: ``Source``, ``Hit``, ``AnswerSentence``, ``Answer``, and their JSON
(CONVENTIONS.md, schema 1)."""

from __future__ import annotations

from dataclasses import dataclass, field


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
    sentence_score: float | None = None  # its best answer sentence's score, for the hits retrieval/rerank.py ordered
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


@dataclass(frozen=True)
class Nearest:
    """The dense ranking's first passage, whichever hits fusion kept: its cosine to the question and whether its
    text is Chinese (the cosine's scale depends on the two languages)."""
    cosine: float
    chinese: bool


@dataclass(frozen=True)
class Found:
    """A search's hits and, when it ran the dense ranking, that ranking's nearest passage."""
    hits: list[Hit]
    nearest: Nearest | None = None


def results_json(query: str, hits: list[Hit], explain: bool = False) -> dict:
    """The ``search`` JSON of CONVENTIONS.md (schema 1); ``explain`` adds each hit's rankings."""
    return {"schema": 1, "query": query, "results": [h.as_json(explain) for h in hits]}


@dataclass(frozen=True)
class AnswerSentence:
    text: str
    citation: int  # rank of the hit it comes from (the first cited one for LLM sentences)
    char_start: int | None = None  # offsets in the source file; None for LLM-written sentences
    char_end: int | None = None
    score: float = 0.0
    citations: tuple[int, ...] = ()  # LLM sentences only: every rank that supports it

    def as_json(self) -> dict:
        data = {"text": self.text, "citation": self.citation}
        if self.citations:
            data["citations"] = list(self.citations)
        return data

    def marks(self) -> str:
        return "".join(f"[{c}]" for c in (self.citations or (self.citation,)))


@dataclass
class Answer:
    no_answer: bool
    text: str
    sentences: list[AnswerSentence] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    # Set only when an LLM answer was asked for (see answer/llm.py): "llm", or "extractive" when it fell back.
    mode: str | None = None
    flagged: list[dict] = field(default_factory=list)  # LLM sentences dropped by the citation check
    fallback: str | None = None  # why the extractive answer was used instead of the LLM's

    def as_json(self, question: str, explain: bool = False) -> dict:
        answer = {"text": self.text, "sentences": [s.as_json() for s in self.sentences]}
        if self.mode is not None:
            answer["mode"] = self.mode
            answer["flagged"] = list(self.flagged)
            if self.fallback:
                answer["fallback"] = self.fallback
        return {"schema": 1, "question": question, "no_answer": self.no_answer,
                "answer": answer, "results": [h.as_json(explain) for h in self.hits]}
