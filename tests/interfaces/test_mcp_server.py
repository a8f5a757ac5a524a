"""`semsearch mcp` as agents run it: a real server process over stdio, driven by the official MCP SDK's own
client (`stdio_client` + `ClientSession`), the real model, the JSON contract of CONVENTIONS.md as structured
content, one-line tool errors that leave the server serving, and nothing but the protocol on stdout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest

from conftest import SEEDS, require_extra
from contract import check_results_cite_the_source, check_workstation_answer

require_extra("mcp.server.mcpserver", "pip install 'semsearch[mcp]'")

from mcp import ClientSession, StdioServerParameters, stdio_client  # noqa: E402

SECONDS = 180  # per scenario: starting the server, loading the model, (in one test) building a small index
WORKSTATIONS = "如何建设委员工作站?"


@asynccontextmanager
async def session(tmp_path: Path, *args: str, env: dict | None = None):
    """A ClientSession on `python -m semsearch mcp ARGS`; its stderr is kept in tmp_path/stderr.txt."""
    params = StdioServerParameters(command=sys.executable, args=["-m", "semsearch", "mcp", *args],
                                   env={**os.environ, "SEMSEARCH_DEBUG": "1", **(env or {})}, cwd=str(tmp_path))
    with open(tmp_path / "stderr.txt", "w", encoding="utf-8") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write) as client:
                await client.initialize()
                yield client


def run(scenario) -> None:
    async def bounded():
        with anyio.fail_after(SECONDS):
            await scenario()

    anyio.run(bounded)


def text_of(result) -> str:
    assert len(result.content) == 1 and result.content[0].type == "text"
    return result.content[0].text


def cli(*args, index: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "semsearch", *map(str, args), "--index", str(index)],
                          capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=SECONDS)


def test_help_imports_neither_the_sdk_nor_heavy_modules():
    code = ("import sys\nfrom semsearch.interfaces import cli\n"
            "try:\n    cli.app(['mcp', '--help'])\nexcept SystemExit:\n    pass\n"
            "print('heavy:', sorted(m for m in ('mcp', 'mcp_types', 'torch', 'sentence_transformers', 'faiss', "
            "'fastapi', 'uvicorn', 'starlette', 'semsearch.index') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "MCP server over stdio" in proc.stdout, proc.stdout[-300:] + proc.stderr
    assert proc.stdout.strip().endswith("heavy: []"), proc.stdout[-300:]


def test_lists_search_ask_and_status_with_their_schemas(real_index, tmp_path):
    async def scenario():
        async with session(tmp_path, "--index", str(real_index)) as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
            assert set(tools) == {"search", "ask", "status"}
            search, ask = tools["search"].input_schema, tools["ask"].input_schema
            assert search["required"] == ["query"] and set(search["properties"]) == {"query", "top_k"}
            assert ask["required"] == ["question"] and set(ask["properties"]) == {"question", "top_k"}
            for schema in (search, ask):
                top_k = schema["properties"]["top_k"]
                assert (top_k["type"], top_k["default"], top_k["minimum"], top_k["maximum"]) == ("integer", 5, 1, 100)
            assert tools["status"].input_schema.get("properties", {}) == {}
            assert {"schema", "query", "results"} <= set(tools["search"].output_schema["properties"])
            ask_output = set(tools["ask"].output_schema["properties"])
            assert {"schema", "question", "no_answer", "answer", "results"} <= ask_output
            assert all(tool.annotations.read_only_hint for tool in tools.values())

    run(scenario)


def test_search_returns_the_1363_workstations_passage_with_its_citation(real_index, tmp_path):
    async def scenario():
        async with session(tmp_path, "--index", str(real_index)) as client:
            started = time.perf_counter()
            result = await client.call_tool("search", {"query": WORKSTATIONS, "top_k": 3})
            first_call = time.perf_counter() - started
            assert not result.is_error, text_of(result)
            data = result.structured_content
            assert data["schema"] == 1 and data["query"] == WORKSTATIONS and len(data["results"]) == 3
            top = data["results"][0]
            assert "1363" in top["text"] and top["source"]["path"] == "002_82a0a245436f2301.txt"
            assert top["rank"] == 1 and top["score"] > 0 and top["title"]
            check_results_cite_the_source(data["results"])  # exact keys, ranks, text == file[char_start:char_end]
            # The text rendering carries the same passages and citations, for clients that show only text.
            text = text_of(result)
            source = top["source"]
            assert f"[1] {source['path']}:{source['line_start']}" in text and top["text"] in text
            assert f"chars {source['char_start']}-{source['char_end']}" in text
            # The model loaded in the background at startup; a later call is quick.
            started = time.perf_counter()
            again = await client.call_tool("search", {"query": "委员工作站"})
            assert not again.is_error and len(again.structured_content["results"]) == 5
            print(f"first search {first_call:.2f}s, second {time.perf_counter() - started:.2f}s")

    run(scenario)


def test_ask_returns_cited_sentences(real_index, tmp_path):
    async def scenario():
        async with session(tmp_path, "--index", str(real_index)) as client:
            result = await client.call_tool("ask", {"question": WORKSTATIONS})
            assert not result.is_error, text_of(result)
            data = result.structured_content
            check_workstation_answer(data)  # the same JSON as `semsearch ask --json`
            text = text_of(result)
            assert text.startswith("Answer: ") and data["answer"]["text"] in text and "1363" in text
            assert "[1] 002_82a0a245436f2301.txt:" in text

    run(scenario)


def test_status_describes_the_index(real_index, tmp_path):
    expected = json.loads(cli("status", "--json", index=real_index).stdout)

    async def scenario():
        async with session(tmp_path, "--index", str(real_index)) as client:
            result = await client.call_tool("status", {})
            assert not result.is_error, text_of(result)
            assert result.structured_content == expected  # what `semsearch status --json` prints
            assert result.structured_content["documents"] == 5 and result.structured_content["stale"] is False
            assert "model     multilingual-e5-small" in text_of(result)

    run(scenario)


def test_bad_calls_are_one_line_tool_errors_and_the_server_keeps_answering(real_index, tmp_path):
    empty = cli("search", "", index=real_index)
    assert empty.returncode == 2 and empty.stderr.startswith("error: ")

    async def scenario():
        async with session(tmp_path, "--index", str(real_index)) as client:
            bad = [("search", {"query": ""}, empty.stderr.strip().removeprefix("error: ")),
                   ("ask", {"question": "   "}, "the query is empty"),
                   ("search", {"query": "委员工作站", "top_k": 0},
                    "top_k must be a whole number from 1 to 100, not 0"),
                   ("ask", {"question": "委员工作站", "top_k": 101},
                    "top_k must be a whole number from 1 to 100, not 101"),
                   ("search", {"query": "政" * 4001}, "the query is 4,001 characters long; the limit is 4,000")]
            for name, arguments, message in bad:
                result = await client.call_tool(name, arguments)
                assert result.is_error, (name, arguments)
                assert text_of(result) == message and result.structured_content is None
            # A call the SDK rejects against the input schema is a tool error too, not a crash.
            wrong_type = await client.call_tool("search", {"query": "委员工作站", "top_k": "many"})
            assert wrong_type.is_error and "top_k" in text_of(wrong_type)
            result = await client.call_tool("search", {"query": WORKSTATIONS, "top_k": 1})
            assert not result.is_error and "1363" in result.structured_content["results"][0]["text"]

    run(scenario)
    assert "Traceback" not in (tmp_path / "stderr.txt").read_text(encoding="utf-8")


def test_a_missing_index_is_a_tool_error_with_the_cli_message(tmp_path):
    missing, nowhere = tmp_path / "no-index", tmp_path / "no-corpus"
    env = {"SEMSEARCH_CORPUS": str(nowhere)}  # the default corpus cannot be built either
    cli_error = cli("status", index=missing, env=env).stderr.strip().removeprefix("error: ")
    assert cli_error.startswith("no index at ")

    async def scenario():
        async with session(tmp_path, "--index", str(missing), env=env) as client:
            for name, arguments in (("search", {"query": WORKSTATIONS}), ("ask", {"question": WORKSTATIONS}),
                                    ("status", {})):
                result = await client.call_tool(name, arguments)
                assert result.is_error and text_of(result) == cli_error, (name, text_of(result))

    run(scenario)
    stderr = (tmp_path / "stderr.txt").read_text(encoding="utf-8")
    assert "building it from" in stderr and "Traceback" not in stderr


def test_an_index_built_with_another_model_is_a_tool_error_naming_both(real_index, tmp_path):
    cli_error = cli("search", "政协", "--model", "some-other-model", index=real_index).stderr.strip()

    async def scenario():
        async with session(tmp_path, "--index", str(real_index), "--model", "some-other-model") as client:
            result = await client.call_tool("search", {"query": "政协"})
            assert result.is_error and f"error: {text_of(result)}" == cli_error
            assert "multilingual-e5-small" in text_of(result) and "some-other-model" in text_of(result)
            assert not (await client.call_tool("status", {})).is_error  # status does not need the model

    run(scenario)


@pytest.mark.slow  # builds a small index with the real model
def test_stdout_carries_only_the_protocol_while_the_index_is_built(tmp_path):
    """Raw JSON-RPC over the pipes: a first run builds the index from the default corpus, saying so on stderr."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(SEEDS / "002_82a0a245436f2301.txt", corpus)
    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize",
         "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                    "clientInfo": {"name": "raw-test", "version": "0"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
         "params": {"name": "search", "arguments": {"query": WORKSTATIONS, "top_k": 1}}},
    ]
    errlog = open(tmp_path / "stderr.txt", "w", encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "semsearch", "mcp", "--index", str(tmp_path / "index")],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errlog, text=True,
                            encoding="utf-8", cwd=tmp_path, env={**os.environ, "SEMSEARCH_CORPUS": str(corpus)})
    watchdog = threading.Timer(SECONDS, proc.kill)  # a hung server fails the test instead of hanging it
    watchdog.start()
    try:
        proc.stdin.write("".join(json.dumps(m, ensure_ascii=False) + "\n" for m in messages))
        proc.stdin.flush()
        replies = []
        while not any(reply.get("id") == 2 for reply in replies):  # the call waits for the build
            line = proc.stdout.readline()
            assert line, "the server closed stdout before answering"
            replies.append(json.loads(line))  # every line on stdout is a JSON-RPC message
        proc.stdin.close()  # the client goes away: the server exits
        assert proc.wait(timeout=30) == 0
        assert proc.stdout.read() == ""
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        errlog.close()
    stderr = (tmp_path / "stderr.txt").read_text(encoding="utf-8")
    assert all(reply.get("jsonrpc") == "2.0" for reply in replies), replies
    by_id = {reply.get("id"): reply for reply in replies}
    assert by_id[1]["result"]["serverInfo"]["name"] == "semsearch"
    result = by_id[2]["result"]
    assert result.get("isError") is not True, result
    assert "1363" in result["structuredContent"]["results"][0]["text"]
    assert "building it from" in stderr and "Indexed" in stderr, stderr
