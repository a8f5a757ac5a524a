"""Build the external benchmarks: real headings of Chinese documentation that Debian ships, as queries.

    .venv/bin/python bench/external_build.py [--update-packages] [--lohelp-pages N] [--seed S]

1. Fetches the packages below with ``apt-get download`` (as pinned in ``bench/external/packages.json``: name,
   version, file name, sha256; ``--update-packages`` takes the versions the archive has now and rewrites it) and
   extracts them with ``dpkg-deb -x`` into ``bench/.cache/external/packages/`` (git-ignored).
2. Writes one corpus per package, ``bench/.cache/external/corpora/<corpus>/``: the package's HTML pages with
   their file layout (relative to the documentation's folder), each page as shipped except that the headings
   used as queries are removed: the heading element itself (left as an empty ``<div>`` holding its anchors), the
   page's ``<title>`` when its page title is a query, and every link that points at that section and whose text
   is the heading and all the text of its line (entries of tables of contents and "related topics" lists; a
   link within a sentence stays). Pages are re-serialised by BeautifulSoup: markup may
   differ, text does not. The PDF and plain-text renderings of the same book are left out (duplicates).
   LibreOffice help (2,561 pages) is a seeded random sample of ``--lohelp-pages`` pages present in both
   languages, each page whole.
3. Writes the query sets, ``bench/external/<set>.jsonl``, one ``{"id", "q", "relevant": ["path:first-last"]}``
   per line (lines of the text semsearch reads, ``read_document``, 1-based, inclusive), and
   ``bench/external/manifest.json`` (sets, corpora, sample, counts).

Queries and their sections:

* DocBook books (Debian Reference, Debian New Maintainers' Guide): every ``div.section`` title; the relevant
  passage is the whole section (its subsections included). Chapter titles (a whole file) are not used.
* LibreOffice help: each page's ``<h1>`` (the relevant passage: the rest of the page) and its subheadings
  (up to the next heading of the same or a higher level).
* A heading is kept when it has a Han character, at least 4 characters, its text (numbering such as "1.2.3."
  stripped) is unique among the set's headings, and its section has at least 30 characters of text.
* ``X-tw-cn`` sets: the Traditional headings (``X-tw``) over the Simplified corpus (``X-cn``), matched by
  section id (file name without language + anchor; the twins share the DocBook or help-source structure), for
  sections kept in both.

Each section's span is found by placing marker paragraphs around it in the page, extracting the page's text
with semsearch's own ``html_text`` and reading the markers' line numbers; the text without the markers is
checked to be exactly what ``read_document`` reads from the written page.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from posixpath import dirname, normpath

from bs4 import BeautifulSoup

from semsearch.ingest.documents import _BLOCK_HTML, html_text, read_document

import benchlib as B

HERE = B.BENCH / "external"

CACHE = B.CACHE / "external"
PACKAGES_JSON = HERE / "packages.json"
MANIFEST = HERE / "manifest.json"

# package -> (documentation folder inside the package, page layout)
PACKAGES = {
    "debian-reference-zh-cn": ("usr/share/debian-reference", "docbook"),
    "debian-reference-zh-tw": ("usr/share/debian-reference", "docbook"),
    "maint-guide-zh-cn": ("usr/share/doc/maint-guide-zh-cn/html", "docbook"),
    "maint-guide-zh-tw": ("usr/share/doc/maint-guide-zh-tw/html", "docbook"),
    "libreoffice-help-zh-cn": ("usr/share/libreoffice/help/zh-CN", "lohelp"),
    "libreoffice-help-zh-tw": ("usr/share/libreoffice/help/zh-TW", "lohelp"),
}
# twin corpora: (name, Simplified package, Traditional package)
TWINS = [("debref", "debian-reference-zh-cn", "debian-reference-zh-tw"),
         ("maint", "maint-guide-zh-cn", "maint-guide-zh-tw"),
         ("lohelp", "libreoffice-help-zh-cn", "libreoffice-help-zh-tw")]
LOHELP_PAGES = 400
MIN_HEADING_CHARS = 4
MIN_SECTION_CHARS = 30
_HEADING = re.compile(r"^h[1-6]$")
_NUMBERING = re.compile(r"^(?:[A-Z]|\d+)(?:\.\d+)*\.\s+")  # "1.2.3. ", "A.1. "
_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_LANG_IN_NAME = re.compile(r"\.zh-(?:cn|tw)(?=\.html?$)")
_MARK = "\ue000"
_BLOCKS = _BLOCK_HTML  # what html_text puts on lines of their own


# ---------------------------------------------------------------- packages

def run(cmd: list[str], cwd: Path | None = None) -> str:
    return subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True).stdout


def fetch_packages(update: bool) -> dict[str, dict]:
    """Download (pinned unless ``update``), check sha256, extract; returns the package records."""
    pinned = {} if update or not PACKAGES_JSON.is_file() else {
        p["name"]: p for p in json.loads(PACKAGES_JSON.read_text(encoding="utf-8"))["packages"]}
    debs = CACHE / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    records = {}
    for name in PACKAGES:
        want = pinned.get(name)
        spec = f"{name}={want['version']}" if want else name
        before = set(debs.glob(f"{name}_*.deb"))
        deb = next((p for p in before if want and p.name == want["filename"]), None)
        if deb is None:
            try:
                run(["apt-get", "download", spec], cwd=debs)
            except subprocess.CalledProcessError as exc:
                sys.exit(f"build.py: apt-get download {spec} failed ({exc.stderr.strip()}); run 'apt-get update', "
                         f"or --update-packages to take the archive's current versions")
            deb = max(debs.glob(f"{name}_*.deb"), key=lambda p: p.stat().st_mtime)
        sha = hashlib.sha256(deb.read_bytes()).hexdigest()
        version = run(["dpkg-deb", "-f", str(deb), "Version"]).strip()
        archive = re.search(r"^SHA256: (\w+)", run(["apt-cache", "show", f"{name}={version}"]), re.M)
        if want and (sha != want["sha256"] or version != want["version"]):
            sys.exit(f"build.py: {deb.name} is {version} sha256 {sha}, packages.json pins {want['version']} "
                     f"{want['sha256']}")
        if archive and archive.group(1) != sha:
            sys.exit(f"build.py: {deb.name}: sha256 {sha} differs from the archive's {archive.group(1)}")
        records[name] = {"name": name, "version": version, "filename": deb.name, "sha256": sha,
                         "size": deb.stat().st_size, "docs": PACKAGES[name][0]}
        target = CACHE / "packages" / name
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        run(["dpkg-deb", "-x", str(deb), str(target)])
    release = dict(line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line)
    PACKAGES_JSON.write_text(json.dumps({
        "source": f"Debian {release.get('VERSION_ID', '?').strip(chr(34))} "
                  f"({release.get('VERSION_CODENAME', '?')}), main, fetched with apt-get download",
        "packages": list(records.values())}, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return records


# ---------------------------------------------------------------- pages and sections

def heading_text(tag) -> str:
    return _NUMBERING.sub("", " ".join(tag.get_text().split()))


def page_key(path: str) -> str:
    """A page's name without its language, shared by the twins: ``ch01.zh-cn.html`` -> ``ch01.html``."""
    return _LANG_IN_NAME.sub("", path)


