"""The index folder on disk: generations, the pointer to the live one, the writer's lock, the schema.

An index folder holds generations::

    index/
      CURRENT          name of the live generation, replaced atomically
      gen-000002/      index.sqlite + vectors.faiss, complete before CURRENT names it
      .lock            held by a reindex while it writes

A reindex writes a whole new generation beside the live one and then swaps ``CURRENT`` with
``os.replace``; readers that opened the old generation keep reading it. So a failed or killed
reindex leaves the previous index usable. FAISS row ``i`` is chunk ``id = i``.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import sqlite3
from contextlib import contextmanager
from pathlib import Path

from semsearch.errors import IndexProblem


SCHEMA_VERSION = 3


CURRENT = "CURRENT"


DB_FILE = "index.sqlite"


VECTORS_FILE = "vectors.faiss"


GEN_PATTERN = re.compile(r"^gen-(\d{6})$")


SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE documents (
    id INTEGER PRIMARY KEY, root TEXT NOT NULL, path TEXT NOT NULL,
    size INTEGER NOT NULL, mtime REAL NOT NULL, sha256 TEXT NOT NULL, encoding TEXT NOT NULL,
    UNIQUE (root, path));
CREATE TABLE chunks (
    id INTEGER PRIMARY KEY, doc_id INTEGER NOT NULL REFERENCES documents(id), ordinal INTEGER NOT NULL,
    char_start INTEGER NOT NULL, char_end INTEGER NOT NULL,
    line_start INTEGER NOT NULL, line_end INTEGER NOT NULL, page INTEGER,
    title TEXT, text TEXT NOT NULL, embed_text TEXT NOT NULL, text_hash TEXT NOT NULL);
CREATE INDEX chunks_by_doc ON chunks(doc_id);
CREATE TABLE vectors (text_hash TEXT PRIMARY KEY, vector BLOB NOT NULL);
-- Per chunk text: float16 vectors of its sentence windows (chunk.sentence_windows), row after row;
-- an empty blob when the text is a single window. Indexes built before windows lack the table.
CREATE TABLE window_vectors (text_hash TEXT PRIMARY KEY, vectors BLOB NOT NULL);
-- BM25 over keyword terms (see keyword.py); rowid = chunk id; the text itself lives in chunks.
CREATE VIRTUAL TABLE chunks_fts USING fts5(terms, content='', tokenize='unicode61 remove_diacritics 0');
-- The name keys (keyword.document_terms_and_names: pinyin readings of places, people, bodies) each article
-- contains anywhere; a passage inherits its article's names. A file may hold several articles, each closed by a
-- byline line (chunk.closes_article); articles are numbered across the whole index, in chunk order. Indexes
-- built before articles have document_names (name, doc_id) instead and scope names by file; older ones have
-- neither.
CREATE TABLE chunk_articles (chunk_id INTEGER PRIMARY KEY, article INTEGER NOT NULL);
CREATE TABLE article_names (name TEXT NOT NULL, article INTEGER NOT NULL, PRIMARY KEY (name, article)) WITHOUT ROWID;
"""


def live_generation(index_dir: Path) -> Path | None:
    pointer = index_dir / CURRENT
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise IndexProblem(f"cannot read {pointer}: {exc.strerror}") from exc
    if not GEN_PATTERN.match(name) or not (index_dir / name).is_dir():
        raise IndexProblem(f"index at {index_dir} is corrupt ({CURRENT} names {name!r}); rebuild it with: semsearch reindex --rebuild")
    return index_dir / name


def exists(index_dir: Path) -> bool:
    return (index_dir / CURRENT).is_file()


@contextmanager
def writer_lock(index_dir: Path, on_wait=None):
    """Exclusive lock that keeps two reindexes from interleaving; a second one waits (saying so)."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".lock", "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait(f"waiting for another reindex of {index_dir} to finish")
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def has_table(db: sqlite3.Connection, name: str, schema: str = "main") -> bool:
    return db.execute(f"SELECT 1 FROM {schema}.sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None


def make_live(index_dir: Path, gen: Path) -> Path:
    tmp = index_dir / f".{CURRENT}.tmp"
    tmp.write_text(gen.name + "\n", encoding="utf-8")
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, index_dir / CURRENT)
    fsync_dir(index_dir)
    # Older generations are no longer reachable; readers that opened one keep their file handles.
    for path in index_dir.iterdir():
        if path.is_dir() and GEN_PATTERN.match(path.name) and path != gen:
            shutil.rmtree(path, ignore_errors=True)
    return gen


def fsync_dir_files(path: Path) -> None:
    for f in path.iterdir():
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())
    fsync_dir(path)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
