"""HTTP API: ``create_app(index_path)`` -> a FastAPI app over the ``Index`` API.

A thin layer, like the CLI: it validates requests, calls ``Index.search`` /
``Index.ask`` / ``Index.status`` and returns their JSON (CONVENTIONS.md, schema 1)
unchanged. It has no retrieval logic of its own.

Endpoints: ``POST /search``, ``POST /ask``, ``GET /health``, ``GET /status``;
the OpenAPI schema is at ``/openapi.json`` (and browsable at ``/docs``); ``GET /`` is the web page
``web/index.html`` (in the package), which asks ``/ask``. ``"highlight": true`` in a request adds each
result's ``highlights`` (``highlight.term_spans``); without it the response is exactly schema 1.

- The model and the index load in a background thread at startup; until they are
  ready ``/health``, ``/search`` and ``/ask`` answer 503 ``{"error": ...}``.
- Every error is a JSON body ``{"error": "one-line message"}``: 4xx for bad
  requests (400 malformed JSON or a query the index rejects, 413 body over 64 KiB,
  422 wrong field types or values), 503 while loading or when the index has a
  problem (missing, corrupt, built with another model).
- The ``Index`` re-reads the index folder's ``CURRENT`` pointer on every query, so a
  reindex done by another process is served from the next request on, without restart.

Files: no request names a file. There is no path parameter anywhere; the server
reads only the index folder it was started on, its own page from the package and,
for ``/status``, the corpus roots recorded in that index, to report what is stale
(the same as ``semsearch status``). Queries are text and are never used to build a path.
"""

from __future__ import annotations

import logging
import threading
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any, Optional

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.exceptions import HTTPException as StarletteHTTPException

from semsearch.config import DEFAULTS, Settings
from semsearch.errors import IndexProblem, InputError, SemsearchError
from semsearch.index import Index
from semsearch.interfaces.highlight import term_spans
from semsearch.types import results_json

MAX_QUERY_CHARS = 4000  # the same limit as Index (index.MAX_QUERY_CHARS)
MAX_TOP_K = 100
MAX_BODY_BYTES = 64 * 1024
WARM_UP_QUERY = "预热"
# The page loads nothing from anywhere else (no CDN, no web fonts) and talks only to this server.
PAGE_HEADERS = {"Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
                "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-cache"}

# uvicorn configures this logger, so `semsearch serve` shows when loading is done or failed.
log = logging.getLogger("uvicorn.error")


# -- request and response models (these document /openapi.json) ----------------

HIGHLIGHT_HELP = "Add `highlights` to each result (where the query's terms occur in its `text`); default false."


