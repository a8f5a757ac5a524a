"""Answer sentences: scored from stored window vectors where the index has them, embedded otherwise."""

import json

import numpy as np

from conftest import DEV_QUESTIONS
from semsearch import Index
from semsearch.answer import WindowLookup, sentence_cosines
from semsearch.chunk import sentence_windows
from semsearch.evaluate import is_relevant
from semsearch.indexer import embed_text_of, text_hash
from semsearch.search import Hit, Source

LONG = "甲市政协建成委员工作站一千个。" + "乙县政协开展读书活动十二次,参加委员三百人。" * 3 + "丙区政协举办协商会议四十场。"


def _hit(chunk_id: int, text: str) -> Hit:
    return Hit(rank=chunk_id + 1, score=1.0, text=text, title=None, chunk_id=chunk_id,
               source=Source("a.txt", 1, 1, 0, len(text)))


class CountingEmbedder:
    def __init__(self):
        self.sentences: list[str] = []

    def encode_sentences(self, texts):
        self.sentences.extend(texts)
        return np.tile(np.array([0.0, 1.0], dtype=np.float32), (len(texts), 1))


def test_sentences_of_passages_with_windows_take_their_windows_vector_and_others_are_embedded():
    windows = sentence_windows(embed_text_of(None, LONG), 40)
    assert len(windows) >= 3
    stored = np.zeros((len(windows), 2), dtype=np.float16)
    stored[:, 0] = np.linspace(0.1, 0.9, len(windows))
    lookup = WindowLookup(lambda keys: {k: stored for k in keys if k == text_hash(LONG)}, 40)
    embedder = CountingEmbedder()
    long_hit, short_hit = _hit(0, LONG), _hit(1, "短段落一句话。")
    first, last = "甲市政协建成委员工作站一千个。", "丙区政协举办协商会议四十场。"
    cosines = sentence_cosines(np.array([1.0, 0.0], dtype=np.float32),
                               [(long_hit, first), (long_hit, last), (short_hit, "短段落一句话。")], embedder, lookup)
    assert cosines[0] == np.float32(stored[0, 0]) and cosines[1] == np.float32(stored[-1, 0])
    assert embedder.sentences == ["短段落一句话。"] and cosines[2] == 0.0


def test_a_passage_that_fits_one_window_scores_its_sentences_by_its_own_vector():
    short = "短段落一句话。又一句话。"
    lookup = WindowLookup(lambda keys: {}, 40, lambda keys: {k: np.array([0.6, 0.8], np.float32) for k in keys
                                                          if k == text_hash(short)})
    embedder = CountingEmbedder()
    cosines = sentence_cosines(np.array([1.0, 0.0], dtype=np.float32),
                               [(_hit(0, short), "短段落一句话。"), (_hit(1, "别的段落。"), "别的段落。")], embedder, lookup)
    assert cosines[0] == np.float32(0.6)
    assert embedder.sentences == ["别的段落。"]  # no stored vector for that text: embedded


def test_without_windows_every_sentence_is_embedded():
    embedder = CountingEmbedder()
    cosines = sentence_cosines(np.array([0.0, 1.0], dtype=np.float32), [(_hit(0, LONG), "甲市政协建成委员工作站一千个。")],
                               embedder, None)
    assert embedder.sentences == ["甲市政协建成委员工作站一千个。"] and cosines[0] == 1.0


def test_answer_sentences_hold_the_gold_fact_for_most_dev_questions(real_index):
    idx = Index.open(real_index)
    questions = [json.loads(line) for line in DEV_QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    found = 0
    for q in questions:
        answer = idx.ask(q["q"])
        gold = q["gold"] if isinstance(q["gold"], list) else [q["gold"]]
        found += not answer.no_answer and is_relevant(" ".join(s.text for s in answer.sentences), tuple(gold))
    assert found / len(questions) >= 0.8  # 0.9 measured (bench/results/quality.md)


def _english_hit(text: str, cosine: float) -> Hit:
    return Hit(rank=1, score=1.0, text=text, title=None, chunk_id=0, dense_score=cosine,
               source=Source("a.txt", 1, 1, 0, len(text)))


def test_an_english_question_naming_nothing_is_answered_when_one_passage_holds_three_of_its_words():
    from semsearch.answer import unanswerable

    in_corpus = {"发言": 3, "提交": 2, "委员": 9, "天气": 1}
    counts = lambda terms: {t: in_corpus.get(t, 0) for t in terms}  # noqa: E731
    together = [_english_hit("委员提交发言七十八篇。", 0.8)]
    apart = [_english_hit("委员提交了意见。", 0.8), _english_hit("发言很精彩。", 0.8)]
    question = "How many speeches did the members submit?"
    assert not unanswerable(question, together, counts)
    assert unanswerable(question, apart, counts)  # two words in one passage at most
    assert unanswerable("What's the weather like today?", [_english_hit("天气晴。", 0.8)], counts)


def test_english_questions_without_a_shared_name_are_answered_and_off_topic_ones_are_not(real_index):
    index = Index.open(real_index)
    answered = index.ask("How much funding was arranged to build a primary school in Sanmeng township?")
    assert not answered.no_answer and is_relevant(" ".join(s.text for s in answered.sentences), ("363万元",))
    for off_topic in ("Which stocks should I buy this year?", "How do I reverse a list in Python?"):
        assert index.ask(off_topic).no_answer, off_topic
