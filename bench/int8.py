"""Passage-encoding speed of the int8 copy (`reindex --int8`) against the float model, same process.

    .venv/bin/python bench/int8.py [N]

Embeds N real passages from bench/corpus.py (default 300, folded as semsearch folds them) with the
float encoder (``encode_passages(exact=True)``: the ONNX graph on all cores, or sentence-transformers where
there is no export) and with the int8 graph (``onnx/encoder-int8.onnx``, used under SEMSEARCH_INT8=1),
after a warm-up of each, alternating float/int8/float to expose drift; reports
texts/s, the speed-up and the cosine between the two sets of vectors. Writes bench/results/int8.json.
"""

import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from corpus import passages  # noqa: E402

from semsearch.embed import Embedder  # noqa: E402
from semsearch.normalize import fold_text  # noqa: E402


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    texts = [fold_text(t)[:600] for t in passages(n)]
    os.environ["SEMSEARCH_INT8"] = "1"
    embedder = Embedder()
    runs = []
    for label in ("float", "int8", "float"):
        exact = label == "float"
        embedder.encode_passages(texts[:32], exact=exact)  # warm-up
        started = time.perf_counter()
        vectors = embedder.encode_passages(texts, exact=exact)
        runs.append((label, time.perf_counter() - started, vectors))
    float_s = (runs[0][1] + runs[2][1]) / 2
    int8_s = runs[1][1]
    cos = (runs[0][2] * runs[1][2]).sum(axis=1)
    result = {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "load": os.getloadavg(), "passages": n,
              "float_texts_per_s": [round(n / r[1], 1) for r in runs if r[0] == "float"],
              "int8_texts_per_s": round(n / int8_s, 1), "speedup": round(float_s / int8_s, 2),
              "cosine_int8_vs_float": {"min": round(float(cos.min()), 4), "mean": round(float(cos.mean()), 4)}}
    out = REPO / "bench" / "results" / "int8.json"
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
