"""A 100 MB text file: indexed in bounded memory, with progress reported, and searchable to the line."""

import pytest
import json
import random
import subprocess
import sys
from pathlib import Path

from conftest import SEEDS, WORKER
from semsearch import Index

SIZE = 100 * 1024 * 1024
MAX_RSS_BYTES = 1_500 * 1024 * 1024  # 15x the file: chunk texts, folded texts and batches, not more


# These tests load the real model (or run the CLI/server, which does).
pytestmark = pytest.mark.slow


def test_a_100_mb_file_is_indexed_in_bounded_memory(tmp_path, fake_embedder):
    random.seed(7)
    paragraphs = [line.strip() for p in sorted(SEEDS.glob("*.txt"))
                  for line in p.read_text(encoding="utf-8").splitlines() if len(line.strip()) > 50]
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    written, n = 0, 0
    with open(corpus / "big.txt", "w", encoding="utf-8") as fh:
        while written < SIZE:
            line = f"第{n}段。{random.choice(paragraphs)}\n\n"
            fh.write(line)
            written += len(line.encode("utf-8"))
            n += 1
    stages = tmp_path / "stages"
    proc = subprocess.run([sys.executable, str(WORKER), str(tmp_path / "idx"), str(corpus), "0", str(stages)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    peak = report["peak_rss_kb"] * 1024  # the reindex process's own high-water mark
    assert peak < MAX_RSS_BYTES, f"peak RSS {peak / 2**20:.0f} MiB"
    assert report["files"]["added"] == 1 and report["chunks"]["total"] >= n // 2  # short paragraphs merge
    assert {"scanning", "chunking", "embedding", "writing"} <= set(stages.read_text(encoding="utf-8").split())

    target = n - 3
    hit = next(h for h in Index.open(tmp_path / "idx", embedder=fake_embedder).search(f"第{target}段", k=20)
               if h.text.startswith(f"第{target}段。"))
    with open(corpus / "big.txt", encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    assert lines[hit.source.line_start - 1].startswith(f"第{target}段。")
