"""Command line: parses arguments, calls the ``Index`` API, prints. Nothing else.

JSON goes to stdout; progress, notes and errors go to stderr. Errors are one
line and set the exit codes of ``CONVENTIONS.md``. Heavy modules are imported
inside the commands so ``--help`` stays fast and never loads torch.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.text import Text

from semsearch.config import PROJECT_DIR
from semsearch.errors import SemsearchError
from semsearch.interfaces.console import RichProgress, print_hits, err, out
from semsearch.interfaces.model_commands import model_app

app = typer.Typer(help="Semantic search and cited answers over your documents (Chinese first).",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
app.add_typer(model_app, name="model")


IndexOpt = typer.Option(None, "--index", envvar="SEMSEARCH_INDEX", help="Index folder (default: ./index).")
ModelOpt = typer.Option(None, "--model", help="sentence-transformers model name or path (default: the index's model, or multilingual-e5-small).")
TopKOpt = typer.Option(5, "--top-k", "-k", min=1, max=100, help="How many passages.")
JsonOpt = typer.Option(False, "--json", help="Print one JSON object (schema 1) on stdout.")
ExplainOpt = typer.Option(False, "--explain", help="Show each passage's keyword rank, dense rank, cosine, the question's names its document holds, whether it states the count asked, fused score, and the score of its best sentence (which orders the first five).")
StrictOpt = typer.Option(False, "--strict", help="Exit 3 instead of warning when the index is stale.")


def _index_path(index: Optional[Path]) -> Path:
    return index if index is not None else Path("index")


def default_corpus() -> Path:
    """``./seeds`` when run from a checkout, else the seeds shipped beside the package."""
    env = os.environ.get("SEMSEARCH_CORPUS")
    if env:
        return Path(env)
    local = Path("seeds")
    return local if local.is_dir() else PROJECT_DIR / "seeds"


def _open(index: Optional[Path], model: Optional[str]):
    from semsearch.index import Index

    return Index.open(_index_path(index), model=model)


def _ensure_built(idx, quiet: bool) -> None:
    if idx.exists():
        return
    corpus = default_corpus()
    err.print(f"No index at {idx.path} yet: building it from {corpus} first.", markup=False)
    with RichProgress(quiet) as progress:
        report = idx.reindex_report([corpus], progress=progress.hooks())
    err.print(f"Indexed {report.total_chunks} chunks from {report.added} files in {report.seconds:.1f}s.", markup=False)


def _index_for_query(index: Optional[Path], model: Optional[str], quiet: bool, strict: bool):
    """The index a query runs on: the model starts loading at once, a first run builds the index of the
    default corpus, and a stale index is reported (or, with --strict, refused)."""
    idx = _open(index, model)
    idx.preload()
    _ensure_built(idx, quiet=quiet)
    _check_fresh(idx, strict)
    return idx


def _check_fresh(idx, strict: bool) -> None:
    """Warn (or, with --strict, stop) when files changed since the last reindex."""
    from semsearch.errors import IndexProblem

    if idx.cut_by_older_version():
        err.print("note: this index was cut by an earlier version of semsearch; run: semsearch reindex "
                  "(only passages whose text changed are embedded again)", markup=False)
    changes = idx.changes()
    stale = {kind: paths for kind, paths in changes.items() if paths}
    if not stale:
        return
    summary = ", ".join(f"{len(paths)} {kind}" for kind, paths in stale.items())
    message = f"the index is stale ({summary} file(s) since the last reindex); run: semsearch reindex"
    if strict:
        raise IndexProblem(message)
    err.print(f"warning: {message}", markup=False)


def _fail(error: SemsearchError) -> None:
    err.print(f"error: {error}", markup=False)
    raise typer.Exit(error.exit_code)


@app.command()
def ask(
    question: str = typer.Argument(..., help="A question in any language."),
    index: Optional[Path] = IndexOpt, model: Optional[str] = ModelOpt,
    top_k: int = TopKOpt, as_json: bool = JsonOpt,
    min_score: Optional[float] = typer.Option(None, "--min-score", help="Say there is no answer when the best passage's cosine similarity to the question is below this (default: calibrated, 0.87 for Chinese questions, 0.835 for English ones whose words the dictionary translates, 0.75 for others)."),
    strict: bool = StrictOpt,
    explain: bool = ExplainOpt,
    llm_url: Optional[str] = typer.Option(None, "--llm-url", envvar="SEMSEARCH_LLM_URL",
                                          help="OpenAI-compatible API (e.g. http://127.0.0.1:8080/v1) to write the answer; "
                                               "its sentences are kept only when the passages they cite support them."),
    llm_model: Optional[str] = typer.Option(None, "--llm-model", envvar="SEMSEARCH_LLM_MODEL",
                                            help="Model name sent to the LLM API (default: 'default')."),
    llm_timeout: float = typer.Option(60.0, "--llm-timeout", min=1.0, envvar="SEMSEARCH_LLM_TIMEOUT",
                                      help="Seconds to wait for the LLM."),
) -> None:
    """Answer with cited sentences, then the supporting passages."""
    try:
        idx = _index_for_query(index, model, quiet=as_json, strict=strict)
        answer = idx.ask(question, k=top_k, min_score=min_score, llm_url=llm_url, llm_model=llm_model,
                         llm_timeout=llm_timeout)
    except SemsearchError as exc:
        _fail(exc)
    if answer.mode is not None:
        for flagged in answer.flagged:
            err.print(f"warning: dropped an LLM sentence that its citations do not support: {flagged['text']} "
                      f"({flagged['reason']})", markup=False)
        if answer.fallback:
            err.print(f"warning: LLM answer not used: {answer.fallback}", markup=False)
    if as_json:
        print(json.dumps(answer.as_json(question, explain), ensure_ascii=False))
    elif answer.no_answer:
        out.print("No answer: nothing in the index answers this question.", markup=False)
    else:
        out.print(Text("Answer", style="bold"))
        from semsearch.text.normalize import clean_text

        for sentence in answer.sentences:
            line = Text("  ")
            # Shown without pinyin glosses and doubled punctuation (協(xié) -> 協); the passage below, where it
            # is underlined, and --json keep the source text exactly.
            line.append(clean_text(sentence.text))
            line.append(f" {sentence.marks()}", style="bold cyan")
            out.print(line)
        out.print()
        out.print(Text("Sources", style="bold"))
        print_hits(answer.hits, question, answer, explain, tuple(idx.translations(question)))
    if answer.no_answer:
        raise typer.Exit(1)


@app.command()
def search(
    query: str = typer.Argument(..., help="What to look for."),
    index: Optional[Path] = IndexOpt, model: Optional[str] = ModelOpt,
    top_k: int = TopKOpt, as_json: bool = JsonOpt, strict: bool = StrictOpt, explain: bool = ExplainOpt,
) -> None:
    """Ranked passages only."""
    try:
        idx = _index_for_query(index, model, quiet=as_json, strict=strict)
        hits = idx.search(query, k=top_k)
    except SemsearchError as exc:
        _fail(exc)
    if as_json:
        from semsearch.types import results_json

        print(json.dumps(results_json(query, hits, explain), ensure_ascii=False))
    elif not hits:
        out.print("No results.", markup=False)
    else:
        print_hits(hits, query, explain=explain, translated=tuple(idx.translations(query)))
    if not hits:
        raise typer.Exit(1)


@app.command()
def reindex(
    paths: Optional[List[Path]] = typer.Argument(None, help="Files or folders (default: what the index was built from, else seeds/)."),
    index: Optional[Path] = IndexOpt, model: Optional[str] = ModelOpt, as_json: bool = JsonOpt,
    rebuild: bool = typer.Option(False, "--rebuild", help="Start from nothing (e.g. to change model)."),
    int8: Optional[bool] = typer.Option(None, "--int8/--float", help="Embed passages with the int8 copy of the model or the float one. Default: as the index was built; new indexes: int8 where the CPU has int8 dot-product instructions (VNNI, Arm dotprod), where it is faster, else float (docs/models.md)."),
    windows: Optional[bool] = typer.Option(None, "--windows/--no-windows", help="Also embed sentence windows of long passages (better ranking, ~1.8x the embedding work). Default: as the index was built; new indexes: on."),
    store_url: Optional[str] = typer.Option(None, "--store", help="Keep the vectors in milvus://HOST:PORT[/COLLECTION] (or back in the local 'faiss' file). Recorded in the index: later commands need no flag. Default: as the index was built; new indexes: faiss."),
    ray: Optional[str] = typer.Option(None, "--ray", help="Embed on a Ray cluster: 'auto' (the cluster this node is in) or its ADDRESS."),
    ray_workers: Optional[int] = typer.Option(None, "--ray-workers", min=1, help="Ray workers (each loads the model once; default: one per CPU of the cluster)."),
) -> None:
    """Bring the index up to date with the corpus."""
    if int8 is not None:
        os.environ["SEMSEARCH_INT8"] = "1" if int8 else "0"
    executor = None
    try:
        idx = _open(index, model)
        if not paths and not idx.exists():
            paths = [default_corpus()]
        if int8 and idx.embedder().passage_precision() != "int8":
            err.print("warning: this model has no int8 graph of the current recipe (semsearch model install, or "
                      "model export PATH, makes one); embedding in float", markup=False)
        if ray:
            from semsearch.encoders.ray_pool import RayExecutor

            executor = RayExecutor.for_model(ray, idx._model_ref or idx.embedder().model_id, idx.settings, ray_workers)
        with RichProgress(quiet=False) as progress:
            report = idx.reindex_report(paths or None, rebuild=rebuild, progress=progress.hooks(), windows=windows,
                                        store=store_url, executor=executor)
    except SemsearchError as exc:
        _fail(exc)
    finally:
        if executor is not None:
            executor.close()
    if as_json:
        print(json.dumps(report.as_json(), ensure_ascii=False))
        return
    out.print(f"{report.index}: {report.total_chunks} chunks with {report.model} "
              f"(files: {report.added} added, {report.updated} updated, {report.deleted} deleted, "
              f"{report.unchanged} unchanged; {report.embedded} chunks embedded, {report.removed} removed) "
              f"in {report.seconds:.1f}s", markup=False)


@app.command()
def status(index: Optional[Path] = IndexOpt, as_json: bool = JsonOpt) -> None:
    """What is indexed, with which model, and what is stale."""
    try:
        info = _open(index, None).status()
    except SemsearchError as exc:
        _fail(exc)
    if as_json:
        print(json.dumps(info, ensure_ascii=False))
        return
    out.print(f"index     {info['index']}", markup=False)
    out.print(f"model     {info['model']}", markup=False)
    out.print(f"documents {info['documents']}", markup=False)
    out.print(f"chunks    {info['chunks']}", markup=False)
    out.print(f"size      {info['bytes'] / 1e6:.1f} MB", markup=False)
    out.print(f"built     {info['built_at']}", markup=False)
    windows = info.get("window_chars")
    out.print("windows   " + (f"sentence windows up to {windows} characters" if windows else
                              "none (reindex --windows to add them)"), markup=False)
    out.print(f"corpus    {', '.join(info['roots'])}", markup=False)
    out.print(f"vectors   {info['vector_store']}", markup=False)
    if not info["chunker_current"]:
        out.print("chunks    cut by an earlier version of semsearch: run semsearch reindex", markup=False)
    changes = info["changes"]
    if not info["stale"] and info["chunker_current"]:
        out.print("up to date", markup=False)
    for kind in ("new", "changed", "deleted"):
        for path in changes[kind]:
            out.print(f"{kind:9} {path}", markup=False)


@app.command("eval")
def eval_(
    questions: Path = typer.Argument(..., help="Question file (JSON lines: id, q, gold; an empty gold marks an unanswerable question)."),
    index: Optional[Path] = IndexOpt, model: Optional[str] = ModelOpt, as_json: bool = JsonOpt,
    min_score: Optional[float] = typer.Option(None, "--min-score", help="The no-answer threshold to ask with (see ask --min-score): calibrate it on your own questions."),
    answers: bool = typer.Option(True, "--answers/--no-answers", help="Also ask every question: gold in the answer, no-answer precision and recall."),
) -> None:
    """Quality on a question file: hit@1, hit@5, MRR@10, and how the answers and "no answer" fare."""
    from semsearch.evaluate import evaluate, load_questions

    try:
        qs = load_questions(questions)
        idx = _open(index, model)
        _ensure_built(idx, quiet=as_json)
        with RichProgress(quiet=as_json) as progress:
            steps = sum(1 for q in qs if q.answerable) + (len(qs) if answers else 0)  # searches, then asks
            progress.start("evaluating", steps, "questions")
            result = evaluate(idx, qs, answers=answers, min_score=min_score, on_step=lambda: progress.embedded(1))
    except SemsearchError as exc:
        _fail(exc)
    if as_json:
        print(json.dumps(result, ensure_ascii=False))
        return
    from rich.table import Table

    table = Table("id", "rank", *(("answer",) if answers else ()), "top passage", "question", box=None)
    for row in result["per_question"]:
        table.add_row(row["id"], str(row["rank"] or "-"), *((row["answer"],) if answers else ()), row["top"] or "-",
                      row["q"])
    out.print(table)
    out.print(f"questions {result['questions']}  hit@1 {result['hit@1']:.3f}  hit@5 {result['hit@5']:.3f}  "
              f"MRR@10 {result['mrr@10']:.3f}  nDCG@10 {result['ndcg@10']:.3f}", markup=False)
    if answers:
        a = result["answers"]

        def share(value) -> str:
            return "-" if value is None else f"{value:.3f}"

        out.print(f"answers: gold in the answer {share(a['gold_in_answer_sentences'])}  false no-answer "
                  f"{share(a['false_no_answer_rate'])}  ·  unanswerable {a['unanswerable']}: no-answer recall "
                  f"{share(a['no_answer_recall'])}  precision {share(a['no_answer_precision'])}", markup=False)
        if a["answered_unanswerable"]:
            out.print("answered though unanswerable: " + ", ".join(a["answered_unanswerable"]), markup=False)


@app.command()
def serve(
    index: Optional[Path] = IndexOpt, model: Optional[str] = ModelOpt,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (the API has no authentication)."),
    port: int = typer.Option(8765, "--port", min=1, max=65535, help="TCP port."),
) -> None:
    """HTTP API: POST /search, POST /ask, GET /health, GET /status (schema at /openapi.json), and a web page at /."""
    try:
        idx = _open(index, model)
        _ensure_built(idx, quiet=False)
        idx.close()
    except SemsearchError as exc:
        _fail(exc)
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    import uvicorn

    from semsearch.interfaces.server import create_app

    if host not in ("127.0.0.1", "localhost", "::1"):
        err.print(f"warning: listening on {host}: anyone who can reach it can query the index (no authentication).",
                  markup=False)
    err.print(f"Serving {_index_path(index)} on http://{host}:{port} (model loading in the background; "
              f"GET /health says when ready).", markup=False)
    uvicorn.run(create_app(_index_path(index), model=model), host=host, port=port, log_level="info")


@app.command("mcp")
def mcp_(index: Optional[Path] = IndexOpt, model: Optional[str] = ModelOpt) -> None:
    """MCP server over stdio, for agents: tools search, ask and status (docs/mcp.md)."""
    try:
        from semsearch.interfaces.mcp_server import serve_stdio
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in ("mcp", "mcp_types"):
            raise
        from semsearch.errors import InputError

        _fail(InputError("semsearch mcp needs the MCP Python SDK 2.x: pip install 'mcp>=2,<3'"))

    def prepare(idx) -> None:
        # As `ask` and `search` do on first use: build a missing index from the default corpus and
        # warn when it is stale, on stderr. It runs in the background once the server is up.
        _ensure_built(idx, quiet=False)
        _check_fresh(idx, strict=False)

    serve_stdio(_index_path(index), model=model, prepare=prepare)


def _run(entry) -> None:
    # Output piped into a reader that stops early (`ask ... | head -3`) ends the process as
    # other Unix tools end, by SIGPIPE (shell status 141), instead of Click's exit 1, which
    # means "no answer" here. `serve` puts Python's SIG_IGN back: a log reader or client
    # that goes away must not stop the server.
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        try:
            entry(standalone_mode=True)
        except KeyboardInterrupt:
            err.print("interrupted", markup=False)
            sys.exit(130)
        except SemsearchError as exc:
            err.print(f"error: {exc}", markup=False)
            sys.exit(exc.exit_code)
        except Exception as exc:  # a bug: one line for the user, the traceback on request
            if os.environ.get("SEMSEARCH_DEBUG"):
                raise
            err.print(f"internal error: {type(exc).__name__}: {exc} (set SEMSEARCH_DEBUG=1 for the traceback)",
                      markup=False)
            sys.exit(70)
    except SystemExit as exc:
        _exit_now(exc.code)
    _exit_now(0)


def _exit_now(code) -> None:
    """Exit without tearing down the loaded model: freeing the tokenizer and ORT session is a
    noticeable share of a cold ``ask``. Everything a command writes is committed (SQLite) or
    renamed into place before it returns, so there is nothing left for teardown to save."""
    if code is None:
        code = 0
    elif not isinstance(code, int):
        err.print(str(code), markup=False)
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`ask ... | head`) has nothing left to receive
            pass
    os._exit(code)


def main() -> None:
    _run(app)


ask_app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
ask_app.command()(ask)


def ask_main() -> None:
    """The ``ask`` console script: same as ``semsearch ask``."""
    _run(ask_app)

