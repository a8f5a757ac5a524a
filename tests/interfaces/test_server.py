"""The HTTP API as users run it: `semsearch serve` in a real process on a loopback port, the real model,
the JSON contract of CONVENTIONS.md, one-line JSON errors, a reindex by another process, and a bounded load test."""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from conftest import DEV_QUESTIONS, SEEDS
from contract import check_results_cite_the_source, check_workstation_answer

STARTUP_SECONDS = 120
NEW_FILE = "999_new_document.txt"
UNIQUE_SENTENCE = "紫藤书院的守夜人欧阳青岚每晚十点整敲响三声铜钟，提醒读书人熄灯休息。"


# These tests load the real model (or run the CLI/server, which does).
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    proc: subprocess.Popen
    index: Path
    corpus: Path
    log: Path
    health_seen: list = field(default_factory=list)

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


@pytest.fixture(scope="module")
def server(real_index, tmp_path_factory):
    """`python -m semsearch serve` on a copy of the shared index, until /health says ok; stopped at the end."""
    base = tmp_path_factory.mktemp("served")
    index, corpus, log = base / "index", base / "corpus", base / "server.log"
    shutil.copytree(real_index, index)
    shutil.copytree(SEEDS, corpus)
    port = free_port()
    with open(log, "w") as log_fh:
        proc = subprocess.Popen([sys.executable, "-m", "semsearch", "serve", "--index", str(index),
                                 "--host", "127.0.0.1", "--port", str(port)],
                                stdout=log_fh, stderr=subprocess.STDOUT, env=os.environ.copy())
    srv = Server(f"http://127.0.0.1:{port}", proc, index, corpus, log)

    def stop():
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=15)

    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            assert proc.poll() is None, f"server exited with {proc.returncode}:\n{srv.log_text()[-3000:]}"
            assert time.monotonic() < deadline, f"server not healthy after {STARTUP_SECONDS}s:\n{srv.log_text()[-3000:]}"
            try:
                r = httpx.get(srv.url + "/health", timeout=5)
                srv.health_seen.append((r.status_code, r.json()))
                if r.status_code == 200:
                    break
            except httpx.TransportError:
                pass  # not listening yet
            time.sleep(0.05)
        yield srv
    finally:
        stop()


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server.url, timeout=60) as c:
        yield c




def check_one_line_error(r: httpx.Response, status: int | tuple[int, ...]):
    statuses = (status,) if isinstance(status, int) else status
    assert r.status_code in statuses, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"]
    assert "\n" not in body["error"] and "Traceback" not in r.text
    return body["error"]


# -- startup ----------------------------------------------------------------------

def test_health_is_503_loading_then_200(server, client):
    codes = [code for code, _ in server.health_seen]
    assert codes[-1] == 200 and server.health_seen[-1][1] == {"status": "ok"}
    for code, body in server.health_seen[:-1]:
        assert code == 503 and body == {"error": "loading"}
    print(f"\n/health answers before ready: {len(codes) - 1} x 503")
    assert client.get("/health").json() == {"status": "ok"}


