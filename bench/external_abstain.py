"""External abstention: how often semsearch says "no answer" on the real external questions, and what the cosine
threshold would have to be.

    .venv/bin/python bench/external_abstain.py [--corpora debref-cn maint-tw ...] [--quick N] [--no-confirm]
    .venv/bin/python bench/external_abstain.py --analyse bench/results/external_abstain.json   # no re-asking

For each external corpus (``bench/external_build.py`` makes them; the index in ``bench/.cache/external/index/`` is
opened, and built when missing, by ``external.build_corpus_index``, then copied to
``bench/.cache/external/abstain-index/``, as ``bench/external.py`` rebuilds the shared one in place and every ask of
a run must see the same index) it runs ``Index.ask`` (as shipped) on

* every answerable query of the sets over that corpus (``manifest.json``: ``debref-cn`` and ``debref-tw-cn`` over
  ``debref-cn``, ``debref-tw`` over ``debref-tw``, ...): all of them are answered by a section of the corpus;
* every question of ``bench/external/unanswerable-<corpus>.jsonl`` (``-cn`` corpora: the Simplified file, ``-tw``
  corpora: ``unanswerable-<name>-tw.jsonl``, its OpenCC s2twp conversion): 25 questions each that the corpus does
  not cover (``bench/external/unanswerable.md`` says how they were written and checked).

Per question it records ``no_answer``, the best dense cosine of the hits ``ask`` decides on (``Index.search(q, k=5,
mode="hybrid")``, the same search ``ask`` makes; None when no hit came with a cosine, and then the rule makes no
cosine test), whether the rule says "no answer" with the cosine test switched
off (``unanswerable(..., min_score=-1)``: no content, no shared term, an absent name), whether any hit has Chinese
text (when none has, the rule applies ``min_cosine_other``, which the sweep leaves as shipped), and how many of the
question's terms the corpus holds. It reports per set the false no-answer rate (answerable queries) and the true
no-answer rate (unanswerable questions). Targets (the issue): false no-answer <= 5 % on every answerable set, true
no-answer >= 80 % on every corpus's unanswerable questions.

Then it sweeps ``min_cosine_cjk`` (the threshold for a Chinese question over Chinese text: every question here,
unless its 5 hits are all English passages) over a grid, computed from the recorded values (no answer at
threshold t = the rule without the cosine, or best cosine < t, or ``ask`` found no sentence to answer with), and
crosses halves: the value chosen on half A (the debref corpora) is reported on half B (lohelp and maint), and the
reverse. Choice on a half: the highest true no-answer rate (the mean
over the half's corpora) among the values keeping false no-answer <= 5 % on every answerable set of the half (the
highest such value, as both rates grow with the threshold); when no value does, the one with the lowest worst false
no-answer rate. Each chosen value is confirmed by re-running ``ask`` with ``DEFAULTS.but(min_cosine_cjk=value)`` on
every corpus (``--no-confirm`` skips it).

Candidate rules (not in semsearch; computed from the records only, crossed between halves the same way): the
rule as shipped, using the dense ranking's best cosine when no hit carries one (the top hits can all come from the
keyword ranking, and then ``unanswerable`` makes no cosine test) and the Chinese threshold also when the 5 hits are
all English passages (the LibreOffice help keeps some pages untranslated; ``unanswerable`` then takes the question
as asked across languages and applies ``min_cosine_other``, 0.75), plus "no answer" when the question has a Latin word
of 2+ characters (as ``keyword.terms`` cuts it, digits alone excepted) that the index never holds; and that plus a
word-coverage test (fewer than a share c of the question's words, Chinese words of 2+ characters from
``keyword.main_words`` and those Latin words, found in any of the 5 hits), (threshold, c) chosen on a half. They
were designed after reading the failures on all six corpora: the crossing checks their parameters, not their design.

Writes ``bench/results/external_abstain.json`` (every question's record, the rates, the sweep, the crossing) and
``.md`` (short); a ``--quick N`` run (N answerable queries per set, seeded) writes to
``bench/.cache/external/results/``. Timings are not measured: another job may share the CPU (load averages are
recorded). ``--analyse FILE`` recomputes rates, sweep and crossing from the records of an earlier run.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import time
from pathlib import Path

import benchlib as B
import external as E

HALVES = {"A": ["debref-cn", "debref-tw"], "B": ["lohelp-cn", "lohelp-tw", "maint-cn", "maint-tw"]}
CORPORA = HALVES["A"] + HALVES["B"]
MAX_FALSE = 0.05  # the targets
MIN_TRUE = 0.80
GRID = [round(0.80 + 0.0025 * i, 4) for i in range(53)]  # 0.80 ... 0.93
COVERAGE_GRID = [0.25, 0.34, 0.5, 0.67]
COLUMNS = ["set", "id", "corpus", "answerable", "no_answer", "best_cosine", "rule_without_cosine", "no_sentence",
           "terms", "terms_in_corpus", "chinese", "words", "words_in_hits",
           "top_path", "q"]


def unanswerable_file(corpus: str) -> str:
    """``debref-cn`` -> ``unanswerable-debref``; ``debref-tw`` -> ``unanswerable-debref-tw``."""
    name, script = corpus.rsplit("-", 1)
    return f"unanswerable-{name}" + ("-tw" if script == "tw" else "")


def sets_over(corpus: str, manifest: dict) -> list[str]:
    return [name for name, s in manifest["sets"].items() if s["corpus"] == corpus]


def snapshot(corpus: str, encoder) -> tuple[Path, bool]:
    """A private copy of the corpus's live index (opened, and built when missing, by ``build_corpus_index``):
    ``bench/external.py`` rebuilds the shared one in place, and recording and confirming must see one index. When
    the shared index is stale (files changed, or cut by an older chunker) the copy of an earlier run is kept if it
    is not, else the copy is rebuilt; returns (copy, whether rebuilt)."""
    from semsearch import DEFAULTS, Index
    from semsearch.store import CURRENT

    def fresh(path: Path) -> bool:
        idx = Index.open(path, embedder=encoder, settings=DEFAULTS)
        try:
            return idx.exists() and not idx.cut_by_older_version() and not any(idx.changes().values())
        finally:
            idx.close()

    E.build_corpus_index(corpus, True, encoder)[0].close()
    shared, copy = E.CACHE / "index" / corpus, B.CACHE / "external" / "abstain-index" / corpus
    if not fresh(shared) and copy.is_dir() and fresh(copy):
        return copy, False
    for _ in range(5):
        name = (shared / CURRENT).read_text().strip()
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(shared / name, copy / name)
        if (shared / CURRENT).read_text().strip() == name:  # not replaced while copied
            (copy / CURRENT).write_text(name + "\n")
            break
    else:
        raise RuntimeError(f"the index of {corpus} keeps being rebuilt")
    if fresh(copy):
        return copy, False
    print(f"{corpus}: the shared index is stale; rebuilding the copy", file=sys.stderr)
    idx = Index.open(copy, embedder=encoder, settings=DEFAULTS)
    idx.reindex([E.CACHE / "corpora" / corpus], rebuild=True)
    idx.close()
    return copy, True


def questions_of(corpus: str, manifest: dict, quick: int | None) -> list[tuple[str, dict, bool]]:
    """(set, question, answerable) for every question asked over ``corpus``."""
    out = []
    for name in sets_over(corpus, manifest):
        queries = E.load_set(name)
        if quick:
            queries = random.Random(f"external-abstain-quick:{name}").sample(queries, min(quick, len(queries)))
        out += [(name, q, True) for q in queries]
    name = unanswerable_file(corpus)
    out += [(name, q, False) for q in E.load_set(name)]
    held_out = name.replace("unanswerable-", "unanswerable2-")  # batch 2: written after the rule was fixed
    if (E.EXTERNAL / f"{held_out}.jsonl").exists():
        out += [(held_out, q, False) for q in E.load_set(held_out)]
    return out


def record_corpus(corpus: str, manifest: dict, encoder, quick: int | None) -> tuple[list[list], dict]:
    """Ask every question over ``corpus`` as shipped; one row (``COLUMNS``) per question."""
    from semsearch import DEFAULTS, Index
    from semsearch.analysis import keyword
    from semsearch.answer.abstain import unanswerable
    from semsearch.text.normalize import fold_text
    from semsearch.text.script import has_cjk

    load0, t0 = B.load(), time.time()
    copy, rebuilt = snapshot(corpus, encoder)
    snapshot_s, t0 = round(time.time() - t0, 1), time.time()
    idx = Index.open(copy, embedder=encoder, settings=DEFAULTS)
    gen = idx._generation()
    counts_of = gen.term_document_counts
    out = []
    for set_name, q, answerable in questions_of(corpus, manifest, quick):
        answer = idx.ask(q["q"])
        asked = idx._in_index_words(gen, q["q"])  # what ask and search look for (Taiwan words -> the index's)
        found = idx._found(gen, encoder, asked, 5, "hybrid")  # the search ask decides on
        hits, nearest = found.hits, found.nearest
        cosines = [h.dense_score for h in hits if h.dense_score is not None]
        best = max(cosines) if cosines else (nearest.cosine if nearest else None)
        best = round(float(best), 5) if best is not None else None
        without_cosine = unanswerable(asked, hits, counts_of, -1.0, DEFAULTS, nearest)
        # The threshold ask applies: min_cosine_other when neither a hit nor the nearest passage has Chinese text.
        chinese = any(has_cjk(h.text) for h in hits) or bool(nearest and nearest.chinese)
        threshold = DEFAULTS.min_cosine_cjk if chinese else DEFAULTS.min_cosine_other
        cosine_says = best is not None and best < threshold
        # ask also says "no answer" when the passages hold no sentence to answer with; the sweep keeps that.
        no_sentence = bool(answer.no_answer and not without_cosine and not cosine_says)
        folded = fold_text(asked)
        terms = keyword.query_terms(folded)
        held = counts_of(terms) if terms else {}
        # Candidate signal (not in semsearch): the question's words (Chinese words of 2+ characters,
        # ``keyword.main_words``, and Latin words of 2+ characters as the keyword index cuts them) and how many of
        # them some hit holds.
        latin = sorted({t for t in keyword.terms(folded) if t.isascii() and len(t) >= 2 and not t.isdigit()})
        words = [w for w in keyword.main_words(folded) if has_cjk(w) and len(w) >= 2] + latin
        texts = [fold_text(f"{h.title or ''} {h.text}").lower() for h in hits]
        out.append([set_name, q["id"], corpus, answerable, bool(answer.no_answer), best, bool(without_cosine),
                    no_sentence, len(terms), sum(1 for t in terms if held.get(t)), chinese, len(words),
                    sum(1 for w in words if any(w in t for t in texts)), hits[0].source.path if hits else None,
                    q["q"]])
    idx.close()
    info = {"chunks": gen.chunk_count(), "index_rebuilt": rebuilt, "snapshot_s": snapshot_s, "questions": len(out),
            "seconds": round(time.time() - t0, 1), "load_before": load0,
            "load_after": B.load()}
    print(f"{corpus}: {len(out)} questions in {info['seconds']} s (load {load0} -> {info['load_after']})",
          file=sys.stderr)
    return out, info


# ---------------------------------------------------------------- rates

def as_dicts(rows: list[list]) -> list[dict]:
    return [dict(zip(COLUMNS, r)) for r in rows]


def says_no(r: dict, threshold: float) -> bool:
    """The decision at ``min_cosine_cjk = threshold``, from a recorded question (when neither a hit nor the nearest
    passage has Chinese text the rule applies ``min_cosine_other`` instead, unchanged)."""
    from semsearch import DEFAULTS

    if not r["chinese"]:
        threshold = DEFAULTS.min_cosine_other
    return bool(r["rule_without_cosine"] or r["no_sentence"]
                or (r["best_cosine"] is not None and r["best_cosine"] < threshold))


def says_no_candidate(r: dict, threshold: float, coverage: float) -> bool:
    """A candidate rule (not in semsearch): as shipped at ``threshold``, and also "no answer" when the hits hold
    fewer than the share ``coverage`` of the question's words."""
    if says_no(r, threshold):
        return True
    return r["words"] > 0 and r["words_in_hits"] / r["words"] < coverage


