"""Scale-out: Milvus beside the local FAISS file, and embedding on Ray with 1 and 2 local workers.

    PYTHONPATH=. .venv/bin/python bench/scale_out.py [--n 100000] [--queries 300] [--texts 512] [--skip-ray]
        [--index-wait 7200]

Starts a real Milvus standalone (the ``milvus`` package) on 127.0.0.1 and a local Ray cluster.
Vectors: ``--n`` synthetic unit vectors of 384 dimensions (e5-small's), drawn around 2,000 random centres
so that neighbours are as crowded as in embedded text; queries are perturbed data points. Both stores get
the same vectors; recall@10 is measured against exact search (numpy) on the same vectors.
Measures: Milvus insert rate (rows/s, through semsearch's ``MilvusStore.insert``), index build time,
search p50/p95 (one query, as semsearch sends it, with the over-fetch of 10 -> 20), recall@10 -- as semsearch
leaves the collection (no flush), then again once flushed and every row indexed; the same for the FAISS index
semsearch builds for that size; then passages/s embedding ``--texts`` seed passages with
the real model in this process and on Ray with 1 and 2 workers.
Writes bench/results/scale_out-N.json and .md (N = ``--n``: each size keeps its own files), with the date, the
machine, the load average at the start and end of every phase, the Milvus server's memory, and the Milvus index's
state once ``prepare_index`` returned (rows indexed of rows there: a search also reads rows not yet indexed).
The files are rewritten after each store is measured, so a run that fails late keeps what it measured.
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

import benchlib as B  # noqa: E402  (bench/, the script's folder)
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


class Phases:
    """Wall time and load average (1/5/15 min) at the start and end of each phase."""

    def __init__(self):
        self.rows: list[dict] = []

    def start(self, name: str) -> dict:
        row = {"phase": name, "load_start": B.load(), "_t": time.perf_counter()}
        self.rows.append(row)
        print(f"[{time.strftime('%H:%M:%S')}] {name}: start, load {row['load_start']}", flush=True)
        return row

    def end(self, row: dict, **extra) -> None:
        row["wall_s"] = round(time.perf_counter() - row.pop("_t"), 1)
        row["load_end"] = B.load()
        row.update(extra)
        print(f"[{time.strftime('%H:%M:%S')}] {row['phase']}: {row['wall_s']} s, load {row['load_end']}"
              + (f", {extra}" if extra else ""), flush=True)

    def done(self) -> list[dict]:
        return [r for r in self.rows if "wall_s" in r]


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def server_memory(server) -> dict:
    """RSS now and peak (VmHWM), MiB, summed over the Milvus server's process tree."""
    if server.proc is None:
        return {}
    todo, rss, hwm = [server.proc.pid], 0.0, 0.0
    while todo:
        pid = todo.pop()
        status = B.proc_status(pid)
        rss += status.get("VmRSS", 0.0)
        hwm += status.get("VmHWM", 0.0)
        todo += _children(pid)
    return {"server_rss_mib": round(rss), "server_peak_rss_mib": round(hwm)}


def index_state(store) -> dict:
    from semsearch.store.milvus import VECTOR

    try:
        info = store.client.describe_index(store.collection, VECTOR, timeout=60) or {}
    except Exception as exc:  # recorded, not fatal: the measurement goes on
        return {"error": str(exc)[:200]}
    return {k: info[k] for k in ("index_type", "indexed_rows", "total_rows", "pending_index_rows", "state") if k in info}


def searches(store, qs, truth, params, settings) -> dict:
    """Every query once with Strong, then once with Bounded consistency: times and recall@10 of each."""
    measured = {}
    for level in ("Strong", "Bounded"):
        times, hits = [], 0
        for q, want in zip(qs, truth):
            t = time.perf_counter()
            found = store.search(q, int(K * settings.milvus_overfetch) + 8, params, level)
            times.append(time.perf_counter() - t)
            hits += len({int(h, 16) for h, _ in found[:K]} & want)
        measured[level] = (times, hits)
    strong = pct(measured["Strong"][0])
    return {**pct(measured["Bounded"][0]), "strong_p50_ms": strong["p50_ms"], "strong_p95_ms": strong["p95_ms"],
            "recall_at_10": round(measured["Bounded"][1] / (K * len(qs)), 4),
            "strong_recall_at_10": round(measured["Strong"][1] / (K * len(qs)), 4)}


def wait_indexed(store, n: int, limit_s: float) -> tuple[dict, bool]:
    """Poll until every one of the ``n`` rows is in an indexed segment (or ``limit_s`` passed)."""
    deadline = time.monotonic() + limit_s
    while True:
        state = index_state(store)
        if state.get("indexed_rows", 0) >= n and not state.get("pending_index_rows"):
            return state, True
        if time.monotonic() > deadline:
            return state, False
        time.sleep(5)


