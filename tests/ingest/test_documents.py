import pytest

from semsearch.ingest.documents import UnreadableDocument, decode_bytes, read_document

TEXT = "委員聯繫界別群眾工作，鄰水縣政協編輯了《社情民意》30期。" * 3


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "big5"])
def test_common_chinese_encodings_decode_to_the_same_text(encoding):
    text = TEXT if encoding == "big5" else TEXT
    raw = text.encode(encoding)
    decoded, _ = decode_bytes(raw)
    assert decoded == text


def test_simplified_gb18030_text_decodes():
    text = "委员联系界别群众工作，邻水县政协编辑了《社情民意》30期。" * 3
    assert decode_bytes(text.encode("gb18030"))[0] == text


def test_read_document_keeps_text_exact_and_relative_path(tmp_path):
    (tmp_path / "sub").mkdir()
    f = tmp_path / "sub" / "a.txt"
    f.write_bytes("第一行\r\n第二行\n".encode("utf-8"))
    doc = read_document(tmp_path, f)
    assert doc.path == "sub/a.txt"
    assert doc.text == "第一行\r\n第二行\n"
    assert doc.encoding == "utf-8"


def test_binary_garbage_is_reported_as_unreadable():
    with pytest.raises(UnreadableDocument):
        decode_bytes(bytes(range(256)) * 4 + b"\x00\xff\xfe\x00" * 100)
