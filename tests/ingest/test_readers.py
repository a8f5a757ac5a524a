"""Every supported format becomes text whose offsets the citations use; bad files are skipped, not fatal."""

import pytest

from semsearch import Index
from semsearch.ingest.documents import UnreadableDocument, decode_bytes, html_text, read_document

PARAGRAPH = "鄰水縣政協編輯《社情民意》30期，組織委員開展專題調研。"


def test_html_drops_scripts_and_navigation_and_keeps_blocks(tmp_path):
    page = (f"<html><head><title>標題</title><script>var x = '不要';</script><style>p {{}}</style></head>"
            f"<body><nav>首頁 &gt; 新聞</nav><header>站點頭部</header><h1>委員工作</h1><p>{PARAGRAPH}</p>"
            f"<p>第二段<b>加粗</b>文字。</p><footer>版權所有</footer></body></html>").encode("utf-8")
    text = html_text(page)
    assert PARAGRAPH in text and "第二段加粗文字。" in text and "委員工作" in text
    for junk in ("不要", "首頁", "站點頭部", "版權所有", "p {}"):
        assert junk not in text


def test_html_source_line_wraps_are_white_space_not_lines():
    page = ("<p>你可以使用 interdiff 命令比较两个 diff.gz\n文件。这对于更新\n  旧的软件包\n<b>非常</b>\nuseful\nindeed</p>"
            "<pre>$ make\n$ make install\n</pre><p>甲<br>乙</p><table><tr><td>上一章</td><td>下一章</td></tr></table>").encode()
    lines = html_text(page).splitlines()
    assert lines == ["你可以使用 interdiff 命令比较两个 diff.gz 文件。这对于更新旧的软件包非常 useful indeed",
                     "$ make", "$ make install", "甲", "乙", "上一章", "下一章"]


def test_pdf_pages_are_cited(tmp_path, fake_embedder):
    pytest.importorskip("reportlab")
    from reportlab.pdfgen import canvas

    pdf = tmp_path / "corpus" / "report.pdf"
    pdf.parent.mkdir()
    c = canvas.Canvas(str(pdf))
    for page in range(1, 4):
        c.drawString(72, 720, f"Page {page} heading")
        c.drawString(72, 700, f"The committee held {page * 11} consultation meetings on water supply this year.")
        c.showPage()
    c.save()
    idx = Index.open(tmp_path / "idx", embedder=fake_embedder)
    idx.reindex([pdf.parent])
    hits = idx.search("33 consultation meetings", k=3)
    top = hits[0]
    assert "33 consultation" in top.text and top.source.page == 3
    assert top.as_json()["source"]["page"] == 3
    assert "(p. 3)" in top.source.cite()


def test_docx_paragraphs_and_tables_are_read(tmp_path):
    import docx

    path = tmp_path / "a.docx"
    d = docx.Document()
    d.add_paragraph(PARAGRAPH)
    table = d.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "委員"
    table.rows[0].cells[1].text = "1167個"
    d.save(str(path))
    doc = read_document(tmp_path, path)
    assert PARAGRAPH in doc.text and "委員\t1167個" in doc.text


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_decode(encoding):
    # with a BOM the BOM decides; without one (-le/-be) the NUL pattern of the ASCII part does
    text = "Hello 委員工作站\n" * 5
    assert decode_bytes(text.encode(encoding))[0] == text


def test_mixed_utf8_and_gbk_lines_each_decode():
    raw = "第一行是UTF-8。\n".encode("utf-8") + "第二行是GBK编码的中文内容，比较长一些。\n".encode("gbk") + "第三行。\n".encode("utf-8")
    text, encoding = decode_bytes(raw)
    assert text.splitlines()[0] == "第一行是UTF-8。" and text.splitlines()[2] == "第三行。"
    assert "GBK编码" in text.splitlines()[1] and encoding.startswith("mixed")


def test_binary_bytes_are_unreadable():
    with pytest.raises(UnreadableDocument, match="binary"):
        decode_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00" * 20)


def test_bad_and_unsupported_files_are_skipped_with_warnings(tmp_path, fake_embedder):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "good.txt").write_text(PARAGRAPH, encoding="utf-8")
    (corpus / "empty.txt").write_bytes(b"")
    (corpus / "binary.txt").write_bytes(b"\x00\x01\x02\x03\xff" * 100)
    (corpus / "image.png").write_bytes(b"\x89PNG\r\n")
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    (corpus / "loop1.txt").symlink_to(corpus / "loop2.txt")
    (corpus / "loop2.txt").symlink_to(corpus / "loop1.txt")
    (corpus / "dangling.md").symlink_to(corpus / "nowhere.md")
    (corpus / "sub").mkdir()
    (corpus / "sub" / "back").symlink_to(corpus, target_is_directory=True)
    warnings = []
    from semsearch.indexer import Progress

    idx = Index.open(tmp_path / "idx", embedder=fake_embedder)
    report = idx.reindex_report([corpus], progress=Progress(on_warning=warnings.append))
    assert report.added == 2  # good.txt and empty.txt (no chunks)
    assert report.total_chunks == 1
    text = " ".join(warnings)
    for name in ("binary.txt", "image.png", "broken.pdf", "loop1.txt", "dangling.md"):
        assert name in text, name
    assert all("\n" not in w for w in warnings)
    assert idx.search("社情民意")[0].source.path == "good.txt"
