"""Shared helpers of the benchmarks: ``import benchlib as B`` from a script in bench/ (run with the project's venv,
where semsearch is installed; Python puts the script's folder on sys.path).

Paths, machine facts, load, memory, percentiles, the question sets and the speed benchmarks' query set,
results (JSON and Markdown), and bench/RESULTS.md (rebuilt from every bench/results/*.json by
``write_results_md``; ``python bench/benchlib.py`` rebuilds it alone).
"""

from __future__ import annotations

import json
import os
import platform
import random
import re
import resource
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results"
CACHE = Path(os.environ.get("SEMSEARCH_BENCH_CACHE", BENCH / ".cache"))
PYTHON = REPO / ".venv" / "bin" / "python"
QUESTIONS = BENCH / "questions"
QUESTION_SETS = {name: QUESTIONS / f"{file}.jsonl" for name, file in (
    ("dev", "dev_questions"), ("seeds", "seeds_questions"),
    # Written from the articles alone, by someone who saw neither the code nor the other sets.
    ("english", "english_heldout"),
    # Reworded Chinese questions, written the same way (no run of 4+ characters shared with the text).
    ("reworded", "reworded_heldout"),
    # Off-topic English questions: each should get "no answer".
    ("offtopic-en", "offtopic_english"),
    # Chinese questions over English text (bench/corpora/english): ours, which the cross-lingual rules were tuned
    # on, and a held-out set written with the documents by someone who saw neither the code nor ours.
    ("zh-over-en", "chinese_over_english"), ("zh-over-en-heldout", "chinese_over_english_heldout"),
    # English questions over the same English text: ours (the English "no answer" rules were tuned on it) and a
    # held-out set written the same way.
    ("en-over-en", "english_over_english"), ("en-over-en-heldout", "english_over_english_heldout"))}
CORPORA = {"seeds": REPO / "seeds", "english": BENCH / "corpora" / "english"}
# The corpus each set asks about, when it is not the seeds.
CORPUS_OF = dict.fromkeys(["zh-over-en", "zh-over-en-heldout", "en-over-en", "en-over-en-heldout"], "english")


# ---------------------------------------------------------------- machine, load, memory

def machine() -> dict:
    cpu = "?"
    # The host behind "AMD EPYC" changes between sessions, and int8 matrix products are fast only where the CPU
    # has int8 dot-product instructions (VNNI): the family/model and that flag say which host a figure came from.
    from semsearch.encoders.onnx import INT8_DOT_PRODUCT_FLAGS, cpu_flags

    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key in ("model name", "cpu family", "model") and key not in fields:
                fields[key] = value.strip()
            if key in ("flags", "Features"):
                break
    except OSError:
        pass
    cpu = fields.get("model name", cpu)
    flags = cpu_flags()
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    import numpy

    info = {"nproc": os.cpu_count(), "cpu": cpu, "cpu_family_model": f"{fields.get('cpu family', '?')}/{fields.get('model', '?')}",
            "int8_dot_product": sorted(flags & INT8_DOT_PRODUCT_FLAGS) or None,
            "avx512": "avx512f" in flags, "ram_gib": round(mem_kb / 1024 ** 2, 1),
            "python": platform.python_version(), "numpy": numpy.__version__, "platform": platform.platform()}
    try:
        import faiss

        info["faiss"] = faiss.__version__
    except ImportError:
        pass
    return info


def load() -> list[float]:
    """1, 5 and 15-minute load averages (what `uptime` prints)."""
    return [round(x, 2) for x in os.getloadavg()]


def uptime_line() -> str:
    import subprocess

    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "load average: " + ", ".join(f"{x:.2f}" for x in load())


def proc_status(pid: int | str = "self") -> dict[str, int]:
    """VmRSS / VmHWM / VmSize of a process, in MiB."""
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key = line.split(":", 1)[0]
            if key in ("VmRSS", "VmHWM", "VmSize"):
                out[key] = round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return out


