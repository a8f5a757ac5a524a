"""MCP server over stdio: ``serve_stdio(index_path)`` exposes one index to agents as the tools
``search``, ``ask`` and ``status`` (CONVENTIONS.md: ``semsearch mcp``).

A thin layer, like the CLI and the HTTP server: it checks the arguments, calls ``Index.search`` /
``Index.ask`` / ``Index.status`` and returns their JSON (CONVENTIONS.md, schema 1) unchanged as the
tool's structured content, with a readable rendering of the same JSON as its text content. It has
no retrieval logic of its own. Built on the official MCP Python SDK (``mcp`` 2.x, ``MCPServer``).

- Errors (an empty query, ``top_k`` outside 1..100, a missing or damaged index, an index built with
  another model) are tool results with ``isError`` and the one-line message the CLI prints; the
  server keeps serving.
- stdout carries the protocol only: notes, warnings, progress and logs go to stderr (and while it
  serves, the SDK points file descriptor 1 at stderr, so stray output cannot reach the wire).
- At startup a background thread prepares the index (``prepare``: the CLI builds a missing index
  from the default corpus there and warns when it is stale), starts loading the model
  (``Index.preload``) and runs one query; a call that arrives meanwhile waits for it.
- Calls run one at a time on worker threads, so the protocol loop stays responsive.
"""

import logging
import threading
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

from mcp.server.mcpserver import MCPServer
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field
from typing_extensions import NotRequired, TypedDict

from semsearch import __version__
from semsearch.errors import InputError, SemsearchError
from semsearch.index import Index
from semsearch.interfaces.console import err
from semsearch.types import results_json

MAX_TOP_K = 100
WARM_UP_QUERY = "预热"

log = logging.getLogger("semsearch.mcp")

INSTRUCTIONS = (
    "Semantic search and cited answers over one local document index (Chinese first; questions in any "
    "language). Use `search` for ranked passages, `ask` for sentences that answer a question, each marked "
    "[n] for the passage (rank n) it is quoted from. Every passage carries its citation: the file path "
    "relative to the corpus root, 1-based inclusive lines, and character offsets into the file's text. "
    "Quote the passage text and cite path:line when you use it."
)


# -- the structured results (CONVENTIONS.md, schema 1): these are the tools' output schemas -------------

class SourceJSON(TypedDict):
    path: Annotated[str, Field(description="File path relative to the corpus root it was indexed from.")]
    line_start: Annotated[int, Field(description="First line of the passage, 1-based.")]
    line_end: Annotated[int, Field(description="Last line of the passage, 1-based, inclusive.")]
    char_start: Annotated[int, Field(description="Offset into the file's decoded text.")]
    char_end: Annotated[int, Field(description="End offset: text == file_text[char_start:char_end].")]
    page: NotRequired[Annotated[int, Field(description="Page, for PDFs only.")]]


class HitJSON(TypedDict):
    rank: Annotated[int, Field(description="From 1; answer citation n refers to rank n.")]
    score: Annotated[float, Field(description="Higher is better.")]
    text: Annotated[str, Field(description="The passage exactly as in the source file.")]
    source: SourceJSON
    title: Annotated[Optional[str], Field(description="Document or section title, or null.")]


class SearchJSON(TypedDict):
    """The `search` JSON of CONVENTIONS.md (schema 1)."""

    schema: int
    query: str
    results: list[HitJSON]


class SentenceJSON(TypedDict):
    text: Annotated[str, Field(description="A sentence quoted from the passage it cites.")]
    citation: Annotated[int, Field(description="The rank of the result this sentence is quoted from.")]
    citations: NotRequired[list[int]]


class AnswerTextJSON(TypedDict):
    text: Annotated[str, Field(description="The answer sentences, each followed by its citation mark [n].")]
    sentences: list[SentenceJSON]


class AskJSON(TypedDict):
    """The `ask` JSON of CONVENTIONS.md (schema 1)."""

    schema: int
    question: str
    no_answer: Annotated[bool, Field(description="True when nothing in the index answers the question.")]
    answer: AnswerTextJSON
    results: list[HitJSON]


