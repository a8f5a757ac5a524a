"""Evaluation on a question file: retrieval (hit@1, hit@5, MRR@10, nDCG@10) and answers (gold in the answer,
"no answer").

Owns the question-file format of ``CONVENTIONS.md``, one JSON object a line, in one of two forms:

* ``{"id", "q", "gold": [substring, ...]}``: a passage is relevant when its match key (glosses removed,
  Simplified, punctuation unified, no whitespace) contains the match key of a gold substring;
* ``{"id", "q", "relevant": ["path:LINE" | "path:FIRST-LAST" | "path", ...]}``: relevance by passage (qrels),
  for labelled data: a passage is relevant when it comes from that file (the path relative to the corpus root)
  and its lines include LINE or overlap FIRST-LAST (a bare path accepts any passage of the file). Each entry is
  one relevant unit: a second passage of the same unit gains nothing.

A question with neither (an empty ``gold``) is unanswerable: it counts toward no-answer figures only.
"""

from __future__ import annotations

import json
import math
import re
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from semsearch.errors import InputError
from semsearch.text.normalize import match_key

DEPTH = 10


@dataclass(frozen=True)
class Relevant:
    """One relevant unit of a qrels question: a file, and optionally a line range of it."""

    path: str
    first: int | None = None
    last: int | None = None

    @classmethod
    def parse(cls, entry: str) -> "Relevant":
        found = _QREL.match(entry.strip())
        if not found:
            raise ValueError(entry)
        first = found.group("first")
        last = found.group("last") or first
        return cls(found.group("path"), int(first) if first else None, int(last) if last else None)

    def holds(self, source) -> bool:
        """Whether a hit's ``source`` (path, line_start, line_end) falls in this unit."""
        if source.path != self.path:
            return False
        return self.first is None or (source.line_start <= self.last and source.line_end >= self.first)


_QREL = re.compile(r"^(?P<path>[^:].*?)(?::(?P<first>\d+)(?:-(?P<last>\d+))?)?$")


@dataclass(frozen=True)
class Question:
    id: str
    q: str
    gold: tuple[str, ...]
    relevant: tuple[Relevant, ...] = ()

    @property
    def answerable(self) -> bool:
        return bool(self.gold or self.relevant)


def load_questions(path: Path) -> list[Question]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise InputError(f"no such question file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read question file {path}: {exc}") from None
    questions = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            gold = obj.get("gold", [])
            relevant = obj.get("relevant", [])
            gold, relevant = ([gold] if isinstance(gold, str) else gold), ([relevant] if isinstance(relevant, str) else relevant)
            questions.append(Question(str(obj.get("id", number)), str(obj["q"]), tuple(str(g) for g in gold),
                                      tuple(Relevant.parse(str(r)) for r in relevant)))
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError, ValueError):
            raise InputError(f"{path}:{number}: not a question object like "
                             '{"id": "q1", "q": "...", "gold": ["..."]} or '
                             '{"id": "q1", "q": "...", "relevant": ["file.txt:12"]}') from None
    if not questions:
        raise InputError(f"{path} holds no questions")
    return questions


def is_relevant(passage: str, gold: tuple[str, ...]) -> bool:
    key = match_key(passage)
    return any(match_key(g) in key for g in gold if g.strip())


def first_relevant_rank(passages: list[str], gold: tuple[str, ...]) -> int | None:
    for rank, text in enumerate(passages, start=1):
        if is_relevant(text, gold):
            return rank
    return None


def relevant_ranks(hits, question: Question) -> list[int]:
    """The ranks (from 1) of the hits that are relevant to ``question``, each relevant unit counted once."""
    if not question.relevant:
        rank = first_relevant_rank([hit.text for hit in hits], question.gold)
        return [rank] if rank else []
    found, ranks = set(), []
    for rank, hit in enumerate(hits, start=1):
        unit = next((i for i, r in enumerate(question.relevant) if i not in found and r.holds(hit.source)), None)
        if unit is not None:
            found.add(unit)
            ranks.append(rank)
    return ranks


def ndcg(ranks: list[int], relevant_units: int, depth: int = DEPTH) -> float:
    """Binary-relevance nDCG at ``depth`` of the relevant ``ranks`` when ``relevant_units`` exist."""
    ideal = sum(1 / math.log2(i + 2) for i in range(min(relevant_units, depth)))
    return sum(1 / math.log2(r + 1) for r in ranks if r <= depth) / ideal if ideal else 0.0


