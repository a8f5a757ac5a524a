"""Reindexing: corpus roots -> documents -> chunks -> vectors -> a new live generation.

Owns bringing an index up to date. Files whose size and mtime (or, failing
that, content hash) are unchanged keep their chunks without being re-read or
re-chunked; vectors are looked up by the hash of the exact text the model sees,
so only text never embedded before is embedded, even when it moved between
files. Everything is written as a new generation (see ``store``), so the old
index stays usable until the new one is complete.
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from semsearch import store
from semsearch.config import DEFAULTS, Settings
from semsearch.ingest.chunk import (chunk_text, document_title, embed_text_of, model_text, own_text, sentence_windows,
                                     text_hash)
from semsearch.ingest.documents import UnreadableDocument, check_roots, iter_corpus_files, page_of, read_document
from semsearch.encoders.base import Encoder
from semsearch.encoders.executor import EmbeddingExecutor, LocalExecutor
from semsearch.errors import IndexProblem
from semsearch.text.normalize import fold_text

# Chunks carry over from the previous generation only if read, cut and labelled by the same version.
CHUNKER_VERSION = "4"
WINDOW_BATCH = 256


@dataclass
class Progress:
    """Callbacks a front end can hook to show progress; all optional."""

    on_stage: Callable[[str], None] = lambda stage: None
    on_embed_start: Callable[[int], None] = lambda total: None
    on_windows_start: Callable[[int], None] = lambda total: None  # then on_embedded counts windows
    on_embedded: Callable[[int], None] = lambda n: None
    on_warning: Callable[[str], None] = lambda message: None


@dataclass
class ReindexReport:
    index: str
    model: str
    added: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    total_chunks: int = 0
    embedded: int = 0
    removed: int = 0
    seconds: float = 0.0
    skipped: list[str] = field(default_factory=list)

    def as_json(self) -> dict:
        return {"schema": 1, "index": self.index, "model": self.model,
                "files": {"added": self.added, "updated": self.updated,
                          "deleted": self.deleted, "unchanged": self.unchanged},
                "chunks": {"total": self.total_chunks, "embedded": self.embedded, "removed": self.removed},
                "seconds": round(self.seconds, 3)}


def reindex(index_dir: Path, roots: list[Path] | None, embedder: Encoder, rebuild: bool = False,
            progress: Progress | None = None, windows: bool | None = None,
            settings: Settings = DEFAULTS, executor: EmbeddingExecutor | None = None,
            vector_store: str | None = None) -> ReindexReport:
    """``windows``: embed sentence windows (True), not (False), or as the index did before (None; new: True).

    ``executor`` runs the embedding (default: ``embedder`` in this process); ``vector_store``: where the
    vectors go, "faiss" (the index folder's own file) or "milvus://HOST:PORT[/COLLECTION]" (default: where
    the live generation keeps them; new indexes: "faiss").
    """
    progress = progress or Progress()
    executor = executor or LocalExecutor(embedder)
    wanted_store = store.vector_store_name(vector_store) if vector_store else None
    max_tokens = settings.max_tokens
    started = time.perf_counter()
    with store.writer_lock(index_dir, on_wait=progress.on_warning):
        live = None
        if store.exists(index_dir):
            try:
                live = store.open_live(index_dir)
            except IndexProblem:
                if not rebuild:
                    raise
        if live is not None and roots is None:
            roots = [Path(r) for r in live.roots]
        vector_store = wanted_store or (live.vector_store if live is not None else store.LOCAL)
        store.check_vector_store(vector_store, embedder.model_id, settings)
        if live is not None and rebuild:
            live.close()
            live = None
        if live is not None and live.model != embedder.model_id:
            raise IndexProblem(
                f"index {index_dir} was built with model {live.model!r}, not {embedder.model_id!r}; "
                f"use --rebuild to rebuild it with {embedder.model_id!r}")
        # Chunks carry over only if they were cut the same way; vectors whenever the model is the same.
        same_chunking = live is not None and live.meta.get("chunker") == CHUNKER_VERSION \
            and live.meta.get("max_tokens") == str(max_tokens)
        previous = live if same_chunking else None
        if windows is None:
            windows = live is None or live.window_chars != 0
        window_chars = settings.window_chars if windows else 0
        # Windows cut another way (or an index from before windows): their vectors are made again.
        same_windows = live is not None and live.window_chars == window_chars
        if not roots:
            raise IndexProblem(f"no corpus given and none recorded in {index_dir}")
        roots = check_roots(roots)
        report = ReindexReport(index=str(index_dir), model=embedder.model_id)
        old_docs = live.documents() if live else {}
        live_precision = live.meta.get("passage_vectors", "float32") if live is not None else None
        embed_precision = embedder.passage_precision(live_precision)
        # Carried-over vectors embedded by the other graph (only when asked for: --int8/--float): --rebuild unifies.
        precision = embed_precision if live is None or live_precision == embed_precision else "mixed"
        meta = {"model": embedder.model_id, "passage_vectors": precision, "chunker": CHUNKER_VERSION, "max_tokens": str(max_tokens),
                "window_chars": str(window_chars), "vector_store": vector_store,
                "roots": json.dumps([str(r) for r in roots]), "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        writer = store.GenerationWriter(index_dir, meta, live, settings)
        try:
            touched = _scan(roots, previous is not None, old_docs, writer, embedder, report, progress, settings)
            if previous is not None and not (report.added or report.updated or report.deleted) \
                    and set(live.roots) == {str(r) for r in roots} and same_windows and live.has_article_names \
                    and live.vector_store == vector_store:
                # Nothing changed but some mtimes: record them; the live generation stays.
                writer.abort()
                store.touch_documents(live, touched)
                report.total_chunks = live.chunk_count()
                live.close()
                report.seconds = time.perf_counter() - started
                return report
            writer.reuse_vectors()
            missing = writer.missing_count()
            report.embedded = missing
            if missing:
                progress.on_stage("embedding")
                progress.on_embed_start(missing)
                batches = (([h for h, _ in batch], [model_text(t) for _, t in batch])
                           for batch in writer.missing_batches())
                for hashes, vectors in executor.map(batches, precision=embed_precision):
                    writer.add_vectors(hashes, vectors)
                    progress.on_embedded(len(hashes))
            if same_windows and window_chars:
                writer.reuse_window_vectors()
            if window_chars:
                _embed_windows(writer, executor, progress, embed_precision, window_chars)
            report.removed = writer.removed_count()
            report.total_chunks = writer.next_chunk
            dimension = _dimension(embedder, live, writer)
            writer.db.execute("INSERT OR REPLACE INTO meta VALUES ('dimension', ?)", (str(dimension),))
            if live is not None:
                live.close()
            progress.on_stage("writing")
            writer.commit(dimension, settings)
        except BaseException:
            writer.abort()
            raise
    report.seconds = time.perf_counter() - started
    return report


def _scan(roots, reuse_chunks, old_docs, writer, embedder, report, progress, settings: Settings) -> dict[int, float]:
    """Walk the corpus into ``writer``; returns new mtimes of unchanged files by old document id.

    Unchanged files keep their chunks when ``reuse_chunks`` (the chunker is the same); otherwise
    they are cut again, still counted unchanged, and their vectors are reused by text hash.
    """
    touched: dict[int, float] = {}
    seen: set[tuple[str, str]] = set()
    unsupported: list[Path] = []
    progress.on_stage("scanning")
    for root, path in (pair for r in roots for pair in iter_corpus_files(r, unsupported)):
        rel = path.relative_to(root).as_posix()
        key = (str(root), rel)
        if key in seen:
            continue
        seen.add(key)
        old = old_docs.get(key)
        try:
            stat = path.stat()
            if reuse_chunks and old and old["size"] == stat.st_size and old["mtime"] == stat.st_mtime:
                writer.copy_document(_same_document(key, old, old["mtime"]), old["id"])
                report.unchanged += 1
                continue
            doc = read_document(root, path)
        except (OSError, UnreadableDocument) as exc:
            message = f"skipped {path}: {getattr(exc, 'strerror', None) or exc}"
            report.skipped.append(message)
            progress.on_warning(message)
            continue
        if reuse_chunks and old and old["sha256"] == doc.sha256:
            writer.copy_document(_same_document(key, old, doc.mtime), old["id"])
            touched[old["id"]] = doc.mtime
            report.unchanged += 1
            continue
        if old and old["sha256"] == doc.sha256:
            report.unchanged += 1
        elif old:
            report.updated += 1
        else:
            report.added += 1
        progress.on_stage(f"chunking {rel}")
        chunks = chunk_text(doc.text, embedder.count_tokens, fold_text, max_tokens=settings.max_tokens)
        context = document_title(chunks) if settings.document_context else None
        writer.add_document(
            store.NewDocument(root=key[0], path=rel, size=doc.size, mtime=doc.mtime, sha256=doc.sha256,
                              encoding=doc.encoding),
            [{"ordinal": c.ordinal, "char_start": c.char_start, "char_end": c.char_end,
              "line_start": c.line_start, "line_end": c.line_end, "title": c.title, "text": c.text,
              "page": page_of(doc.text, c.char_start) if doc.encoding == "pdf" else None,
              "embed_text": (et := embed_text_of(c.title, c.text, context)), "text_hash": text_hash(et)} for c in chunks])
    report.deleted = len(set(old_docs) - seen)
    if unsupported:
        names = ", ".join(p.name for p in unsupported[:5]) + (", ..." if len(unsupported) > 5 else "")
        message = f"skipped {len(unsupported)} file(s) of unsupported type: {names}"
        report.skipped.append(message)
        progress.on_warning(message)
    return touched


def _embed_windows(writer: store.GenerationWriter, executor: EmbeddingExecutor, progress: Progress, precision: str,
                   window_chars: int) -> None:
    """Vectors for the sentence windows of every chunk text that has none yet (streamed, bounded memory)."""
    total = sum(len(sentence_windows(own_text(text), window_chars)) for batch in writer.missing_window_texts()
                for _, text in batch)
    if total:
        progress.on_stage("sentence windows")
        progress.on_windows_start(total)

    def groups():
        """(texts' keys with their windows, all their windows), about WINDOW_BATCH windows at a time."""
        pending: list[tuple[str, list[str]]] = []
        queued = 0
        for batch in writer.missing_window_texts():
            for key, text in batch:
                windows = sentence_windows(own_text(text), window_chars)
                pending.append((key, windows))
                queued += len(windows)
                if queued >= WINDOW_BATCH:
                    yield pending, [w for _, ws in pending for w in ws]
                    pending, queued = [], 0
        if pending:
            yield pending, [w for _, ws in pending for w in ws]

    for pending, vectors in executor.map(groups(), precision=precision):
        rows, at = [], 0
        for key, windows in pending:
            rows.append((key, vectors[at:at + len(windows)] if windows else np.zeros((0,), np.float16)))
            at += len(windows)
        writer.add_window_vectors(rows)
        if at:
            progress.on_embedded(at)


def _same_document(key: tuple[str, str], old: dict, mtime: float) -> store.NewDocument:
    return store.NewDocument(root=key[0], path=key[1], size=old["size"], mtime=mtime, sha256=old["sha256"],
                             encoding=old["encoding"])


def _dimension(embedder: Encoder, live: store.Generation | None, writer: store.GenerationWriter) -> int:
    """The length of the new generation's vectors: as the writer saw them, as the live generation (same model)
    records it, as a row holds it (rows of vectors kept in Milvus are empty), or as the model says."""
    if writer.dimension:
        return writer.dimension
    if live is not None and live.meta.get("dimension"):
        return int(live.meta["dimension"])
    row = writer.db.execute("SELECT length(vector) FROM vectors LIMIT 1").fetchone()
    if row and row[0]:
        return row[0] // 4
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return embedder.dimension


def corpus_changes(gen: store.Generation) -> dict[str, list[str]]:
    """Files new, changed or deleted since ``gen`` was built (by size/mtime, then hash)."""
    old_docs = gen.documents()
    seen: set[tuple[str, str]] = set()
    changes: dict[str, list[str]] = {"new": [], "changed": [], "deleted": []}
    for root_s in gen.roots:
        root = Path(root_s)
        if not root.exists():
            continue
        for r, path in iter_corpus_files(root):
            key = (str(r), path.relative_to(r).as_posix())
            seen.add(key)
            old = old_docs.get(key)
            if old is None:
                changes["new"].append(key[1])
                continue
            try:
                stat = path.stat()
                if old["size"] == stat.st_size and old["mtime"] == stat.st_mtime:
                    continue
                if hashlib.sha256(path.read_bytes()).hexdigest() != old["sha256"]:
                    changes["changed"].append(key[1])
            except OSError:
                changes["changed"].append(key[1])
    changes["deleted"] = sorted(p for (_, p) in set(old_docs) - seen)
    return changes

