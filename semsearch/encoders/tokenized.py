"""A numpy forward pass for BERT-style sentence-transformers folders: queries without torch.

Owns the light query path. Importing torch and sentence-transformers costs
seconds; a question is a few dozen tokens, which numpy encodes in milliseconds
from the same ``model.safetensors``. Only folders this module can reproduce
exactly are accepted (a ``bert`` config, mean pooling over all tokens,
normalisation, a ``tokenizer.json``); everything else goes through
sentence-transformers. Its vectors match sentence-transformers' (checked in
tests/encoders/test_onnx.py), so they search the same index.

The word-embedding matrix (96M of the 118M parameters) is memory-mapped and only
the rows of the tokens in a batch are read; the encoder layers are converted to
float32 once, on first use.
"""

from __future__ import annotations

import json
import struct
import threading
from contextlib import contextmanager, nullcontext
from functools import cache, cached_property
from pathlib import Path
from typing import Sequence

import numpy as np

_DTYPES = {"F16": np.float16, "F32": np.float32, "BF16": None}


def _erf(x: np.ndarray) -> np.ndarray:
    # Abramowitz & Stegun 7.1.26: |error| < 1.5e-7, below float32 resolution of GELU's output.
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-a * a))


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


@cache
def _blas():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController().select(user_api="blas")


_one_thread_lock = threading.Lock()
_one_thread_users = 0
_saved_limit = None


@contextmanager
def one_blas_thread():
    """One BLAS thread while encoding a question: a question is a few dozen rows, and a second
    thread costs more to wake than it saves (docs/decisions.md). Counted, so overlapping queries
    in several threads restore the caller's setting only when the last one ends."""
    global _one_thread_users, _saved_limit
    with _one_thread_lock:
        if _one_thread_users == 0:
            _saved_limit = _blas().limit(limits=1)
        _one_thread_users += 1
    try:
        yield
    finally:
        with _one_thread_lock:
            _one_thread_users -= 1
            if _one_thread_users == 0 and _saved_limit is not None:
                _saved_limit.restore_original_limits()
                _saved_limit = None


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


class NumpyEncoder:
    batch_size = 8
    uses_blas = True  # single texts run under one_blas_thread()

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
    def _layers(self) -> list[dict[str, np.ndarray]]:
        t = self.tensors
        names = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
                 "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
                 "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm"}
        layers = []
        for i in range(self.config["num_hidden_layers"]):
            layer = {}
            for short, long in names.items():
                prefix = f"encoder.layer.{i}.{long}"
                weight = t.get(prefix + ".weight").astype(np.float32)
                layer[short + ".w"] = weight.T.copy() if weight.ndim == 2 else weight  # x @ W.T as x @ Wt
                layer[short + ".b"] = t.get(prefix + ".bias").astype(np.float32)
            layers.append(layer)
        return layers

    @cached_property
    def _embeddings(self) -> dict[str, np.ndarray]:
        t = self.tensors
        return {"pos": t.get("embeddings.position_embeddings.weight").astype(np.float32),
                "type": t.get("embeddings.token_type_embeddings.weight")[0].astype(np.float32),
                "ln.w": t.get("embeddings.LayerNorm.weight").astype(np.float32),
                "ln.b": t.get("embeddings.LayerNorm.bias").astype(np.float32),
                "word": t.get("embeddings.word_embeddings.weight")}

    def encode(self, texts: Sequence[str], prompt: str = "") -> np.ndarray:
        """L2-normalised sentence vectors for ``texts`` (each prefixed with ``prompt``)."""
        if not texts:
            return np.zeros((0, self.config["hidden_size"]), dtype=np.float32)
        encodings = self.tokenizer.encode_batch([prompt + t for t in texts])
        out = np.zeros((len(texts), self.config["hidden_size"]), dtype=np.float32)
        with one_blas_thread() if len(texts) == 1 and self.uses_blas else nullcontext():
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
        cfg, emb = self.config, self._embeddings
        eps = float(cfg.get("layer_norm_eps", 1e-12))
        batch, width = ids.shape
        heads = cfg["num_attention_heads"]
        head_dim = cfg["hidden_size"] // heads
        x = emb["word"][ids.reshape(-1)].astype(np.float32).reshape(batch, width, -1)
        x = _layer_norm(x + emb["pos"][:width] + emb["type"], emb["ln.w"], emb["ln.b"], eps)
        bias = ((1.0 - mask) * np.finfo(np.float32).min)[:, None, None, :]  # masked keys get no weight
        scale = np.float32(1.0 / np.sqrt(head_dim))

        def linear(t: np.ndarray, name: str) -> np.ndarray:
            # 2-D matmuls go to BLAS; numpy's stacked matmul on views does not.
            out = t.reshape(batch * width, -1) @ layer[name + ".w"] + layer[name + ".b"]
            return out.reshape(batch, width, -1)

        def split(t: np.ndarray) -> np.ndarray:
            return np.ascontiguousarray(t.reshape(batch, width, heads, head_dim).transpose(0, 2, 1, 3))

        for layer in self._layers:
            q, k, v = split(linear(x, "q")), split(linear(x, "k")), split(linear(x, "v"))
            scores = np.matmul(q, np.ascontiguousarray(k.transpose(0, 1, 3, 2))) * scale + bias
            scores -= scores.max(axis=-1, keepdims=True)
            weights = np.exp(scores)
            weights /= weights.sum(axis=-1, keepdims=True)
            context = np.matmul(weights, v).transpose(0, 2, 1, 3).reshape(batch, width, -1)
            x = _layer_norm(x + linear(context, "ao"), layer["aln.w"], layer["aln.b"], eps)
            hidden = linear(x, "fi")
            hidden = 0.5 * hidden * (1.0 + _erf(hidden / np.float32(np.sqrt(2.0))))
            x = _layer_norm(x + linear(hidden, "fo"), layer["oln.w"], layer["oln.b"], eps)

        pooled = (x * mask[:, :, None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
