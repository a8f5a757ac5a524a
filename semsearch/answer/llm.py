"""LLM answers: ranked hits -> a short answer written by a chat model, every sentence checked against what it cites.

Owns asking an OpenAI-compatible ``/chat/completions`` endpoint (a local llama.cpp,
Ollama, vLLM server or a hosted API) for an answer in which every sentence ends
with the marks ``[n]`` of the passages that support it, and deciding which of
those sentences to keep. Off unless a URL is given (``--llm-url``).

The citation check is the point of this module: a model can write fluent
sentences that no passage says, or cite the wrong passage. A sentence is kept
only when a passage it cites *supports* it:

* every number in it (digits, after NFKC; ``93万`` also counts as ``930000``)
  appears in that passage (text or title), and
* for sentences with Chinese, at least ``SUPPORT_THRESHOLD`` of its content
  terms (``keyword.terms`` on the folded text: jieba words and character
  bigrams with a Chinese character) appear in that passage's terms. Sentences
  without Chinese are only held to the numbers: their words cannot be compared
  with Chinese passages.

A sentence whose cited passages do not all support it keeps only the ones that
do; one that none supports is dropped and reported in ``Answer.flagged``, as is
one with no citation. Citations to ranks that do not exist are ignored. When
nothing survives (or the model says ``NO_ANSWER``) the extractive answer of
``answer/extractive.py`` is returned instead, marked ``mode="extractive"`` with the reason.
"""

from __future__ import annotations

import dataclasses
import os
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Callable

from semsearch.analysis import keyword
from semsearch.answer.extractive import answer_question
from semsearch.answer.llm_client import DEFAULT_TIMEOUT, chat_endpoint, complete
from semsearch.config import DEFAULTS
from semsearch.encoders.factory import load_encoder
from semsearch.text.normalize import clean_text, fold_text
from semsearch.text.script import CJK_CHAR, QUESTION_WORDS
from semsearch.types import Answer, AnswerSentence, Hit

DEFAULT_MODEL = "default"
NO_ANSWER = "NO_ANSWER"
# Share of a Chinese sentence's content terms that the cited passage must contain (docs/decisions.md, "LLM
# citation check"): erring towards dropping, since a dropped sentence costs a shorter answer and a wrongly
# kept one costs trust.
SUPPORT_THRESHOLD = DEFAULTS.llm_support_threshold

SYSTEM_PROMPT = (
    "You answer questions using only the numbered passages you are given.\n"
    "Rules:\n"
    "1. Write a short answer: one to three sentences, in the language of the question.\n"
    "2. End every sentence with the citation marks of the passages that state what it says, "
    "like [1] or [1][3]. Cite only passages that support the sentence.\n"
    "3. Use only facts stated in the passages, and copy numbers exactly as the passages give them.\n"
    "4. Do not put facts from different passages in one sentence unless you cite each of them.\n"
    f"5. If the passages do not answer the question, reply exactly {NO_ANSWER} and nothing else."
)

_CJK = CJK_CHAR
# A citation mark: [1], [1,3], [1、3], [1-3], 【1】, ［1］, [passage 1].
_MARK = (r"[\[【［]\s*(?:(?:passages?|sources?|docs?|段落|片段|来源|資料|资料)\s*)?"
         r"(\d{1,3}(?:\s*(?:[,，、;；~～\-–—]|\s)\s*\d{1,3})*)\s*[\]】］]")
_MARK_RE = re.compile(_MARK, re.IGNORECASE)
_MARKS_RE = re.compile(rf"(?:{_MARK})(?:[\s,，、]*(?:{_MARK}))*", re.IGNORECASE)
_LEADING_MARKS = re.compile(rf"\s*(?:{_MARK})(?:[\s,，、]*(?:{_MARK}))*", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?:[。！？!?]+|\.(?=\s|$|[\[【［]))[”’」』\"')）]*")
_LIST_MARKER = re.compile(r"^\s*(?:[-*+•·]|\d{1,2}[.)、．]|#{1,6})\s+")
_MARKUP = re.compile(r"\*\*|__|`")
_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_WORDLIKE = re.compile(r"\w")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+(?=[。！？!?，,；;：:.、）)」』”’])")
_NUMBER = re.compile(r"\d+(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?")
_SCALE = re.compile(r"\s*(万亿|万|亿|千|thousand|million|billion)", re.IGNORECASE)
_SCALES = {"万亿": 10 ** 12, "万": 10 ** 4, "亿": 10 ** 8, "千": 10 ** 3,
           "thousand": 10 ** 3, "million": 10 ** 6, "billion": 10 ** 9}



def build_messages(question: str, hits: list[Hit]) -> list[dict]:
    """The chat messages: rules, then the passages numbered by rank with their titles, then the question."""
    blocks = []
    for hit in hits:
        title = f" {clean_text(hit.title).strip()}" if hit.title else ""
        blocks.append(f"[{hit.rank}]{title}\n{clean_text(hit.text).strip()}")
    language = " (Chinese)" if _CJK.search(question) else ""
    user = ("Passages:\n\n" + "\n\n".join(blocks) + f"\n\nQuestion: {question}\n\n"
            f"Answer in the language of the question{language}, ending every sentence with its citation marks, "
            f"or reply {NO_ANSWER}.")
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


