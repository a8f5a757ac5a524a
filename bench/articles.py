"""Names scoped to the article (as shipped) or to the file: hybrid quality per question set.

    .venv/bin/python bench/articles.py [--out bench/results]

One seed file (002) is a compilation: four articles (Gansu, Wuhan, Xi'an, Shenzhen), each closed
by a byline on a line of its own, "(甘肃省政协机关)". A passage inherits the names of its article
(store.chunk_articles / article_names; chunk.closes_article finds the bylines); an index built
before articles inherits those of its whole file, so a Gansu question lifted the Shenzhen passages
too. This builds one index of the seeds, copies it, turns the copy into an index from before
articles (names per file, in document_names; the article tables dropped), and reports hybrid hit@1 / hit@5 /
MRR@10 of both and the questions whose rank differs.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import tempfile
from pathlib import Path

import benchlib as B
from quality import run

from semsearch import Index, store
from semsearch.evaluate import metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=B.RESULTS)
    args = parser.parse_args()
    results: dict = B.header(False) | {"sets": {}, "changed": []}
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        Index.open(scratch / "articles").reindex([B.CORPORA["seeds"]])
        shutil.copytree(scratch / "articles", scratch / "files")
        with sqlite3.connect(store.live_generation(scratch / "files") / store.DB_FILE) as db:
            # Names per file, as an index from before articles holds them (the schema before articles).
            db.execute("CREATE TABLE document_names (name TEXT NOT NULL, doc_id INTEGER NOT NULL, "
                       "PRIMARY KEY (name, doc_id)) WITHOUT ROWID")
            db.execute("INSERT INTO document_names SELECT DISTINCT n.name, c.doc_id FROM article_names n "
                       "JOIN chunk_articles a ON a.article = n.article JOIN chunks c ON c.id = a.chunk_id")
            db.execute("DROP TABLE chunk_articles")
            db.execute("DROP TABLE article_names")
        indexes = {name: Index.open(scratch / name) for name in ("articles", "files")}
        gen = indexes["articles"]._generation()
        results["articles"] = gen.name_scope_count()
        results["documents"] = gen.document_count()
        for set_name in B.QUESTION_SETS:
            if B.CORPUS_OF.get(set_name, "seeds") != "seeds":
                continue  # asked about bench/corpora/english, which has no compilation of articles
            questions = [q for q in B.load_questions(set_name) if q["gold"]]
            if not questions:
                continue
            ranks = {name: run(index, questions, "hybrid") for name, index in indexes.items()}
            results["sets"][set_name] = {name: {k: round(v, 3) for k, v in metrics(list(r.values())).items()}
                                         for name, r in ranks.items()} | {"n": len(questions)}
            results["changed"] += [{"set": set_name, "id": q["id"], "files": ranks["files"][q["id"]],
                                    "articles": ranks["articles"][q["id"]]}
                                   for q in questions if ranks["files"][q["id"]] != ranks["articles"][q["id"]]]
        for index in indexes.values():
            index.close()
    results["load_end"] = B.load()
    lines = [f"# Names scoped to the article or to the file ({results['date']}; bench/articles.py)", "",
             f"The seeds: {results['documents']} files, {results['articles']} articles.", "",
             "| set | n | hybrid hit@1 / hit@5 / MRR@10, names per file | the same, per article (shipped) |",
             "|---|---|---|---|"]
    for set_name, entry in results["sets"].items():
        cells = [" / ".join(f"{entry[name][k]:.3f}" for k in ("hit@1", "hit@5", "mrr@10"))
                 for name in ("files", "articles")]
        lines.append(f"| {set_name} | {entry['n']} | {cells[0]} | {cells[1]} |")
    lines += ["", "Ranks that differ (per file → per article): "
              + (", ".join(f"{c['id']} {c['files']} → {c['articles']}" for c in results["changed"]) or "none")]
    B.write_result("articles", results, lines, args.out)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
