"""Writing the next generation: documents, chunks, vectors, keyword terms, then one rename makes it live."""

from __future__ import annotations

import json
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from semsearch.analysis.keyword import document_terms_and_names
from semsearch.config import DEFAULTS, Settings
from semsearch.ingest.chunk import closes_article, own_text
from semsearch.store.generation import Generation
from semsearch.store.layout import (DB_FILE, GEN_PATTERN, SCHEMA, SCHEMA_VERSION, VECTORS_FILE, fsync_dir_files,
                                    has_table, make_live)
from semsearch.store import milvus_sync
from semsearch.store.milvus import BATCH as STORE_BATCH
from semsearch.store.vector_index import LOCAL
from semsearch.store.vectors import build_vector_index


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

    A ``vectors`` row says a text has a vector. With the vectors in the local FAISS file the row holds it;
    with them in Milvus it holds an empty blob (the vector is in the collection: sent as soon as it is
    embedded, ``milvus_sync.Outbox``), so the folder keeps no float32 vector.
    """

    def __init__(self, index_dir: Path, meta: dict[str, str], previous: Generation | None,
                 settings: Settings = DEFAULTS):
        self.index_dir = index_dir
        self.store = meta.get("vector_store", LOCAL)
        self.settings = settings
        self.dimension: int | None = None  # as seen here: rows of vectors in Milvus are empty, so cannot tell
        self.outbox = (milvus_sync.Outbox(index_dir, self.store, meta.get("model", ""), settings)
                       if self.store != LOCAL else None)
        self.previous_store = previous.vector_store if previous is not None else None
        self.fetch_previous = (milvus_sync.Fetcher(self.previous_store, previous.model, previous.dimension, settings)
                               if previous is not None and self.previous_store not in (LOCAL, self.store) else None)
        numbers = [int(m.group(1)) for p in index_dir.iterdir() if (m := GEN_PATTERN.match(p.name))]
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
        """Rows for the texts whose vectors are known already: in the previous generation's store, or in Milvus."""
        same = self.has_previous and self.previous_store == self.store
        if same:
            # Every text of a live generation has its row in its collection: an empty blob says so.
            value = "v.vector" if self.store == LOCAL else "x''"
            self.db.execute(f"INSERT OR IGNORE INTO vectors SELECT v.text_hash, {value} FROM old.vectors v "
                            "WHERE v.text_hash IN (SELECT text_hash FROM chunks)")
        if self.outbox is not None and self.outbox.holds_rows():
            # Sent by a reindex that was killed, or kept from before a switch of store: neither embedded nor sent.
            for part in self._texts_missing_from("vectors", STORE_BATCH):
                found = self.outbox.present([h for h, _ in part])
                self.db.executemany("INSERT INTO vectors VALUES (?, x'')", ((h,) for h in sorted(found)))
        if self.has_previous and not same:
            self._carry_across()

    def _carry_across(self) -> None:
        """The previous generation's vectors, kept in another store than this one's (its own rows, or its
        collection), for the texts still without a row: brought into this generation's store in batches."""
        self.db.execute("DROP TABLE IF EXISTS temp.carry")
        self.db.execute("CREATE TEMP TABLE carry AS SELECT v.text_hash AS h FROM old.vectors v "
                        "WHERE v.text_hash IN (SELECT text_hash FROM chunks) "
                        "AND v.text_hash NOT IN (SELECT text_hash FROM vectors)")
        cursor = self.db.execute("SELECT h FROM temp.carry ORDER BY rowid")
        while part := [row[0] for row in cursor.fetchmany(STORE_BATCH)]:
            rows = dict(self.db.execute("SELECT text_hash, vector FROM old.vectors "
                                        "WHERE text_hash IN (SELECT value FROM json_each(?))", (json.dumps(part),)))
            found = {h: np.frombuffer(blob, dtype=np.float32) for h, blob in rows.items() if blob}
            if self.fetch_previous is not None:
                found.update(self.fetch_previous([h for h in part if not rows.get(h)]))
            hashes = [h for h in part if h in found]  # the others are embedded again
            if hashes:
                self.add_vectors(hashes, np.stack([found[h] for h in hashes]))
        self.db.execute("DROP TABLE temp.carry")

    def reuse_window_vectors(self) -> None:
        """Carry over window vectors of unchanged text; callers check the windows were cut the same way."""
        if self.has_previous and has_table(self.db, "window_vectors", schema="old"):
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
        """Vectors of texts without a row (so, with the vectors in Milvus, texts the collection lacks)."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if len(hashes):
            self.dimension = int(vectors.shape[1])
        if self.outbox is not None:
            self.outbox.send(list(hashes), vectors)
            self.db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, x'')", ((h,) for h in hashes))
            return
        self.db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?)",
                            ((h, v.tobytes()) for h, v in zip(hashes, vectors)))

    def removed_count(self) -> int:
        """Chunks of the previous generation that are not in this one (same file, place and text)."""
        if not self.has_previous:
            return 0
        return self.db.execute(
            "SELECT COUNT(*) FROM old.chunks oc JOIN old.documents od ON od.id = oc.doc_id WHERE NOT EXISTS ("
            "SELECT 1 FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE d.root = od.root AND d.path = od.path "
            "AND c.char_start = oc.char_start AND c.text_hash = oc.text_hash)").fetchone()[0]

    def commit(self, dimension: int, settings: Settings = DEFAULTS) -> Path:
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

        self._close_stores()
        if self.store != LOCAL:
            # Vectors in Milvus: every row this generation needs is there before it goes live.
            meta = self.db.execute("SELECT value FROM meta WHERE key = 'model'").fetchone()
            entries = milvus_sync.publish(self.db, self.index_dir, self.store, meta[0], dimension, settings)
            self.db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", entries.items())
            self.db.commit()
        else:
            build_vector_index(self.next_chunk, dimension, blocks(), self.path / VECTORS_FILE, sample, settings)
        self.db.execute("PRAGMA journal_mode=DELETE")
        self.db.close()
        fsync_dir_files(self.path)
        live = make_live(self.index_dir, self.path)
        if self.store != LOCAL:
            milvus_sync.remove_orphans(self.index_dir, live, self.store, settings)
        return live

    def abort(self) -> None:
        """Drop the unfinished generation; rows it sent to Milvus are journalled, so the next reindex deletes them."""
        try:
            self._close_stores()
            self.db.close()
        finally:
            shutil.rmtree(self.path, ignore_errors=True)

    def _close_stores(self) -> None:
        for link in (self.outbox, self.fetch_previous):
            if link is not None:
                link.close()


def touch_documents(gen: Generation, mtimes: dict[int, float]) -> None:
    """Record new mtimes of files whose content did not change, in place (one transaction)."""
    db = sqlite3.connect(gen.path / DB_FILE)
    try:
        with db:
            db.executemany("UPDATE documents SET mtime = ? WHERE id = ?", [(m, i) for i, m in mtimes.items()])
    finally:
        db.close()
