"""Which encoder a model reference gets. Nothing heavy loads until a vector is needed."""

from __future__ import annotations

from semsearch.config import DEFAULTS, Settings
from semsearch.encoders.base import Encoder
from semsearch.encoders.embedder import Embedder
from semsearch.encoders.models import DEFAULT_MODEL, resolve_model

__all__ = ["DEFAULT_MODEL", "load_encoder", "resolve_model"]


def load_encoder(ref: str | None = None, settings: Settings = DEFAULTS) -> Encoder:
    """The encoder for ``ref`` (None: the default model): ONNX Runtime where the model folder holds a checked
    export, else sentence-transformers (``Embedder`` decides per call)."""
    return Embedder(ref, settings=settings)
