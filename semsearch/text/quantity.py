"""Numbers asked for and numbers stated: "多少件" asks for a count in 件, "9800余件" states one.

A question asking "how many" prefers passages and sentences that state a count, most of all in the
measure word it asked in.
"""

from __future__ import annotations

import re

from semsearch.config import DEFAULTS, Settings
from semsearch.text.normalize import fold_text


# Answer types. Measure words that count things, and those that count time: "2021年" states no
# count of anything unless the question asks how many years.
_COUNTERS = "个件次名人项场间篇期家位条份元所座处户批支届本册类种倍%％"

_TIME_UNITS = "年月天日周岁"

_UNIT = rf"人次|场次|[{_COUNTERS}{_TIME_UNITS}]"


# 几 asks only with a measure word (几个, 几项): 几乎 is "almost".
_ASKS_COUNT = re.compile(rf"多少(?P<unit>{_UNIT})?|几(?P<few_unit>{_UNIT})|\bhow (?:many|much)\b"
                         r"|\bwhat (?:number|percentage|share)\b|占比|比例")


# 几 also means "several" (防止几个委员会同时下去): beside another question word it asks for no number.
_OTHER_QUESTION_WORD = re.compile(r"怎样|怎么|如何|为什么|为何|什么|哪|谁")


# A number with its measure word, or bare Arabic digits ("近3000群众"); Chinese numerals only with a measure word.
_QUANTITY = re.compile(rf"(?P<digits>\d+(?:\.\d+)?)?(?(digits)|[一二两三四五六七八九十百千]+)(?:余|多)?(?:万|亿)?(?:余|多)?"
                       rf"(?P<unit>{_UNIT})?")


def asked_unit(question: str) -> str | None:
    """"" when ``question`` asks for a number with no measure word, the measure word when it has one, else None."""
    folded = fold_text(question).lower()
    for found in _ASKS_COUNT.finditer(folded):
        if found.group(0).startswith("几") and _OTHER_QUESTION_WORD.search(folded):
            continue
        return found.group("unit") or found.group("few_unit") or ""
    return None


def states_count_in(unit: str, text: str) -> bool:
    """Whether ``text`` states a count in the measure word ``unit`` (35间, 9800余件, 三项; not 一个, which is
    mostly the article "a")."""
    return any(m.group("unit") == unit and (m.group("digits") or not m.group(0).startswith("一"))
               for m in _QUANTITY.finditer(fold_text(text)))


def answer_type_bonus(unit: str | None, sentence: str, folded: bool = False, settings: Settings = DEFAULTS) -> float:
    """How much ``sentence`` (``folded`` already, or not) looks like the number a question asking in ``unit``
    wants (0 when it asks none)."""
    if unit is None:
        return 0.0
    units = [m.group("unit") or "" for m in _QUANTITY.finditer(sentence if folded else fold_text(sentence))
             if m.group("unit") or m.group("digits")]
    asks_time = bool(unit) and unit in _TIME_UNITS
    counted = [u for u in units if not u or u not in _TIME_UNITS or asks_time]
    if not counted:
        return 0.0
    return settings.quantity_bonus + (settings.same_unit_bonus if unit and unit in counted else 0.0)
