"""Finding and reading documents: files -> ``Document`` (decoded text + provenance).

Owns which files count as documents (``.txt``, ``.md``), how their bytes are
decoded (UTF-8 with or without BOM first, then charset-normalizer's best guess,
which covers GB18030 and Big5), and the content hash that later stages key on.
The decoded text is kept exactly: every offset the tool reports refers to it.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError

SUPPORTED_SUFFIXES = {".txt", ".md"}
_UTF8_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Document:
    root: Path          # corpus root the path is relative to
    path: str           # POSIX path relative to root
    text: str           # decoded text, exactly as offsets refer to it
    encoding: str
    sha256: str
    size: int
    mtime: float


class UnreadableDocument(Exception):
    """A file that exists but cannot be decoded as text."""


def decode_bytes(raw: bytes) -> tuple[str, str]:
    """Decode file bytes to text; returns (text, encoding name)."""
    if raw.startswith(_UTF8_BOM):
        return raw[len(_UTF8_BOM):].decode("utf-8"), "utf-8-sig"
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(raw).best()
    if best is None or best.encoding is None:
        raise UnreadableDocument("not text in any encoding we recognise")
    return str(best), best.encoding


def iter_corpus_files(root: Path):
    """Supported files under ``root`` (a file or a folder), in a stable order."""
    if root.is_file():
        yield root.parent, root
        return
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if name.startswith("."):
                continue
            path = Path(dirpath) / name
            if path.suffix.lower() in SUPPORTED_SUFFIXES:
                found.append(path)
    for path in sorted(found):
        yield root, path


def check_roots(roots: list[Path]) -> list[Path]:
    checked = []
    for root in roots:
        if not root.exists():
            raise InputError(f"no such file or folder: {root}")
        if root.is_file() and root.suffix.lower() not in SUPPORTED_SUFFIXES:
            raise InputError(f"unsupported file type {root.suffix or '(none)'}: {root} "
                             f"(supported: {', '.join(sorted(SUPPORTED_SUFFIXES))})")
        checked.append(root.resolve())
    return checked


def read_document(root: Path, path: Path) -> Document:
    stat = path.stat()
    raw = path.read_bytes()
    text, encoding = decode_bytes(raw)
    return Document(
        root=root,
        path=path.relative_to(root).as_posix(),
        text=text,
        encoding=encoding,
        sha256=hashlib.sha256(raw).hexdigest(),
        size=stat.st_size,
        mtime=stat.st_mtime,
    )
