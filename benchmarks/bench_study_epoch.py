"""Time one full-MNIST epoch of the study's setup: the library against the study's NumPy code.

One epoch = the 60,000 training digits in batches of 128 (468 steps), the study's MLP
784-500(sigmoid)-10 from its standard-normal init, float64, the loss summed over the batch,
L2 on the weights, the ILR 1e-2 of its curves, for GD and RKL1:

* **the study's code** (the peer): ``experiments.study_code.train``, its NumPy re-statement
  (a Python loop over the batches, hand-written backprop, float64), one epoch, including its
  reported loss on the 60,000 training images after the epoch;
* **the library in the study's setup**: ``experiments.study.study_variant`` in
  ``hyperreg_jax.train``: one jitted ``train.train_epoch`` (a ``lax.scan`` over the steps)
  plus ``train.evaluate`` on the training set, the same work, float64.

Both run on the same machine in the same process, with the same threads (NumPy's BLAS and
XLA's CPU runtime each use what the machine gives them), data in memory, compilation
excluded; they are timed round-robin (``--repeats`` rounds) after one untimed epoch each,
and each figure is the median (and the fastest) of its repeats, the ratio to the study's code
measured in the same run. Without the full MNIST it says so and times the embedded digits.

Run: ``python benchmarks/bench_study_epoch.py [--repeats 3]`` from the repository root.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import sys

import jax
import numpy as np
from timing import round_robin

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # the experiments

from experiments import study, study_code
from hyperreg_jax import data, train

ILR = 1e-2


def load_digits():
  """``(x, y, description)``: the full MNIST's training set, or the embedded digits."""
  try:
    ds = data.load_mnist("local")
    return ds.x_train, ds.y_train, "full MNIST"
  except FileNotFoundError:
    print("NOTE: the full MNIST is not there (python -m hyperreg_jax.data fetch mnist); timing")
    print("the embedded digits instead, not the paper's scale.")
    ds = data.load_mnist()
    return ds.x_train, ds.y_train, "embedded subset"


def numpy_epoch(rule, x, y):
  """A call that trains one epoch of the study's code from its fixed initial state."""
  params = study_code.init_params(0)
  return lambda: study_code.train(study.CODE_NAMES[rule], ILR, x, y, params=params, epochs=1)


def library_epoch(rule, x, y):
  """A call that trains one epoch of the library in the study's setup, float64, and then
  measures its loss on the training set, as the study's code does."""
  with jax.enable_x64(True):
    trainer = train.Trainer(
      study.study_model(), study.study_variant(rule, warm=False), loss_reduction="sum"
    )
    xs, ys = jax.device_put(study.study_pixels(x)), jax.device_put(np.asarray(y))
    state = train.init_state(trainer, jax.random.key(0), np.float64(ILR), xs[:1])

    def epoch(state, key):
      state, _ = train.train_epoch(trainer, state, np.float64(ILR), key, xs, ys)
      return state, train.evaluate(trainer, state, xs, ys)

    compiled = jax.jit(epoch).lower(state, jax.random.key(1)).compile()
    key = jax.random.key(1)
  return lambda: jax.block_until_ready(compiled(state, key))


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--repeats", type=int, default=3, help="timed rounds")
  args = parser.parse_args()
  x, y, where = load_digits()
  calls = {}
  for rule in ("gd", "rkl1"):
    calls[f"{rule}: the study's code (NumPy)"] = numpy_epoch(rule, x, y)
    calls[f"{rule}: the library, study's setup"] = library_epoch(rule, x, y)
  for call in calls.values():
    call()  # compile and warm up, untimed
  times = round_robin(calls, args.repeats)
  print(
    f"One epoch of the study's MNIST setup: {len(x)} digits ({where}), batch 128 "
    f"({len(x) // 128} steps), float64, ILR {ILR:g}; jax {jax.__version__}, numpy "
    f"{np.__version__}, {os.cpu_count()} CPU cores; median of {args.repeats} interleaved rounds"
  )
  header = f"{'run':40s} {'s/epoch':>8s} {'fastest':>8s} {'vs the code':>12s}"
  print(header)
  print("-" * len(header))
  for name, seconds in times.items():
    rule = name.split(":")[0]
    peer = statistics.median(times[f"{rule}: the study's code (NumPy)"])
    median = statistics.median(seconds)
    print(f"{name:40s} {median:8.3f} {min(seconds):8.3f} {median / peer:11.2f}x")


if __name__ == "__main__":
  main()
