"""Which search-time settings earn their place on the external sets: chosen on one half, reported on the other.

    .venv/bin/python bench/external_variants.py [--quick N]

Runs after ``bench/external.py`` (it reuses that run's indexes in ``bench/.cache/external/index``). Each
variant is a ``Settings`` value (``DEFAULTS.but(...)``) that changes only how an index is searched, so no
reindex is needed. The nine sets are split into two halves by document collection, Debian Reference (A) and
the LibreOffice help + Debian maintainer's guide (B). For each half, the variant with the best mean hybrid
nDCG@10 on it is "chosen", and its figure on the other half is what is reported: a rule is kept only where
it helps on the half it was not chosen on. Writes ``bench/results/external_variants.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys

import benchlib as B
import external as E

HALVES = {"A": ["debref-cn", "debref-tw", "debref-tw-cn"],
          "B": ["lohelp-cn", "lohelp-tw", "lohelp-tw-cn", "maint-cn", "maint-tw", "maint-tw-cn"]}


def variants():
    from semsearch import DEFAULTS

    return {
        "as shipped": DEFAULTS,
        "rerank every query": DEFAULTS.but(rerank_only_questions=False),
        "keyword weight 1.0": DEFAULTS.but(keyword_weight=1.0),
        "keyword weight 0.75": DEFAULTS.but(keyword_weight=0.75),
        "rrf fusion": DEFAULTS.but(fusion="rrf"),
        "rrf fusion, keyword weight 1.0": DEFAULTS.but(fusion="rrf", keyword_weight=1.0),
        "no rerank": DEFAULTS.but(rerank=False),
        "no document names": DEFAULTS.but(document_name_weight=0.0),
        "no count bonus": DEFAULTS.but(answer_unit_weight=0.0),
        "no window rescoring": DEFAULTS.but(use_windows=False),
        "no dictionary bridge": DEFAULTS.but(translate=False),
        "no regional words": DEFAULTS.but(regional_words=False),
        "regional words only where never used": DEFAULTS.but(regional_words_by_script=False),
    }


def run(quick: int | None, only: list[str] | None = None) -> dict:
    from semsearch import Index

    manifest = json.loads((E.EXTERNAL / "manifest.json").read_text(encoding="utf-8"))
    encoder = E.semsearch_encoder()
    table: dict[str, dict[str, float]] = {}
    for name in (n for half in HALVES.values() for n in half):
        queries = E.load_set(name)
        if quick:
            queries = random.Random(f"external-quick:{name}").sample(queries, min(quick, len(queries)))
        path = E.CACHE / "index" / manifest["sets"][name]["corpus"]
        for label, settings in variants().items():
            if only and label not in only and label != "as shipped":
                continue
            idx = Index.open(path, embedder=encoder, settings=settings)
            table.setdefault(label, {})[name] = round(E.mean_ndcg(idx, queries, "hybrid"), 4)
            idx.close()
            print(f"{name:14} {label:32} {table[label][name]:.3f}", file=sys.stderr)
    means, chosen = cross_halves(table)
    return {**B.header(bool(quick)), "halves": HALVES, "per_set": table, "means": means, "chosen": chosen}


def markdown(result: dict) -> list[str]:
    sets = [n for half in HALVES.values() for n in half]
    lines = ["# Search-time settings on the external sets, chosen on one half and reported on the other "
             "(bench/external_variants.py)", "",
             f"Run {result['date']}{' (--quick)' if result['quick'] else ''}. Hybrid nDCG@10. Half A: "
             f"{', '.join(HALVES['A'])}; half B: {', '.join(HALVES['B'])}.", "",
             "| variant | " + " | ".join(sets) + " | mean A | mean B |", "|---" * (len(sets) + 3) + "|"]
    for label, row in result["per_set"].items():
        m = result["means"][label]
        lines.append(f"| {label} | " + " | ".join(f"{row[n]:.3f}" for n in sets) + f" | {m['A']:.3f} | {m['B']:.3f} |")
    return lines + chosen_table(result["chosen"])


def cross_halves(hybrid_by_variant: dict[str, dict[str, float]]) -> tuple[dict, dict]:
    """Per variant, its mean nDCG@10 on each half; and the variant with the best mean on each half, reported on the
    other beside "as shipped"."""
    means = {label: {half: round(sum(row[n] for n in names) / len(names), 4) for half, names in HALVES.items()}
             for label, row in hybrid_by_variant.items()}
    chosen = {}
    for half, other in (("A", "B"), ("B", "A")):
        best = max(means, key=lambda label: means[label][half])
        chosen[half] = {"variant": best, "on_its_half": means[best][half], "on_the_other_half": means[best][other],
                        "shipped_on_the_other_half": means["as shipped"][other]}
    return means, chosen


def chosen_table(chosen: dict) -> list[str]:
    lines = ["", "| chosen on | variant | on its half | on the other half | as shipped on the other half |",
             "|---|---|---|---|---|"]
    for half, c in chosen.items():
        lines.append(f"| {half} | {c['variant']} | {c['on_its_half']:.3f} | {c['on_the_other_half']:.3f} | "
                     f"{c['shipped_on_the_other_half']:.3f} |")
    return lines


def main(argv=None, name: str = "external_variants", run=run, markdown=markdown, doc: str = __doc__) -> int:
    """Run the variants (``--quick``/``--only``: into the cache) and write ``name``.json and .md."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--quick", type=int, metavar="N", help="N queries per set (seeded sample)")
    ap.add_argument("--only", nargs="+", metavar="VARIANT", help="these variants (and as shipped) only")
    args = ap.parse_args(argv)
    result = run(args.quick, args.only)
    partial = bool(args.quick or args.only)
    folder = E.CACHE / "results" if partial else B.RESULTS
    folder.mkdir(parents=True, exist_ok=True)
    name += "-partial" if partial else ""
    (folder / f"{name}.json").write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    md = markdown(result)
    (folder / f"{name}.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
