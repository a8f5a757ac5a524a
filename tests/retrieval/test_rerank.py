"""rerank.py: the first hits of a hybrid search reordered by their best answer sentence."""

import numpy as np

from conftest import REPO
from semsearch import Index
from semsearch.retrieval.rerank import rerank
from semsearch.config import DEFAULTS
from semsearch.types import Hit, Source

RERANK_DEPTH = DEFAULTS.rerank_depth


def _hit(rank: int, text: str) -> Hit:
    return Hit(rank=rank, score=1.0 - rank / 10, text=text, title=None, chunk_id=rank,
               source=Source(f"{rank}.txt", 1, 1, 0, len(text)))


def _no_vectors(terms):
    return dict.fromkeys(terms, 1)


def test_the_first_hits_are_ordered_by_their_best_sentence_and_the_rest_keep_their_fused_order():
    filler = "政协委员积极履职尽责，围绕中心工作开展调研。"
    hits = [_hit(1, filler * 3), _hit(2, filler + "甲县委员书屋建成35间。"), _hit(3, filler),
            _hit(4, filler), _hit(5, filler), _hit(6, "甲县委员书屋建成35间，配备图书。"), _hit(7, filler)]
    out = rerank("甲县委员书屋建成多少间?", hits, np.zeros(2, dtype=np.float32), _no_vectors, None)
    assert out[0].chunk_id == 2 and out[0].sentence_score is not None
    assert [h.rank for h in out] == list(range(1, 8))
    assert [h.score for h in out] == sorted((h.score for h in out), reverse=True)  # scores still fall with rank
    assert out[0].fused_score == hits[1].score and out[0].score > hits[1].score
    assert {h.chunk_id for h in out[:RERANK_DEPTH]} == {1, 2, 3, 4, 5}  # only the order of the first five changes
    assert [h.chunk_id for h in out[RERANK_DEPTH:]] == [6, 7] and out[5].sentence_score is None
    assert out[1].chunk_id == 1  # equal best sentences keep their fused order


def test_search_with_k_1_returns_the_first_hit_of_k_5(real_index):
    idx = Index.open(real_index)
    for question in ("河池市政协协调创建了多少个协商议事室?", "How many members' reading rooms were built in Hechi?"):
        assert idx.search(question, k=1)[0].chunk_id == idx.search(question, k=5)[0].chunk_id


def test_reranking_by_best_sentence_raises_hit_at_1_on_our_questions(real_index):
    from semsearch.evaluate import evaluate, load_questions

    questions = load_questions(REPO / "bench" / "questions" / "seeds_questions.jsonl")
    reranked = evaluate(Index.open(real_index), questions)
    fused = evaluate(Index.open(real_index, settings=DEFAULTS.but(rerank=False)), questions)
    assert reranked["questions"] == 65
    assert reranked["hit@1"] > fused["hit@1"] and reranked["hit@5"] == fused["hit@5"]


def test_with_no_weight_on_the_sentence_the_fused_order_stands():
    filler = "政协委员积极履职尽责，围绕中心工作开展调研。"
    hits = [_hit(1, filler * 3), _hit(2, filler + "甲县委员书屋建成35间。"), _hit(3, filler)]
    no_margin = DEFAULTS.but(sentence_weight=0.0)  # the margin counts for nothing: fused order
    out = rerank("甲县委员书屋建成多少间?", hits, np.zeros(2, dtype=np.float32), _no_vectors, None, no_margin)
    assert [h.chunk_id for h in out] == [1, 2, 3] and [h.score for h in out] == [h.score for h in hits]
