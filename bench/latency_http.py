"""HTTP latency of ``semsearch serve`` on the 100k-chunk index of bench/scale.py.

    .venv/bin/python bench/latency_http.py [--quick] [--index DIR] [--requests 2000]

Starts ``python -m semsearch serve --index DIR --port N`` on 127.0.0.1 (a
subprocess), waits for ``GET /health`` (at most 10 minutes), then sends POST
/search requests with httpx (keep-alive, one connection per worker) at
concurrency 8 and at concurrency 1, each run preceded by GET /health at the same
concurrency (the HTTP/framework baseline, same process, same connections).
The server is run twice: as shipped, and with OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=1
in its environment (see bench/RESULTS.md: multi-threaded BLAS/OpenMP on a busy
2-core machine). Each run also records the server's CPU time per request (user + system
time of the server process over the run, from /proc), which bounds what concurrency can
give. Afterwards, with no server running, this process times ``Index.search`` on the
same queries in-process (the HTTP-overhead baseline).
Every loop is bounded in requests and seconds. Writes bench/results/latency_http.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import benchlib as B

READY_TIMEOUT_S = 600
RUN_TIMEOUT_S = 900
HEALTH_REQUESTS = 400
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_queries(quick: bool) -> list[str]:
    import scale

    cfg = scale.QUICK if quick else scale.FULL
    path = scale.SCALE_CACHE / f"queries-{cfg['base']}-{cfg['hold']}.json"
    if path.is_file():
        return [q["q"] for q in json.loads(path.read_text(encoding="utf-8"))]
    return [q["q"] for q in B.query_set(scale.held_out(cfg["base"], cfg["hold"]))]


async def _run(base: str, method: str, path: str, bodies: list, concurrency: int, total: int,
               deadline: float) -> dict:
    import httpx

    latencies: list[float] = []
    errors: dict[str, int] = {}
    counter = iter(range(total))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def worker(client):
        for i in counter:
            if time.monotonic() > deadline:
                return
            t = time.perf_counter()
            try:
                if method == "POST":
                    r = await client.post(path, json=bodies[i % len(bodies)])
                else:
                    r = await client.get(path)
                ok = r.status_code == 200 and (method != "POST" or "results" in r.json())
                if not ok:
                    errors[f"HTTP {r.status_code}"] = errors.get(f"HTTP {r.status_code}", 0) + 1
            except Exception as exc:  # noqa: BLE001 - every failure counts as an error
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                continue
            if ok:
                latencies.append(time.perf_counter() - t)

    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30.0, trust_env=False) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    done = len(latencies) + sum(errors.values())
    return {"requests": done, "ok": len(latencies), "errors": sum(errors.values()), "error_kinds": errors,
            "wall_s": round(wall, 2), "req_per_s": round(done / wall, 1) if wall else None,
            "ms": B.summary_ms(latencies), "stopped_by_time": done < total}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (all its threads), from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(base: str, bodies: list, concurrency: int, total: int, health_total: int, pid: int) -> dict:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    health = asyncio.run(_run(base, "GET", "/health", [None], concurrency, health_total, deadline))
    load_before = B.load()
    cpu_before = cpu_seconds(pid)
    search = asyncio.run(_run(base, "POST", "/search", bodies, concurrency, total, deadline))
    server_cpu_ms = (cpu_seconds(pid) - cpu_before) * 1000 / max(search["requests"], 1)
    return {"server_cpu_ms_per_request": round(server_cpu_ms, 1),
            "mean_latency_floor_ms": round(concurrency * server_cpu_ms / min(concurrency, os.cpu_count() or 1), 1),
            "concurrency": concurrency, "requests": search["requests"], "errors": search["errors"],
            "error_kinds": search["error_kinds"], "req_per_s": search["req_per_s"], "wall_s": search["wall_s"],
            "stopped_by_time": search["stopped_by_time"], "search_ms": search["ms"], "health_ms": health["ms"],
            "health_errors": health["errors"],
            "ratio_search_health_p50": B.ratio(search["ms"]["p50"], health["ms"]["p50"], 1),
            "load": [load_before, B.load()]}


def serve_and_measure(index: Path, queries: list[str], total: int, env_extra: dict, label: str) -> dict:
    import httpx

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = B.CACHE / f"serve-{label}.log"
    env = dict(os.environ) | env_extra
    cmd = [str(B.PYTHON), "-m", "semsearch", "serve", "--index", str(index), "--port", str(port)]
    print(f"http: starting server ({label}): {' '.join(cmd)}  ({B.uptime_line()})", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=B.REPO, stdout=log, stderr=subprocess.STDOUT, env=env)
    out: dict = {"label": label, "env": env_extra, "port": port}
    try:
        ready = False
        deadline = time.monotonic() + READY_TIMEOUT_S
        with httpx.Client(base_url=base, timeout=5.0, trust_env=False) as c:
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    if c.get("/health").status_code == 200:
                        ready = True
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.25)
        out["ready_s"] = round(time.perf_counter() - t0, 2)
        if not ready:
            out["error"] = f"server not ready after {out['ready_s']} s (exit {proc.poll()}); log {log_path}"
            return out
        bodies = [{"query": q, "top_k": 5} for q in queries]
        asyncio.run(_run(base, "POST", "/search", bodies, 1, 20, time.monotonic() + 120))  # warm-up
        out["runs"] = []
        for concurrency in (8, 1):
            print(f"http: {label}: {total} requests at concurrency {concurrency} ...", file=sys.stderr, flush=True)
            r = run(base, bodies, concurrency, total, HEALTH_REQUESTS if total >= 1000 else 100, proc.pid)
            if concurrency == 8:
                r["target_ok"] = r["errors"] == 0 and r["search_ms"]["p95"] <= 50.0 and not r["stopped_by_time"]
            out["runs"].append(r)
        out["server_rss_mib"] = B.proc_status(proc.pid)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        out["server_exit"] = proc.returncode
    return out


def in_process(index: Path, queries: list[str], n: int, one_thread: bool) -> dict:
    from contextlib import nullcontext

    from threadpoolctl import threadpool_limits

    from semsearch import Index

    idx = Index.open(index)
    for q in queries[:20]:
        idx.search(q, k=5)
    times = []
    with threadpool_limits(1) if one_thread else nullcontext():
        for i in range(n):
            t = time.perf_counter()
            idx.search(queries[i % len(queries)], k=5)
            times.append(time.perf_counter() - t)
    idx.close()
    return B.summary_ms(times)


def encode_costs(index: Path, queries: list[str], groups: int = 40) -> dict:
    """Query encoding (the encoder ``Index`` uses for questions), one thread: 8 queries one by one vs as one batch (what micro-batching
    concurrent requests would save), and the cost of entering/leaving threadpool_limits(1)."""
    from threadpoolctl import ThreadpoolController, threadpool_limits

    from semsearch import Index
    from semsearch.text.normalize import fold_text

    idx = Index.open(index)
    emb = idx.embedder()
    enc, prompt = emb._light, emb.prompts.get("query", "")
    texts = [fold_text(q) for q in queries]
    enc.encode(texts[:8], prompt)
    single, batched = [], []
    with threadpool_limits(1):
        for g in range(groups):
            group = [texts[(g * 8 + j) % len(texts)] for j in range(8)]
            t = time.thread_time()
            for x in group:
                enc.encode([x], prompt)
            single.append(time.thread_time() - t)
            t = time.thread_time()
            enc.encode(group, prompt)
            batched.append(time.thread_time() - t)
    controller = ThreadpoolController()
    enter = []
    for _ in range(200):
        t = time.perf_counter()
        with controller.limit(limits=1):
            pass
        enter.append(time.perf_counter() - t)
    idx.close()
    return {"cpu_ms_8_single": B.summary_ms(single), "cpu_ms_8_batched": B.summary_ms(batched),
            "batch_saving": B.ratio(B.pct(batched, 50), B.pct(single, 50), 3),
            "threadpool_limits_enter_exit_ms": B.summary_ms(enter)}


def main(argv: list[str] | None = None) -> int:
    import scale

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="the 20k index of scale.py --quick, 200 requests")
    ap.add_argument("--index", type=Path)
    ap.add_argument("--requests", type=int)
    args = ap.parse_args(argv)
    n_chunks = 20_000 if args.quick else 100_000
    index = args.index or scale.SCALE_CACHE / f"index-{n_chunks}"
    total = args.requests or (200 if args.quick else 2000)
    if not (index / "CURRENT").is_file():
        print(f"http: no index at {index}: run bench/scale.py{' --quick' if args.quick else ''} first", file=sys.stderr)
        return 2
    from semsearch import Index

    idx = Index.open(index)
    chunks = idx.status()["chunks"]
    idx.close()
    queries = load_queries(args.quick)
    result = B.header(args.quick) | {"index": str(index.relative_to(B.REPO) if index.is_relative_to(B.REPO) else index),
                                     "chunks": chunks, "queries": len(queries), "requests_per_run": total}
    result["servers"] = [serve_and_measure(index, queries, total, {}, "as shipped"),
                         serve_and_measure(index, queries, total, ONE_THREAD, "one thread")]
    print(f"http: in-process baseline ...  ({B.uptime_line()})", file=sys.stderr, flush=True)
    n_in = min(total, 600)
    result["in_process"] = in_process(index, queries, n_in, one_thread=False)
    result["in_process_1thread"] = in_process(index, queries, n_in, one_thread=True)
    result["encode_costs"] = encode_costs(index, queries, 10 if args.quick else 40)
    for srv, ip in zip(result["servers"], (result["in_process"], result["in_process_1thread"])):
        c1 = next((r for r in srv.get("runs", []) if r["concurrency"] == 1), None)
        if c1:
            srv["ratio_http_c1_in_process_p50"] = B.ratio(c1["search_ms"]["p50"], ip["p50"])
    result["load_end"] = B.load()
    result["uptime_end"] = B.uptime_line()
    result["how_measured"] = [
        f"Server: `python -m semsearch serve --index {result['index']} --port <free port>` on 127.0.0.1, started "
        "fresh for each configuration; timing starts after /health answers 200 and 20 warm-up searches.",
        "Server CPU per request: user + system time of the server process (/proc/<pid>/stat) over the /search "
        "run, divided by its requests. With c requests in flight on 2 cores, the mean latency cannot fall below "
        "c x CPU per request / 2 (each core serves c/2 of them in turn).",
        f"Client: this process, httpx.AsyncClient (HTTP/1.1 keep-alive, at most `concurrency` connections); "
        f"{total:,} POST /search {{query, top_k: 5}} per run, queries cycling through the {len(queries)} queries of "
        "bench/scale.py (80 seed questions + held-out corpus clauses); latency = request sent to JSON body "
        "received; an error = any non-200, a body without results, or an exception; runs are bounded to "
        f"{RUN_TIMEOUT_S} s.",
        "Baselines in the same process: GET /health at the same concurrency just before each run (HTTP + "
        "framework cost), and in-process `Index.search` on the same queries after the server stopped "
        "(as shipped, and under threadpoolctl.threadpool_limits(1)).",
        "The client shares the 2 cores with the server (and with other work on the machine).",
    ]
    B.write_result("latency_http", result)
    for srv in result["servers"]:
        for r in srv.get("runs", []):
            print(f"http: {srv['label']} c={r['concurrency']}: p50 {r['search_ms']['p50']:.1f} p95 "
                  f"{r['search_ms']['p95']:.1f} p99 {r['search_ms']['p99']:.1f} ms, errors {r['errors']}",
                  file=sys.stderr)
        if "error" in srv:
            print(f"http: {srv['label']}: {srv['error']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
