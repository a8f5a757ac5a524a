"""translate.py: English question words -> the corpus's Chinese terms, via inverted CC-CEDICT."""

from __future__ import annotations

import sqlite3

import pytest

from semsearch.analysis import dictionary, translate
from semsearch.config import DEFAULTS
from semsearch.index import Index
from semsearch.evaluate import is_relevant

LINES = [
    "# a comment line\n",
    "發言 发言 [fa1 yan2] /to make a speech/statement/utterance/CL:個|个[ge4]/\n",
    "講話 讲话 [jiang3 hua4] /a speech/to speak/to talk/\n",
    "提交 提交 [ti2 jiao1] /to submit (a report etc)/to refer (a problem) to sb/\n",
    "次 次 [ci4] /next in sequence/classifier for enumerated events: time/\n",
    "甘肅 甘肃 [Gan1 su4] /Gansu province, abbr. 甘[Gan1]/\n",
    "演說 演说 [yan3 shuo1] /speech/to deliver a speech/\n",
    "假大空 假大空 [jia3 da4 kong1] /empty and insincere speech that is full of clichés and bland assertions/\n",
    "俗語 俗语 [su2 yu3] /see 俗話|俗话[su2 hua4]/\n",
    "河池 河池 [He2 chi2] /Hechi prefecture-level city in Guangxi/Zhuang: Hozciz/\n",
    "南昌 南昌 [Nan2 chang1] /Nanchang, prefecture-level city and capital of Jiangxi province/also Nanchang county/\n",
    "西安 西安 [Xi1 an1] /Xi'an, sub-provincial city and capital of Shaanxi/\n",
    "綠春 绿春 [Lu:4 chun1] /Lüchun county in Yunnan/\n",
    "中國 中国 [Zhong1 guo2] /China/\n",
]


def test_a_gloss_maps_its_stemmed_words_to_the_headword_ranked_by_gloss_length():
    table = dictionary.invert(LINES)
    assert dict(map(tuple, table["speech"])) == {"讲话": 1, "演说": 1, "发言": 2}
    assert dict(map(tuple, table["submit"])) == {"提交": 1}  # "(a report etc)" is dropped, not a word
    assert table["china"] == [["中国", 1]]  # a proper noun whose gloss is a translation, not its own pinyin


def test_a_proper_noun_glossed_with_its_own_pinyin_is_a_name_and_its_description_translates_nothing():
    assert dictionary.names(LINES) == {"gansu": ["甘肃"], "hechi": ["河池"], "nanchang": ["南昌"], "xian": ["西安"],
                                      "luchun": ["绿春"]}
    table = dictionary.invert(LINES)
    stem = dictionary.stemmer()
    described = {stem(w) for w in ("province", "city", "county", "capital", "guangxi", "gansu", "hechi")}
    assert described == {"provinc", "citi", "counti", "capit", "guangxi", "gansu", "hechi"}
    assert not described & set(table)  # "county" must not find 南昌 ("also Nanchang county")
    assert dictionary.own_name("He2 chi2", "Hechi prefecture-level city") == "hechi"
    assert dictionary.own_name("he2 chi2", "Hechi prefecture-level city") is None  # lower-case pinyin: no proper noun


def test_a_capitalised_place_name_is_searched_as_that_place_and_the_words_containing_it():
    in_corpus = {"四川": 3, "花椒": 9, "甘肃": 12, "甘肃省": 4, "政协": 40, "嫦娥": 1, "改变": 6, "变化": 2}
    counts = lambda ts: {t: in_corpus.get(t, 0) for t in ts}  # noqa: E731
    by_word = translate.translations_by_word("Who chairs the CPPCC of Sichuan and Gansu's?", counts)
    assert by_word["sichuan"] == ["四川"]  # not the corpus's commoner 花椒, "Sichuan pepper"
    assert by_word["gansu's"] == ["甘肃", "甘肃省"]
    assert by_word["cppcc"] == ["政协"]
    in_corpus["西安"] = 5
    assert translate.translations_by_word("What did Xi’an’s CPPCC cut?", counts)["xi'an's"] == ["西安"]  # typographic ’
    # A lower-case English word that merely spells a name (Chang'e) keeps its translations.
    assert "嫦娥" not in translate.translations_by_word("what did the change bring", counts)["change"]


