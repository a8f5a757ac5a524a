"""Vector index: which FAISS structure holds the chunk vectors, and building it in blocks.

Owns the choice by size. Exact inner-product search (``IndexFlatIP``) is used
while it is fast enough: it reads every vector, about 0.08 ms per 1,000 on one
core (4 ms at 50k; 7.5-8 ms at 100k, a third of a 20 ms query once the question
encoder took 12 ms, bench/scale.py). Past ``EXACT_LIMIT`` vectors an inverted-file index:
k-means cells, the ``IVF_PROBE_SHARE`` of cells nearest the query searched, each
vector stored as its offset from its cell's centre in float16
(``IndexIVFScalarQuantizer``, QT_fp16). bench/ann.py measures the choice against
exact search at 1M vectors (bench/results/ann.json): the float16 file found the
same share of the exact top 10 as full-precision cells (``IndexIVFFlat``,
recall@10 0.98) in about 9 ms on one core where those took 12.6-14.5 ms, in half
the memory; 8-bit codes lost recall (0.955 at the same probes). Exact search takes
about 57 ms there.
An HNSW graph was tried first: on the same vectors, whose ten nearest
neighbours lie within a few thousandths of cosine of each other, it found 62%
of the exact top 10 at efSearch 96 and 91% at efSearch 1,024 (6 ms), and took
180 s to build against the inverted file's 70 s.
Vectors are L2-normalised, so inner product is cosine.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Callable, Iterable

import numpy as np


def faiss_module():
    """faiss, loaded with OpenMP's idle threads sleeping rather than spinning, unless the user set OMP_WAIT_POLICY.

    libgomp's default keeps an idle thread busy-waiting for the next parallel region, on the core the
    keyword lookup and the next question's encoder want: hybrid p50 at 100k chunks was 20.3 ms spinning
    against 18.8 with this setting (bench/scale.py runs before and after it, one each). libgomp reads the
    setting once, when it loads, so it must be in place before anything imports faiss.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import faiss

    return faiss


EXACT_LIMIT = 50_000
# Share of the cells searched per query: recall depends on the share, not the count.
IVF_PROBE_SHARE = 1 / 8
# k-means wants a few dozen points per cell; more only slows training.
TRAIN_POINTS_PER_LIST = 40
TRAIN_ITERATIONS = 12
HNSW_EF_SEARCH = 96  # for indexes built by earlier versions


def ivf_lists(n: int) -> int:
    """Cells for ``n`` vectors: about 4·√n, a power of two (1M → 4,096)."""
    lists = 1 << round(math.log2(4 * math.sqrt(max(n, 1))))
    while lists > 1 and lists * TRAIN_POINTS_PER_LIST > n:
        lists //= 2  # never more cells than the data can train
    return lists


def probes(lists: int) -> int:
    return max(1, round(lists * IVF_PROBE_SHARE))


def training_size(n: int) -> int:
    """How many sample vectors ``new_index`` needs to train an index of ``n`` (0: none)."""
    return 0 if n <= EXACT_LIMIT else min(n, ivf_lists(n) * TRAIN_POINTS_PER_LIST)


def new_index(n: int, dimension: int, sample: np.ndarray | None = None):
    """An empty index for ``n`` vectors, trained on ``sample`` when the structure needs it."""
    faiss = faiss_module()

    if n <= EXACT_LIMIT:
        return faiss.IndexFlatIP(dimension)
    if sample is None or len(sample) == 0:
        raise ValueError("an index of this size needs a training sample")
    lists = ivf_lists(n)
    clustering = faiss.ClusteringParameters()
    clustering.niter = TRAIN_ITERATIONS
    clustering.spherical = True  # centroids on the unit sphere, like the vectors
    clustering.seed = 1234
    clustering.max_points_per_centroid = TRAIN_POINTS_PER_LIST
    index = faiss.IndexIVFScalarQuantizer(faiss.IndexFlatIP(dimension), dimension, lists,
                                          faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
    index.cp = clustering
    index.train(np.ascontiguousarray(sample, dtype=np.float32))
    tune_for_search(index)
    return index


def _inverted_file(index):
    """The inverted file inside ``index`` (itself, or wrapped), or None for other structures."""
    faiss = faiss_module()
    return faiss.try_extract_index_ivf(index) if hasattr(faiss, "try_extract_index_ivf") else None


def tune_for_search(index) -> None:
    """Search-time settings, which FAISS does not keep in the file."""
    ivf = _inverted_file(index)
    if ivf is not None:
        ivf.nprobe = probes(ivf.nlist)
        # One query's probed lists are split between OpenMP threads (not queries between threads), so a
        # single query can use both cores; search.dense_candidates decides when it has them. Same results.
        ivf.parallel_mode = 1
    elif hasattr(index, "hnsw"):
        index.hnsw.efSearch = HNSW_EF_SEARCH


def splits_one_query(index) -> bool:
    """Whether one query's search can use several threads: an inverted file set up by ``tune_for_search``."""
    ivf = _inverted_file(index)
    return ivf is not None and getattr(ivf, "parallel_mode", 0) == 1


def build_vector_index(n: int, dimension: int, blocks: Iterable[np.ndarray], path: Path,
                       sample: Callable[[int], np.ndarray] | None = None) -> None:
    """Add ``n`` vectors given in row order as blocks, then write the index to ``path``.

    ``sample(k)`` returns ``k`` vectors spread over the whole set; it is called
    only when the structure for this size must be trained first.
    """
    faiss = faiss_module()

    wanted = training_size(n)
    index = new_index(n, dimension, sample(wanted) if wanted and sample is not None else None)
    added = 0
    for block in blocks:
        if len(block):
            index.add(np.ascontiguousarray(block, dtype=np.float32))
            added += len(block)
    if added != n:
        raise RuntimeError(f"vector index got {added} vectors for {n} chunks")
    faiss.write_index(index, str(path))


def load_vector_index(path: Path):
    faiss = faiss_module()

    index = faiss.read_index(str(path))
    tune_for_search(index)
    return index
