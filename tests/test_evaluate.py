"""evaluate.py: question files, the relevance rule and the figures `semsearch eval` reports (plumbing, fake embedder)."""

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