def test_single_characters_long_glosses_and_cross_references_give_no_translation():
    table = dictionary.invert(LINES)
    assert all(head != "次" for heads in table.values() for head, _ in heads)  # not a keyword term
    assert all(head != "假大空" for heads in table.values() for head, _ in heads)  # gloss of > 3 words
    assert all(head != "俗语" for heads in table.values() for head, _ in heads)  # "see ..." only
    assert "to" not in table and "a" not in table  # function words are not keys


def test_translations_keep_only_terms_the_index_contains_best_rank_first():
    in_corpus = {"发言": 5, "提交": 9, "讲话": 0}
    terms = translate.translations("how many speeches did members submit",
                                   lambda ts: {t: in_corpus.get(t, 0) for t in ts})
    assert "发言" in terms and "提交" in terms
    assert "讲话" not in terms  # a dictionary sense the corpus never uses
    assert translate.translations("如何建设委员工作站", lambda ts: dict.fromkeys(ts, 1)) == []


def test_translations_are_capped_per_english_word():
    terms = translate.translations("time", lambda ts: dict.fromkeys(ts, 1))
    assert 0 < len(terms) <= DEFAULTS.translations_per_word


def test_the_inverted_table_is_built_once_and_rebuilt_when_stale(tmp_path):
    path = tmp_path / "table.sqlite"
    dictionary.build_table(path)
    built = path.stat().st_mtime_ns
    assert dictionary.build_table(path).stat().st_mtime_ns == built  # a matching stamp: reused
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = 'old' WHERE key = 'stamp'")
    dictionary.build_table(path)
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM meta").fetchone()[0] != "old"
        assert db.execute("SELECT count(*) FROM glosses WHERE word = 'speech'").fetchone()[0] > 5


@pytest.mark.slow
def test_an_english_question_gets_keyword_hits_from_translated_terms(real_index):
    question = "During this year's provincial two sessions, how many speeches did sector-group members in Gansu submit?"
    gold = "组织界别委员提交发言78篇"
    def rank_of_gold(settings=DEFAULTS) -> int | None:
        hits = Index.open(real_index, settings=settings).search(question, k=10, mode="keyword")
        return next((h.rank for h in hits if is_relevant(h.text, (gold,))), None)

    with_translation = rank_of_gold()
    without = rank_of_gold(DEFAULTS.but(translate=False))
    assert with_translation is not None and with_translation <= 3
    assert without is None or without > with_translation


@pytest.mark.slow
def test_place_names_in_an_english_question_are_searched_as_the_places_of_the_real_index(real_index):
    index = Index.open(real_index)
    terms = index.translations("Who is the chairman of the Linshui County CPPCC in Sichuan?")
    assert {"邻水", "四川", "主席", "政协"} <= set(terms)
    assert "花椒" not in terms and "南昌" not in terms  # "Sichuan pepper", "also Nanchang county"
    assert {"河池", "武汉", "西安"} <= set(index.translations("Hechi, Wuhan and Xi'an's CPPCC"))


def test_translated_terms_are_highlighted_in_the_source_text_across_scripts():
    from semsearch.interfaces.highlight import term_spans

    passage = "組織界別委員提交發言78篇。"
    spans = term_spans(passage, "How many speeches were submitted?", ("提交", "发言"))
    assert [passage[a:b] for a, b in spans] == ["提交發言"]
    assert term_spans(passage, "How many speeches were submitted?") == []


def test_single_character_entries_give_each_syllable_its_characters():
    read_as = dictionary.readings(LINES + ["女 女 [nu:3] /female/woman/\n", "猛 猛 [meng3] /fierce/\n"])
    assert read_as["ci"] == ["次"] and read_as["nv"] == ["女"] and read_as["meng"] == ["猛"]
    assert "fayan" not in read_as  # two-character words are not readings of a syllable


