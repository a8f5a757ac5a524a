"""Saying "no answer": when the passages found do not answer the question.

The model always finds some passage nearest to a question, often with a high cosine, so the
decision rests on cheap signals besides it: a question with nothing to look for; a best cosine
below the threshold for its languages (e5's cosines sit high within Chinese and lower across
scripts); no shared term with the corpus; a name the corpus never mentions.
"""

from __future__ import annotations

import re
from typing import Callable

from semsearch.analysis import keyword
from semsearch.analysis.dictionary import common_english, common_words, content_words, english_of, with_surname
from semsearch.analysis.translate import english_by_word, translations_by_word
from semsearch.config import DEFAULTS, Settings
from semsearch.retrieval.dense import query_text_for_embedding
from semsearch.text.normalize import fold_text
from semsearch.text.script import OTHER_SCRIPT, has_cjk
from semsearch.types import Hit, Nearest

_DIGITS = re.compile(r"\d")
_LATIN_WORDS = re.compile(r"[a-z0-9]+")
_LATIN_ALL = re.compile(r"[A-Za-z]+")


def unanswerable(question: str, hits: list[Hit], term_counts: Callable[[list[str]], dict[str, int]],
                 min_score: float | None = None, settings: Settings = DEFAULTS, nearest: Nearest | None = None) -> bool:
    """True when the passages found do not answer ``question``.

    First, a question with nothing to look for is never answered, whatever ``min_score`` says:
    no term once question words are gone (为什么?, ？？？), or, with no Chinese, no English
    content word and no name (a, what is it?). The model still finds some passage nearest to
    such a question, often with a high cosine, and answering it would be noise.

    Then three signals, each cheap: the best cosine is below the threshold (``min_score`` when
    given, else the calibrated one for the question's language); the question
    shares no term at all with the corpus; or it names a place, person or body that
    the corpus never mentions (浙江 in a corpus about Gansu and Yunnan), unless the dictionary
    knows that "name" as a common word too, or it is a "person" whose first characters are no
    surname. An English question shares no term with Chinese text unless it names something; it
    is let through when one passage holds translations of at least ``min_translated_words`` of
    its words. A Chinese question over Chinese text that names a Latin-script word (Excel, Ansible) the
    index never uses, nor any translation of it, asks about what the corpus does not cover.

    ``nearest`` (the dense ranking's first passage) gives the cosine when fusion kept no passage of the
    dense ranking among ``hits``, and says whether the corpus answers in Chinese when ``hits`` hold none.
    """
    if not hits:
        return True
    folded = fold_text(question)
    asks_in_chinese = has_cjk(folded)
    query = keyword.query_terms(folded)
    if not has_content(folded, query, asks_in_chinese):
        return True
    chinese_text = any(has_cjk(hit.text) for hit in hits) or (nearest is not None and nearest.chinese)
    # A Chinese question over text with no Chinese (an English corpus) is matched across languages, as an
    # English question over Chinese text is, and its cosines sit as low.
    across = asks_in_chinese and not chinese_text
    if min_score is not None:
        threshold = min_score
    elif asks_in_chinese:
        threshold = settings.min_cosine_other if across else settings.min_cosine_cjk
    elif not chinese_text:
        threshold = settings.min_cosine_same_non_cjk
    else:
        translated = query_text_for_embedding(folded, term_counts, None, settings) != folded
        threshold = settings.min_cosine_translated if translated else settings.min_cosine_other
    best_cosine = max((h.dense_score for h in hits if h.dense_score is not None),
                      default=nearest.cosine if nearest is not None else None)
    if best_cosine is not None and best_cosine < threshold:
        return True
    if asks_in_chinese and not across and settings.absent_latin_words and absent_latin_words(folded, term_counts,
                                                                                               settings):
        return True
    if not asks_in_chinese and not chinese_text and absent_latin_names(folded, term_counts):
        return True
    names, persons = keyword.names_and_persons(folded)
    counts = term_counts(query + names)
    glossed = None  # the question's Chinese words the index lacks -> their English glosses, when first needed
    if query and not any(counts[t] for t in query):
        if asks_in_chinese:
            glossed = english_by_word(folded, term_counts, settings)
            if chinese_words_in_one_passage(keyword.main_words(folded), glossed, hits) < settings.min_translated_cjk_words:
                return True
        elif english_words_in_one_passage(folded, hits, term_counts, settings) < settings.min_translated_words:
            return True
    absent = [name for name in names if counts[name] == 0]
    if absent and across:
        # Over English text a name is missing when the dictionary spells it in English (浙江: Zhejiang) and the
        # text holds none of that; a name the dictionary lacks (滞洪区) cannot be looked for.
        if glossed is None:
            glossed = english_by_word(folded, term_counts, settings)
        offered = english_of(absent)
        absent = [name for name in absent if offered[name] and not glossed.get(name)]
    if not absent:
        return False
    # The tagger also tags common words as names (深度; 大丰收, "bumper harvest", as a person): a "name" the
    # dictionary knows as a word, or a "person" with no surname, proves nothing.
    persons &= set(absent)
    doubtful = common_words(absent) | (persons - with_surname(sorted(persons)))
    return any(name not in doubtful for name in absent)