def reset_peak_rss() -> bool:
    """Reset this process's VmHWM to its current RSS (Linux: write 5 to /proc/self/clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def maxrss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


# ---------------------------------------------------------------- statistics

def pct(values, q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(values, dtype=float), q)) if len(values) else float("nan")


def summary_ms(seconds: list[float]) -> dict:
    """p50/p95/p99/mean/min/max in milliseconds of a list of durations in seconds."""
    ms = [s * 1000 for s in seconds]
    return {"n": len(ms), "p50": round(pct(ms, 50), 3), "p95": round(pct(ms, 95), 3), "p99": round(pct(ms, 99), 3),
            "mean": round(sum(ms) / len(ms), 3) if ms else None, "min": round(min(ms), 3) if ms else None,
            "max": round(max(ms), 3) if ms else None}


def ratio(a: float, b: float, nd: int = 2) -> float | None:
    return round(a / b, nd) if b else None


# ---------------------------------------------------------------- queries

_CLAUSE = re.compile(r"[^。！？；，、：\n!?;,:]+")


def load_questions(name: str) -> list[dict]:
    """The questions of ``QUESTION_SETS[name]``, one dict each ({"id", "q", "gold", ...})."""
    lines = QUESTION_SETS[name].read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def phrase_of(text: str, rng: random.Random, lo: int = 6, hi: int = 40) -> str:
    """A clause of a real passage (between punctuation marks), 6-40 characters when there is one."""
    clauses = [c.strip() for c in _CLAUSE.findall(text)]
    good = [c for c in clauses if lo <= len(c) <= hi]
    if good:
        return rng.choice(good)
    longest = max(clauses, key=len) if clauses else text
    return longest[:hi]


def query_set(held_out: list[str], seed: int = 0) -> list[dict]:
    """The benchmark questions: every seed question, then one clause of each held-out passage."""
    rng = random.Random(f"semsearch-bench-queries:{seed}")
    out = [{"kind": "seed-question", "q": q["q"]} for q in load_questions("seeds")]
    out += [{"kind": "held-out-phrase", "q": phrase_of(t, rng)} for t in held_out]
    return out


# ---------------------------------------------------------------- results

def one_query_times(index, queries, k: int = 50) -> list[float]:
    """Seconds for each row of ``queries`` searched alone in a FAISS ``index``."""
    times = []
    for i in range(len(queries)):
        t = time.perf_counter()
        index.search(queries[i:i + 1], k)
        times.append(time.perf_counter() - t)
    return times


def recall_at(found, exact, k: int) -> float:
    """Mean share of each row's exact top ``k`` ids that ``found``'s top ``k`` holds."""
    return round(sum(len(set(a[:k]) & set(b[:k])) / k for a, b in zip(found, exact)) / max(1, len(exact)), 4)


def write_result(name: str, data: dict, markdown: list[str] | None = None, folder: Path = RESULTS) -> Path:
    """``folder/name.json`` (and ``name.md`` from ``markdown`` lines); bench/RESULTS.md follows bench/results/."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    if markdown is not None:
        (folder / f"{name}.md").write_text("\n".join(markdown).rstrip("\n") + "\n", encoding="utf-8")
    if folder.resolve() == RESULTS.resolve():
        write_results_md()
    return path


def code_state() -> dict:
    """Fingerprint of the semsearch sources measured (the tree changes while benchmarks run)."""
    import hashlib

    package = REPO / "semsearch"
    files = sorted(package.rglob("*.py"))
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.relative_to(package).as_posix().encode() + b"\0" + f.read_bytes())
    newest = max(files, key=lambda f: f.stat().st_mtime)
    return {"semsearch_sha256": digest.hexdigest()[:16], "newest_file": newest.relative_to(package).as_posix(),
            "newest_mtime": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(newest.stat().st_mtime))}


def header(quick: bool) -> dict:
    return {"date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "quick": quick, "machine": machine(),
            "code": code_state(), "uptime_start": uptime_line(), "load_start": load()}


def scale_index_and_queries(bench: str) -> tuple[Path, list[str]] | None:
    """The 100k-chunk index and the 280 queries bench/scale.py leaves in its cache; None (said on stderr) before it ran."""
    index = CACHE / "scale" / "index-100000"
    query_files = sorted((CACHE / "scale").glob("queries-10000-*.json"))
    if not index.is_dir() or not query_files:
        print(f"{bench}: run bench/scale.py first (it builds the 100k index and the query set)", file=sys.stderr)
        return None
    return index, [q["q"] for q in json.loads(query_files[0].read_text(encoding="utf-8"))]


