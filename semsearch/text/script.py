"""Which script text is in: the CJK character ranges and the question words, defined once."""

from __future__ import annotations

import re

# CJK Unified Ideographs, Extension A and the compatibility block: the characters keyword terms are made of.
CJK_RANGES = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# The main block alone: CC-CEDICT's headwords are read from it.
UNIFIED_RANGE = "\u4e00-\u9fff"

CJK_CHAR = re.compile(f"[{CJK_RANGES}]")
CJK_RUN = re.compile(f"[{CJK_RANGES}]{{2,}}")
# A CJK character or a run of ASCII letters and digits: the units of bigram matching.
WORD_UNIT = re.compile(f"[0-9a-z]+|[{CJK_RANGES}]")
# Letters of scripts the keyword index has no terms for: not Latin, not CJK ideographs.
OTHER_SCRIPT = re.compile(f"[^\\W\\d_a-zA-Z\u00c0-\u024f\u1e00-\u1eff{CJK_RANGES}]")

# Words that make a text a question: 如何, 多少, what, how ... (几 alone only with a measure word: 几乎 is "almost").
INTERROGATIVES = frozenset(
    "如何 怎么 怎样 怎么样 什么 多少 哪些 哪里 哪个 哪几个 为什么 是否 有没有 几个 请问 吗 呢 多久 多长 多大 多远 多高 "
    "何时 什么时候 为何 哪位 哪儿 哪家 几时 啥 咋 怎么办 是谁 谁 哪 "
    "what which who how when where why".split())
# Words that ask rather than say, or say nothing: they never help find a passage.
QUESTION_WORDS = INTERROGATIVES | frozenset(
    "几 多长时间 了 的 是 有 many much does did do is are was were the a an of in on to for and".split())


def has_cjk(text: str) -> bool:
    return CJK_CHAR.search(text) is not None


def is_cjk_word(word: str) -> bool:
    """Whether every character of ``word`` is a CJK ideograph."""
    return bool(word) and all(CJK_CHAR.match(ch) for ch in word)


_QUESTION_MARK = re.compile(r"[?？]\s*$")
_LATIN_WORDS = re.compile(r"[a-z]+")


def asks(folded: str) -> bool:
    """Whether a (folded) query is a question rather than a title or a few keywords: it ends with a question mark
    or holds an interrogative word."""
    if _QUESTION_MARK.search(folded):
        return True
    lowered = folded.lower()
    if any(word in lowered for word in INTERROGATIVES if not word.isascii()):
        return True
    return any(word in INTERROGATIVES for word in _LATIN_WORDS.findall(lowered))

