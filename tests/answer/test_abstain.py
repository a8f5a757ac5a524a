"""Saying "no answer": Latin-script words the corpus never uses, and the dense ranking's nearest passage."""

from semsearch import Index
from semsearch.answer.abstain import absent_latin_words, unanswerable
from semsearch.config import DEFAULTS
from semsearch.types import Hit, Nearest, Source

CORPUS = {"软件包": 4, "安装": 9, "配置": 7, "代理": 2, "ssh": 3, "登录": 2, "编写": 1, "入门": 1, "流水线": 1}


def counts(terms):
    return {t: CORPUS.get(t, 0) for t in terms}


def _hit(text: str, cosine: float | None) -> Hit:
    return Hit(rank=1, score=1.0, text=text, title=None, chunk_id=0, dense_score=cosine,
               source=Source("a.txt", 1, 1, 0, len(text)))


def test_a_latin_word_the_index_never_uses_is_absent_unless_it_is_a_plain_word_whose_translation_it_holds():
    assert absent_latin_words("Ansible playbook 编写入门", counts) == ["ansible", "playbook"]
    assert absent_latin_words("用 ssh 登录", counts) == []  # the index uses it
    assert absent_latin_words("怎么配置 proxy", counts) == []  # written in lower case: a word, and 代理 is held
    assert absent_latin_words("怎么配置 Proxy", counts) == ["proxy"]  # capitalised: a name, not the word's sense
    assert absent_latin_words("安装 2024 版", counts) == []  # digits alone name nothing


def test_a_chinese_question_naming_a_latin_word_the_corpus_lacks_gets_no_answer_over_chinese_text():
    text = "软件包的安装与配置,流水线编写入门。"
    sure = DEFAULTS.min_cosine_cjk + 0.03
    assert unanswerable("Jenkins 流水线配置", [_hit(text, sure)], counts)
    assert not unanswerable("流水线配置", [_hit(text, sure)], counts)
    assert not unanswerable("Jenkins 流水线配置", [_hit(text, sure)], counts, settings=DEFAULTS.but(
        absent_latin_words=False))
    # Over English text a Chinese question is matched across languages: its Latin words are what it shares.
    assert not unanswerable("Jenkins 流水线配置", [_hit("Configure a Jenkins pipeline.", sure)],
                            lambda terms: dict.fromkeys(terms, 1))


def test_when_fusion_keeps_no_passage_of_the_dense_ranking_its_nearest_passage_gives_the_cosine():
    keyword_only = [_hit("软件包的安装与配置。", None)]
    low = Nearest(DEFAULTS.min_cosine_cjk - 0.02, chinese=True)
    high = Nearest(DEFAULTS.min_cosine_cjk + 0.02, chinese=True)
    assert unanswerable("软件包怎么安装?", keyword_only, counts, nearest=low)
    assert not unanswerable("软件包怎么安装?", keyword_only, counts, nearest=high)
    assert not unanswerable("软件包怎么安装?", keyword_only, counts)  # no dense ranking: no cosine test


def test_english_hits_of_a_chinese_corpus_are_weighed_at_the_chinese_threshold_when_its_nearest_passage_is_chinese():
    between = (DEFAULTS.min_cosine_other + DEFAULTS.min_cosine_cjk) / 2
    english = [_hit("Installing packages and configuring them.", between)]
    everything = lambda terms: dict.fromkeys(terms, 1)  # noqa: E731
    assert not unanswerable("软件包怎么安装?", english, everything)  # an English corpus: across languages
    assert unanswerable("软件包怎么安装?", english, everything, nearest=Nearest(between, chinese=True))


def test_ask_says_no_answer_for_a_product_the_seeds_never_name_and_answers_without_it(real_index):
    index = Index.open(real_index)
    assert index.ask("Photoshop 委员工作站").no_answer
    assert not index.ask("委员工作站").no_answer
