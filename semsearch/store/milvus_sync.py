"""Bringing a Milvus collection in line with a new generation, in the order that keeps every state answerable.

1. before the generation goes live: the hashes it uses that the collection lacks are inserted
   (a hash the previous generation used is known to be there; others are looked up, so rows sent by
   a reindex that was killed are not sent again);
2. the generation goes live (one rename, as always);
3. after: hashes no live generation uses are deleted.

Every hash inserted, and every hash the new generation drops, is first written to a journal in the
index folder (``milvus-pending``). The journal is cleared once step 3 is done; a reindex killed at any
point leaves it behind, and the next reindex deletes the rows it names that its own generation does not use.
So a killed reindex leaves the previous generation answering correctly (its rows are all there), and
orphans last only until the next reindex.

The index folder keeps no vector the collection has: its ``vectors`` row for such a text is an empty blob.
So step 1 mostly happens while the generation is written: ``Outbox`` sends vectors as they are embedded
(journalled first, as above) and says which texts the collection already has; ``publish`` then checks.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

import numpy as np

from semsearch.config import DEFAULTS, Settings
from semsearch.errors import IndexProblem
from semsearch.store.layout import DB_FILE, live_generation
from semsearch.store.milvus import BATCH, MilvusStore

JOURNAL = "milvus-pending"


def _journal(index_dir: Path, hashes: list[str]) -> None:
    if not hashes:
        return
    with open(index_dir / JOURNAL, "a", encoding="ascii") as fh:
        fh.write("".join(h + "\n" for h in hashes))
        fh.flush()
        os.fsync(fh.fileno())


class Outbox:
    """The collection as seen by a reindex while it writes its generation: what it has, and sending what it lacks."""

    def __init__(self, index_dir: Path, url: str, model: str, settings: Settings = DEFAULTS):
        self.index_dir, self.url, self.model, self.settings = index_dir, url, model, settings
        self._milvus: MilvusStore | None = None
        self._ensured = False

    @property
    def milvus(self) -> MilvusStore:
        if self._milvus is None:
            self._milvus = MilvusStore.connect(self.url, self.settings)
        return self._milvus

    def holds_rows(self) -> bool:
        """Whether the collection exists and holds any row (else no text needs looking up)."""
        if self.milvus._description() is None:
            return False
        self.milvus.ensure_loaded()
        return self.milvus.count() > 0

    def present(self, hashes: list[str]) -> set[str]:
        return self.milvus.present(hashes)

    def send(self, hashes: list[str], vectors: np.ndarray) -> None:
        """Insert rows the collection lacks (callers make sure of that), each hash journalled first."""
        if not hashes:
            return
        if not self._ensured:
            self.milvus.ensure(self.model, int(np.asarray(vectors).shape[1]))
            self._ensured = True
        _journal(self.index_dir, hashes)
        self.milvus.insert([(hashes, vectors)])

    def close(self) -> None:
        if self._milvus is not None:
            self._milvus.close()
            self._milvus = None


class Fetcher:
    """Vectors by hash from the collection a previous generation kept them in (a reindex into another store).

    A collection that cannot be read gives none from then on: those texts are embedded again.
    """

    def __init__(self, url: str, model: str, dimension: int, settings: Settings = DEFAULTS):
        self.url, self.model, self.dimension, self.settings = url, model, dimension, settings
        self._milvus: MilvusStore | None = None
        self._failed = False

    def __call__(self, hashes: list[str]) -> dict[str, np.ndarray]:
        if self._failed or not hashes:
            return {}
        try:
            if self._milvus is None:
                self._milvus = MilvusStore.connect(self.url, self.settings)
                self._milvus.check_model(self.model, self.dimension)
                self._milvus.ensure_loaded()
            return self._milvus.vectors(hashes)
        except IndexProblem:
            self._failed = True
            self.close()
            return {}

    def close(self) -> None:
        if self._milvus is not None:
            self._milvus.close()
            self._milvus = None


def publish(db: sqlite3.Connection, index_dir: Path, url: str, model: str, dimension: int,
            settings: Settings = DEFAULTS) -> dict[str, str]:
    """Step 1 for the generation being written in ``db``; returns its meta entries (store, search parameters).

    Returns once every hash of ``db``'s chunks has a row in the collection, and no row of its ``vectors`` table
    holds a vector (a row with one, carried from an index that kept them itself, is sent if need be, then emptied).
    """
    milvus = MilvusStore.connect(url, settings)
    try:
        milvus.ensure(model, dimension)
        db.execute("CREATE INDEX IF NOT EXISTS chunks_by_hash ON chunks(text_hash)")
        previous = _previous_db(index_dir, milvus.url)
        if previous is not None:
            db.execute("ATTACH DATABASE ? AS prev", (f"file:{previous}?mode=ro",))
            unknown = ("SELECT DISTINCT c.text_hash FROM chunks c WHERE NOT EXISTS "
                       "(SELECT 1 FROM prev.chunks p WHERE p.text_hash = c.text_hash)")
        else:
            unknown = "SELECT DISTINCT text_hash FROM chunks"
        cursor = db.execute(unknown)
        while part := [row[0] for row in cursor.fetchmany(BATCH)]:
            missing = sorted(set(part) - milvus.present(part))
            if missing:
                vectors = _vectors(db, missing, dimension, milvus.url)
                _journal(index_dir, missing)
                milvus.insert([(missing, vectors)])
            db.execute("UPDATE vectors SET vector = x'' WHERE text_hash IN (SELECT value FROM json_each(?)) "
                       "AND length(vector) > 0", (json.dumps(part),))
        db.commit()  # a database cannot be detached inside a transaction
        if previous is not None:
            # Hashes the new generation drops: deleted once it is live (or by the next reindex).
            gone = db.execute("SELECT DISTINCT p.text_hash FROM prev.chunks p WHERE NOT EXISTS "
                              "(SELECT 1 FROM chunks c WHERE c.text_hash = p.text_hash)")
            while part := [row[0] for row in gone.fetchmany(BATCH)]:
                _journal(index_dir, part)
            db.execute("DETACH DATABASE prev")
        n = db.execute("SELECT COUNT(DISTINCT text_hash) FROM chunks").fetchone()[0]
        search = milvus.prepare_index(max(n, milvus.count()))
        return {"vector_store": milvus.url, "milvus_search": json.dumps(search), "milvus_written_at": f"{time.time():.3f}"}
    finally:
        milvus.close()


def remove_orphans(index_dir: Path, live: Path, url: str, settings: Settings = DEFAULTS) -> int:
    """Step 3: delete the journal's hashes that the live generation ``live`` does not use; clear the journal.

    A failure leaves the journal for the next reindex (the live generation answers either way).
    """
    journal = index_dir / JOURNAL
    if not journal.exists():
        return 0
    try:
        milvus = MilvusStore.connect(url, settings)
    except IndexProblem:
        return 0
    db = sqlite3.connect(f"file:{live / DB_FILE}?mode=ro", uri=True)
    deleted = 0
    try:
        with open(journal, encoding="ascii") as fh:
            hashes = sorted({line.strip() for line in fh if line.strip()})
        for start in range(0, len(hashes), BATCH):
            part = hashes[start:start + BATCH]
            marks = ",".join("?" * len(part))
            used = {row[0] for row in db.execute(f"SELECT DISTINCT text_hash FROM chunks WHERE text_hash IN ({marks})",
                                                 part)}
            deleted += milvus.delete(h for h in part if h not in used)
        journal.unlink()
    except IndexProblem:
        pass
    finally:
        db.close()
        milvus.close()
    return deleted


def _previous_db(index_dir: Path, url: str) -> Path | None:
    """The live generation's database when its vectors are in this same collection (all its rows are there)."""
    try:
        live = live_generation(index_dir)
    except IndexProblem:
        return None
    if live is None or not (live / DB_FILE).exists():
        return None
    db = sqlite3.connect(f"file:{live / DB_FILE}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'vector_store'").fetchone()
        has_index = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'chunks_by_hash'").fetchone()
    except sqlite3.DatabaseError:
        return None
    finally:
        db.close()
    return live / DB_FILE if row and row[0] == url and has_index else None


def _vectors(db: sqlite3.Connection, hashes: list[str], dimension: int, url: str) -> np.ndarray:
    rows = dict(db.execute("SELECT text_hash, vector FROM vectors WHERE text_hash IN (SELECT value FROM json_each(?))",
                           (json.dumps(hashes),)))
    lost = [h for h in hashes if not rows.get(h)]
    if lost:
        # An empty row says "in the collection": someone deleted rows there; the vectors are nowhere now.
        raise IndexProblem(f"vector store {url} lacks {len(lost)} vector(s) this index had sent; "
                           "rebuild it with: semsearch reindex --rebuild")
    return np.stack([np.frombuffer(rows[h], dtype=np.float32) for h in hashes]).reshape(len(hashes), dimension)
