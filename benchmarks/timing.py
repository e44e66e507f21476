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


def round_robin(calls: dict, repeats: int) -> dict:
  """Seconds of each of ``repeats`` calls of every ``calls[name]()``, interleaved.

  Each round calls every function once, the starting one rotating from round to round,
  so that a slow spell of a shared machine falls on all of them alike.
  """
  names = list(calls)
  times = {name: [] for name in names}
  for r in range(repeats):
    for i in range(len(names)):
      name = names[(i + r) % len(names)]
      start = time.perf_counter()
      calls[name]()
      times[name].append(time.perf_counter() - start)
  return times
