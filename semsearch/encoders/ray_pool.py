"""Embedding spread over a Ray cluster: a pool of actors, each loading the encoder once.

``RayExecutor.map`` keeps a few batches in flight per actor and yields results in the order given, so
the indexer's writer commits as it does with one process. An actor that dies is restarted by Ray and its
batch retried (``max_restarts``, ``max_task_retries``); if one still fails, the whole map fails and the
reindex commits nothing. Every node needs semsearch (and the model) installed; ``SEMSEARCH_MODELS`` is
passed on to the workers.
"""

from __future__ import annotations

import os
from collections import deque
from functools import partial
from typing import Callable

from semsearch.config import DEFAULTS, Settings
from semsearch.encoders.base import Encoder
from semsearch.errors import IndexProblem, InputError

IN_FLIGHT_PER_WORKER = 2  # one batch embedding, one waiting: the actor never idles on the round trip
RETRIES = 3


class _Worker:
    def __init__(self, make_encoder: Callable[[], Encoder]):
        self.encoder = make_encoder()

    def model_id(self) -> str:
        return self.encoder.model_id

    def embed(self, texts, precision):
        return self.encoder.encode_passages(list(texts), precision=precision)


class RayExecutor:
    """``address``: "auto" (a running cluster this node belongs to) or "HOST:PORT" / "ray://HOST:PORT".

    ``make_encoder`` builds the encoder in each worker (it is pickled to them); ``workers``: how many actors
    (default: one per ``cpus_per_worker`` CPUs of the cluster).
    """

    def __init__(self, address: str, make_encoder: Callable[[], Encoder], workers: int | None = None,
                 cpus_per_worker: float = 1.0, model_id: str | None = None):
        try:
            import ray
        except ImportError as exc:
            raise InputError("--ray needs ray: pip install 'semsearch[scale]'") from exc
        self.ray = ray
        self._owns_connection = not ray.is_initialized()
        if self._owns_connection:
            env = {k: os.environ[k] for k in ("SEMSEARCH_MODELS", "PYTHONPATH") if os.environ.get(k)}
            try:
                ray.init(address=address, runtime_env={"env_vars": env} if env else None,
                         logging_level="ERROR", log_to_driver=False)
            except Exception as exc:  # ConnectionError, RuntimeError, ValueError by Ray version
                raise IndexProblem(f"cannot join the Ray cluster at {address}: {' '.join(str(exc).split())[:200]}") from exc
        cpus = ray.cluster_resources().get("CPU", 1)
        count = workers or max(1, int(cpus // cpus_per_worker))
        actor = ray.remote(_Worker).options(num_cpus=cpus_per_worker, max_restarts=RETRIES, max_task_retries=RETRIES)
        self.workers = [actor.remote(make_encoder) for _ in range(count)]
        if model_id is not None:
            for found in ray.get([w.model_id.remote() for w in self.workers]):
                if found != model_id:
                    raise IndexProblem(f"Ray workers load model {found!r}, not {model_id!r}")

    @classmethod
    def for_model(cls, address: str, ref: str, settings: Settings = DEFAULTS, workers: int | None = None
                  ) -> "RayExecutor":
        """Workers that each load the model ``ref`` with ``settings``, checked to be the model this process has."""
        from semsearch.encoders.factory import load_encoder

        model_id = load_encoder(ref, settings).model_id
        return cls(address, partial(load_encoder, ref, settings), workers=workers, model_id=model_id)

    def map(self, batches, precision=None):
        pending: deque = deque()
        turn = 0
        limit = IN_FLIGHT_PER_WORKER * len(self.workers)
        for key, texts in batches:
            texts = list(texts)
            worker = self.workers[turn % len(self.workers)]
            turn += 1
            pending.append((key, texts, worker.embed.remote(texts, precision)))
            if len(pending) >= limit:
                yield self._result(pending.popleft(), precision)
        while pending:
            yield self._result(pending.popleft(), precision)

    def _result(self, item, precision):
        key, texts, ref = item
        for attempt in range(RETRIES + 1):
            try:
                return key, self.ray.get(ref)
            except self.ray.exceptions.RayError as exc:
                if attempt == RETRIES:
                    raise IndexProblem(f"embedding on the Ray cluster failed: {' '.join(str(exc).split())[:200]}") from exc
                # An actor gone for good: another one (or a restarted one) takes the batch.
                ref = self.workers[(attempt + 1) % len(self.workers)].embed.remote(texts, precision)
        raise AssertionError("unreachable")

    def close(self) -> None:
        for worker in self.workers:
            try:
                self.ray.kill(worker)
            except Exception:
                pass
        self.workers = []
        if self._owns_connection:
            self.ray.shutdown()
