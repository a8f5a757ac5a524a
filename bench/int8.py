"""The int8 passage graph against the float one: speed, closeness, and retrieval, same process.

    .venv/bin/python bench/int8.py [--n 2000] [--queries 500]

Passages: N real passages from bench/corpus.py (seed 3), folded as semsearch folds them,
cut at 600 characters. Each graph embeds all of them on both cores (``OnnxEncoder``, as
``reindex`` does, after a warm-up); the float graph runs first and last, so drift shows.
Graphs: the float export (``reindex --float``; queries always use it), the int8 graph that embeds passages by
default (``onnx/encoder-int8.onnx``: int8 weights except the feed-forward outputs) and, for comparison, every MatMul quantised (the recipe
shipped before, rebuilt here in a temporary folder).

Question encoding: the Q questions one by one on one thread (as ``ask`` and ``search`` do), float,
int8, float again: p50 / p95 ms.

Retrieval: Q passages picked at random; the query is one clause of each (benchlib.phrase_of),
encoded by the float query path (as shipped) and, for the `--int8` graph, also by that graph; dense hit@1 / hit@5 / MRR@10 of the source
passage among the N, and how much of each graph's top 5 the float graph's top 5 shares.
Writes bench/results/int8.json.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

import benchlib as B
from corpus import passages

from semsearch.config import models_dir
from semsearch.encoders.install import MODEL_DIRNAME
from semsearch.encoders.onnx import GRAPH, INT8_GRAPH, ONNX_DIRNAME, OnnxEncoder
from semsearch.text.normalize import fold_text

MODEL_DIR = models_dir() / MODEL_DIRNAME  # the default model, as `semsearch model install` puts it


def _quantise_every_matmul(out: Path) -> Path:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.getLogger().setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantize_dynamic(str(MODEL_DIR / ONNX_DIRNAME / GRAPH), str(out), weight_type=QuantType.QInt8,
                         per_channel=True)
    return out


def _ranks(query_vectors: np.ndarray, passage_vectors: np.ndarray, targets: list[int]) -> tuple[list, np.ndarray]:
    top = np.argsort(-(query_vectors @ passage_vectors.T), axis=1)[:, :10]
    ranks = [next((r + 1 for r, j in enumerate(row) if j == t), None) for row, t in zip(top, targets)]
    return ranks, top


def _figures(ranks: list, top: np.ndarray, reference_top: np.ndarray) -> dict:
    return {"hit@1": round(float(np.mean([r == 1 for r in ranks])), 4),
            "hit@5": round(float(np.mean([r is not None and r <= 5 for r in ranks])), 4),
            "mrr@10": round(float(np.mean([1 / r if r else 0 for r in ranks])), 4),
            "top5_shared_with_float": round(float(np.mean(
                [len(set(a[:5]) & set(b[:5])) / 5 for a, b in zip(top, reference_top)])), 4)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--queries", type=int, default=500)
    args = ap.parse_args(argv)
    texts = [fold_text(t)[:600] for t in passages(args.n, seed=3)]
    rng = random.Random(7)
    targets = rng.sample(range(len(texts)), args.queries)
    queries = [B.phrase_of(texts[i], rng) for i in targets]
    query_ms = {}
    for int8 in (False, True, False):
        encoder = OnnxEncoder(MODEL_DIR, threads=1, int8=int8)
        encoder.encode(queries[:10], "query: ")  # warm-up
        seconds = []
        for q in queries:
            started = time.perf_counter()
            encoder.encode([q], "query: ")
            seconds.append(time.perf_counter() - started)
        query_ms.setdefault("int8" if int8 else "float", []).append(B.summary_ms(seconds))
    query_vectors = OnnxEncoder(MODEL_DIR, threads=1).encode(queries, "query: ")
    int8_query_vectors = OnnxEncoder(MODEL_DIR, threads=1, int8=True).encode(queries, "query: ")

    scratch = Path(tempfile.mkdtemp(prefix="semsearch-int8-"))
    graphs = [("float", MODEL_DIR / ONNX_DIRNAME / GRAPH),
              ("int8 `--int8` (feed-forward outputs float)", MODEL_DIR / ONNX_DIRNAME / INT8_GRAPH),
              ("int8, every MatMul (the earlier recipe)", _quantise_every_matmul(scratch / "all.onnx")),
              ("float (again)", MODEL_DIR / ONNX_DIRNAME / GRAPH)]
    result = B.header(False) | {"passages": len(texts), "queries": len(queries), "graphs": [],
                                "query_encode_ms_one_thread": query_ms}
    reference = reference_top = None
    for label, graph in graphs:
        encoder = OnnxEncoder(MODEL_DIR, threads=2)
        encoder.graph = graph
        encoder.encode(texts[:16], "passage: ")  # warm-up
        started = time.perf_counter()
        vectors = encoder.encode(texts, "passage: ")
        seconds = time.perf_counter() - started
        ranks, top = _ranks(query_vectors, vectors, targets)
        if reference is None:
            reference, reference_top = vectors, top
        cosines = (vectors * reference).sum(axis=1)
        row = {"graph": label, "passages_per_s": round(len(texts) / seconds, 1),
               "cosine_to_float": {"min": round(float(cosines.min()), 4), "mean": round(float(cosines.mean()), 5)}
               } | _figures(ranks, top, reference_top)
        result["graphs"].append(row)
        print(row, file=sys.stderr, flush=True)
        if graph.name == INT8_GRAPH:
            # The same passage vectors searched with questions encoded by the int8 graph too.
            ranks, top = _ranks(int8_query_vectors, vectors, targets)
            result["graphs"].append(row | {"graph": label + ", questions also int8"}
                                    | _figures(ranks, top, reference_top))
    floats = [g["passages_per_s"] for g in result["graphs"] if g["graph"].startswith("float")]
    for g in result["graphs"]:
        g["speed_vs_float"] = round(g["passages_per_s"] / (sum(floats) / len(floats)), 2)
    result["load_end"] = B.load()
    B.write_result("int8", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
