"""A Milvus collection as an index's vector store, through pymilvus ``MilvusClient``.

Rows are content-addressed: the primary key is the chunk text's hash (``ingest.chunk.text_hash``), the
same key the index folder's ``vectors`` table uses, so text embedded once is sent once. A generation
maps hashes to its chunk ids (SQLite); the collection may hold a few rows no live generation uses
(between a reindex's insert and its delete), which searches skip.

Every call has a timeout (``Settings.milvus_timeout``); a failure becomes an ``IndexProblem`` with
one line saying which store failed, so the CLI exits 3 instead of hanging or printing a traceback.
"""

from __future__ import annotations

import re
import time
from typing import Iterable, Iterator

import numpy as np

from semsearch.config import DEFAULTS, Settings
from semsearch.errors import IndexProblem, InputError
from semsearch.store.vectors import ivf_lists, probes

DEFAULT_COLLECTION = "semsearch"
URL = re.compile(r"^milvus://(?P<host>[^:/\s]+):(?P<port>\d{1,5})(?:/(?P<collection>[A-Za-z_][A-Za-z0-9_]*))?/?$")
KEY, VECTOR = "text_hash", "vector"
KEY_LENGTH = 64
BATCH = 2_000  # rows per insert (384 floats: ~3 MB, far under gRPC's message limit); keys per query or delete
HNSW_M, HNSW_BUILD = 16, 200
BUILD_TIMEOUTS = 60  # building the index of a large collection (reindex only)
LOAD_TIMEOUTS = 6  # loading a large collection into memory may take several call timeouts


def parse_url(url: str) -> tuple[str, int, str]:
    """(host, port, collection) of ``milvus://HOST:PORT[/COLLECTION]``; a malformed one is a usage error."""
    match = URL.match(url.strip())
    if not match:
        raise InputError(f"bad vector store {url!r}: expected milvus://HOST:PORT[/COLLECTION]")
    return match["host"], int(match["port"]), match["collection"] or DEFAULT_COLLECTION


def canonical(url: str) -> str:
    host, port, collection = parse_url(url)
    return f"milvus://{host}:{port}/{collection}"