def metrics(ranks: list[int | None], gains: list[float] | None = None) -> dict[str, float]:
    """hit@1, hit@5 and MRR@10 of the first relevant ranks, and nDCG@10 when ``gains`` (per question) are given."""
    n = len(ranks) or 1
    out = {
        "hit@1": sum(1 for r in ranks if r == 1) / n,
        "hit@5": sum(1 for r in ranks if r is not None and r <= 5) / n,
        "mrr@10": sum(1.0 / r for r in ranks if r is not None and r <= DEPTH) / n,
    }
    if gains is not None:
        out["ndcg@10"] = sum(gains) / n
    return out


def answer_figures(index, questions: list[Question], min_score: float | None = None,
                   on_step: Callable[[], None] = lambda: None) -> dict:
    """Ask every question (``index.ask``): how often the answer holds the gold, and how well "no answer" is said.

    Answerable questions count toward the gold-in-answer share and the false no-answer rate; unanswerable ones
    (empty ``gold``) toward no-answer recall; both toward its precision. ``min_score`` is passed to ``ask``, so a
    threshold can be calibrated on one's own questions. ``ask_ms_median`` is warm, one question at a time.
    ``on_step`` is called after each question (a progress bar's hook).
    """
    answerable = [q for q in questions if q.answerable]
    unanswerable = [q for q in questions if not q.answerable]
    said: list[str] = []  # per answerable question: "gold", "miss" or "no_answer"
    seconds = []
    for question in answerable:
        started = time.perf_counter()
        answer = index.ask(question.q, min_score=min_score)
        seconds.append(time.perf_counter() - started)
        if answer.no_answer:
            said.append("no_answer")
        else:
            said.append("gold" if _answer_holds(answer, question) else "miss")
        on_step()
    declined = []
    for question in unanswerable:
        declined.append(index.ask(question.q, min_score=min_score).no_answer)
        on_step()
    right, wrong = sum(declined), said.count("no_answer")
    said_none = right + wrong
    return {
        "answerable": len(answerable), "unanswerable": len(unanswerable),
        "no_answer_precision": round(right / said_none, 3) if said_none else None,
        "no_answer_recall": round(right / len(unanswerable), 3) if unanswerable else None,
        "false_no_answer_rate": round(wrong / len(answerable), 3) if answerable else None,
        "gold_in_answer_sentences": round(said.count("gold") / len(answerable), 3) if answerable else None,
        # answerable questions whose answer lacks the gold (":no_answer" when none was given)
        "answer_misses": [q.id + (":no_answer" if outcome == "no_answer" else "")
                          for q, outcome in zip(answerable, said) if outcome != "gold"],
        "answered_unanswerable": [q.id for q, no in zip(unanswerable, declined) if not no],
        "ask_ms_median": round(1000 * statistics.median(seconds), 1) if seconds else None,
        "outcomes": said,
    }


def _answer_holds(answer, question: Question) -> bool:
    """Whether the answer's sentences hold the gold, or (qrels) quote a relevant passage."""
    if not question.relevant:
        return is_relevant(" ".join(s.text for s in answer.sentences), question.gold)
    cited = {s.citation for s in answer.sentences}
    return any(hit.rank in cited and any(r.holds(hit.source) for r in question.relevant) for hit in answer.hits)


def evaluate(index, questions: list[Question], depth: int = DEPTH, answers: bool = True,
             min_score: float | None = None, on_step: Callable[[], None] = lambda: None) -> dict:
    """Run every answerable question through ``index.search``; returns figures and per-question ranks, and with
    ``answers`` the ``answer_figures`` of every question (``min_score`` applies to those). ``on_step`` is called
    after each search and each ask."""
    rows, gains = [], []
    for question in questions:
        if not question.answerable:
            continue
        hits = index.search(question.q, k=depth)
        ranks = relevant_ranks(hits, question)
        gains.append(ndcg(ranks, len(question.relevant) or 1, depth))
        rows.append({"id": question.id, "q": question.q, "rank": ranks[0] if ranks else None,
                     "top": hits[0].source.cite() if hits else None})
        on_step()
    result = {"schema": 1, "questions": len(rows),
              **{k: round(v, 4) for k, v in metrics([r["rank"] for r in rows], gains).items()}, "per_question": rows}
    if answers:
        figures = answer_figures(index, questions, min_score, on_step)
        for row, outcome in zip(rows, figures.pop("outcomes")):  # both in the answerable questions' order
            row["answer"] = outcome
        result["answers"] = figures
    return result
