"""Retrieval behaviour: fusion, diversity, explanations, scripts and languages."""

import json

import pytest

from conftest import DEV_QUESTIONS
from semsearch.config import DEFAULTS
from semsearch import Index
from semsearch.evaluate import is_relevant
from semsearch.analysis.keyword import document_terms_and_names, latin_names, query_terms, question_name_keys
from semsearch.retrieval.fusion import fuse_scores, normalise_dense, normalise_keyword

PARA = "河池市政协协调创建了604个协商议事室，推动协商向基层延伸，群众反映的问题得到及时解决。"


def test_near_duplicate_passages_are_shown_once(tmp_path, fake_embedder):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text(PARA + "\n", encoding="utf-8")
    (corpus / "b.txt").write_text(PARA.replace("及时", "很快") + "\n", encoding="utf-8")  # a light edit
    (corpus / "c.txt").write_text("靖州县政协组织委员开展专题协商，提出意见建议。\n", encoding="utf-8")
    idx = Index.open(tmp_path / "idx", embedder=fake_embedder)
    idx.reindex([corpus])
    hits = idx.search("协商议事室", k=5)
    texts = [h.text for h in hits]
    assert sum("604个协商议事室" in t for t in texts) == 1
    assert len(hits) == 2


def test_remembered_term_counts_agree_with_a_fresh_reading_of_the_same_generation(tmp_path, corpus, fake_embedder):
    from semsearch import store

    idx = Index.open(tmp_path / "idx", embedder=fake_embedder)
    idx.reindex([corpus])
    gen = idx._generation()
    first = gen.term_document_counts(["委员", "政协", "不存在的词"])
    mixed = gen.term_document_counts(["政协", "协商", "委员", "政协", "不存在的词"])  # some remembered, some new
    fresh = store.Generation(gen.path).term_document_counts(["政协", "协商", "委员", "不存在的词"])
    assert first["委员"] > 0 and first["不存在的词"] == 0
    assert mixed == fresh and mixed["协商"] > 0


def test_explain_reports_both_rankings_and_the_fused_score(tmp_path, corpus, fake_embedder):
    idx = Index.open(tmp_path / "idx", embedder=fake_embedder)
    idx.reindex([corpus])
    hit = idx.search("社情民意有哪些?", k=1)[0]
    e = hit.as_json(explain=True)["explain"]
    assert set(e) == {"dense_rank", "keyword_rank", "cosine", "document_names", "states_asked_count", "fused",
                      "best_sentence"}
    assert e["keyword_rank"] >= 1 and e["dense_rank"] >= 1 and e["fused"] <= round(hit.score, 4)
    assert e["best_sentence"] is not None  # the first hit of a hybrid search for a question was reranked
    assert "explain" not in hit.as_json()


def test_score_fusion_prefers_a_passage_first_in_both_lists():
    dense = normalise_dense([(1, 0.90), (2, 0.89), (3, 0.80)])
    keyword = normalise_keyword([(2, 12.0), (1, 6.0)])
    fused = fuse_scores([dense, keyword], [1.0, 1.25])
    assert max(fused, key=fused.get) in (1, 2) and fused[3] == 0.0
    assert normalise_keyword([(5, 3.0)]) == {5: 1.0}


def test_question_words_do_not_become_search_terms():
    terms = query_terms("河池市政协组建了多少个读书群?")
    assert "河池" in terms and "读书" in terms
    assert not {"多少", "了多", "少个"} & set(terms)


def test_question_name_keys_are_chinese_words_and_latin_words_that_documents_hold_as_names():
    assert {"河池", "云南", "云南省"} <= question_name_keys("河池和云南省的政协做了什么")
    assert {"hechi", "xian", "gansu"} <= question_name_keys("What did Gansu's and Xi'an's CPPCC learn from Hechi?")
    assert "what" not in question_name_keys("What did Hechi do?")
    _, document_keys = document_terms_and_names("甘肃省政协副主席张发远到河池市调研")
    assert {"河池", "河池市", "hechi", "甘肃", "gansu"} <= document_keys