def _one_line(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return " ".join(str(text).split())[:200]


class MilvusStore:
    def __init__(self, client, url: str, collection: str, settings: Settings):
        self.client, self.url, self.collection, self.settings = client, url, collection, settings
        self.timeout = settings.milvus_timeout

    @classmethod
    def connect(cls, url: str, settings: Settings = DEFAULTS) -> "MilvusStore":
        host, port, collection = parse_url(url)
        try:
            from pymilvus import MilvusClient
        except ImportError as exc:
            raise IndexProblem(f"vector store {url} needs pymilvus: pip install 'semsearch[scale]'") from exc
        try:
            # A connection of its own: pymilvus shares one per address, and a shared one broken by a server
            # restart stays broken for every later client of this process.
            client = MilvusClient(uri=f"http://{host}:{port}", timeout=settings.milvus_timeout, dedicated=True)
        except Exception as exc:  # pymilvus raises MilvusException, grpc errors or plain ones
            raise IndexProblem(f"vector store {canonical(url)} is unreachable: {_one_line(exc)}") from exc
        return cls(client, canonical(url), collection, settings)

    def _call(self, what: str, fn, *args, **kwargs):
        try:
            return fn(*args, timeout=self.timeout, **kwargs)
        except IndexProblem:
            raise
        except Exception as exc:
            raise IndexProblem(f"vector store {self.url} failed to {what}: {_one_line(exc)}") from exc

    def _slow_call(self, what: str, fn, *args, **kwargs):
        """A call that works through the whole collection (index build, load): bounded, but far longer."""
        try:
            # pymilvus bounds its wait for an index build only with a whole number of seconds
            return fn(*args, timeout=int(self.timeout * BUILD_TIMEOUTS), **kwargs)
        except Exception as exc:
            raise IndexProblem(f"vector store {self.url} failed to {what}: {_one_line(exc)}") from exc

    # -- the collection ------------------------------------------------------------------------
    def _description(self) -> str | None:
        if not self._call("list collections", self.client.has_collection, self.collection):
            return None
        return self._call("describe the collection", self.client.describe_collection, self.collection).get(
            "description", "")

    def check_model(self, model: str, dimension: int) -> None:
        """The collection exists and holds vectors of ``model`` (the model guard, on the store's side)."""
        description = self._description()
        if description is None:
            raise IndexProblem(f"vector store {self.url} has no collection {self.collection!r}; "
                               "rebuild it with: semsearch reindex --rebuild")
        self._check(description, model, dimension)

    def _check(self, description: str, model: str, dimension: int) -> None:
        want = _describe(model, dimension)
        if description != want:
            raise IndexProblem(f"collection {self.collection!r} in {self.url} holds other vectors ({description!r}, "
                               f"not {want!r}); use another collection or reindex --rebuild with its model")

    def ensure(self, model: str, dimension: int) -> None:
        """Create the collection (exact index) unless it exists; check its model when it does."""
        description = self._description()
        if description is not None:
            self._check(description, model, dimension)
            self.ensure_loaded()
            return
        from pymilvus import DataType, MilvusClient

        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False,
                                            description=_describe(model, dimension))
        schema.add_field(KEY, DataType.VARCHAR, is_primary=True, max_length=KEY_LENGTH)
        schema.add_field(VECTOR, DataType.FLOAT_VECTOR, dim=dimension)
        params = self.client.prepare_index_params()
        params.add_index(field_name=VECTOR, index_type="FLAT", metric_type="COSINE")
        self._call("create the collection", self.client.create_collection, self.collection, schema=schema,
                   index_params=params, consistency_level="Strong")

    def ensure_loaded(self) -> None:
        """Load the collection if it is not (a restarted server reloads collections lazily)."""
        state = self._call("read the load state", self.client.get_load_state, self.collection)
        if "Loaded" not in str(state.get("state", "")) or "NotLoad" in str(state.get("state", "")):
            try:
                self.client.load_collection(self.collection, timeout=self.timeout * LOAD_TIMEOUTS)
            except Exception as exc:
                raise IndexProblem(f"vector store {self.url} failed to load collection {self.collection!r}: "
                                   f"{_one_line(exc)}") from exc

    def drop(self) -> None:
        if self._call("list collections", self.client.has_collection, self.collection):
            self._call("drop the collection", self.client.drop_collection, self.collection)

    # -- rows ----------------------------------------------------------------------------------
    def present(self, hashes: Iterable[str]) -> set[str]:
        """Which of ``hashes`` have a row."""
        found: set[str] = set()
        for part in _parts(list(hashes)):
            rows = self._call("read keys", self.client.query, self.collection, filter=f"{KEY} in {_list(part)}",
                              output_fields=[KEY], consistency_level="Strong")
            found.update(r[KEY] for r in rows)
        return found

    def vectors(self, hashes: Iterable[str], consistency: str = "Strong") -> dict[str, np.ndarray]:
        """The stored vectors of those of ``hashes`` that have a row, by hash."""
        found: dict[str, np.ndarray] = {}
        for part in _parts(list(hashes)):
            rows = self._call("read vectors", self.client.query, self.collection, filter=f"{KEY} in {_list(part)}",
                              output_fields=[KEY, VECTOR], consistency_level=consistency)
            found.update((r[KEY], np.asarray(r[VECTOR], dtype=np.float32)) for r in rows)
        return found

    def insert(self, rows: Iterator[tuple[list[str], np.ndarray]]) -> int:
        """Insert (hashes, vectors) blocks; returns how many rows were sent."""
        sent = 0
        for hashes, vectors in rows:
            for start in range(0, len(hashes), BATCH):
                data = [{KEY: h, VECTOR: v} for h, v in zip(hashes[start:start + BATCH],
                                                           np.asarray(vectors[start:start + BATCH], np.float32).tolist())]
                self._call("insert vectors", self.client.insert, self.collection, data)
                sent += len(data)
        return sent

    def delete(self, hashes: Iterable[str]) -> int:
        gone = 0
        for part in _parts(sorted(hashes)):
            self._call("delete vectors", self.client.delete, self.collection, filter=f"{KEY} in {_list(part)}")
            gone += len(part)
        return gone

    def count(self) -> int:
        rows = self._call("count rows", self.client.query, self.collection, filter="", output_fields=["count(*)"],
                          consistency_level="Strong")
        return int(rows[0]["count(*)"]) if rows else 0

    # -- search --------------------------------------------------------------------------------
    def prepare_index(self, n: int) -> dict:
        """Build the index structure that suits ``n`` vectors (if it is not the one there) and load the
        collection; returns the search parameters to record in the generation."""
        kind, build, search = index_plan(n, self.settings)
        # Milvus indexes sealed segments only: rows still in a growing one are searched through a rougher
        # interim index, so every row is sealed first and the index waited for.
        self._slow_call("flush the collection", self.client.flush, self.collection)
        current = self._call("describe the index", self.client.describe_index, self.collection, VECTOR)
        current = current or {}
        if current.get("index_type") != kind or any(k in current and str(current[k]) != str(v) for k, v in build.items()):
            self._call("release the collection", self.client.release_collection, self.collection)
            self._call("drop the index", self.client.drop_index, self.collection, VECTOR)
            params = self.client.prepare_index_params()
            params.add_index(field_name=VECTOR, index_type=kind, metric_type="COSINE", params=build)
            self._slow_call("build the index", self.client.create_index, self.collection, params)
        self._wait_indexed()
        self._slow_call("load the collection", self.client.load_collection, self.collection)
        return {"index_type": kind, "params": search}

    def _wait_indexed(self) -> None:
        deadline = time.monotonic() + self.timeout * BUILD_TIMEOUTS
        while True:
            state = self._call("describe the index", self.client.describe_index, self.collection, VECTOR) or {}
            if int(state.get("pending_index_rows") or 0) == 0 and \
                    int(state.get("indexed_rows") or 0) >= int(state.get("total_rows") or 0):
                return
            if time.monotonic() > deadline:
                raise IndexProblem(f"vector store {self.url} failed to index every row within "
                                   f"{self.timeout * BUILD_TIMEOUTS:.0f} s")
            time.sleep(0.5)

    def search(self, vector: np.ndarray, n: int, params: dict, consistency: str = "Strong") -> list[tuple[str, float]]:
        """``consistency``: "Strong" sees every write acknowledged before it, but waits for the next time tick
        (up to ~200 ms); "Bounded" answers at once from data a few seconds old."""
        search = dict(params.get("params", {}))
        if "ef" in search:
            search["ef"] = max(int(search["ef"]), n)  # HNSW needs ef >= the number asked for
        result = self._call("search", self.client.search, self.collection,
                            data=[np.asarray(vector, np.float32).reshape(-1).tolist()], limit=n, anns_field=VECTOR,
                            search_params={"metric_type": "COSINE", "params": search}, consistency_level=consistency)
        return [(hit["id"], float(hit["distance"])) for hit in result[0]]

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:  # closing a client whose server is gone must not raise
            pass


def index_plan(n: int, settings: Settings = DEFAULTS) -> tuple[str, dict, dict]:
    """(index type, build parameters, search parameters) for a collection of ``n`` vectors.

    Exact (FLAT) up to ``exact_limit``, as the FAISS file; beyond, ``settings.milvus_index``: IVF_FLAT (cells
    probed by the same share as FAISS; at 100k: recall@10 0.991, p95 6.8 ms) or HNSW (0.985, p95 15.8 ms).
    """
    if n <= settings.exact_limit:
        return "FLAT", {}, {}
    if settings.milvus_index == "HNSW":
        return "HNSW", {"M": HNSW_M, "efConstruction": HNSW_BUILD}, {"ef": settings.milvus_hnsw_ef}
    lists = ivf_lists(n, settings)
    return "IVF_FLAT", {"nlist": lists}, {"nprobe": probes(lists, settings)}


def _describe(model: str, dimension: int) -> str:
    return f"semsearch vectors of {model} ({dimension} dimensions)"


def _parts(keys: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(keys), BATCH):
        yield keys[start:start + BATCH]


def _list(keys: list[str]) -> str:
    return "[" + ",".join(f'"{k}"' for k in keys) + "]"  # hashes are hex: nothing to escape
