"""Timing and memory helpers shared by the benchmarks."""

from __future__ import annotations

import statistics
import time
import tracemalloc
from collections.abc import Callable


def median_time(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``fn()`` in seconds over ``repeats`` calls, after one warm-up call."""
    fn()  # warm-up: imports, caches, thread pools, first touch of large allocations
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_mb(fn: Callable[[], object]) -> float:
    """Peak memory traced by tracemalloc during ``fn()``, MiB."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()
