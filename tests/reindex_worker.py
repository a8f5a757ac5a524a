"""A real reindex process for crash tests.

    python reindex_worker.py INDEX CORPUS [SECONDS_PER_BATCH [STAGE_FILE]]

Uses the fake embedder (so the run is short and deterministic), slowed down per
batch when asked, and appends each stage it enters to STAGE_FILE, so a test can
kill it at a chosen stage.
"""

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest import FakeEmbedder  # noqa: E402
  # noqa: E402
from semsearch import Index  # noqa: E402


class SlowFakeEmbedder(FakeEmbedder):
    def __init__(self, delay: float):
        super().__init__()
        self.delay = delay

    def encode_passages(self, texts, on_batch=None, exact=False, precision=None):
        out = []
        for start in range(0, len(texts), 8):
            time.sleep(self.delay)
            out.extend(super().encode_passages(texts[start:start + 8], on_batch))
        return out


def stage_logger(path):
    def log(stage):
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(stage.split()[0] + "\n")
    return log


if __name__ == "__main__":
    from semsearch.indexer import Progress

    delay = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
    progress = Progress(on_stage=stage_logger(sys.argv[4])) if len(sys.argv) > 4 else None
    if len(sys.argv) > 4:
        stage_logger(sys.argv[4])("start")
    result = Index.open(sys.argv[1], embedder=SlowFakeEmbedder(delay)).reindex_report([sys.argv[2]], progress=progress)
    report = result.as_json() | {"skipped": result.skipped}
    # VmHWM is this program's own peak: getrusage's ru_maxrss survives exec, so it would include
    # the peak of the (large) test process this worker was forked from.
    status = Path("/proc/self/status").read_text()
    report["peak_rss_kb"] = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
    print(json.dumps(report))
