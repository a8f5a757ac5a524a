"""Embedding spread over a real two-node Ray cluster on loopback (ray.cluster_utils.Cluster): same index as one process."""

from __future__ import annotations

import os
import sqlite3
import time
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, SEEDS, FakeEmbedder, require_extra

ray = require_extra("ray", "the [scale] extra")

from semsearch import Index, store  # noqa: E402
from semsearch.encoders.factory import DEFAULT_MODEL  # noqa: E402
from semsearch.encoders.ray_pool import RayExecutor  # noqa: E402
from semsearch.indexer import Progress  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    from ray.cluster_utils import Cluster

    # Workers import the tests' fake embedder (conftest) and this checkout.
    os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO / "tests"), str(REPO / "tests" / "scale"), str(REPO), os.environ.get("PYTHONPATH", "")])
    for attempt in range(3):
        # A start can time out while the previous module's Milvus server still winds down: start again.
        try:
            c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
            break
        except RuntimeError:
            if attempt == 2:
                raise
            time.sleep(10)
    c.add_node(num_cpus=1)
    c.wait_for_nodes()
    ray.init(address=c.address, logging_level="ERROR", log_to_driver=False)
    assert len([n for n in ray.nodes() if n["Alive"]]) == 2
    yield c
    ray.shutdown()
    c.shutdown()


def _tables(index: Path) -> dict[str, dict[str, bytes]]:
    db = sqlite3.connect(store.live_generation(index) / store.DB_FILE)
    try:
        return {t: dict(db.execute(f"SELECT text_hash, {col} FROM {t}"))
                for t, col in (("vectors", "vector"), ("window_vectors", "vectors"))}
    finally:
        db.close()


class CrashOnce(FakeEmbedder):
    """Kills its worker process the first time it embeds while the marker file exists (a node dying mid-batch)."""

    def __init__(self, marker: str):
        super().__init__()
        self.marker = marker

    def encode_passages(self, texts, on_batch=None, exact=False, precision=None):
        if self.marker and os.path.exists(self.marker):
            os.unlink(self.marker)
            os._exit(1)
        return super().encode_passages(texts, on_batch, exact, precision)


def test_ray_index_is_identical_to_a_single_process_index_and_the_progress_counts(cluster, tmp_path):
    single = tmp_path / "single"
    Index.open(single, embedder=FakeEmbedder()).reindex([SEEDS])
    counted = {"total": 0, "done": 0}
    progress = Progress(on_embed_start=lambda n: counted.__setitem__("total", counted["total"] + n),
                        on_windows_start=lambda n: counted.__setitem__("total", counted["total"] + n),
                        on_embedded=lambda n: counted.__setitem__("done", counted["done"] + n))
    executor = RayExecutor(cluster.address, FakeEmbedder, workers=2)
    try:
        nodes = {ray.get(w.__ray_call__.remote(lambda self: ray.get_runtime_context().get_node_id()))
                 for w in executor.workers}
        assert len(nodes) == 2  # one worker on each node
        spread = tmp_path / "spread"
        Index.open(spread, embedder=FakeEmbedder()).reindex([SEEDS], progress=progress, executor=executor)
    finally:
        executor.close()
    assert counted["total"] == counted["done"] > 0
    assert _tables(single) == _tables(spread)  # bit for bit


def test_a_worker_that_dies_is_retried_and_the_result_is_the_same(cluster, tmp_path):
    marker = tmp_path / "crash-once"
    marker.write_text("x")
    executor = RayExecutor(cluster.address, partial(CrashOnce, str(marker)), workers=2)
    try:
        Index.open(tmp_path / "spread", embedder=FakeEmbedder()).reindex([SEEDS], executor=executor)
    finally:
        executor.close()
    assert not marker.exists()  # a worker did die
    Index.open(tmp_path / "single", embedder=FakeEmbedder()).reindex([SEEDS])
    assert _tables(tmp_path / "single") == _tables(tmp_path / "spread")


def test_nothing_is_committed_when_the_workers_keep_failing(cluster, tmp_path):
    class AlwaysFails(FakeEmbedder):
        def encode_passages(self, texts, on_batch=None, exact=False, precision=None):
            raise RuntimeError("this worker cannot embed")

    executor = RayExecutor(cluster.address, AlwaysFails, workers=2)
    try:
        with pytest.raises(Exception, match="Ray|embed"):
            Index.open(tmp_path / "index", embedder=FakeEmbedder()).reindex([SEEDS], executor=executor)
    finally:
        executor.close()
    assert not store.exists(tmp_path / "index")


def test_real_model_on_ray_gives_the_single_process_vectors(cluster, real_index, tmp_path):
    """The real model in each worker: vectors equal a single process's (cosine >= 0.9999)."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in sorted(p.name for p in SEEDS.iterdir())[:2]:
        (corpus / name).write_bytes((SEEDS / name).read_bytes())
    executor = RayExecutor.for_model(cluster.address, DEFAULT_MODEL, workers=2)
    try:
        Index.open(tmp_path / "spread").reindex([corpus], executor=executor)
    finally:
        executor.close()
    Index.open(tmp_path / "single").reindex([corpus])
    a, b = _tables(tmp_path / "single")["vectors"], _tables(tmp_path / "spread")["vectors"]
    assert a.keys() == b.keys() and a
    for h in a:
        x, y = np.frombuffer(a[h], np.float32), np.frombuffer(b[h], np.float32)
        assert float(x @ y) / float(np.linalg.norm(x) * np.linalg.norm(y)) >= 0.9999