class ChangesJSON(TypedDict):
    new: list[str]
    changed: list[str]
    deleted: list[str]


class StatusJSON(TypedDict):
    """What `semsearch status --json` prints."""

    schema: int
    index: str
    model: str
    documents: int
    chunks: int
    bytes: int
    roots: list[str]
    built_at: Optional[str]
    stale: Annotated[bool, Field(description="True when files changed since the last reindex.")]
    changes: ChangesJSON


# -- readable renderings of the same JSON -------------------------------------------------------------

def note(message: str) -> None:
    """One line on stderr (stdout is the protocol's)."""
    err.print(message, markup=False)


def _one_line(message: object) -> str:
    return " ".join(str(message).split()) or "error"


def cite(source: dict) -> str:
    """``path:23`` or ``path:23-25``, as the CLI prints a source."""
    start, end = source["line_start"], source["line_end"]
    lines = str(start) if start == end else f"{start}-{end}"
    page = f" (p. {source['page']})" if source.get("page") is not None else ""
    return f"{source['path']}:{lines}{page}"


def render_results(results: list[dict]) -> str:
    blocks = []
    for r in results:
        source = r["source"]
        head = (f"[{r['rank']}] {cite(source)} (chars {source['char_start']}-{source['char_end']}), "
                f"score {r['score']:.4f}")
        if r.get("title"):
            head += f", title: {r['title']}"
        blocks.append(f"{head}\n{r['text']}")
    return "\n\n".join(blocks)


def render_search(data: dict) -> str:
    if not data["results"]:
        return "No results."
    return render_results(data["results"])


def render_answer(data: dict) -> str:
    if data["no_answer"]:
        text = "No answer: nothing in the index answers this question."
        if data["results"]:
            text += "\n\nClosest passages:\n\n" + render_results(data["results"])
        return text
    return f"Answer: {data['answer']['text']}\n\nSources:\n\n{render_results(data['results'])}"


def render_status(info: dict) -> str:
    lines = [f"index     {info['index']}", f"model     {info['model']}", f"documents {info['documents']}",
             f"chunks    {info['chunks']}", f"size      {info['bytes'] / 1e6:.1f} MB",
             f"built     {info['built_at']}", f"corpus    {', '.join(info['roots'])}"]
    if info.get("chunker_current") is False:
        lines.append("chunks    cut by an earlier version of semsearch: run semsearch reindex")
    changes = info["changes"]
    for kind in ("new", "changed", "deleted"):
        lines.extend(f"{kind:9} {path}" for path in changes.get(kind, ()))
    if not info["stale"] and info.get("chunker_current", True):
        lines.append("up to date")
    return "\n".join(lines)


# -- the service: one index, calls one at a time -------------------------------------------------------

def check_top_k(top_k: Any) -> int:
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
        raise InputError(f"top_k must be a whole number from 1 to {MAX_TOP_K}, not {top_k!r}")
    return top_k


def _ok(data: dict, text: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)


def _error(message: object) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=_one_line(message))], is_error=True)