# The rules crossed between halves: name -> {parameter label: decision}.
def rules() -> dict:
    return {"as shipped (min_cosine_cjk)": {f"{t:.4f}": (lambda r, t=t: says_no(r, t)) for t in GRID},
            "candidate: + word coverage": {
                f"{t:.4f} / {c}": (lambda r, t=t, c=c: says_no_candidate(r, t, c))
                for t in GRID for c in COVERAGE_GRID}}


def rates(records: list[dict], decide) -> dict:
    """Per set: n and the no-answer rate (false no-answer for answerable sets, true no-answer for unanswerable)."""
    by_set: dict[str, list[dict]] = {}
    for r in records:
        by_set.setdefault(r["set"], []).append(r)
    return {name: {"n": len(rs), "answerable": rs[0]["answerable"], "corpus": rs[0]["corpus"],
                   "no_answer": round(sum(decide(r) for r in rs) / len(rs), 4)} for name, rs in by_set.items()}


def half_summary(per_set: dict, corpora: list[str]) -> dict:
    # Batch 2 (unanswerable2-*) is held out: reported per set, never used to choose.
    mine = {n: s for n, s in per_set.items() if s["corpus"] in corpora and not n.startswith("unanswerable2-")}
    false = {n: s["no_answer"] for n, s in mine.items() if s["answerable"]}
    true = {n: s["no_answer"] for n, s in mine.items() if not s["answerable"]}
    return {"false_no_answer": false, "true_no_answer": true,
            "worst_false": max(false.values(), default=None), "worst_true": min(true.values(), default=None),
            "mean_true": round(sum(true.values()) / len(true), 4) if true else None,
            "meets_targets": bool(false and true and max(false.values()) <= MAX_FALSE
                                  and min(true.values()) >= MIN_TRUE)}


