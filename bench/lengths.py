"""IMDB-like review lengths for the benchmarks that need no dataset (bench_fused, bench_gradients).

IMDB's token lengths after the seed's preprocessing are log-normal-like with a median near
110 and a long tail (``python -m core data info``); these draw the same shape.
"""

from __future__ import annotations

import numpy as np

VOCAB = 20000
BATCH = 50
MAX_LEN = 500
MEDIAN_LEN, SIGMA = 110, 0.65


def review_lengths(n: int, max_len: int, rng: np.random.Generator) -> np.ndarray:
    """Log-normal lengths with median ``MEDIAN_LEN`` (scaled down with ``max_len``), cut to [1, max_len]."""
    median = MEDIAN_LEN * max_len / MAX_LEN
    return np.clip(np.round(rng.lognormal(np.log(median), SIGMA, n)), 1, max_len).astype(np.int64)
