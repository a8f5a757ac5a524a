"""Tokenising and batching for BERT-style sentence-transformers folders, without torch.

A question is a few dozen tokens: loading torch and sentence-transformers for it would cost seconds.
``TokenizedEncoder`` reads the folder's ``tokenizer.json`` and memory-maps the word-embedding matrix
of ``model.safetensors`` (only the rows of a batch's tokens are read); a subclass runs the encoder
layers on the embedded tokens (``onnx.OnnxEncoder``: ONNX Runtime). Only folders whose pipeline is
reproduced exactly are accepted (a ``bert`` config, mean pooling over all tokens, normalisation);
everything else goes through sentence-transformers.
"""

from __future__ import annotations

import json
import struct
from functools import cache, cached_property
from pathlib import Path
from typing import Sequence

import numpy as np

_DTYPES = {"F16": np.float16, "F32": np.float32, "BF16": None}


@cache
def _encoding_tokenizer(path: str, max_length: int):
    """One tokenizer per file and length for every encoder in the process: the query encoder and
    the passage encoder of a reindex share it (parsing a 250k-piece tokenizer.json is slow)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(path)
    tokenizer.enable_truncation(max_length)
    tokenizer.no_padding()
    return tokenizer


class SafeTensors:
    """Memory-mapped tensors of a .safetensors file (the format is an 8-byte length, a JSON header, data)."""

    def __init__(self, path: Path):
        with open(path, "rb") as fh:
            (header_len,) = struct.unpack("<Q", fh.read(8))
            self.header = json.loads(fh.read(header_len))
        self.data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + header_len)

    def get(self, name: str) -> np.ndarray:
        info = self.header[name]
        dtype = _DTYPES.get(info["dtype"])
        if dtype is None:
            raise ValueError(f"unsupported dtype {info['dtype']}")
        start, end = info["data_offsets"]
        return self.data[start:end].view(dtype).reshape(info["shape"])


class TokenizedEncoder:
    """Tokens in, L2-normalised mean-pooled vectors out; ``_forward`` runs the layers on a padded batch."""

    batch_size = 8

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.config = json.loads((self.folder / "config.json").read_text(encoding="utf-8"))
        self.tensors = SafeTensors(self.folder / "model.safetensors")
        st_config = self.folder / "sentence_bert_config.json"
        self.max_length = int(json.loads(st_config.read_text(encoding="utf-8")).get("max_seq_length") or 512) \
            if st_config.is_file() else int(self.config.get("max_position_embeddings", 512))

    @staticmethod
    def supports(folder: str | Path) -> bool:
        """True for folders whose sentence-transformers pipeline this class reproduces exactly."""
        folder = Path(folder)
        try:
            config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
            modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
            pooling = json.loads((folder / "1_Pooling" / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        types = [m.get("type", "").rsplit(".", 1)[-1] for m in modules]
        mean_only = pooling.get("pooling_mode_mean_tokens") and not any(
            pooling.get(k) for k in ("pooling_mode_cls_token", "pooling_mode_max_tokens",
                                     "pooling_mode_mean_sqrt_len_tokens", "pooling_mode_weightedmean_tokens",
                                     "pooling_mode_lasttoken")) and pooling.get("include_prompt", True)
        return (config.get("model_type") == "bert" and config.get("hidden_act") == "gelu"
                and config.get("position_embedding_type", "absolute") == "absolute"
                and types == ["Transformer", "Pooling", "Normalize"] and bool(mean_only)
                and (folder / "tokenizer.json").is_file() and (folder / "model.safetensors").is_file())

    @cached_property
    def tokenizer(self):
        return _encoding_tokenizer(str(self.folder / "tokenizer.json"), self.max_length)

    @cached_property
    def word_embeddings(self) -> np.ndarray:
        """The word-embedding matrix, memory-mapped: the graph takes embedded tokens, not ids."""
        return self.tensors.get("embeddings.word_embeddings.weight")

    def encode(self, texts: Sequence[str], prompt: str = "") -> np.ndarray:
        """L2-normalised sentence vectors for ``texts`` (each prefixed with ``prompt``)."""
        if not texts:
            return np.zeros((0, self.config["hidden_size"]), dtype=np.float32)
        encodings = self.tokenizer.encode_batch([prompt + t for t in texts])
        out = np.zeros((len(texts), self.config["hidden_size"]), dtype=np.float32)
        self._encode_into(out, encodings)
        return out

    def _encode_into(self, out: np.ndarray, encodings) -> None:
        # Texts of similar length go together, so little work is spent on padding.
        order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), self.batch_size):
            rows = order[start:start + self.batch_size]
            width = max(len(encodings[i].ids) for i in rows)
            ids = np.full((len(rows), width), self.config.get("pad_token_id") or 0, dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.float32)
            for j, i in enumerate(rows):
                ids[j, :len(encodings[i].ids)] = encodings[i].ids
                mask[j, :len(encodings[i].ids)] = 1.0
            out[rows] = self._forward(ids, mask)

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Normalised mean-pooled vectors of a batch of token ids (``mask``: 1 for real tokens)."""
        raise NotImplementedError
