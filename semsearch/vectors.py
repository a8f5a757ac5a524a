"""Vector index: which FAISS structure holds the chunk vectors, and building it in blocks.

Owns the choice by size. Exact inner-product search (``IndexFlatIP``) is used
while it is fast enough; past ``EXACT_LIMIT`` vectors an HNSW graph over the
same vectors answers in about a millisecond with recall@10 ≥ 0.95 against
exact search (measured in bench/scale.py). Vectors are L2-normalised, so inner
product is cosine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np

EXACT_LIMIT = 200_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 96


def new_index(n: int, dimension: int):
    import faiss

    if n <= EXACT_LIMIT:
        return faiss.IndexFlatIP(dimension)
    index = faiss.IndexHNSWFlat(dimension, HNSW_M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    index.hnsw.efSearch = HNSW_EF_SEARCH
    return index


def build_vector_index(n: int, dimension: int, blocks: Iterable[np.ndarray], path: Path) -> None:
    """Add ``n`` vectors given in row order as blocks, then write the index to ``path``."""
    import faiss

    index = new_index(n, dimension)
    added = 0
    for block in blocks:
        if len(block):
            index.add(np.ascontiguousarray(block, dtype=np.float32))
            added += len(block)
    if added != n:
        raise RuntimeError(f"vector index got {added} vectors for {n} chunks")
    faiss.write_index(index, str(path))


def load_vector_index(path: Path):
    import faiss

    index = faiss.read_index(str(path))
    if hasattr(index, "hnsw"):
        index.hnsw.efSearch = HNSW_EF_SEARCH
    return index
