"""Chunking: a document's text -> paragraph ``Chunk``s with exact source spans.

Owns where passages begin and end. Rules, in order:

* lines are classified as headings (``#`` lines, or short lines with no closing
  punctuation that are followed by more text) or body; consecutive heading lines
  form the section title that gives context to the chunks under it;
* body lines joined by wrapping (no sentence end, no blank line between, not a
  list item) form one paragraph; every other line ends a paragraph;
* paragraphs longer than ``max_tokens`` (counted with the model's own tokenizer on
  the folded text) are split at sentence ends (。！？；!?) into balanced windows;
  a sentence longer than a window is split at clause marks, then by length;
* paragraphs shorter than ``min_tokens`` are merged with a neighbour in the same
  section while the result stays within ``max_tokens``.

Every chunk keeps ``text == source[char_start:char_end]`` and 1-based inclusive
line numbers, so citations always point at the file as it is.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import re
from dataclasses import dataclass
from typing import Callable, Sequence

from semsearch.text.normalize import fold_text

TokenCounter = Callable[[Sequence[str]], list[int]]

_SENTENCE_END = re.compile(r"[。！？；!?;]+[”’」』\"')）]*|\.(?=\s)|…+[”’」』\"')）]*")
_CLAUSE_END = re.compile(r"[，,、：:]+")
_TERMINAL = tuple("。！？!?；;…：:，,、.．")
_CLOSERS = "”’」』\"')）"
_LIST_ITEM = re.compile(r"^\s*(?:[-*+•·]\s|\d{1,3}[.)、．]\s?|[（(]\d{1,3}[)）])")
_PARENTHESISED = re.compile(r"^[（(].*[)）]$")
HEADING_MAX_CHARS = 40


@dataclass(frozen=True)
class Chunk:
    ordinal: int
    char_start: int
    char_end: int
    line_start: int
    line_end: int
    title: str | None
    text: str


@dataclass
class _Line:
    number: int
    start: int  # offsets of the stripped content
    end: int
    content: str


@dataclass
class _Span:
    start: int
    end: int
    title: str | None
    tokens: int = 0


def _lines(text: str) -> list[_Line | None]:
    """Non-blank lines with stripped spans; ``None`` marks a blank line."""
    out: list[_Line | None] = []
    pos = 0
    for number, raw in enumerate(text.splitlines(keepends=True), start=1):
        body = raw.rstrip("\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
        stripped = body.strip()
        if not stripped:
            out.append(None)
        else:
            lead = len(body) - len(body.lstrip())
            start = pos + lead
            out.append(_Line(number, start, start + len(stripped), stripped))
        pos += len(raw)
    return out


def _ends_clause(content: str) -> bool:
    """True when text ends with punctuation, looking through closing quotes: 。” counts, 功” does not."""
    return content.rstrip(_CLOSERS).endswith(_TERMINAL)


def _is_heading(line: _Line, has_following_text: bool, fold: Callable[[str], str]) -> bool:
    content = fold(line.content)
    if not has_following_text:
        return False  # nothing below it to title: keep it as text
    if content.startswith("#"):
        return bool(content.lstrip("#").strip())
    if len(content) > HEADING_MAX_CHARS:
        return False
    if _LIST_ITEM.match(content) or _PARENTHESISED.match(content):
        return False
    return not _ends_clause(content)


def _heading_text(content: str) -> str:
    return content.lstrip("#").strip() if content.startswith("#") else content


def _paragraphs(text: str, fold: Callable[[str], str]) -> list[_Span]:
    lines = _lines(text)
    nonblank = [i for i, ln in enumerate(lines) if ln is not None]
    last_index = nonblank[-1] if nonblank else -1
    paragraphs: list[_Span] = []
    title_parts: list[str] = []
    title: str | None = None
    open_para: _Span | None = None
    previous_was_heading = False
    for i, line in enumerate(lines):
        if line is None:
            open_para = None
            continue
        if _is_heading(line, i < last_index, fold):
            if not previous_was_heading:
                title_parts = []
            title_parts.append(_heading_text(line.content))
            title = " ".join(title_parts)
            open_para = None
            previous_was_heading = True
            continue
        previous_was_heading = False
        joins = (open_para is not None and open_para.title == title
                 and not _ends_clause(fold(text[open_para.start:open_para.end]))
                 and not _LIST_ITEM.match(line.content))
        if joins:
            open_para.end = line.end
        else:
            open_para = _Span(line.start, line.end, title)
            paragraphs.append(open_para)
    return paragraphs


def _split_by(pattern: re.Pattern, text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Split source[start:end] after each match of ``pattern``; spans cover it all."""
    spans, cut = [], start
    for m in pattern.finditer(text, start, end):
        if m.end() > cut:
            spans.append((cut, m.end()))
            cut = m.end()
    if cut < end:
        spans.append((cut, end))
    return [(s, e) for s, e in spans if text[s:e].strip()] or [(start, end)]


