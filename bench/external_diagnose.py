"""Where semsearch's dense ranking differs from the plain one on external sets: one step at a time, same chunks.

    .venv/bin/python bench/external_diagnose.py SET [SET ...] [--examples N]

Needs the indexes ``bench/external.py`` leaves in ``bench/.cache/external/index/`` (and the plain vectors it
caches). For every query of each set, the first relevant rank in the top 10 of each variant:

* ``shipped``: ``Index.search(mode="dense")`` (stored vectors, window rescoring, near-duplicates shown once);
* ``windows``: stored vectors rescored by their best sentence window, no de-duplication;
* ``stored``: the stored vectors alone (FAISS order; passages on the graph semsearch picked for this CPU);
* ``float-embedded``: semsearch's float graph on what semsearch embeds (document title, section title, chunk);
* ``float-text``: semsearch's float graph on the chunk's folded text alone (what plain-dense embeds);
* ``plain``: the sentence-transformers vectors of plain-dense (``bench/external.py``'s cache).

Prints hit@10 and MRR@10 per variant, how many queries each step gains and loses, and ``--examples`` queries
that ``plain`` finds and ``shipped`` misses, with the relevant chunk's embedded text and the hits ranked above.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

import external as X

VARIANTS = ["shipped", "windows", "stored", "float-embedded", "float-text", "plain"]


def first_relevant(order, where, relevant) -> int | None:
    for rank, i in enumerate(order[:X.K], start=1):
        path, a, b = where[i]
        if any(path == rp and a <= rb and b >= ra for rp, ra, rb in relevant):
            return rank
    return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sets", nargs="+")
    ap.add_argument("--examples", type=int, default=6)
    args = ap.parse_args(argv)
    import faiss
    from semsearch import DEFAULTS, Index
    from semsearch.ingest.chunk import model_text
    from semsearch.retrieval.dense import with_window_scores
    from semsearch.text.normalize import fold_text

    manifest = json.loads((X.EXTERNAL / "manifest.json").read_text(encoding="utf-8"))
    encoder = X.semsearch_encoder()
    plain = X.PlainDense()
    for name in args.sets:
        corpus = manifest["sets"][name]["corpus"]
        idx = Index.open(X.CACHE / "index" / corpus, embedder=encoder, settings=DEFAULTS)
        gen = idx._generation()
        ids = [r[0] for r in gen.db.execute("SELECT id FROM chunks ORDER BY id")]
        rows = [gen.chunks(ids)[i] for i in ids]
        pos = {cid: n for n, cid in enumerate(ids)}
        where = [(r.path, r.line_start, r.line_end) for r in rows]
        cleaned = [fold_text(r.text) for r in rows]
        digest = hashlib.sha256("\n\0".join(cleaned).encode()).hexdigest()[:16]
        flats = {"plain": np.load(X.CACHE / "plain-vectors" / f"{digest}.npy")}
        flats["float-embedded"] = encoder.encode_passages([model_text(r.embed_text) for r in rows], exact=True)
        flats["float-text"] = encoder.encode_passages(cleaned, exact=True)
        for key, vectors in flats.items():
            flats[key] = faiss.IndexFlatIP(vectors.shape[1])
            flats[key].add(np.ascontiguousarray(vectors, dtype=np.float32))
        table = {v: [] for v in VARIANTS}
        losses = []
        for q in X.load_set(name):
            relevant = [X.parse_relevant(s) for s in q["relevant"]]
            folded = fold_text(q["q"])
            vector = encoder.encode_query(folded)
            scores, found = gen.faiss_index.search(vector.reshape(1, -1), 50)
            stored = [(int(i), float(s)) for i, s in zip(found[0], scores[0]) if i >= 0]
            orders = {"stored": [pos[c] for c, _ in stored],
                      "windows": [pos[c] for c, _ in with_window_scores(gen, vector, stored)]}
            hits = idx.search(q["q"], k=X.K, mode="dense")
            orders["shipped"] = [pos[h.chunk_id] for h in hits]
            for key in ("float-embedded", "float-text"):
                orders[key] = [int(i) for i in flats[key].search(vector.reshape(1, -1), X.K)[1][0]]
            orders["plain"] = [int(i) for i in flats["plain"].search(plain.query(folded), X.K)[1][0]]
            ranks = {v: first_relevant(orders[v], where, relevant) for v in VARIANTS}
            for v in VARIANTS:
                table[v].append(ranks[v])
            if ranks["plain"] and not ranks["shipped"]:
                losses.append((q, ranks, orders))
        n = len(table["shipped"])
        print(f"\n== {name} ({n} queries; corpus {corpus}, {len(rows):,} chunks)")
        print(f"{'variant':16} hit@10  MRR@10")
        for v in VARIANTS:
            hit = sum(r is not None for r in table[v]) / n
            mrr = sum(1 / r for r in table[v] if r) / n
            print(f"{v:16} {hit:.3f}   {mrr:.3f}")
        for a, b in zip(VARIANTS, VARIANTS[1:]):
            gain = sum(1 for x, y in zip(table[a], table[b]) if x and not y)
            loss = sum(1 for x, y in zip(table[a], table[b]) if y and not x)
            print(f"  {b} -> {a}: finds {gain} more, misses {loss} more")
        print(f"plain finds, shipped misses: {len(losses)}")
        for q, ranks, orders in losses[:args.examples]:
            relevant = [X.parse_relevant(s) for s in q["relevant"]]
            print(f"\n  Q {q['q']!r} -> {q['relevant'][0]}  ranks {ranks}")
            inside = [i for i, (p, a, b) in enumerate(where) for rp, ra, rb in relevant if p == rp and a <= rb and b >= ra]
            best = min(inside, key=lambda i: orders["plain"].index(i) if i in orders["plain"] else 99)
            print(f"    relevant chunk ({len(inside)} in the section), embedded as: "
                  f"{rows[best].embed_text[:160]!r}")
            for i in orders["shipped"][:3]:
                print(f"    shipped above: {where[i][0]}:{where[i][1]}-{where[i][2]} {rows[i].embed_text[:100]!r}")
        idx.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
