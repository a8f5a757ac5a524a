"""What each optional search stage costs: in-process A/B on the 100k index of bench/scale.py.

    .venv/bin/python bench/search_ab.py [--rounds 2]

Runs the 280 queries of bench/scale.py through ``Index.search`` (k=5) in the server's mode
(``npencoder.serve_concurrently()``: the keyword lookup does not overlap the encoding, so the
calling thread's CPU time is the whole cost of a search), with the search module's switches
set four ways: as shipped, without reranking (rerank.py), without embedding English questions
with their translations, and without either. The configurations alternate round by round so
that a slow spell of the shared machine falls on all of them. Writes bench/results/search_ab.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import benchlib as B

CONFIGS = {  # name -> (RERANK, EMBED_TRANSLATIONS)
    "as shipped": (True, True),
    "no reranking": (False, True),
    "no translations in the query vector": (True, False),
    "neither": (False, False),
}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    found = B.scale_index_and_queries("search_ab")
    if found is None:
        return 2
    index, queries = found
    from semsearch import Index
    from semsearch.encoders import tokenized as npencoder
    from semsearch.retrieval import search as S

    npencoder.serve_concurrently()
    idx = Index(index)
    result = B.header(False) | {"index": str(index), "queries": len(queries), "rounds": args.rounds}
    for q in queries[:30]:
        idx.search(q, k=5)
    cpu: dict[str, list[float]] = {name: [] for name in CONFIGS}
    wall: dict[str, list[float]] = {name: [] for name in CONFIGS}
    try:
        for _ in range(args.rounds):
            for name, (rerank, translate) in CONFIGS.items():
                S.RERANK, S.EMBED_TRANSLATIONS = rerank, translate
                for q in queries:
                    w0, c0 = time.perf_counter(), time.thread_time()
                    idx.search(q, k=5)
                    cpu[name].append(time.thread_time() - c0)
                    wall[name].append(time.perf_counter() - w0)
    finally:
        S.RERANK, S.EMBED_TRANSLATIONS = True, True
    base = statistics.mean(cpu["neither"])
    result["configs"] = {
        name: {"cpu_ms_mean": round(1000 * statistics.mean(cpu[name]), 2),
               "cpu_ms_over_neither": round(1000 * (statistics.mean(cpu[name]) - base), 2),
               "wall_ms": B.summary_ms(wall[name])}
        for name in CONFIGS}
    result["load_end"] = B.load()
    B.write_result("search_ab", result)
    for name, r in result["configs"].items():
        print(f"search_ab: {name}: CPU mean {r['cpu_ms_mean']} ms ({r['cpu_ms_over_neither']:+} ms), "
              f"wall p50 {r['wall_ms']['p50']} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
