"""Indexing throughput: plain sentence-transformers encode vs semsearch's reindex, same passages, same process.

    .venv/bin/python bench/indexing.py [--quick] [--n 1000]

Passages: the first N of ``corpus.passages(N, seed=0)`` (half law articles,
half Tang/Song poems: mixed lengths). Methods, all in this process:

(a) plain: ``SentenceTransformer(models/multilingual-e5-small).encode(texts, batch_size=32)``, one call
    (sentence-transformers sorts by length inside the call);
(b) naive: the same model, ``encode`` on 32-text batches in corpus order;
(c) semsearch: ``Index.reindex`` (a fresh index folder each time) over the same passages written one
    passage per .txt file; chunks embedded per second from its report (whole reindex: scan, chunk,
    embed, FTS terms, FAISS, commit) and, from its progress hooks, for the embedding phase alone;
    as shipped: passages are embedded by the int8 graph of encoders/onnx.py where the CPU has int8
    dot-product instructions (``onnx.int8_pays``), else by the float graph;
(d) as (c) with SEMSEARCH_INT8=0 (``reindex --float``: the float graph);
(e) as (c) with SEMSEARCH_INT8=1 (``reindex --int8``: the int8 graph).

Rounds run in the order a b c d e, then e d c b a (full mode) so a steady drift in
machine load cancels; the figure per method is the mean of its rounds.
Writes bench/results/indexing.json.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time

import benchlib as B

from semsearch.config import models_dir
from semsearch.encoders.install import MODEL_DIRNAME

WORK = B.CACHE / "indexing"
MODEL_DIR = models_dir() / MODEL_DIRNAME  # the default model, as `semsearch model install` puts it


def token_counts(texts: list[str], prompt: str = "") -> list[int]:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(MODEL_DIR / "tokenizer.json"))
    tok.enable_truncation(512)
    return [len(e.ids) for e in tok.encode_batch([prompt + t for t in texts])]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="150 passages, one round")
    ap.add_argument("--n", type=int)
    args = ap.parse_args(argv)
    n = args.n or (150 if args.quick else 1000)
    os.environ.pop("SEMSEARCH_INT8", None)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from corpus import passages

    from semsearch.encoders.onnx import int8_pays

    texts = passages(n, seed=0)
    lengths = sorted(len(t) for t in texts)
    result = B.header(args.quick) | {
        "passages": n, "chars": {"min": lengths[0], "median": int(statistics.median(lengths)),
                                 "mean": round(sum(lengths) / n), "max": lengths[-1]}}
    corpus_dir = WORK / f"corpus-{n}"
    shutil.rmtree(corpus_dir, ignore_errors=True)
    corpus_dir.mkdir(parents=True)
    for i, t in enumerate(texts):
        (corpus_dir / f"p{i:05d}.txt").write_text(t + "\n", encoding="utf-8")

    import torch
    from sentence_transformers import SentenceTransformer

    from semsearch import Index
    from semsearch.indexer import Progress

    threads_before = torch.get_num_threads()
    t0 = time.perf_counter()
    plain_model = SentenceTransformer(str(MODEL_DIR), device="cpu")
    plain_load_s = time.perf_counter() - t0
    plain_model.encode(texts[:8], batch_size=32)  # warm-up
    raw_tokens = sum(token_counts(texts))

    def run_plain():
        t = time.perf_counter()
        plain_model.encode(texts, batch_size=32)
        return {"seconds": time.perf_counter() - t, "chunks": n, "tokens": raw_tokens}

    def run_naive():
        t = time.perf_counter()
        for i in range(0, n, 32):
            plain_model.encode(texts[i:i + 32], batch_size=32)
        return {"seconds": time.perf_counter() - t, "chunks": n, "tokens": raw_tokens}

    def run_semsearch(int8: bool | None):
        if int8 is not None:
            os.environ["SEMSEARCH_INT8"] = "1" if int8 else "0"
        index_dir = WORK / f"index-{ {None: 'shipped', True: 'int8', False: 'float'}[int8] }"
        shutil.rmtree(index_dir, ignore_errors=True)
        marks: dict[str, float] = {}
        idx = Index.open(index_dir)
        embedder = idx.embedder()
        embedder.encode_passages(["预热"])  # load the encoder before the clock starts, as the plain model is

        def embed_start(total):
            marks["embed_start"] = time.perf_counter()
            marks["to_embed"] = total

        def embedded(k):
            marks["embed_end"] = time.perf_counter()

        def stage(name):
            if name == "writing":
                marks["writing"] = time.perf_counter()

        t = time.perf_counter()
        report = idx.reindex_report([corpus_dir], rebuild=True,
                                    progress=Progress(on_stage=stage, on_embed_start=embed_start, on_embedded=embedded))
        seconds = time.perf_counter() - t
        precision = embedder.passage_precision()
        idx.close()
        os.environ.pop("SEMSEARCH_INT8", None)
        import sqlite3

        from semsearch import store

        db = sqlite3.connect(store.live_generation(index_dir) / store.DB_FILE)
        embed_texts = [r[0] for r in db.execute("SELECT embed_text FROM chunks")]
        db.close()
        prompt = embedder.prompts.get("passage", "")
        return {"seconds": seconds, "report_seconds": report.seconds, "chunks": report.embedded,
                "total_chunks": report.total_chunks, "tokens": sum(token_counts(embed_texts, prompt)),
                "embed_seconds": marks.get("embed_end", 0) - marks.get("embed_start", 0),
                "before_embed_s": marks.get("embed_start", t) - t,
                "after_embed_s": seconds - (marks.get("embed_end", t) - t), "precision": precision}

    methods = {
        "a": ("(a) plain `SentenceTransformer.encode(texts, batch_size=32)`, one call", run_plain),
        "b": ("(b) naive loop: `encode` per 32 texts in corpus order", run_naive),
        "c": (f"(c) semsearch `Index.reindex` as shipped (on this CPU: {'int8' if int8_pays() else 'float'} passage "
              "graph; one passage per .txt file), whole reindex", lambda: run_semsearch(None)),
        "d": ("(d) semsearch `Index.reindex --float` (SEMSEARCH_INT8=0: float passage graph)", lambda: run_semsearch(False)),
        "e": ("(e) semsearch `Index.reindex --int8` (SEMSEARCH_INT8=1: int8 passage graph)", lambda: run_semsearch(True)),
    }
    order = list("abcde") if args.quick else list("abcde") + list("edcba")
    runs: dict[str, list[dict]] = {k: [] for k in methods}
    # semsearch loads its own copy of the model on first use: load it before any clock runs.
    Index.open(WORK / "warm").embedder().model
    for key in order:
        print(f"indexing: {methods[key][0]} ...  ({B.uptime_line()})", file=sys.stderr, flush=True)
        r = methods[key][1]()
        r["load"] = B.load()
        runs[key].append(r)
        print(f"indexing:   {r['chunks']} chunks in {r['seconds']:.1f} s = {r['chunks'] / r['seconds']:.2f}/s",
              file=sys.stderr, flush=True)

    out = []
    for key, (label, _) in methods.items():
        rs = runs[key]
        secs = statistics.mean(r["seconds"] for r in rs)
        m = {"key": key, "label": label, "chunks": rs[0]["chunks"], "tokens": rs[0]["tokens"],
             "seconds": round(secs, 2), "rounds_s": [round(r["seconds"], 2) for r in rs],
             "chunks_per_s": round(rs[0]["chunks"] / secs, 2), "tokens_per_s": round(rs[0]["tokens"] / secs, 1),
             "load": [r["load"] for r in rs]}
        if key in "cde":
            emb_s = statistics.mean(r["embed_seconds"] for r in rs)
            m |= {"total_chunks": rs[0]["total_chunks"], "precision": rs[0]["precision"],
                  "embed_phase_s": round(emb_s, 2), "embed_phase_chunks_per_s": round(rs[0]["chunks"] / emb_s, 2),
                  "before_embed_s": round(statistics.mean(r["before_embed_s"] for r in rs), 2),
                  "after_embed_s": round(statistics.mean(r["after_embed_s"] for r in rs), 2)}
        out.append(m)
    plain = out[0]["chunks_per_s"]
    for m in out:
        m["ratio_vs_plain"] = round(m["chunks_per_s"] / plain, 3)
        m["tokens_ratio_vs_plain"] = round(m["tokens_per_s"] / out[0]["tokens_per_s"], 3)
    extra = []
    for m in out:
        if m["key"] in "cde":
            extra.append({"key": m["key"] + "-embed", "label": f"{m['label'].split(')')[0]}) embedding phase only "
                          "(from progress hooks)", "chunks": m["chunks"], "tokens": m["tokens"],
                          "seconds": m["embed_phase_s"], "chunks_per_s": m["embed_phase_chunks_per_s"],
                          "tokens_per_s": round(m["tokens"] / m["embed_phase_s"], 1),
                          "ratio_vs_plain": round(m["embed_phase_chunks_per_s"] / plain, 3),
                          "tokens_ratio_vs_plain": round(m["tokens"] / m["embed_phase_s"] / out[0]["tokens_per_s"], 3)})
    result["methods"] = out + extra
    c = next(m for m in out if m["key"] == "c")
    result["target"] = {"what": "semsearch reindex chunks/s ≥ 2× plain encode chunks/s", "ratio": c["ratio_vs_plain"],
                        "ok": c["ratio_vs_plain"] >= 2.0}
    d = next(m for m in out if m["key"] == "d")
    result["target_float"] = {"ratio": d["ratio_vs_plain"], "ok": d["ratio_vs_plain"] >= 2.0}
    e = next(m for m in out if m["key"] == "e")
    result["target_int8"] = {"ratio": e["ratio_vs_plain"], "ok": e["ratio_vs_plain"] >= 2.0}
    result["int8_pays"] = int8_pays()
    result["torch_threads"] = {"before_semsearch": threads_before, "after": torch.get_num_threads()}
    result["plain_model_load_s"] = round(plain_load_s, 2)
    result["load_end"] = B.load()
    result["uptime_end"] = B.uptime_line()
    result["how_measured"] = [
        f"{n:,} passages of `corpus.passages({n}, seed=0)` (half law articles, half poems); (a)/(b) encode them as "
        "they are (no prompt); semsearch embeds its chunks' folded text with the 'passage: ' prompt, and "
        "splits passages over 256 tokens into several chunks, so chunk and token counts differ: tokens/s "
        "(tokenizer count with special tokens, truncated at 512) is the like-for-like rate.",
        "(c)/(d)/(e): one passage per .txt file, `Index.reindex(rebuild=True)` into a fresh folder, so every chunk "
        "is embedded; chunks/s = chunks embedded / wall seconds of the whole reindex call.",
        "All methods in one process, after loading both model copies; " +
        ("one round each." if args.quick else "rounds in order a b c d d c b a; figure = mean of the two rounds."),
        f"torch threads: {threads_before} before semsearch, {torch.get_num_threads()} after "
        "(semsearch's Embedder sets torch.set_num_threads(os.cpu_count())).",
    ]
    B.write_result("indexing", result)
    for m in result["methods"]:
        print(f"indexing: {m['label']}: {m['chunks_per_s']:.2f} chunks/s, {m['tokens_per_s']:.0f} tokens/s, "
              f"×{m['ratio_vs_plain']:.2f}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
