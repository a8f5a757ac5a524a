"""Extractive answers: ranked hits -> 1–3 sentences that answer, each citing its passage.

Owns choosing answer sentences and deciding when there is no answer. Each
sentence of the top passages is scored by meaning (cosine between the question
and the sentence, or the stored vector of the sentence window that holds it) and
by wording (the share of the question's character
bigrams, weighted by rarity among the candidates, that the sentence contains),
with a small preference for higher-ranked passages. A question that asks for a
number ("多少件", "how many") prefers sentences that state one, most of all with
the measure word it asked for (件). The best sentence is
always kept; up to two more are kept when they score close to it. Sentences
are quoted exactly from the source, so their citations stay exact.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from . import keyword
from .chunk import own_text, sentence_spans, sentence_windows
from .embed import Embedder
from .normalize import fold_text, folded_spans, match_key, match_key_of_folded
from .search import NEAR_DUPLICATE, Hit, jaccard, query_text_for_embedding, shingles
from .translate import (common_english, common_words, content_words, english_by_word, english_of, translations,
                        translations_by_word, with_surname)

# Cosine (question vs best passage) below which nothing answers. e5's cosines sit high and
# cross-lingual ones lower, so questions with and without Chinese get their own thresholds, and an
# English question embedded with its words' translations (search.query_text_for_embedding), whose
# cosines sit higher again, its own; all were calibrated on bench/questions (see bench/RESULTS.md).
MIN_COSINE_CJK = 0.87
MIN_COSINE_TRANSLATED = 0.835
MIN_COSINE_OTHER = 0.75
# An English question over English text (or any question and text with no Chinese): cosines of one language.
# Calibrated on bench/questions/english_over_english.jsonl: answerable 0.819 and up, off-topic 0.766 to 0.808.
MIN_COSINE_SAME_NON_CJK = 0.78
_HAS_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_DIGITS = re.compile(r"\d")
# Letters of scripts the keyword index has no terms for: not Latin, not CJK ideographs.
_OTHER_SCRIPT = re.compile(r"[^\W\d_a-zA-Z\u00c0-\u024f\u1e00-\u1eff\u3400-\u9fff\uf900-\ufaff]")
# Off-topic English questions we tried had at most 2 words translated in one top passage;
# answerable ones without a shared name had 4 (bench/questions/english_heldout.jsonl x16, x19).
MIN_TRANSLATED_WORDS = 3
# A Chinese question over English text has few words to translate (渡轮 高峰期), and several of them often gloss
# as words the text does not use: one glossed word in a passage lets it through (bench/quality.py, zh-over-en).
MIN_TRANSLATED_CJK_WORDS = 1
_LATIN_WORDS = re.compile(r"[a-z0-9]+")
_LATIN_ALL = re.compile(r"[A-Za-z]+")
MAX_SENTENCES = 3
DENSE_SHORTLIST = 16
CLOSE_TO_BEST = 0.85
_WORD = re.compile(r"[0-9a-z]+|[\u3400-\u9fff\uf900-\ufaff]")
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
# A sentence whose passage's document holds the names the question asks about (search.py's document
# names), in proportion to the share it holds: the same sentence in another city's report is not the answer.
DOCUMENT_NAME_BONUS = 0.05
QUANTITY_BONUS = 0.1  # a sentence that states a number, for a question that asks for one
SAME_UNIT_BONUS = 0.05  # ... counted in the measure word the question used


@dataclass(frozen=True)
class AnswerSentence:
    text: str
    citation: int  # rank of the hit it comes from (the first cited one for LLM sentences)
    char_start: int | None = None  # offsets in the source file; None for LLM-written sentences
    char_end: int | None = None
    score: float = 0.0
    citations: tuple[int, ...] = ()  # LLM sentences only: every rank that supports it

    def as_json(self) -> dict:
        data = {"text": self.text, "citation": self.citation}
        if self.citations:
            data["citations"] = list(self.citations)
        return data

    def marks(self) -> str:
        return "".join(f"[{c}]" for c in (self.citations or (self.citation,)))


@dataclass
class Answer:
    no_answer: bool
    text: str
    sentences: list[AnswerSentence] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    # Set only when an LLM answer was asked for (see llm.py): "llm", or "extractive" when it fell back.
    mode: str | None = None
    flagged: list[dict] = field(default_factory=list)  # LLM sentences dropped by the citation check
    fallback: str | None = None  # why the extractive answer was used instead of the LLM's

    def as_json(self, question: str, explain: bool = False) -> dict:
        answer = {"text": self.text, "sentences": [s.as_json() for s in self.sentences]}
        if self.mode is not None:
            answer["mode"] = self.mode
            answer["flagged"] = list(self.flagged)
            if self.fallback:
                answer["fallback"] = self.fallback
        return {"schema": 1, "question": question, "no_answer": self.no_answer,
                "answer": answer, "results": [h.as_json(explain) for h in self.hits]}


def bigrams(text: str) -> set[str]:
    """Character bigrams of CJK text and whole ASCII words, on the match-key form."""
    return _grams(match_key(text))


def _grams(key: str) -> set[str]:
    units = _WORD.findall(key.lower())
    grams = {a + b for a, b in zip(units, units[1:]) if len(a) == 1 and len(b) == 1}
    grams.update(u for u in units if len(u) > 1)
    return grams


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


def answer_type_bonus(unit: str | None, sentence: str, folded: bool = False) -> float:
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
    return QUANTITY_BONUS + (SAME_UNIT_BONUS if unit and unit in counted else 0.0)


def unanswerable(question: str, hits: list[Hit], term_counts: Callable[[list[str]], dict[str, int]],
                 min_score: float | None = None) -> bool:
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
    is let through when one passage holds translations of at least ``MIN_TRANSLATED_WORDS`` of
    its words.
    """
    if not hits:
        return True
    folded = fold_text(question)
    has_cjk = bool(_HAS_CJK.search(folded))
    query = keyword.query_terms(folded)
    if not has_content(folded, query, has_cjk):
        return True
    chinese_text = any(_HAS_CJK.search(hit.text) for hit in hits)
    # A Chinese question over text with no Chinese (an English corpus) is matched across languages, as an
    # English question over Chinese text is, and its cosines sit as low.
    across = has_cjk and not chinese_text
    if min_score is not None:
        threshold = min_score
    elif has_cjk:
        threshold = MIN_COSINE_OTHER if across else MIN_COSINE_CJK
    elif not chinese_text:
        threshold = MIN_COSINE_SAME_NON_CJK
    else:
        translated = query_text_for_embedding(folded, term_counts) != folded
        threshold = MIN_COSINE_TRANSLATED if translated else MIN_COSINE_OTHER
    best_cosine = max((h.dense_score for h in hits if h.dense_score is not None), default=None)
    if best_cosine is not None and best_cosine < threshold:
        return True
    if not has_cjk and not chinese_text and absent_latin_names(folded, term_counts):
        return True
    names, persons = keyword.names_and_persons(folded)
    counts = term_counts(query + names)
    glossed = None  # the question's Chinese words the index lacks -> their English glosses, when first needed
    if query and not any(counts[t] for t in query):
        if has_cjk:
            glossed = english_by_word(folded, term_counts)
            if chinese_words_in_one_passage(keyword.main_words(folded), glossed, hits) < MIN_TRANSLATED_CJK_WORDS:
                return True
        elif english_words_in_one_passage(folded, hits, term_counts) < MIN_TRANSLATED_WORDS:
            return True
    absent = [name for name in names if counts[name] == 0]
    if absent and across:
        # Over English text a name is missing when the dictionary spells it in English (浙江: Zhejiang) and the
        # text holds none of that; a name the dictionary lacks (滞洪区) cannot be looked for.
        if glossed is None:
            glossed = english_by_word(folded, term_counts)
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


