"""A/B: chunks embedded with their document's title (as shipped) or without it, on every question set.

    .venv/bin/python bench/context.py

Builds two indexes of seeds/ from scratch with the default model, one per setting of
``indexer.DOCUMENT_CONTEXT``, and reports for each: dense, keyword and hybrid hit@1 / hit@5 /
MRR@10 per set, first places over all answerable questions, and the ``ask`` figures of
bench/quality.py (no-answer precision/recall, false no-answers, gold in the answer sentences).
Only the chunk vectors change: keyword terms and sentence windows never see the title.
Writes bench/results/context.json and bench/results/context.md.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import quality as Q  # noqa: E402
from semsearch import Index  # noqa: E402
from semsearch import indexer as I  # noqa: E402
from semsearch.evaluate import metrics  # noqa: E402

SETS = ("dev", "seeds", "english", "reworded")
ASK_SETS = ("dev", "seeds", "english", "reworded", "offtopic-en")
CACHE = REPO / "bench" / ".cache"


def measure(with_title: bool) -> dict:
    I.DOCUMENT_CONTEXT = with_title
    index = Index.open(CACHE / f"context-{'title' if with_title else 'none'}")
    report = index.reindex([REPO / "seeds"], rebuild=True)
    out = {"chunks": report["chunks"]["total"], "sets": {}, "first_places": {}, "misses@5": {}}
    first = {"dense": 0, "keyword": 0, "hybrid": 0}
    for name in SETS:
        questions = Q.load(Q.QUESTION_SETS[name])
        entry = {}
        for mode in ("dense", "keyword", "hybrid"):
            ranks = Q.run(index, questions, mode)
            entry[mode] = {k: round(v, 3) for k, v in metrics(list(ranks.values())).items()}
            first[mode] += sum(r == 1 for r in ranks.values())
            if mode == "hybrid":
                out["misses@5"][name] = sorted(q for q, r in ranks.items() if r is None or r > 5)
        out["sets"][name] = entry
    out["first_places"] = first
    out["answerable"] = sum(1 for name in SETS for q in Q.load(Q.QUESTION_SETS[name]) if q["gold"])
    out["ask"] = {name: Q.ask_figures(index, Q.load(Q.QUESTION_SETS[name])) for name in ASK_SETS}
    index.close()
    return out


def main() -> None:
    results = {"date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "runs": {}}
    for with_title in (True, False):
        results["runs"]["title (shipped)" if with_title else "no title"] = measure(with_title)
    out = REPO / "bench" / "results"
    (out / "context.json").write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    lines = [f"# Chunks embedded with their document's title, or without ({results['date']})", "",
             "bench/context.py: two indexes of seeds/ built from scratch, one per setting of "
             "`indexer.DOCUMENT_CONTEXT`; only the chunk vectors differ (keyword terms and sentence windows never "
             "see the title).", "",
             "| setting | set | dense hit@1 / hit@5 / MRR | keyword hit@1 / hit@5 / MRR | hybrid hit@1 / hit@5 / MRR | "
             "hybrid misses@5 |", "|---|---|---|---|---|---|"]
    for label, run in results["runs"].items():
        for name, entry in run["sets"].items():
            cells = [" / ".join(f"{entry[m][k]:.3f}" for k in ("hit@1", "hit@5", "mrr@10"))
                     for m in ("dense", "keyword", "hybrid")]
            lines.append(f"| {label} | {name} | {' | '.join(cells)} | {', '.join(run['misses@5'][name]) or '-'} |")
    lines += ["", "First places over all answerable questions:", "",
              "| setting | answerable | dense | keyword | hybrid |", "|---|---|---|---|---|"]
    for label, run in results["runs"].items():
        f = run["first_places"]
        lines.append(f"| {label} | {run['answerable']} | {f['dense']} | {f['keyword']} | {f['hybrid']} |")
    lines += ["", "Answers (`ask`):", "",
              "| setting | set | no-answer precision | no-answer recall | false no-answer | gold in answer sentences | "
              "answer misses |", "|---|---|---|---|---|---|---|"]
    for label, run in results["runs"].items():
        for name, a in run["ask"].items():
            lines.append(f"| {label} | {name} | {a['no_answer_precision']} | {a['no_answer_recall']} | "
                         f"{a['false_no_answer_rate']} | {a['gold_in_answer_sentences']} | "
                         f"{', '.join(a['answer_misses']) or '-'} |")
    (out / "context.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
