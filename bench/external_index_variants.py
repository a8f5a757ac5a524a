"""Index-time settings on the external sets: each variant reindexes the corpora, chosen on one half, reported on the other.

    .venv/bin/python bench/external_index_variants.py [--quick N] [--only VARIANT ...]

``external_variants.py`` varies how an index is searched; this varies how it is built, so every variant is a
``Settings`` value handed to ``Index.reindex`` and each builds its own indexes (``bench/.cache/external/
index-variants/<variant>/<corpus>``; "as shipped" is built there too, so all are timed alike in one run). For each
variant and corpus: the reindex time (wall and CPU seconds of this process) and, per set, dense and hybrid nDCG@10.
Then, as in ``external_variants.py``: the variant with the best mean hybrid nDCG@10 on half A is reported on half
B, and the reverse. Writes ``bench/results/external_index_variants.{json,md}`` (``--quick``/``--only``: the cache).
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import sys
import time

import benchlib as B
import external as E
from external_variants import HALVES, chosen_table, cross_halves, main

CORPORA_SETS = {"debref-cn": ["debref-cn", "debref-tw-cn"], "debref-tw": ["debref-tw"],
                "lohelp-cn": ["lohelp-cn", "lohelp-tw-cn"], "lohelp-tw": ["lohelp-tw"],
                "maint-cn": ["maint-cn", "maint-tw-cn"], "maint-tw": ["maint-tw"]}


def variants():
    from semsearch import DEFAULTS

    return {
        "as shipped": (DEFAULTS, None, None),
        "no document title in vectors": (DEFAULTS.but(document_context=False), None, None),
        "no sentence windows": (DEFAULTS.but(use_windows=False), False, None),
        "no title, no windows": (DEFAULTS.but(document_context=False, use_windows=False), False, None),
        # `reindex --float`: passages by the float32 graph where the int8 one would be chosen
        "float32 passages": (DEFAULTS, None, "0"),
    }


@contextlib.contextmanager
def passage_graph(int8: str | None):
    """SEMSEARCH_INT8 as ``reindex --int8/--float`` sets it (None: the default choice); the index records it."""
    before = os.environ.get("SEMSEARCH_INT8")
    if int8 is not None:
        os.environ["SEMSEARCH_INT8"] = int8
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("SEMSEARCH_INT8", None)
        else:
            os.environ["SEMSEARCH_INT8"] = before


def run(quick: int | None, only: list[str] | None) -> dict:
    from semsearch import Index

    encoder = E.semsearch_encoder()
    chosen_variants = {k: v for k, v in variants().items() if not only or k in only or k == "as shipped"}
    table: dict[str, dict] = {}
    for label, (settings, windows, int8) in chosen_variants.items():
        row = table.setdefault(label, {"dense": {}, "hybrid": {}, "reindex_s": {}, "reindex_cpu_s": {}})
        for corpus, sets in CORPORA_SETS.items():
            folder = E.CACHE / "index-variants" / label.replace(" ", "-") / corpus
            shutil.rmtree(folder, ignore_errors=True)
            idx = Index.open(folder, embedder=encoder, settings=settings)
            t, cpu = time.perf_counter(), time.process_time()
            with passage_graph(int8):
                idx.reindex([E.CACHE / "corpora" / corpus], rebuild=True, windows=windows)
            row["reindex_s"][corpus] = round(time.perf_counter() - t, 1)
            row["reindex_cpu_s"][corpus] = round(time.process_time() - cpu, 1)
            for name in sets:
                queries = E.load_set(name)
                if quick:
                    queries = random.Random(f"external-quick:{name}").sample(queries, min(quick, len(queries)))
                for mode in ("dense", "hybrid"):
                    row[mode][name] = round(E.mean_ndcg(idx, queries, mode), 4)
                print(f"{label:32} {name:14} dense {row['dense'][name]:.3f} hybrid {row['hybrid'][name]:.3f} "
                      f"(reindex {row['reindex_s'][corpus]} s, CPU {row['reindex_cpu_s'][corpus]} s)", file=sys.stderr)
            idx.close()
    means, chosen = cross_halves({label: row["hybrid"] for label, row in table.items()})
    return {**B.header(bool(quick)), "halves": HALVES, "variants": table, "means": means, "chosen": chosen}


def markdown(result: dict) -> list[str]:
    names = [n for half in result["halves"].values() for n in half]
    md = ["# Index-time settings on the external sets, chosen on one half and reported on the other "
          "(bench/external_index_variants.py)", "", B._run_line(result), "",
          "Each variant reindexes every corpus. dense / hybrid nDCG@10. Half A: " + ", ".join(result["halves"]["A"])
          + "; half B: " + ", ".join(result["halves"]["B"]) + ".", "",
          "| variant | " + " | ".join(names) + " | mean A (hybrid) | mean B (hybrid) |",
          "|---|" + "---|" * (len(names) + 2)]
    for label, row in result["variants"].items():
        md.append(f"| {label} | " + " | ".join(f"{row['dense'][n]:.3f} / {row['hybrid'][n]:.3f}" for n in names)
                  + f" | {result['means'][label]['A']:.3f} | {result['means'][label]['B']:.3f} |")
    corpora = list(CORPORA_SETS)
    md += ["", "Reindex seconds, wall (CPU of this process):", "", "| variant | " + " | ".join(corpora) + " |",
           "|---|" + "---|" * len(corpora)]
    for label, row in result["variants"].items():
        md.append(f"| {label} | " + " | ".join(f"{row['reindex_s'][c]} ({row['reindex_cpu_s'][c]})" for c in corpora)
                  + " |")
    return md + chosen_table(result["chosen"])


if __name__ == "__main__":
    sys.exit(main(name="external_index_variants", run=run, markdown=markdown, doc=__doc__))
