"""Timing a function the way the lessons compare implementations: best of a few runs.

A single run is noisy (another process, a cache miss, a garbage collection), and the noise only
ever makes a run slower, so the *minimum* of several runs is the figure to compare (as
``timeit`` does). :func:`speed_up` writes the ratio of two such times for a table.
"""
from __future__ import annotations

import time


def best_time(fn, *args, repeats: int = 3, **kwargs) -> float:
    """Seconds taken by ``fn(*args, **kwargs)``: the fastest of ``repeats`` runs (what comes back
    is discarded; warm up a ``tf.function`` yourself first, or its tracing is timed too)."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(*args, **kwargs)
        times.append(time.perf_counter() - start)
    return min(times)


def speed_up(ratio: float) -> str:
    """``'×0.08'`` (slower!), ``'×2.5'``, ``'×58'``: enough digits that a ratio under 1 never
    shows as ``×0``."""
    return f"×{ratio:.2g}" if ratio < 1 else f"×{ratio:.1f}" if ratio < 10 else f"×{ratio:,.0f}"
