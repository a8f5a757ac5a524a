"""The command line as users and scripts run it: a real process, the real model, the JSON contract, exit codes."""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import DEV_QUESTIONS, SEEDS
from contract import check_results_cite_the_source, check_workstation_answer



# These tests load the real model (or run the CLI/server, which does).
pytestmark = pytest.mark.slow


def run(*args, index=None, env=None, timeout=300):
    full_env = {**os.environ, **(env or {})}
    if index is not None:
        full_env["SEMSEARCH_INDEX"] = str(index)
    return subprocess.run([sys.executable, "-m", "semsearch", *map(str, args)], capture_output=True, text=True,
                          env=full_env, timeout=timeout)




@pytest.mark.parametrize("argv", [["--help"], ["ask", "--help"], ["search", "--help"], ["status", "--help"],
                                  ["serve", "--help"]])
def test_help_never_imports_torch(argv):
    code = ("import sys\nfrom semsearch.interfaces import cli\n"
            f"try:\n    cli.app({argv!r})\nexcept SystemExit:\n    pass\n"
            "print('heavy:', sorted(m for m in ('torch', 'sentence_transformers', 'transformers', 'faiss', 'fastapi', 'uvicorn', 'starlette') "
            "if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stdout.strip().endswith("heavy: []"), proc.stdout[-300:] + proc.stderr


def test_explain_shows_the_chinese_terms_an_english_question_searched_for(real_index):
    proc = run("search", "How many speeches did the members submit?", "-k", "1", "--explain", index=real_index)
    assert proc.returncode == 0, proc.stderr
    line = next(l for l in proc.stdout.splitlines() if l.startswith("Also searched as:"))
    assert "提交" in line.split() and "发言" in line.split()
    chinese = run("search", "如何建设委员工作站?", "-k", "1", "--explain", index=real_index)
    assert "Also searched as" not in chinese.stdout  # every word of it is in the corpus


def test_ask_cites_the_1363_workstations_passage_first(real_index):
    proc = run("ask", "如何建设委员工作站?", "--json", index=real_index)
    assert proc.returncode == 0, proc.stderr
    check_workstation_answer(json.loads(proc.stdout))


def test_output_into_a_closed_pipe_ends_by_sigpipe_not_with_the_no_answer_code(real_index):
    import signal

    # The reader is gone before anything is written, as with `ask ... | head -0`.
    proc = subprocess.Popen([sys.executable, "-m", "semsearch", "ask", "如何建设委员工作站?"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "SEMSEARCH_INDEX": str(real_index)})
    proc.stdout.close()
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == -signal.SIGPIPE, (proc.returncode, stderr[-300:])
    assert b"Traceback" not in stderr


def test_ask_prints_answer_and_citations_for_people(real_index):
    proc = run("ask", "如何建设委员工作站?", index=real_index)
    assert proc.returncode == 0, proc.stderr
    assert "Answer" in proc.stdout and "002_82a0a245436f2301.txt:12" in proc.stdout
    assert "1363" in proc.stdout


_GLOSS = re.compile(r"[(（][a-züāáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜ]+[)）]")


def test_answer_lines_are_shown_without_pinyin_glosses_while_sources_and_json_keep_the_text(real_index):
    question = "雲南省政協有幾個專委會成立了分黨組?"  # answered from the Yunnan article, glossed throughout: 協(xié)
    proc = run("ask", question, index=real_index)
    assert proc.returncode == 0, proc.stderr
    answer, sources = proc.stdout.split("\nSources\n", 1)
    assert "9個專委會全部成立分黨組" in "".join(answer.split()) and not _GLOSS.search(answer)
    assert _GLOSS.search(sources)  # the passages are shown as the source has them
    data = json.loads(run("ask", question, "--json", index=real_index).stdout)
    ranks = {r["rank"]: r["text"] for r in data["results"]}
    assert any(_GLOSS.search(s["text"]) for s in data["answer"]["sentences"])
    assert all(s["text"] in ranks[s["citation"]] for s in data["answer"]["sentences"])


def test_search_json_contract(real_index):
    proc = run("search", "邻水县政协编辑了多少期社情民意", "-k", "3", "--json", index=real_index)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert set(data) == {"schema", "query", "results"} and len(data["results"]) == 3
    check_results_cite_the_source(data["results"])


def test_traditional_and_simplified_queries_find_the_same_passage(real_index):
    simp = json.loads(run("search", "云南省政协有几个专委会成立了分党组", "--json", index=real_index).stdout)
    trad = json.loads(run("search", "雲南省政協有幾個專委會成立了分黨組", "--json", index=real_index).stdout)
    assert simp["results"][0]["source"] == trad["results"][0]["source"]


def test_eval_reports_hit_at_5_of_at_least_0_9_on_the_dev_questions(real_index):
    proc = run("eval", DEV_QUESTIONS, "--json", index=real_index)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["questions"] == 10 and data["hit@5"] >= 0.9
    assert {"hit@1", "hit@5", "mrr@10"} <= set(data)


def _mixed_question_file(tmp_path):
    lines = [{"id": "a1", "q": "甘肃省政协挂牌建立了多少个委员工作室?", "gold": ["1167个委员工作室"]},
             {"id": "a2", "q": "邻水县政协编辑了多少期《社情民意》?", "gold": ["共编辑《社情民意》30期"]},
             {"id": "u1", "q": "你好", "gold": []},
             {"id": "u2", "q": "浙江省政协今年建立了多少个委员工作室?", "gold": []}]
    path = tmp_path / "mixed.jsonl"
    path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")
    return path


def test_eval_asks_every_question_and_reports_gold_in_answer_and_no_answer_recall(tmp_path, real_index):
    questions = _mixed_question_file(tmp_path)
    data = json.loads(run("eval", questions, "--json", index=real_index).stdout)
    assert data["questions"] == 2 and [row["answer"] for row in data["per_question"]] == ["gold", "gold"]
    answers = data["answers"]
    assert (answers["answerable"], answers["unanswerable"]) == (2, 2)
    assert answers["gold_in_answer_sentences"] == 1.0 and answers["false_no_answer_rate"] == 0.0
    assert answers["no_answer_recall"] == 1.0 and answers["no_answer_precision"] == 1.0
    assert answers["answer_misses"] == [] and answers["answered_unanswerable"] == []
    # A threshold no cosine reaches: every question gets "no answer", so precision falls to the unanswerable share.
    strict = json.loads(run("eval", questions, "--json", "--min-score", "1.5", index=real_index).stdout)["answers"]
    assert strict["false_no_answer_rate"] == 1.0 and strict["no_answer_precision"] == 0.5
    assert strict["answer_misses"] == ["a1:no_answer", "a2:no_answer"]
    plain = run("eval", questions, index=real_index)
    assert plain.returncode == 0 and "no-answer recall 1.000" in plain.stdout
    assert "answers" not in json.loads(run("eval", questions, "--json", "--no-answers", index=real_index).stdout)


def test_status_json_names_the_model_and_counts(real_index):
    proc = run("status", "--json", index=real_index)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["model"] == "multilingual-e5-small" and data["documents"] == 5 and data["stale"] is False
    assert data["window_chars"] == 120


def test_status_says_whether_the_index_has_sentence_windows(real_index):
    proc = run("status", index=real_index)
    assert proc.returncode == 0, proc.stderr
    assert "sentence windows up to 120 characters" in proc.stdout


def test_reindex_json_contract_and_unchanged_rerun_embeds_nothing(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(SEEDS / "000_f9c47bd5452f56e6.txt", corpus)
    first = run("reindex", corpus, "--json", index=tmp_path / "idx")
    assert first.returncode == 0, first.stderr
    data = json.loads(first.stdout)
    assert set(data) == {"schema", "index", "model", "files", "chunks", "seconds"}
    assert data["files"] == {"added": 1, "updated": 0, "deleted": 0, "unchanged": 0}
    assert data["chunks"]["embedded"] == data["chunks"]["total"] > 0
    again = json.loads(run("reindex", "--json", index=tmp_path / "idx").stdout)
    assert again["chunks"]["embedded"] == 0 and again["files"]["unchanged"] == 1
    without = run("reindex", "--no-windows", "--json", index=tmp_path / "idx")
    assert without.returncode == 0 and json.loads(without.stdout)["chunks"]["embedded"] == 0
    assert json.loads(run("status", "--json", index=tmp_path / "idx").stdout)["window_chars"] == 0


def test_reindex_picks_the_passage_graph_by_cpu_and_an_index_keeps_its_own_until_told_otherwise(tmp_path):
    from semsearch.encoders.onnx import int8_pays

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(SEEDS / "000_f9c47bd5452f56e6.txt", corpus)

    def precision(name):
        return json.loads(run("status", "--json", index=tmp_path / name).stdout)["passage_vectors"]

    cpu_choice, other = ("int8", "float32") if int8_pays() else ("float32", "int8")
    flag = {"int8": "--int8", "float32": "--float"}
    assert run("reindex", corpus, "--json", index=tmp_path / "new").returncode == 0
    assert precision("new") == cpu_choice
    assert run("reindex", corpus, flag[other], "--json", index=tmp_path / "other").returncode == 0
    assert precision("other") == other
    # A later reindex embeds new text with the index's own graph, not the CPU's choice.
    (corpus / "extra.txt").write_text("新增的一段文字，说明委员工作站的建设。", encoding="utf-8")
    again = json.loads(run("reindex", "--json", index=tmp_path / "other").stdout)
    assert again["chunks"]["embedded"] == 1 and precision("other") == other
    # Asked for the other graph, it reuses the old vectors (cosine ~0.999) and says they are mixed.
    (corpus / "extra2.txt").write_text("又一段文字，关于读书群的组建。", encoding="utf-8")
    mixed = json.loads(run("reindex", flag[cpu_choice], "--json", index=tmp_path / "other").stdout)
    assert mixed["chunks"]["embedded"] == 1 and precision("other") == "mixed"


def test_ask_builds_a_missing_index_from_the_default_corpus_first(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(SEEDS / "002_82a0a245436f2301.txt", corpus)
    proc = run("search", "委员工作站", "--json", index=tmp_path / "idx", env={"SEMSEARCH_CORPUS": str(corpus)})
    assert proc.returncode == 0, proc.stderr
    assert "building it from" in proc.stderr
    assert json.loads(proc.stdout)["results"]


def test_missing_path_exits_2_with_one_line(tmp_path):
    proc = run("reindex", tmp_path / "does-not-exist", index=tmp_path / "idx")
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "no such file" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_option_exits_2(real_index):
    assert run("search", "政协", "--top-k", "0", index=real_index).returncode == 2


def test_empty_query_exits_2_without_traceback(real_index):
    proc = run("search", "  ", index=real_index)
    assert proc.returncode == 2 and "empty" in proc.stderr and "Traceback" not in proc.stderr


def test_a_min_score_that_is_not_a_finite_number_exits_2_with_one_line(real_index):
    for value in ("nan", "inf"):
        proc = run("ask", "委员工作站", "--min-score", value, index=real_index)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, value
        assert proc.stderr.strip() == f"error: min_score must be a finite number, not {value}"


def test_querying_with_another_model_exits_3_naming_both(real_index):
    proc = run("search", "政协", "--model", "some-other-model", index=real_index)
    assert proc.returncode == 3
    assert "multilingual-e5-small" in proc.stderr and "some-other-model" in proc.stderr


def test_corrupt_index_exits_3_and_says_how_to_repair(tmp_path, real_index):
    broken = tmp_path / "broken"
    shutil.copytree(real_index, broken)
    live = (broken / "CURRENT").read_text().strip()
    (broken / live / "vectors.faiss").write_bytes(b"not a faiss file")
    proc = run("search", "政协", index=broken)
    assert proc.returncode == 3 and "--rebuild" in proc.stderr and "Traceback" not in proc.stderr


def test_no_answer_exits_1(real_index):
    proc = run("ask", "如何建设委员工作站?", "--min-score", "1.5", "--json", index=real_index)
    assert proc.returncode == 1
    data = json.loads(proc.stdout)
    assert data["no_answer"] is True and data["answer"]["sentences"] == []


def test_bad_question_file_exits_2(tmp_path, real_index):
    bad = tmp_path / "q.jsonl"
    bad.write_text('{"question": "no q field"}\n', encoding="utf-8")
    proc = run("eval", bad, index=real_index)
    assert proc.returncode == 2 and "q.jsonl:1" in proc.stderr


def test_stale_index_warns_and_strict_exits_3(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(SEEDS / "002_82a0a245436f2301.txt", corpus)
    assert run("reindex", corpus, index=tmp_path / "idx").returncode == 0
    (corpus / "new.txt").write_text("新增的文件。", encoding="utf-8")
    warned = run("search", "委员工作站", "--json", index=tmp_path / "idx")
    assert warned.returncode == 0 and "stale" in warned.stderr and json.loads(warned.stdout)["results"]
    strict = run("search", "委员工作站", "--strict", index=tmp_path / "idx")
    assert strict.returncode == 3 and "semsearch reindex" in strict.stderr


@pytest.mark.parametrize("damage", ["truncated faiss", "corrupt sqlite", "missing CURRENT target"])
def test_damaged_index_exits_3_with_a_repair_hint(tmp_path, real_index, damage):
    broken = tmp_path / "broken"
    shutil.copytree(real_index, broken)
    live = broken / (broken / "CURRENT").read_text().strip()
    if damage == "truncated faiss":
        data = (live / "vectors.faiss").read_bytes()
        (live / "vectors.faiss").write_bytes(data[: len(data) // 2])
    elif damage == "corrupt sqlite":
        (live / "index.sqlite").write_bytes(b"SQLite format 3\x00" + b"\xff" * 4096)
    else:
        shutil.rmtree(live)
    proc = run("search", "政协", index=broken)
    assert proc.returncode == 3, proc.stderr
    assert "rebuild" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_missing_model_exits_3_and_says_how_to_install(tmp_path):
    proc = run("search", "政协", index=tmp_path / "idx", env={"SEMSEARCH_MODELS": str(tmp_path / "no-models"),
                                                          "SEMSEARCH_CORPUS": str(SEEDS)})
    assert proc.returncode == 3 and "semsearch model install" in proc.stderr and "Traceback" not in proc.stderr


def test_oversized_query_exits_2(real_index):
    # the OS caps one argument at 128 KiB, so the CLI sees at most this much; the API test sends 1 MB
    proc = run("search", "政" * 40_000, index=real_index)
    assert proc.returncode == 2 and "limit" in proc.stderr


def test_an_index_cut_by_an_earlier_version_gets_a_note_and_still_answers(tmp_path, real_index):
    import sqlite3

    older = tmp_path / "older"
    shutil.copytree(real_index, older)
    live = older / (older / "CURRENT").read_text().strip()
    with sqlite3.connect(live / "index.sqlite") as db:
        db.execute("UPDATE meta SET value = '2' WHERE key = 'chunker'")
    proc = run("search", "委员工作站", "--json", index=older)
    assert proc.returncode == 0 and json.loads(proc.stdout)["results"]
    assert "earlier version of semsearch; run: semsearch reindex" in proc.stderr
    status = json.loads(run("status", "--json", index=older).stdout)
    assert status["chunker"] == "2" and status["chunker_current"] is False
    shown = run("status", index=older).stdout
    assert "cut by an earlier version of semsearch" in shown and "up to date" not in shown