def has_content(folded: str, query_terms: list[str], has_cjk: bool) -> bool:
    """Whether a (folded) question, whose ``keyword.query_terms`` are given, has anything to look for besides
    question and function words."""
    if _OTHER_SCRIPT.search(folded):
        return True  # words only the model reads (Cyrillic, Greek, Arabic, Hangul...): nothing here can judge them
    if not query_terms:
        return False
    if has_cjk:
        return True
    return bool(content_words(folded) or keyword.latin_names(folded) or _DIGITS.search(folded))


def repeats(key: str, trigrams: set[str], other_key: str, other_trigrams: set[str]) -> bool:
    """Whether two sentences (their match keys and trigrams) state the same thing: one holds the other, or they
    share as many trigrams as near-duplicate passages do."""
    return key in other_key or other_key in key or jaccard(trigrams, other_trigrams) >= NEAR_DUPLICATE


def english_words_in_one_passage(folded: str, hits: list[Hit], term_counts: Callable[[list[str]], dict[str, int]]) -> int:
    """The most English words of the question whose translations (translate.py) one passage holds together."""
    by_word = [terms for terms in translations_by_word(folded, term_counts).values() if terms]
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


@dataclass(frozen=True)
class WindowLookup:
    """An index's stored vectors by text hash: sentence windows (cut at ``max_chars``) and whole chunks."""

    vectors: Callable[[list[str]], dict[str, np.ndarray]]
    max_chars: int
    chunk_vectors: Callable[[set[str]], dict[str, np.ndarray]] | None = None

    @classmethod
    def of(cls, gen) -> "WindowLookup":
        """The stored vectors of an index generation (``store.Generation``)."""
        return cls(gen.window_vectors_of_texts, gen.window_chars or 0, gen.cached_vectors)


