"""The alternatives to two of this project's choices, on every question set: what was measured before choosing.

    .venv/bin/python bench/variants.py      # needs the index bench/quality.py builds (run it first)

1. How the first five hits are reordered (rerank.py): not at all, as shipped (each hit's fused score
   plus 10 × its best sentence's margin), or by the best sentence alone.
2. What an English question is embedded as (search.query_text_for_embedding): the question alone,
   as shipped (plus the corpus's most used translation of each word), plus two translations per word,
   plus every translation kept for the keyword search.

Hybrid hit@1 / hit@5 / MRR@10 per set, and the number of first places over all answerable questions.
Writes bench/results/variants.json and bench/results/variants.md.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import quality as Q  # noqa: E402
from semsearch import Index  # noqa: E402
from semsearch.retrieval import rerank as R  # noqa: E402
from semsearch.retrieval import search as S  # noqa: E402
from semsearch.evaluate import metrics  # noqa: E402
from semsearch.analysis.translate import translations, translations_by_word  # noqa: E402

SETS = ("dev", "seeds", "english", "reworded")


def _embedding_text(per_word: int | None):
    """A stand-in for query_text_for_embedding: ``per_word`` translations per English word (None: all of them)."""
    def text(folded, document_counts, english=None):
        if not S.embeds_translations(folded):
            return folded
        if per_word is None:
            found = translations(folded, document_counts)
        else:
            english = english if english is not None else translations_by_word(folded, document_counts)
            found = [t for terms in english.values() for t in terms[:per_word]]
        return f"{folded} {' '.join(dict.fromkeys(found))}" if found else folded
    return text


def figures(index: Index, sets: dict[str, list[dict]]) -> dict:
    out, firsts, total = {}, 0, 0
    for name in SETS:
        ranks = Q.run(index, sets[name], "hybrid")
        m = metrics(list(ranks.values()))
        out[name] = {k: round(m[k], 3) for k in ("hit@1", "hit@5", "mrr@10")}
        firsts += sum(r == 1 for r in ranks.values())
        total += len(ranks)
    out["first_places"] = f"{firsts}/{total}"
    return out


def main() -> int:
    index_dir = REPO / "bench" / ".cache" / "quality-index"
    if not index_dir.is_dir():
        print("variants: run bench/quality.py first (it builds the index)", file=sys.stderr)
        return 2
    index = Index(index_dir)
    sets = {name: Q.load(Q.QUESTION_SETS[name]) for name in SETS}
    shipped_weight, shipped_text = R.SENTENCE_WEIGHT, S.query_text_for_embedding
    results = {"date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "reranking": {}, "english_query_text": {}}
    try:
        for label, setup in (("none", lambda: setattr(S, "RERANK", False)),
                             ("as shipped: fused + 10 x sentence margin", lambda: None),
                             ("best sentence alone", lambda: setattr(R, "SENTENCE_WEIGHT", 1e9))):
            S.RERANK, R.SENTENCE_WEIGHT = True, shipped_weight
            setup()
            results["reranking"][label] = figures(index, sets)
        S.RERANK, R.SENTENCE_WEIGHT = True, shipped_weight
        for label, text in (("question alone", None), ("as shipped: + 1 translation per word", 1),
                            ("+ 2 translations per word", 2), ("+ every keyword translation", "all")):
            S.EMBED_TRANSLATIONS = text is not None
            S.query_text_for_embedding = shipped_text if text in (None, 1) else _embedding_text(
                None if text == "all" else text)
            results["english_query_text"][label] = figures(index, sets)
    finally:
        S.RERANK, R.SENTENCE_WEIGHT = True, shipped_weight
        S.EMBED_TRANSLATIONS, S.query_text_for_embedding = True, shipped_text
    out = REPO / "bench" / "results"
    (out / "variants.json").write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    lines = [f"# Variants of two choices ({results['date']}; hybrid hit@1 / hit@5 / MRR@10; bench/variants.py)", ""]
    for part, title in (("reranking", "Reordering the first five (rerank.py)"),
                        ("english_query_text", "What an English question is embedded as")):
        lines += [f"## {title}", "", "| variant | " + " | ".join(SETS) + " | first places |",
                  "|---" * (len(SETS) + 2) + "|"]
        for label, f in results[part].items():
            cells = [f"{f[s]['hit@1']:.3f} / {f[s]['hit@5']:.3f} / {f[s]['mrr@10']:.3f}" for s in SETS]
            lines.append(f"| {label} | " + " | ".join(cells) + f" | {f['first_places']} |")
        lines.append("")
    (out / "variants.md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
