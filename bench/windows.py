"""Sentence windows ("small to big"): what scoring a chunk by its best window adds, and what it costs.

    .venv/bin/python bench/windows.py

Uses the quality index of bench/quality.py (seeds/). Reports hit@1/hit@5/MRR@10
on both question sets for:

* "shipped": semsearch as it is: the 50 dense candidates rescored by their best
  stored window (windows of at most indexer.WINDOW_CHARS characters);
* "no_windows": the same index with search.USE_WINDOWS off (chunk vectors only);
* variants W = 60, 120, 200 (what-if, how the window size was chosen): every chunk
  of the corpus scored by max(its own cosine, its best window's cosine), windows
  embedded here. Windows of a chunk that fits in one window are counted too
  ("embedded_tokens_vs_chunks_alone"); semsearch skips those (chunk.sentence_windows),
  so "shipped_window_tokens_vs_chunks" is the shipped cost.

Writes bench/results/windows.json.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent)]

import quality as Q  # noqa: E402
  # noqa: E402
from semsearch import Index  # noqa: E402
from semsearch.retrieval import search as S  # noqa: E402
from semsearch.ingest.chunk import sentence_spans  # noqa: E402
from semsearch.evaluate import metrics  # noqa: E402
from semsearch.text.normalize import fold_text  # noqa: E402


def windows_of(text: str, width: int) -> list[str]:
    out, current = [], None
    for start, end in sentence_spans(text):
        if current is None:
            current = [start, end]
        elif end - current[0] <= width:
            current[1] = end
        else:
            out.append(text[current[0]:current[1]])
            current = [start, end]
    if current:
        out.append(text[current[0]:current[1]])
    return out


def main() -> int:
    index_dir = BENCH / ".cache" / "quality-index"
    idx = Index.open(index_dir)
    idx.reindex([BENCH.parent / "seeds"])
    gen, emb = idx._generation(), idx.embedder()
    n = gen.faiss_index.ntotal
    rows = gen.chunks(list(range(n)))
    chunk_vecs = gen.faiss_index.reconstruct_n(0, n)
    sets = {name: Q.load(path) for name, path in Q.QUESTION_SETS.items()}
    tok = emb._light.tokenizer
    prompt = emb.prompts.get("passage", "")
    chunk_tokens = sum(len(e.ids) for e in tok.encode_batch([prompt + rows[c].embed_text for c in range(n)]))

    def figures() -> dict:
        out = {}
        for name, questions in sets.items():
            for mode in ("dense", "hybrid"):
                m = metrics(list(Q.run(idx, questions, mode).values()))
                out[f"{name}/{mode}"] = {k: round(v, 3) for k, v in m.items() if k in ("hit@1", "hit@5", "mrr@10")}
        return out

    shipped = S.dense_candidates
    from semsearch.ingest.chunk import sentence_windows
    from semsearch.indexer import WINDOW_CHARS

    stored = [w for c in range(n) for w in sentence_windows(rows[c].embed_text, WINDOW_CHARS)]
    stored_tokens = sum(len(e.ids) for e in tok.encode_batch([prompt + t for t in stored]))
    result = {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "chunks": n, "chunk_tokens": chunk_tokens,
              "window_chars": WINDOW_CHARS, "shipped_windows": len(stored),
              "shipped_window_tokens_vs_chunks": round(stored_tokens / chunk_tokens, 2),
              "shipped": figures()}
    S.USE_WINDOWS = False
    try:
        result["no_windows"] = figures()
    finally:
        S.USE_WINDOWS = True
    result["variants"] = []
    for width in (60, 120, 200):
        windows = [(c, w) for c in range(n) for w in windows_of(rows[c].embed_text, width)]
        texts = [w for _, w in windows]
        vecs = emb.encode_passages(texts)
        owner = np.array([c for c, _ in windows])
        tokens = sum(len(e.ids) for e in tok.encode_batch([prompt + t for t in texts]))

        def dense_candidates(gen, q, k, vecs=vecs, owner=owner):
            best = chunk_vecs @ q
            np.maximum.at(best, owner, vecs @ q)
            order = np.argsort(-best)[:k]
            return [(int(i), float(best[i])) for i in order]

        S.dense_candidates = dense_candidates
        try:
            result["variants"].append({"max_chars": width, "windows": len(windows), "window_tokens": tokens,
                                       "embedded_tokens_vs_chunks_alone": round((chunk_tokens + tokens) / chunk_tokens, 2),
                                       "figures": figures()})
        finally:
            S.dense_candidates = shipped
        print(json.dumps(result["variants"][-1]), flush=True)
    out = BENCH / "results" / "windows.json"
    out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
