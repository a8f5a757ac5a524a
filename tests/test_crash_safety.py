"""A reindex killed at any moment leaves the previous index usable; readers never see a mix."""

import fcntl
import json
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import WORKER
from semsearch import Index
from semsearch.store import CURRENT

QUERIES = ["委员工作站", "夜校培训", "社情民意", "党建引领", "读书群"]
KILLS = 20


def set_state(corpus: Path, pristine: Path, state: str) -> None:
    """State "A" is the seed corpus; "B" adds a file and edits another."""
    shutil.rmtree(corpus, ignore_errors=True)
    shutil.copytree(pristine, corpus)
    if state == "B":
        (corpus / "extra.md").write_text("# 夜校\n\n委员夜校培训开展了十二期，参加培训的委员达三百人次。\n" * 3, encoding="utf-8")
        path = corpus / "003_a04c3e3b5e096c7a.txt"
        path.write_text(path.read_text(encoding="utf-8").replace("社情民意", "社情民意信息专报"), encoding="utf-8")


def snapshot(index_path: Path, embedder) -> tuple:
    idx = Index.open(index_path, embedder=embedder)
    try:
        return tuple(tuple((h.source.path, h.source.char_start, h.text) for h in idx.search(q, k=5)) for q in QUERIES)
    finally:
        idx.close()


def start_worker(index_path: Path, corpus: Path, delay: float, stages: Path | None = None) -> subprocess.Popen:
    args = [sys.executable, str(WORKER), str(index_path), str(corpus), str(delay)] + ([str(stages)] if stages else [])
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


# Where to kill: once a stage has begun, after a delay. Twenty moments from process start to after the switch.
KILL_SCHEDULE = [("start", 0.0), ("start", 0.2), ("scanning", 0.0), ("scanning", 0.005), ("chunking", 0.0),
                 ("chunking", 0.01), ("embedding", 0.0), ("embedding", 0.02), ("embedding", 0.05),
                 ("sentence", 0.0), ("sentence", 0.03), ("writing", 0.0), ("writing", 0.01), ("writing", 0.02),
                 ("writing", 0.03), ("writing", 0.05), ("writing", 0.08), ("writing", 0.12), ("writing", 0.25),
                 ("writing", 1.0)]


def wait_for_stage(stages: Path, stage: str, proc: subprocess.Popen, timeout: float = 60) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if stages.exists() and stage in stages.read_text(encoding="utf-8").split():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.001)
    return False


@pytest.fixture
def states(tmp_path, corpus, fake_embedder):
    """Expected answers of a complete index of state A and of state B."""
    pristine = tmp_path / "pristine"
    shutil.copytree(corpus, pristine)
    expected = {}
    for state in "AB":
        set_state(corpus, pristine, state)
        Index.open(tmp_path / f"ref-{state}", embedder=fake_embedder).reindex([corpus])
        expected[state] = snapshot(tmp_path / f"ref-{state}", fake_embedder)
    assert expected["A"] != expected["B"]
    return pristine, expected


def test_sigkill_at_twenty_moments_never_breaks_the_index(tmp_path, corpus, fake_embedder, states):
    pristine, expected = states
    index_path = tmp_path / "idx"
    set_state(corpus, pristine, "A")
    Index.open(index_path, embedder=fake_embedder).reindex([corpus])

    delay = 0.03
    outcomes = []
    target = "B"
    assert len(KILL_SCHEDULE) >= 20
    for i, (stage, wait) in enumerate(KILL_SCHEDULE):
        set_state(corpus, pristine, target)
        before = snapshot(index_path, fake_embedder)
        stages = tmp_path / f"stages-{i}"
        proc = start_worker(index_path, corpus, delay, stages)
        wait_for_stage(stages, stage, proc)
        time.sleep(wait)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        after = snapshot(index_path, fake_embedder)
        assert after in (expected["A"], expected["B"]), f"kill {i}: the index mixes states"
        assert after in (before, expected[target]), f"kill {i}: neither the old nor the new index"
        leftovers = [p.name for p in index_path.iterdir() if p.name.startswith("gen-")]
        outcomes.append(("committed" if after != before else "rolled back", len(leftovers) > 1))
        status = Index.open(index_path, embedder=fake_embedder).status()
        assert status["chunks"] > 0
        if after != before:
            target = "A" if target == "B" else "B"

    # The kills landed at different stages: some before the switch, some after it.
    assert {o for o, _ in outcomes} == {"committed", "rolled back"}, outcomes
    assert any(partial for _, partial in outcomes), "no kill landed while a generation was half written"
    # A normal reindex afterwards completes, cleans up half-written generations, and is current.
    set_state(corpus, pristine, "B")
    done = start_worker(index_path, corpus, 0.0)
    assert done.wait(timeout=120) == 0, done.stderr.read().decode()
    assert snapshot(index_path, fake_embedder) == expected["B"]
    live = (index_path / CURRENT).read_text().strip()
    assert [p.name for p in index_path.iterdir() if p.name.startswith("gen-")] == [live]


