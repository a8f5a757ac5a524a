"""The FAISS file that holds chunk vectors: which structure by size, building it in blocks, loading it.

Exact inner-product search (``IndexFlatIP``) while it is fast enough; past ``Settings.exact_limit``
vectors an inverted file: spherical k-means cells, a share of the cells nearest the query searched,
each vector stored as float16 (``IndexIVFScalarQuantizer``, QT_fp16), which kept the recall of
full-precision cells in half the memory. Vectors are L2-normalised, so inner product is cosine.
Why these structures and values: docs/decisions.md ("Vector index").
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from semsearch.config import DEFAULTS, Settings

HNSW_EF_SEARCH = 96  # for indexes built by earlier versions


def faiss_module():
    """faiss, loaded with OpenMP's idle threads sleeping rather than spinning, unless the user set OMP_WAIT_POLICY.

    A spinning idle thread takes the core the keyword lookup and the next question's encoder want.
    libgomp reads the setting once, when it loads, so it must be in place before anything imports faiss.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import faiss

    return faiss


def ivf_lists(n: int, settings: Settings = DEFAULTS) -> int:
    """Cells for ``n`` vectors: about 4·√n, a power of two (1M → 4,096)."""
    lists = 1 << round(math.log2(4 * math.sqrt(max(n, 1))))
    while lists > 1 and lists * settings.train_points_per_list > n:
        lists //= 2  # never more cells than the data can train
    return lists


def probes(lists: int, settings: Settings = DEFAULTS) -> int:
    return max(1, round(lists * settings.ivf_probe_share))


def training_size(n: int, settings: Settings = DEFAULTS) -> int:
    """How many sample vectors ``new_index`` needs to train an index of ``n`` (0: none)."""
    return 0 if n <= settings.exact_limit else min(n, ivf_lists(n, settings) * settings.train_points_per_list)


def new_index(n: int, dimension: int, sample: np.ndarray | None = None, settings: Settings = DEFAULTS):
    """An empty index for ``n`` vectors, trained on ``sample`` when the structure needs it."""
    faiss = faiss_module()

    if n <= settings.exact_limit:
        return faiss.IndexFlatIP(dimension)
    if sample is None or len(sample) == 0:
        raise ValueError("an index of this size needs a training sample")
    lists = ivf_lists(n, settings)
    clustering = faiss.ClusteringParameters()
    clustering.niter = settings.train_iterations
    clustering.spherical = True  # centroids on the unit sphere, like the vectors
    clustering.seed = 1234
    clustering.max_points_per_centroid = settings.train_points_per_list
    index = faiss.IndexIVFScalarQuantizer(faiss.IndexFlatIP(dimension), dimension, lists,
                                          faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
    index.cp = clustering
    index.train(np.ascontiguousarray(sample, dtype=np.float32))
    tune_for_search(index, settings)
    return index


def _inverted_file(index):
    """The inverted file inside ``index`` (itself, or wrapped), or None for other structures."""
    faiss = faiss_module()
    return faiss.try_extract_index_ivf(index) if hasattr(faiss, "try_extract_index_ivf") else None


def tune_for_search(index, settings: Settings = DEFAULTS) -> None:
    """Search-time settings, which FAISS does not keep in the file."""
    ivf = _inverted_file(index)
    if ivf is not None:
        ivf.nprobe = probes(ivf.nlist, settings)
        # One query's probed lists are split between OpenMP threads, so a single query can use both cores
        # (dense search decides when it has them). Same results.
        ivf.parallel_mode = 1
    elif hasattr(index, "hnsw"):
        index.hnsw.efSearch = HNSW_EF_SEARCH


def splits_one_query(index) -> bool:
    """Whether one query's search can use several threads: an inverted file set up by ``tune_for_search``."""
    ivf = _inverted_file(index)
    return ivf is not None and getattr(ivf, "parallel_mode", 0) == 1


def build_vector_index(n: int, dimension: int, blocks: Iterable[np.ndarray], path: Path,
                       sample: Callable[[int], np.ndarray] | None = None, settings: Settings = DEFAULTS) -> None:
    """Add ``n`` vectors given in row order as blocks, then write the index to ``path``.

    ``sample(k)`` returns ``k`` vectors spread over the whole set; it is called
    only when the structure for this size must be trained first.
    """
    faiss = faiss_module()

    wanted = training_size(n, settings)
    index = new_index(n, dimension, sample(wanted) if wanted and sample is not None else None, settings)
    added = 0
    for block in blocks:
        if len(block):
            index.add(np.ascontiguousarray(block, dtype=np.float32))
            added += len(block)
    if added != n:
        raise RuntimeError(f"vector index got {added} vectors for {n} chunks")
    faiss.write_index(index, str(path))


def load_vector_index(path: Path, settings: Settings = DEFAULTS):
    faiss = faiss_module()

    index = faiss.read_index(str(path))
    tune_for_search(index, settings)
    return index
