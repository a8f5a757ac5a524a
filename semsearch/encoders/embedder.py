"""The encoder of a sentence-transformers model folder: folded text -> L2-normalised float32 vectors.

Passages and questions go through ONNX Runtime where the folder holds a checked export (``onnx``),
else through sentence-transformers on torch. torch is imported only when that path needs it, so
commands that need no model, and questions on an exported model, stay fast.
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

from semsearch.config import DEFAULTS, Settings
from semsearch.encoders.models import resolve_model
from semsearch.errors import IndexProblem

# One loaded model per path per process: every Index on the same model shares it.
_LOADED: dict[str, object] = {}


class Embedder:
    """A sentence-transformers model, loaded on first use."""

    def __init__(self, ref: str | None = None, batch_size: int = 32, settings: Settings = DEFAULTS):
        self.load_path, self.model_id = resolve_model(ref)
        self.batch_size = batch_size
        self.settings = settings

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
        from semsearch.encoders.onnx import OnnxEncoder

        return OnnxEncoder.available(self.load_path)

    def _passage_encoder(self, int8: bool = False):
        """ORT on all cores for passages, when the model folder has a checked export (else None: torch)."""
        from semsearch.encoders.onnx import OnnxEncoder

        if not self._has_onnx_export:
            return None
        if int8 not in self._passage_encoders:
            self._passage_encoders[int8] = OnnxEncoder(self.load_path, threads=max(1, os.cpu_count() or 1),
                                                       int8=int8)
        return self._passage_encoders[int8]

    @cached_property
    def _has_int8_export(self) -> bool:
        from semsearch.encoders.onnx import has_current_int8

        return has_current_int8(self.load_path)

    def passage_precision(self, index_precision: str | None = None) -> str:
        """"int8" when passages are embedded by the quantised graph, else "float32" (no model load).

        SEMSEARCH_INT8=1 (``reindex --int8``) or 0 (``--float``) decides. Unset, an index keeps
        the graph it was built with (``index_precision``: its vectors stay comparable and it
        stays uniform), and a new one gets the int8 graph where it pays: on a CPU with int8
        dot-product instructions (``onnx.int8_pays``); elsewhere it is no faster, so float it is.
        The model needs a current int8 graph (``semsearch model install`` makes it).
        """
        setting = os.environ.get("SEMSEARCH_INT8", "")
        if setting in ("0", "1"):
            wanted = setting == "1"
        elif index_precision in ("int8", "float32"):
            wanted = index_precision == "int8"
        else:
            from semsearch.encoders.onnx import int8_pays

            wanted = int8_pays()
        return "int8" if wanted and self._has_int8_export else "float32"

    def question_precision(self) -> str:
        """"int8" when questions go through the int8 graph (``Settings.questions_int8`` and passages use it)."""
        return "int8" if self.settings.questions_int8 and self.passage_precision() == "int8" else "float32"

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
        """The torch-free encoder for short texts (questions, answer sentences): ORT where exported, else None
        (sentence-transformers encodes them)."""
        from semsearch.encoders.onnx import OnnxEncoder

        if not self._has_onnx_export:
            return None
        return OnnxEncoder(self.load_path, threads=self.settings.question_threads, short_texts=True,
                           int8=self.question_precision() == "int8")

    def preload(self) -> None:
        """Start loading the query encoder on background threads; returns at once.

        Parsing the tokenizer and creating the ORT session both release the GIL, so they run beside
        each other and beside whatever the caller does next (imports, opening the index, keyword
        search): a cold ``ask`` waits only for the longest of them.
        """
        light = self._light
        if light is None or self._preloads:
            return
        # A process that exits early (bad input, no index) must not tear down ORT or the
        # tokenizer while a thread is still inside them.
        atexit.register(self._join_preloads)
        parts = [lambda: light.tokenizer, lambda: light.word_embeddings, lambda: light.session]
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