def sentence_cosines(q_vec: np.ndarray, sentences: list[tuple[Hit, str]], embedder: Embedder | None,
                     windows: WindowLookup | None, folded: list[str] | None = None) -> np.ndarray:
    """Cosine of each (hit, sentence) to the question.

    Where the passage has sentence windows in the index, a sentence takes the stored
    vector of the window that holds it: embedding a dozen sentences per question took
    ~0.3 s, most of an ``ask``, and scoring by window gave the same answers on
    bench/questions. A passage that fits in one window is its own window: its sentences
    take the chunk's vector. Only text the stored vectors cannot place is embedded; with no
    ``embedder``, nothing is, and such a sentence takes its passage's vector (-1 if none is stored).
    ``folded``, when given, is each sentence already folded.
    """
    if folded is None:
        folded = [fold_text(text) for _, text in sentences]
    out = np.full(len(sentences), np.nan)
    if windows is not None and windows.max_chars:
        from .indexer import text_hash

        window_texts = {}
        for hit, _ in sentences:
            if hit.chunk_id not in window_texts:
                embed_text = _embed_text(hit)
                window_texts[hit.chunk_id] = (text_hash(embed_text),
                                              sentence_windows(own_text(embed_text), windows.max_chars))
        stored = windows.vectors(sorted({key for key, _ in window_texts.values()}))
        single = {key for key, texts in window_texts.values() if not texts}
        whole = windows.chunk_vectors(single) if windows.chunk_vectors and single else {}
        for i, (hit, text) in enumerate(sentences):
            key, texts = window_texts[hit.chunk_id]
            if not texts:
                if key in whole:
                    out[i] = float(whole[key] @ q_vec)
                continue
            holder = next((j for j, w in enumerate(texts) if folded[i] in w), None)
            if key in stored and holder is not None and len(stored[key]) == len(texts):
                out[i] = float(stored[key][holder].astype(np.float32) @ q_vec)
    todo = [i for i in range(len(sentences)) if np.isnan(out[i])]
    if todo and embedder is not None:
        out[todo] = embedder.encode_sentences([folded[i] for i in todo]) @ q_vec
    elif todo:  # stored vectors only: such a sentence takes its passage's own vector
        from .indexer import text_hash

        keys = {i: text_hash(_embed_text(sentences[i][0])) for i in todo}
        whole = windows.chunk_vectors(set(keys.values())) if windows is not None and windows.chunk_vectors else {}
        for i, key in keys.items():
            out[i] = float(whole[key] @ q_vec) if key in whole else -1.0
    return out


def _embed_text(hit: Hit) -> str:
    """What the model embedded for ``hit`` (search keeps it; other hits are folded again)."""
    from .indexer import embed_text_of

    return hit.embed_text or embed_text_of(hit.title, hit.text)


Candidate = tuple[Hit, int, int, str]  # a sentence of a hit: (hit, start, end, text), offsets in hit.text


def sentence_candidates(hits: list[Hit]) -> tuple[list[Candidate], list[str]]:
    """Every sentence of ``hits``, in rank order, and each sentence folded (each passage is folded once)."""
    candidates: list[Candidate] = []
    folded: list[str] = []
    for hit in hits:
        spans = sentence_spans(hit.text)
        candidates.extend((hit, start, end, hit.text[start:end]) for start, end in spans)
        folded.extend(folded_spans(hit.text, spans))
    return candidates, folded