def _fit(text: str, span: tuple[int, int], tokens: int, max_tokens: int,
         count: TokenCounter, fold: Callable[[str], str]) -> list[tuple[int, int, int]]:
    """Pieces of ``span`` no longer than ``max_tokens``: clauses, then equal character cuts."""
    if tokens <= max_tokens:
        return [(span[0], span[1], tokens)]
    clauses = _split_by(_CLAUSE_END, text, *span)
    if len(clauses) == 1:
        n = math.ceil(tokens / max_tokens)
        width = math.ceil((span[1] - span[0]) / n)
        clauses = [(s, min(s + width, span[1])) for s in range(span[0], span[1], width)]
    counts = count([fold(text[s:e]) for s, e in clauses])
    out: list[tuple[int, int, int]] = []
    for (s, e), c in zip(clauses, counts):
        out.extend(_fit(text, (s, e), c, max_tokens, count, fold) if c > max_tokens and (e - s) > 1
                   else [(s, e, c)])
    return out


def _windows(text: str, para: _Span, max_tokens: int, count: TokenCounter,
             fold: Callable[[str], str]) -> list[_Span]:
    sentences = _split_by(_SENTENCE_END, text, para.start, para.end)
    counts = count([fold(text[s:e]) for s, e in sentences])
    pieces: list[tuple[int, int, int]] = []
    for span, c in zip(sentences, counts):
        pieces.extend(_fit(text, span, c, max_tokens, count, fold))
    total = sum(c for _, _, c in pieces)
    target = total / max(1, math.ceil(total / max_tokens))
    windows: list[_Span] = []
    current: _Span | None = None
    for s, e, c in pieces:
        if current is not None and (current.tokens + c > max_tokens or current.tokens >= target):
            windows.append(current)
            current = None
        if current is None:
            current = _Span(s, e, para.title, c)
        else:
            current.end, current.tokens = e, current.tokens + c
    if current is not None:
        windows.append(current)
    return windows


