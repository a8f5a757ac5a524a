"""Scale-out: Milvus beside the local FAISS file, and embedding on Ray with 1 and 2 local workers.

    PYTHONPATH=. .venv/bin/python bench/scale_out.py [--n 100000] [--queries 300] [--texts 512]

Starts a real Milvus standalone (the ``milvus`` package) on 127.0.0.1 and a local Ray cluster.
Vectors: ``--n`` synthetic unit vectors of 384 dimensions (e5-small's), drawn around 2,000 random centres
so that neighbours are as crowded as in embedded text; queries are perturbed data points. Both stores get
the same vectors; recall@10 is measured against exact search (numpy) on the same vectors.
Measures: Milvus insert rate (rows/s, through semsearch's ``MilvusStore.insert``), index build time,
search p50/p95 (one query, as semsearch sends it, with the over-fetch of 10 -> 20), recall@10; the same for
the FAISS index semsearch builds for that size; then passages/s embedding ``--texts`` seed passages with
the real model in this process and on Ray with 1 and 2 workers.
Writes bench/results/scale_out.json and .md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from scale_servers import MilvusServer  # noqa: E402
from semsearch.config import DEFAULTS  # noqa: E402
from semsearch.store.milvus import MilvusStore, index_plan  # noqa: E402
from semsearch.store.vectors import new_index, training_size  # noqa: E402

DIM = 384
K = 10


def synthetic(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((2_000, DIM)).astype(np.float32)
    x = centres[rng.integers(0, len(centres), n)] + 0.6 * rng.standard_normal((n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def queries(x: np.ndarray, q: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y = x[rng.choice(len(x), q, replace=False)] + 0.3 * rng.standard_normal((q, DIM)).astype(np.float32) / np.sqrt(DIM) * 4
    return y / np.linalg.norm(y, axis=1, keepdims=True)


def exact(x: np.ndarray, qs: np.ndarray) -> list[set[int]]:
    out = []
    for start in range(0, len(qs), 64):
        s = qs[start:start + 64] @ x.T
        out.extend(set(np.argpartition(-row, K)[:K].tolist()) for row in s)
    return out


def pct(times: list[float]) -> dict:
    a = np.array(times) * 1000
    return {"p50_ms": round(float(np.percentile(a, 50)), 2), "p95_ms": round(float(np.percentile(a, 95)), 2)}


def bench_milvus(x, qs, truth, settings, server) -> dict:
    hashes = [f"{i:032x}" for i in range(len(x))]
    store = MilvusStore.connect(f"{server.url}/bench_{len(x)}_{settings.milvus_index}", settings)
    store.drop()
    store.ensure("bench", DIM)
    started = time.perf_counter()
    store.insert((hashes[s:s + 10_000], x[s:s + 10_000]) for s in range(0, len(x), 10_000))
    insert_s = time.perf_counter() - started
    started = time.perf_counter()
    params = store.prepare_index(len(x))
    build_s = time.perf_counter() - started
    measured = {}
    for level in ("Strong", "Bounded"):
        times, hits = [], 0
        for q, want in zip(qs, truth):
            t = time.perf_counter()
            found = store.search(q, int(K * settings.milvus_overfetch) + 8, params, level)
            times.append(time.perf_counter() - t)
            hits += len({int(h, 16) for h, _ in found[:K]} & want)
        measured[level] = (times, hits)
    times, hits = measured["Bounded"]
    strong = pct(measured["Strong"][0])
    store.drop()
    store.close()
    return {"store": "milvus", "index": params, "insert_rows_per_s": round(len(x) / insert_s),
            "insert_s": round(insert_s, 1), "index_build_and_load_s": round(build_s, 1), **pct(times),
            "strong_p50_ms": strong["p50_ms"], "strong_p95_ms": strong["p95_ms"],
            "recall_at_10": round(hits / (K * len(qs)), 4)}


def bench_faiss(x, qs, truth) -> dict:
    started = time.perf_counter()
    wanted = training_size(len(x))
    sample = x[np.random.default_rng(0).choice(len(x), wanted, replace=False)] if wanted else None
    index = new_index(len(x), DIM, sample)
    index.add(x)
    build_s = time.perf_counter() - started
    import faiss

    faiss.omp_set_num_threads(1)
    times, hits = [], 0
    for q, want in zip(qs, truth):
        t = time.perf_counter()
        _, ids = index.search(q.reshape(1, -1), K)
        times.append(time.perf_counter() - t)
        hits += len(set(ids[0].tolist()) & want)
    return {"store": "faiss", "index": type(index).__name__, "build_s": round(build_s, 1), **pct(times),
            "recall_at_10": round(hits / (K * len(qs)), 4)}


def bench_ray(n_texts: int) -> list[dict]:
    import ray

    from semsearch.encoders.factory import DEFAULT_MODEL, load_encoder
    from semsearch.encoders.ray_pool import RayExecutor

    # Passages: the seed corpus's paragraphs (as many as asked, cycling), cut to about a chunk's length.
    texts = [line.strip()[:400] for f in sorted((REPO / "seeds").iterdir())
             for line in f.read_text(encoding="utf-8").splitlines() if len(line.strip()) > 40]
    texts = (texts * (n_texts // len(texts) + 1))[:n_texts]
    batches = [(i, texts[i:i + 32]) for i in range(0, len(texts), 32)]
    rows = []
    encoder = load_encoder(DEFAULT_MODEL)
    encoder.encode_passages(texts[:8])
    started = time.perf_counter()
    for _, b in batches:
        encoder.encode_passages(b)
    rows.append({"embedding": "one process", "passages_per_s": round(len(texts) / (time.perf_counter() - started), 1)})
    ray.init(num_cpus=2, logging_level="ERROR", log_to_driver=False)
    try:
        for workers in (1, 2):
            ex = RayExecutor.for_model("auto", DEFAULT_MODEL, workers=workers)
            list(ex.map(batches[:workers * 2]))  # warm: every worker has loaded the model
            started = time.perf_counter()
            n = sum(len(v) for _, v in ex.map(batches))
            rows.append({"embedding": f"ray, {workers} worker(s)",
                         "passages_per_s": round(n / (time.perf_counter() - started), 1)})
            ex.close()
    finally:
        ray.shutdown()
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--texts", type=int, default=512)
    ap.add_argument("--skip-ray", action="store_true")
    args = ap.parse_args(argv)
    x = synthetic(args.n)
    qs = queries(x, args.queries)
    truth = exact(x, qs)
    result = {"n": args.n, "dimension": DIM, "queries": args.queries, "stores": []}
    with tempfile.TemporaryDirectory() as tmp:
        server = MilvusServer(Path(tmp) / "milvus")
        result["milvus_start_s"] = round(server.start(), 1)
        try:
            for kind in ("HNSW", "IVF_FLAT"):
                result["stores"].append(bench_milvus(x, qs, truth, DEFAULTS.but(milvus_index=kind, milvus_timeout=600), server))
                print(result["stores"][-1], flush=True)
        finally:
            server.stop()
    result["stores"].append(bench_faiss(x, qs, truth))
    print(result["stores"][-1], flush=True)
    if not args.skip_ray:
        result["ray"] = bench_ray(args.texts)
        print(result["ray"], flush=True)
    out = REPO / "bench" / "results"
    (out / "scale_out.json").write_text(json.dumps(result, indent=1) + "\n")
    lines = [f"# Scale-out: {args.n:,} vectors ({DIM} d, synthetic clustered), {args.queries} queries", "",
             "p50/p95: one query, Bounded consistency (what semsearch uses 30 s after a reindex); Strong: right "
             "after one (waits for Milvus's time tick). FAISS: the index semsearch builds for this size, one thread.", "",
             "| store | index | insert rows/s | build+load s | p50 ms | p95 ms | Strong p50/p95 ms | recall@10 |",
             "|---|---|---|---|---|---|---|---|"]
    for s in result["stores"]:
        lines.append(f"| {s['store']} | {s['index'] if isinstance(s['index'], str) else s['index']['index_type']} | "
                     f"{s.get('insert_rows_per_s', '-')} | {s.get('index_build_and_load_s', s.get('build_s'))} | "
                     f"{s['p50_ms']} | {s['p95_ms']} | {s.get('strong_p50_ms', '-')}/{s.get('strong_p95_ms', '-')} | "
                     f"{s['recall_at_10']} |")
    if "ray" in result:
        lines += ["", f"Embedding {args.texts} seed passages with the real model (2 CPUs):", "",
                  "| embedding | passages/s |", "|---|---|"] + [f"| {r['embedding']} | {r['passages_per_s']} |"
                                                             for r in result["ray"]]
    (out / "scale_out.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