def _check_text(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: str = Field(..., strict=True, min_length=1, max_length=MAX_QUERY_CHARS,
                       description="What to look for (any language), 1 to 4,000 characters.")
    top_k: int = Field(5, strict=True, ge=1, le=MAX_TOP_K, description="How many passages (1 to 100).")
    highlight: bool = Field(False, strict=True, description=HIGHLIGHT_HELP)

    _not_blank = field_validator("query")(_check_text)


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(..., strict=True, min_length=1, max_length=MAX_QUERY_CHARS,
                          description="A question (any language), 1 to 4,000 characters.")
    top_k: int = Field(5, strict=True, ge=1, le=MAX_TOP_K, description="How many supporting passages (1 to 100).")
    min_score: Optional[float] = Field(None, description="Below this passage score, answer no_answer: true.")
    highlight: bool = Field(False, strict=True, description=HIGHLIGHT_HELP)

    _not_blank = field_validator("question")(_check_text)


class SourceModel(BaseModel):
    path: str = Field(..., description="Relative to the corpus root the file was indexed from.")
    line_start: int = Field(..., description="1-based, inclusive.")
    line_end: int = Field(..., description="1-based, inclusive.")
    char_start: int = Field(..., description="Offset into the file's decoded text.")
    char_end: int = Field(..., description="text == file_text[char_start:char_end].")


class HitModel(BaseModel):
    rank: int = Field(..., description="From 1.")
    score: float = Field(..., description="Higher is better.")
    text: str = Field(..., description="The passage exactly as in the source file.")
    source: SourceModel
    title: Optional[str] = Field(None, description="Document or section title, or null.")
    highlights: list[tuple[int, int]] = Field(
        None, description="Only when the request has \"highlight\": true: sorted, non-overlapping [start, end) "
                          "spans of `text` (offsets in Unicode code points) where the query's terms occur, "
                          "matched across Traditional/Simplified script and glosses.")


class SearchResponse(BaseModel):
    schema_: int = Field(1, alias="schema")
    query: str
    results: list[HitModel]


class AnswerSentenceModel(BaseModel):
    text: str
    citation: int = Field(..., description="The rank of the result this sentence is quoted from.")


class AnswerModel(BaseModel):
    text: str = Field(..., description="The answer sentences, each followed by its citation mark [n].")
    sentences: list[AnswerSentenceModel]


class AskResponse(BaseModel):
    schema_: int = Field(1, alias="schema")
    question: str
    no_answer: bool = Field(..., description="True when nothing in the index answers (still HTTP 200).")
    answer: AnswerModel
    results: list[HitModel]


class ChangesModel(BaseModel):
    new: list[str]
    changed: list[str]
    deleted: list[str]


class StatusResponse(BaseModel):
    schema_: int = Field(1, alias="schema")
    index: str
    model: str
    documents: int
    chunks: int
    bytes: int
    roots: list[str]
    built_at: Optional[str]
    stale: bool
    changes: ChangesModel


class HealthResponse(BaseModel):
    status: str = "ok"


class ErrorResponse(BaseModel):
    error: str = Field(..., description="One line.")


def _errors(*codes: int) -> dict[int, dict[str, Any]]:
    return {code: {"model": ErrorResponse} for code in codes}


# -- errors -------------------------------------------------------------------

def _one_line(message: object) -> str:
    return " ".join(str(message).split()) or "error"


def error_response(status: int, message: object, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": _one_line(message)}, status_code=status, headers=headers)


def _is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";")[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _validation_message(exc: RequestValidationError, content_type: str | None) -> tuple[int, str]:
    errors = exc.errors()
    if not errors:
        return 422, "invalid request"
    first = errors[0]
    if first.get("type") == "json_invalid":
        detail = (first.get("ctx") or {}).get("error")
        return 400, f"malformed JSON{': ' + str(detail) if detail else ''}"
    loc = [str(part) for part in first.get("loc", ()) if part != "body"]
    if not loc:  # the body as a whole is wrong: absent, not an object, or not sent as JSON
        if not _is_json(content_type):
            return 422, "the request body must be a JSON object sent with Content-Type: application/json"
        return 422, "the request body must be a JSON object"
    msg = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    return 422, f"{'.'.join(loc)}: {msg[:1].lower() + msg[1:]}"


class BodyLimit:
    """ASGI middleware: refuse request bodies over ``limit`` bytes with 413, reading at most ``limit``."""

    def __init__(self, app, limit: int = MAX_BODY_BYTES):
        self.app = app
        self.limit = limit

    @staticmethod
    async def _refuse(scope, receive, send, status: int, message: str) -> None:
        response = error_response(status, message, headers={"Connection": "close"})
        await response(scope, receive, send)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        too_big = f"the request body is larger than {self.limit:,} bytes"
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                if not value.strip().isdigit():
                    return await self._refuse(scope, receive, send, 400, "bad Content-Length header")
                if int(value) > self.limit:
                    return await self._refuse(scope, receive, send, 413, too_big)
        parts, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            size += len(body)
            if size > self.limit:
                return await self._refuse(scope, receive, send, 413, too_big)
            parts.append(body)
            if not message.get("more_body", False):
                break
        body, replayed = b"".join(parts), False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


# -- the app --------------------------------------------------------------------

def _warm_up(idx) -> None:
    """Load the model and open the live index, then run one query so the first request is fast."""
    if not idx.exists():
        raise IndexProblem(f"no index at {idx.path}; build one with: semsearch reindex [PATH ...]")
    idx.embedder().encode_query(WARM_UP_QUERY)
    idx.search(WARM_UP_QUERY, k=1)


class _State:
    def __init__(self, index_path: Path, model: str | None, settings: Settings):
        self.index = Index.open(index_path, model=model, settings=settings)
        self.ready = threading.Event()
        self.error: str | None = None

    def load(self) -> None:
        try:
            _warm_up(self.index)
        except SemsearchError as exc:
            self.error = _one_line(exc)
            log.error("semsearch: cannot serve yet: %s", self.error)
        except Exception as exc:  # a bug or a broken environment: say so in one line
            self.error = _one_line(f"{type(exc).__name__}: {exc}")
            log.exception("loading failed")
        else:
            self.ready.set()
            log.info("semsearch: model and index loaded; ready")

    def require_ready(self) -> None:
        """Raise ``NotReady`` while loading; after a failed load, let the request try again."""
        if not self.ready.is_set() and self.error is None:
            raise NotReady("the model and index are still loading; try again shortly")


class NotReady(Exception):
    pass


def create_app(index_path: str | Path, model: str | None = None, settings: Settings = DEFAULTS) -> FastAPI:
    """The HTTP app over the index folder ``index_path`` (see the module docstring).

    Only that folder is served; no request can name a file or a path.
    """
    # Several requests in flight already keep the cores busy: each query stays on one thread (BLAS included)
    # and the keyword lookup does not take a second one.
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")
    state = _State(Path(index_path), model, settings.but(overlap_keyword=False))

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        threading.Thread(target=state.load, name="semsearch-load", daemon=True).start()
        yield
        if state.ready.is_set():
            state.index.close()

    app = FastAPI(title="semsearch", version="1",
                  description="Semantic search and cited answers over one local index (CONVENTIONS.md, schema 1). "
                              "Every error is {\"error\": \"one-line message\"}.",
                  lifespan=lifespan)
    app.state.semsearch = state
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)

    @app.exception_handler(RequestValidationError)
    async def _on_validation(request: Request, exc: RequestValidationError):
        status, message = _validation_message(exc, request.headers.get("content-type"))
        return error_response(status, message)

    @app.exception_handler(StarletteHTTPException)
    async def _on_http(request: Request, exc: StarletteHTTPException):
        return error_response(exc.status_code, exc.detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(NotReady)
    async def _on_not_ready(request: Request, exc: NotReady):
        return error_response(503, exc, headers={"Retry-After": "2"})

    @app.exception_handler(InputError)
    async def _on_input(request: Request, exc: InputError):
        return error_response(400, exc)

    @app.exception_handler(IndexProblem)
    async def _on_index(request: Request, exc: IndexProblem):
        return error_response(503, exc)

    @app.exception_handler(SemsearchError)
    async def _on_semsearch(request: Request, exc: SemsearchError):
        return error_response(400 if exc.exit_code == 2 else 503, exc)

    @app.exception_handler(Exception)
    async def _on_bug(request: Request, exc: Exception):
        log.exception("internal error")
        return error_response(500, f"internal error: {type(exc).__name__}")

    def _served(result: dict) -> JSONResponse:
        state.ready.set()  # a query worked: whatever failed at startup is fixed now
        state.error = None
        return JSONResponse(result)

    def _highlighted(result: dict, query: str) -> dict:
        """Each result with ``highlights``: its spans matching the query's terms or their translations."""
        if result["results"]:
            extra = tuple(state.index.translations(query))
            for hit in result["results"]:
                hit["highlights"] = [[start, end] for start, end in term_spans(hit["text"], query, extra)]
        return result

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page():
        """The web page: one HTML file, its CSS and JS inline, read from the package (so edits show at once)."""
        try:
            html = resources.files("semsearch.interfaces").joinpath("web", "index.html").read_text(encoding="utf-8")
        except OSError as exc:  # installed without its package data
            return error_response(500, f"the web page is missing from the installed package: {exc}")
        return HTMLResponse(html, headers=PAGE_HEADERS)

    # Plain ``def`` endpoints run in FastAPI's threadpool; Index serialises on its own lock.
    @app.post("/search", response_model=SearchResponse, responses=_errors(400, 413, 422, 503),
              summary="Ranked passages for a query")
    def search(body: SearchRequest) -> JSONResponse:
        state.require_ready()
        hits = state.index.search(body.query, k=body.top_k)
        result = results_json(body.query, hits)
        return _served(_highlighted(result, body.query) if body.highlight else result)

    @app.post("/ask", response_model=AskResponse, responses=_errors(400, 413, 422, 503),
              summary="An answer in cited sentences, then the supporting passages")
    def ask(body: AskRequest) -> JSONResponse:
        state.require_ready()
        answer = state.index.ask(body.question, k=body.top_k, min_score=body.min_score)
        result = answer.as_json(body.question)
        return _served(_highlighted(result, body.question) if body.highlight else result)

    @app.get("/health", response_model=HealthResponse, responses=_errors(503),
             summary="200 once the model and index are loaded, 503 before")
    def health() -> JSONResponse:
        if state.ready.is_set():
            return JSONResponse({"status": "ok"})
        return error_response(503, state.error or "loading", headers={"Retry-After": "2"})

    @app.get("/status", response_model=StatusResponse, responses=_errors(503),
             summary="What is indexed, with which model, and what is stale (as `semsearch status --json`)")
    def status() -> JSONResponse:
        return JSONResponse(state.index.status())

    return app