def test_searches_during_a_reindex_see_the_old_or_the_new_index(tmp_path, corpus, fake_embedder, states):
    pristine, expected = states
    index_path = tmp_path / "idx"
    set_state(corpus, pristine, "A")
    Index.open(index_path, embedder=fake_embedder).reindex([corpus])
    seen, errors = [], []
    stop = threading.Event()

    def reader():
        idx = Index.open(index_path, embedder=fake_embedder)
        while not stop.is_set() and len(seen) < 5000:
            for i, q in enumerate(QUERIES):
                try:
                    seen.append((i, tuple((h.source.path, h.source.char_start, h.text) for h in idx.search(q, k=5))))
                except Exception as exc:  # any failure is a finding
                    errors.append(repr(exc))

    thread = threading.Thread(target=reader)
    thread.start()
    set_state(corpus, pristine, "B")
    worker = start_worker(index_path, corpus, 0.01)
    assert worker.wait(timeout=120) == 0
    time.sleep(0.3)
    stop.set()
    thread.join(timeout=60)
    assert not errors, errors[:3]
    # every single search answered from one complete index, the old or the new
    for i, result in seen:
        assert result in (expected["A"][i], expected["B"][i]), QUERIES[i]
    assert [r for i, r in seen if i == 0][-1] == expected["B"][0]


def _lock_is_held(index_path: Path) -> bool:
    lock = index_path / ".lock"
    if not lock.exists():
        return False
    with open(lock, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
        return False


def test_a_second_reindex_waits_for_the_first(tmp_path, corpus):
    index_path = tmp_path / "idx"
    first = start_worker(index_path, corpus, 0.1)
    deadline = time.time() + 60
    while not _lock_is_held(index_path):
        assert time.time() < deadline and first.poll() is None, "the first reindex never took the lock"
        time.sleep(0.02)
    second = start_worker(index_path, corpus, 0.0)
    assert first.wait(timeout=120) == 0 and second.wait(timeout=120) == 0
    first_report = json.loads(first.stdout.read())
    second_report = json.loads(second.stdout.read())
    assert first_report["files"]["added"] == 5
    # the second waited for the first to commit, so it found every file already indexed
    assert second_report["files"]["unchanged"] == 5 and second_report["chunks"]["embedded"] == 0


def test_a_waiting_reindex_says_why(tmp_path, corpus, fake_embedder):
    from semsearch.indexer import Progress
    from semsearch.store import writer_lock

    index_path = tmp_path / "idx"
    messages = []
    with writer_lock(index_path):
        thread = threading.Thread(target=lambda: Index.open(index_path, embedder=fake_embedder).reindex(
            [corpus], progress=Progress(on_warning=messages.append)))
        thread.start()
        deadline = time.time() + 30
        while not messages and time.time() < deadline:
            time.sleep(0.01)
        assert messages and "waiting for another reindex" in messages[0]
        assert not (index_path / CURRENT).exists()  # it waited: nothing written while the lock was held
    thread.join(timeout=60)
    assert (index_path / CURRENT).exists()
