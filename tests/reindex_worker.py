"""A real reindex process for crash tests: ``python reindex_worker.py INDEX CORPUS [SECONDS_PER_BATCH]``.

Uses the fake embedder (so the run is short and deterministic), slowed down per
batch when asked so that a kill can land anywhere in the run.
"""

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest import FakeEmbedder  # noqa: E402

from semsearch import Index  # noqa: E402


class SlowFakeEmbedder(FakeEmbedder):
    def __init__(self, delay: float):
        super().__init__()
        self.delay = delay

    def encode_passages(self, texts, on_batch=None):
        out = []
        for start in range(0, len(texts), 8):
            time.sleep(self.delay)
            out.extend(super().encode_passages(texts[start:start + 8], on_batch))
        return out


if __name__ == "__main__":
    delay = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
    report = Index.open(sys.argv[1], embedder=SlowFakeEmbedder(delay)).reindex([sys.argv[2]])
    print(json.dumps(report))
