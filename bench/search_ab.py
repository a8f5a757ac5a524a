"""What each optional search stage costs: in-process A/B on the 100k index of bench/scale.py.

    .venv/bin/python bench/search_ab.py [--rounds 2]

Runs the 280 queries of bench/scale.py through ``Index.search`` (k=5) in the server's mode (as
``semsearch serve`` runs them: ``overlap_keyword=False``, so the keyword lookup does not overlap the
encoding and the calling thread's CPU time is the whole cost of a search, and one BLAS thread), with
four ``Settings``: as shipped, without reranking (``rerank=False``), without embedding English questions
with their translations (``embed_translations=False``), and without either. Each configuration is its own
``Index`` of the same folder sharing one encoder, warmed with every query first; the configurations
alternate round by round so that a slow spell of the shared machine falls on all of them.
Writes bench/results/search_ab.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import benchlib as B

CONFIGS = {  # name -> changes to the server's settings
    "as shipped": {},
    "no reranking": {"rerank": False},
    "no translations in the query vector": {"embed_translations": False},
    "neither": {"rerank": False, "embed_translations": False},
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    found = B.scale_index_and_queries("search_ab")
    if found is None:
        return 2
    index, queries = found
    from threadpoolctl import threadpool_limits

    from semsearch import DEFAULTS, Index
    from semsearch.encoders.factory import load_encoder

    threadpool_limits(1, user_api="blas")  # as semsearch serve does
    served = DEFAULTS.but(overlap_keyword=False)
    encoder = load_encoder()
    indexes = {name: Index.open(index, embedder=encoder, settings=served.but(**changes))
               for name, changes in CONFIGS.items()}
    result = B.header(False) | {"index": str(index), "queries": len(queries), "rounds": args.rounds}
    for idx in indexes.values():
        for q in queries:
            idx.search(q, k=5)
    cpu: dict[str, list[float]] = {name: [] for name in CONFIGS}
    wall: dict[str, list[float]] = {name: [] for name in CONFIGS}
    for _ in range(args.rounds):
        for name, idx in indexes.items():
            for q in queries:
                w0, c0 = time.perf_counter(), time.thread_time()
                idx.search(q, k=5)
                cpu[name].append(time.thread_time() - c0)
                wall[name].append(time.perf_counter() - w0)
    base = statistics.mean(cpu["neither"])
    result["configs"] = {
        name: {"settings": CONFIGS[name] | {"overlap_keyword": False},
               "cpu_ms_mean": round(1000 * statistics.mean(cpu[name]), 2),
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
