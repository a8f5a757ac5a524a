"""Settings: every weight, threshold and switch of indexing, retrieval and answering, in one frozen value.

Behaviour varies by passing another ``Settings`` (``Index.open(path, settings=...)``), never by
changing module globals: ``dataclasses.replace(DEFAULTS, rerank=False)`` is a variant, and two
variants can run side by side in one process. Where each value came from is in docs/decisions.md.

Also owns the few paths the package needs (where models live).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
# A checkout (or an editable install) keeps models/ and seeds/ beside the package.
PROJECT_DIR = PACKAGE_DIR.parent


def models_dir() -> Path:
    """Where converted models and the dictionary table live (``SEMSEARCH_MODELS`` moves it)."""
    return Path(os.environ.get("SEMSEARCH_MODELS") or PROJECT_DIR / "models")


@dataclass(frozen=True)
class Settings:
    # -- indexing ------------------------------------------------------------------------------
    max_tokens: int = 256  # longest chunk, in model tokens: shorter chunks retrieved worse
    window_chars: int = 120  # a chunk's vector averages all it says: its sentence windows find one fact in it
    document_context: bool = True  # a chunk is embedded with its document's title, which deep passages never name

    # -- vector store --------------------------------------------------------------------------
    exact_limit: int = 50_000  # exact search while reading every vector stays a small part of a query; beyond: IVF
    ivf_probe_share: float = 1 / 8  # share of the cells searched per query: recall follows the share, not the count
    train_points_per_list: int = 40  # k-means wants a few dozen points per cell; more only slows training
    train_iterations: int = 12  # k-means passes: not tuned, and the build's time grows with them
    milvus_timeout: float = 10.0  # seconds any Milvus call may take: an unreachable store fails, never hangs
    milvus_overfetch: float = 1.2  # hits whose text the live generation lacks are skipped: fetch a little more
    milvus_index: str = "IVF_FLAT"  # beyond exact_limit: better recall and p95 than "HNSW" at 100k (bench/scale_out.py)
    milvus_hnsw_ef: int = 128  # HNSW candidates per query (at least the number asked for)
    milvus_strong_seconds: float = 30.0  # after a reindex, searches wait for every write (Strong) this long; then Bounded

    # -- keyword store -------------------------------------------------------------------------
    common_term_share: float = 0.002  # a term in more of the chunks than this is common ...
    common_term_rows: int = 5_000  # ... and its rows wait for a later pass from this many: fewer cost less than a pass

    # -- encoders ------------------------------------------------------------------------------
    questions_int8: bool = False  # questions stay on the float graph: int8 saved little and cost a right answer
    question_threads: int = 1  # a second thread fights the keyword lookup and FAISS for the cores

    # -- retrieval -----------------------------------------------------------------------------
    candidate_factor: int = 4  # each ranking proposes k * this many passages, so fusion can lift a low one ...
    min_candidates: int = 50  # ... and at least this many
    fusion: str = "score"  # "score" keeps how far ahead a passage is in each ranking; "rrf" keeps only ranks
    rrf_k: int = 60  # reciprocal-rank constant (fusion "rrf"): larger flattens the difference between ranks
    dense_weight: float = 1.0  # the reference the keyword weights are set against
    keyword_weight: float = 1.25  # question and nearest passage both Chinese: bigrams catch what e5-small blurs
    other_keyword_weight: float = 0.75  # otherwise: the keyword side has only dictionary translations to match
    near_duplicate: float = 0.8  # passages sharing this share of character trigrams are one text, shown once
    use_windows: bool = True  # a passage also scores by its best sentence window: one fact in a long paragraph
    translate: bool = True  # words the index lacks get keyword help through dictionary words it has
    regional_words: bool = True  # a Taiwan word (軟體) is searched as the mainland one (软件) the index uses, and back
    regional_words_by_script: bool = True  # ... also a word the index uses, when the question's script is not the text's
    embed_translations: bool = True  # e5-small matches English to Chinese loosely: add the likeliest translations
    document_name_weight: float = 0.2  # a passage often leaves out the place or body its article is about
    answer_unit_weight: float = 0.1  # a "how many" question wants a passage stating a count in its measure word
    rerank: bool = True  # fusion ranks whole passages: the first hits are reordered by their best answer sentence
    # The sentence reranker finds the sentence that answers a question; a title or keywords are matched by whole
    # passages (docs/decisions.md, "Reranking only questions").
    rerank_only_questions: bool = True
    rerank_depth: int = 5  # only the hits a reader sees first; their set never changes, only their order
    sentence_weight: float = 10.0  # the best sentence decides, but a passage far ahead keeps its lead on near ties
    overlap_keyword: bool = True  # the keyword lookup needs no vector: it runs while the question is encoded

    # -- dictionary bridge ---------------------------------------------------------------------
    translations_per_word: int = 6  # a corpus uses few of a word's senses: its most used ones are kept
    synonyms_per_word: int = 3  # same-sense words for a Chinese word the index never uses, the most used first
    max_name_readings: int = 4  # a romanised name that could be many things in this corpus is evidence of none
    max_dictionary_postings: int = 20_000  # BM25's cost grows with postings: the commonest added words go first

    # -- answers -------------------------------------------------------------------------------
    min_cosine_cjk: float = 0.87  # no answer below this cosine: e5's cosines sit high within Chinese
    min_cosine_translated: float = 0.835  # an English question embedded with its translations scores higher ...
    min_cosine_other: float = 0.75  # ... than other questions across scripts, whose cosines sit lowest
    min_cosine_same_non_cjk: float = 0.78  # a question and text with no Chinese: cosines of one language
    min_translated_words: int = 3  # an English question naming nothing: off-topic ones match fewer of their words
    absent_latin_words: bool = True  # a Chinese question naming Latin words the corpus never uses is not about it
    min_translated_cjk_words: int = 1  # a Chinese question over English text has few words, many glossed otherwise
    max_sentences: int = 3  # an answer is short: the best sentence and those close to it
    dense_shortlist: int = 16  # sentences whose meaning is scored: embedding them all costs more than the search
    close_to_best: float = 0.85  # further sentences only when nearly as good as the best one
    document_name_bonus: float = 0.05  # the same sentence in another city's report is not the answer
    quantity_bonus: float = 0.1  # a question asking for a number wants a sentence stating one ...
    same_unit_bonus: float = 0.05  # ... most of all in the measure word it asked in
    llm_support_threshold: float = 0.5  # errs towards dropping: a dropped sentence costs length, a wrong one trust

    def but(self, **changes) -> "Settings":
        """A copy with ``changes``: a variant to compare with these settings."""
        return replace(self, **changes)


DEFAULTS = Settings()