class Service:
    """The index behind the tools: prepared and warmed up once in the background, then queried."""

    def __init__(self, index: Index, prepare: Optional[Callable[[Index], None]] = None):
        self.index = index
        self.prepare = prepare
        self.ready = threading.Event()
        self._lock = threading.Lock()

    def start(self) -> None:
        threading.Thread(target=self._load, name="semsearch-mcp-load", daemon=True).start()

    def _load(self) -> None:
        try:
            self.index.preload()  # starts loading the model at once (a no-op while there is no index)
            if self.prepare is not None:
                self.prepare(self.index)
                self.index.preload()
            self.index.search(WARM_UP_QUERY, k=1)
            note(f"semsearch mcp: serving {self.index.path}; model and index loaded")
        except SemsearchError as exc:  # each call reports it again, as a tool error
            note(f"error: {_one_line(exc)}")
        except Exception as exc:  # a bug or a broken environment: the traceback here, a tool error per call
            log.exception("loading failed")
            note(f"internal error while loading: {type(exc).__name__}: {_one_line(exc)}")
        finally:
            self.ready.set()

    def call(self, work: Callable[[], CallToolResult]) -> CallToolResult:
        """Run ``work`` once the index is prepared; every failure becomes a tool error, never a crash."""
        self.ready.wait()
        try:
            with self._lock:
                return work()
        except SemsearchError as exc:
            return _error(exc)
        except Exception as exc:
            log.exception("internal error")
            return _error(f"internal error: {type(exc).__name__}: {exc}")

    def search(self, query: str, top_k: int) -> CallToolResult:
        def work() -> CallToolResult:
            hits = self.index.search(query, k=check_top_k(top_k))
            data = results_json(query, hits)
            return _ok(data, render_search(data))
        return self.call(work)

    def ask(self, question: str, top_k: int) -> CallToolResult:
        def work() -> CallToolResult:
            data = self.index.ask(question, k=check_top_k(top_k)).as_json(question)
            return _ok(data, render_answer(data))
        return self.call(work)

    def status(self) -> CallToolResult:
        def work() -> CallToolResult:
            info = self.index.status()
            return _ok(info, render_status(info))
        return self.call(work)


# -- the MCP server --------------------------------------------------------------------------------------

Query = Annotated[str, Field(description="What to look for, in any language (1 to 4,000 characters).")]
Question = Annotated[str, Field(description="A question in any language (1 to 4,000 characters).")]
TopK = Annotated[int, Field(description=f"How many passages, 1 to {MAX_TOP_K}.",
                            json_schema_extra={"minimum": 1, "maximum": MAX_TOP_K})]
READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True,
                            open_world_hint=False)


def create_server(index_path: str | Path, model: Optional[str] = None,
                  prepare: Optional[Callable[[Index], None]] = None) -> MCPServer:
    """The MCP server over the index folder ``index_path``; ``prepare(index)`` runs first, in the background."""
    service = Service(Index.open(Path(index_path), model=model), prepare)

    @asynccontextmanager
    async def lifespan(server: MCPServer):
        service.start()  # here the stdio transport already owns fd 1: nothing the loading prints reaches it
        yield service

    server = MCPServer("semsearch", version=__version__, instructions=INSTRUCTIONS, lifespan=lifespan,
                       log_level="WARNING")

    @server.tool(title="Search the documents", annotations=READ_ONLY)
    def search(query: Query, top_k: TopK = 5) -> Annotated[CallToolResult, SearchJSON]:
        """Ranked passages for a query, best first. Each result carries the passage text exactly as in the
        source file and its citation: source.path (relative to the corpus root), source.line_start and
        source.line_end (1-based, inclusive), source.char_start and source.char_end (offsets into the file's
        text), score (higher is better), rank (from 1) and title."""
        return service.search(query, top_k)

    @server.tool(title="Answer with citations", annotations=READ_ONLY)
    def ask(question: Question, top_k: TopK = 5) -> Annotated[CallToolResult, AskJSON]:
        """Answer a question with sentences quoted from the documents, each followed by its citation mark [n],
        which refers to the supporting passage of rank n in results (with its file path, lines, character
        offsets, score and title). no_answer is true, and there are no sentences, when nothing in the index
        answers the question."""
        return service.ask(question, top_k)

    @server.tool(title="Index status", annotations=READ_ONLY)
    def status() -> Annotated[CallToolResult, StatusJSON]:
        """What is indexed: the index folder, the model, how many documents and chunks, the corpus roots, when
        it was built, and which files are new, changed or deleted since (stale)."""
        return service.status()

    return server


def serve_stdio(index_path: str | Path, model: Optional[str] = None,
                prepare: Optional[Callable[[Index], None]] = None) -> None:
    """Serve the index over stdin/stdout until the client closes stdin."""
    create_server(index_path, model=model, prepare=prepare).run("stdio")