def wording_scores(question: str, folded_sentences: list[str],
                   term_counts: Callable[[list[str]], dict[str, int]] | None) -> np.ndarray:
    """Per (folded) sentence, the share of the question's bigrams (and of its words' translations the corpus uses) it
    holds, each bigram weighted by its rarity among the sentences."""
    q_grams = bigrams(question)
    if term_counts is not None:  # the question's words the corpus lacks, in the corpus's own words
        q_grams.update(*(bigrams(term) for term in translations(fold_text(question), term_counts)))
    s_grams = [_grams(match_key_of_folded(text)) for text in folded_sentences]
    n = len(s_grams)
    idf = {g: math.log(1 + n / (1 + sum(g in sg for sg in s_grams))) for g in q_grams}
    q_weight = sum(idf.values()) or 1.0
    return np.array([sum(idf[g] for g in q_grams & sg) / q_weight for sg in s_grams])


def answer_fit(question: str, candidates: list[Candidate], folded_sentences: list[str]) -> np.ndarray:
    """Per sentence, the bonuses for stating the number asked for and for its document holding the names asked about."""
    unit = asked_unit(question)
    typed = np.array([answer_type_bonus(unit, text, folded=True) for text in folded_sentences])
    named = DOCUMENT_NAME_BONUS * np.array([c[0].names[0] / c[0].names[1] if c[0].names else 0.0 for c in candidates])
    return typed + named


def answer_question(question: str, hits: list[Hit], embedder: Embedder,
                    term_counts: Callable[[list[str]], dict[str, int]] | None = None,
                    min_score: float | None = None, windows: WindowLookup | None = None) -> Answer:
    """The answer from ``hits``; ``windows`` (the index's stored window vectors) spares embedding sentences."""
    if unanswerable(question, hits, term_counts or (lambda terms: dict.fromkeys(terms, 1)), min_score):
        return Answer(no_answer=True, text="", hits=[])

    candidates, folded_sentences = sentence_candidates(hits)
    if not candidates:
        return Answer(no_answer=True, text="", hits=hits)

    lexical = wording_scores(question, folded_sentences, term_counts)
    prior = np.array([1.0 / (c[0].rank + 1) for c in candidates])
    fit = answer_fit(question, candidates, folded_sentences)
    # Meaning is scored only for a shortlist (by wording, answer type and passage rank) plus every
    # sentence of the best passage: embedding each sentence of every passage costs more than the search.
    shortlist = set(np.argsort(-(0.5 * lexical + 0.1 * prior + fit))[:DENSE_SHORTLIST].tolist())
    shortlist.update(i for i, c in enumerate(candidates) if c[0].rank == 1)
    picked = sorted(shortlist)
    folded = fold_text(question)
    # The vector search used: encoding it again would cost as much as the search did.
    q_vec = embedder.encode_query(query_text_for_embedding(folded, term_counts) if term_counts else folded)
    dense = np.full(len(candidates), -1.0)
    dense[picked] = sentence_cosines(q_vec, [candidates[i][::3] for i in picked], embedder, windows,
                                     [folded_sentences[i] for i in picked])
    scores = 0.5 * lexical + 0.5 * dense + 0.1 * prior + fit

    order = np.argsort(-scores)
    best = float(scores[order[0]])
    chosen: list[int] = []
    kept: list[tuple[str, set[str]]] = []
    for i in (int(i) for i in order):
        if len(chosen) == MAX_SENTENCES or scores[i] < best * CLOSE_TO_BEST:
            break
        key = match_key_of_folded(folded_sentences[i])
        trigrams = shingles(key)
        if any(repeats(key, trigrams, *other) for other in kept):
            continue  # the same fact again, quoted by another passage: said once
        chosen.append(i)
        kept.append((key, trigrams))
    chosen.sort(key=lambda i: (candidates[i][0].rank, candidates[i][1]))
    sentences = []
    for i in chosen:
        hit, start, end, text = candidates[i]
        sentences.append(AnswerSentence(text=text, citation=hit.rank,
                                        char_start=hit.source.char_start + start,
                                        char_end=hit.source.char_start + end, score=float(scores[i])))
    text = " ".join(f"{s.text} [{s.citation}]" for s in sentences)
    return Answer(no_answer=False, text=text, sentences=sentences, hits=hits)
