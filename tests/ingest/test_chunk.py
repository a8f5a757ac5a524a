from pathlib import Path

from hypothesis import given, settings, strategies as st

from conftest import SEEDS
from semsearch.ingest.chunk import (CONTEXT_END, chunk_text, document_title, model_text, own_text, sentence_spans,
                             sentence_windows, with_context)
from semsearch.text.normalize import fold_text



def count(texts):
    return [len(t) for t in texts]  # one token per character: simple and strict enough


def test_each_chunk_is_the_exact_source_slice_with_lines():
    text = "标题行\n\n第一段第一句。第一段第二句。\n第二段，很短。\n"
    chunks = chunk_text(text, count, fold_text, max_tokens=100, min_tokens=1)
    for c in chunks:
        assert c.text == text[c.char_start:c.char_end]
        assert text.count("\n", 0, c.char_start) + 1 == c.line_start
        assert text.count("\n", 0, c.char_end - 1) + 1 == c.line_end


def test_short_heading_lines_become_titles_of_the_chunks_below():
    text = "完善三项制度\n服务建立总体制度。去年4月率先出台意见。\n健全配套制度。去年9月制定方案。\n"
    chunks = chunk_text(text, count, fold_text, max_tokens=100, min_tokens=1)
    assert [c.title for c in chunks] == ["完善三项制度", "完善三项制度"]
    assert chunks[0].text.startswith("服务建立")


def test_heading_detection_ignores_pinyin_glosses():
    text = "首頁>協(xié)商>政協(xié)動態(tài)\n省政協(xié)黨組迅速召開會議。傳達學習。\n"
    chunks = chunk_text(text, count, fold_text, max_tokens=100, min_tokens=1)
    assert len(chunks) == 1 and chunks[0].title == "首頁>協(xié)商>政協(xié)動態(tài)"


def test_long_paragraph_is_split_at_sentence_ends_within_the_budget():
    sentence = "县政协坚持用党建工作这根红线贯穿履职全过程。"
    text = sentence * 40
    chunks = chunk_text(text, count, fold_text, max_tokens=100, min_tokens=1)
    assert len(chunks) > 1
    for c in chunks:
        assert len(c.text) <= 100
        assert c.text.endswith("。")
    assert "".join(c.text for c in chunks) == text


def test_a_sentence_longer_than_the_budget_is_cut_without_losing_text():
    text = "甲" * 250 + "。"
    chunks = chunk_text(text, count, fold_text, max_tokens=60, min_tokens=1)
    assert all(len(c.text) <= 60 for c in chunks)
    assert "".join(c.text for c in chunks) == text


def test_short_paragraphs_merge_with_their_neighbour():
    text = "- 第一条新闻标题\n- 第二条新闻标题\n- 第三条新闻标题\n"
    chunks = chunk_text(text, count, fold_text, max_tokens=100, min_tokens=32)
    assert len(chunks) == 1 and chunks[0].line_start == 1 and chunks[0].line_end == 3


def test_seed_files_chunk_into_exact_slices_that_cover_all_text():
    for path in sorted(SEEDS.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        chunks = chunk_text(text, count, fold_text, max_tokens=300)
        covered = set()
        for c in chunks:
            assert c.text == text[c.char_start:c.char_end]
            covered.update(range(c.char_start, c.char_end))
        titles = " ".join(c.title for c in chunks if c.title)
        lines = text.splitlines()
        for i, ch in enumerate(text):
            if not ch.isspace() and i not in covered:
                # the only text outside chunks is heading lines, which live on as titles
                assert lines[text.count("\n", 0, i)].strip() in titles, (path.name, i)


def test_sentence_spans_trim_whitespace_and_keep_closing_quotes():
    text = " 他说：“好。” 然后走了！\n"
    spans = sentence_spans(text)
    assert [text[s:e] for s, e in spans] == ["他说：“好。”", "然后走了！"]


lines = st.lists(st.text(alphabet=st.sampled_from(list("政协委员。，！？ab \t(xié)#-")), max_size=80), max_size=12)


@settings(max_examples=200, deadline=None)
@given(lines, st.sampled_from(["\n", "\r\n", "\n\n"]))
def test_chunks_are_exact_ordered_and_deterministic_for_any_text(parts, newline):
    text = newline.join(parts)
    chunks = chunk_text(text, count, fold_text, max_tokens=20, min_tokens=4)
    assert chunk_text(text, count, fold_text, max_tokens=20, min_tokens=4) == chunks
    previous_end = 0
    for c in chunks:
        assert c.text == text[c.char_start:c.char_end]
        assert c.char_start >= previous_end and c.char_end > c.char_start
        assert 1 <= c.line_start <= c.line_end
        previous_end = c.char_end


@settings(max_examples=200, deadline=None)
@given(lines, st.sampled_from(["\n", "\r\n", "\n\n"]))
def test_chunks_cover_every_non_blank_character_or_carry_it_as_a_title(parts, newline):
    text = newline.join(parts)
    chunks = chunk_text(text, count, fold_text, max_tokens=20, min_tokens=4)
    covered = set()
    for c in chunks:
        covered.update(range(c.char_start, c.char_end))
    line_starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]
    for i, ch in enumerate(text):
        if ch.isspace() or i in covered:
            continue
        # outside every chunk: it must be on a heading line, carried as the title of the next chunk
        line_no = max(n for n, start in enumerate(line_starts) if start <= i)
        line = text[line_starts[line_no]:].split("\n", 1)[0].strip().lstrip("#").strip()
        following = [c for c in chunks if c.char_start > i]
        assert following and following[0].title and line in following[0].title, (repr(text), i)


