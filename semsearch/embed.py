"""Embedding: folded text -> L2-normalised float32 vectors, with the model's prompts.

Owns which model is used (the converted default under ``models/``, or any
sentence-transformers name or path), how it is identified in an index, token
counting for the chunker, and batching. torch and sentence-transformers are
imported only when a vector is actually needed, so commands that need no model
stay fast.
"""

from __future__ import annotations

import atexit
import json
import os
import threading
from functools import cached_property
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .convert import MODEL_DIRNAME, STAMP_FILE
from .errors import IndexProblem

DEFAULT_MODEL = "multilingual-e5-small"
PACKAGE_ROOT = Path(__file__).resolve().parent.parent
# Questions on the int8 graph (where passages use it) instead of the float one: on a 2-core Zen 2 host (no int8
# dot-product instructions) about 12.2 against 13.9 ms a question (a scratch timing), and hybrid hit@1 / hit@5
# unchanged on all four of our sets, but one English question fell under the calibrated no-answer threshold
# (false no-answer 0 -> 1 in 20; bench/results/quality-int8-questions.md against quality.md). Not worth a wrong
# "no answer": off.
QUESTIONS_INT8 = False
# Threads that encode one question: one. Two looked better in an A/B that alternated encoders query by query on
# the Zen 2 host (a question 8.8 against 15.2 ms, hybrid p50 at 100k chunks 24.4 against 26.7 ms, p95 56.5
# against 52.7; bench/question_threads.py), but a bench/scale.py run with two (one configuration per process;
# not kept, so a scratch figure) gave hybrid p50 23.7 ms against 19.2 in the one-thread run before it: the
# encode stage 15.1 against 12.5 ms beside the keyword lookup on the other core, and the plain encoder +
# flat-FAISS baseline 46 against 27 ms beside FAISS's OpenMP threads. A server would want one thread per
# request anyway.
QUESTION_THREADS = 1


def models_dir() -> Path:
    return Path(os.environ.get("SEMSEARCH_MODELS") or PACKAGE_ROOT / "models")


def resolve_model(ref: str | None) -> tuple[str, str]:
    """(what to load, the model's identity recorded in the index) for a user's model reference."""
    if ref in (None, "", DEFAULT_MODEL):
        path = models_dir() / MODEL_DIRNAME
        if not (path / STAMP_FILE).is_file():
            raise IndexProblem(f"the default model is not installed in {path}; run: semsearch model install")
        return str(path), DEFAULT_MODEL
    local = Path(ref).expanduser()
    if local.exists():
        return str(local.resolve()), str(local.resolve())
    return ref, ref


# One loaded model per path per process: every Index on the same model shares it.
_LOADED: dict[str, object] = {}