def test_a_question_s_name_keys_need_no_pinyin_so_a_cold_ask_does_not_import_it():
    import subprocess
    import sys

    code = ("import sys; from semsearch.analysis.keyword import question_name_keys; "
            "question_name_keys('河池市政协建了多少间委员书屋? How many in Hechi?'); "
            "print('pypinyin' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


def test_latin_names_are_capitalised_words_that_do_not_begin_a_sentence():
    assert latin_names("The Hechi CPPCC met in Xi'an. This year Gansu's members came.") == {"hechi", "cppcc", "xian", "gansu"}


def _two_articles(root):
    # Article A is about Hechi, but its passage on reading rooms never says so; article B's passage,
    # about another city, shares more of the question's wording.
    root.mkdir()
    intro = ("今年围绕中心工作履职尽责，组织委员深入基层开展调研视察，形成一批有分量的调研报告，"
             "推动解决了一批群众关心的实际问题，协商议政质量不断提高，委员队伍建设持续加强。")
    (root / "a.txt").write_text(f"河池市政协工作综述\n\n河池市政协{intro}\n\n读书活动\n\n"
                                "委员书屋建成35间，配备图书两万余册，委员读书活动经常开展，"
                                "机关干部和委员一起举办读书沙龙，邀请专家学者讲授履职知识。\n", encoding="utf-8")
    (root / "b.txt").write_text(f"梧州市政协工作综述\n\n梧州市政协{intro}\n\n读书活动\n\n"
                                "委员书屋建成12间，书屋配备图书两万余册，委员读书活动经常开展，"
                                "每季度举办一次读书分享会，交流心得体会，使用率很高。\n", encoding="utf-8")


def test_a_passage_whose_article_names_the_place_asked_about_ranks_first(tmp_path, fake_embedder):
    _two_articles(tmp_path / "corpus")
    idx = Index.open(tmp_path / "idx", embedder=fake_embedder)
    idx.reindex([tmp_path / "corpus"])
    question = "河池的委员书屋建成多少间？"

    def book_rooms_in_order(settings=DEFAULTS):
        found = Index.open(tmp_path / "idx", embedder=fake_embedder, settings=settings).search(question, k=5)
        return [h for h in found if "委员书屋建成" in h.text]

    hechi, other = book_rooms_in_order()
    assert "35间" in hechi.text and hechi.explanation()["document_names"] == "1/1"
    assert other.explanation()["document_names"] == "0/1"
    assert "12间" in book_rooms_in_order(DEFAULTS.but(document_name_weight=0.0))[0].text  # without the names, the other city's passage comes first


def test_a_name_every_document_holds_adds_nothing_and_a_rare_name_weighs_most():
    from semsearch.retrieval.fusion import document_name_bonus
    DOCUMENT_NAME_WEIGHT = DEFAULTS.document_name_weight

    named = {1: {"zhongguo", "hechi"}, 2: {"zhongguo", "gansu"}, 3: {"zhongguo"}}
    bonus = document_name_bonus({"zhongguo": 100, "hechi": 2, "gansu": 50}, named, documents=100)
    assert bonus[3] == 0.0 and bonus[1] > bonus[2] > 0.0
    assert abs(bonus[1] + bonus[2] - DOCUMENT_NAME_WEIGHT) < 1e-9  # the two rare names share the whole weight
    assert document_name_bonus({"zhongguo": 100}, named, documents=100) == {}


def test_a_question_asking_how_many_in_a_measure_word_lifts_passages_stating_such_a_count(tmp_path, fake_embedder):
    _two_articles(tmp_path / "corpus")
    idx = Index.open(tmp_path / "idx", embedder=fake_embedder)
    idx.reindex([tmp_path / "corpus"])
    question = "委员书屋建成多少间？"
    hits = idx.search(question, k=10)
    lifted = {h.chunk_id: h.score for h in hits}
    counts = {h.chunk_id for h in hits if h.explanation()["states_asked_count"]}
    assert all("间" in h.text for h in hits if h.chunk_id in counts)
    weight = DEFAULTS.answer_unit_weight
    unlifted = Index.open(tmp_path / "idx", embedder=fake_embedder, settings=DEFAULTS.but(answer_unit_weight=0.0))
    plain = {h.chunk_id: h.score for h in unlifted.search(question, k=10)}
    assert weight > 0 and len(counts) == 2 and set(plain) == set(lifted)
    for cid in plain:
        gain = lifted[cid] - plain[cid]
        assert abs(gain - (weight if cid in counts else 0.0)) < 1e-9


def test_an_index_from_before_document_names_still_searches_and_a_plain_reindex_adds_them(tmp_path, fake_embedder):
    import sqlite3

    from semsearch import store

    _two_articles(tmp_path / "corpus")
    idx = Index.open(tmp_path / "idx", embedder=fake_embedder)
    idx.reindex([tmp_path / "corpus"])
    live = store.live_generation(tmp_path / "idx")
    with sqlite3.connect(live / store.DB_FILE) as db:
        for table in ("chunk_articles", "article_names"):
            db.execute(f"DROP TABLE {table}")
    old = Index.open(tmp_path / "idx", embedder=fake_embedder)
    assert old.search("河池的委员书屋建成多少间？", k=2)[0].explanation()["document_names"] is None
    old.reindex([tmp_path / "corpus"])  # no file changed
    assert store.open_live(tmp_path / "idx").has_article_names
    assert old.search("河池的委员书屋建成多少间？", k=1)[0].explanation()["document_names"] == "1/1"


def _one_file_of_two_articles(root):
    # A page of two articles, each closed by a byline line, as scraped news pages often are (seed 002 holds four).
    root.mkdir()
    intro = ("今年围绕中心工作履职尽责，组织委员深入基层开展调研视察，形成一批有分量的调研报告，"
             "推动解决了一批群众关心的实际问题，协商议政质量不断提高，委员队伍建设持续加强。")
    (root / "page.txt").write_text(
        f"政协工作综述两篇\n\n河池市政协{intro}\n\n读书活动\n\n委员书屋建成35间，配备图书两万余册，委员读书活动经常开展，"
        "机关干部和委员一起举办读书沙龙，邀请专家学者讲授履职知识。\n（河池市政协机关）\n\n"
        f"梧州市政协{intro}\n\n读书活动\n\n委员书屋建成12间，书屋配备图书两万余册，委员读书活动经常开展，"
        "每季度举办一次读书分享会，交流心得体会，使用率很高。\n（梧州市政协机关）\n", encoding="utf-8")


def test_a_passage_inherits_the_names_of_its_own_article_not_of_every_article_on_its_page(tmp_path, fake_embedder):
    _one_file_of_two_articles(tmp_path / "corpus")
    idx = Index.open(tmp_path / "idx", embedder=fake_embedder)
    idx.reindex([tmp_path / "corpus"])
    rooms = [h for h in idx.search("河池的委员书屋建成多少间？", k=5) if "委员书屋建成" in h.text]
    assert len(rooms) == 2
    named = {("35间" in h.text): h.explanation()["document_names"] for h in rooms}
    assert named == {True: "1/1", False: "0/1"}  # the same page, but only the first article names 河池
    assert "35间" in rooms[0].text


def test_an_index_from_before_articles_scopes_names_by_file_until_a_plain_reindex(tmp_path, fake_embedder):
    import sqlite3

    from semsearch import store

    _one_file_of_two_articles(tmp_path / "corpus")
    idx = Index.open(tmp_path / "idx", embedder=fake_embedder)
    idx.reindex([tmp_path / "corpus"])
    with sqlite3.connect(store.live_generation(tmp_path / "idx") / store.DB_FILE) as db:
        # An index from before articles: its names per file, as that version wrote them.
        db.execute("CREATE TABLE document_names (name TEXT NOT NULL, doc_id INTEGER NOT NULL, "
                   "PRIMARY KEY (name, doc_id)) WITHOUT ROWID")
        db.execute("INSERT INTO document_names SELECT DISTINCT n.name, c.doc_id FROM article_names n "
                   "JOIN chunk_articles a ON a.article = n.article JOIN chunks c ON c.id = a.chunk_id")
        db.execute("DROP TABLE chunk_articles")
        db.execute("DROP TABLE article_names")

    def names_of_the_rooms_passages():
        hits = Index.open(tmp_path / "idx", embedder=fake_embedder).search("河池的委员书屋建成多少间？", k=5)
        return sorted(h.explanation()["document_names"] for h in hits if "委员书屋建成" in h.text)

    assert names_of_the_rooms_passages() == ["1/1", "1/1"]  # by file, as before articles
    idx.reindex([tmp_path / "corpus"])  # no file changed
    assert store.open_live(tmp_path / "idx").has_article_names
    assert names_of_the_rooms_passages() == ["0/1", "1/1"]


def test_names_get_pinyin_so_english_questions_match_them():
    fts_terms, _ = document_terms_and_names("甘肃省政协副主席张发远到河池市调研")
    assert {"gansu", "zhangfayuan", "hechi"} <= set(fts_terms.split())
    assert "xian" in query_terms("How many did Xi'an revise?")


@pytest.mark.parametrize("query", ["云南省政协有几个专委会成立了分党组", "雲南省政協有幾個專委會成立了分黨組",
                                   "雲南省政协有几個專委会成立了分党組"])
def test_simplified_traditional_and_mixed_queries_rank_the_same_passage_first(real_index, query):
    top = Index.open(real_index).search(query, k=1)[0]
    assert top.source.path == "004_a196217599c831b5.txt" and "分黨組" in top.text


def test_english_questions_find_chinese_passages(real_index):
    hits = Index.open(real_index).search("How many consultation and deliberation rooms did the Hechi CPPCC help set up?", k=5)
    assert any(is_relevant(h.text, ("协调创建604个协商议事室",)) for h in hits)


def test_an_english_question_naming_a_city_lifts_the_passage_of_that_citys_article(real_index):
    # The passage on Hechi's 604 rooms never says "Hechi"; its article does.
    question = "How many consultation and deliberation rooms did the Hechi CPPCC help set up?"

    def rank(settings=DEFAULTS):
        hits = Index.open(real_index, settings=settings).search(question, k=10)
        return next((h.rank for h in hits if is_relevant(h.text, ("协调创建604个协商议事室",))), 99)

    with_names = rank()
    assert with_names <= 2 and with_names < rank(DEFAULTS.but(document_name_weight=0.0))


def test_dev_questions_reach_hit_at_5_of_0_9_through_the_api(real_index):
    from semsearch.evaluate import evaluate, load_questions

    result = evaluate(Index.open(real_index), load_questions(DEV_QUESTIONS))
    assert result["hit@5"] >= 0.9
    json.dumps(result)


@pytest.mark.parametrize("name, floor", [("english_heldout.jsonl", 0.85), ("reworded_heldout.jsonl", 0.85)])
def test_held_out_english_and_reworded_questions_keep_their_hit_at_5(real_index, name, floor):
    # Measured 0.85 and 0.90 with the dictionary bridges (bench/results/quality.md), 0.80 and 0.75 without
    # them (search.TRANSLATE = False): both floors fail without the bridges.
    from conftest import REPO
    from semsearch.evaluate import evaluate, load_questions

    result = evaluate(Index.open(real_index), load_questions(REPO / "bench" / "questions" / name))
    assert result["hit@5"] >= floor, result["hit@5"]


def test_one_index_shared_by_threads_gives_each_the_sequential_results(real_index):
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import ThreadpoolController

    def _blas():
        return ThreadpoolController().select(user_api="blas")

    questions = [json.loads(line)["q"] for line in DEV_QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    idx = Index.open(real_index)
    expected = {q: [h.chunk_id for h in idx.search(q, k=5)] for q in questions}
    blas_threads = [lib["num_threads"] for lib in _blas().info()]
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda q: (q, [h.chunk_id for h in idx.search(q, k=5)]), questions * 4))
    assert all(ids == expected[q] for q, ids in got)
    # Concurrent searches leave the caller's BLAS setting as it was.
    assert [lib["num_threads"] for lib in _blas().info()] == blas_threads


