"""Shared timing helper of the benchmark scripts."""

import time


def best_of(fn, repeats: int, warmup: int = 0) -> float:
  """The fastest of ``repeats`` timed calls of ``fn``, after ``warmup`` untimed ones."""
  for _ in range(warmup):
    fn()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return min(times)