def chunk_text(text: str, count: TokenCounter, fold: Callable[[str], str] = lambda s: s,
               max_tokens: int = 256, min_tokens: int = 32) -> list[Chunk]:
    """Chunks of ``text``; ``count`` gives token counts for folded strings."""
    paragraphs = _paragraphs(text, fold)
    if not paragraphs:
        return []
    counts = count([fold(text[p.start:p.end]) for p in paragraphs])
    units: list[_Span] = []
    for para, tokens in zip(paragraphs, counts):
        para.tokens = tokens
        units.extend(_windows(text, para, max_tokens, count, fold) if tokens > max_tokens else [para])

    merged: list[_Span] = []
    for unit in units:
        prev = merged[-1] if merged else None
        if (prev is not None and prev.title == unit.title
                and (prev.tokens < min_tokens or unit.tokens < min_tokens)
                and prev.tokens + unit.tokens <= max_tokens):
            prev.end, prev.tokens = unit.end, prev.tokens + unit.tokens
        else:
            merged.append(_Span(unit.start, unit.end, unit.title, unit.tokens))

    line_starts = [0] + [m.end() for m in re.finditer(r"\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]", text)]

    def line_of(offset: int) -> int:
        return bisect.bisect_right(line_starts, offset)

    return [Chunk(ordinal=i, char_start=u.start, char_end=u.end,
                  line_start=line_of(u.start), line_end=line_of(u.end - 1),
                  title=u.title, text=text[u.start:u.end])
            for i, u in enumerate(merged)]


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Sentence spans of ``text`` with surrounding whitespace trimmed."""
    spans = []
    for start, end in _split_by(_SENTENCE_END, text, 0, len(text)):
        piece = text[start:end]
        lead = len(piece) - len(piece.lstrip())
        trail = len(piece) - len(piece.rstrip())
        if end - trail > start + lead:
            spans.append((start + lead, end - trail))
    return spans


def sentence_windows(text: str, max_chars: int) -> list[str]:
    """Runs of whole sentences of ``text``, each at most ``max_chars`` long (a longer sentence alone).

    A chunk's vector averages everything it says, so one fact in a long paragraph
    about many things matches a question about that fact only weakly; each window
    gets its own vector and a chunk is scored by its best one as well (retrieval/dense.py).
    A text that fits in one window gives [] (its own vector already is that window).
    """
    groups: list[list[int]] = []
    for start, end in sentence_spans(text):
        if groups and end - groups[-1][0] <= max_chars:
            groups[-1][1] = end
        else:
            groups.append([start, end])
    return [text[start:end] for start, end in groups] if len(groups) > 1 else []


# Ends the document context that opens a chunk's embedding text: a line break, which the model reads
# as a space, then a control character tokenizers drop, which marks where the chunk's own text begins.
CONTEXT_END = "\n\x1e"


def document_title(chunks: Sequence[Chunk]) -> str | None:
    """The heading block a document opens with (its first chunk's section title), or None."""
    return chunks[0].title if chunks and chunks[0].title else None


def with_context(context: str | None, own_text: str) -> str:
    """A chunk's embedding text: the document context (one line), then the chunk's own text."""
    line = " ".join(context.split()) if context else ""
    return f"{line}{CONTEXT_END}{own_text}" if line else own_text


# A line that is only a parenthesised byline, "(甘肃省政协机关)" or "（记者 张三）": in scraped news it closes an
# article, and a page may hold several, so names are scoped to the article, not the file.
_BYLINE_LINE = re.compile(r"^[ \t]*[(（][^()（）\n]{2,40}[)）][ \t]*$", re.MULTILINE)


def closes_article(text: str) -> bool:
    """Whether ``text`` (a chunk's own text) holds a byline line: what follows it is another article."""
    return bool(_BYLINE_LINE.search(text))


def own_text(embed_text: str) -> str:
    """The chunk's own text in an embedding text, without its document context.

    Keyword terms and sentence windows are cut from this: a document's title in every
    one of its chunks would make them all match the title's words alike.
    """
    context, found, own = embed_text.partition(CONTEXT_END)
    return own if found and "\n" not in context else embed_text


def model_text(embed_text: str) -> str:
    """An embedding text as handed to the model: the context mark is a plain line break."""
    return embed_text.replace(CONTEXT_END, "\n", 1)


def embed_text_of(title: str | None, text: str, context: str | None = None) -> str:
    """What the model sees for a chunk: its document's title (``context``), its section title, the passage.

    All folded. The document's title is left out where the section title already is it. A passage
    deep in an article often never names what the article is about (the province, the body); with
    the title its vector does (docs/decisions.md, "Document title in every chunk's vector").
    """
    body = fold_text(text)
    own = f"{fold_text(title)}\n{body}" if title else body
    return with_context(fold_text(context) if context and context != title else None, own)


def text_hash(text: str) -> str:
    """The key of a chunk's vectors: a hash of exactly the text the model sees."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]
