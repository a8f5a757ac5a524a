"""External benchmarks: semsearch and plain baselines on real headings of Chinese documentation Debian ships.

    .venv/bin/python bench/external.py [--sets debref-cn lohelp-tw ...] [--quick N] [--reuse] [--float]

The query sets and corpora are made by ``bench/external_build.py`` (run first when a corpus is missing; its
docstring and ``bench/external/README.md`` say what a query is). For each corpus this script reindexes it with
semsearch (``rebuild=True``, timed), then ranks each query's top 10 with

* semsearch ``dense``, ``keyword`` and ``hybrid`` (``Index.search``, as shipped);
* plain baselines over exactly the same passages (the index's chunks), their text cleaned as a plain script
  would (``fold_text``: pinyin glosses stripped, Simplified): (a) ``plain-dense``: sentence-transformers with
  the same model folder, ``query: `` / ``passage: `` prompts, FAISS ``IndexFlatIP`` (its encode of every passage
  is timed); (b) ``plain-bm25``: SQLite FTS5 BM25 over character bigrams of Han runs plus ASCII words; (c)
  ``plain-rrf``: reciprocal-rank fusion (k = 60) of the top 100 of (a) and (b).

Scores (binary relevance: a hit is relevant when its file is the section's and its lines overlap the section's;
each section counts once): nDCG@10 (ideal: min(#sections, 10) hits), R@10, MRR@10. Writes
``bench/results/external.json`` and ``.md`` (``--quick`` and ``--float`` runs: in ``bench/.cache/external/results/``),
with the reindex and encode times, package versions, machine, and the Traditional / Simplified twin comparison.

``--quick N``: N queries per set (seeded sample), for debugging. ``--reuse``: keep an index already built (its
reindex is then not timed) and the plain vectors cached by an earlier run. ``--float``: semsearch embeds passages
with the float graph (``SEMSEARCH_INT8=0``) instead of the graph it picks for this CPU.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import re
import sqlite3
import sys
import time

import numpy as np

import benchlib as B

EXTERNAL = B.BENCH / "external"
CACHE = B.CACHE / "external"
MODEL_DIR = B.REPO / "models" / "multilingual-e5-small"
K = 10
POOL = 100  # candidates each plain ranking gives the fusion
RRF_K = 60
SYSTEMS = ["dense", "keyword", "hybrid", "plain-dense", "plain-bm25", "plain-rrf"]
_HAN_RUN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+|[A-Za-z0-9]+")


# ---------------------------------------------------------------- scoring

def parse_relevant(spec: str) -> tuple[str, int, int]:
    path, lines = spec.rsplit(":", 1)
    first, last = lines.split("-")
    return path, int(first), int(last)


def score(hits: list[tuple[str, int, int]], relevant: list[tuple[str, int, int]]) -> dict:
    """nDCG@10, R@10, MRR@10 and the first relevant rank of one ranking (hits: path, first line, last line)."""
    credited, dcg, first = set(), 0.0, None
    for rank, (path, a, b) in enumerate(hits[:K], start=1):
        for j, (rpath, ra, rb) in enumerate(relevant):
            if j not in credited and path == rpath and a <= rb and b >= ra:
                credited.add(j)
                dcg += 1 / math.log2(rank + 1)
                first = first or rank
                break
    ideal = sum(1 / math.log2(i + 1) for i in range(1, min(len(relevant), K) + 1))
    return {"ndcg": dcg / ideal, "recall": len(credited) / len(relevant), "mrr": 1 / first if first else 0.0,
            "rank": first}


# ---------------------------------------------------------------- plain baselines

def bm25_terms(text: str) -> list[str]:
    """Character bigrams of each Han run (the character itself for a run of one) and lower-cased ASCII words."""
    out = []
    for run in _HAN_RUN.findall(text):
        if run.isascii():
            out.append(run.lower())
        else:
            out += [run[i:i + 2] for i in range(len(run) - 1)] or [run]
    return out


class PlainBM25:
    def __init__(self, texts: list[str]):
        self.db = sqlite3.connect(":memory:")
        self.db.execute("CREATE VIRTUAL TABLE p USING fts5(t, tokenize='unicode61')")
        self.db.executemany("INSERT INTO p(rowid, t) VALUES (?, ?)",
                            ((i, " ".join(bm25_terms(t))) for i, t in enumerate(texts)))

    def search(self, query: str, n: int) -> list[int]:
        terms = dict.fromkeys(bm25_terms(query))
        if not terms:
            return []
        match = " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
        return [r[0] for r in self.db.execute("SELECT rowid FROM p WHERE p MATCH ? ORDER BY bm25(p) LIMIT ?",
                                              (match, n))]


def rrf(rankings: list[list[int]], k: int = RRF_K) -> list[int]:
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, i in enumerate(ranking, start=1):
            fused[i] = fused.get(i, 0.0) + 1 / (k + rank)
    return sorted(fused, key=lambda i: -fused[i])


class PlainDense:
    """sentence-transformers + FAISS IndexFlatIP, as a plain script would do it."""

    def __init__(self):
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(MODEL_DIR), device="cpu")
        self.model.encode(["passage: warm-up"])

    def index(self, texts: list[str], reuse: bool) -> tuple[object, tuple[float, float] | None]:
        """The flat index of ``texts``, and (wall, CPU) seconds of encoding them (None when cached)."""
        import faiss

        digest = hashlib.sha256("\n\0".join(texts).encode()).hexdigest()[:16]
        cached = CACHE / "plain-vectors" / f"{digest}.npy"
        seconds = None
        if reuse and cached.is_file():
            vectors = np.load(cached)
        else:
            t, cpu = time.perf_counter(), time.process_time()
            vectors = self.model.encode(["passage: " + x for x in texts], batch_size=32, normalize_embeddings=True,
                                        convert_to_numpy=True).astype(np.float32)
            seconds = (time.perf_counter() - t, time.process_time() - cpu)
            cached.parent.mkdir(parents=True, exist_ok=True)
            np.save(cached, vectors)
        flat = faiss.IndexFlatIP(vectors.shape[1])
        flat.add(vectors)
        return flat, seconds

    def query(self, text: str) -> np.ndarray:
        return self.model.encode(["query: " + text], normalize_embeddings=True, convert_to_numpy=True)


# ---------------------------------------------------------------- running

def load_set(name: str) -> list[dict]:
    return [json.loads(line) for line in (EXTERNAL / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
            if line.strip()]


def mean_ndcg(idx, queries: list[dict], mode: str = "hybrid") -> float:
    """Mean nDCG@10 of ``Index.search`` over a query set."""
    total = 0.0
    for q in queries:
        found = [(h.source.path, h.source.line_start, h.source.line_end) for h in idx.search(q["q"], k=K, mode=mode)]
        total += score(found, [parse_relevant(s) for s in q["relevant"]])["ndcg"]
    return total / len(queries)


def semsearch_encoder():
    """semsearch's encoder for every index of the run, warmed up (the plain model is too)."""
    from semsearch import DEFAULTS
    from semsearch.encoders.factory import load_encoder

    encoder = load_encoder(None, DEFAULTS)
    encoder.encode_passages(["预热"])
    encoder.encode_query("预热")
    return encoder


