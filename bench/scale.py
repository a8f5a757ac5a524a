"""Scale benchmark: semsearch indexes of 10k, 100k and 1M chunks of real Chinese text.

    .venv/bin/python bench/scale.py [--quick] [--sizes 10000,100000,1000000] [--rebuild] [--re-embed]

Writes bench/results/scale.json and updates bench/RESULTS.md. Artefacts (real
embeddings, indexes) stay in bench/.cache/scale/ and are reused by later runs
and by bench/latency_http.py (``--rebuild`` builds the indexes again).

Text: every chunk is one real passage of bench/corpus.py (seed 0). The index of
size N holds ``records(N + H)`` minus H held-out passages (H = 200, chosen with a
fixed seed from the smallest set, so the same ones are held out of every size);
queries are the 80 questions of bench/questions/seeds_questions.jsonl plus one
clause (6-40 characters, between punctuation marks) of each held-out passage.

Vectors: embedding 1M passages with the real model on 2 cores would take about
a day, so S passages (S = 5,000; drawn with a fixed seed from the smallest set,
so they are in every index) are embedded with semsearch's own
``Embedder.encode_passages`` (timed: the indexing throughput), and every other
passage gets a vector DERIVED from those real ones: with a generator seeded by
(0, block number) per block of 4,096 vectors, pick k = 2 or 3 (even odds) real
sample vectors uniformly at random, weights uniform on the simplex
(Dirichlet(1, ..., 1)), add Gaussian noise with sigma = 0.005 per dimension
(about 0.1 in norm, ~10% of the mix), L2-normalise. A text hash that occurs
twice (two passages folding to the same text) gets one vector, as in semsearch.

Index: built by a bench-only builder through semsearch's own
``store.GenerationWriter`` (add_document with chunk dicts as the indexer makes
them: embed_text = fold_text(passage), text_hash = the indexer's hash of it;
add_vectors; commit(384)), so it is a real index folder that ``Index.open``
searches with the default model (meta "model" = multilingual-e5-small), and
FAISS is whatever semsearch.store.vectors chooses for that size. Passages are grouped
10 to a document (joined by a blank line, exact offsets and line numbers); each
passage is one chunk (semsearch's chunker would split the few passages over 256
tokens). Each build runs in its own process (peak RSS is that process's VmHWM,
reset after the benchmark's own data is loaded) and so does each query run (its
RSS is the cost of an open index that has answered queries).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import benchlib as B

SCALE_CACHE = B.CACHE / "scale"
DIM = 384
NOISE_SIGMA = 0.005
VECTOR_SEED = 0
BLOCK = 4096
DOC_CHUNKS = 10
FULL = {"base": 10_000, "hold": 200, "sample": 5_000, "sizes": [10_000, 100_000, 1_000_000], "rounds": 1,
        "phase_budget_s": 600}
QUICK = {"base": 2_000, "hold": 60, "sample": 300, "sizes": [2_000, 20_000], "rounds": 1, "phase_budget_s": 120}
TARGET_P50_MS = {100_000: 20.0, 1_000_000: 30.0}
BUILD_TIMEOUT_S = 3600
QUERY_TIMEOUT_S = 3600


# ---------------------------------------------------------------- which passages

def held_out(base: int, hold: int) -> list[str]:
    from corpus import passages

    pool = sorted(passages(base + hold, seed=0))
    return random.Random(f"semsearch-bench-scale-holdout:{base}:{hold}").sample(pool, hold)


def index_texts(n: int, base: int, hold: int) -> list[str]:
    """The N passages of the size-N index, in the corpus's seeded order."""
    from corpus import passages

    excluded = set(held_out(base, hold))
    texts = [t for t in passages(n + hold, seed=0) if t not in excluded]
    if len(texts) != n:
        raise RuntimeError(f"expected {n} passages after holding out {hold}, got {len(texts)}")
    return texts


def sample_texts(base: int, hold: int, size: int) -> list[str]:
    texts = index_texts(base, base, hold)
    return random.Random(f"semsearch-bench-scale-sample:{base}:{size}").sample(texts, size)


def chunk_hash(embed_text: str) -> str:
    # The indexer's own hash (semsearch.ingest.chunk.text_hash), imported to stay identical.
    from semsearch.ingest.chunk import text_hash

    return text_hash(embed_text)


# ---------------------------------------------------------------- real sample