def sweep(records: list[dict], decisions: dict) -> dict:
    return {label: rates(records, decide) for label, decide in decisions.items()}


def choose(table: dict, corpora: list[str]) -> dict:
    """The parameter (grid value) chosen on ``corpora`` (see the module docstring)."""
    scored = []
    for label, per_set in table.items():
        h = half_summary(per_set, corpora)
        if h["worst_false"] is None or h["mean_true"] is None:
            continue
        scored.append((label, h))
    feasible = [(t, h) for t, h in scored if h["worst_false"] <= MAX_FALSE]
    if feasible:  # ties: the lower worst false rate, then the higher threshold
        t, h = max(feasible, key=lambda th: (th[1]["mean_true"], -th[1]["worst_false"], th[0]))
    else:
        t, h = min(scored, key=lambda th: (th[1]["worst_false"], -th[1]["mean_true"]))
    return {"value": t, "feasible": bool(feasible), "on_chosen_half": h}


def crossing(table: dict, corpora_present: list[str]) -> dict:
    out = {}
    for chosen_on, reported_on in (("A", "B"), ("B", "A")):
        on = [c for c in HALVES[chosen_on] if c in corpora_present]
        off = [c for c in HALVES[reported_on] if c in corpora_present]
        if not on or not off:
            continue
        pick = choose(table, on)
        reported = half_summary(table[pick["value"]], off)
        out[f"{chosen_on}->{reported_on}"] = {**pick, "reported_on": reported_on, "on_other_half": reported,
                                              "holds": reported["meets_targets"]}
    return out


