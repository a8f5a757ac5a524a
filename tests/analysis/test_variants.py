"""A query's regional words become those the index uses: Taiwan's 軟體 over mainland text is searched as 软件."""

from semsearch import DEFAULTS, Index
from semsearch.analysis.variants import in_index_words

MAINLAND = {"软件": 100, "文件": 80, "内存": 30, "打开": 50, "设置": 60, "代码": 40, "宏的": 5, "鼠标": 10}
TAIWAN = {"软体": 100, "档案": 80, "记忆": 30, "忆体": 30, "开启": 50, "设定": 60, "程式": 40, "式码": 40, "滑鼠": 10}


def counts_of(table):
    return lambda terms: {t: table.get(t, 0) for t in terms}


def test_taiwan_words_are_searched_as_the_mainland_words_the_index_uses():
    assert in_index_words("請在軟體中開啟檔案並設定記憶體與滑鼠", counts_of(MAINLAND)) == "请在软件中打开文件并设置内存与鼠标"
    assert in_index_words("巨集的程式碼", counts_of(MAINLAND)) == "宏的代码"


def test_a_corpus_written_in_taiwan_keeps_its_own_words():
    assert in_index_words("請在軟體中開啟檔案並設定記憶體與滑鼠", counts_of(TAIWAN)) == "请在软体中开启档案并设定记忆体与滑鼠"


def test_a_simplified_question_over_taiwan_text_gets_the_taiwan_words():
    assert in_index_words("软件的设置", counts_of(TAIWAN)) == "软体的设定"
    assert in_index_words("软件的设置", counts_of(MAINLAND)) == "软件的设置"


def test_a_word_the_index_uses_keeps_its_meaning():
    # OpenCC reads Taiwan's 文件 as the mainland's 文档 and the mainland's 进程 as Taiwan's 程序 (false friends):
    # over text that uses the query's word, it stays.
    assert in_index_words("開啟文件", counts_of(MAINLAND)) == "打开文件"
    assert in_index_words("開啟文件", counts_of({"文档": 5})) == "开启文档"
    assert in_index_words("杀死一个进程", counts_of({"进程": 3, "程序": 50})) == "杀死一个进程"


def test_text_without_chinese_is_left_alone():
    assert in_index_words("How do I open a file?", counts_of(MAINLAND)) == "How do I open a file?"


def test_keyword_search_finds_mainland_text_for_a_taiwan_question(tmp_path, fake_embedder):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "help.txt").write_text("如何安装软件\n\n在终端中输入命令即可安装软件包。\n\n天气晴朗，适合出游。\n", encoding="utf-8")
    no_dictionary = DEFAULTS.but(translate=False)  # the dictionary's same-sense words would also bridge 软体
    idx = Index.open(tmp_path / "index", embedder=fake_embedder, settings=no_dictionary)
    idx.reindex([corpus])
    assert "安装软件" in idx.search("軟體", k=1, mode="keyword")[0].text
    plain = Index.open(tmp_path / "index", embedder=fake_embedder, settings=no_dictionary.but(regional_words=False))
    assert not any("软件" in hit.text for hit in plain.search("軟體", k=3, mode="keyword"))


def test_a_question_in_the_other_script_than_the_text_takes_the_word_the_text_uses_more():
    simplified_text = counts_of({"档案": 5, "文件": 80, "打开": 40, "进程": 3, "程序": 50})
    assert in_index_words("開啟檔案", simplified_text, traditional_text=False) == "打开文件"
    assert in_index_words("開啟檔案", simplified_text, traditional_text=None) == "打开档案"  # script unknown: 档案 is used
    assert in_index_words("杀死进程", simplified_text, traditional_text=False) == "杀死进程"  # same script


def test_a_question_written_alike_in_both_scripts_keeps_the_words_the_text_uses():
    traditional_text = counts_of({"文件": 40, "档案": 80, "软体": 100})
    assert in_index_words("文件格式", traditional_text, traditional_text=True) == "文件格式"
    assert in_index_words("软件格式", traditional_text, traditional_text=True) == "软体格式"  # 软 is Simplified only