def real_sample(cfg: dict, re_embed: bool) -> dict:
    """Embed the real sample with semsearch's Embedder (or reuse the cached vectors and their timing)."""
    import numpy as np

    SCALE_CACHE.mkdir(parents=True, exist_ok=True)
    stem = SCALE_CACHE / f"real-{cfg['base']}-{cfg['hold']}-{cfg['sample']}"
    meta_path, vec_path = stem.with_suffix(".json"), stem.with_suffix(".npy")
    if meta_path.is_file() and vec_path.is_file() and not re_embed:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        meta["from_cache"] = True
        return meta
    from semsearch.encoders.embedder import Embedder
    from semsearch.text.normalize import fold_text

    texts = sample_texts(cfg["base"], cfg["hold"], cfg["sample"])
    embed = [fold_text(t) for t in texts]
    hashes = [chunk_hash(t) for t in embed]
    embedder = Embedder()
    t0 = time.perf_counter()
    embedder.encode_passages(["预热"])  # loads the encoder (ORT where exported), timed apart from encoding
    load_s = time.perf_counter() - t0
    load_before = B.load()
    t0 = time.perf_counter()
    vectors = embedder.encode_passages(embed)
    seconds = time.perf_counter() - t0
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(Path(embedder.load_path) / "tokenizer.json"))
    tok.enable_truncation(embedder.max_tokens)
    prompt = embedder.prompts.get("passage", "")
    tokens = sum(len(e.ids) for e in tok.encode_batch([prompt + t for t in embed]))
    np.save(vec_path, vectors)
    meta = {"n": len(texts), "seconds": round(seconds, 2), "model_load_s": round(load_s, 2),
            "chunks_per_s": round(len(texts) / seconds, 2), "tokens": tokens,
            "tokens_per_s": round(tokens / seconds, 1), "mean_tokens": round(tokens / len(texts), 1),
            "load": [load_before, B.load()], "date": time.strftime("%Y-%m-%d %H:%M:%S"),
            "hashes": hashes, "from_cache": False}
    meta_path.write_text(json.dumps(meta, ensure_ascii=False) + "\n", encoding="utf-8")
    return meta


def derived_block(rng, base_vectors, rows: int):
    """``rows`` vectors, each a normalised Dirichlet-weighted mix of 2-3 real vectors plus noise."""
    import numpy as np

    picks = rng.integers(0, len(base_vectors), size=(rows, 3))
    weights = rng.dirichlet([1.0, 1.0, 1.0], size=rows)
    two = rng.random(rows) < 0.5
    weights[two, 2] = 0.0
    weights /= weights.sum(axis=1, keepdims=True)
    mix = np.einsum("rk,rkd->rd", weights.astype(np.float32), base_vectors[picks])
    mix += rng.normal(0.0, NOISE_SIGMA, size=mix.shape).astype(np.float32)
    mix /= np.linalg.norm(mix, axis=1, keepdims=True)
    return mix.astype(np.float32)


# ---------------------------------------------------------------- build (own process)

