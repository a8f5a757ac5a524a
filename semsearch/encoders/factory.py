"""Which encoder a model reference gets: the default converted model, a local folder, or a hub name."""

from __future__ import annotations

from pathlib import Path

from semsearch.config import DEFAULTS, Settings, models_dir
from semsearch.encoders.base import Encoder
from semsearch.encoders.install import MODEL_DIRNAME, STAMP_FILE
from semsearch.errors import IndexProblem

DEFAULT_MODEL = "multilingual-e5-small"


def resolve_model(ref: str | None) -> tuple[str, str]:
    """(what to load, the model's identity recorded in the index) for a user's model reference."""
    if ref in (None, "", DEFAULT_MODEL):
        path = models_dir() / MODEL_DIRNAME
        if not (path / STAMP_FILE).is_file():
            raise IndexProblem(f"the default model is not installed in {path}; run: semsearch model install")
        return str(path), DEFAULT_MODEL
    local = Path(ref).expanduser()
    if local.exists():
        return str(local.resolve()), str(local.resolve())
    return ref, ref


def load_encoder(ref: str | None = None, settings: Settings = DEFAULTS) -> Encoder:
    """The encoder for ``ref`` (None: the default model). Nothing heavy loads until a vector is needed."""
    from semsearch.encoders.embedder import Embedder

    return Embedder(ref, settings=settings)
