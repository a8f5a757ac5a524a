"""The encoder interface: what indexing, retrieval and answers need from a model.

Implementations: ``embedder.Embedder`` (ONNX Runtime where the model folder has a checked export,
else sentence-transformers on torch), made by ``factory.load_encoder``; tests use a fake that
implements the same protocol.
"""

from __future__ import annotations

from typing import Callable, Protocol, Sequence, runtime_checkable

import numpy as np


@runtime_checkable
class Encoder(Protocol):
    model_id: str  # recorded in an index: an index is searched only with the model that built it
    dimension: int
    max_tokens: int

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens each (folded) text takes, without special tokens or prompt: the chunker's measure."""

    def passage_precision(self, index_precision: str | None = None) -> str:
        """"int8" or "float32": the graph passages are embedded by (``index_precision``: the index's so far)."""

    def encode_passages(self, texts: Sequence[str], on_batch: Callable[[int], None] | None = None,
                        exact: bool = False, precision: str | None = None) -> np.ndarray:
        """L2-normalised passage vectors, in order; ``on_batch(n)`` after each n texts."""

    def encode_query(self, text: str) -> np.ndarray:
        """The L2-normalised vector of a question (with the model's query prompt)."""

    def encode_sentences(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of a few short passages (answer sentences)."""
