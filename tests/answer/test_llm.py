"""LLM answers against a fake OpenAI-compatible server on 127.0.0.1: the request, the citation check, errors."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from typer.testing import CliRunner

from semsearch.interfaces import cli
from semsearch.types import Answer, AnswerSentence
from semsearch.errors import InputError
from semsearch.answer.llm import chat_endpoint, check_claims, llm_answer, numbers, parse_reply, support, Evidence
from semsearch.types import Hit, Source

# Passages from seeds/, shortened; the third is Traditional with pinyin glosses, as scraped.
P1 = ("按照有场地、标识、制度、特色、档案、成果的“六有”标准,遴选一批德才兼备的委员,挂牌建立1167个委员工作室,"
      "打造委员学习交流、服务群众、凝聚共识的平台。")
P2 = ("健全配套制度。按照界别相近、便于组织原则,将502名省政协委员分为16个界别活动组,"
      "由各专委会、省级各民主党派和工商联负责联系并组织开展活动。")
P3 = "建強組織方面,推動黨的組織全覆蓋,9個專委會全部成立分黨組,在重要會議、重要履職中成立臨時黨組織。"
TITLES = ["用好“三种阵地”,依托“一平台”联系群众", None, "堅持以黨的領(lǐng)導定向引航"]
QUESTION = "甘肃省政协挂牌建立了多少个委员工作室?"


def make_hits() -> list[Hit]:
    hits, offset = [], 0
    for rank, (text, title) in enumerate(zip([P1, P2, P3], TITLES), start=1):
        hits.append(Hit(rank=rank, score=1.0 / rank, text=text, title=title, dense_score=0.9,
                        source=Source(f"doc{rank}.txt", rank, rank, offset, offset + len(text))))
        offset += len(text) + 1
    return hits


class FakeLLM:
    """An OpenAI-compatible /chat/completions endpoint whose reply each test scripts."""

    def __init__(self):
        self.requests: list[dict] = []
        self.content = "NO_ANSWER"
        self.status = 200
        self.raw: bytes | None = None  # sent as is instead of a chat completion
        self.delay = 0.0
        self.respond = None  # optional: request body -> reply content
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
                fake.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                if fake.delay:
                    time.sleep(fake.delay)
                if fake.raw is not None:
                    payload = fake.raw
                elif fake.status != 200:
                    payload = json.dumps({"error": {"message": "model crashed\nbadly"}}).encode()
                else:
                    content = fake.respond(body) if fake.respond else fake.content
                    payload = json.dumps({"id": "x", "object": "chat.completion", "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]},
                        ensure_ascii=False).encode()
                try:
                    self.send_response(fake.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def llm(monkeypatch):
    for name in ("SEMSEARCH_LLM_API_KEY", "OPENAI_API_KEY", "SEMSEARCH_LLM_MODEL", "SEMSEARCH_LLM_URL"):
        monkeypatch.delenv(name, raising=False)
    fake = FakeLLM()
    yield fake
    fake.close()


def extractive_fallback():
    hit = make_hits()[0]
    start = P1.index("遴选")
    return Answer(no_answer=False, text="extractive [1]", hits=make_hits(), sentences=[
        AnswerSentence(text=P1[start:], citation=1, char_start=hit.source.char_start + start,
                       char_end=hit.source.char_end, score=0.9)])


def ask(llm, content, **kwargs):
    llm.content = content
    return llm_answer(QUESTION, make_hits(), llm.url, fallback=extractive_fallback, **kwargs)


# -- the citation check ----------------------------------------------------------

def test_faithful_answer_keeps_its_sentences_and_citations(llm):
    answer = ask(llm, "甘肃省政协挂牌建立了1167个委员工作室[1]。\n502名省政协委员被分为16个界别活动组[2]。"
                      "云南省政协的9个专委会全部成立了分党组【3】。")
    assert answer.mode == "llm" and not answer.no_answer and answer.flagged == []
    assert [(s.text, s.citations) for s in answer.sentences] == [
        ("甘肃省政协挂牌建立了1167个委员工作室。", (1,)),
        ("502名省政协委员被分为16个界别活动组。", (2,)),
        ("云南省政协的9个专委会全部成立了分党组。", (3,))]
    assert answer.text.startswith("甘肃省政协挂牌建立了1167个委员工作室。 [1] 502名")
    data = answer.as_json(QUESTION)
    assert data["answer"]["mode"] == "llm" and data["answer"]["flagged"] == []
    assert data["answer"]["sentences"][0] == {"text": "甘肃省政协挂牌建立了1167个委员工作室。", "citation": 1, "citations": [1]}
    assert [r["rank"] for r in data["results"]] == [1, 2, 3]


def test_sentence_whose_number_is_not_in_the_cited_passage_is_dropped_and_flagged(llm):
    answer = ask(llm, "甘肃省政协挂牌建立了1167个委员工作室[1]。其中1200个设在乡镇[1]。")
    assert [s.text for s in answer.sentences] == ["甘肃省政协挂牌建立了1167个委员工作室。"]
    assert answer.flagged == [{"text": "其中1200个设在乡镇。", "citations": [1], "reason": "not supported: 1200 not in [1]"}]
    assert answer.as_json(QUESTION)["answer"]["flagged"] == answer.flagged


def test_sentence_citing_the_wrong_passage_keeps_only_the_one_that_supports_it(llm):
    answer = ask(llm, "甘肃省政协将502名省政协委员分为16个界别活动组[1][2]。")
    assert answer.mode == "llm" and answer.flagged == []
    [sentence] = answer.sentences
    assert sentence.citation == 2 and sentence.citations == (2,)
    assert answer.text.endswith("[2]") and "[1]" not in answer.text


def test_invented_claim_in_the_passage_vocabulary_is_dropped(llm):
    answer = ask(llm, "挂牌建立了1167个委员工作室[1]。这些委员工作室全部设在乡镇和街道的便民服务中心[1]。")
    assert len(answer.sentences) == 1
    assert answer.flagged[0]["reason"].startswith("not supported: only")


def test_citation_to_a_rank_that_does_not_exist_is_dropped(llm):
    answer = ask(llm, "甘肃省政协挂牌建立了1167个委员工作室[1, 7]。502名省政协委员分为16个界别活动组[9]。")
    assert [(s.text, s.citations) for s in answer.sentences] == [("甘肃省政协挂牌建立了1167个委员工作室。", (1,))]
    assert answer.flagged == [{"text": "502名省政协委员分为16个界别活动组。", "citations": [9],
                               "reason": "cites no passage that exists ([9])"}]


def test_sentence_without_citation_is_dropped_and_flagged(llm):
    answer = ask(llm, "答案：\n甘肃省政协挂牌建立了1167个委员工作室[1]。这体现了政协工作的活力。")
    assert [s.citation for s in answer.sentences] == [1]
    assert answer.flagged == [{"text": "这体现了政协工作的活力。", "citations": [], "reason": "no citation"}]


def test_marks_inside_a_sentence_hold_each_clause_to_its_own_passage(llm):
    answer = ask(llm, "甘肃省政协挂牌建立1167个委员工作室[1]，并将502名省政协委员分为16个界别活动组[2]。")
    [sentence] = answer.sentences
    assert sentence.citations == (1, 2) and sentence.text == "甘肃省政协挂牌建立1167个委员工作室，并将502名省政协委员分为16个界别活动组。"


def test_no_answer_reply_falls_back_to_the_extractive_answer(llm):
    answer = ask(llm, "NO_ANSWER")
    assert answer.mode == "extractive" and "NO_ANSWER" in answer.fallback
    assert answer.sentences == extractive_fallback().sentences
    data = answer.as_json(QUESTION)["answer"]
    assert data["mode"] == "extractive" and data["flagged"] == [] and "citations" not in data["sentences"][0]


def test_nothing_surviving_falls_back_and_keeps_the_flags(llm):
    answer = ask(llm, "甘肃省政协挂牌建立了2000个委员工作室[1]。")
    assert answer.mode == "extractive" and answer.sentences == extractive_fallback().sentences
    assert len(answer.flagged) == 1 and "2000" in answer.flagged[0]["reason"]
    assert "supported" in answer.fallback


def test_default_fallback_is_answer_question(llm, fake_embedder):
    llm.content = "NO_ANSWER"
    answer = llm_answer(QUESTION, make_hits(), llm.url, embedder=fake_embedder)
    assert answer.mode == "extractive" and not answer.no_answer and answer.sentences
    assert all(s.text in make_hits()[s.citation - 1].text for s in answer.sentences)


def test_json_without_llm_is_unchanged():
    data = extractive_fallback().as_json(QUESTION)
    assert set(data["answer"]) == {"text", "sentences"}
    assert data["answer"]["sentences"] == [{"text": extractive_fallback().sentences[0].text, "citation": 1}]


# -- the request ---------------------------------------------------------------------

def test_request_holds_the_numbered_passages_temperature_0_and_the_bearer_key(llm):
    ask(llm, "NO_ANSWER", api_key="sk-test", model="qwen2.5")
    [request] = llm.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == "Bearer sk-test"
    body = request["body"]
    assert body["temperature"] == 0 and body["model"] == "qwen2.5"
    prompt = "\n".join(m["content"] for m in body["messages"])
    assert f"[1] {TITLES[0]}\n{P1}" in prompt and f"[2]\n{P2}" in prompt
    assert "9個專委會全部成立分黨組" in prompt and "(lǐng)" not in prompt  # glosses dropped, script kept
    assert QUESTION in prompt and "NO_ANSWER" in prompt


def test_key_and_model_come_from_the_environment(llm, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    monkeypatch.setenv("SEMSEARCH_LLM_MODEL", "env-model")
    ask(llm, "NO_ANSWER")
    monkeypatch.setenv("SEMSEARCH_LLM_API_KEY", "sk-semsearch")
    ask(llm, "NO_ANSWER")
    first, second = llm.requests
    assert first["headers"]["Authorization"] == "Bearer sk-openai" and first["body"]["model"] == "env-model"
    assert second["headers"]["Authorization"] == "Bearer sk-semsearch"


def test_no_key_no_authorization_header_and_default_model(llm):
    ask(llm, "NO_ANSWER")
    [request] = llm.requests
    assert "Authorization" not in request["headers"] and request["body"]["model"] == "default"


def test_url_already_ending_with_chat_completions_is_used_as_is():
    assert chat_endpoint("http://127.0.0.1:1/v1/chat/completions") == "http://127.0.0.1:1/v1/chat/completions"
    assert chat_endpoint("http://127.0.0.1:1/v1/") == "http://127.0.0.1:1/v1/chat/completions"


# -- errors -----------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def assert_one_line_naming(error: InputError, url_part: str) -> None:
    message = str(error)
    assert "\n" not in message and url_part in message, message


def test_unreachable_url_is_an_input_error_naming_it():
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(InputError) as info:
        llm_answer(QUESTION, make_hits(), url, fallback=extractive_fallback)
    assert_one_line_naming(info.value, url)
    assert info.value.exit_code == 2


def test_http_500_is_an_input_error_with_one_line(llm):
    llm.status = 500
    with pytest.raises(InputError) as info:
        ask(llm, "unused")
    assert_one_line_naming(info.value, llm.url)
    assert "500" in str(info.value) and "model crashed badly" in str(info.value)


@pytest.mark.parametrize("raw", [b"not json", b'{"choices": []}', b'{"error": {"message": "no such model"}}'])
def test_malformed_reply_is_an_input_error(llm, raw):
    llm.raw = raw
    with pytest.raises(InputError) as info:
        ask(llm, "unused")
    assert_one_line_naming(info.value, llm.url)
    assert "not a chat completion" in str(info.value)


def test_timeout_is_an_input_error(llm):
    llm.delay = 1.5
    with pytest.raises(InputError) as info:
        ask(llm, "NO_ANSWER", timeout=0.3)
    assert_one_line_naming(info.value, llm.url)
    assert "did not answer within 0.3s" in str(info.value)


def test_not_an_http_url_is_an_input_error():
    with pytest.raises(InputError):
        llm_answer(QUESTION, make_hits(), "ftp://127.0.0.1/v1", fallback=extractive_fallback)


# -- reading replies ------------------------------------------------------------------------

def test_reply_parsing_keeps_marks_in_all_their_forms():
    claims = parse_reply("<think>draft [9]</think>\n- **甲乙丙丁**[1]。\n2. 戊己庚辛。[2][3] 壬癸子丑[1,3]！寅卯辰巳[1-2]\n[4]")
    assert [(c.text, c.citations) for c in claims] == [
        ("甲乙丙丁。", (1,)), ("戊己庚辛。", (2, 3)), ("壬癸子丑！", (1, 3)), ("寅卯辰巳", (1, 2, 4))]
    english = parse_reply("The committee reached 930,000 people [2]. It has 5 groups.[1]")
    assert [(c.text, c.citations) for c in english] == [("The committee reached 930,000 people.", (2,)),
                                                        ("It has 5 groups.", (1,))]


def test_numbers_match_across_width_separators_and_wan():
    forms = {f for _, fs in numbers("联系界别群众93万余人，共１３６３个") for f in fs}
    assert {"93", "930000", "1363"} <= forms
    evidence = Evidence(rank=1, numbers=frozenset(forms), terms=frozenset())
    assert support("Members reached over 930,000 people.", evidence)[0]
    assert not support("Members reached over 940,000 people.", evidence)[0]


def test_check_claims_on_traditional_passage_with_glosses():
    kept, flagged = check_claims(parse_reply("雲南省政協的9個專委會全部成立了分黨組[3]。"), make_hits())
    assert [s.citations for s in kept] == [(3,)] and flagged == []


# -- wiring: Index.ask and the CLI -------------------------------------------------------------

def test_index_ask_does_not_call_the_llm_when_the_extractive_check_says_no_answer(llm, tmp_path, fake_embedder):
    from semsearch import Index

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    # The title names 甘肃省, as the question does: a place the corpus never names means no answer at any min_score.
    (corpus / "a.txt").write_text("甘肃省政协委员工作\n\n" + P1 + "\n\n" + P2 + "\n", encoding="utf-8")
    idx = Index.open(tmp_path / "idx", embedder=fake_embedder)
    idx.reindex([corpus])
    none = idx.ask(QUESTION, k=2, min_score=1.5, llm_url=llm.url)
    assert none.no_answer and none.mode == "extractive" and llm.requests == []
    llm.content = "甘肃省政协挂牌建立了1167个委员工作室[1]。"
    answer = idx.ask(QUESTION, k=2, min_score=0.0, llm_url=llm.url, llm_model="m")
    assert answer.mode == "llm" and len(llm.requests) == 1 and llm.requests[0]["body"]["model"] == "m"
    assert answer.sentences[0].citations == (1,) and "1167" in answer.hits[0].text
    idx.close()


class StubIndex:
    """What the CLI needs from an Index, answering through llm_answer with the hand-made hits."""

    path = "stub"

    def exists(self):
        return True

    def preload(self):
        pass  # no model behind the hand-made hits

    def changes(self):
        return {"new": [], "changed": [], "deleted": []}

    def cut_by_older_version(self):
        return False

    def translations(self, query):
        return []  # the hand-made hits need no dictionary words

    def ask(self, question, k=5, min_score=None, llm_url=None, llm_model=None, llm_timeout=60.0):
        return llm_answer(question, make_hits(), llm_url, model=llm_model, timeout=llm_timeout,
                          fallback=extractive_fallback)


def test_cli_prints_llm_sentences_and_warns_about_flagged_ones(llm, monkeypatch):
    monkeypatch.setattr(cli, "_open", lambda index, model: StubIndex())
    llm.content = "甘肃省政协挂牌建立了1167个委员工作室[1][2]。其中1200个设在乡镇[1]。"
    result = CliRunner().invoke(cli.app, ["ask", QUESTION, "--llm-url", llm.url])
    assert result.exit_code == 0, result.output
    assert "甘肃省政协挂牌建立了1167个委员工作室。 [1]" in result.stdout
    assert "warning: dropped an LLM sentence" in result.stderr and "1200" in result.stderr


def test_cli_unreachable_llm_exits_2_with_one_line(monkeypatch):
    monkeypatch.setattr(cli, "_open", lambda index, model: StubIndex())
    url = f"http://127.0.0.1:{free_port()}/v1"
    result = CliRunner().invoke(cli.app, ["ask", QUESTION, "--llm-url", url, "--json"])
    assert result.exit_code == 2
    assert result.stdout == "" and result.stderr.strip().count("\n") == 0 and url in result.stderr


@pytest.mark.slow
def test_cli_ask_json_with_llm_against_the_real_index(llm, real_index):
    """End to end: a real process, the real model and index, the fake LLM answering from passage [1]."""

    quoted = []

    def respond(body):
        prompt = body["messages"][-1]["content"]
        first = prompt.split("[1]", 1)[1].split("\n", 2)[1]  # the text of passage [1]
        quote = next(s for s in first.replace("。", "。\n").splitlines() if "委员工作站" in s and any(c.isdigit() for c in s))
        quoted.append(quote.rstrip("。"))
        return f"{quoted[-1]}[1]。委员工作站由省委统一拨款建设，每年考核两次[2]。"

    llm.respond = respond
    env = {**os.environ, "SEMSEARCH_INDEX": str(real_index)}
    proc = subprocess.run([sys.executable, "-m", "semsearch", "ask", "如何建设委员工作站?", "--llm-url", llm.url, "--json"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    answer = data["answer"]
    assert answer["mode"] == "llm" and data["no_answer"] is False
    ranks = {r["rank"]: r["text"] for r in data["results"]}
    assert answer["sentences"] and all(s["citation"] in ranks for s in answer["sentences"])
    assert quoted and quoted[0] in answer["sentences"][0]["text"] and answer["sentences"][0]["citations"] == [1]
    assert [f["text"] for f in answer["flagged"]] == ["委员工作站由省委统一拨款建设，每年考核两次。"]
    assert "warning: dropped an LLM sentence" in proc.stderr
    assert len(llm.requests) == 1 and llm.requests[0]["body"]["temperature"] == 0