def test_a_word_is_split_into_every_sequence_of_two_or_three_syllables():
    syllables = {"xi", "an", "xian", "san", "meng", "sa"}
    assert sorted(translate._syllable_splits("xian", syllables)) == [["xi", "an"], ["xian"]]
    assert translate._syllable_splits("sanmeng", syllables) == [["san", "meng"]]
    assert translate._syllable_splits("python", syllables) == []


def test_a_capitalised_name_the_index_lacks_as_pinyin_is_read_as_the_characters_it_holds():
    in_corpus = {"三猛": 2, "资金": 5}
    counts = lambda ts: {t: in_corpus.get(t, 0) for t in ts}  # noqa: E731
    by_word = translate.translations_by_word("How much funding went to Sanmeng township?", counts)
    assert by_word["sanmeng"] == ["三猛"] and by_word["funding"] == ["资金"]
    assert translate.translations_by_word("how much funding went to sanmeng township?", counts)["sanmeng"] == []
    # A name that could be too many things in this corpus is evidence of none of them.
    ambiguous = translate.name_readings("sanmeng", lambda ts: dict.fromkeys(ts, 1))
    assert ambiguous == []


def test_a_chinese_word_the_index_never_uses_is_searched_as_same_sense_words_it_does():
    in_corpus = {"汇总": 4, "工作": 50, "情况": 30, "委员": 40}
    counts = lambda ts: {t: in_corpus.get(t, 0) for t in ts}  # noqa: E731
    by_word = translate.synonyms_by_word("委员工作情况多久归拢一次", counts)
    assert by_word["归拢"] == ["汇总"]
    assert not {"委员", "工作", "情况"} & set(by_word)  # words the index holds are left alone
    assert "汇总" in translate.translations("委员工作情况多久归拢一次", counts)
    assert translate.synonyms_by_word("委员工作情况", counts) == {}  # nothing absent, nothing added
    # Question words are not looked up: 多久, "how long", absent from the index, is not searched as 不久, "soon".
    assert "多久" not in translate.synonyms_by_word("委员工作情况多久汇总一次", counts)


def test_without_a_writable_folder_for_the_dictionary_questions_still_work_without_its_help(monkeypatch, capsys):
    monkeypatch.setattr(dictionary, "build_table", lambda path: (_ for _ in ()).throw(OSError("read-only")))
    dictionary.table_path.cache_clear()
    translate._same_sense.cache_clear()
    monkeypatch.setattr(dictionary, "_heads_of_stem", {})
    monkeypatch.setattr(dictionary, "_heads_of_name", {})
    monkeypatch.setattr(dictionary, "_english_of_headword", {})
    try:
        counts = lambda ts: dict.fromkeys(ts, 1)  # noqa: E731
        assert translate.translations("How many speeches did members submit?", counts) == []
        assert translate.synonyms_by_word("归拢工作", lambda ts: dict.fromkeys(ts, 0)) == {"归拢": [], "工作": []}
        assert translate.english_by_word("图书馆", lambda ts: dict.fromkeys(ts, 0)) == {"图书馆": [], "图书": [], "书馆": []}
        assert "cannot build the CC-CEDICT table" in capsys.readouterr().err
    finally:
        dictionary.table_path.cache_clear()
        translate._same_sense.cache_clear()


def test_the_commonest_dictionary_words_are_dropped_first_when_their_postings_exceed_the_budget():
    in_corpus = {"发言": 5, "提交": 90, "委员": 60}
    counts = lambda ts: {t: in_corpus.get(t, 0) for t in ts}  # noqa: E731
    terms = translate.translations("How many speeches did members submit?", counts, None,
                                   DEFAULTS.but(max_dictionary_postings=100))
    assert "发言" in terms and "委员" in terms and "提交" not in terms  # 5 + 60 fit, + 90 would not


def test_words_with_a_lower_case_reading_are_common_and_proper_nouns_glossed_surname_are_surnames():
    lines = LINES + ["王 王 [Wang2] /surname Wang/king/\n", "歐陽 欧阳 [Ou1 yang2] /two-character surname Ouyang/\n",
                     "深度 深度 [shen1 du4] /depth/\n", "大 大 [da4] /big/\n", "大豐 大丰 [Da4 feng1] /Dafeng city/\n"]
    assert dictionary.common_headwords(lines) == {"发言", "讲话", "提交", "演说", "假大空", "俗语", "深度"}
    assert dictionary.surnames(lines) == {"王", "欧阳"}  # 甘肃 and 大丰 are proper nouns but no surnames