def absent_latin_names(folded: str, term_counts: Callable[[list[str]], dict[str, int]]) -> list[str]:
    """The capitalised words of a (folded) question, not opening a sentence, that the index never uses and that
    are no common English word (London in a question about Riverside; not World, which glosses 世界), as name keys.
    None in a question written in title case, whose capitals mark no names."""
    words = _LATIN_ALL.findall(folded)
    if not words or sum(word[:1].isupper() for word in words) * 2 > len(words):
        return []
    keys = sorted(keyword.latin_names(folded))
    counts = term_counts(keys)
    absent = [key for key in keys if counts[key] == 0]
    common = common_english(absent)
    return [key for key in absent if key not in common]


def absent_latin_words(folded: str, term_counts: Callable[[list[str]], dict[str, int]],
                       settings: Settings = DEFAULTS) -> list[str]:
    """The Latin-script words of a (folded) question (2+ letters, as the keyword index cuts them) that the index
    never uses and, for a word written in lower case, of which it holds no dictionary translation either (proxy is
    let through where the text says 代理)."""
    words = sorted({t for t in keyword.terms(folded) if t.isascii() and len(t) >= 2 and not t.isdigit()})
    if not words:
        return []
    counts = term_counts(words)
    absent = [word for word in words if counts[word] == 0]
    if not absent:
        return []
    # A capitalised word names something (Excel is no 特异, "to excel"): only a plain word is read for its sense.
    plain = [word for word in absent if re.search(rf"(?<![A-Za-z]){word}(?![A-Za-z])", folded)]
    translated = translations_by_word(" ".join(plain), term_counts, settings) if plain else {}
    return [word for word in absent if not translated.get(word)]


def has_content(folded: str, query_terms: list[str], asks_in_chinese: bool) -> bool:
    """Whether a (folded) question, whose ``keyword.query_terms`` are given, has anything to look for besides
    question and function words."""
    if OTHER_SCRIPT.search(folded):
        return True  # words only the model reads (Cyrillic, Greek, Arabic, Hangul...): nothing here can judge them
    if not query_terms:
        return False
    if asks_in_chinese:
        return True
    return bool(content_words(folded) or keyword.latin_names(folded) or _DIGITS.search(folded))


def english_words_in_one_passage(folded: str, hits: list[Hit], term_counts: Callable[[list[str]], dict[str, int]],
                                 settings: Settings = DEFAULTS) -> int:
    """The most English words of the question whose dictionary translations one passage holds together."""
    by_word = [terms for terms in translations_by_word(folded, term_counts, settings).values() if terms]
    if not by_word:
        return 0
    texts = [fold_text(hit.text) for hit in hits]
    return max(sum(any(term in text for term in terms) for terms in by_word) for text in texts)


def chinese_words_in_one_passage(words: list[str], by_word: dict[str, list[str]], hits: list[Hit]) -> int:
    """The most of a question's Chinese ``words`` whose English glosses (``by_word``, from translate.english_by_word)
    one passage holds together."""
    found = [set(by_word[word]) for word in words if by_word.get(word)]
    if not found:
        return 0
    passage_words = [set(_LATIN_WORDS.findall(hit.text.lower())) for hit in hits]
    return max(sum(bool(terms & held) for terms in found) for held in passage_words)