def build_corpus_index(corpus: str, reuse: bool, encoder):
    from semsearch import DEFAULTS, Index

    folder = CACHE / "corpora" / corpus
    idx = Index.open(CACHE / "index" / corpus, embedder=encoder, settings=DEFAULTS)
    seconds, report = None, None
    if not (reuse and idx.exists()):
        t, cpu = time.perf_counter(), time.process_time()
        report = idx.reindex([folder], rebuild=True)
        seconds = (time.perf_counter() - t, time.process_time() - cpu)
    gen = idx._generation()
    ids = [r[0] for r in gen.db.execute("SELECT id FROM chunks ORDER BY id")]
    rows = gen.chunks(ids)
    return idx, [rows[i] for i in ids], seconds, report


def run_corpus(corpus: str, sets: list[str], args, plain: PlainDense, encoder) -> tuple[dict, dict]:
    import faiss
    from semsearch.text.normalize import fold_text

    load0 = B.load()
    idx, rows, reindex_s, report = build_corpus_index(corpus, args.reuse, encoder)
    cleaned = [fold_text(r.text) for r in rows]
    flat, encode_s = plain.index(cleaned, args.reuse)
    bm25 = PlainBM25(cleaned)
    where = [(r.path, r.line_start, r.line_end) for r in rows]
    info = {"chunks": len(rows), "documents": len({r.path for r in rows}),
            "chars": sum(len(r.text) for r in rows),
            "semsearch_reindex_s": round(reindex_s[0], 1) if reindex_s else None,
            "plain_encode_s": round(encode_s[0], 1) if encode_s else None,
            "ratio_reindex_to_plain_encode": B.ratio(reindex_s[0], encode_s[0]) if reindex_s and encode_s else None,
            # CPU seconds of this process (every thread): what another job on the machine changes least.
            "semsearch_reindex_cpu_s": round(reindex_s[1], 1) if reindex_s else None,
            "plain_encode_cpu_s": round(encode_s[1], 1) if encode_s else None,
            "ratio_cpu": B.ratio(reindex_s[1], encode_s[1]) if reindex_s and encode_s else None,
            "reindex_report": report, "load_before": load0, "load_after": B.load()}
    print(f"{corpus}: {len(rows):,} chunks; semsearch reindex {info['semsearch_reindex_s']} s, plain encode "
          f"{info['plain_encode_s']} s", file=sys.stderr)
    out = {}
    for name in sets:
        queries = load_set(name)
        if args.quick:
            queries = random.Random(f"external-quick:{name}").sample(queries, min(args.quick, len(queries)))
        per_query, seconds = [], dict.fromkeys(SYSTEMS, 0.0)
        for q in queries:
            relevant = [parse_relevant(s) for s in q["relevant"]]
            rankings = {}
            for mode in ("dense", "keyword", "hybrid"):
                t = time.perf_counter()
                hits = idx.search(q["q"], k=K, mode=mode)
                seconds[mode] += time.perf_counter() - t
                rankings[mode] = [(h.source.path, h.source.line_start, h.source.line_end) for h in hits]
            t = time.perf_counter()
            _, found = flat.search(plain.query(fold_text(q["q"])), POOL)
            dense_ids = [int(i) for i in found[0] if i >= 0]
            seconds["plain-dense"] += time.perf_counter() - t
            t = time.perf_counter()
            bm25_ids = bm25.search(fold_text(q["q"]), POOL)
            seconds["plain-bm25"] += time.perf_counter() - t
            t = time.perf_counter()
            rrf_ids = rrf([dense_ids, bm25_ids])
            seconds["plain-rrf"] += time.perf_counter() - t  # the fusion alone
            for system, ids in (("plain-dense", dense_ids), ("plain-bm25", bm25_ids), ("plain-rrf", rrf_ids)):
                rankings[system] = [where[i] for i in ids[:K]]
            scores = {s: score(rankings[s], relevant) for s in SYSTEMS}
            per_query.append({"id": q["id"], **{s: scores[s] for s in SYSTEMS}})
        n = len(per_query)
        out[name] = {
            "n": n, "corpus": corpus,
            "systems": {s: {m: round(sum(p[s][m] for p in per_query) / max(1, n), 4) for m in ("ndcg", "recall", "mrr")}
                        for s in SYSTEMS},
            "ms_per_query": {s: round(1000 * seconds[s] / max(1, n), 2) for s in SYSTEMS},
            "ranks": {p["id"]: [p[s]["rank"] for s in SYSTEMS] for p in per_query}}
        line = "  ".join(f"{s} {out[name]['systems'][s]['ndcg']:.3f}" for s in SYSTEMS)
        print(f"  {name} (n={n}) nDCG@10: {line}", file=sys.stderr)
    idx.close()
    return info, out


