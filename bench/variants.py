"""The alternatives to two of this project's choices, on every question set: what was measured before choosing.

    .venv/bin/python bench/variants.py      # needs the index bench/quality.py builds (run it first)

Each variant is a ``Settings`` (``Index.open(path, settings=DEFAULTS.but(...))``):

1. How the first five hits are reordered (retrieval/rerank.py): not at all (``rerank=False``), as shipped
   (each hit's fused score plus ``sentence_weight`` = 10 × its best sentence's margin), or by the best
   sentence alone (``sentence_weight=1e9``).
2. What an English question is embedded as (retrieval/dense.py, ``query_text_for_embedding``): the question
   alone (``embed_translations=False``), or as shipped (plus the corpus's most used translation of each word).

Hybrid hit@1 / hit@5 / MRR@10 per set, and the number of first places over all answerable questions.
Writes bench/results/variants.json and bench/results/variants.md.
"""

from __future__ import annotations

import sys

import benchlib as B
import quality as Q

from semsearch import DEFAULTS, Index, Settings
from semsearch.evaluate import metrics

SETS = ("dev", "seeds", "english", "reworded")
VARIANTS = {
    "reranking": {
        "none": DEFAULTS.but(rerank=False),
        "as shipped: fused + 10 x sentence margin": DEFAULTS,
        "best sentence alone": DEFAULTS.but(sentence_weight=1e9),
    },
    "english_query_text": {
        "question alone": DEFAULTS.but(embed_translations=False),
        "as shipped: + 1 translation per word": DEFAULTS,
    },
}
# Measured before Settings existed, by replacing query_text_for_embedding: no Settings field chooses how many
# translations per word the question is embedded with, so these are not measured here.
LEFT_OUT = ("+ 2 translations per word", "+ every keyword translation")


def figures(settings: Settings, sets: dict[str, list[dict]]) -> dict:
    index = Index.open(Q.INDEX, settings=settings)
    out, firsts, total = {}, 0, 0
    for name in SETS:
        ranks = Q.run(index, sets[name], "hybrid")
        m = metrics(list(ranks.values()))
        out[name] = {k: round(m[k], 3) for k in ("hit@1", "hit@5", "mrr@10")}
        firsts += sum(r == 1 for r in ranks.values())
        total += len(ranks)
    index.close()
    out["first_places"] = f"{firsts}/{total}"
    return out


def main() -> int:
    if not Q.INDEX.is_dir():
        print("variants: run bench/quality.py first (it builds the index)", file=sys.stderr)
        return 2
    sets = {name: B.load_questions(name) for name in SETS}
    results = B.header(False) | {part: {label: figures(settings, sets) for label, settings in variants.items()}
                                 for part, variants in VARIANTS.items()}
    results["left_out"] = list(LEFT_OUT)
    results["load_end"] = B.load()
    lines = [f"# Variants of two choices ({results['date']}; hybrid hit@1 / hit@5 / MRR@10; bench/variants.py)", ""]
    for part, title in (("reranking", "Reordering the first five (retrieval/rerank.py)"),
                        ("english_query_text", "What an English question is embedded as")):
        lines += [f"## {title}", "", "| variant | " + " | ".join(SETS) + " | first places |",
                  "|---" * (len(SETS) + 2) + "|"]
        for label, f in results[part].items():
            cells = [f"{f[s]['hit@1']:.3f} / {f[s]['hit@5']:.3f} / {f[s]['mrr@10']:.3f}" for s in SETS]
            lines.append(f"| {label} | " + " | ".join(cells) + f" | {f['first_places']} |")
        lines.append("")
    lines.append(f"Not measured since the variants became `Settings`: {', '.join(LEFT_OUT)} (no setting chooses "
                 "how many translations per word an English question is embedded with).")
    B.write_result("variants", results, lines)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