def confirm(values: list[float], corpora: list[str], records: list[dict], encoder, manifest: dict) -> dict:
    """Re-run ask with ``min_cosine_cjk = value`` on every recorded question; per set rates and disagreements
    with the rates computed from the records."""
    from semsearch import DEFAULTS, Index

    by_key = {(r["set"], r["id"]): r for r in records}
    out = {}
    for value in values:
        settings = DEFAULTS.but(min_cosine_cjk=value)
        decided, mismatches = [], []
        for corpus in corpora:
            idx = Index.open(B.CACHE / "external" / "abstain-index" / corpus, embedder=encoder, settings=settings)
            for set_name, q, _ in questions_of(corpus, manifest, None):
                r = by_key.get((set_name, q["id"]))
                if r is None:
                    continue  # a --quick run recorded a sample
                no = bool(idx.ask(q["q"]).no_answer)
                decided.append({**r, "confirmed": no})
                if no != says_no(r, value):
                    mismatches.append({"set": set_name, "id": q["id"], "asked": no, "from_records": not no})
            idx.close()
            print(f"  confirm {value}: {corpus} done", file=sys.stderr)
        out[f"{value:.4f}"] = {"rates": rates(decided, lambda r: r["confirmed"]), "mismatches": mismatches}
    return out


# ---------------------------------------------------------------- report