def twin_comparison(sets: dict, traditional: str = "tw") -> list[dict]:
    """nDCG@10 of the Simplified, Traditional and Traditional-over-Simplified sets on the sections all three have
    (``traditional``: "tw", the packages' own Traditional translation, or "s2twp", the Simplified converted)."""
    out = []
    for twin in sorted({name.split("-")[0] for name in sets}):
        names = [f"{twin}-cn", f"{twin}-{traditional}", f"{twin}-{traditional}-cn"]
        if not all(n in sets for n in names):
            continue
        common = set.intersection(*(set(sets[n]["ranks"]) for n in names))
        row = {"twin": twin, "sections": len(common), "ndcg": {}}
        for n in names:
            row["ndcg"][n] = {s: round(sum(1 / math.log2(r + 1) if (r := sets[n]["ranks"][i][j]) else 0.0
                                           for i in common) / max(1, len(common)), 4)
                              for j, s in enumerate(SYSTEMS)}
        out.append(row)
    return out


def markdown(result: dict) -> list[str]:
    man, sets = result["manifest"], result["sets"]
    md = ["# External benchmarks: headings of Chinese documentation shipped by Debian (bench/external.py)", "",
          B._run_line(result), "",
          "Queries are real section and page titles written by the documents' authors; the relevant passage is the "
          "section the title heads, and the title itself is removed from the indexed copy (bench/external/README.md). "
          "semsearch as shipped (dense / keyword / hybrid) against plain baselines over the same chunks: "
          "sentence-transformers + FAISS IndexFlatIP (plain-dense), SQLite FTS5 BM25 over character bigrams "
          "(plain-bm25), and their reciprocal-rank fusion, k = 60 (plain-rrf). Binary relevance, each section "
          "counted once." + (" **--quick run: a sample of each set.**" if result["quick"] else ""), "",
          "Packages (Debian " + result["packages_source"] + "): " + ", ".join(
              f"{p['name']} {p['version']}" for p in result["packages"]) + ". LibreOffice help: a seeded random "
          f"sample of {man['lohelp_sample']['pages']} of its {man['lohelp_sample']['of']:,} pages under text/ "
          f"(seed {man['lohelp_sample']['seed']}, the same pages in both languages), each page whole.", "",
          "## nDCG@10", "", "| set | queries | text | " + " | ".join(SYSTEMS) + " |",
          "|---|---|---|" + "---|" * len(SYSTEMS)]
    for name, s in sets.items():
        best = max(s["systems"][x]["ndcg"] for x in SYSTEMS)
        cells = [(f"**{s['systems'][x]['ndcg']:.3f}**" if s["systems"][x]["ndcg"] == best
                  else f"{s['systems'][x]['ndcg']:.3f}") for x in SYSTEMS]
        md.append(f"| {name} | {s['n']:,} | {man['sets'][name]['script']} over {man['sets'][name]['text']} | "
                  + " | ".join(cells) + " |")
    md += ["", "## Every figure: nDCG@10 / R@10 / MRR@10", "",
           "| set | " + " | ".join(SYSTEMS) + " |", "|---|" + "---|" * len(SYSTEMS)]
    for name, s in sets.items():
        md.append(f"| {name} | " + " | ".join(
            f"{s['systems'][x]['ndcg']:.3f} / {s['systems'][x]['recall']:.3f} / {s['systems'][x]['mrr']:.3f}"
            for x in SYSTEMS) + " |")
    md += ["", "Mean milliseconds per query (warm, in process):", "",
           "| set | " + " | ".join(SYSTEMS) + " |", "|---|" + "---|" * len(SYSTEMS)]
    for name, s in sets.items():
        md.append(f"| {name} | " + " | ".join(f"{s['ms_per_query'][x]:.1f}" for x in SYSTEMS) + " |")
    md += ["", "(plain-dense: the sentence-transformers query encode and the FAISS search; plain-rrf: the fusion alone, "
           "it needs both plain rankings. A mean is inflated by whatever else the shared machine ran at the time.)", "",
           "## Indexing: semsearch reindex vs the plain encode", "",
           "| corpus | package | pages | chunks | characters | semsearch reindex (s) | plain encode (s) | ratio "
           "| reindex CPU s | encode CPU s | CPU ratio "
           "| load before / after (1 min) |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, c in result["corpora"].items():
        mc = man["corpora"][name]
        md.append(f"| {name} | {mc['package']} {mc['version']} | {c['documents']:,} | {c['chunks']:,} | "
                  f"{c['chars']:,} | {B._f(c['semsearch_reindex_s'])} | {B._f(c['plain_encode_s'])} | "
                  f"{B._f(c['ratio_reindex_to_plain_encode'], 2)} | {B._f(c.get('semsearch_reindex_cpu_s'))} | "
                  f"{B._f(c.get('plain_encode_cpu_s'))} | {B._f(c.get('ratio_cpu'), 2)} | "
                  f"{c['load_before'][0]} / {c['load_after'][0]} |")
    md += ["", "semsearch's reindex reads and chunks the HTML, embeds every chunk (with its document's title) and its "
           "sentence windows, and writes SQLite, FTS5 and FAISS; the plain figure is `SentenceTransformer.encode` "
           "of the same chunks' cleaned text alone (batch 32). Both models are loaded and warmed up before. The "
           "machine is shared: the load average beside each corpus says how much else ran.", ""]
    if result["twins"]:
        md += ["## Traditional vs Simplified on the same sections (nDCG@10)", "",
               "X-cn: Simplified titles over Simplified text; X-tw: Traditional over Traditional; X-tw-cn: the "
               "Traditional titles over the Simplified text. Only sections kept in all three sets.", "",
               "| twin | sections | set | " + " | ".join(SYSTEMS) + " |", "|---|---|---|" + "---|" * len(SYSTEMS)]
        for row in result["twins"]:
            for n, v in row["ndcg"].items():
                md.append(f"| {row['twin']} | {row['sections']} | {n} | " + " | ".join(f"{v[x]:.3f}" for x in SYSTEMS)
                          + " |")
        md.append("")
    if result.get("controlled"):
        md += ["## The same text in both scripts: the Simplified corpus converted by OpenCC s2twp (nDCG@10)", "",
               "X-s2twp: the Simplified titles and corpus converted to Taiwan Traditional (characters and Taiwan "
               "phrases); X-s2twp-cn: those titles over the Simplified corpus. No translation differs, so what "
               "separates these from X-cn is how each system handles the script and the regional words.", "",
               "| twin | sections | set | " + " | ".join(SYSTEMS) + " |", "|---|---|---|" + "---|" * len(SYSTEMS)]
        for row in result["controlled"]:
            for n, v in row["ndcg"].items():
                md.append(f"| {row['twin']} | {row['sections']} | {n} | " + " | ".join(f"{v[x]:.3f}" for x in SYSTEMS)
                          + " |")
        md.append("")
    md += ["Run: `.venv/bin/python bench/external_build.py` (once), then `.venv/bin/python bench/external.py`.", ""]
    return md


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sets", nargs="+", help="set names (default: every set of bench/external/manifest.json)")
    ap.add_argument("--quick", type=int, metavar="N", help="N queries per set (seeded sample)")
    ap.add_argument("--reuse", action="store_true", help="reuse indexes and plain vectors built earlier")
    ap.add_argument("--float", dest="float_graph", action="store_true", help="semsearch passages on the float graph")
    args = ap.parse_args(argv)
    if args.float_graph:
        os.environ["SEMSEARCH_INT8"] = "0"
    manifest_path = EXTERNAL / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.is_file() else None
    if manifest is None or any(not (CACHE / "corpora" / c).is_dir() for c in manifest["corpora"]):
        import external_build

        external_build.main([])
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    names = args.sets or list(manifest["sets"])
    unknown = [n for n in names if n not in manifest["sets"]]
    if unknown:
        ap.error(f"unknown sets {unknown}; known: {', '.join(manifest['sets'])}")
    packages = json.loads((EXTERNAL / "packages.json").read_text(encoding="utf-8"))
    result = {**B.header(bool(args.quick)), "passage_graph": "float (--float)" if args.float_graph else "as shipped",
              "packages_source": packages["source"].removeprefix("Debian "), "packages": packages["packages"],
              "manifest": manifest, "corpora": {}, "sets": {}}
    plain, encoder = PlainDense(), semsearch_encoder()
    by_corpus: dict[str, list[str]] = {}
    for n in names:
        by_corpus.setdefault(manifest["sets"][n]["corpus"], []).append(n)
    for corpus, sets in by_corpus.items():
        info, out = run_corpus(corpus, sets, args, plain, encoder)
        result["corpora"][corpus] = info
        result["sets"].update(out)
    result["sets"] = {n: result["sets"][n] for n in names}
    result["twins"] = twin_comparison(result["sets"])
    result["controlled"] = twin_comparison(result["sets"], "s2twp")
    result["load_end"] = B.load()
    # The full run goes to bench/results/; --quick and --float runs (diagnostics) to the cache. Written here rather
    # than with B.write_result, which also regenerates bench/RESULTS.md.
    folder = CACHE / "results" if args.quick or args.float_graph else B.RESULTS
    name = "external" + ("-quick" if args.quick else "") + ("-float" if args.float_graph else "")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    md = markdown(result)
    (folder / f"{name}.md").write_text("\n".join(md), encoding="utf-8")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