def test_sentence_windows_group_whole_sentences_up_to_the_limit():
    text = "甲说了一句话。乙也说了一句话。丙说了很长很长很长很长很长很长的一句话！丁。"
    windows = sentence_windows(text, 16)
    assert windows == ["甲说了一句话。乙也说了一句话。", "丙说了很长很长很长很长很长很长的一句话！", "丁。"]
    assert "".join(windows) == text


def test_a_text_that_fits_in_one_window_has_no_windows():
    assert sentence_windows("甲说了一句话。乙也说了一句话。", 120) == []
    assert sentence_windows("", 120) == []


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("政协委员。！？ab .\n")), max_size=300), st.integers(5, 60))
def test_sentence_windows_are_in_order_and_each_within_the_limit_unless_one_sentence(text, limit):
    windows = sentence_windows(text, limit)
    spans = [text[s:e] for s, e in sentence_spans(text)]
    at = 0
    for window in windows:
        at = text.index(window, at) + len(window)
        assert len(window) <= limit or window in spans
    assert windows == [] or len(windows) >= 2


def test_a_documents_title_is_the_heading_it_opens_with_and_none_without_one():
    titled = chunk_text("云南省政协工作综述\n\n省政协推动党的组织全覆盖。\n", lambda ts: [len(t) for t in ts])
    assert document_title(titled) == "云南省政协工作综述"
    untitled = chunk_text("省政协推动党的组织全覆盖。\n\n小标题\n\n正文又一段。\n", lambda ts: [len(t) for t in ts])
    assert untitled[0].title is None and document_title(untitled) is None
    assert document_title([]) is None


def test_the_context_line_is_cut_off_for_matching_and_a_plain_line_break_for_the_model():
    embedded = with_context("云南省政协  工作综述", "组织建设\n九个专委会成立分党组。")
    assert embedded == "云南省政协 工作综述" + CONTEXT_END + "组织建设\n九个专委会成立分党组。"
    assert own_text(embedded) == "组织建设\n九个专委会成立分党组。"
    assert model_text(embedded) == "云南省政协 工作综述\n组织建设\n九个专委会成立分党组。"
    assert with_context(None, "正文。") == "正文。" and own_text("正文。") == "正文。"


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("政协ab \n\x1e")), max_size=60),
       st.text(alphabet=st.sampled_from(list("政协ab \n")), max_size=60))
def test_own_text_gives_back_the_chunks_text_with_or_without_a_context(context, own):
    assert own_text(with_context(context, own)) == own
    assert own_text(own) == own


def test_a_line_that_is_only_a_parenthesised_byline_closes_an_article():
    from semsearch.ingest.chunk import closes_article

    assert closes_article("推动委员联系界别群众工作走深走实。\n(甘肃省政协机关)")
    assert closes_article("……凝聚起强大合力。\n  （记者 张三）  \n")
    assert not closes_article("委员书屋建成35间(含乡镇)，配备图书两万余册。")  # brackets inside a sentence
    assert not closes_article("(完)")  # too short to name anyone
    assert not closes_article("(一)\n建立制度")  # a list number, not a byline