def test_a_passage_is_lifted_by_its_best_sentence_window_and_others_keep_their_cosine():
    import numpy as np

    from semsearch.retrieval.dense import with_window_scores

    query = np.array([1.0, 0.0], dtype=np.float32)

    class Windows:  # chunk 7 says many things; one of its windows is exactly the question
        def window_vectors(self, ids):
            assert sorted(ids) == [3, 7, 9]
            return {7: np.array([[0.0, 1.0], [0.96, 0.28]], dtype=np.float16)}

    rescored = with_window_scores(Windows(), query, [(3, 0.9), (9, 0.8), (7, 0.7)])
    assert [cid for cid, _ in rescored] == [7, 3, 9]
    assert rescored[0][1] == pytest.approx(0.96, abs=1e-3) and dict(rescored)[3] == 0.9


def test_the_shared_index_has_window_vectors_for_its_long_passages(real_index):
    gen = Index.open(real_index)._generation()
    long_ids = [cid for cid, row in gen.chunks(list(range(gen.chunk_count()))).items() if len(row.embed_text) > 300]
    assert long_ids and set(gen.window_vectors(long_ids)) == set(long_ids)


def test_an_english_query_is_embedded_with_the_most_used_translation_of_each_word():
    from semsearch.retrieval.dense import query_text_for_embedding

    in_corpus = {"委员": 9, "成员": 2, "读书": 3}
    counts = lambda terms: {t: in_corpus.get(t, 0) for t in terms}  # noqa: E731
    text = query_text_for_embedding("how many members read books", counts)
    assert text.startswith("how many members read books ")
    added = text.split()[5:]
    assert "委员" in added and "成员" not in added  # one word per English word: the corpus's commonest sense
    assert query_text_for_embedding("委员读书", counts) == "委员读书"  # Chinese questions are embedded as written
    assert query_text_for_embedding("how many members", lambda terms: dict.fromkeys(terms, 0)) == "how many members"


