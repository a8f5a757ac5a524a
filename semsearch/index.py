"""The library API: ``Index`` — open, reindex, search, ask, status.

The CLI and the HTTP server are thin layers over this class. An ``Index`` is
bound to one index folder; it follows the folder's live generation, so a
reindex done elsewhere (another process, another ``Index``) is picked up on the
next query without reopening.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path

import numpy as np

from semsearch import store
from semsearch.analysis.translate import translations
from semsearch.analysis.variants import in_index_words
from semsearch.answer.abstain import unanswerable
from semsearch.answer.extractive import answer_question
from semsearch.config import DEFAULTS, Settings
from semsearch.encoders.base import Encoder
from semsearch.encoders.executor import EmbeddingExecutor
from semsearch.encoders.factory import load_encoder
from semsearch.errors import IndexProblem, InputError
from semsearch.indexer import CHUNKER_VERSION, Progress, ReindexReport, corpus_changes, reindex
from semsearch.retrieval.search import MODES, found
from semsearch.retrieval.sentences import WindowLookup
from semsearch.text.normalize import fold_text
from semsearch.types import Answer, Found, Hit

MAX_QUERY_CHARS = 4000


def _check_query(text: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise InputError("the query is empty")
    if len(text) > MAX_QUERY_CHARS:
        raise InputError(f"the query is {len(text):,} characters long; the limit is {MAX_QUERY_CHARS:,}")
    return text.strip()


class _QuestionOnce:
    """An encoder for one ``ask``: the question is encoded once, though search and answer both use it."""

    def __init__(self, embedder: Encoder):
        self._embedder = embedder
        self._vectors: dict[str, np.ndarray] = {}

    def encode_query(self, text: str) -> np.ndarray:
        if text not in self._vectors:
            self._vectors[text] = self._embedder.encode_query(text)
        return self._vectors[text]

    def __getattr__(self, name: str):
        return getattr(self._embedder, name)


class Index:
    """A semantic index in a folder. ``Index.open("index")`` does not build anything."""

    def __init__(self, path: str | Path = "index", model: str | None = None, embedder: Encoder | None = None,
                 settings: Settings = DEFAULTS):
        self.path = Path(path)
        self.settings = settings
        self._model_ref = model
        self._embedder: Encoder | None = embedder
        self._gen: store.Generation | None = None
        self._lock = threading.RLock()

    @classmethod
    def open(cls, path: str | Path = "index", model: str | None = None, embedder: Encoder | None = None,
             settings: Settings = DEFAULTS) -> "Index":
        """Bind to an index folder; ``embedder`` overrides the model (tests, custom encoders); ``settings`` holds
        every weight and threshold (``DEFAULTS.but(rerank=False)`` is a variant)."""
        return cls(path, model, embedder, settings)

    # -- state -------------------------------------------------------------
    def exists(self) -> bool:
        return store.exists(self.path)

    def _generation(self) -> store.Generation:
        """The live generation, reopened when a reindex (in any process) has replaced it."""
        live = store.live_generation(self.path)
        if live is None:
            raise IndexProblem(f"no index at {self.path}; build one with: semsearch reindex [PATH ...]")
        with self._lock:
            if self._gen is None or self._gen.path != live:
                # The old generation is not closed here: searches in other threads may still be
                # reading it. Its connections close when the last of them lets go of it.
                self._gen = store.open_live(self.path, self.settings)
            return self._gen

    def embedder(self) -> Encoder:
        """The embedder for this index: the model given, else the one the index was built with."""
        with self._lock:
            if self._embedder is None:
                ref = self._model_ref
                if ref is None and self.exists():
                    ref = self._generation().model
                self._embedder = load_encoder(ref, self.settings)
            return self._embedder

    def preload(self) -> None:
        """Start loading the model in the background (a no-op without an index): for a first query soon."""
        if self.exists():
            try:
                self.embedder().preload()
            except IndexProblem:
                pass  # the query itself will report it

    def _checked(self) -> tuple[store.Generation, Encoder]:
        gen = self._generation()
        embedder = self.embedder()
        if gen.model != embedder.model_id:
            raise IndexProblem(f"index {self.path} was built with model {gen.model!r}, not {embedder.model_id!r}; "
                               f"rebuild it with: semsearch reindex --rebuild --model {embedder.model_id}")
        return gen, embedder

    # -- operations --------------------------------------------------------
    def reindex(self, paths: list[str | Path] | None = None, rebuild: bool = False,
                progress: Progress | None = None, windows: bool | None = None, store: str | None = None,
                executor: EmbeddingExecutor | None = None) -> dict:
        """Bring the index up to date; ``windows=False`` skips sentence-window vectors (kept until asked again);
        ``store``: keep the vectors in "milvus://HOST:PORT[/COLLECTION]" (or back in the local "faiss" file);
        ``executor``: who embeds (e.g. ``encoders.ray_pool.RayExecutor``; default: this process)."""
        return self.reindex_report(paths, rebuild, progress, windows, store, executor).as_json()

    def reindex_report(self, paths: list[str | Path] | None = None, rebuild: bool = False,
                       progress: Progress | None = None, windows: bool | None = None, store: str | None = None,
                       executor: EmbeddingExecutor | None = None) -> ReindexReport:
        roots = [Path(p) for p in paths] if paths else None
        return reindex(self.path, roots, self.embedder(), rebuild=rebuild, progress=progress, windows=windows,
                       settings=self.settings, executor=executor, vector_store=store)

    def search(self, query: str, k: int = 5, mode: str = "hybrid") -> list[Hit]:
        """Top ``k`` passages; ``mode`` is "hybrid" (default), "dense" or "keyword"."""
        gen, embedder = self._checked()
        return self._search(gen, embedder, self._in_index_words(gen, query), k, mode)

    def _in_index_words(self, gen, query: str) -> str:
        query = _check_query(query)
        if not self.settings.regional_words:
            return query
        script = gen.written_in_traditional() if self.settings.regional_words_by_script else None
        return in_index_words(query, gen.term_document_counts, script)

    def _search(self, gen, embedder, query: str, k: int, mode: str) -> list[Hit]:
        return self._found(gen, embedder, query, k, mode).hits

    def _found(self, gen, embedder, query: str, k: int, mode: str) -> Found:
        query = _check_query(query)
        if not isinstance(k, int) or k < 1:
            raise InputError("k must be a whole number of at least 1")
        if mode not in MODES:
            raise InputError(f"mode must be one of {', '.join(MODES)}")
        return found(gen, embedder, query, k, mode, self.settings)

    def translations(self, query: str) -> list[str]:
        """The words of the index that ``query`` is also searched as: translations of its English words,
        readings of romanised names, same-sense words for Chinese words the index lacks."""
        return translations(fold_text(_check_query(query)), self._generation().term_document_counts, None,
                            self.settings)

    def ask(self, question: str, k: int = 5, min_score: float | None = None,
            llm_url: str | None = None, llm_model: str | None = None, llm_timeout: float = 60.0) -> Answer:
        """Cited sentences that answer ``question``: extractive, or written by the LLM at ``llm_url``.

        With ``llm_url`` the no-answer decision is still the extractive one (the LLM is not asked
        when the passages do not answer); the LLM's sentences are kept only when a passage they
        cite supports them (see ``answer/llm.py``), else the extractive answer is returned.
        """
        question = _check_query(question)
        if min_score is not None and not math.isfinite(min_score):
            raise InputError(f"min_score must be a finite number, not {min_score}")
        if llm_url:
            from semsearch.answer.llm import chat_endpoint

            chat_endpoint(llm_url)  # reject a malformed URL before any work
        gen, embedder = self._checked()
        embedder = _QuestionOnce(embedder)  # searching and choosing sentences both need the question's vector
        asked = self._in_index_words(gen, question)  # the LLM still reads the question as written
        result = self._found(gen, embedder, asked, k, "hybrid")
        hits = result.hits

        def extractive() -> Answer:
            return answer_question(asked, hits, embedder, gen.term_document_counts, min_score=min_score,
                                   windows=WindowLookup.of(gen), settings=self.settings, nearest=result.nearest)

        if not llm_url:
            return extractive()
        from semsearch.answer.llm import llm_answer

        if unanswerable(asked, hits, gen.term_document_counts, min_score, self.settings, result.nearest):
            return Answer(no_answer=True, text="", hits=[], mode="extractive",
                          fallback="the passages found do not answer the question, so the LLM was not asked")
        return llm_answer(question, hits, llm_url, model=llm_model, timeout=llm_timeout, fallback=extractive)

    def changes(self) -> dict[str, list[str]]:
        """Files new, changed or deleted in the corpus since the last reindex."""
        return corpus_changes(self._generation())

    def cut_by_older_version(self) -> bool:
        """Whether the index was chunked by an earlier semsearch (a reindex cuts and embeds it anew)."""
        return self._generation().meta.get("chunker") != CHUNKER_VERSION

    def status(self) -> dict:
        gen = self._generation()
        changes = corpus_changes(gen)
        return {"schema": 1, "index": str(self.path), "model": gen.model,
                "documents": gen.document_count(), "chunks": gen.chunk_count(),
                "bytes": gen.size_on_disk(), "roots": gen.roots, "built_at": gen.meta.get("built_at"),
                "window_chars": gen.window_chars, "vector_store": gen.vector_store, "passage_vectors": gen.meta.get("passage_vectors", "float32"),
                "stale": any(changes.values()), "changes": changes,
                "chunker": gen.meta.get("chunker"), "chunker_current": not self.cut_by_older_version()}

    def close(self) -> None:
        if self._gen is not None:
            self._gen.close()
            self._gen = None
