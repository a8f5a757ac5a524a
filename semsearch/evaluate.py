"""Retrieval evaluation on a question file: hit@1, hit@5, MRR@10.

Owns the question-file format of ``CONVENTIONS.md`` (one JSON object a line:
``{"id", "q", "gold": [substring, ...]}``) and the relevance rule: a passage is
relevant when its match key (glosses removed, Simplified, punctuation unified,
no whitespace) contains the match key of a gold substring. Questions with an
empty ``gold`` list are unanswerable: they count toward no-answer figures only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError
from .normalize import match_key

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


def evaluate(index, questions: list[Question], depth: int = DEPTH) -> dict:
    """Run every answerable question through ``index.search``; returns figures and per-question ranks."""
    rows = []
    for question in questions:
        if not question.gold:
            continue
        hits = index.search(question.q, k=depth)
        rank = first_relevant_rank([h.text for h in hits], question.gold)
        rows.append({"id": question.id, "q": question.q, "rank": rank,
                     "top": hits[0].source.cite() if hits else None})
    return {"schema": 1, "questions": len(rows), **{k: round(v, 4) for k, v in metrics([r["rank"] for r in rows]).items()},
            "per_question": rows}