@dataclass
class Section:
    key: str        # "<page key>#<anchor>": the same section in both twins
    path: str
    level: int
    text: str       # the heading, numbering stripped
    anchors: set = field(default_factory=set)   # fragments that point at it ("" = the page itself)


@dataclass
class Page:
    path: str       # relative to the documentation folder
    raw: bytes


def parse(raw: bytes) -> BeautifulSoup:
    return BeautifulSoup(raw, "html.parser")


def headings(kind: str, soup: BeautifulSoup) -> list:
    """Every heading element of the page's text (for the uniqueness count)."""
    scope = soup.find(id="DisplayArea") if kind == "lohelp" else soup
    return scope.find_all(_HEADING) if scope else []


def section_of(kind: str, tag, path: str) -> Section | None:
    """The section a heading element heads, or None (chapter titles, headings outside sections)."""
    level = int(tag.name[1])
    if kind == "docbook":
        if tag.find_parent("div", class_="titlepage") is None or tag.find_parent("div", class_="section") is None:
            return None
        ids = [a["id"] for a in tag.find_all("a", id=True)] + [tag.find_parent("div", class_="section").get("id")]
        ids = [i for i in ids if i]
        if not ids:
            return None
        return Section(f"{page_key(path)}#{ids[0]}", path, level, heading_text(tag), set(ids))
    if not tag.get("id"):
        return None
    anchors = {tag["id"]} | ({""} if level == 1 else set())
    return Section(f"{page_key(path)}#{tag['id']}", path, level, heading_text(tag), anchors)


