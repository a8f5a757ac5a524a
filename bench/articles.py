"""Would indexing each article of a compilation file as its own document help? A what-if, not a feature.

    .venv/bin/python bench/articles.py [--out bench/results]

One seed file (002) is a compilation: four articles (Gansu, Wuhan, Xi'an, Shenzhen), each ending
with a byline on a line of its own, "(甘肃省政协机关)". semsearch treats a file as one document, so
every passage of it carries the file's first line as its document title and every name the file
holds (a Gansu question lifts the Shenzhen passages too: search.DOCUMENT_NAME_WEIGHT).

This copies seeds/ to a temporary folder, cuts each file after every line that is only a
parenthesised byline (when text follows), indexes both corpora with the default model, and
reports hybrid hit@1 / hit@5 / MRR@10 and the questions whose rank changed. Gold is matched by
text, so the same question files serve both.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from quality import QUESTION_SETS, load, run  # noqa: E402

from semsearch import Index  # noqa: E402
from semsearch.evaluate import metrics  # noqa: E402

BYLINE = re.compile(r"^[(（][^)）]{2,40}[)）]\s*$")


def split_articles(text: str) -> list[str]:
    """``text`` cut after each byline line that more text follows."""
    parts, current = [], []
    for line in text.split("\n"):
        current.append(line)
        if BYLINE.match(line):
            parts.append(current)
            current = []
    if any(line.strip() for line in current):
        parts.append(current)
    elif parts:
        parts[-1].extend(current)
    return ["\n".join(part) + "\n" for part in parts]


def split_corpus(source: Path, target: Path) -> dict[str, int]:
    """Copy ``source`` to ``target`` with each file cut into its articles; file name -> number of articles."""
    target.mkdir(parents=True)
    counts = {}
    for path in sorted(source.glob("*.txt")):
        articles = split_articles(path.read_text(encoding="utf-8"))
        counts[path.name] = len(articles)
        if len(articles) == 1:
            shutil.copy(path, target / path.name)
            continue
        for number, article in enumerate(articles):
            (target / f"{path.stem}_{number}{path.suffix}").write_text(article, encoding="utf-8")
    return counts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args()
    results: dict = {"date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "sets": {}, "changed": []}
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        results["articles_per_file"] = split_corpus(REPO / "seeds", scratch / "articles")
        indexes = {}
        for name, corpus in (("files", REPO / "seeds"), ("articles", scratch / "articles")):
            indexes[name] = Index.open(scratch / f"index-{name}")
            indexes[name].reindex([corpus])
        for set_name, path in QUESTION_SETS.items():
            questions = [q for q in load(path) if q["gold"]]
            if not questions:
                continue
            ranks = {name: run(index, questions, "hybrid") for name, index in indexes.items()}
            results["sets"][set_name] = {name: {k: round(v, 3) for k, v in metrics(list(r.values())).items()}
                                         for name, r in ranks.items()} | {"n": len(questions)}
            results["changed"] += [{"set": set_name, "id": q["id"], "files": ranks["files"][q["id"]],
                                    "articles": ranks["articles"][q["id"]]}
                                   for q in questions if ranks["files"][q["id"]] != ranks["articles"][q["id"]]]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "articles.json").write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    lines = [f"# A file as one document, or each of its articles ({results['date']}; bench/articles.py)", "",
             f"Articles per file: {results['articles_per_file']}", "",
             "| set | n | hybrid hit@1 / hit@5 / MRR@10, files | the same, articles |", "|---|---|---|---|"]
    for set_name, entry in results["sets"].items():
        cells = [" / ".join(f"{entry[name][k]:.3f}" for k in ("hit@1", "hit@5", "mrr@10"))
                 for name in ("files", "articles")]
        lines.append(f"| {set_name} | {entry['n']} | {cells[0]} | {cells[1]} |")
    lines += ["", "Ranks that changed (files → articles): "
              + (", ".join(f"{c['id']} {c['files']} → {c['articles']}" for c in results["changed"]) or "none")]
    (args.out / "articles.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