class Embedder:
    """A sentence-transformers model, loaded on first use."""

    def __init__(self, ref: str | None = None, batch_size: int = 32):
        self.load_path, self.model_id = resolve_model(ref)
        self.batch_size = batch_size

    @cached_property
    def model(self):
        # Only package registries are reachable: never wait on a model hub unless asked to.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        torch.set_num_threads(max(1, os.cpu_count() or 1))
        if self.load_path not in _LOADED:
            try:
                _LOADED[self.load_path] = SentenceTransformer(self.load_path, device="cpu")
            except Exception as exc:  # any load failure is an index-level problem for the user
                first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise IndexProblem(f"cannot load model {self.model_id!r}: {first_line}") from exc
        return _LOADED[self.load_path]

    @cached_property
    def _fast_tokenizer(self):
        path = Path(self.load_path) / "tokenizer.json"
        if not path.is_file():
            return None
        from tokenizers import Tokenizer

        return Tokenizer.from_file(str(path))

    @cached_property
    def prompts(self) -> dict[str, str]:
        path = Path(self.load_path) / "config_sentence_transformers.json"
        if path.is_file():
            return json.loads(path.read_text(encoding="utf-8")).get("prompts") or {}
        return dict(getattr(self.model, "prompts", {}) or {})

    @cached_property
    def max_tokens(self) -> int:
        path = Path(self.load_path) / "sentence_bert_config.json"
        if path.is_file():
            return int(json.loads(path.read_text(encoding="utf-8")).get("max_seq_length") or 512)
        return int(self.model.max_seq_length or 512)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens each text takes, without special tokens or prompt."""
        if not texts:
            return []
        tokenizer = self._fast_tokenizer
        if tokenizer is not None:
            return [len(e.ids) for e in tokenizer.encode_batch(list(texts), add_special_tokens=False)]
        encoded = self.model.tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        return [len(ids) for ids in encoded]

    def _encode(self, texts: Sequence[str], prompt_name: str, model=None) -> np.ndarray:
        kwargs = {"prompt_name": prompt_name} if prompt_name in self.prompts else {}
        vectors = (model or self.model).encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                                               convert_to_numpy=True, show_progress_bar=False, **kwargs)
        return np.ascontiguousarray(vectors, dtype=np.float32)

    @cached_property
    def _passage_encoders(self) -> dict:
        return {}

    @cached_property
    def _has_onnx_export(self) -> bool:
        from .onnxencoder import OnnxEncoder

        return OnnxEncoder.available(self.load_path)

    def _passage_encoder(self, int8: bool = False):
        """ORT on all cores for passages, when the model folder has a checked export (else None: torch)."""
        from .onnxencoder import OnnxEncoder

        if not self._has_onnx_export:
            return None
        if int8 not in self._passage_encoders:
            self._passage_encoders[int8] = OnnxEncoder(self.load_path, threads=max(1, os.cpu_count() or 1),
                                                       int8=int8)
        return self._passage_encoders[int8]

    @cached_property
    def _has_int8_export(self) -> bool:
        from .onnxencoder import has_current_int8

        return has_current_int8(self.load_path)

    def passage_precision(self, index_precision: str | None = None) -> str:
        """"int8" when passages are embedded by the quantised graph, else "float32" (no model load).

        SEMSEARCH_INT8=1 (``reindex --int8``) or 0 (``--float``) decides. Unset, an index keeps
        the graph it was built with (``index_precision``: its vectors stay comparable and it
        stays uniform), and a new one gets the int8 graph where it pays: on a CPU with int8
        dot-product instructions (``onnxencoder.int8_pays``), where it embeds 1.5-1.7x as fast
        as the float graph, with vectors at cosine ~0.999 to the float ones. Without them it is
        no faster, so float it is. On our four question sets the int8 graph gives the float
        graph's hit@5 on every set; one question of 65 ranks second instead of first
        (bench/results/quality-float.md against quality.md). The model needs a current int8
        graph (``semsearch model install`` makes it). Questions are encoded by the float graph
        (``QUESTIONS_INT8``).
        """
        setting = os.environ.get("SEMSEARCH_INT8", "")
        if setting in ("0", "1"):
            wanted = setting == "1"
        elif index_precision in ("int8", "float32"):
            wanted = index_precision == "int8"
        else:
            from .onnxencoder import int8_pays

            wanted = int8_pays()
        return "int8" if wanted and self._has_int8_export else "float32"

    def question_precision(self) -> str:
        """"int8" when questions go through the int8 graph (``QUESTIONS_INT8`` and passages use it), else "float32"."""
        return "int8" if QUESTIONS_INT8 and self.passage_precision() == "int8" else "float32"

    def encode_passages(self, texts: Sequence[str], on_batch: Callable[[int], None] | None = None,
                        exact: bool = False, precision: str | None = None) -> np.ndarray:
        """Vectors for passages, in order; ``on_batch(n)`` is called after each n texts.

        ``precision`` is the graph ("int8" or "float32"; default: ``passage_precision()``);
        ``exact`` uses the float model even where the index path uses the int8 graph.
        """
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        precision = precision or self.passage_precision()
        encoder = self._passage_encoder(int8=precision == "int8" and not exact)
        # Length-sorted batches waste no padding; results are put back in input order.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        step = self.batch_size * 2
        prompt = self.prompts.get("passage", "")
        for start in range(0, len(order), step):
            idx = order[start:start + step]
            batch = [texts[i] for i in idx]
            out[idx] = encoder.encode(batch, prompt) if encoder is not None else self._encode(batch, "passage")
            if on_batch:
                on_batch(len(idx))
        return out

    @cached_property
    def _light(self):
        """The torch-free encoder for short texts (questions, answer sentences): ORT where exported, else numpy,
        else None. ORT runs the float graph (see ``QUESTIONS_INT8``)."""
        from .npencoder import NumpyEncoder
        from .onnxencoder import OnnxEncoder

        if self._has_onnx_export:
            return OnnxEncoder(self.load_path, threads=QUESTION_THREADS, short_texts=True,
                               int8=self.question_precision() == "int8")
        return NumpyEncoder(self.load_path) if NumpyEncoder.supports(self.load_path) else None

    def preload(self) -> None:
        """Start loading the query encoder on background threads; returns at once.

        Parsing the 250k-piece tokenizer (~0.8 s) and creating the ORT session (~0.2 s) both
        release the GIL, so they run beside each other and beside whatever the caller does
        next (imports, opening the index, keyword search): a cold ``ask`` waits only for
        the longest of them.
        """
        light = self._light
        if light is None or self._preloads:
            return
        # A process that exits early (bad input, no index) must not tear down ORT or the
        # tokenizer while a thread is still inside them.
        atexit.register(self._join_preloads)
        parts = [lambda: light.tokenizer, lambda: light._embeddings]
        parts.append((lambda: light.session) if hasattr(type(light), "session") else (lambda: light._layers))
        for part in parts:
            thread = threading.Thread(target=part, daemon=True, name="semsearch-preload")
            thread.start()
            self._preloads.append(thread)

    @cached_property
    def _preloads(self) -> list[threading.Thread]:
        return []

    def _join_preloads(self) -> None:
        for thread in self._preloads:
            thread.join()

    def _encode_short(self, texts: Sequence[str], prompt_name: str) -> np.ndarray:
        self._join_preloads()  # a part still loading: wait for it rather than load it twice
        # Without torch, a question is encoded in milliseconds instead of after seconds of imports.
        if self._light is not None:
            return self._light.encode(list(texts), self.prompts.get(prompt_name, ""))
        return self._encode(texts, prompt_name)

    def encode_query(self, text: str) -> np.ndarray:
        return self._encode_short([text], "query")[0]

    def encode_sentences(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for a few short passages (answer sentences), by the light path when there is one."""
        return self._encode_short(texts, "passage")

    @cached_property
    def dimension(self) -> int:
        if self._light is not None:
            return int(self._light.config["hidden_size"])
        getter = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        dim = getter()
        return int(dim) if dim else int(self._encode(["x"], "query").shape[1])
