"""Reading one generation of an index: chunks, keyword search (BM25 over FTS5), vectors, names."""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from semsearch.analysis.keyword import bm25_ceiling, fts_match
from semsearch.config import DEFAULTS, Settings
from semsearch.errors import IndexProblem
from semsearch.store.layout import DB_FILE, SCHEMA_VERSION, has_table, live_generation
from semsearch.store.vector_index import FaissVectors, open_vector_index
from semsearch.text.normalize import to_simplified
from semsearch.text.script import has_cjk

TEXT_SAMPLE = 200

TERM_COUNTS_KEPT = 200_000
READ_CACHE_KIB = 16 * 1024  # SQLite page cache of each reading thread's connection
# The ceiling is computed with the chunk count as FTS5's row count; the margin covers any rounding.
CEILING_MARGIN = 1.01


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


class Generation:
    """A read-only view of one complete generation."""

    def __init__(self, path: Path, settings: Settings = DEFAULTS):
        self.path = path
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._term_counts: dict[str, int] = {}
        self._name_counts: dict[str, int] = {}
        self._name_scopes: int | None = None
        self._traditional: bool | None = None
        self._document_count: int | None = None
        self._chunk_count: int | None = None
        try:
            self.meta = dict(self.db.execute("SELECT key, value FROM meta"))
        except sqlite3.DatabaseError as exc:
            raise IndexProblem(f"index database in {path} is unreadable ({exc}); rebuild it with: semsearch reindex --rebuild") from exc
        if int(self.meta.get("schema", 0)) != SCHEMA_VERSION:
            raise IndexProblem(f"index at {path} has schema {self.meta.get('schema')}, expected {SCHEMA_VERSION}; rebuild it with: semsearch reindex --rebuild")
        self.vectors = open_vector_index(path, self.meta, lambda: self.db, self.chunk_count(), settings)
        self.splits_one_query = self.vectors.splits_one_query
        if isinstance(self.vectors, FaissVectors) and self.vectors.ntotal != self.chunk_count():
            raise IndexProblem(f"vector file in {path} does not match its chunks; rebuild it with: semsearch reindex --rebuild")
        self.has_windows = has_table(self.db, "window_vectors")
        self.has_document_names = has_table(self.db, "document_names")
        self.has_article_names = has_table(self.db, "article_names")
        self.dimension = int(self.meta.get("dimension") or self.vectors.dimension)

    @property
    def db(self) -> sqlite3.Connection:
        """This thread's read-only connection (SQLite connections must not be shared across threads)."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(f"file:{self.path / DB_FILE}?mode=ro", uri=True, check_same_thread=False)
            # A keyword query walks the posting lists of common terms again and again: cached, they are not
            # read back through the OS for every query (docs/decisions.md, "SQLite page cache").
            db.execute(f"PRAGMA cache_size = -{READ_CACHE_KIB}")
            self._local.db = db
            self._connections.append(db)
        return db

    @property
    def faiss_index(self):
        """The FAISS index of a generation whose vectors are in its own file (benchmarks swap it)."""
        return self.vectors.index

    @faiss_index.setter
    def faiss_index(self, index) -> None:
        self.vectors.index = index

    @property
    def vector_store(self) -> str:
        return self.meta.get("vector_store", "faiss")

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

    def written_in_traditional(self) -> bool:
        """Whether most of the text is in Traditional characters, judged on up to ``TEXT_SAMPLE`` chunks spread
        evenly over the index (a text is in one script or the other: a sample decides it)."""
        if self._traditional is None:  # a generation never changes
            first, last = self.db.execute("SELECT MIN(id), MAX(id) FROM chunks").fetchone()
            ids = sorted({first + i * (last - first) // TEXT_SAMPLE for i in range(TEXT_SAMPLE)} | {last}) \
                if first is not None else []
            texts = [row[0] for row in self.db.execute(
                f"SELECT text FROM chunks WHERE id IN ({','.join('?' * len(ids))})", ids)] if ids else []
            chinese = [text for text in texts if has_cjk(text)]
            self._traditional = sum(to_simplified(text) != text for text in chinese) * 2 > len(chinese) > 0
        return self._traditional

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

    def keyword_candidates(self, terms: list[str], n: int, common_share: float = DEFAULTS.common_term_share,
                           common_rows: int = DEFAULTS.common_term_rows) -> list[tuple[int, float]]:
        """(chunk id, BM25 score, higher is better) of the ``n`` best chunks holding any of ``terms``.

        FTS5 computes bm25() for every row that matches, and in a large index a question's common terms
        match a great many rows. So when they do, the rows are scored in passes, each with the whole
        query's bm25() (so every score is the one the whole query gives): first the rows holding one of
        the rarer terms. A row holding only common terms scores less than the sum of their ``bm25_ceiling``s;
        once the n-th best score so far is above that, no row left could enter the top ``n``, and the result
        is exactly the whole query's. Until then the rarest of the remaining common terms are taken in,
        enough to bring their ceiling under the n-th score, and the next pass scores the rows holding them
        that no earlier pass scored. Every row is scored at most once, but each pass walks the whole query's
        matches again. ``common_share`` and ``common_rows`` decide when a term is common (docs/decisions.md).
        """
        terms = list(dict.fromkeys(terms))
        match = fts_match(terms)
        if match is None:
            return []
        rows = self.chunk_count()
        counts = self.term_document_counts(terms)
        common = sorted((t for t in terms if counts[t] > common_share * rows), key=lambda t: counts[t])
        covered = [t for t in terms if t not in common]
        if sum(counts[t] for t in common) < common_rows or not covered:
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
            # SQLite run the outer match once per inner rowid, far too slow in a large index.
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
        """Passage vectors by text hash: from the ``vectors`` table, or (an empty row) from the vector store."""
        out: dict[str, np.ndarray] = {}
        elsewhere: list[str] = []
        hashes = list(hashes)
        for start in range(0, len(hashes), 500):
            part = hashes[start:start + 500]
            marks = ",".join("?" * len(part))
            for h, blob in self.db.execute(f"SELECT text_hash, vector FROM vectors WHERE text_hash IN ({marks})", part):
                if blob:
                    out[h] = np.frombuffer(blob, dtype=np.float32)
                else:
                    elsewhere.append(h)
        if elsewhere:
            out.update(self.vectors.vectors_of(elsewhere))
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
        self.vectors.close()
        for db in self._connections:
            db.close()
        self._connections.clear()
        self._local = threading.local()


def open_live(index_dir: Path, settings: Settings = DEFAULTS) -> Generation | None:
    """The live generation, or None when there is no index yet."""
    for _attempt in range(3):
        path = live_generation(index_dir)
        if path is None:
            return None
        try:
            return Generation(path, settings)
        except IndexProblem:
            # A reindex may have replaced and removed this generation between our
            # reading CURRENT and opening it: read CURRENT again before giving up.
            if live_generation(index_dir) == path:
                raise
    raise IndexProblem(f"index at {index_dir} keeps changing under us; try again")