# -- reading the reply ---------------------------------------------------------

@dataclass(frozen=True)
class Claim:
    """One sentence of the model's reply: its text without marks, and the clauses with the marks each carried."""

    text: str
    parts: tuple[tuple[str, tuple[int, ...]], ...]

    @property
    def citations(self) -> tuple[int, ...]:
        return _unique(c for _, cites in self.parts for c in cites)


def _unique(items) -> tuple:
    return tuple(dict.fromkeys(items))


def _mark_numbers(group: str) -> list[int]:
    out: list[int] = []
    for m in _MARK_RE.finditer(group):
        body = unicodedata.normalize("NFKC", m.group(1))
        for piece in re.split(r"[,，、;；\s]+", body):
            bounds = re.split(r"\s*[~～\-–—]\s*", piece)
            if len(bounds) == 2 and all(b.isdigit() for b in bounds) and 0 <= int(bounds[1]) - int(bounds[0]) <= 20:
                out.extend(range(int(bounds[0]), int(bounds[1]) + 1))
            else:
                out.extend(int(b) for b in bounds if b.isdigit())
    return out


def _tidy(text: str) -> str:
    return _SPACE_BEFORE_PUNCT.sub("", " ".join(text.split())).strip()


def is_no_answer(reply: str) -> bool:
    return re.fullmatch(rf"\W*{NO_ANSWER}\W*", _THINK.sub("", reply).strip()) is not None


def _pieces(line: str) -> list[str]:
    """A line cut after each sentence end, marks right after the end staying with their sentence."""
    out, start, pos = [], 0, 0
    while (m := _SENTENCE_END.search(line, pos)) is not None:
        end = m.end()
        marks = _LEADING_MARKS.match(line, end)
        if marks:
            end = marks.end()
        out.append(line[start:end])
        start = pos = end
    if start < len(line):
        out.append(line[start:])
    return out


def parse_reply(reply: str) -> list[Claim]:
    """Sentences of the reply (cut at 。！？!? and line breaks), each with the citation marks it carries."""
    claims: list[Claim] = []
    for line in _THINK.sub("", reply).splitlines():
        line = _MARKUP.sub("", _LIST_MARKER.sub("", line))
        for piece in _pieces(line):
            parts: list[list] = []
            last = 0
            for m in _MARKS_RE.finditer(piece):
                segment, cites = piece[last:m.start()], _mark_numbers(m.group())
                if parts and not _WORDLIKE.search(segment):
                    parts[-1][0] += segment
                    parts[-1][1] += cites
                else:
                    parts.append([segment, cites])
                last = m.end()
            tail = piece[last:]
            if parts:
                parts[-1][0] += tail
            else:
                parts.append([tail, []])
            text = _tidy("".join(p[0] for p in parts))
            if not _WORDLIKE.search(text):
                if claims and any(p[1] for p in parts):  # marks alone on a line: they belong to the sentence before
                    prev = claims[-1]
                    last_text, last_cites = prev.parts[-1]
                    extra = tuple(c for p in parts for c in p[1])
                    claims[-1] = Claim(prev.text, prev.parts[:-1] + ((last_text, last_cites + extra),))
                continue
            if not any(p[1] for p in parts) and (text.endswith((":", "：")) or is_no_answer(text)):
                continue  # a heading such as "答案：", not a claim
            claims.append(Claim(text, tuple((_tidy(t), _unique(c)) for t, c in parts)))
    return claims


# -- the citation check ----------------------------------------------------------

