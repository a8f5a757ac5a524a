"""Sentence windows ("small to big"): what scoring a chunk by its best window adds, and what it costs.

    .venv/bin/python bench/windows.py [--out bench/results]

Builds an index of seeds/ per window size W = 60, 120, 200 (``Settings.window_chars``; bench/.cache/windows-W)
and searches each as shipped, on the question sets over seeds/ (dense and hybrid hit@1/hit@5/MRR@10):

* "shipped": W = 120 (``DEFAULTS.window_chars``): the dense candidates rescored by their best stored window;
* "no_windows": the same index searched with ``use_windows=False`` (chunk vectors only);
* "variants": each W (how the window size was chosen), the shipped search over windows of at most W characters.

Cost per W: the windows stored and their tokens against the chunks' own ("window_tokens_vs_chunks"); a chunk
that fits in one window gets none (``chunk.sentence_windows``).
Writes bench/results/windows.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import benchlib as B
import quality as Q

from semsearch import DEFAULTS, Index, Settings
from semsearch.evaluate import metrics
from semsearch.ingest.chunk import sentence_windows

SETS = ("dev", "seeds", "english", "reworded")
WIDTHS = (60, 120, 200)


def figures(path: Path, settings: Settings, sets: dict[str, list[dict]]) -> dict:
    idx = Index.open(path, settings=settings)
    out = {}
    for name, questions in sets.items():
        for mode in ("dense", "hybrid"):
            m = metrics(list(Q.run(idx, questions, mode).values()))
            out[f"{name}/{mode}"] = {k: round(v, 3) for k, v in m.items() if k in ("hit@1", "hit@5", "mrr@10")}
    idx.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=B.RESULTS)
    args = parser.parse_args()
    sets = {name: B.load_questions(name) for name in SETS}
    result = B.header(False) | {"window_chars": DEFAULTS.window_chars, "variants": []}
    for width in WIDTHS:
        path = B.CACHE / f"windows-{width}"
        settings = DEFAULTS.but(window_chars=width)
        idx = Index.open(path, settings=settings)
        idx.reindex([B.CORPORA["seeds"]], rebuild=True)
        # Token counts with the passage prompt and special tokens, as the encoder sees them.
        embedder, gen = idx.embedder(), idx._generation()
        tokenizer, prompt = embedder._light.tokenizer, embedder.prompts.get("passage", "")
        texts = [row.embed_text for row in gen.chunks(list(range(gen.chunk_count()))).values()]
        windows = [w for t in texts for w in sentence_windows(t, width)]
        chunk_tokens = sum(len(e.ids) for e in tokenizer.encode_batch([prompt + t for t in texts]))
        window_tokens = sum(len(e.ids) for e in tokenizer.encode_batch([prompt + w for w in windows]))
        idx.close()
        result["chunks"], result["chunk_tokens"] = len(texts), chunk_tokens
        result["variants"].append({"max_chars": width, "windows": len(windows), "window_tokens": window_tokens,
                                   "window_tokens_vs_chunks": round(window_tokens / chunk_tokens, 2),
                                   "figures": figures(path, settings, sets)})
        print(json.dumps(result["variants"][-1]), flush=True)
        if width == DEFAULTS.window_chars:
            result["shipped"] = result["variants"][-1]["figures"]
            result["no_windows"] = figures(path, settings.but(use_windows=False), sets)
    result["load_end"] = B.load()
    B.write_result("windows", result, folder=args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
