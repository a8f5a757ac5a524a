"""Retrieval quality benchmark: dense-only, keyword-only and hybrid on every question set.

    .venv/bin/python bench/quality.py [--index DIR] [--out bench/results] [--no-ask] [--float | --int8 | --int8-questions]

Builds an index of seeds/ with the default model (and one of bench/corpora/english/, five
English reports we wrote, for the Chinese questions over English text), then for each
question file reports hit@1, hit@5, MRR@10 per mode, per question kind, the
Traditional-vs-Simplified gap on question triples, and (for hybrid ``ask``)
no-answer precision/recall and whether the answer sentences hold the gold.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

import benchlib as B

from semsearch import DEFAULTS, Index
from semsearch.evaluate import Question, answer_figures, first_relevant_rank, metrics

# The index bench/quality.py builds of seeds/ (bench/variants.py and bench/rerank_fit.py read it too).
INDEX = B.CACHE / "quality-index"


def kind_of(q: dict) -> str:
    if "kind" in q:
        return q["kind"]
    return "unanswerable" if not q["gold"] else "dev"


def run(index: Index, questions: list[dict], mode: str) -> dict[str, int | None]:
    ranks = {}
    for q in questions:
        if q["gold"]:
            hits = index.search(q["q"], k=10, mode=mode)
            ranks[q["id"]] = first_relevant_rank([h.text for h in hits], tuple(q["gold"]))
    return ranks


def ask_figures(index: Index, questions: list[dict]) -> dict:
    """``semsearch eval``'s answer figures (evaluate.answer_figures) for a question set of this benchmark."""
    figures = answer_figures(index, [Question(q["id"], q["q"], tuple(q["gold"])) for q in questions])
    figures.pop("outcomes")
    return figures


