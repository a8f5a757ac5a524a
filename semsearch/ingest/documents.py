"""Finding and reading documents: files -> ``Document`` (text + provenance).

Owns which files count as documents and how each becomes text:

* ``.txt`` ``.md``: bytes decoded exactly — a BOM (UTF-8/16/32) decides; else
  strict UTF-8; else charset-normalizer's guess (GB18030, Big5, ...); a file that
  mixes UTF-8 lines with lines in another encoding is decoded line by line;
  bytes that look binary (NULs without a UTF-16/32 BOM) are refused;
* ``.html`` ``.htm``: text extracted with BeautifulSoup (the standard library's
  parser), dropping scripts, styles, navigation, headers, footers and forms;
* ``.pdf``: text of each page with pypdf, pages separated by a form feed, so the
  page of any offset is the number of form feeds before it plus one;
* ``.docx``: paragraphs and table cells with python-docx, one per line.

Offsets the tool reports refer to this text (for plain text: the decoded file).
"""

from __future__ import annotations

import hashlib
import os
import re
import stat as stat_module
from dataclasses import dataclass
from pathlib import Path

from semsearch.errors import InputError
from semsearch.text.script import CJK_RANGES

PLAIN_SUFFIXES = {".txt", ".md", ".markdown", ".text"}
SUPPORTED_SUFFIXES = PLAIN_SUFFIXES | {".html", ".htm", ".pdf", ".docx"}
PAGE_BREAK = "\f"
_BOMS = [(b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"),
         (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")]


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
    """Decode plain-text bytes; returns (text, encoding name). Raises UnreadableDocument."""
    for bom, encoding in _BOMS:
        if raw.startswith(bom):
            try:
                return raw.decode(encoding), encoding
            except UnicodeDecodeError as exc:
                raise UnreadableDocument(f"starts with a {encoding} byte-order mark but is not {encoding}") from exc
    if b"\x00" in raw:
        decoded = _utf16_without_bom(raw)
        if decoded is None:
            raise UnreadableDocument("binary file (contains NUL bytes)")
        return decoded
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    lines = raw.splitlines(keepends=True)
    foreign = [line for line in lines if not _is_utf8(line)]
    guess = _guess_encoding(b"".join(foreign))
    if len(foreign) == len(lines) or guess is None:
        if guess is None:
            raise UnreadableDocument("not text in any encoding we recognise")
        return raw.decode(guess, errors="replace"), guess
    # Some lines are UTF-8 and some are not: decode each line on its own.
    return "".join(line.decode("utf-8") if _is_utf8(line) else line.decode(guess, errors="replace")
                   for line in lines), f"mixed utf-8/{guess}"


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def _guess_encoding(data: bytes) -> str | None:
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None or best.encoding is None:
        return None
    return best.encoding


def _utf16_without_bom(raw: bytes) -> tuple[str, str] | None:
    """UTF-16 text saved without a BOM has a NUL in every other byte of ASCII; binary does not."""
    if len(raw) < 4 or len(raw) % 2:
        return None
    even, odd = raw[0::2].count(0), raw[1::2].count(0)
    for encoding, zeros in (("utf-16-le", odd), ("utf-16-be", even)):
        if zeros >= len(raw) // 8 and (even if encoding == "utf-16-le" else odd) == 0:
            try:
                return raw.decode(encoding), encoding
            except UnicodeDecodeError:
                return None
    return None


_DROPPED_HTML = ["script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form", "iframe",
                 "svg", "button", "select"]
_BLOCK_HTML = {"p", "div", "section", "article", "main", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6",
               "br", "tr", "td", "th", "caption", "hr", "table", "blockquote", "pre", "dd", "dt", "title", "figcaption"}
_PREFORMATTED_HTML = ["pre", "textarea", "listing", "plaintext", "xmp"]
_BLOCK_BREAK, _SOURCE_BREAK = "\x00", "\x01"  # a line the page's structure breaks / a wrap in its source
_WIDE = f"{CJK_RANGES}\u3000-\u303f\uff00-\uffef\u2018-\u201f\u2026"  # browsers join these across a wrap
_SOURCE_BREAKS = re.compile(f"([{_WIDE}])?[ \\t\\r\\f\\v{_SOURCE_BREAK}]*{_SOURCE_BREAK}[ \\t\\r\\f\\v{_SOURCE_BREAK}]*([{_WIDE}])?")


def html_text(raw: bytes) -> str:
    """Visible text of an HTML page, one block element per line.

    A line break in the page's source is only white space, as a browser renders it: it joins two
    Chinese characters with nothing and anything else with a space (a paragraph wrapped at 80 columns
    is one line, not several short lines the chunker would take for headings); inside ``<pre>`` it stays.
    """
    from bs4 import BeautifulSoup, NavigableString

    soup = BeautifulSoup(raw, "html.parser")
    for tag in soup(_DROPPED_HTML):
        tag.decompose()
    for string in list(soup.find_all(string=True)):
        if type(string) is NavigableString and "\n" in string:
            hard = string.find_parent(_PREFORMATTED_HTML) is not None
            string.replace_with(string.replace("\n", _BLOCK_BREAK if hard else _SOURCE_BREAK))
    for tag in soup.find_all(True):
        if tag.name in _BLOCK_HTML:
            tag.insert_before(_BLOCK_BREAK)
            tag.insert_after(_BLOCK_BREAK)
    text = _SOURCE_BREAKS.sub(_join_source_break, soup.get_text())
    lines = (" ".join(line.split()) for line in text.split(_BLOCK_BREAK))
    return "\n".join(line for line in lines if line) + "\n"


def _join_source_break(match: re.Match) -> str:
    before, after = match.group(1) or "", match.group(2) or ""
    return before + ("" if before and after else " ") + after


def pdf_text(path: Path) -> str:
    """Text of each page, pages separated by a form feed."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        pages = [(page.extract_text() or "").replace(PAGE_BREAK, " ") for page in reader.pages]
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise UnreadableDocument(f"not a readable PDF ({exc})") from exc
    return PAGE_BREAK.join(pages)


def docx_text(path: Path) -> str:
    import zipfile

    import docx

    try:
        document = docx.Document(str(path))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise UnreadableDocument(f"not a readable .docx ({exc})") from exc
    lines = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            lines.append("\t".join(cell.text for cell in row.cells))
    return "\n".join(lines) + "\n"


def extract_text(path: Path, raw: bytes) -> tuple[str, str]:
    suffix = path.suffix.lower()
    if suffix in (".html", ".htm"):
        return html_text(raw), "html"
    if suffix == ".pdf":
        return pdf_text(path), "pdf"
    if suffix == ".docx":
        return docx_text(path), "docx"
    return decode_bytes(raw)


def page_of(text: str, offset: int) -> int:
    return text.count(PAGE_BREAK, 0, offset) + 1


def iter_corpus_files(root: Path, unsupported: list[Path] | None = None):
    """Supported files under ``root`` (a file or a folder), in a stable order.

    Hidden files and folders are skipped; symlinked folders are not followed (no
    loops); other files are listed in ``unsupported`` when a list is given.
    """
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
            elif unsupported is not None:
                unsupported.append(path)
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
    if not stat_module.S_ISREG(stat.st_mode):
        # A named pipe or device would block the read or never end.
        raise UnreadableDocument("not a regular file")
    raw = path.read_bytes()
    text, encoding = extract_text(path, raw)
    return Document(
        root=root,
        path=path.relative_to(root).as_posix(),
        text=text,
        encoding=encoding,
        sha256=hashlib.sha256(raw).hexdigest(),
        size=stat.st_size,
        mtime=stat.st_mtime,
    )