def test_a_vector_search_uses_the_spare_core_only_when_no_other_search_is_running(tmp_path, corpus, fake_embedder,
                                                                                   monkeypatch):
    from semsearch.retrieval import search as S

    idx = Index.open(tmp_path / "idx", embedder=fake_embedder)
    idx.reindex([corpus])
    seen = []
    real = S.dense_candidates
    monkeypatch.setattr(S, "dense_candidates", lambda gen, vector, n, cores_free=False, settings=DEFAULTS:
                        seen.append(cores_free) or real(gen, vector, n, cores_free, settings))
    alone = idx.search("委员工作站", k=3, mode="dense")
    with S._SEARCHES:  # as if a server thread were in the middle of another search
        beside_another = idx.search("委员工作站", k=3, mode="dense")
    assert seen == [True, False]
    assert [h.chunk_id for h in alone] == [h.chunk_id for h in beside_another]
    assert S._SEARCHES.running == 0


def test_a_lone_hybrid_search_splits_its_vector_search_while_its_own_keyword_lookup_still_runs(
        tmp_path, corpus, fake_embedder, monkeypatch):
    import threading

    from semsearch.retrieval import search as S

    idx = Index.open(tmp_path / "idx", embedder=fake_embedder)
    idx.reindex([corpus])
    release = threading.Event()
    real_keyword = S.keyword_candidates

    def slow_keyword(*args):
        release.wait(10)  # still running when the vector search starts
        return real_keyword(*args)

    seen = []
    real_dense = S.dense_candidates

    def dense(gen, vector, n, cores_free=False, settings=DEFAULTS):
        seen.append(cores_free)
        release.set()
        return real_dense(gen, vector, n, cores_free, settings)

    monkeypatch.setattr(S, "keyword_candidates", slow_keyword)
    monkeypatch.setattr(S, "dense_candidates", dense)
    hits = idx.search("委员工作站", k=3)
    assert seen == [True] and hits


