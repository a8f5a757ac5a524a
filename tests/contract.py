"""Checks of the JSON contract of CONVENTIONS.md, shared by the CLI and HTTP tests."""

from pathlib import Path

from conftest import SEEDS

SEARCH_KEYS = {"rank", "score", "text", "source", "title"}
SOURCE_KEYS = {"path", "line_start", "line_end", "char_start", "char_end"}


def check_results_cite_the_source(results, root: Path = SEEDS):
    """Ranks from 1, scores descending, exact keys, and text == file[char_start:char_end] on line_start."""
    assert [r["rank"] for r in results] == list(range(1, len(results) + 1))
    assert [r["score"] for r in results] == sorted((r["score"] for r in results), reverse=True)
    for r in results:
        assert set(r) == SEARCH_KEYS and set(r["source"]) == SOURCE_KEYS
        text = (root / r["source"]["path"]).read_text(encoding="utf-8")
        assert text[r["source"]["char_start"]:r["source"]["char_end"]] == r["text"]
        assert text.count("\n", 0, r["source"]["char_start"]) + 1 == r["source"]["line_start"]


def check_workstation_answer(data):
    """The ask JSON for 如何建设委员工作站?: the 1,363-workstation passage first, sentences citing real ranks."""
    assert set(data) == {"schema", "question", "no_answer", "answer", "results"}
    assert data["schema"] == 1 and data["question"] == "如何建设委员工作站?" and data["no_answer"] is False
    top = data["results"][0]
    assert top["source"]["path"] == "002_82a0a245436f2301.txt" and "1363个委员工作站" in top["text"]
    check_results_cite_the_source(data["results"])
    sentences = data["answer"]["sentences"]
    assert 1 <= len(sentences) <= 3
    ranks = {r["rank"]: r["text"] for r in data["results"]}
    for s in sentences:
        assert set(s) == {"text", "citation"} and s["text"] in ranks[s["citation"]]
        assert f"[{s['citation']}]" in data["answer"]["text"]