def _read(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return None


def _pf(ok: bool | None) -> str:
    return "n/a" if ok is None else ("**PASS**" if ok else "**FAIL**")


def _f(x, nd: int = 1, unit: str = "") -> str:
    if x is None:
        return "—"
    if isinstance(x, float):
        return f"{x:,.{nd}f}{unit}"
    if isinstance(x, int):
        return f"{x:,}{unit}"
    return f"{x}{unit}"


def _run_line(r: dict) -> str:
    m = r["machine"]
    host = ""
    if "cpu_family_model" in m:  # recorded since 2026-11-27 13:55; earlier runs name the CPU only
        host = (f" (family/model {m['cpu_family_model']}; int8 dot product: "
                f"{', '.join(m['int8_dot_product']) if m.get('int8_dot_product') else 'none'})")
    return (f"Run {r['date']}{' (--quick)' if r.get('quick') else ''}; {m['nproc']} cores, {m['cpu']}{host}, "
            f"{m['ram_gib']} GiB RAM; load average (1/5/15 min) at start {', '.join(map(str, r['load_start']))}"
            f", at end {', '.join(map(str, r.get('load_end', ['?'])))}. semsearch sources "
            f"{r.get('code', {}).get('semsearch_sha256', '?')} (newest {r.get('code', {}).get('newest_file', '?')} "
            f"{r.get('code', {}).get('newest_mtime', '')}).")


def _scale_md(r: dict) -> list[str]:
    out = ["## Scale: in-process hybrid search at 10k / 100k / 1M chunks (bench/scale.py)", "", _run_line(r), ""]
    s = r.get("real_sample", {})
    if s:
        out += [f"Real embeddings: {s['n']:,} passages embedded with `Embedder.encode_passages` in "
                f"{s['seconds']:.1f} s = **{s['chunks_per_s']:.1f} chunks/s** ({s['tokens_per_s']:.0f} tokens/s, "
                f"mean {s['mean_tokens']:.0f} tokens/passage; load at the time {s.get('load')}).", ""]
    sizes = r.get("sizes", [])
    if not sizes:
        return out + ["(no sizes measured)", ""]
    cols = [f"{x['n']:,}" for x in sizes]
    out += ["| figure | target | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(sizes)]

    def row(label, target, fn):
        vals = []
        for x in sizes:
            try:
                vals.append(fn(x))
            except (KeyError, TypeError):
                vals.append("—")
        out.append(f"| {label} | {target} | " + " | ".join(vals) + " |")

    row("chunks real / derived", "", lambda x: f"{x['build']['real_vectors']:,} / {x['build']['derived_vectors']:,}")
    row("FAISS index chosen", "", lambda x: x["build"]["faiss_type"])
    row("sentence-window vectors (derived; windows ≤ N chars)", "",
        lambda x: f"{x['build']['window_vectors']:,} (N = {x['build']['window_chars']})")
    row("build time (s)", "1M ≤ ~1800", lambda x: _f(x["build"]["seconds"]["total"]))
    row("— rows into SQLite (fold, hash, insert)", "", lambda x: _f(x["build"]["seconds"]["rows"]))
    row("— vectors derived + stored", "", lambda x: _f(x["build"]["seconds"]["vectors"]))
    row("— FTS terms (rjieba etc.) + insert", "", lambda x: f"{_f(x['build']['seconds']['fts'])} "
        f"({_f(x['build']['fts_terms_per_s'], 0)} chunks/s)")
    row("— FAISS build (add + write)", "", lambda x: _f(x["build"]["seconds"]["faiss_build"]))
    row("— commit: FTS terms + insert, FAISS build, fsync (runs since 2026-12-04: not split)", "",
        lambda x: _f(x["build"]["seconds"]["commit"]))
    row("— reading vectors back from SQLite", "", lambda x: _f(x["build"]["seconds"]["faiss_read_blocks"]))
    row("build peak RSS (MiB)", "", lambda x: f"{_f(x['build']['peak_rss_writer_mib'], 0)} "
        f"(bench data before writer {_f(x['build']['rss_before_writer_mib'], 0)})")
    row("index on disk (MiB): total", "", lambda x: _f(x["build"]["disk_mib"]["total"]))
    row("— SQLite / FAISS", "", lambda x: f"{_f(x['build']['disk_mib']['sqlite'])} / {_f(x['build']['disk_mib']['faiss'])}")
    for part, label in (("query", "as shipped (default BLAS/OpenMP threads)"),
                        ("query_1thread", "one thread (OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=1)")):
        out.append(f"| ***queries, {label}*** | | " + " | ".join("" for _ in sizes) + " |")
        row("queries timed (phase 1 / interleaved)", "≥ 200",
            lambda x, p=part: f"{x[p]['timed_phase1']} / {x[p]['hybrid_ms']['n']}")
        row("**hybrid p50 (ms)**, warm, in-process `Index.search`", "≤ 20 @100k, ≤ 30 @1M",
            lambda x, p=part: f"**{_f(x[p]['hybrid_ms']['p50'], 2)}** "
            f"{_pf(x[p].get('target_p50_ok')) if x[p].get('target_p50_ms') else ''}")
        row("hybrid p95 (ms)", "", lambda x, p=part: _f(x[p]["hybrid_ms"]["p95"], 2))
        row("hybrid CPU time of the calling thread, p50 (p95) ms", "",
            lambda x, p=part: f"{_f(x[p]['stages_ms']['cpu_total']['p50'], 2)} ({_f(x[p]['stages_ms']['cpu_total']['p95'], 2)})")
        row("plain baseline p50 / p95 (ms): the same query encoder + IndexFlatIP", "",
            lambda x, p=part: f"{_f(x[p]['plain_ms']['p50'], 2)} / {_f(x[p]['plain_ms']['p95'], 2)}")
        row("**ratio hybrid / plain**, p50 (p95)", "",
            lambda x, p=part: f"**{_f(x[p]['ratio_p50'], 2)}** ({_f(x[p]['ratio_p95'], 2)})")
        for stage, slabel in (("encode", "stage: query encode (ONNX Runtime, 1 thread)"), ("dense", "stage: FAISS search (50)"),
                              ("windows", "stage: window vectors of the 50 (SQLite; the dot products are in rest)"),
                              ("translate", "stage: English words' translations (CC-CEDICT + document counts; median over all queries)"),
                              ("keyword_terms", "stage: query terms (rjieba + bigrams)"),
                              ("keyword_fts", "stage: FTS5 BM25 query (50)"),
                              ("rows", "stage: chunk rows (SQLite)"),
                              ("rest", "stage: rest = call minus the stages timed above (checks, folding, fusion, de-dup; since 2026-12-04 only encode and FAISS are timed; negative by the time the keyword lookup, on a second thread, overlapped the encoding)")):
            row(slabel + ", p50 (p95) ms", "", lambda x, s_=stage, p=part: "—" if s_ not in x[p]["stages_ms"] else
                f"{_f(x[p]['stages_ms'][s_]['p50'], 2)} ({_f(x[p]['stages_ms'][s_]['p95'], 2)})")
        row("queries with English words: how many; their translation stage p50 (p95) ms; their hybrid p50 (p95) ms", "",
            lambda x, p=part: "—" if "english_queries" not in x[p] else
            f"{x[p]['english_queries']['n']}; {_f(x[p]['english_queries']['translate_ms']['p50'], 2)} "
            f"({_f(x[p]['english_queries']['translate_ms']['p95'], 2)}); {_f(x[p]['english_queries']['hybrid_ms']['p50'], 2)} "
            f"({_f(x[p]['english_queries']['hybrid_ms']['p95'], 2)})")
        row("load average during run (1/5/15)", "", lambda x, p=part: ", ".join(map(str, x[p]["load"])))
    out.append("| ***index quality and memory*** | | " + " | ".join("" for _ in sizes) + " |")
    row("FAISS alone p50 (ms), k=50: semsearch's index / exact flat (1 thread)", "",
        lambda x: f"{_f(x['query_1thread']['faiss_only_ms']['chosen_p50'], 3)} / "
        f"{_f(x['query_1thread']['faiss_only_ms']['flat_p50'], 3)}")
    row("**recall@10** (semsearch's index vs exact flat)", "≥ 0.95",
        lambda x: f"**{_f(x['query_1thread']['recall@10'], 4)}** {_pf(x['query_1thread']['recall@10'] >= 0.95)}")
    row("recall@50 (the candidate pool)", "", lambda x: _f(x["query_1thread"]["recall@50"], 4))
    row("hybrid top-5 overlap with exact-dense hybrid", "", lambda x: _f(x["query_1thread"]["hybrid_top5_agreement"], 4))
    row("real vectors among exact top-10", "", lambda x: _f(x["query_1thread"]["exact_top10_real_vector_share"], 3))
    row("RSS (MiB): index open + queries run (before opening)", "",
        lambda x: f"{_f(x['query']['rss_mib']['after_queries'], 0)} ({_f(x['query']['rss_mib']['before_open'], 0)})")
    row("open index + first query (s)", "", lambda x: f"{_f(x['query']['open_s'], 2)} + {_f(x['query']['first_query_s'], 2)}")
    out.append("")
    wi = [(x["n"], x["query_1thread"]["what_if"]) for x in sizes if "what_if" in x.get("query_1thread", {})]
    if wi:
        out += ["What-ifs (measured in the one-thread query process; semsearch unchanged, bench-side wrappers only):", "",
                "| size | variant | hybrid p50 / p95 ms (shipped in same pass) | stage p50 ms | recall@10 | hybrid top-5 same as shipped |",
                "|---|---|---|---|---|---|"]
        for n, w in wi:
            sh = w.get("shipped_hybrid_ms", {})
            h = w.get("ivf_instead_of_flat")
            if h:
                out.append(f"| {n:,} | {h['params']} instead of IndexFlatIP; build {h['build_s']} s | "
                           f"— ({_f(sh.get('p50'), 1)} / {_f(sh.get('p95'), 1)}) | FAISS {h['search_ms']['p50']:.2f} "
                           f"| {h['recall@10']:.4f} | {h['hybrid_top5_agreement_with_shipped']:.3f} |")
            for key, v in w.items():
                if key == "keyword_rare_terms_first":
                    out.append(f"| {n:,} | keyword lookup as shipped (rows with a rarer term scored first) against the "
                               f"whole query's bm25() on every matching row | — | FTS {v['fts_ms']['p50']:.2f} "
                               f"(whole query {v['whole_query_fts_ms']['p50']:.2f}); p95 {v['fts_ms']['p95']:.2f} "
                               f"({v['whole_query_fts_ms']['p95']:.2f}) | — | top 50 the same: "
                               f"{v['top50_same_as_whole_query']:.3f} |")
                elif key.startswith("keyword_terms_df_le_"):
                    out.append(f"| {n:,} | keyword query keeps terms in ≤ {key.rsplit('_', 1)[1]} of chunks "
                               f"(df ≤ {v['max_df']:,}; {v['terms_kept_share']:.0%} of terms kept) | "
                               f"{v['hybrid_ms']['p50']:.1f} / {v['hybrid_ms']['p95']:.1f} ({_f(sh.get('p50'), 1)} / "
                               f"{_f(sh.get('p95'), 1)}) | FTS {v['fts_ms']['p50']:.2f} (shipped query "
                               f"{v['fts_ms_shipped_query']['p50']:.2f}) + df lookup {v['df_lookup_ms']['p50']:.2f} | — | "
                               f"{v['hybrid_top5_agreement_with_shipped']:.3f} |")
        out.append("")
    if r.get("notes"):
        out += [f"- {n}" for n in r["notes"]] + [""]
    return out


def _http_md(r: dict) -> list[str]:
    out = ["## HTTP latency: `semsearch serve` on the 100k index (bench/latency_http.py)", "", _run_line(r), "",
           f"Index: {r['index']} ({_f(r.get('chunks'))} chunks); {r.get('requests_per_run', '?'):,} requests per run.", "",
           "| server | run | requests | errors | p50 ms | p95 ms | p99 ms | req/s | /health p50 ms (same conc.) "
           "| ratio search / health p50 | server CPU ms / request | mean-latency floor ms | target | result |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for srv in r.get("servers", []):
        if "error" in srv:
            out.append(f"| {srv['label']} | FAILED: {srv['error']} | | | | | | | | | | |")
            continue
        for run in srv.get("runs", []):
            s_, h = run["search_ms"], run.get("health_ms", {})
            target = "p95 ≤ 50 ms, 0 errors" if run["concurrency"] == 8 else ""
            out.append(f"| {srv['label']} | /search, concurrency {run['concurrency']} | {run['requests']:,} | "
                       f"{run['errors']} | {_f(s_['p50'], 1)} | {_f(s_['p95'], 1)} | {_f(s_['p99'], 1)} | "
                       f"{_f(run['req_per_s'], 1)} | {_f(h.get('p50'), 2)} | {_f(run.get('ratio_search_health_p50'), 1)} | "
                       f"{_f(run.get('server_cpu_ms_per_request'), 1)} | {_f(run.get('mean_latency_floor_ms'), 1)} | "
                       f"{target} | {_pf(run.get('target_ok')) if target else ''} |")
    out.append("")
    for srv, key in zip(r.get("servers", []), ("in_process", "in_process_1thread")):
        ip = r.get(key)
        if ip and "error" not in srv:
            out.append(f"- {srv['label']}: ready after {srv.get('ready_s')} s; server RSS after the runs "
                       f"{_f(srv.get('server_rss_mib', {}).get('VmRSS'), 0)} MiB; in-process `Index.search` on the "
                       f"same queries (this process, server stopped{', threadpool_limits(1)' if key.endswith('1thread') else ''}): "
                       f"p50 {ip['p50']:.1f} ms, p95 {ip['p95']:.1f} ms → HTTP concurrency-1 p50 / in-process p50 = "
                       f"**{_f(srv.get('ratio_http_c1_in_process_p50'), 2)}**.")
    ec = r.get("encode_costs")
    if ec:
        out.append(f"- Query encoding CPU time, one thread, 8 queries: one by one p50 {ec['cpu_ms_8_single']['p50']:.1f} ms, "
                   f"as one batch {ec['cpu_ms_8_batched']['p50']:.1f} ms (batch / single = {ec['batch_saving']}); "
                   f"entering + leaving `threadpoolctl` `ThreadpoolController.limit(limits=1)`: p50 "
                   f"{ec['threadpool_limits_enter_exit_ms']['p50']:.3f} ms.")
    out.append("")
    if r.get("notes"):
        out += [f"- {n}" for n in r["notes"]] + [""]
    return out


def _cold_md(r: dict) -> list[str]:
    out = ["## Cold start (bench/cold_start.py)", "", _run_line(r), "",
           "| command (fresh process, median of runs) | median s | runs (s) | target | result | ratio to baseline |",
           "|---|---|---|---|---|---|"]
    for c in r.get("commands", []):
        out.append(f"| {c['label']} | {c['median_s']:.3f} | {', '.join(f'{x:.2f}' for x in c['runs_s'])} | "
                   f"{c.get('target', '')} | {_pf(c.get('ok')) if c.get('target') else ''} | {c.get('ratio', '')} |")
    st = r.get("stages")
    if st:
        out += ["", "Stage split of a cold `ask` (median over fresh processes, seconds):", "",
                "| stage | s |", "|---|---|"]
        for k, v in st.items():
            out.append(f"| {k} | {v:.3f} |")
        out.append(f"| (sum) | {sum(st.values()):.3f} |")
    pst = r.get("plain_stages")
    if pst:
        out += ["", "Stage split of the plain sentence-transformers + FAISS script (median, seconds):", "",
                "| stage | s |", "|---|---|"]
        for k, v in pst.items():
            out.append(f"| {k} | {v:.3f} |")
    imp = r.get("import_top")
    if imp:
        out += ["", "Largest imports in a cold `ask` (`python -X importtime`, cumulative, one run):", "",
                "| module | ms |", "|---|---|"]
        for name, ms in imp:
            out.append(f"| {name} | {ms:.0f} |")
    out.append("")
    if r.get("notes"):
        out += [f"- {n}" for n in r["notes"]] + [""]
    return out


def _indexing_md(r: dict) -> list[str]:
    out = ["## Indexing throughput (bench/indexing.py)", "", _run_line(r), "",
           f"Passages: {r['passages']:,} real passages from bench/corpus.py "
           f"(chars min/median/mean/max {r['chars']['min']}/{r['chars']['median']}/{r['chars']['mean']}/{r['chars']['max']}).", "",
           "| method | chunks | tokens | s (mean of rounds) | chunks/s | tokens/s | **chunks/s ÷ plain** | tokens/s ÷ plain |",
           "|---|---|---|---|---|---|---|---|"]
    for m in r.get("methods", []):
        out.append(f"| {m['label']} | {m['chunks']:,} | {m['tokens']:,} | {m['seconds']:.1f} | {m['chunks_per_s']:.2f} | "
                   f"{m['tokens_per_s']:.0f} | **{_f(m.get('ratio_vs_plain'), 2)}** | {_f(m.get('tokens_ratio_vs_plain'), 2)} |")
    t = r.get("target")
    if t:
        out += ["", f"Target: semsearch reindex ≥ 2× the plain encode's chunks/s → measured "
                f"{t['ratio']:.2f}× → {_pf(t['ok'])} (`--float`: {r['target_float']['ratio']:.2f}× → "
                f"{_pf(r['target_float']['ok'])}"
                + (f"; `--int8`: {r['target_int8']['ratio']:.2f}× → {_pf(r['target_int8']['ok'])}" if "target_int8" in r else "")
                + ")."]
    out.append("")
    if r.get("notes"):
        out += [f"- {n}" for n in r["notes"]] + [""]
    return out


def _summary_md() -> list[str]:
    """One line per target across all benchmarks."""
    rows = []
    sc = _read("scale")
    if sc:
        for e in sc.get("sizes", []):
            n, b = e["n"], e.get("build", {})
            if "error" in b:
                rows.append((f"scale {n:,}: build", "", "FAILED: " + b["error"][:120], False))
                continue
            if n >= 1_000_000:
                rows.append((f"scale {n:,}: build time", "≤ ~1,800 s", f"{b['seconds']['total']:,.0f} s",
                             b["seconds"]["total"] <= 1800))
            for part, label in (("query", "as shipped"), ("query_1thread", "1 thread")):
                q = e.get(part, {})
                if "error" in q:
                    rows.append((f"scale {n:,}: queries ({label})", "", "FAILED", False))
                elif q.get("target_p50_ms"):
                    rows.append((f"scale {n:,}: hybrid p50, in-process ({label})", f"≤ {q['target_p50_ms']:.0f} ms",
                                 f"{q['hybrid_ms']['p50']:.1f} ms (plain baseline {q['plain_ms']['p50']:.1f} ms, "
                                 f"ratio {q['ratio_p50']})", q["target_p50_ok"]))
            q1 = e.get("query_1thread", {})
            if "recall@10" in q1:
                rows.append((f"scale {n:,}: recall@10 ({q1['faiss_type']})", "≥ 0.95", f"{q1['recall@10']:.4f}",
                             q1["recall@10"] >= 0.95))
    for an in (_read("ann-100000"), _read("ann")):
        for c in (an or {}).get("candidates", []):
            if c["index"].startswith("shipped") and _is_shipped(c):
                setting = f", nprobe {c['param']}" if c["param"] is not None else ""
                rows.append((f"ANN at {an['n']:,} vectors, as shipped ({c['index'].split(' (')[0][9:]}{setting})",
                             "recall@10 ≥ 0.95", f"{c['recall@10']:.4f} (FAISS p50 {c['search_ms']['p50']:.2f} ms, 1 thread)",
                             c["recall@10"] >= 0.95))
    ht = _read("latency_http")
    if ht:
        for srv in ht.get("servers", []):
            for run in srv.get("runs", []):
                if run["concurrency"] == 8:
                    rows.append((f"HTTP /search c=8, {ht.get('chunks', 0):,} chunks ({srv['label']})",
                                 "p95 ≤ 50 ms, 0 errors",
                                 f"p95 {run['search_ms']['p95']:,.1f} ms, {run['errors']} errors "
                                 f"(/health p50 {run['health_ms']['p50']:.1f} ms)", run.get("target_ok")))
    cs = _read("cold_start")
    if cs:
        for c in cs.get("commands", []):
            if c.get("target"):
                rows.append((c["label"], c["target"], f"{c['median_s']:.3f} s ({c.get('ratio', '')})", c.get("ok")))
    ix = _read("indexing")
    if ix and ix.get("target"):
        shipped = ("int8" if ix["int8_pays"] else "float") + " graph on this CPU, " if "int8_pays" in ix else ""
        other = f", `--int8` {ix['target_int8']['ratio']:.2f}×" if "target_int8" in ix else ""
        rows.append(("indexing chunks/s vs plain encode", "≥ 2×", f"{ix['target']['ratio']:.2f}× ({shipped}"
                     f"`--float` {ix['target_float']['ratio']:.2f}×{other})", ix["target"]["ok"]))
    if not rows:
        return []
    out = ["## Targets at a glance", "", "| target | goal | measured | result |", "|---|---|---|---|"]
    out += [f"| {a} | {b} | {c} | {_pf(d)} |" for a, b, c, d in rows]
    return out + [""]


def _is_shipped(c: dict) -> bool:
    """The row of the shipped index measured at its own setting (the sweep also tries others)."""
    label = c["index"]
    return "shipped " not in label or label.endswith(f"shipped {c['param']})")


def _ann_md(r: dict) -> list[str]:
    out = [f"## Approximate search at {r['n']:,} vectors (bench/ann.py)", "", _run_line(r), "",
           f"{r['n']:,} vectors: {r['real_vectors']:,} real passage embeddings and the rest derived from them "
           f"exactly as in bench/scale.py; {r['queries']} real queries. Recall@10 against exact `IndexFlatIP` on "
           "the same vectors; FAISS search time for one query (k = 50), one thread.", "",
           "| index | setting | recall@10 | search p50 / p95 ms | build s |", "|---|---|---|---|---|"]
    for c in r.get("candidates", []):
        mark = " **(shipped)**" if c["index"].startswith("shipped") and _is_shipped(c) else ""
        out.append(f"| {c['index'].split(' (')[0]}{mark} | {c['param'] if c['param'] is not None else '—'} | "
                   f"{c['recall@10']:.4f} | {c['search_ms']['p50']:.2f} / {c['search_ms']['p95']:.2f} | {c['build_s']} |")
    return out + [""]


def _int8_md(r: dict) -> list[str]:
    out = ["## The int8 passage graph (bench/int8.py)", "", _run_line(r), "",
           f"{r['passages']:,} real passages (bench/corpus.py, seed 3) embedded by each graph on both cores; "
           f"{r['queries']} of them found again from one clause each (float query vectors unless the row says otherwise; dense only).", "",
           "| graph | passages/s | speed ÷ float | cosine to float min / mean | hit@1 | hit@5 | MRR@10 | top 5 shared with float |",
           "|---|---|---|---|---|---|---|---|"]
    for g in r["graphs"]:
        c = g["cosine_to_float"]
        out.append(f"| {g['graph']} | {g['passages_per_s']:.1f} | {g['speed_vs_float']:.2f} | {c['min']:.4f} / "
                   f"{c['mean']:.5f} | {g['hit@1']:.3f} | {g['hit@5']:.3f} | {g['mrr@10']:.3f} | "
                   f"{g['top5_shared_with_float']:.3f} |")
    q = r.get("query_encode_ms_one_thread")
    if q:
        out += ["", "Encoding one question on one thread, p50 / p95 ms: " + "; ".join(
            f"{name} " + ", then ".join(f"{m['p50']:.2f} / {m['p95']:.2f}" for m in runs) for name, runs in q.items()) + "."]
    return out + [""]


def _http_profile_md(r: dict) -> list[str]:
    out = ["## Where a served search spends its CPU (bench/http_profile.py)", "", _run_line(r), "",
           f"{r['requests']:,} POST /search at concurrency {r['concurrency']} on {r['index']}: {r['req_per_s']} req/s, "
           f"p95 {r['search_ms']['p95']:.1f} ms, {r['errors']} errors. Server CPU **{r['server_cpu_ms_per_request']} ms "
           f"per request** (user + system time of the server process over the run / requests); the client's own "
           f"{r['client_cpu_ms_per_request']} ms.", ""]
    prof = r.get("profile", {})
    if "share" in prof:
        out += [f"Share of the server's {prof['samples']:,} py-spy samples (all threads, idle excluded; a second run of "
                "the same load, since sampling takes CPU from the same cores) spent in:", "",
                "| where | share |", "|---|---|"]
        out += [f"| {label} | {share:.1%} |" for label, share in prof["share"].items() if share is not None]
    else:
        out.append(f"(no profile: {prof.get('error')})")
    return out + [""]


def _sqlite_cache_md(r: dict) -> list[str]:
    out = ["## SQLite page cache of a reading connection: the FTS5 BM25 query alone (bench/sqlite_cache.py)", "",
           _run_line(r), "", "| chunks | cache | p50 ms | p95 ms | mean ms | p50 / default |", "|---|---|---|---|---|---|"]
    for size in r["sizes"]:
        base = next(iter(size["fts_ms"].values()))["p50"]
        for label, t in size["fts_ms"].items():
            out.append(f"| {size['n']:,} | {label} | {t['p50']:.2f} | {t['p95']:.2f} | {t['mean']:.2f} | "
                       f"{ratio(t['p50'], base)} |")
    return out + [""]


def write_results_md() -> Path:
    parts = ["# semsearch benchmark results", "",
             "Speed and scale of semsearch, regenerated from `bench/results/*.json` by each benchmark "
             "(`.venv/bin/python bench/benchlib.py` rebuilds this file alone). The machine is shared with other "
             "work, so every figure is given with a **ratio to a baseline measured in the same process** and the "
             "load average at the time. Retrieval quality is in [results/quality.md](results/quality.md) and the "
             "LLM citation check's calibration in [results/llm_support.md](results/llm_support.md).", "",
             "**The host is not always the same CPU.** Runs since 2026-11-27 13:55 name its family/model and its int8 "
             "dot-product instructions in their first line. The earlier runs of 2026-11-27 were on a host where the "
             "int8 graph encoded passages 1.67× as fast as the float one (bench/int8.py); the later ones on a Zen 2 "
             "host (family/model 23/49, no VNNI) where it is no faster, and where the question encoder and FAISS ran "
             "13–17% and 50–60% slower (bench/scale.py stage times at 100k). Compare figures within one run, or across runs on the same host.", ""]
    parts += _summary_md()
    found = False
    for name, fn in (("scale", _scale_md), ("ann-100000", _ann_md), ("ann", _ann_md), ("latency_http", _http_md), ("cold_start", _cold_md),
                     ("indexing", _indexing_md), ("int8", _int8_md), ("http_profile", _http_profile_md),
                     ("sqlite_cache", _sqlite_cache_md)):
        r = _read(name)
        if r is not None:
            found = True
            try:
                parts += fn(r)
            except (KeyError, TypeError) as exc:
                parts += [f"## {name}", "", f"(results file incomplete: {exc!r})", ""]
            how = r.get("how_measured")
            if how:
                parts += ["How measured:", ""] + [f"- {h}" for h in how] + [""]
    if not found:
        parts.append("(no results yet)")
    path = BENCH / "RESULTS.md"
    path.write_text("\n".join(parts).rstrip() + "\n", encoding="utf-8")
    return path


if __name__ == "__main__":
    print(write_results_md())
