"""Storage: one index folder = SQLite (documents, chunks, vector cache) + a FAISS file.

Owns the on-disk layout and its atomicity. An index folder holds generations::

    index/
      CURRENT          name of the live generation, replaced atomically
      gen-000002/      index.sqlite + vectors.faiss, complete before CURRENT names it
      .lock            held by a reindex while it writes

A reindex writes a whole new generation beside the live one and then swaps
``CURRENT`` with ``os.replace``; readers that opened the old generation keep
reading it. So a failed or killed reindex leaves the previous index usable.
FAISS row ``i`` is chunk ``id = i``.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from .chunk import closes_article, own_text
from .errors import IndexProblem
from .keyword import bm25_ceiling, document_terms_and_names, fts_match

SCHEMA_VERSION = 3
CURRENT = "CURRENT"
DB_FILE = "index.sqlite"
VECTORS_FILE = "vectors.faiss"
_GEN = re.compile(r"^gen-(\d{6})$")
TERM_COUNTS_KEPT = 200_000
READ_CACHE_KIB = 16 * 1024  # SQLite page cache of each reading thread's connection
# A keyword term in more than this share of the chunks is common: the first BM25 pass scores only the rows
# that also hold a rarer term (see Generation.keyword_candidates) ...
COMMON_TERM_SHARE = 0.002
# ... when the common terms' rows number at least this many: fewer cost less to score than to skip. At 100k
# chunks the passes are about even with the whole query (FTS5 p50 6.1 against 6.4 ms), at 1M they pay (13.4
# against 18.7 ms; bench/scale.py). With a 2,000-row gate, one pass only: 6.7 against 6.3 ms at 100k, 12.6
# against 18.6 at 1M (scratch).
COMMON_TERM_ROWS = 5_000
# The ceiling is computed with the chunk count as FTS5's row count; the margin covers any rounding.
CEILING_MARGIN = 1.01

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


@dataclass(frozen=True)
class ChunkRow:
    id: int
    root: str
    path: str
    char_start: int
    char_end: int
    line_start: int
    line_end: int
    page: int | None
    title: str | None
    text: str
    embed_text: str
    text_hash: str


def live_generation(index_dir: Path) -> Path | None:
    pointer = index_dir / CURRENT
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise IndexProblem(f"cannot read {pointer}: {exc.strerror}") from exc
    if not _GEN.match(name) or not (index_dir / name).is_dir():
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


class Generation:
    """A read-only view of one complete generation."""

    def __init__(self, path: Path):
        self.path = path
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._term_counts: dict[str, int] = {}
        self._name_counts: dict[str, int] = {}
        self._name_scopes: int | None = None
        self._document_count: int | None = None
        self._chunk_count: int | None = None
        try:
            self.meta = dict(self.db.execute("SELECT key, value FROM meta"))
        except sqlite3.DatabaseError as exc:
            raise IndexProblem(f"index database in {path} is unreadable ({exc}); rebuild it with: semsearch reindex --rebuild") from exc
        if int(self.meta.get("schema", 0)) != SCHEMA_VERSION:
            raise IndexProblem(f"index at {path} has schema {self.meta.get('schema')}, expected {SCHEMA_VERSION}; rebuild it with: semsearch reindex --rebuild")
        from .vectors import load_vector_index, splits_one_query

        try:
            self.faiss_index = load_vector_index(path / VECTORS_FILE)
        except RuntimeError as exc:
            raise IndexProblem(f"vector file in {path} is unreadable; rebuild it with: semsearch reindex --rebuild") from exc
        self.splits_one_query = splits_one_query(self.faiss_index)
        if self.faiss_index.ntotal != self.chunk_count():
            raise IndexProblem(f"vector file in {path} does not match its chunks; rebuild it with: semsearch reindex --rebuild")
        self.has_windows = _has_table(self.db, "window_vectors")
        self.has_document_names = _has_table(self.db, "document_names")
        self.has_article_names = _has_table(self.db, "article_names")
        self.dimension = int(self.meta.get("dimension") or self.faiss_index.d)

    @property
    def db(self) -> sqlite3.Connection:
        """This thread's read-only connection (SQLite connections must not be shared across threads)."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(f"file:{self.path / DB_FILE}?mode=ro", uri=True, check_same_thread=False)
            # A keyword query walks the posting lists of common terms again and again: kept in this cache they
            # are not read back through the OS for every query. At 1M chunks the BM25 query took p50 12.4 ms
            # with 16 MiB against 16.1 ms with SQLite's default 2 MiB (8 MiB: 15.8; 64 MiB: 13.1;
            # bench/sqlite_cache.py).
            db.execute(f"PRAGMA cache_size = -{READ_CACHE_KIB}")
            self._local.db = db
            self._connections.append(db)
        return db

    @property
    def model(self) -> str:
        return self.meta["model"]

    @property
    def window_chars(self) -> int | None:
        """Longest sentence window with a vector of its own; 0: built without; None: built before windows."""
        return int(self.meta["window_chars"]) if "window_chars" in self.meta else None

    @property
    def roots(self) -> list[str]:
        return json.loads(self.meta.get("roots", "[]"))

    def chunk_count(self) -> int:
        if self._chunk_count is None:  # a generation never changes; counting walks the whole table
            self._chunk_count = self.db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        return self._chunk_count

    def document_count(self) -> int:
        if self._document_count is None:  # a generation never changes
            self._document_count = self.db.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
        return self._document_count

    def documents(self) -> dict[tuple[str, str], dict]:
        rows = self.db.execute("SELECT id, root, path, size, mtime, sha256, encoding FROM documents")
        return {(r[1], r[2]): {"id": r[0], "size": r[3], "mtime": r[4], "sha256": r[5], "encoding": r[6]} for r in rows}

    def chunks_of(self, doc_id: int) -> list[ChunkRow]:
        return self._chunk_rows("WHERE c.doc_id = ? ORDER BY c.ordinal", (doc_id,))

    def chunks(self, ids: list[int]) -> dict[int, ChunkRow]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        return {row.id: row for row in self._chunk_rows(f"WHERE c.id IN ({marks})", tuple(int(i) for i in ids))}

    def _chunk_rows(self, where: str, params: tuple) -> list[ChunkRow]:
        sql = ("SELECT c.id, d.root, d.path, c.char_start, c.char_end, c.line_start, c.line_end, c.page, c.title, "
               "c.text, c.embed_text, c.text_hash FROM chunks c JOIN documents d ON d.id = c.doc_id " + where)
        return [ChunkRow(*row) for row in self.db.execute(sql, params)]

    def keyword_candidates(self, terms: list[str], n: int) -> list[tuple[int, float]]:
        """(chunk id, BM25 score, higher is better) of the ``n`` best chunks holding any of ``terms``.

        FTS5 computes bm25() for every row that matches, about 1.5 µs each, and at 1M chunks a question's
        common terms match tens of thousands of rows. So when they do, the rows are scored in passes, each
        with the whole query's bm25() (so every score is the one the whole query gives): first the rows
        holding one of the rarer terms. A row holding only common terms scores less than the sum of their
        ``bm25_ceiling``s; once the n-th best score so far is above that, no row left could enter the top
        ``n``, and the result is exactly the whole query's. Until then the rarest of the remaining common
        terms are taken in, enough to bring their ceiling under the n-th score, and the next pass scores
        the rows holding them that no earlier pass scored. Every row is scored at most once, but each pass
        walks the whole query's matches again, so a question that needs two passes costs more than the whole
        query (at 1M chunks, a few English questions with dozens of dictionary terms: up to 1.5x, scratch).
        bench/scale.py compares the result with the whole query's on its 280 questions at 100k and 1M chunks.
        """
        terms = list(dict.fromkeys(terms))
        match = fts_match(terms)
        if match is None:
            return []
        rows = self.chunk_count()
        counts = self.term_document_counts(terms)
        common = sorted((t for t in terms if counts[t] > COMMON_TERM_SHARE * rows), key=lambda t: counts[t])
        covered = [t for t in terms if t not in common]
        if sum(counts[t] for t in common) < COMMON_TERM_ROWS or not covered:
            return self._bm25(match, n)
        ceilings = {t: bm25_ceiling(counts[t], rows) for t in common}
        found = self._bm25(match, n, fts_match(covered))
        while True:
            floor = found[n - 1][1] if len(found) >= n else 0.0
            taken = []
            while common and sum(ceilings[t] for t in common) * CEILING_MARGIN >= floor:
                taken.append(common.pop(0))
            if not taken:
                return found[:n]
            found = sorted(found + self._bm25(match, n, f"({fts_match(taken)}) NOT ({fts_match(covered)})"),
                           key=lambda pair: -pair[1])
            covered += taken

    def _bm25(self, match: str, n: int, within: str | None = None) -> list[tuple[int, float]]:
        """The top ``n`` rows of ``match`` by bm25(); ``within``: only rows that also match this expression."""
        if within is None:
            rows = self.db.execute("SELECT rowid, bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ? "
                                   "ORDER BY bm25(chunks_fts) LIMIT ?", (match, n))
        else:
            # "+rowid": filter the rows of the outer match by the inner one's rowids; a plain "rowid IN" makes
            # SQLite run the outer match once per inner rowid, which took seconds at 1M chunks.
            rows = self.db.execute("SELECT rowid, bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ? "
                                   "AND +rowid IN (SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ?) "
                                   "ORDER BY bm25(chunks_fts) LIMIT ?", (match, within, n))
        return [(int(rowid), -float(score)) for rowid, score in rows]

    def term_document_counts(self, terms: list[str]) -> dict[str, int]:
        """How many chunks contain each keyword term (0 for terms the corpus never uses).

        A generation never changes, so counts are remembered: one question asks for the same
        terms from search, the no-answer check and the answer (an English one for dozens of
        translations), and counting a common term walks its whole posting list.
        """
        known = self._term_counts  # shared by threads: read each value once, never assume it stays
        counts = {t: known.get(t) for t in terms}
        missing = [t for t, n in counts.items() if n is None]
        if missing:
            if not getattr(self._local, "vocab_ready", False):
                self.db.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.vocab USING fts5vocab(main, chunks_fts, row)")
                self._local.vocab_ready = True
            found = dict.fromkeys(missing, 0)
            for start in range(0, len(missing), 500):
                part = missing[start:start + 500]
                marks = ",".join("?" * len(part))
                found.update(self.db.execute(f"SELECT term, doc FROM temp.vocab WHERE term IN ({marks})", part))
            counts.update(found)
            if len(known) > TERM_COUNTS_KEPT:
                known.clear()  # a long-running server meets ever new terms: start over rather than grow
            known.update(found)
        return counts

    def names_by_chunk(self, ids: list[int], names: set[str]) -> tuple[dict[str, int], dict[int, set[str]]]:
        """How many articles (in indexes built before articles: files) contain each of ``names`` (name
        keys; those none has are left out), and which of them each chunk's article contains (chunks with none
        are left out)."""
        if not ids or not names or not (self.has_article_names or self.has_document_names):
            return {}, {}
        table, scope = ("article_names", "article") if self.has_article_names else ("document_names", "doc_id")
        known = self._name_counts  # shared by threads, as _term_counts
        counts = {n: known.get(n) for n in names}
        missing = sorted(n for n, c in counts.items() if c is None)
        if missing:
            found = dict(self.db.execute(
                f"SELECT value, (SELECT COUNT(*) FROM {table} WHERE name = value) FROM json_each(?)",
                (json.dumps(missing),)))
            counts.update(found)
            if len(known) > TERM_COUNTS_KEPT:
                known.clear()
            known.update(found)
        present = {n: c for n, c in counts.items() if c}
        if not present:
            return {}, {}
        marks = ",".join("?" * len(ids))
        scope_sql = ("SELECT chunk_id, article FROM chunk_articles WHERE chunk_id IN" if self.has_article_names
                     else "SELECT id, doc_id FROM chunks WHERE id IN")
        scope_of = dict(self.db.execute(f"{scope_sql} ({marks})", [int(i) for i in ids]))
        names_of: dict[int, set[str]] = {}
        # Seeks on (name, scope): a name thousands of articles hold is never walked here.
        for name, where in self.db.execute(
                f"SELECT name, {scope} FROM {table} WHERE name IN (SELECT value FROM json_each(?)) "
                f"AND {scope} IN (SELECT value FROM json_each(?))",
                (json.dumps(sorted(present)), json.dumps(sorted(set(scope_of.values()))))):
            names_of.setdefault(where, set()).add(name)
        return present, {cid: names_of[where] for cid, where in scope_of.items() if where in names_of}

    def name_scope_count(self) -> int:
        """How many articles (in indexes built before articles: files) names are counted over."""
        if self._name_scopes is None:  # a generation never changes
            # Articles are numbered 0, 1, ... in chunk order (GenerationWriter.commit): the last chunk's is the
            # highest, read by one seek rather than a scan of every chunk.
            last = (self.db.execute("SELECT article FROM chunk_articles ORDER BY chunk_id DESC LIMIT 1").fetchone()
                    if self.has_article_names else None)
            self._name_scopes = last[0] + 1 if last else self.document_count()
        return self._name_scopes

    def cached_vectors(self, hashes: set[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        hashes = list(hashes)
        for start in range(0, len(hashes), 500):
            part = hashes[start:start + 500]
            marks = ",".join("?" * len(part))
            for h, blob in self.db.execute(f"SELECT text_hash, vector FROM vectors WHERE text_hash IN ({marks})", part):
                out[h] = np.frombuffer(blob, dtype=np.float32)
        return out

    def window_vectors(self, ids: list[int]) -> dict[int, np.ndarray]:
        """Sentence-window vectors (float16, one row per window) of those chunks that have several windows."""
        return self._windows("SELECT c.id, w.vectors FROM chunks c JOIN window_vectors w ON w.text_hash = c.text_hash "
                             "WHERE c.id IN ({}) AND length(w.vectors) > 0", [int(i) for i in ids])

    def window_vectors_of_texts(self, hashes: list[str]) -> dict[str, np.ndarray]:
        """Sentence-window vectors by chunk text hash (those with several windows), as ``window_vectors``."""
        return self._windows("SELECT text_hash, vectors FROM window_vectors WHERE text_hash IN ({}) "
                             "AND length(vectors) > 0", list(hashes))

    def _windows(self, sql: str, keys: list) -> dict:
        if not keys or not self.has_windows:
            return {}
        rows = self.db.execute(sql.format(",".join("?" * len(keys))), tuple(keys))
        return {key: np.frombuffer(blob, dtype=np.float16).reshape(-1, self.dimension) for key, blob in rows}

    def size_on_disk(self) -> int:
        return sum(f.stat().st_size for f in self.path.iterdir() if f.is_file())

    def close(self) -> None:
        for db in self._connections:
            db.close()
        self._connections.clear()
        self._local = threading.local()


def open_live(index_dir: Path) -> Generation | None:
    """The live generation, or None when there is no index yet."""
    for _attempt in range(3):
        path = live_generation(index_dir)
        if path is None:
            return None
        try:
            return Generation(path)
        except IndexProblem:
            # A reindex may have replaced and removed this generation between our
            # reading CURRENT and opening it: read CURRENT again before giving up.
            if live_generation(index_dir) == path:
                raise
    raise IndexProblem(f"index at {index_dir} keeps changing under us; try again")


@dataclass
class NewDocument:
    root: str
    path: str
    size: int
    mtime: float
    sha256: str
    encoding: str


CHUNK_COLUMNS = ("ordinal", "char_start", "char_end", "line_start", "line_end", "page", "title", "text",
                 "embed_text", "text_hash")
_BATCH = 256


class GenerationWriter:
    """Builds the next generation beside the live one, streaming rows through SQLite.

    Memory stays bounded by a batch whatever the corpus size: documents and chunks
    go straight to the new database, vectors of unchanged text are copied from the
    previous generation inside SQLite, and only text never embedded before is
    handed out (shortest first) to be embedded. ``commit`` builds the keyword and
    vector indexes and then makes the generation live in one rename.
    """

    def __init__(self, index_dir: Path, meta: dict[str, str], previous: Generation | None):
        self.index_dir = index_dir
        numbers = [int(m.group(1)) for p in index_dir.iterdir() if (m := _GEN.match(p.name))]
        self.path = index_dir / f"gen-{max(numbers, default=0) + 1:06d}"
        self.path.mkdir()
        self.db = sqlite3.connect(f"file:{self.path / DB_FILE}", uri=True)
        self.db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + SCHEMA)
        self.db.executemany("INSERT INTO meta VALUES (?, ?)", [("schema", str(SCHEMA_VERSION)), *meta.items()])
        self.has_previous = previous is not None
        if previous is not None:
            self.db.execute("ATTACH DATABASE ? AS old", (f"file:{previous.path / DB_FILE}?mode=ro",))
        self.next_doc = 0
        self.next_chunk = 0

    def add_document(self, doc: NewDocument, chunks: list[dict]) -> None:
        doc_id = self._insert_document(doc)
        rows = []
        for c in chunks:
            rows.append((self.next_chunk, doc_id, *(c.get(k) for k in CHUNK_COLUMNS)))
            self.next_chunk += 1
        self.db.executemany(f"INSERT INTO chunks VALUES ({','.join('?' * (2 + len(CHUNK_COLUMNS)))})", rows)

    def copy_document(self, doc: NewDocument, old_doc_id: int) -> None:
        """Carry a document and its chunks over from the previous generation unchanged."""
        doc_id = self._insert_document(doc)
        cols = ", ".join(CHUNK_COLUMNS)
        cur = self.db.execute(f"INSERT INTO chunks (id, doc_id, {cols}) SELECT ? + ordinal, ?, {cols} "
                              "FROM old.chunks WHERE doc_id = ? ORDER BY ordinal", (self.next_chunk, doc_id, old_doc_id))
        self.next_chunk += cur.rowcount

    def _insert_document(self, doc: NewDocument) -> int:
        doc_id = self.next_doc
        self.db.execute("INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (doc_id, doc.root, doc.path, doc.size, doc.mtime, doc.sha256, doc.encoding))
        self.next_doc += 1
        return doc_id

    def reuse_vectors(self) -> None:
        if self.has_previous:
            self.db.execute("INSERT OR IGNORE INTO vectors SELECT v.text_hash, v.vector FROM old.vectors v "
                            "WHERE v.text_hash IN (SELECT text_hash FROM chunks)")

    def reuse_window_vectors(self) -> None:
        """Carry over window vectors of unchanged text; callers check the windows were cut the same way."""
        if self.has_previous and _has_table(self.db, "window_vectors", schema="old"):
            self.db.execute("INSERT OR IGNORE INTO window_vectors SELECT w.text_hash, w.vectors FROM old.window_vectors w "
                            "WHERE w.text_hash IN (SELECT text_hash FROM chunks)")

    def missing_window_texts(self, size: int = _BATCH):
        """Lists of (text hash, chunk text) whose windows were never embedded, in batches."""
        return self._texts_missing_from("window_vectors", size)

    def _texts_missing_from(self, table: str, size: int, order: str = "") -> Iterator[list[tuple[str, str]]]:
        """Distinct (text hash, chunk text) with no row in ``table``, fetched ``size`` at a time."""
        self.db.execute(f"DROP TABLE IF EXISTS temp.todo_{table}")
        self.db.execute(f"CREATE TEMP TABLE todo_{table} AS SELECT c.text_hash AS h, MIN(c.embed_text) AS t FROM chunks c "
                        f"LEFT JOIN {table} v ON v.text_hash = c.text_hash WHERE v.text_hash IS NULL "
                        f"GROUP BY c.text_hash {order}")
        cursor = self.db.execute(f"SELECT h, t FROM temp.todo_{table} ORDER BY rowid")
        while batch := cursor.fetchmany(size):
            yield batch

    def add_window_vectors(self, rows: list[tuple[str, np.ndarray]]) -> None:
        self.db.executemany("INSERT OR REPLACE INTO window_vectors VALUES (?, ?)",
                            ((h, np.asarray(v, dtype=np.float16).tobytes()) for h, v in rows))

    def missing_count(self) -> int:
        return self.db.execute("SELECT COUNT(DISTINCT c.text_hash) FROM chunks c LEFT JOIN vectors v "
                               "ON v.text_hash = c.text_hash WHERE v.text_hash IS NULL").fetchone()[0]

    def missing_batches(self, size: int = _BATCH):
        """Lists of (text hash, text to embed) never embedded before, shortest texts first."""
        return self._texts_missing_from("vectors", size, order="ORDER BY length(t)")

    def add_vectors(self, hashes: list[str], vectors: np.ndarray) -> None:
        self.db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?)",
                            ((h, np.asarray(v, dtype=np.float32).tobytes()) for h, v in zip(hashes, vectors)))

    def removed_count(self) -> int:
        """Chunks of the previous generation that are not in this one (same file, place and text)."""
        if not self.has_previous:
            return 0
        return self.db.execute(
            "SELECT COUNT(*) FROM old.chunks oc JOIN old.documents od ON od.id = oc.doc_id WHERE NOT EXISTS ("
            "SELECT 1 FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE d.root = od.root AND d.path = od.path "
            "AND c.char_start = oc.char_start AND c.text_hash = oc.text_hash)").fetchone()[0]

    def commit(self, dimension: int) -> Path:
        from .vectors import build_vector_index

        article, last_doc, closed = -1, None, False
        for start in range(0, self.next_chunk, _BATCH):
            rows = self.db.execute("SELECT id, doc_id, embed_text FROM chunks WHERE id >= ? AND id < ? ORDER BY id",
                                   (start, start + _BATCH)).fetchall()
            fts, articles, article_names = [], [], set()
            for cid, doc_id, text in rows:
                own = own_text(text)
                # Chunk ids run through each document in order, so an article is the run of a document's
                # chunks up to one that closes it with a byline.
                if doc_id != last_doc or closed:
                    article += 1
                last_doc, closed = doc_id, closes_article(own)
                terms, names = document_terms_and_names(own)
                fts.append((cid, terms))
                articles.append((cid, article))
                article_names.update((name, article) for name in names)
            self.db.executemany("INSERT INTO chunks_fts (rowid, terms) VALUES (?, ?)", fts)
            self.db.executemany("INSERT INTO chunk_articles VALUES (?, ?)", articles)
            self.db.executemany("INSERT OR IGNORE INTO article_names VALUES (?, ?)", article_names)
        self.db.commit()
        if self.has_previous:
            self.db.execute("DETACH DATABASE old")

        def blocks(size: int = 4096):
            for start in range(0, self.next_chunk, size):
                rows = self.db.execute("SELECT v.vector FROM chunks c JOIN vectors v ON v.text_hash = c.text_hash "
                                       "WHERE c.id >= ? AND c.id < ? ORDER BY c.id", (start, start + size)).fetchall()
                yield np.frombuffer(b"".join(r[0] for r in rows), dtype=np.float32).reshape(len(rows), dimension)

        def sample(size: int) -> np.ndarray:
            # A fixed seed: the same chunks give the same index.
            ids = np.sort(np.random.default_rng(0).choice(self.next_chunk, size=size, replace=False))
            parts = []
            for start in range(0, len(ids), 900):  # SQLite allows 999 parameters per statement
                part = [int(i) for i in ids[start:start + 900]]
                rows = self.db.execute("SELECT v.vector FROM chunks c JOIN vectors v ON v.text_hash = c.text_hash "
                                       f"WHERE c.id IN ({','.join('?' * len(part))})", part).fetchall()
                parts.append(np.frombuffer(b"".join(r[0] for r in rows), dtype=np.float32).reshape(len(rows), dimension))
            return np.vstack(parts)

        build_vector_index(self.next_chunk, dimension, blocks(), self.path / VECTORS_FILE, sample)
        self.db.execute("PRAGMA journal_mode=DELETE")
        self.db.close()
        _fsync_dir_files(self.path)
        return _make_live(self.index_dir, self.path)

    def abort(self) -> None:
        try:
            self.db.close()
        finally:
            shutil.rmtree(self.path, ignore_errors=True)


def _has_table(db: sqlite3.Connection, name: str, schema: str = "main") -> bool:
    return db.execute(f"SELECT 1 FROM {schema}.sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None


def touch_documents(gen: Generation, mtimes: dict[int, float]) -> None:
    """Record new mtimes of files whose content did not change, in place (one transaction)."""
    db = sqlite3.connect(gen.path / DB_FILE)
    try:
        with db:
            db.executemany("UPDATE documents SET mtime = ? WHERE id = ?", [(m, i) for i, m in mtimes.items()])
    finally:
        db.close()


def _make_live(index_dir: Path, gen: Path) -> Path:
    tmp = index_dir / f".{CURRENT}.tmp"
    tmp.write_text(gen.name + "\n", encoding="utf-8")
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, index_dir / CURRENT)
    _fsync_dir(index_dir)
    # Older generations are no longer reachable; readers that opened one keep their file handles.
    for path in index_dir.iterdir():
        if path.is_dir() and _GEN.match(path.name) and path != gen:
            shutil.rmtree(path, ignore_errors=True)
    return gen


def _fsync_dir_files(path: Path) -> None:
    for f in path.iterdir():
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())
    _fsync_dir(path)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
