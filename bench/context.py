"""A/B: chunks embedded with their document's title (as shipped) or without it, on every question set.

    .venv/bin/python bench/context.py [--out bench/results]

Builds two indexes of seeds/ from scratch with the default model, one per value of
``Settings.document_context`` (``Index.open(path, settings=DEFAULTS.but(document_context=False))``),
and reports for each: dense, keyword and hybrid hit@1 / hit@5 / MRR@10 per set, first places over all
answerable questions, and the ``ask`` figures of bench/quality.py (no-answer precision/recall, false
no-answers, gold in the answer sentences).
Only the chunk vectors change: keyword terms and sentence windows never see the title.
Writes bench/results/context.json and bench/results/context.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import benchlib as B
import quality as Q

from semsearch import DEFAULTS, Index
from semsearch.evaluate import metrics

SETS = ("dev", "seeds", "english", "reworded")
ASK_SETS = ("dev", "seeds", "english", "reworded", "offtopic-en")


def measure(with_title: bool) -> dict:
    index = Index.open(B.CACHE / f"context-{'title' if with_title else 'none'}",
                       settings=DEFAULTS.but(document_context=with_title))
    report = index.reindex([B.CORPORA["seeds"]], rebuild=True)
    out = {"chunks": report["chunks"]["total"], "sets": {}, "first_places": {}, "misses@5": {}}
    first = {"dense": 0, "keyword": 0, "hybrid": 0}
    for name in SETS:
        questions = B.load_questions(name)
        entry = {}
        for mode in ("dense", "keyword", "hybrid"):
            ranks = Q.run(index, questions, mode)
            entry[mode] = {k: round(v, 3) for k, v in metrics(list(ranks.values())).items()}
            first[mode] += sum(r == 1 for r in ranks.values())
            if mode == "hybrid":
                out["misses@5"][name] = sorted(q for q, r in ranks.items() if r is None or r > 5)
        out["sets"][name] = entry
    out["first_places"] = first
    out["answerable"] = sum(1 for name in SETS for q in B.load_questions(name) if q["gold"])
    out["ask"] = {name: Q.ask_figures(index, B.load_questions(name)) for name in ASK_SETS}
    index.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=B.RESULTS)
    args = parser.parse_args()
    results = B.header(False) | {"runs": {}}
    for with_title in (True, False):
        results["runs"]["title (shipped)" if with_title else "no title"] = measure(with_title)
    results["load_end"] = B.load()
    lines = [f"# Chunks embedded with their document's title, or without ({results['date']})", "",
             "bench/context.py: two indexes of seeds/ built from scratch, one per value of "
             "`Settings.document_context`; only the chunk vectors differ (keyword terms and sentence windows never "
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
    B.write_result("context", results, lines, args.out)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