def build(n: int, cfg: dict) -> dict:
    import numpy as np

    from semsearch import DEFAULTS, store
    from semsearch.encoders.models import DEFAULT_MODEL
    from semsearch.ingest.chunk import sentence_windows
    from semsearch.store import vectors as vecmod
    from semsearch.text.normalize import fold_text

    window_chars = DEFAULTS.window_chars

    t0 = time.perf_counter()
    texts = index_texts(n, cfg["base"], cfg["hold"])
    stem = SCALE_CACHE / f"real-{cfg['base']}-{cfg['hold']}-{cfg['sample']}"
    real_meta = json.loads(stem.with_suffix(".json").read_text(encoding="utf-8"))
    real_vecs = np.load(stem.with_suffix(".npy"))
    real_row = {h: i for i, h in enumerate(real_meta["hashes"])}
    corpus_s = time.perf_counter() - t0

    index_dir = SCALE_CACHE / f"index-{n}"
    shutil.rmtree(index_dir, ignore_errors=True)
    index_dir.mkdir(parents=True)

    rss_before = B.proc_status()
    B.reset_peak_rss()
    load_start = B.load()
    started = time.perf_counter()
    meta = {"model": DEFAULT_MODEL, "chunker": "bench-scale: one corpus passage per chunk", "max_tokens": "256",
            "roots": "[]", "window_chars": str(window_chars), "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    writer = store.GenerationWriter(index_dir, meta, None)
    order: list[str] = []  # text hash per chunk id
    window_counts: list[int] = []  # sentence windows per chunk id
    for d in range(0, n, DOC_CHUNKS):
        group = texts[d:d + DOC_CHUNKS]
        doc_text = "\n\n".join(group)
        chunks, pos, line = [], 0, 1
        for j, text in enumerate(group):
            et = fold_text(text)
            h = chunk_hash(et)
            order.append(h)
            window_counts.append(len(sentence_windows(et, window_chars)))
            newlines = text.count("\n")
            chunks.append({"ordinal": j, "char_start": pos, "char_end": pos + len(text), "line_start": line,
                           "line_end": line + newlines, "page": None, "title": None, "text": text,
                           "embed_text": et, "text_hash": h})
            pos += len(text) + 2
            line += newlines + 2
        raw = doc_text.encode("utf-8")
        writer.add_document(store.NewDocument(root="bench-scale-corpus", path=f"doc-{d // DOC_CHUNKS:06d}.txt",
                                              size=len(raw), mtime=0.0, sha256=hashlib.sha256(raw).hexdigest(),
                                              encoding="utf-8"), chunks)
    del texts
    t_rows = time.perf_counter()

    # One vector per distinct text hash: real when the passage is in the embedded sample, else derived.
    seen: set[str] = set()
    is_real = np.zeros(n, dtype=bool)
    real_count = derived_count = 0
    pending_h: list[str] = []
    pending_src: list[int] = []  # row of the real sample, or -1 for derived
    pending_windows: list[int] = []
    block_no = 0
    window_total = 0

    def flush():
        nonlocal block_no, real_count, derived_count, pending_h, pending_src, pending_windows, window_total
        if not pending_h:
            return
        rng = np.random.default_rng([VECTOR_SEED, block_no])
        block_no += 1
        src = np.asarray(pending_src)
        out = derived_block(rng, real_vecs, len(pending_h))
        real_mask = src >= 0
        out[real_mask] = real_vecs[src[real_mask]]
        real_count += int(real_mask.sum())
        derived_count += int((~real_mask).sum())
        writer.add_vectors(pending_h, out)
        # Window vectors (derived for every chunk): each its chunk's vector blended with another mix.
        counts = np.asarray(pending_windows)
        owners = np.repeat(np.arange(len(pending_h)), counts)
        wins = 0.7 * out[owners] + 0.3 * derived_block(rng, real_vecs, len(owners))
        wins /= np.linalg.norm(wins, axis=1, keepdims=True)
        starts = np.concatenate([[0], np.cumsum(counts)])
        writer.add_window_vectors([(h, wins[starts[i]:starts[i + 1]]) for i, h in enumerate(pending_h)])
        window_total += len(owners)
        pending_h, pending_src, pending_windows = [], [], []

    for cid, h in enumerate(order):
        if h in real_row:
            is_real[cid] = True
        if h in seen:
            continue
        seen.add(h)
        pending_h.append(h)
        pending_src.append(real_row.get(h, -1))
        pending_windows.append(window_counts[cid])
        if len(pending_h) == BLOCK:
            flush()
    flush()
    del seen, order, window_counts
    writer.db.execute("INSERT OR REPLACE INTO meta VALUES ('dimension', ?)", (str(DIM),))
    t_vectors = time.perf_counter()
    writer.commit(DIM)
    t_commit = time.perf_counter()
    peak = B.proc_status()

    live = store.live_generation(index_dir)
    np.save(SCALE_CACHE / f"is-real-{n}.npy", is_real)
    sqlite_b = (live / store.DB_FILE).stat().st_size
    faiss_b = (live / store.VECTORS_FILE).stat().st_size
    mib = 1024 ** 2
    return {
        "n": n, "documents": -(-n // DOC_CHUNKS), "corpus_load_s": round(corpus_s, 1),
        "real_vectors": real_count, "derived_vectors": derived_count, "distinct_hashes": real_count + derived_count,
        "window_vectors": window_total, "window_chars": window_chars,
        "faiss_type": ("IndexFlatIP" if n <= DEFAULTS.exact_limit else
                       f"IndexIVFScalarQuantizer(fp16, nlist={vecmod.ivf_lists(n)}, nprobe={vecmod.probes(vecmod.ivf_lists(n))})"),
        # The commit (FTS terms and rows, FAISS build, fsync, switch) is one call: its parts are not timed apart.
        "seconds": {"total": round(t_commit - started, 1), "rows": round(t_rows - started, 1),
                    "vectors": round(t_vectors - t_rows, 1), "commit": round(t_commit - t_vectors, 1)},
        "rss_before_writer_mib": rss_before.get("VmRSS"), "peak_rss_writer_mib": peak.get("VmHWM"),
        "ru_maxrss_mib": B.maxrss_mib(),
        "disk_mib": {"total": round(B.dir_size(live) / mib, 1), "sqlite": round(sqlite_b / mib, 1),
                     "faiss": round(faiss_b / mib, 1)},
        "generation": str(live), "load": [load_start, B.load()],
    }


# ---------------------------------------------------------------- queries (own process)

class _TimedIndex:
    """Stands in for a FAISS index inside semsearch: same ``ntotal`` and ``search``, with a clock."""

    def __init__(self, index, sink: list):
        self.index, self.sink, self.ntotal = index, sink, index.ntotal

    def search(self, x, k):
        t = time.perf_counter()
        out = self.index.search(x, k)
        self.sink.append(time.perf_counter() - t)
        return out


class _TimedEncoder:
    """The index's encoder with a clock on ``encode_query``; passed as ``Index.open(path, embedder=...)``."""

    def __init__(self, encoder, sink: list):
        self._encoder, self._sink = encoder, sink

    def encode_query(self, text: str):
        t = time.perf_counter()
        try:
            return self._encoder.encode_query(text)
        finally:
            self._sink.append(time.perf_counter() - t)

    def __getattr__(self, name: str):
        return getattr(self._encoder, name)


class StageClock:
    """Times the stages of semsearch's own ``Index.search`` that can be timed from outside.

    The question encoder is a ``_TimedEncoder`` given to ``Index.open``, and while the clock is on the
    generation's FAISS index (``Generation.faiss_index``) is a ``_TimedIndex`` around it. Nothing in semsearch is
    replaced: its other stages (sentence windows, dictionary words, query terms, the FTS5 query, chunk rows)
    would need a timing hook in ``search`` and are in "rest" = the whole call minus encode and FAISS.
    """

    STAGES = ("encode", "dense")

    def __init__(self):
        self.times: dict[str, list[float]] = {k: [] for k in self.STAGES + ("rest", "total", "cpu_total")}
        self._pending: dict[str, list[float]] = {k: [] for k in self.STAGES}

    def encoder(self, encoder) -> _TimedEncoder:
        return _TimedEncoder(encoder, self._pending["encode"])

    def on(self, idx, gen):
        self.idx, self.gen, self._chosen = idx, gen, gen.faiss_index
        gen.faiss_index = _TimedIndex(self._chosen, self._pending["dense"])

    def off(self):
        self.gen.faiss_index = self._chosen

    def search(self, q: str, k: int = 5):
        for v in self._pending.values():
            v.clear()
        c = time.thread_time()
        t = time.perf_counter()
        hits = self.idx.search(q, k=k)
        total = time.perf_counter() - t
        self.times["cpu_total"].append(time.thread_time() - c)
        parts = 0.0
        for key in self.STAGES:
            spent = sum(self._pending[key])
            self.times[key].append(spent)
            parts += spent
        self.times["rest"].append(total - parts)
        self.times["total"].append(total)
        return hits


def run_queries(n: int, cfg: dict, full: bool) -> dict:
    """Latency (always) and, when ``full``, recall and memory. Threads as the environment says."""
    import numpy as np

    from semsearch.store.vectors import faiss_module

    faiss = faiss_module()  # first, as semsearch loads it (OpenMP's idle threads sleep), for both configurations

    from semsearch import Index
    from semsearch.encoders.factory import load_encoder
    from semsearch.text.normalize import fold_text

    queries = [q["q"] for q in json.loads((SCALE_CACHE / f"queries-{cfg['base']}-{cfg['hold']}.json")
                                          .read_text(encoding="utf-8"))]
    budget_end = time.monotonic() + cfg["phase_budget_s"]
    rss_start = B.proc_status()
    load_start = B.load()
    t0 = time.perf_counter()
    clock = StageClock()
    embedder = load_encoder()  # the default model, which the bench index records
    idx = Index.open(SCALE_CACHE / f"index-{n}", embedder=clock.encoder(embedder))
    gen = idx._generation()
    open_s = time.perf_counter() - t0
    rss_open = B.proc_status()
    t0 = time.perf_counter()
    idx.search(queries[0], k=5)
    first_s = time.perf_counter() - t0
    for q in queries[:20]:  # warm-up
        idx.search(q, k=5)

    # Phase 1: semsearch alone, its own Index.search with a clock around the stages it can be timed at.
    clock.on(idx, gen)
    for q in queries:
        if time.monotonic() > budget_end:
            break
        clock.search(q, k=5)
    clock.off()
    e2e = clock.times["total"]
    from semsearch.analysis.translate import content_words

    english = [i for i, q in enumerate(queries[:len(e2e)]) if content_words(q)]
    rss_after = B.proc_status()

    # Phase 2: the plain baseline (the same query encoder, no folding, exact IndexFlatIP over the same
    # vectors), interleaved with semsearch query by query.
    chosen = gen.faiss_index
    t0 = time.perf_counter()
    ivf = faiss.try_extract_index_ivf(chosen)
    if ivf is not None:
        ivf.make_direct_map()  # an inverted file gives its vectors back by id only with this map
    X = chosen.reconstruct_n(0, chosen.ntotal)
    flat = faiss.IndexFlatIP(DIM)
    flat.add(X)
    del X
    flat_build_s = time.perf_counter() - t0
    encoder = embedder._light
    prompt = embedder.prompts.get("query", "")

    def plain(q: str):
        v = encoder.encode([q], prompt)
        return flat.search(v, 10)

    hybrid_t, plain_t = [], []
    budget_end = time.monotonic() + cfg["phase_budget_s"]
    for r in range(cfg["rounds"]):
        for i, q in enumerate(queries):
            if time.monotonic() > budget_end:
                break
            for which in ((0, 1) if (i + r) % 2 == 0 else (1, 0)):
                t = time.perf_counter()
                if which == 0:
                    idx.search(q, k=5)
                    hybrid_t.append(time.perf_counter() - t)
                else:
                    plain(q)
                    plain_t.append(time.perf_counter() - t)
    hybrid = B.summary_ms(hybrid_t)
    plainms = B.summary_ms(plain_t)
    target = TARGET_P50_MS.get(n)
    out = {
        "threads_env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")},
        "n_queries": len(queries), "timed_phase1": len(e2e), "rounds": cfg["rounds"],
        "faiss_type": type(chosen).__name__, "faiss_ntotal": int(chosen.ntotal),
        "open_s": round(open_s, 3), "first_query_s": round(first_s, 3),
        "hybrid_ms": hybrid, "plain_ms": plainms,
        "ratio_p50": B.ratio(hybrid["p50"], plainms["p50"]), "ratio_p95": B.ratio(hybrid["p95"], plainms["p95"]),
        "target_p50_ms": target, "target_p50_ok": (hybrid["p50"] <= target) if target else None,
        "phase1_e2e_ms": B.summary_ms(e2e),
        "stages_ms": {k: B.summary_ms(v) for k, v in clock.times.items()},
        # Only questions with English words pay for translation: their own figures, not drowned in the median.
        "english_queries": {"n": len(english), "hybrid_ms": B.summary_ms([clock.times["total"][i] for i in english])},
        "rss_mib": {"before_open": rss_start.get("VmRSS"), "after_open": rss_open.get("VmRSS"),
                    "after_queries": rss_after.get("VmRSS"), "peak_before_baseline": rss_after.get("VmHWM")},
        "baseline_flat_build_s": round(flat_build_s, 2),
        "load_start": load_start,
    }
    if full:
        # FAISS alone, and recall of the chosen index against exact search (thread-independent).
        Q = encoder.encode([fold_text(q) for q in queries], prompt)
        chosen_t, flat_t = [], []
        for i in range(len(Q)):
            v = Q[i:i + 1]
            for which in ((0, 1) if i % 2 == 0 else (1, 0)):
                t = time.perf_counter()
                (chosen if which == 0 else flat).search(v, 50)
                (chosen_t if which == 0 else flat_t).append(time.perf_counter() - t)
        _, I_c = chosen.search(Q, 50)
        D_f, I_f = flat.search(Q, 50)
        rec10, rec50 = B.recall_at(I_c, I_f, 10), B.recall_at(I_c, I_f, 50)
        agree = []
        for q in queries:
            a = [h.chunk_id for h in idx.search(q, k=5)]
            gen.faiss_index = flat  # the same search with exact dense candidates
            try:
                b = [h.chunk_id for h in idx.search(q, k=5)]
            finally:
                gen.faiss_index = chosen
            agree.append(len(set(a) & set(b)) / max(1, len(b)))
        is_real_path = SCALE_CACHE / f"is-real-{n}.npy"
        real_share = None
        if is_real_path.is_file():
            real_share = round(float(np.load(is_real_path)[I_f[:, :10]].mean()), 3)
        out |= {
            "faiss_only_ms": {"chosen_p50": round(B.pct(chosen_t, 50) * 1000, 3),
                              "chosen_p95": round(B.pct(chosen_t, 95) * 1000, 3),
                              "flat_p50": round(B.pct(flat_t, 50) * 1000, 3),
                              "flat_p95": round(B.pct(flat_t, 95) * 1000, 3)},
            "recall@10": round(rec10, 4), "recall@50": round(rec50, 4),
            "hybrid_top5_agreement": round(float(np.mean(agree)), 4),
            "exact_top10_real_vector_share": real_share,
            "exact_top1_cosine_mean": round(float(D_f[:, 0].mean()), 4),
        }
        out["what_if"] = what_if(n, idx, gen, queries, flat, Q)
    out["rss_mib"]["with_baseline_flat_copy"] = B.proc_status().get("VmRSS")
    out["load"] = B.load()
    return out


