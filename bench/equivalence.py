"""Record what semsearch returns for every bench question, to check that a refactor changes nothing.

For each question set, per question id: the top 10 of each search mode (dense, keyword,
hybrid) as (path, char_start, char_end) with scores rounded to 4 decimals, and the
extractive answer of ``Index.ask`` (no_answer, sentence texts with citations, and the
cited hits' (path, char_start)). Indexes are built afresh (rebuild=True) under --cache,
with SEMSEARCH_INT8 unset. Only the public API (``semsearch.Index``) is used.

Record (the code under test is the one on PYTHONPATH):
    PYTHONPATH=<repo> <venv>/bin/python bench/equivalence.py --out FILE.json --cache DIR
Compare two records (exit 1 when any question differs, 0 when identical):
    <venv>/bin/python bench/equivalence.py --compare A.json B.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
QUESTIONS = BENCH / "questions"
MODES = ("dense", "keyword", "hybrid")
K = 10
DIGITS = 4
CORPORA = {
    "seeds": (BENCH.parent / "seeds",
              ["dev_questions", "seeds_questions", "english_heldout", "reworded_heldout", "offtopic_english"]),
    "english": (BENCH / "corpora" / "english",
                ["chinese_over_english", "chinese_over_english_heldout",
                 "english_over_english", "english_over_english_heldout"]),
}


def load(name: str) -> list[dict]:
    lines = (QUESTIONS / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def hit_key(hit) -> list:
    return [hit.source.path, hit.source.char_start, hit.source.char_end]


def record_question(idx, q: str) -> dict:
    out = {}
    for mode in MODES:
        hits = idx.search(q, k=K, mode=mode)
        out[mode] = {"hits": [hit_key(h) for h in hits], "scores": [round(h.score, DIGITS) for h in hits]}
    answer = idx.ask(q)
    by_rank = {h.rank: h for h in answer.hits}
    cited = sorted({s.citation for s in answer.sentences})
    out["ask"] = {"no_answer": answer.no_answer,
                  "sentences": [[s.text, s.citation] for s in answer.sentences],
                  "cited": [[c, by_rank[c].source.path, by_rank[c].source.char_start] if c in by_rank else [c, None, None]
                            for c in cited]}
    return out


def record(out: Path, cache: Path) -> None:
    import semsearch
    from semsearch import Index

    os.environ.pop("SEMSEARCH_INT8", None)
    result = {"semsearch": semsearch.__file__, "k": K, "digits": DIGITS, "indexes": {}, "sets": {}}
    for corpus, (folder, sets) in CORPORA.items():
        start = time.perf_counter()
        idx = Index.open(cache / corpus)
        idx.reindex([folder], rebuild=True)
        status = idx.status()
        result["indexes"][corpus] = {k: status[k] for k in
                                     ("model", "documents", "chunks", "passage_vectors", "window_chars", "chunker")}
        for name in sets:
            result["sets"][name] = {item["id"]: record_question(idx, item["q"]) for item in load(name)}
            print(f"{corpus}/{name}: {len(result['sets'][name])} questions", file=sys.stderr)
        idx.close()
        print(f"{corpus}: {time.perf_counter() - start:.1f} s", file=sys.stderr)
    out.write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def compare(a_path: Path, b_path: Path, show: int = 10) -> int:
    a_all = json.loads(a_path.read_text(encoding="utf-8"))
    b_all = json.loads(b_path.read_text(encoding="utf-8"))
    if a_all.get("indexes") != b_all.get("indexes"):
        print(f"indexes differ:\n  A {a_all.get('indexes')}\n  B {b_all.get('indexes')}")
    a, b = a_all["sets"], b_all["sets"]
    differ = 0
    for name in sorted(set(a) | set(b)):
        qa, qb = a.get(name, {}), b.get(name, {})
        diffs = []
        for qid in sorted(set(qa) | set(qb)):
            if qid not in qa or qid not in qb:
                diffs.append((qid, "present in one file only", None, None))
                continue
            for part in (*MODES, "ask"):
                for field in sorted(set(qa[qid][part]) | set(qb[qid][part])):
                    va, vb = qa[qid][part].get(field), qb[qid][part].get(field)
                    if va != vb:
                        diffs.append((qid, f"{part}.{field}", va, vb))
        questions = len({d[0] for d in diffs})
        differ += questions
        print(f"{name}: {questions} of {len(set(qa) | set(qb))} questions differ")
        for qid, where, va, vb in diffs[:show]:
            print(f"  {qid} {where}:\n    A {json.dumps(va, ensure_ascii=False)}\n    B {json.dumps(vb, ensure_ascii=False)}")
    return 1 if differ else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--cache", type=Path)
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("A", "B"))
    args = parser.parse_args()
    if args.compare:
        sys.exit(compare(*args.compare))
    if not (args.out and args.cache):
        parser.error("give --out and --cache, or --compare A B")
    record(args.out, args.cache)


if __name__ == "__main__":
    main()
