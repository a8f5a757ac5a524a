"""evaluate.py: question files, the relevance rule and the figures `semsearch eval` reports (plumbing, fake embedder)."""

import json
import math

import pytest

from semsearch import Index
from semsearch.evaluate import Question, evaluate, is_relevant


def test_evaluate_steps_once_per_search_and_once_per_ask(tmp_path, corpus, fake_embedder):
    idx = Index.open(tmp_path / "idx", embedder=fake_embedder)
    idx.reindex([corpus])
    questions = [Question("a", "社情民意", ("社情民意",)), Question("b", "委员工作站", ("委员工作站",)),
                 Question("u", "你好", ())]
    steps = []
    result = evaluate(idx, questions, on_step=lambda: steps.append(1))
    assert len(steps) == 2 + 3  # two answerable searches, then all three asked
    assert result["questions"] == 2 and result["answers"]["unanswerable"] == 1
    assert [row["answer"] in ("gold", "miss", "no_answer") for row in result["per_question"]] == [True, True]
    steps.clear()
    assert "answers" not in evaluate(idx, questions, answers=False, on_step=lambda: steps.append(1))
    assert len(steps) == 2


def test_relevance_ignores_script_glosses_and_punctuation():
    assert is_relevant("雲南省政協(xié)的9個專委會,,全部成立分黨組", ("9个专委会，全部成立分党组",))
    assert not is_relevant("9个专委会", ("10个专委会",))


def test_a_qrels_question_is_relevant_by_file_and_overlapping_lines(tmp_path):
    from semsearch.errors import InputError
    from semsearch.evaluate import Relevant, load_questions, ndcg, relevant_ranks
    from semsearch.types import Hit, Source

    path = tmp_path / "q.jsonl"
    path.write_text('{"id": "x1", "q": "问题", "relevant": ["a.txt:10-12", "b.txt:3", "c.txt"]}\n'
                    '{"id": "u1", "q": "无关"}\n', encoding="utf-8")
    question, unanswerable = load_questions(path)
    assert question.relevant == (Relevant("a.txt", 10, 12), Relevant("b.txt", 3, 3), Relevant("c.txt"))
    assert question.answerable and not unanswerable.answerable

    def hit(rank, file, first, last):
        return Hit(rank=rank, score=1.0, text="x", title=None, source=Source(file, first, last, 0, 1))

    hits = [hit(1, "z.txt", 1, 50), hit(2, "a.txt", 12, 14), hit(3, "a.txt", 9, 10), hit(4, "b.txt", 4, 5),
            hit(5, "c.txt", 99, 99)]
    # a.txt counts once (rank 2; rank 3 is the same unit again), b.txt:3 is not in lines 4-5, c.txt accepts any line.
    assert relevant_ranks(hits, question) == [2, 5]
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert abs(ndcg([2, 5], 3) - (1 / math.log2(3) + 1 / math.log2(6)) / ideal) < 1e-9
    path.write_text('{"id": "x", "q": "问题", "relevant": [":5"]}\n', encoding="utf-8")
    with pytest.raises(InputError):
        load_questions(path)


def test_eval_reports_ndcg_for_a_qrels_file_built_from_the_index_itself(tmp_path, corpus, fake_embedder):
    from semsearch.evaluate import load_questions

    idx = Index.open(tmp_path / "idx", embedder=fake_embedder)
    idx.reindex([corpus])
    target = idx.search("委员工作站", k=1)[0].source
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps({"id": "x1", "q": "委员工作站", "relevant": [f"{target.path}:{target.line_start}"]},
                               ensure_ascii=False) + "\n", encoding="utf-8")
    result = evaluate(idx, load_questions(path), answers=False)
    assert result["per_question"][0]["rank"] == 1 and result["ndcg@10"] == 1.0 and result["hit@1"] == 1.0