def what_if(n: int, idx, gen, queries: list[str], flat, Q) -> dict:
    """Measurements behind possible code changes (nothing in semsearch is changed).

    * IVF instead of exact search at this size (for sizes semsearch serves with IndexFlatIP):
      the inverted file semsearch builds past its exact limit (``vectors.new_index`` with
      ``exact_limit=0``), over the same vectors, put in the open generation's ``faiss_index``;
      latency, recall, hybrid top-5 agreement.
    * The keyword lookup as shipped (``Generation.keyword_candidates``: rows holding a rarer term scored
      first, the whole query only when that cannot be proved to give its top 50) against the whole
      query's bm25() over every matching row: time, and whether the top 50 are the same.
    """
    import faiss
    import numpy as np

    from semsearch import DEFAULTS
    from semsearch.analysis.keyword import fts_match, search_terms
    from semsearch.analysis.translate import translations
    from semsearch.store import vectors as V
    from semsearch.text.normalize import fold_text

    inverted = DEFAULTS.but(exact_limit=0)  # the structure past the exact limit, at any size

    out: dict = {}
    chosen = gen.faiss_index
    shipped, shipped_t = [], []
    for q in queries:
        t = time.perf_counter()
        shipped.append([h.chunk_id for h in idx.search(q, k=5)])
        shipped_t.append(time.perf_counter() - t)
    out["shipped_hybrid_ms"] = B.summary_ms(shipped_t)
    if isinstance(chosen, faiss.IndexFlatIP) and n >= 50_000:
        # The structure semsearch builds past its exact limit, built here at this size.
        X = flat.reconstruct_n(0, flat.ntotal)
        t = time.perf_counter()
        train = X[np.random.default_rng(0).choice(len(X), V.training_size(len(X), inverted), replace=False)]
        ivf = V.new_index(len(X), DIM, sample=train, settings=inverted)
        ivf.add(X)
        build_s = time.perf_counter() - t
        del X, train
        ht = B.one_query_times(ivf, Q)
        _, I_h = ivf.search(Q, 10)
        _, I_f = flat.search(Q, 10)
        agree = []
        gen.faiss_index = ivf
        try:
            for q, base in zip(queries, shipped):
                agree.append(len(set(base) & {h.chunk_id for h in idx.search(q, k=5)}) / max(1, len(base)))
        finally:
            gen.faiss_index = chosen
        out["ivf_instead_of_flat"] = {
            "params": f"{type(ivf).__name__} nlist={ivf.nlist}, nprobe={ivf.nprobe}",
            "build_s": round(build_s, 1), "search_ms": B.summary_ms(ht),
            "recall@10": B.recall_at(I_h, I_f, 10),
            "hybrid_top5_agreement_with_shipped": round(float(np.mean(agree)), 4)}
        del ivf

    if n >= 1_000_000:
        # How tied the exact neighbours are: a small gap between the 1st and 10th cosine makes
        # recall@10 hinge on differences that hardly change a ranking.
        D_f, _ = flat.search(Q, 10)
        out["exact_cosine_top1_minus_top10_mean"] = round(float(np.mean(D_f[:, 0] - D_f[:, 9])), 5)

    shipped_fts, whole_fts, same = [], [], 0
    for i, q in enumerate(queries):
        folded = fold_text(q)
        terms = search_terms(folded, translations(folded, gen.term_document_counts) if DEFAULTS.translate else [])
        if not terms:
            continue
        for which in ((0, 1) if i % 2 == 0 else (1, 0)):
            t = time.perf_counter()
            if which == 0:
                got = gen.keyword_candidates(terms, 50)
                shipped_fts.append(time.perf_counter() - t)
            else:
                whole = gen._bm25(fts_match(terms), 50)
                whole_fts.append(time.perf_counter() - t)
        same += sorted(got) == sorted(whole)
    out["keyword_rare_terms_first"] = {"queries": len(shipped_fts), "fts_ms": B.summary_ms(shipped_fts),
                                       "whole_query_fts_ms": B.summary_ms(whole_fts),
                                       "top50_same_as_whole_query": round(same / max(1, len(shipped_fts)), 4)}
    return out


