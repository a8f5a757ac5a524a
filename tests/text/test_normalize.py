from hypothesis import given, settings, strategies as st

from semsearch.text.normalize import fold, fold_text, match_key


def test_pinyin_glosses_glued_to_characters_are_removed():
    assert fold_text("靖州縣政協(xié)黨組堅持以習(xí)近平") == "靖州县政协党组坚持以习近平"


def test_parentheses_without_toned_pinyin_are_kept():
    assert fold_text("CPPCC (CPPCC) f(x) 村(社區)") == "CPPCC (CPPCC) f(x) 村(社区)"


def test_doubled_punctuation_keeps_the_strongest_mark():
    assert fold_text("近年來,,河池") == "近年来,河池"
    assert fold_text("規範化,、制度化") == "规范化、制度化"
    assert fold_text("培訓,。下一步") == "培训。下一步"
    assert fold_text("好,;壞") == "好;坏"


def test_traditional_folds_to_simplified():
    assert fold_text("臺灣 裡面 鄰水縣政協") == "台湾 里面 邻水县政协"


def test_offsets_map_folded_spans_back_to_source():
    source = "省政協(xié)黨組,,迅速召開會議"
    folded = fold(source)
    i = folded.text.index("党组")
    start, end = folded.source_span(i, i + 2)
    assert source[start:end] == "黨組"
    j = folded.text.index("迅速")
    start, end = folded.source_span(i, j + 2)
    assert source[start:end] == "黨組,,迅速"


def test_match_key_unifies_width_and_drops_whitespace():
    assert match_key("從主動走訪、互動協(xié)商 ，，等5個方面") == match_key("从主动走访、互动协商,等5个方面")


cjk_text = st.text(alphabet=st.sampled_from(list("協商政黨組臺灣裡面(xié)（fā）,,、。!?ab 1\n\r\t")), max_size=200)


@settings(max_examples=300, deadline=None)
@given(st.one_of(cjk_text, st.text(max_size=200)))
def test_fold_origin_always_points_at_source_characters(text):
    folded = fold(text)
    assert len(folded.origin) == len(folded.text) + 1
    assert folded.origin[-1] == len(text)
    assert list(folded.origin[:-1]) == sorted(folded.origin[:-1])
    assert all(0 <= o < len(text) for o in folded.origin[:-1])
    assert fold(text) == folded  # deterministic