def test_keyword_search_weighs_most_when_question_and_nearest_passage_are_both_chinese():
    from semsearch.retrieval.fusion import keyword_weight
    KEYWORD_WEIGHT, OTHER_KEYWORD_WEIGHT = DEFAULTS.keyword_weight, DEFAULTS.other_keyword_weight

    assert OTHER_KEYWORD_WEIGHT < KEYWORD_WEIGHT
    assert keyword_weight("委员工作站有多少个", "建成委员工作站35个。") == KEYWORD_WEIGHT
    assert keyword_weight("渡轮多久一班", "The ferry sails every 15 minutes.") == OTHER_KEYWORD_WEIGHT
    assert keyword_weight("How many rooms?", "建成协商议事室604个。") == OTHER_KEYWORD_WEIGHT
    assert keyword_weight("How long is the crossing?", "The crossing takes 12 minutes.") == OTHER_KEYWORD_WEIGHT
    assert keyword_weight("委员工作站", None) == KEYWORD_WEIGHT  # no dense ranking to judge by


def test_only_questions_are_reordered_by_their_best_sentence(tmp_path, corpus, fake_embedder):
    idx = Index.open(tmp_path / "idx", embedder=fake_embedder)
    idx.reindex([corpus])
    question = idx.search("如何建设委员工作站?", k=5)
    title = idx.search("委员工作站建设", k=5)
    assert any(h.sentence_score is not None for h in question)  # a question: reranked by its best sentence
    assert all(h.sentence_score is None for h in title)  # a title: whole passages decide
    every = Index.open(tmp_path / "idx", embedder=fake_embedder, settings=DEFAULTS.but(rerank_only_questions=False))
    assert any(h.sentence_score is not None for h in every.search("委员工作站建设", k=5))
