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
    max_tokens: int = 256  # longest chunk, in model tokens
    window_chars: int = 120  # sentence windows up to this long get vectors of their own
    document_context: bool = True  # a chunk is embedded with its document's title

    # -- vector store --------------------------------------------------------------------------
    exact_limit: int = 50_000  # up to this many vectors: exact search; beyond: an inverted file
    ivf_probe_share: float = 1 / 8  # share of the inverted file's cells searched per query
    train_points_per_list: int = 40  # k-means wants a few dozen points per cell; more only slows training
    train_iterations: int = 12

    # -- keyword store -------------------------------------------------------------------------
    common_term_share: float = 0.002  # a term in more of the chunks than this is common ...
    common_term_rows: int = 5_000  # ... and its rows are scored in a later pass when they are at least this many

    # -- encoders ------------------------------------------------------------------------------
    questions_int8: bool = False  # questions on the int8 graph where passages use it
    question_threads: int = 1  # threads that encode one question

    # -- retrieval -----------------------------------------------------------------------------
    candidate_factor: int = 4  # each ranking proposes k * this many passages ...
    min_candidates: int = 50  # ... and at least this many
    fusion: str = "score"  # "score": weighted sum of normalised scores; "rrf": reciprocal-rank fusion
    rrf_k: int = 60  # reciprocal-rank constant: larger flattens the difference between ranks
    dense_weight: float = 1.0
    keyword_weight: float = 1.25  # when question and nearest passage are both Chinese
    other_keyword_weight: float = 0.75  # otherwise: the keyword side has only dictionary translations to match
    near_duplicate: float = 0.8  # passages sharing this share of character trigrams count as one
    use_windows: bool = True  # a passage also scores by its best sentence window
    translate: bool = True  # words the index lacks are also searched as dictionary words it has
    embed_translations: bool = True  # a question with no Chinese is embedded with its words' translations
    document_name_weight: float = 0.2  # most a passage gains when its article names what the question names
    answer_unit_weight: float = 0.1  # a "how many" question lifts passages stating a count in its measure word
    rerank: bool = True  # the first hits are reordered by their best answer sentence
    rerank_depth: int = 5
    sentence_weight: float = 10.0  # a point of best-sentence score is worth this much fused score
    overlap_keyword: bool = True  # keyword lookup on another thread while the question is encoded

    # -- dictionary bridge ---------------------------------------------------------------------
    translations_per_word: int = 6
    synonyms_per_word: int = 3
    max_name_readings: int = 4  # a romanised name is read as characters only when this few readings match
    max_dictionary_postings: int = 20_000  # budget of postings for the words a question gains

    # -- answers -------------------------------------------------------------------------------
    min_cosine_cjk: float = 0.87  # no answer below this cosine: a Chinese question over Chinese text
    min_cosine_translated: float = 0.835  # an English question embedded with its translations
    min_cosine_other: float = 0.75  # questions across scripts
    min_cosine_same_non_cjk: float = 0.78  # a question and text with no Chinese
    min_translated_words: int = 3  # an English question's words one passage must hold translations of
    min_translated_cjk_words: int = 1  # a Chinese question's words one English passage must hold glosses of
    max_sentences: int = 3
    dense_shortlist: int = 16  # sentences whose meaning is scored
    close_to_best: float = 0.85  # further sentences are kept when they score this share of the best
    document_name_bonus: float = 0.05
    quantity_bonus: float = 0.1  # a sentence stating a number, for a question that asks for one
    same_unit_bonus: float = 0.05  # ... in the measure word the question used
    llm_support_threshold: float = 0.5  # share of an LLM sentence's terms its cited passage must hold

    def but(self, **changes) -> "Settings":
        """A copy with ``changes``: a variant to compare with these settings."""
        return replace(self, **changes)


DEFAULTS = Settings()
