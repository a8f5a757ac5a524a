"""Evaluation on a question file: retrieval (hit@1, hit@5, MRR@10) and answers (gold in the answer, "no answer").

Owns the question-file format of ``CONVENTIONS.md`` (one JSON object a line:
``{"id", "q", "gold": [substring, ...]}``) and the relevance rule: a passage is
relevant when its match key (glosses removed, Simplified, punctuation unified,
no whitespace) contains the match key of a gold substring. Questions with an
empty ``gold`` list are unanswerable: they count toward no-answer figures only.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from semsearch.errors import InputError
from semsearch.text.normalize import match_key

DEPTH = 10


@dataclass(frozen=True)
class Question:
    id: str
    q: str
    gold: tuple[str, ...]


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
            if isinstance(gold, str):
                gold = [gold]
            questions.append(Question(str(obj.get("id", number)), str(obj["q"]), tuple(str(g) for g in gold)))
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
            raise InputError(f"{path}:{number}: not a question object like "
                             '{"id": "q1", "q": "...", "gold": ["..."]}') from None
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


def metrics(ranks: list[int | None]) -> dict[str, float]:
    n = len(ranks) or 1
    return {
        "hit@1": sum(1 for r in ranks if r == 1) / n,
        "hit@5": sum(1 for r in ranks if r is not None and r <= 5) / n,
        "mrr@10": sum(1.0 / r for r in ranks if r is not None and r <= DEPTH) / n,
    }


def answer_figures(index, questions: list[Question], min_score: float | None = None,
                   on_step: Callable[[], None] = lambda: None) -> dict:
    """Ask every question (``index.ask``): how often the answer holds the gold, and how well "no answer" is said.

    Answerable questions count toward the gold-in-answer share and the false no-answer rate; unanswerable ones
    (empty ``gold``) toward no-answer recall; both toward its precision. ``min_score`` is passed to ``ask``, so a
    threshold can be calibrated on one's own questions. ``ask_ms_median`` is warm, one question at a time.
    ``on_step`` is called after each question (a progress bar's hook).
    """
    answerable = [q for q in questions if q.gold]
    unanswerable = [q for q in questions if not q.gold]
    said: list[str] = []  # per answerable question: "gold", "miss" or "no_answer"
    seconds = []
    for question in answerable:
        started = time.perf_counter()
        answer = index.ask(question.q, min_score=min_score)
        seconds.append(time.perf_counter() - started)
        if answer.no_answer:
            said.append("no_answer")
        else:
            said.append("gold" if is_relevant(" ".join(s.text for s in answer.sentences), question.gold) else "miss")
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


def evaluate(index, questions: list[Question], depth: int = DEPTH, answers: bool = True,
             min_score: float | None = None, on_step: Callable[[], None] = lambda: None) -> dict:
    """Run every answerable question through ``index.search``; returns figures and per-question ranks, and with
    ``answers`` the ``answer_figures`` of every question (``min_score`` applies to those). ``on_step`` is called
    after each search and each ask."""
    rows = []
    for question in questions:
        if not question.gold:
            continue
        hits = index.search(question.q, k=depth)
        rank = first_relevant_rank([h.text for h in hits], question.gold)
        rows.append({"id": question.id, "q": question.q, "rank": rank,
                     "top": hits[0].source.cite() if hits else None})
        on_step()
    result = {"schema": 1, "questions": len(rows),
              **{k: round(v, 4) for k, v in metrics([r["rank"] for r in rows]).items()}, "per_question": rows}
    if answers:
        figures = answer_figures(index, questions, min_score, on_step)
        for row, outcome in zip(rows, figures.pop("outcomes")):  # both in the answerable questions' order
            row["answer"] = outcome
        result["answers"] = figures
    return result