def failures(records: list[dict], threshold: float) -> list[dict]:
    """Unanswerable questions answered at ``threshold``, highest cosine first."""
    rows = [r for r in records if not r["answerable"] and not says_no(r, threshold)]
    return sorted(({k: r[k] for k in ("set", "id", "q", "best_cosine", "terms", "terms_in_corpus", "top_path")}
                   for r in rows), key=lambda r: -(r["best_cosine"] or 2))


def cosine_quantiles(records: list[dict]) -> dict:
    out = {}
    for kind, answerable in (("answerable", True), ("unanswerable", False)):
        for corpus in sorted({r["corpus"] for r in records}):
            xs = sorted(r["best_cosine"] for r in records
                        if r["answerable"] == answerable and r["corpus"] == corpus and r["best_cosine"] is not None)
            if xs:
                out[f"{corpus} {kind}"] = {f"p{q}": round(B.pct(xs, q), 4) for q in (5, 10, 50, 90, 95)}
    return out


def _p(x) -> str:
    return "–" if x is None else f"{100 * x:.1f} %"


def _cos(x) -> str:
    return "no cosine" if x is None else f"{x:.3f}"


def markdown(result: dict) -> list[str]:
    shipped, confirmed = result["shipped"], result.get("confirmed") or {}
    md = ["# External abstention: \"no answer\" on real external questions", "",
          f"{result['date']}; load {result['load_start']} -> {result['load_end']}; semsearch "
          f"{result['code']['semsearch_sha256']}"
          + (f" (at the end: {result['code_end']['semsearch_sha256']})"
             if result.get("code_end", result["code"])["semsearch_sha256"] != result["code"]["semsearch_sha256"]
             else "") + f"; min_cosine_cjk as shipped {result['shipped_threshold']}"
          + ("; QUICK run" if result["quick"] else "") + ". Script: `bench/external_abstain.py` (its docstring).", "",
          f"Targets: false no-answer <= {MAX_FALSE:.0%} on every answerable set; true no-answer >= {MIN_TRUE:.0%} on "
          "every corpus's 25 unanswerable questions (`bench/external/unanswerable*.jsonl`, see "
          "`unanswerable.md`). Half A: debref-cn, debref-tw; half B: lohelp-cn, lohelp-tw, maint-cn, maint-tw.", "",
          "## No-answer rate per set", "",
          "Answerable sets: false no-answer; `unanswerable-*`: true no-answer. Other columns: re-asked with the "
          "min_cosine_cjk chosen on a half (below).", "",
          "| set | corpus | n | as shipped | " + " | ".join(f"at {v}" for v in confirmed) + " |",
          "|---|---|---|---|" + "---|" * len(confirmed)]
    for name, s in shipped.items():
        md.append(f"| {name} | {s['corpus']} | {s['n']} | {_p(s['no_answer'])} | "
                  + " | ".join(_p(c["rates"].get(name, {}).get("no_answer")) for c in confirmed.values()) + " |")
    if confirmed:
        md += ["", "Re-asked decisions that differ from those computed from the records: "
               + ", ".join(f"{v}: {len(c['mismatches'])}" for v, c in confirmed.items()) + "."]
    md += ["", "## Chosen on one half, reported on the other", "",
           "Chosen: the highest mean true no-answer with false no-answer <= 5 % on every answerable set of the half "
           "(computed from the records). Worst set of each kind.", "",
           "| rule | chosen on | value | feasible there | there: false / true | other half: false / true | "
           "holds on other half |", "|---|---|---|---|---|---|---|"]
    crossed = {"as shipped (min_cosine_cjk)": result["crossing"],
               **{name: c["crossing"] for name, c in result.get("candidates", {}).items()}}
    for rule, crossing_ in crossed.items():
        for key, c in crossing_.items():
            on, off = c["on_chosen_half"], c["on_other_half"]
            md.append(f"| {rule} | {key.split('->')[0]} | {c['value']} | {'yes' if c['feasible'] else 'no'} | "
                      f"{_p(on['worst_false'])} / {_p(on['worst_true'])} | {_p(off['worst_false'])} / "
                      f"{_p(off['worst_true'])} | {'yes' if c['holds'] else 'no'} |")
    md += ["", "## Sweep of min_cosine_cjk, rule as shipped (from the records; worst set of each kind)", "",
           "| min_cosine_cjk | A false | A true | B false | B true |", "|---|---|---|---|---|"]
    chosen = {c["value"] for c in result["crossing"].values()}
    for t, per_set in result["sweep"].items():
        if (round(float(t) * 400) % 4 or float(t) < 0.84) and t not in chosen:  # every 0.01 from 0.84, the chosen
            continue
        a, b = half_summary(per_set, HALVES["A"]), half_summary(per_set, HALVES["B"])
        md.append(f"| {t} | {_p(a['worst_false'])} | {_p(a['worst_true'])} | {_p(b['worst_false'])} | "
                  f"{_p(b['worst_true'])} |")
    fails = result["failures_as_shipped"]
    kinds = result["unanswerable_by_kind"]
    md += ["", f"## Unanswerable questions answered as shipped: {len(fails)} of "
           f"{sum(s['n'] for s in shipped.values() if not s['answerable'])}", "",
           f"No answer as shipped: off topic (01-08 of each file) {kinds['off_topic'][0]} of {kinds['off_topic'][1]}, "
           f"near the domain (09-25) {kinds['near_domain'][0]} of {kinds['near_domain'][1]}. The answered ones: best "
           f"cosine at or over the threshold {kinds['answered_cosine_over_threshold']}, no hit with a cosine "
           f"{kinds['answered_no_cosine']}, all 5 hits English passages (threshold 0.75) "
           f"{kinds['answered_hits_all_english']} (the last two overlap).", "",
           "Highest cosines first (\"no cosine\": no hit came from the dense ranking, so no cosine test); terms the "
           "corpus holds / the question's terms. Full list in the JSON.", ""]
    md += [f"* {_cos(f['best_cosine'])}, {f['terms_in_corpus']}/{f['terms']} terms: {f['id']} {f['q']}"
           for f in fails[:12]]
    return md


