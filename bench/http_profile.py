"""Where `semsearch serve` spends its CPU under load: server CPU per /search request, and a sampled profile.

    .venv/bin/python bench/http_profile.py [--index DIR] [--requests 800] [--concurrency 8]

Starts ``python -m semsearch serve`` on the 100k index of bench/scale.py (as latency_http.py
does), warms it up, then sends POST /search requests (the benchmark queries, cycled) at the given
concurrency. Server CPU per request = the growth of the server process's user + system time
(/proc/PID/stat) over the run, divided by the requests; the client's own CPU per request likewise.
If ``py-spy`` is on PATH or in the venv (it is not a project dependency: ``pip install py-spy``),
the same load runs again while it samples the server (all threads, idle excluded), and the
result lists the share of samples in the functions that matter. Writes bench/results/http_profile.json.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import benchlib as B
import latency_http as L

# Frames whose share of the samples is reported (substring of py-spy's "function (file:line)").
FRAMES = {
    "ONNX Runtime (question encoding)": "Session.run",
    "FTS5 BM25 query": "Generation.keyword_candidates",
    "FAISS search": "IndexIVF.search",
    "window vectors (SQLite)": "Generation._windows",
    "chunk rows (SQLite)": "Generation._chunk_rows",
    "dictionary words (translate)": "translations",
    "the search function as a whole": "search (semsearch/retrieval/search.py",
}


def _py_spy() -> str | None:
    found = shutil.which("py-spy") or str(B.REPO / ".venv" / "bin" / "py-spy")
    return found if Path(found).is_file() else None


def _shares(raw: Path) -> dict:
    total, inclusive = 0, collections.Counter()
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        stack, count = line.rsplit(" ", 1)
        total += int(count)
        for label, frame in FRAMES.items():
            if frame in stack:
                inclusive[label] += int(count)
    return {"samples": total, "share": {label: round(inclusive[label] / total, 3) if total else None
                                        for label in FRAMES}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index", type=Path, default=B.CACHE / "scale" / "index-100000")
    ap.add_argument("--requests", type=int, default=800)
    ap.add_argument("--concurrency", type=int, default=8)
    args = ap.parse_args(argv)
    if not args.index.is_dir():
        print(f"no index at {args.index}: run bench/scale.py first", file=sys.stderr)
        return 2
    import httpx

    queries = L.load_queries(False)
    bodies = [{"query": q, "top_k": 5} for q in queries]
    port = L.free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([str(B.PYTHON), "-m", "semsearch", "serve", "--index", str(args.index), "--port",
                               str(port)], cwd=B.REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    result = B.header(False) | {"index": str(args.index), "requests": args.requests,
                                "concurrency": args.concurrency}
    try:
        deadline = time.monotonic() + L.READY_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                if httpx.get(base + "/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        L.run(base, bodies, args.concurrency, 40, 10, server.pid)  # warm-up
        # First the CPU figures with nothing else running, then the same load again under py-spy,
        # whose sampling takes CPU from the same two cores.
        server_cpu, client_cpu, started = L.cpu_seconds(server.pid), time.process_time(), time.perf_counter()
        run = L.run(base, bodies, args.concurrency, args.requests, 10, server.pid)
        wall = time.perf_counter() - started
        result |= {"wall_s": round(wall, 2), "errors": run["errors"], "req_per_s": run["req_per_s"],
                   "search_ms": run["search_ms"],
                   "server_cpu_ms_per_request": round(1000 * (L.cpu_seconds(server.pid) - server_cpu) / args.requests, 1),
                   "client_cpu_ms_per_request": round(1000 * (time.process_time() - client_cpu) / args.requests, 1)}
        tool = _py_spy()
        if tool:
            raw = Path(tempfile.mkdtemp(prefix="semsearch-spy-")) / "profile.txt"
            spy = subprocess.Popen([tool, "record", "--format", "raw", "-o", str(raw), "-r", "200", "-p",
                                    str(server.pid), "--nonblocking", "-t"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.0)
            L.run(base, bodies, args.concurrency, args.requests, 10, server.pid)
            spy.send_signal(2)  # py-spy writes its profile on SIGINT
            spy.wait(timeout=60)
            result["profile"] = _shares(raw) if raw.is_file() else {"error": "py-spy wrote no profile"}
        else:
            result["profile"] = {"error": "py-spy not installed"}
    finally:
        server.terminate()
        server.wait(timeout=30)
    result["load_end"] = B.load()
    B.write_result("http_profile", result)
    print(result, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
