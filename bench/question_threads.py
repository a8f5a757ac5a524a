"""How many threads encode a question that runs alone: in-process A/B on the 100k index of bench/scale.py.

    .venv/bin/python bench/question_threads.py [--rounds 2]

Runs the 280 queries of bench/scale.py through ``Index.search`` (k=5) as the CLI and a script
run them (one question at a time, the keyword lookup overlapping the encoding on a second
thread), with the question encoder (the float ONNX graph) set up three ways: one ORT thread
(``Settings.question_threads`` = 1, as shipped), two threads whose idle workers spin (ORT's default;
``question_threads=2``), and two threads that sleep when idle (``OnnxEncoder(spin=False)``: no setting
asks for it, so that ``Index`` is given an encoder whose questions go through such a session, by
``Index.open(embedder=...)``). Two spinning threads won here, but bench/scale.py (one configuration per
process) then measured the opposite, so one thread stays. Query by query the three alternate, in an order
that rotates each round, so a slow spell of the shared machine falls on all of them. Also times encoding
alone (``OnnxEncoder`` built the same three ways), the same way. Writes bench/results/question_threads.json.
"""

from __future__ import annotations

import argparse
import sys
import time

import benchlib as B

CONFIGS = {  # name -> (threads, spin)
    "1 thread (shipped)": (1, True),
    "2 threads, spinning": (2, True),
    "2 threads, sleeping when idle": (2, False),
}


class SleepingQuestions:
    """An encoder whose questions run on an ORT session with ``threads`` threads that sleep when idle; everything
    else is the default model's (given to ``Index.open(embedder=...)``)."""

    def __init__(self, encoder, threads: int):
        from semsearch.encoders.onnx import OnnxEncoder

        self._encoder = encoder
        self._questions = OnnxEncoder(encoder.load_path, threads=threads, short_texts=True, spin=False)
        self._prompt = encoder.prompts.get("query", "")

    def encode_query(self, text: str):
        return self._questions.encode([text], self._prompt)[0]

    def __getattr__(self, name: str):
        return getattr(self._encoder, name)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    found = B.scale_index_and_queries("question_threads")
    if found is None:
        return 2
    index, queries = found
    from semsearch import DEFAULTS, Index
    from semsearch.encoders.factory import load_encoder
    from semsearch.encoders.onnx import OnnxEncoder

    indexes = {}
    for name, (threads, spin) in CONFIGS.items():
        settings = DEFAULTS.but(question_threads=threads)
        embedder = None if spin else SleepingQuestions(load_encoder(None, settings), threads)
        indexes[name] = Index.open(index, embedder=embedder, settings=settings)
    embedder = indexes["1 thread (shipped)"].embedder()
    encoders = {name: OnnxEncoder(embedder.load_path, threads=threads, short_texts=True, spin=spin)
                for name, (threads, spin) in CONFIGS.items()}
    prompt = embedder.prompts.get("query", "")
    result = B.header(False) | {"index": str(index), "queries": len(queries), "rounds": args.rounds}
    for name, idx in indexes.items():
        for q in queries[:20]:
            idx.search(q, k=5)
            encoders[name].encode([q], prompt)
    search_ms: dict[str, list[float]] = {name: [] for name in CONFIGS}
    encode_ms: dict[str, list[float]] = {name: [] for name in CONFIGS}
    names = list(CONFIGS)
    for round_ in range(args.rounds):
        order = names[round_ % len(names):] + names[:round_ % len(names)]
        for q in queries:
            for name in order:
                t = time.perf_counter()
                indexes[name].search(q, k=5)
                search_ms[name].append(time.perf_counter() - t)
                t = time.perf_counter()
                encoders[name].encode([q], prompt)
                encode_ms[name].append(time.perf_counter() - t)
    result["configs"] = {name: {"threads": CONFIGS[name][0], "spin": CONFIGS[name][1],
                                "search_ms": B.summary_ms(search_ms[name]), "encode_ms": B.summary_ms(encode_ms[name])}
                         for name in CONFIGS}
    base = result["configs"]["1 thread (shipped)"]["search_ms"]["p50"]
    for r in result["configs"].values():
        r["search_p50_over_1_thread"] = B.ratio(r["search_ms"]["p50"], base, 3)
    result["load_end"] = B.load()
    result["uptime_end"] = B.uptime_line()
    B.write_result("question_threads", result)
    for name, r in result["configs"].items():
        print(f"question_threads: {name}: search p50 {r['search_ms']['p50']} p95 {r['search_ms']['p95']} ms "
              f"(×{r['search_p50_over_1_thread']}), encode p50 {r['encode_ms']['p50']} ms", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