def _canonical(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def numbers(text: str) -> list[tuple[str, frozenset[str]]]:
    """Each number in ``text`` (after NFKC) with the forms it may take: 93万 -> {"93", "930000"}."""
    unified = unicodedata.normalize("NFKC", text)
    found = []
    for m in _NUMBER.finditer(unified):
        try:
            value = Decimal(m.group().replace(",", ""))
        except InvalidOperation:
            continue
        forms = {_canonical(value)}
        scale = _SCALE.match(unified, m.end())
        if scale:
            forms.add(_canonical(value * _SCALES[scale.group(1).lower()]))
        found.append((m.group(), frozenset(forms)))
    return found


def content_terms(text: str) -> set[str]:
    """Chinese terms that carry meaning: keyword terms of the folded text with a CJK character, no question words.

    Numbers are left to the number rule; Latin words are left out because they
    cannot be compared with Chinese passages (an English name, a translation).
    """
    return {t for t in keyword.terms(fold_text(text)) if t not in QUESTION_WORDS and _CJK.search(t)}


@dataclass(frozen=True)
class Evidence:
    """What a passage (its title and text) offers to support a sentence."""

    rank: int
    numbers: frozenset[str]
    terms: frozenset[str]

    @classmethod
    def of(cls, hit: Hit) -> "Evidence":
        text = f"{hit.title}\n{hit.text}" if hit.title else hit.text
        return cls(hit.rank, frozenset(f for _, forms in numbers(text) for f in forms),
                   frozenset(keyword.terms(fold_text(text))))


def support(sentence: str, evidence: Evidence, threshold: float = SUPPORT_THRESHOLD) -> tuple[bool, str]:
    """(whether ``evidence`` supports ``sentence``, why not)."""
    missing = _unique(raw for raw, forms in numbers(sentence) if not forms & evidence.numbers)
    if missing:
        return False, f"{', '.join(missing)} not in [{evidence.rank}]"
    if not _CJK.search(fold_text(sentence)):
        return True, ""
    terms = content_terms(sentence)
    if not terms:
        return True, ""
    share = len(terms & evidence.terms) / len(terms)
    if share < threshold:
        return False, f"only {share:.0%} of its words are in [{evidence.rank}]"
    return True, ""


def check_claims(claims: list[Claim], hits: list[Hit],
                 threshold: float = SUPPORT_THRESHOLD) -> tuple[list[AnswerSentence], list[dict]]:
    """(sentences kept, each citing only passages that support it; sentences dropped, with the reason)."""
    evidence = {hit.rank: Evidence.of(hit) for hit in hits}
    kept: list[AnswerSentence] = []
    flagged: list[dict] = []

    def flag(claim: Claim, reason: str) -> None:
        flagged.append({"text": claim.text, "citations": list(claim.citations), "reason": reason})

    for claim in claims:
        valid = [c for c in claim.citations if c in evidence]
        if not valid:
            flag(claim, "no citation" if not claim.citations else
                 f"cites no passage that exists ({''.join(f'[{c}]' for c in claim.citations)})")
            continue
        supporting, reasons = [], []
        for rank in valid:
            ok, why = support(claim.text, evidence[rank], threshold)
            if ok:
                supporting.append(rank)
            else:
                reasons.append(why)
        if not supporting and len(claim.parts) > 1:
            # Marks inside the sentence ("A[1]，B[2]。"): each clause may be held to its own marks.
            per_part = []
            for text, cites in claim.parts:
                ok = [c for c in cites if c in evidence and support(text, evidence[c], threshold)[0]]
                if not ok:
                    per_part = []
                    break
                per_part.extend(ok)
            supporting = list(_unique(per_part))
        if not supporting:
            flag(claim, "not supported: " + "; ".join(reasons))
            continue
        kept.append(AnswerSentence(text=claim.text, citation=supporting[0], citations=tuple(supporting)))
    return kept, flagged


# -- the answer -------------------------------------------------------------------

def llm_answer(question: str, hits: list[Hit], url: str, model: str | None = None, api_key: str | None = None,
               timeout: float = DEFAULT_TIMEOUT, *, fallback: Callable[[], Answer] | None = None,
               embedder=None) -> Answer:
    """An answer written by the model at ``url`` from ``hits``, every sentence checked against its citations.

    ``model`` defaults to $SEMSEARCH_LLM_MODEL, else "default"; ``api_key`` to $SEMSEARCH_LLM_API_KEY,
    else $OPENAI_API_KEY (sent as a Bearer token). When no sentence survives the check, or the model
    replies NO_ANSWER, the extractive answer is returned (``fallback()``, by default ``answer_question``
    with ``embedder``) marked ``mode="extractive"``. Any failure to get a reply raises InputError.
    """
    model = model or os.environ.get("SEMSEARCH_LLM_MODEL") or DEFAULT_MODEL
    if api_key is None:
        api_key = os.environ.get("SEMSEARCH_LLM_API_KEY") or os.environ.get("OPENAI_API_KEY") or None

    def extractive(reason: str, flagged: list[dict]) -> Answer:
        if fallback is not None:
            base = fallback()
        else:
            base = answer_question(question, hits, embedder if embedder is not None else load_encoder())
        return dataclasses.replace(base, mode="extractive", flagged=flagged, fallback=reason)

    chat_endpoint(url)  # a bad URL is an input error even when there is nothing to ask
    if not hits:
        return extractive("no passages to give the LLM", [])
    body = {"model": model, "messages": build_messages(question, hits), "temperature": 0, "stream": False}
    reply = complete(url, body, api_key, timeout)
    if is_no_answer(reply):
        return extractive(f"the LLM replied {NO_ANSWER}", [])
    claims = parse_reply(reply)
    if not claims:
        return extractive("the LLM's reply had no sentences", [])
    kept, flagged = check_claims(claims, hits)
    if not kept:
        return extractive("no sentence of the LLM's answer is supported by a passage it cites", flagged)
    text = " ".join(f"{s.text} {s.marks()}" for s in kept)
    return Answer(no_answer=False, text=text, sentences=kept, hits=hits, mode="llm", flagged=flagged)