def link_target(kind: str, page: str, href: str) -> tuple[str, str] | None:
    """(page path, fragment) that a link of ``page`` points at, relative to the documentation folder."""
    if not href or re.match(r"^[a-z]+:", href):
        return None
    target, _, frag = href.partition("#")
    if not target:
        return page, frag
    if kind == "lohelp":  # <base href> is the help root: "zh-CN/text/..."
        return re.sub(r"^zh-(CN|TW)/", "", target), frag
    return normpath(f"{dirname(page)}/{target}" if dirname(page) else target), frag


def page_sections(kind: str, page: Page) -> list[Section]:
    return [s for s in (section_of(kind, h, page.path) for h in headings(kind, parse(page.raw))) if s]


def block_of(tag):
    """The nearest block element around ``tag`` (html_text puts each on a line of its own)."""
    return next((p for p in tag.parents if p.name in _BLOCKS), tag)


def rewrite(kind: str, page: Page, kept: dict[str, Section], targets: dict[tuple[str, str], Section]):
    """The page with ``kept`` sections' headings (and links repeating them) removed, and each kept section's
    line span in the text semsearch reads from it: (html, {key: (first line, last line, chars)})."""
    soup = parse(page.raw)
    marks = []
    for tag in headings(kind, soup):
        sec = section_of(kind, tag, page.path)
        if sec is None or sec.key not in kept:
            continue
        start, end = soup.new_tag("p"), soup.new_tag("p")
        start.string, end.string = f"{_MARK}S{len(marks)}", f"{_MARK}E{len(marks)}"
        marks.append(sec.key)
        if kind == "docbook":
            div = tag.find_parent("div", class_="section")
            div.insert_before(start)
            div.insert_after(end)
        else:
            area = soup.find(id="DisplayArea")
            nxt = next((h for h in tag.find_all_next(_HEADING) if int(h.name[1]) <= sec.level
                        and area in h.parents), None)
            nxt.insert_before(end) if nxt is not None else area.append(end)
            tag.insert_before(start)
            if sec.level == 1 and soup.title is not None:
                soup.title.decompose()
        holder = soup.new_tag("div")  # a block, as the heading was: the lines around it stay apart
        for anchor in sorted(a for a in sec.anchors if a):
            holder.append(soup.new_tag("a", attrs={"id": anchor}))
        tag.replace_with(holder)
    for a in soup.find_all("a", href=True):
        target = link_target(kind, page.path, a["href"])
        sec = targets.get(target) if target else None
        if sec is not None and heading_text(a) == sec.text == heading_text(block_of(a)):
            a.decompose()  # an entry of a list of sections; a link within a sentence stays
    marked = html_text(str(soup).encode("utf-8")).splitlines()
    for p in soup.find_all("p"):
        if p.string and p.string.startswith(_MARK):
            p.decompose()
    lines, spans, first = [], {}, {}
    for line in marked:
        if line.startswith(_MARK):
            which, n = line[1], int(line[2:])
            if which == "S":
                first[n] = len(lines) + 1
            else:
                body = lines[first[n] - 1:]
                spans[marks[n]] = (first[n], len(lines), len("".join(body)))
        else:
            lines.append(line)
    return str(soup), spans, lines


