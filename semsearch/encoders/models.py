"""Model references: the default model converted into models/, a local folder, or a sentence-transformers name."""

from __future__ import annotations

from pathlib import Path

from semsearch.config import models_dir
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
