"""The SQLite page cache of a reading connection: the FTS5 BM25 query alone, at several cache sizes.

    .venv/bin/python bench/sqlite_cache.py [--sizes 100000,1000000] [--rounds 4]

Uses the indexes bench/scale.py built (bench/.cache/scale/index-N) and its 280 queries. For each
size, one read-only connection per cache size (SQLite's default 2 MiB, 8, 16 as shipped in
semsearch/store/generation.py READ_CACHE_KIB, and 64 MiB), each warmed with 40 queries; then every query runs on every
connection in turn, the order of the connections reversed each round, so the machine's noise falls
on all of them alike. Times the query semsearch runs (store.Generation.keyword_candidates: top 50
by bm25) with the match expression retrieval/keyword.py keyword_candidates builds (no dictionary words).
Writes bench/results/sqlite_cache.json and the table in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import time

import benchlib as B

CACHES_KIB = {"default (2 MiB)": None, "8 MiB": 8192, "16 MiB (shipped)": 16384, "64 MiB": 65536}
SQL = "SELECT rowid, bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY bm25(chunks_fts) LIMIT 50"


def measure(n: int, matches: list[str], rounds: int) -> dict:
    from semsearch import store

    generation = store.live_generation(B.CACHE / "scale" / f"index-{n}")
    conns = {}
    for label, kib in CACHES_KIB.items():
        db = sqlite3.connect(f"file:{generation / store.DB_FILE}?mode=ro", uri=True)
        if kib:
            db.execute(f"PRAGMA cache_size = -{kib}")
        for m in matches[:40]:
            db.execute(SQL, (m,)).fetchall()
        conns[label] = db
    times: dict[str, list[float]] = {label: [] for label in conns}
    for rnd in range(rounds):
        order = list(conns.items()) if rnd % 2 == 0 else list(reversed(conns.items()))
        for m in matches:
            for label, db in order:
                started = time.perf_counter()
                db.execute(SQL, (m,)).fetchall()
                times[label].append(time.perf_counter() - started)
    for db in conns.values():
        db.close()
    return {"n": n, "queries": len(matches), "rounds": rounds, "load": B.load(),
            "fts_ms": {label: B.summary_ms(t) for label, t in times.items()}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args()
    from semsearch.analysis.keyword import fts_match, search_terms
    from semsearch.text.normalize import fold_text

    queries = json.loads((B.CACHE / "scale" / "queries-10000-200.json").read_text(encoding="utf-8"))
    matches = [m for m in (fts_match(search_terms(fold_text(q["q"]))) for q in queries) if m]
    result = B.header(False)
    result["sizes"] = []
    for n in (int(s) for s in args.sizes.split(",")):
        if not (B.CACHE / "scale" / f"index-{n}").is_dir():
            print(f"sqlite_cache: no index of {n:,} chunks; run bench/scale.py --sizes {n} first")
            continue
        result["sizes"].append(measure(n, matches, args.rounds))
        print(json.dumps(result["sizes"][-1]["fts_ms"], ensure_ascii=False))
    result["load_end"] = B.load()
    result["how_measured"] = [
        "The indexes and the 280 queries of bench/scale.py; the FTS5 query semsearch runs (top 50 by bm25) with "
        "the match expression retrieval/keyword.py keyword_candidates builds, without dictionary words.",
        "One read-only connection per cache size, each warmed with 40 queries; every query then runs on every "
        "connection in turn, the connections' order reversed each round.",
    ]
    B.write_result("sqlite_cache", result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