def keep_heading(text: str, counts: Counter) -> bool:
    return bool(_HAN.search(text)) and len(text) >= MIN_HEADING_CHARS and counts[text] == 1


def build_corpus(name: str, kind: str, pages: list[Page]) -> tuple[dict[str, Section], dict]:
    """Write corpora/<name>/ and return its kept sections and their spans {key: "path:a-b"}."""
    counts = Counter(heading_text(h) for p in pages for h in headings(kind, parse(p.raw)))
    candidates = {s.key: s for p in pages for s in page_sections(kind, p) if keep_heading(s.text, counts)}

    def targets_of(sections):
        return {(s.path, a): s for s in sections.values() for a in s.anchors}

    # Pass 1 removes every candidate heading: the sections' text can only grow when fewer are removed.
    long_enough = {}
    for p in pages:
        _, spans, _ = rewrite(kind, p, candidates, targets_of(candidates))
        long_enough.update({k: v for k, v in spans.items() if v[2] >= MIN_SECTION_CHARS})
    kept = {k: s for k, s in candidates.items() if k in long_enough}
    root = CACHE / "corpora" / name
    shutil.rmtree(root, ignore_errors=True)
    relevant = {}
    for p in pages:
        html, spans, lines = rewrite(kind, p, kept, targets_of(kept))
        out = root / p.path
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(html, encoding="utf-8")
        seen = read_document(root, out).text.splitlines()
        if seen != lines:
            sys.exit(f"build.py: {name}/{p.path}: the text read back differs from the marked text")
        for key, (a, b, chars) in spans.items():
            assert chars >= MIN_SECTION_CHARS, (key, chars)
            relevant[key] = f"{p.path}:{a}-{b}"
    return kept, relevant


def load_pages(package: str, sample: list[str] | None = None) -> list[Page]:
    folder = CACHE / "packages" / package / PACKAGES[package][0]
    paths = sample if sample is not None else sorted(
        p.relative_to(folder).as_posix() for p in folder.rglob("*.html"))
    return [Page(path, (folder / path).read_bytes()) for path in paths]


def lohelp_sample(n: int, seed: int) -> tuple[dict[str, list[str]], int]:
    """The same ``n`` help pages (under text/) in both languages, a seeded random sample; and how many there are."""
    folders = {pkg: CACHE / "packages" / pkg / PACKAGES[pkg][0] for pkg in PACKAGES if PACKAGES[pkg][1] == "lohelp"}
    common = sorted(set.intersection(*({p.relative_to(f).as_posix() for p in (f / "text").rglob("*.html")}
                                       for f in folders.values())))
    chosen = sorted(random.Random(f"external-lohelp:{seed}").sample(common, n))
    return {pkg: chosen for pkg in folders}, len(common)


