"""Who runs the embedding of a reindex: this process (``LocalExecutor``) or a cluster (``encoders.ray_pool``).

The indexer hands an executor batches of texts, each with a key of its own, and gets the vectors back
in the same order; how and where they were computed is the executor's business, so the indexer never
imports a cluster framework. An executor raises if any batch cannot be embedded: the reindex then
aborts and nothing is committed.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Protocol, Sequence

import numpy as np

from semsearch.encoders.base import Encoder


class EmbeddingExecutor(Protocol):
    def map(self, batches: Iterable[tuple[Any, Sequence[str]]], precision: str | None = None
            ) -> Iterator[tuple[Any, np.ndarray]]:
        """(key, passage vectors of its texts) for each (key, texts), in the order given."""

    def close(self) -> None:
        ...


class LocalExecutor:
    """Embeds in this process with ``encoder``, one batch after another."""

    def __init__(self, encoder: Encoder):
        self.encoder = encoder

    def map(self, batches, precision=None):
        for key, texts in batches:
            yield key, self.encoder.encode_passages(list(texts), precision=precision)

    def close(self) -> None:
        pass
