"""Which FAISS index past exact search: recall@10 and latency of candidates at 1M vectors.

    .venv/bin/python bench/ann.py [--n 1000000] [--quick]

Uses the same data as bench/scale.py (its cached real sample of 5,000 embedded
passages, the same derived-vector generator and seed, the same queries embedded
with semsearch's query encoder), so the figures are those a 1M scale run sees.
Every candidate is measured against exact ``IndexFlatIP`` on the same vectors:
recall@10 (share of the exact top 10 found in the candidate's top 10), FAISS
search p50/p95 for one query with one thread, build time, memory.
Writes bench/results/ann.json.
"""

from __future__ import annotations

import argparse
import json
import time

import benchlib as B
import scale


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--skip-candidates", action="store_true", help="measure only what semsearch ships")
    args = ap.parse_args(argv)

    import faiss
    import numpy as np

    from semsearch.store import vectors as V
    from semsearch.encoders.embedder import Embedder
    from semsearch.text.normalize import fold_text

    faiss.omp_set_num_threads(2)
    cfg = dict(scale.QUICK if args.quick else scale.FULL)
    from corpus import ensure_installed

    ensure_installed()
    meta = scale.real_sample(cfg, re_embed=False)
    base = np.load((scale.SCALE_CACHE / f"real-{cfg['base']}-{cfg['hold']}-{cfg['sample']}").with_suffix(".npy"))
    n = args.n
    result_name = "ann" if n == 1_000_000 else f"ann-{n}"
    rows = []
    for b, start in enumerate(range(0, n - len(base), scale.BLOCK)):
        rng = np.random.default_rng((scale.VECTOR_SEED, b))
        rows.append(scale.derived_block(rng, base, min(scale.BLOCK, n - len(base) - start)))
    X = np.vstack([base] + rows).astype(np.float32)
    del rows

    held = scale.held_out(cfg["base"], cfg["hold"])
    queries = [q["q"] for q in B.query_set(held)]
    emb = Embedder()
    Q = np.vstack([emb.encode_query(fold_text(q)) for q in queries]).astype(np.float32)

    flat = faiss.IndexFlatIP(X.shape[1])
    flat.add(X)
    _, exact = flat.search(Q, 10)
    result = B.header(args.quick)
    result.update({"n": n, "real_vectors": int(len(base)), "queries": len(queries),
                   "real_sample": {k: meta[k] for k in ("n", "chunks_per_s") if k in meta}, "candidates": []})
    if args.skip_candidates:  # keep the alternatives measured by an earlier full run
        previous = B._read(result_name) or {}
        if previous.get("n") == n:
            result["candidates"] = [c for c in previous.get("candidates", []) if not c["index"].startswith("shipped")]

    def measure(name: str, index, build_s: float, knob=None, values=(None,)):
        faiss.omp_set_num_threads(1)
        for value in values:
            if knob:
                knob(index, value)
            times = B.one_query_times(index, Q)
            _, found = index.search(Q, 10)
            row = {"index": name, "param": value, "recall@10": B.recall_at(found, exact, 10), "search_ms": B.summary_ms(times),
                   "build_s": build_s}
            result["candidates"].append(row)
            result["load_end"] = B.load()
            B.write_result(result_name, result)
            print(json.dumps(row), flush=True)
        faiss.omp_set_num_threads(2)

    if not args.skip_candidates:
        t = time.perf_counter()
        hnsw = faiss.IndexHNSWFlat(X.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = 80
        hnsw.add(X)
        measure("HNSWFlat M=32 efC=80 (efSearch)", hnsw, round(time.perf_counter() - t, 1),
                lambda index, ef: setattr(index.hnsw, "efSearch", ef), (96, 256, 1024))
        del hnsw
        for nlist in (1024, 4096):
            t = time.perf_counter()
            ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(X.shape[1]), X.shape[1], nlist, faiss.METRIC_INNER_PRODUCT)
            rng = np.random.default_rng(0)
            ivf.train(X[rng.choice(len(X), min(len(X), 64 * nlist), replace=False)])
            ivf.add(X)
            measure(f"IVFFlat nlist={nlist} (nprobe)", ivf, round(time.perf_counter() - t, 1),
                    lambda index, p: setattr(index, "nprobe", p), (16, 32, 64, 128))
            del ivf
        # Compressed cells at the shipped size: 8-bit and float16 codes of each vector's offset from its centre.
        nlist = V.ivf_lists(n)
        for qt in ("QT_8bit", "QT_fp16"):
            t = time.perf_counter()
            sq = faiss.IndexIVFScalarQuantizer(faiss.IndexFlatIP(X.shape[1]), X.shape[1], nlist,
                                               getattr(faiss.ScalarQuantizer, qt), faiss.METRIC_INNER_PRODUCT)
            sq.train(X[np.random.default_rng(0).choice(len(X), min(len(X), 64 * nlist), replace=False)])
            sq.add(X)
            measure(f"IVFScalarQuantizer {qt} nlist={nlist} (nprobe)", sq, round(time.perf_counter() - t, 1),
                    lambda index, p: setattr(index, "nprobe", p), (nlist // 16, nlist // 8, nlist // 4))
            del sq

    # What semsearch ships for this size, built by its own code, and its probe share halved/doubled.
    t = time.perf_counter()
    shipped = V.new_index(n, X.shape[1], sample=X[np.random.default_rng(0).choice(len(X), V.training_size(n), replace=False)])
    shipped.add(X)
    build_s = round(time.perf_counter() - t, 1)
    V.tune_for_search(shipped)
    name = f"shipped: {type(shipped).__name__}"
    if hasattr(shipped, "nlist"):
        p = shipped.nprobe
        measure(f"{name} nlist={shipped.nlist} (nprobe; shipped {p})", shipped, build_s,
                lambda index, v: setattr(index, "nprobe", v), (p // 2, p, 2 * p))
    else:
        measure(name, shipped, build_s)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