def triple_gap(questions: list[dict], ranks: dict[str, int | None]) -> dict:
    groups = defaultdict(dict)
    for q in questions:
        if "-" in q["id"] and q["gold"]:
            stem, form = q["id"].rsplit("-", 1)
            groups[form][stem] = ranks.get(q["id"])
    out = {form: round(metrics(list(r.values()))["hit@5"], 3) for form, r in groups.items()}
    if out:
        out["max_gap"] = round(max(out.values()) - min(out.values()), 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, default=INDEX)
    parser.add_argument("--out", type=Path, default=B.RESULTS)
    parser.add_argument("--no-ask", action="store_true", help="skip the (slower) answer figures")
    parser.add_argument("--float", dest="float_graph", action="store_true",
                        help="embed passages with the float graph (reindex --float; results to quality-float.*)")
    parser.add_argument("--int8", dest="int8_graph", action="store_true",
                        help="embed passages with the int8 graph (reindex --int8; results to quality-int8.*)")
    parser.add_argument("--int8-questions", action="store_true",
                        help="questions on the int8 graph too (Settings.questions_int8; results to quality-int8-questions.*)")
    args = parser.parse_args()
    settings = DEFAULTS.but(questions_int8=True) if args.int8_questions else DEFAULTS

    # As shipped, a new index's passages are embedded by the int8 graph only on a CPU where it pays
    # (Embedder.passage_precision); SEMSEARCH_INT8 is how `reindex --int8` / `--float` ask for one graph.
    os.environ.pop("SEMSEARCH_INT8", None)
    suffix = ""
    if args.float_graph or args.int8_graph:
        os.environ["SEMSEARCH_INT8"] = "1" if args.int8_graph else "0"
        suffix = "-int8" if args.int8_graph else "-float"
        args.index = args.index.with_name(args.index.name + suffix)
    elif args.int8_questions:
        os.environ["SEMSEARCH_INT8"] = "1"  # the variant asks for int8 questions beside int8 passages
        suffix = "-int8-questions"

    indexes = {}
    for corpus, folder in B.CORPORA.items():
        path = args.index if corpus == "seeds" else args.index.with_name(f"{args.index.name}-{corpus}")
        indexes[corpus] = Index.open(path, settings=settings)
        started = time.perf_counter()
        # Rebuilt every run: a reindex keeps vectors it already has, which may come from another encoder.
        report = indexes[corpus].reindex([folder], rebuild=True)
        print(f"{corpus} index: {report['chunks']['total']} chunks, {report['chunks']['embedded']} embedded "
              f"in {time.perf_counter() - started:.1f}s", file=sys.stderr)

    results = B.header(False) | {"model": report["model"], "sets": {}}
    for name, path in B.QUESTION_SETS.items():
        if not path.is_file():
            continue
        questions = B.load_questions(name)
        index = indexes[B.CORPUS_OF.get(name, "seeds")]
        entry = {"questions": len(questions), "corpus": B.CORPUS_OF.get(name, "seeds"), "modes": {}}
        for mode in ("dense", "keyword", "hybrid"):
            ranks = run(index, questions, mode)
            by_kind = defaultdict(list)
            for q in questions:
                if q["gold"]:
                    by_kind[kind_of(q)].append(ranks[q["id"]])
            entry["modes"][mode] = {
                "all": {k: round(v, 3) for k, v in metrics(list(ranks.values())).items()},
                "by_kind": {kind: {k: round(v, 3) for k, v in metrics(r).items()} | {"n": len(r)}
                            for kind, r in sorted(by_kind.items())},
                "triples_hit@5": triple_gap(questions, ranks),
                "misses@5": sorted(i for i, r in ranks.items() if r is None or r > 5),
            }
        if not args.no_ask:
            entry["ask"] = ask_figures(index, questions)
        results["sets"][name] = entry

    index = indexes["seeds"]
    precision = index.status()["passage_vectors"]
    questions_precision = index.embedder().question_precision()
    results["graphs"] = {"passages": precision, "questions": questions_precision}
    results["load_end"] = B.load()
    lines = [f"# Retrieval quality ({results['date']}, model {results['model']}"
             f", passages embedded by the {precision} graph, questions by the {questions_precision} graph)", "",
             "| set | mode | n | hit@1 | hit@5 | MRR@10 | misses@5 |", "|---|---|---|---|---|---|---|"]
    for name, entry in results["sets"].items():
        for mode, m in entry["modes"].items():
            a = m["all"]
            n = sum(k["n"] for k in m["by_kind"].values())
            if n == 0:
                continue  # a set of unanswerable questions only: its figures are in the answers table
            lines.append(f"| {name} | {mode} | {n} | {a['hit@1']:.3f} | {a['hit@5']:.3f} | {a['mrr@10']:.3f} | "
                         f"{', '.join(m['misses@5']) or '-'} |")
    lines += ["", "By kind (hybrid):", "", "| set | kind | n | hit@1 | hit@5 | MRR@10 |", "|---|---|---|---|---|---|"]
    for name, entry in results["sets"].items():
        for kind, k in entry["modes"]["hybrid"]["by_kind"].items():
            lines.append(f"| {name} | {kind} | {k['n']} | {k['hit@1']:.3f} | {k['hit@5']:.3f} | {k['mrr@10']:.3f} |")
    lines += ["", "Same question in Simplified / Traditional / English (hybrid hit@5):", ""]
    for name, entry in results["sets"].items():
        gap = entry["modes"]["hybrid"]["triples_hit@5"]
        if gap:
            lines.append(f"- {name}: " + ", ".join(f"{k} {v}" for k, v in gap.items()))
    if not args.no_ask:
        lines += ["", "Answers (`ask`, hybrid):", "", "| set | answerable | unanswerable | no-answer precision | "
                  "no-answer recall | false no-answer | gold in answer sentences | warm `ask`, median ms |",
                  "|---|---|---|---|---|---|---|---|"]
        for name, entry in results["sets"].items():
            a = entry["ask"]
            lines.append(f"| {name} | {a['answerable']} | {a['unanswerable']} | {a['no_answer_precision']} | "
                         f"{a['no_answer_recall']} | {a['false_no_answer_rate']} | {a['gold_in_answer_sentences']} | "
                         f"{a.get('ask_ms_median')} |")
    B.write_result(f"quality{suffix}", results, lines, args.out)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