def analyse(result: dict) -> dict:
    records = as_dicts(result["records"])
    shipped_t = result["shipped_threshold"]
    result["shipped"] = rates(records, lambda r: r["no_answer"])
    result["shipped_from_records"] = rates(records, lambda r: says_no(r, shipped_t))
    present = sorted({r["corpus"] for r in records})
    tables = {name: sweep(records, decisions) for name, decisions in rules().items()}
    result["sweep"] = tables["as shipped (min_cosine_cjk)"]
    result["crossing"] = crossing(result["sweep"], present)
    result["candidates"] = {name: {"crossing": crossing(table, present)} for name, table in tables.items()
                            if name.startswith("candidate")}
    result["cosine_quantiles"] = cosine_quantiles(records)
    result["failures_as_shipped"] = failures(records, shipped_t)
    result["unanswerable_by_kind"] = by_kind(records)
    return result


def by_kind(records: list[dict]) -> dict:
    """As shipped, on the unanswerable questions: no-answer counts for the off-topic ones (01-08 in each file) and
    those near the domain (09-25), and why the answered ones were answered."""
    mine = [r for r in records if not r["answerable"] and not r["set"].startswith("unanswerable2-")]
    off = [r for r in mine if int(r["id"].rsplit("-", 1)[1]) <= 8]
    near = [r for r in mine if int(r["id"].rsplit("-", 1)[1]) > 8]
    answered = [r for r in mine if not r["no_answer"]]
    return {"off_topic": [sum(r["no_answer"] for r in off), len(off)],
            "near_domain": [sum(r["no_answer"] for r in near), len(near)],
            "answered_cosine_over_threshold": sum(1 for r in answered if r["best_cosine"] is not None
                                                  and r["chinese"]),
            "answered_no_cosine": sum(1 for r in answered if r["best_cosine"] is None),
            "answered_hits_all_english": sum(1 for r in answered if not r["chinese"])}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpora", nargs="+", choices=CORPORA, default=CORPORA)
    ap.add_argument("--quick", type=int, metavar="N", help="N answerable queries per set (seeded sample)")
    ap.add_argument("--no-confirm", action="store_true", help="skip re-asking with the chosen thresholds")
    ap.add_argument("--analyse", metavar="JSON", help="recompute the analysis from an earlier run's records")
    args = ap.parse_args(argv)
    folder = B.CACHE / "external" / "results" if args.quick else B.RESULTS
    name = "external_abstain" + ("-quick" if args.quick else "")
    if args.analyse:
        result = analyse(json.loads(Path(args.analyse).read_text(encoding="utf-8")))
        folder, name = Path(args.analyse).parent, Path(args.analyse).stem  # rewritten in place
    else:
        from semsearch import DEFAULTS

        manifest = json.loads((E.EXTERNAL / "manifest.json").read_text(encoding="utf-8"))
        encoder = E.semsearch_encoder()
        result = {**B.header(bool(args.quick)), "shipped_threshold": DEFAULTS.min_cosine_cjk,
                  "targets": {"max_false_no_answer": MAX_FALSE, "min_true_no_answer": MIN_TRUE},
                  "halves": HALVES, "grid": [GRID[0], GRID[-1], 0.0025], "columns": COLUMNS, "corpora": {},
                  "records": []}
        for corpus in args.corpora:
            rows, info = record_corpus(corpus, manifest, encoder, args.quick)
            result["records"] += rows
            result["corpora"][corpus] = info
        result = analyse(result)
        if not args.no_confirm:
            values = sorted({float(c["value"]) for c in result["crossing"].values()})
            result["confirmed"] = confirm(values, args.corpora, as_dicts(result["records"]), encoder, manifest)
        result["load_end"] = B.load()
        result["uptime_end"] = B.uptime_line()
        result["code_end"] = B.code_state()  # the tree changes while benchmarks run: the same sources throughout?
    result.setdefault("load_end", B.load())
    md = markdown(result)
    # Written here rather than with B.write_result, which also regenerates bench/RESULTS.md.
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps({k: v for k, v in result.items() if k != "records"}, ensure_ascii=False, indent=1)
    # One record a line: the file stays readable and diffable.
    records = ",\n".join(json.dumps(r, ensure_ascii=False) for r in result["records"])
    (folder / f"{name}.json").write_text(text[:-1].rstrip() + ',\n "records": [\n' + records + "\n ]\n}\n",
                                         encoding="utf-8")
    (folder / f"{name}.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