# ---------------------------------------------------------------- driver

ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _child(kind: str, n: int, cfg: dict, timeout: int, env_extra: dict | None = None, tag: str = "") -> dict:
    out = SCALE_CACHE / f"{kind}{tag}-{n}.json"
    out.unlink(missing_ok=True)
    cmd = [sys.executable, __file__, f"--_{kind}", str(n), "--_cfg", json.dumps(cfg), f"--_tag={tag}"]
    print(f"scale: {kind}{tag} {n:,} ...  ({B.uptime_line()})", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    env = dict(os.environ) | (env_extra or {})
    try:
        done = subprocess.run(cmd, timeout=timeout, capture_output=True, text=True, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"{kind} of {n:,} did not finish within {timeout} s"}
    if done.returncode != 0 or not out.is_file():  # noqa: SIM102
        tail = "\n".join((done.stderr or "").strip().splitlines()[-12:])
        return {"error": f"{kind} of {n:,} failed (exit {done.returncode}) after "
                         f"{time.perf_counter() - t0:.0f} s: {tail}"}
    result = json.loads(out.read_text(encoding="utf-8"))
    print(f"scale: {kind} {n:,} done in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="2k and 20k chunks, 300 real vectors, fewer queries")
    ap.add_argument("--sizes", help="comma-separated index sizes (default 10000,100000,1000000)")
    ap.add_argument("--rebuild", action="store_true", help="build the indexes again even if cached")
    ap.add_argument("--re-embed", action="store_true", help="embed the real sample again even if cached")
    ap.add_argument("--_build", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--_query", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--_cfg", help=argparse.SUPPRESS)
    ap.add_argument("--_tag", default="", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args._build or args._query:
        cfg = json.loads(args._cfg)
        kind, n = ("build", args._build) if args._build else ("query", args._query)
        result = build(n, cfg) if kind == "build" else run_queries(n, cfg, full=args._tag == "-1thread")
        (SCALE_CACHE / f"{kind}{args._tag}-{n}.json").write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
        return 0

    cfg = dict(QUICK if args.quick else FULL)
    if args.sizes:
        cfg["sizes"] = [int(s) for s in args.sizes.split(",")]
    SCALE_CACHE.mkdir(parents=True, exist_ok=True)
    result = B.header(args.quick)
    result["config"] = {k: v for k, v in cfg.items()}

    from corpus import ensure_installed

    ensure_installed()
    held = held_out(cfg["base"], cfg["hold"])
    queries = B.query_set(held)
    (SCALE_CACHE / f"queries-{cfg['base']}-{cfg['hold']}.json").write_text(
        json.dumps(queries, ensure_ascii=False, indent=0), encoding="utf-8")
    result["queries"] = {"n": len(queries), "seed_questions": sum(q["kind"] == "seed-question" for q in queries),
                         "held_out_phrases": sum(q["kind"] == "held-out-phrase" for q in queries),
                         "examples": [q["q"] for q in queries[-5:]]}
    print(f"scale: {len(queries)} queries; real sample of {cfg['sample']:,} ...", file=sys.stderr, flush=True)
    sample = real_sample(cfg, args.re_embed)
    result["real_sample"] = {k: v for k, v in sample.items() if k != "hashes"}

    result["sizes"] = []
    for n in cfg["sizes"]:
        entry: dict = {"n": n}
        build_json = SCALE_CACHE / f"build-{n}.json"
        cached = build_json.is_file() and (SCALE_CACHE / f"index-{n}" / "CURRENT").is_file() and not args.rebuild
        if cached:
            entry["build"] = json.loads(build_json.read_text(encoding="utf-8")) | {"from_cache": True}
        else:
            entry["build"] = _child("build", n, cfg, BUILD_TIMEOUT_S)
        if "error" not in entry["build"]:
            entry["query"] = _child("query", n, cfg, QUERY_TIMEOUT_S)
            entry["query_1thread"] = _child("query", n, cfg, QUERY_TIMEOUT_S, ONE_THREAD, "-1thread")
        result["sizes"].append(entry)
        for part in ("build", "query", "query_1thread"):
            if "error" in entry.get(part, {}):
                print(f"scale: {entry[part]['error']}", file=sys.stderr)

    previous = B._read("scale") if args.sizes else None
    if previous and bool(previous.get("quick")) == bool(args.quick):
        # A run of some sizes keeps the other sizes' figures from the last run, marked as such.
        for e in previous.get("sizes", []):
            if e["n"] not in cfg["sizes"]:
                e.setdefault("earlier_run", {"date": previous.get("date"),
                                             "sources": previous.get("code", {}).get("semsearch_sha256")})
                result["sizes"].append(e)
        result["sizes"].sort(key=lambda e: e["n"])

    result["load_end"] = B.load()
    result["uptime_end"] = B.uptime_line()
    result["how_measured"] = [
        "Text: real passages of bench/corpus.py (seed 0: law articles, Tang/Song poems, ci, qu; at 1M also "
        "windows of 2-3 consecutive real poems); one passage = one chunk, 10 chunks per document. "
        f"{cfg['hold']} passages are held out of every index; queries = the 80 seed questions + one clause "
        "(6-40 chars) of each held-out passage.",
        f"Vectors: {cfg['sample']:,} passages (in every index) embedded for real with "
        "`Embedder.encode_passages`; every other passage gets a DERIVED vector: a normalised mix of k = 2 or 3 "
        "(even odds) real sample vectors picked uniformly at random, weights Dirichlet(1,..,1), plus Gaussian noise "
        f"sigma {NOISE_SIGMA} per dimension (≈0.1 in norm), generator seeded by (0, block of 4,096). "
        "'exact top-10 real-vector share' says how often real vectors are among the true neighbours.",
        "Sentence windows: each chunk gets as many window vectors as `chunk.sentence_windows(text, "
        "Settings.window_chars)` gives for its real text (none when it fits in one window), all DERIVED: "
        "0.7 x the chunk's vector + 0.3 x another derived mix, normalised; stored with "
        "`GenerationWriter.add_window_vectors` as the indexer does, so search reads and rescores them as shipped.",
        "Build: semsearch's own `store.GenerationWriter` (add_document, add_vectors, commit(384)) in a fresh "
        "process; times of the rows, the vectors and the commit (FTS terms and rows, FAISS build, fsync: one call, "
        "not split); peak RSS = VmHWM of the build process, reset after the benchmark's own corpus data was loaded.",
        "Queries: a fresh process opens the index with `Index.open`, runs 20 warm-up queries, then every query "
        "through `Index.search(q, k=5)` (hybrid), with clocks around the question encoder (an encoder given to "
        "`Index.open(embedder=...)`) and the FAISS index's `search` (a timing proxy in `Generation.faiss_index`); "
        "'rest' = the call minus those. Then, interleaved query by query, "
        "`Index.search` and the plain baseline: `Embedder._light.encode(['query: ' + q])` (the ONNX query encoder) + `faiss.IndexFlatIP.search(k=10)` "
        "over the same vectors (reconstructed from semsearch's FAISS file). RSS is read before the baseline copy "
        "is made.",
        "Recall@10 / @50: semsearch's FAISS index vs exact IndexFlatIP on the same query vectors "
        "(IndexFlatIP is exact, so 1.0 at 10k/100k by construction). 'Hybrid top-5 agreement': overlap of "
        "the hybrid top 5 with the hybrid top 5 computed with exact dense candidates.",
    ]
    result["notes"] = _notes(result)
    B.write_result("scale", result)
    print(json.dumps({"sizes": [{"n": e["n"], "hybrid_p50": e.get("query", {}).get("hybrid_ms", {}).get("p50"),
                                 "ratio": e.get("query", {}).get("ratio_p50"),
                                 "recall@10": e.get("query", {}).get("recall@10"),
                                 "error": e["build"].get("error") or e.get("query", {}).get("error")}
                                for e in result["sizes"]]}, ensure_ascii=False), file=sys.stderr)
    return 0


def _notes(result: dict) -> list[str]:
    from semsearch import DEFAULTS

    notes = []
    for e in result["sizes"]:
        if "earlier_run" in e:
            notes.append(f"{e['n']:,}: figures from an earlier run ({e['earlier_run']['date']}, semsearch sources "
                         f"{e['earlier_run']['sources']}), not measured again in this one.")
            if "HNSW" in str(e.get("query_1thread", {}).get("faiss_type", "")):
                notes.append(f"{e['n']:,}: that index used HNSW; semsearch now builds an inverted file past "
                             f"{DEFAULTS.exact_limit // 1000}k vectors, measured on the same vectors by bench/ann.py (section below).")
        if "error" in e["build"]:
            notes.append(f"{e['n']:,}: build FAILED: {e['build']['error']}")
            continue
        for part in ("query", "query_1thread"):
            q = e.get(part, {})
            if "error" in q:
                notes.append(f"{e['n']:,}: queries ({part}) FAILED: {q['error']}")
                continue
            if q and q.get("timed_phase1", 0) < q.get("n_queries", 0):
                notes.append(f"{e['n']:,} ({part}): time budget reached: {q['timed_phase1']} of "
                             f"{q['n_queries']} queries timed in phase 1, {q['hybrid_ms']['n']} in phase 2")
    return notes


if __name__ == "__main__":
    sys.exit(main())
