"""script.py: which texts are questions, and the CJK ranges."""

from semsearch.text.normalize import fold_text
from semsearch.text.script import asks, has_cjk, is_cjk_word


def test_a_question_asks_and_a_title_or_keywords_do_not():
    for question in ("如何建设委员工作站", "委员书屋建成多少间", "甘肃省政協有哪些委員工作室", "設置打印機?",
                     "How many speeches did members submit", "what is APT"):
        assert asks(fold_text(question)), question
    for title in ("设置 APT 的代理", "插入圖片", "委员工作站", "Debian 的软件包管理", "Printing from the command line"):
        assert not asks(fold_text(title)), title


def test_cjk_ranges_cover_both_scripts_and_extension_a():
    assert has_cjk("協商") and has_cjk("协商") and has_cjk("\u3400") and not has_cjk("abc 123")
    assert is_cjk_word("政协") and not is_cjk_word("政协a") and not is_cjk_word("")