def bench_milvus(x, qs, truth, settings, server, phases: Phases, index_wait_s: float) -> dict:
    """As semsearch does it (insert, ``prepare_index``, search), then the same searches once Milvus has flushed
    every row and indexed every segment: ``prepare_index`` does not flush, and Milvus builds the index only for
    sealed segments; rows still in a growing segment are searched through its interim index."""
    hashes = [f"{i:032x}" for i in range(len(x))]
    store = MilvusStore.connect(f"{server.url}/bench_{len(x)}_{settings.milvus_index}", settings)
    store.drop()
    store.ensure("bench", DIM)
    kind = settings.milvus_index
    phase = phases.start(f"milvus {kind}: insert")
    started = time.perf_counter()
    store.insert((hashes[s:s + 10_000], x[s:s + 10_000]) for s in range(0, len(x), 10_000))
    insert_s = time.perf_counter() - started
    phases.end(phase, **server_memory(server))
    phase = phases.start(f"milvus {kind}: prepare_index (build + load)")
    started = time.perf_counter()
    params = store.prepare_index(len(x))
    build_s = time.perf_counter() - started
    state = index_state(store)
    phases.end(phase, index_state=state, **server_memory(server))
    phase = phases.start(f"milvus {kind}: {len(qs)} queries x Strong, Bounded")
    as_semsearch = searches(store, qs, truth, params, settings)
    state_after = index_state(store)
    phases.end(phase, index_state=state_after, **server_memory(server))

    phase = phases.start(f"milvus {kind}: flush + wait until every row is indexed")
    started = time.perf_counter()
    store.client.flush(store.collection, timeout=3600)
    flush_s = time.perf_counter() - started
    indexed_state, complete = wait_indexed(store, len(x), index_wait_s)
    indexed_s = time.perf_counter() - started
    phases.end(phase, index_state=indexed_state, complete=complete, **server_memory(server))
    phase = phases.start(f"milvus {kind}: release + load (indexed)")
    started = time.perf_counter()
    store.client.release_collection(store.collection, timeout=600)
    store.client.load_collection(store.collection, timeout=3600)
    load_s = time.perf_counter() - started
    phases.end(phase, **server_memory(server))
    phase = phases.start(f"milvus {kind}: {len(qs)} queries x Strong, Bounded (indexed)")
    indexed = searches(store, qs, truth, params, settings)
    phases.end(phase, index_state=index_state(store), **server_memory(server))
    store.drop()
    store.close()
    return {"store": "milvus", "index": params, "insert_rows_per_s": round(len(x) / insert_s),
            "insert_s": round(insert_s, 1), "index_build_and_load_s": round(build_s, 1), **as_semsearch,
            "index_state_after_build": state, "index_state_after_searches": state_after,
            "indexed": {"flush_s": round(flush_s, 1), "flush_and_index_s": round(indexed_s, 1),
                        "every_row_indexed": complete, "index_state": indexed_state,
                        "release_and_load_s": round(load_s, 1), **indexed}}


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


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for package in ("milvus", "pymilvus", "ray", "faiss-cpu"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = None
    return out


def write(result: dict, args) -> None:
    out = REPO / "bench" / "results"
    name = f"scale_out-{args.n}"
    (out / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
    m = result["machine"]
    lines = [f"# Scale-out: {args.n:,} vectors ({DIM} d, synthetic clustered), {args.queries} queries", "",
             f"Run {result['date']}; {m['nproc']} cores, {m['cpu']} (family/model {m.get('cpu_family_model', '?')}), "
             f"{m['ram_gib']} GiB RAM, shared with other jobs; load average (1/5/15 min) at start "
             f"{', '.join(map(str, result['load_start']))}, at end {', '.join(map(str, result.get('load_end', ['?'])))}. "
             f"Packages: {', '.join(f'{k} {v}' for k, v in result['versions'].items())}. semsearch sources "
             f"{result['code']['semsearch_sha256']}. Whole run: {result.get('wall_s', '?')} s"
             f"{'' if 'wall_s' in result else ' (unfinished)'}.", "",
             "p50/p95: one query, Bounded consistency (what semsearch uses 30 s after a reindex); Strong: right "
             "after one (waits for Milvus's time tick). FAISS: the index semsearch builds for this size, one thread. "
             "milvus rows: as semsearch does it (insert, `prepare_index`, search: no flush, so rows still in a "
             "growing segment are searched through Milvus's interim index). \"flushed + indexed\": the same "
             "collection after `flush`, once every row is in an indexed segment (build+load s = flush and wait "
             "for the index + release and load), then the same queries.", "",
             "| store | index | insert rows/s | build+load s | p50 ms | p95 ms | Strong p50/p95 ms | recall@10 |",
             "|---|---|---|---|---|---|---|---|"]
    for s in result["stores"]:
        lines.append(f"| {s['store']} | {s['index'] if isinstance(s['index'], str) else s['index']['index_type']} | "
                     f"{s.get('insert_rows_per_s', '-')} | {s.get('index_build_and_load_s', s.get('build_s'))} | "
                     f"{s['p50_ms']} | {s['p95_ms']} | {s.get('strong_p50_ms', '-')}/{s.get('strong_p95_ms', '-')} | "
                     f"{s['recall_at_10']} |")
        ix = s.get("indexed")
        if ix:
            lines.append(f"| milvus, flushed + indexed | {s['index']['index_type']} | - | "
                         f"{ix['flush_and_index_s']} + {ix['release_and_load_s']}"
                         f"{'' if ix['every_row_indexed'] else ' (index incomplete)'} | {ix['p50_ms']} | "
                         f"{ix['p95_ms']} | {ix['strong_p50_ms']}/{ix['strong_p95_ms']} | {ix['recall_at_10']} |")
    states = [(s["index"]["index_type"], s["index_state_after_build"]) for s in result["stores"]
              if s.get("index_state_after_build")]
    if states:
        lines += ["", f"Milvus index once `prepare_index` returned (indexed rows / rows in flushed segments, of {args.n:,}; "
                  "the others are in growing segments, searched through the interim index): "
                  + "; ".join(f"{kind} {st.get('indexed_rows', '?')}/{st.get('total_rows', '?')}"
                              f" (pending {st.get('pending_index_rows', '?')})" for kind, st in states) + "."]
    if "ray" in result:
        lines += ["", f"Embedding {args.texts} seed passages with the real model (2 CPUs):", "",
                  "| embedding | passages/s |", "|---|---|"] + [f"| {r['embedding']} | {r['passages_per_s']} |"
                                                             for r in result["ray"]]
    lines += ["", "Phases (wall s; load average 1/5/15 min at start -> end; Milvus server RSS / peak MiB):", "",
              "| phase | wall s | load at start | load at end | server RSS / peak MiB |", "|---|---|---|---|---|"]
    for ph in result["phases"]:
        mem = (f"{ph['server_rss_mib']} / {ph['server_peak_rss_mib']}" if "server_rss_mib" in ph else "-")
        lines.append(f"| {ph['phase']} | {ph['wall_s']} | {', '.join(map(str, ph['load_start']))} | "
                     f"{', '.join(map(str, ph['load_end']))} | {mem} |")
    (out / f"{name}.md").write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--texts", type=int, default=512)
    ap.add_argument("--skip-ray", action="store_true")
    ap.add_argument("--index-wait", type=float, default=7200.0,
                    help="seconds to wait, after a flush, for Milvus to index every row")
    args = ap.parse_args(argv)
    begun = time.perf_counter()
    head = B.header(quick=False)
    result = {"n": args.n, "dimension": DIM, "queries": args.queries, "date": head["date"],
              "machine": head["machine"], "code": head["code"], "versions": versions(),
              "uptime_start": head["uptime_start"], "load_start": head["load_start"], "stores": [], "phases": []}
    phases = Phases()

    def save() -> None:
        result["phases"] = phases.done()
        write(result, args)

    phase = phases.start("vectors, queries, exact top-10")
    x = synthetic(args.n)
    qs = queries(x, args.queries)
    truth = exact(x, qs)
    phases.end(phase)
    with tempfile.TemporaryDirectory() as tmp:
        server = MilvusServer(Path(tmp) / "milvus")
        phase = phases.start("milvus start")
        result["milvus_start_s"] = round(server.start(), 1)
        phases.end(phase, **server_memory(server))
        try:
            for kind in ("HNSW", "IVF_FLAT"):
                result["stores"].append(bench_milvus(x, qs, truth, DEFAULTS.but(milvus_index=kind, milvus_timeout=600),
                                                     server, phases, args.index_wait))
                print(result["stores"][-1], flush=True)
                save()
        finally:
            server.stop()
    phase = phases.start("faiss build + queries")
    result["stores"].append(bench_faiss(x, qs, truth))
    phases.end(phase)
    print(result["stores"][-1], flush=True)
    save()
    if not args.skip_ray:
        del x, truth  # 1.5 GB at 1M: not needed by the embedding part
        phase = phases.start("ray embedding")
        result["ray"] = bench_ray(args.texts)
        phases.end(phase)
        print(result["ray"], flush=True)
    result["load_end"] = B.load()
    result["uptime_end"] = B.uptime_line()
    result["wall_s"] = round(time.perf_counter() - begun, 1)
    save()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
