"""Shared timing helper of the benchmark scripts."""

import time

import jax


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


def warmed_call(compiled, args: tuple, warmup: int):
  """A function of no arguments that runs ``compiled(*args)`` to completion, called
  ``warmup`` times (untimed) before it is returned."""

  def call():
    return jax.block_until_ready(compiled(*args))

  for _ in range(warmup):
    call()
  return call


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