def write_set(name: str, rows: list[dict]) -> None:
    (HERE / f"{name}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                        encoding="utf-8")


def converted_twin(twin: str, rows: list[dict]) -> list[dict]:
    """The controlled twin: the Simplified corpus and its titles converted to Taiwan Traditional by OpenCC
    ``s2twp`` (characters and Taiwan phrases: 软件 -> 軟體), so the same sections are asked in both scripts with
    no difference of translation. Writes corpora/<twin>-s2twp/ and the sets <twin>-s2twp (over it) and
    <twin>-s2twp-cn (over the Simplified corpus); a page whose converted text has other line breaks (so other
    section lines) loses its queries."""
    import opencc

    convert = opencc.OpenCC("s2twp").convert
    source, root = CACHE / "corpora" / f"{twin}-cn", CACHE / "corpora" / f"{twin}-s2twp"
    shutil.rmtree(root, ignore_errors=True)
    same_lines = set()
    for path in sorted(source.rglob("*")):
        if not path.is_file():
            continue
        target = root / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(convert(path.read_text(encoding="utf-8")), encoding="utf-8")
        rel = path.relative_to(source).as_posix()
        if read_document(source, path).text.count("\n") == read_document(root, target).text.count("\n"):
            same_lines.add(rel)
    rows = [{**row, "q": convert(row["q"])} for row in rows if row["relevant"][0].rsplit(":", 1)[0] in same_lines]
    write_set(f"{twin}-s2twp", rows)
    write_set(f"{twin}-s2twp-cn", rows)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--update-packages", action="store_true", help="take the archive's current versions")
    ap.add_argument("--lohelp-pages", type=int, default=LOHELP_PAGES, help="LibreOffice help pages sampled")
    ap.add_argument("--seed", type=int, default=0, help="seed of the LibreOffice help sample")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    packages = fetch_packages(args.update_packages)
    samples, lohelp_total = lohelp_sample(args.lohelp_pages, args.seed)
    manifest = {"built": time.strftime("%Y-%m-%d %H:%M:%S %z"), "cache": "bench/.cache/external",
                "rules": {"min_heading_chars": MIN_HEADING_CHARS, "min_section_chars": MIN_SECTION_CHARS,
                          "heading_needs_han": True, "heading_unique_in_set": True},
                "lohelp_sample": {"pages": args.lohelp_pages, "of": lohelp_total, "seed": args.seed,
                                  "how": "random.Random(f'external-lohelp:{seed}').sample(sorted pages under "
                                         "text/ present in both languages, n)"},
                "corpora": {}, "sets": {}}
    for twin, cn, tw in TWINS:
        kind = PACKAGES[cn][1]
        built = {}
        for lang, pkg in (("cn", cn), ("tw", tw)):
            pages = load_pages(pkg, samples.get(pkg))
            kept, relevant = build_corpus(f"{twin}-{lang}", kind, pages)
            built[lang] = (kept, relevant)
            manifest["corpora"][f"{twin}-{lang}"] = {"package": pkg, "version": packages[pkg]["version"],
                                                      "pages": len(pages), "kind": kind}
            rows = [{"id": k, "q": s.text, "relevant": [relevant[k]]} for k, s in kept.items()]
            write_set(f"{twin}-{lang}", rows)
            manifest["sets"][f"{twin}-{lang}"] = {"corpus": f"{twin}-{lang}", "queries": len(rows),
                                                  "script": "Simplified" if lang == "cn" else "Traditional",
                                                  "text": "Simplified" if lang == "cn" else "Traditional"}
            print(f"{twin}-{lang}: {len(pages)} pages, {len(rows)} queries", file=sys.stderr)
        (cn_kept, cn_relevant), (tw_kept, _) = built["cn"], built["tw"]
        rows = [{"id": k, "q": s.text, "relevant": [cn_relevant[k]]} for k, s in tw_kept.items() if k in cn_kept]
        write_set(f"{twin}-tw-cn", rows)
        manifest["sets"][f"{twin}-tw-cn"] = {"corpus": f"{twin}-cn", "queries": len(rows),
                                             "script": "Traditional", "text": "Simplified"}
        print(f"{twin}-tw-cn: {len(rows)} queries", file=sys.stderr)
        rows = converted_twin(twin, [{"id": k, "q": s.text, "relevant": [cn_relevant[k]]} for k, s in cn_kept.items()])
        manifest["corpora"][f"{twin}-s2twp"] = {**manifest["corpora"][f"{twin}-cn"], "converted": "OpenCC s2twp"}
        manifest["sets"][f"{twin}-s2twp"] = {"corpus": f"{twin}-s2twp", "queries": len(rows),
                                             "script": "Traditional (s2twp)", "text": "Traditional (s2twp)"}
        manifest["sets"][f"{twin}-s2twp-cn"] = {"corpus": f"{twin}-cn", "queries": len(rows),
                                                "script": "Traditional (s2twp)", "text": "Simplified"}
        print(f"{twin}-s2twp, {twin}-s2twp-cn: {len(rows)} queries", file=sys.stderr)
    MANIFEST.write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"built in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