def test_search_and_ask_are_503_while_loading_and_status_answers(real_index, monkeypatch):
    """In-process uvicorn with the load held back, to see the loading state deterministically."""
    import uvicorn

    from semsearch.interfaces import server as server_module

    release = threading.Event()

    def held_warm_up(idx):
        release.wait(30)
        raise server_module.IndexProblem("test: loading abandoned")

    monkeypatch.setattr(server_module, "_warm_up", held_warm_up)
    port = free_port()
    uv = uvicorn.Server(uvicorn.Config(server_module.create_app(real_index), host="127.0.0.1", port=port,
                                       log_level="warning", lifespan="on"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
            deadline = time.monotonic() + 30
            while not uv.started:
                assert time.monotonic() < deadline
                time.sleep(0.02)
            r = c.get("/health")
            assert r.status_code == 503 and r.json() == {"error": "loading"}
            assert "loading" in check_one_line_error(c.post("/search", json={"query": "政协"}), 503)
            assert "loading" in check_one_line_error(c.post("/ask", json={"question": "政协"}), 503)
            # validation does not wait for the model
            check_one_line_error(c.post("/search", json={"query": ""}), 422)
            status = c.get("/status")
            assert status.status_code == 200 and status.json()["documents"] == 5
            release.set()
            deadline = time.monotonic() + 30
            while c.get("/health").json() == {"error": "loading"}:
                assert time.monotonic() < deadline
                time.sleep(0.02)
            # a failed load is reported, still as one line
            assert "loading abandoned" in check_one_line_error(c.get("/health"), 503)
    finally:
        release.set()
        uv.should_exit = True
        thread.join(timeout=15)


# -- the JSON contract -------------------------------------------------------------

def test_search_json_contract(client):
    r = client.post("/search", json={"query": "邻水县政协编辑了多少期社情民意", "top_k": 3})
    assert r.status_code == 200, r.text
    data = r.json()
    assert set(data) == {"schema", "query", "results"} and data["schema"] == 1
    assert data["query"] == "邻水县政协编辑了多少期社情民意" and len(data["results"]) == 3
    check_results_cite_the_source(data["results"])


def test_search_top_k_defaults_to_5_and_accepts_the_limits(client):
    assert len(client.post("/search", json={"query": "委员工作站"}).json()["results"]) == 5
    assert len(client.post("/search", json={"query": "委员工作站", "top_k": 1}).json()["results"]) == 1
    many = client.post("/search", json={"query": "委员工作站", "top_k": 100})
    assert many.status_code == 200 and 5 < len(many.json()["results"]) <= 100
    longest = client.post("/search", json={"query": "政协" * 2000})
    assert longest.status_code == 200, longest.text


def test_ask_cites_the_1363_workstations_passage_first(client):
    r = client.post("/ask", json={"question": "如何建设委员工作站?"})
    assert r.status_code == 200, r.text
    check_workstation_answer(r.json())


def test_no_answer_is_200_not_an_error(client):
    r = client.post("/ask", json={"question": "如何建设委员工作站?", "min_score": 1.5})
    assert r.status_code == 200
    data = r.json()
    assert data["no_answer"] is True and data["answer"]["sentences"] == []


def test_status_is_what_semsearch_status_prints(server, client):
    r = client.get("/status")
    assert r.status_code == 200
    data = r.json()
    proc = subprocess.run([sys.executable, "-m", "semsearch", "status", "--json", "--index", str(server.index)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert data == json.loads(proc.stdout)
    assert data["model"] == "multilingual-e5-small" and data["documents"] == 5 and data["stale"] is False


def test_openapi_schema_lists_the_four_paths_and_models(client):
    r = client.get("/openapi.json")
    assert r.status_code == 200
    spec = r.json()
    assert {"/search", "/ask", "/health", "/status"} <= set(spec["paths"])
    assert set(spec["paths"]["/search"]) == {"post"} and set(spec["paths"]["/ask"]) == {"post"}
    assert set(spec["paths"]["/health"]) == {"get"} and set(spec["paths"]["/status"]) == {"get"}
    schemas = spec["components"]["schemas"]
    for name in ("SearchRequest", "SearchResponse", "AskRequest", "AskResponse", "StatusResponse",
                 "HealthResponse", "ErrorResponse", "HitModel", "SourceModel"):
        assert name in schemas, name
    query = schemas["SearchRequest"]["properties"]["query"]
    top_k = schemas["SearchRequest"]["properties"]["top_k"]
    assert query["maxLength"] == 4000 and top_k["minimum"] == 1 and top_k["maximum"] == 100
    assert set(schemas["SearchResponse"]["properties"]) == {"schema", "query", "results"}
    ok = spec["paths"]["/search"]["post"]["responses"]
    assert ok["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/SearchResponse")
    assert {"400", "413", "422", "503"} <= set(ok)


def test_highlight_true_adds_spans_of_the_query_terms_and_is_off_by_default(client):
    for path, field_name in (("/search", "query"), ("/ask", "question")):
        body = {field_name: "如何建设委员工作站?", "top_k": 3}
        plain = client.post(path, json=body)
        explicitly_off = client.post(path, json={**body, "highlight": False})
        assert plain.status_code == 200 and plain.content == explicitly_off.content  # byte for byte
        lit = client.post(path, json={**body, "highlight": True})
        assert lit.status_code == 200
        results = lit.json()["results"]
        assert [{k: v for k, v in r.items() if k != "highlights"} for r in results] == plain.json()["results"]
        for r in results:
            spans = r["highlights"]
            assert all(0 <= start < end <= len(r["text"]) for start, end in spans)
            assert all(end < start for (_, end), (start, _) in zip(spans, spans[1:]))  # sorted, merged
        assert "委员工作站" in [results[0]["text"][s:e] for s, e in results[0]["highlights"]]
        check_one_line_error(client.post(path, json={**body, "highlight": "yes"}), 422)
    # across scripts: a Simplified query lights up a Traditional passage
    top = client.post("/search", json={"query": "推进委员工作室建设", "top_k": 1, "highlight": True}).json()["results"][0]
    assert "推進委員工作室建設" in [top["text"][s:e] for s, e in top["highlights"]]
    assert client.post("/ask", json={"question": "你好", "highlight": True}).json()["results"] == []
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    for request in ("SearchRequest", "AskRequest"):
        assert schemas[request]["properties"]["highlight"] == {**schemas[request]["properties"]["highlight"],
                                                               "type": "boolean", "default": False}
    assert "highlights" in schemas["HitModel"]["properties"] and "highlights" not in schemas["HitModel"]["required"]


# -- errors ------------------------------------------------------------------------

@pytest.mark.parametrize("path,body,status", [
    ("/search", {"query": ""}, 422),
    ("/search", {"query": "   \n "}, 422),
    ("/search", {"query": "政" * 4001}, 422),
    ("/search", {"query": "政协", "top_k": 0}, 422),
    ("/search", {"query": "政协", "top_k": 101}, 422),
    ("/search", {"query": "政协", "top_k": "5"}, 422),
    ("/search", {"query": "政协", "top_k": 2.5}, 422),
    ("/search", {"query": "政协", "top_k": True}, 422),
    ("/search", {"query": 42}, 422),
    ("/search", {"query": ["政协"]}, 422),
    ("/search", {}, 422),
    ("/search", ["政协"], 422),
    ("/search", {"question": "政协"}, 422),
    ("/ask", {"question": ""}, 422),
    ("/ask", {"question": "政" * 4001}, 422),
    ("/ask", {"question": "政协", "top_k": 101}, 422),
    ("/ask", {"question": "政协", "min_score": "high"}, 422),
    ("/ask", {"query": "政协"}, 422),
], ids=lambda v: v if isinstance(v, (str, int)) else None)
def test_bad_requests_get_a_4xx_and_a_one_line_json_error(client, path, body, status):
    message = check_one_line_error(client.post(path, json=body), status)
    assert len(message) < 300


@pytest.mark.parametrize("number", [b"NaN", b"Infinity"])
def test_a_min_score_that_is_not_a_finite_number_is_a_4xx(client, number):
    body = b'{"question": "\xe6\x94\xbf\xe5\x8d\x8f", "min_score": ' + number + b"}"
    r = client.post("/ask", content=body, headers={"content-type": "application/json"})
    check_one_line_error(r, (400, 422))


@pytest.mark.parametrize("content", [b'{"query": ', b"query=x", b'{"query": "\xff\xfe"}', b""])
def test_malformed_json_is_a_400_or_422(client, content):
    r = client.post("/search", content=content, headers={"content-type": "application/json"})
    check_one_line_error(r, (400, 422))


def test_bodies_over_64_kib_are_refused_with_413(client):
    body = json.dumps({"query": "x" * (64 * 1024)}).encode()
    assert "larger than" in check_one_line_error(client.post("/search", content=body,
                                                             headers={"content-type": "application/json"}), 413)

    def chunked():  # no Content-Length: refused while streaming
        for _ in range(20):
            yield b" " * 8192

    assert "larger than" in check_one_line_error(client.post("/search", content=chunked(),
                                                             headers={"content-type": "application/json"}), 413)
    # exactly at the limit is read, then judged as JSON
    at_limit = json.dumps({"query": "政协"}).encode().ljust(64 * 1024)
    assert client.post("/search", content=at_limit, headers={"content-type": "application/json"}).status_code == 200


def test_unknown_paths_and_methods_are_json_errors(client):
    check_one_line_error(client.get("/search"), 405)
    check_one_line_error(client.get("/nothing/here"), 404)
    check_one_line_error(client.get("/../../etc/passwd"), 404)


# -- a reindex by another process -----------------------------------------------------

def test_a_log_reader_that_goes_away_does_not_stop_the_server(real_index):
    # `semsearch serve 2>&1 | tee log`, then tee ends: the next log line meets a closed pipe.
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "semsearch", "serve", "--index", str(real_index),
                             "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=os.environ.copy())
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
            try:
                if httpx.get(url + "/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        proc.stdout.close()
        for _ in range(3):  # each request writes an access-log line into the closed pipe
            assert httpx.post(url + "/search", json={"query": "委员工作站"}, timeout=60).status_code == 200
        time.sleep(0.5)
        assert proc.poll() is None, f"server exited with {proc.returncode}"
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_a_reindex_by_another_process_is_served_without_restart(server, client):
    before = client.post("/search", json={"query": UNIQUE_SENTENCE, "top_k": 3}).json()
    assert all(r["source"]["path"] != NEW_FILE for r in before["results"])
    (server.corpus / NEW_FILE).write_text(f"新文件\n\n{UNIQUE_SENTENCE}\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "semsearch", "reindex", str(server.corpus),
                           "--index", str(server.index), "--json"], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["files"]["added"] >= 1
    after = client.post("/search", json={"query": UNIQUE_SENTENCE, "top_k": 3})
    assert after.status_code == 200
    top = after.json()["results"][0]
    assert top["source"]["path"] == NEW_FILE and UNIQUE_SENTENCE in top["text"]
    check_results_cite_the_source(after.json()["results"], server.corpus)
    assert client.get("/status").json()["documents"] == 6
    assert client.get("/health").status_code == 200


# -- load ------------------------------------------------------------------------------

def test_load_2000_searches_at_concurrency_8(server):
    total = int(os.environ.get("SEMSEARCH_LOAD_REQUESTS", "2000"))  # lower it for a quick run
    workers, hard_timeout = 8, 300
    questions = [json.loads(line)["q"] for line in DEV_QUESTIONS.read_text(encoding="utf-8").splitlines() if line]
    local = threading.local()
    clients: list[httpx.Client] = []
    lock = threading.Lock()

    def one(i: int):
        c = getattr(local, "client", None)
        if c is None:
            c = local.client = httpx.Client(base_url=server.url, timeout=30)
            with lock:
                clients.append(c)
        start = time.perf_counter()
        r = c.post("/search", json={"query": questions[i % len(questions)], "top_k": 5})
        elapsed = time.perf_counter() - start
        ok = r.status_code == 200 and len(r.json()["results"]) == 5
        return elapsed, ok, None if ok else f"{r.status_code} {r.text[:200]}"

    pool = ThreadPoolExecutor(max_workers=workers)
    started = time.perf_counter()
    try:
        futures = [pool.submit(one, i) for i in range(total)]
        done, pending = wait(futures, timeout=hard_timeout)
        for f in pending:
            f.cancel()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        for c in clients:
            c.close()
    wall = time.perf_counter() - started
    assert not pending, f"{len(pending)} requests unfinished after {hard_timeout}s"
    errors = [f.exception() for f in done if f.exception() is not None]
    results = [f.result() for f in done if f.exception() is None]
    failures = [msg for _, ok, msg in results if not ok]
    assert not errors and not failures, (errors[:3], failures[:3])
    latencies = sorted(elapsed for elapsed, _, _ in results)
    p50 = statistics.median(latencies) * 1000
    p95 = latencies[int(0.95 * (len(latencies) - 1))] * 1000
    print(f"\nload: {total} POST /search at concurrency {workers}: 0 errors, {wall:.1f}s "
          f"({total / wall:.0f} req/s), p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {latencies[-1] * 1000:.1f} ms")