def test_the_installed_dictionary_tells_words_and_surnames_apart():
    assert dictionary.common_words(["深度", "浙江", "河池"]) == {"深度"}
    assert dictionary.with_surname(["邱正菊", "欧阳修", "大丰收"]) == {"邱正菊", "欧阳修"}


def test_numbers_and_capitalised_months_spelt_out_are_also_searched_as_digits_the_index_holds():
    in_corpus = {"5": 7, "10": 3, "课题": 4, "三月": 1}
    counts = lambda ts: {t: in_corpus.get(t, 0) for t in ts}  # noqa: E731
    by_word = translate.translations_by_word("Which five topics were set in October?", counts)
    assert by_word["five"] == ["5"] and by_word["october"] == ["10"]  # the digits replace the word's other senses
    assert translate.translations_by_word("twenty-five groups", lambda ts: dict.fromkeys(ts, 1))["twenty-five"] == ["25"]
    assert "3" not in translate.translations_by_word("members march in step", counts)["march"]  # the verb
    assert translate.translations_by_word("twenty topics", counts)["twenty"] == []  # no 20 in the index


def test_a_chinese_headword_maps_to_the_words_of_its_short_glosses_and_a_proper_noun_to_its_own_name():
    words = dictionary.english_words(LINES + ["電子書 电子书 [dian4 zi3 shu1] /electronic book/e-book/e-book reader/\n"])
    assert words["发言"][:2] == [["statement", 1], ["utterance", 1]]  # one-word glosses first
    assert dict(map(tuple, words["发言"]))["speech"] == 2  # "to make a speech": two content words
    assert dict(map(tuple, words["河池"])) == {"hechi": 1}  # the name, not "prefecture-level city"
    assert "empty" not in dict(map(tuple, words.get("假大空", [])))  # a gloss of many words describes, not translates
    assert dict(map(tuple, words["电子书"]))["book"] == 1  # e-book: its parts, "e" too short to keep
    assert "俗语" not in words  # "see ...": a reference, no sense of its own


def test_inflections_are_the_regular_forms_that_stem_like_the_word():
    assert {"library", "libraries"} <= set(translate.inflections("library"))
    assert {"open", "opened", "opening", "opens"} <= set(translate.inflections("open"))
    assert {"stopped", "stopping"} <= set(translate.inflections("stop"))
    assert {"closed", "closing"} <= set(translate.inflections("close"))


def test_a_chinese_word_the_index_never_uses_is_searched_as_the_english_forms_it_does_use():
    in_english_corpus = {"library": 3, "libraries": 2, "ferry": 2, "boats": 1, "peak": 1}
    counts = lambda ts: {t: in_english_corpus.get(t, 0) for t in ts}  # noqa: E731
    by_word = translate.english_by_word("图书馆有多少渡轮", counts)
    assert by_word["图书馆"] == ["library", "libraries"]  # the most used form first
    assert set(by_word["渡轮"]) == {"ferry", "boats"}
    assert {"library", "libraries", "ferry", "boats"} <= set(translate.translations("图书馆有多少渡轮", counts))
    # Over Chinese text the Chinese words are there: nothing English is added.
    in_chinese_corpus = {"图书馆": 5, "图书": 5, "书馆": 5, "library": 1}
    assert translate.english_by_word("图书馆", lambda ts: {t: in_chinese_corpus.get(t, 0) for t in ts}) == {}


def test_parts_of_a_chinese_word_whose_glosses_were_found_are_not_searched_in_english():
    in_english_corpus = {"library": 3, "books": 2, "school": 4}
    by_word = translate.english_by_word("图书馆", lambda ts: {t: in_english_corpus.get(t, 0) for t in ts})
    assert by_word == {"图书馆": ["library"], "图书": [], "书馆": []}  # 书馆 alone would be "school"
