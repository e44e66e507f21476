"""Time one MNIST MLP training step with every rule against the same step with optax.adagrad.

One step = ``train.train_step`` (forward, backward, the optimizer update, the divergence
guard, the step's metrics) of the paper's MLP 784-500(sigmoid)-10 on one mini-batch of 128
embedded MNIST digits, jitted, compilation excluded, timed to ``block_until_ready``. Every
optimizer applies the same weight decay ``1e-4`` first; the peer is
``optax.chain(optax.add_decayed_weights(1e-4), optax.adagrad(1e-2))`` in the same engine.
The state is not donated: every call reads the same inputs.

The steps are timed round-robin (``--repeats`` rounds, the starting optimizer rotating
each round) after ``--warmup`` calls each; each figure is the median, and every ratio is
to adagrad measured in the same run.

Goal (issue 12): every rule's step within 1.1x of adagrad's. Benchmarks are never
pass/fail tests: a missed goal is reported, not raised.

Run: ``python benchmarks/bench_train_step.py [--repeats 50]``.
"""

from __future__ import annotations

import argparse
import functools
import statistics

import jax
import jax.numpy as jnp
import optax
from timing import round_robin, warmed_call

import hyperreg_jax as hr
from hyperreg_jax import train
from hyperreg_jax.data import load_mnist
from hyperreg_jax.models import MLP

ILR, WEIGHT_DECAY, BATCH = 1e-2, 1e-4, 128
ADAGRAD = "optax.adagrad"
GOAL = 1.1  # ratio to adagrad, every rule


def factories():
  """(name, make_tx) for every paper rule and the peer, all with the same weight decay."""
  rows = [
    (name, lambda lr, alias=alias: alias(lr, weight_decay=WEIGHT_DECAY))
    for name, alias in hr.PAPER_RULES.items()
  ]
  rows.append(
    (
      ADAGRAD,
      lambda lr: optax.chain(optax.add_decayed_weights(WEIGHT_DECAY), optax.adagrad(lr)),
    )
  )
  return rows


def measure(repeats: int, warmup: int, names=None):
  """Median seconds per step of every rule (or of ``names``) and of adagrad, round-robin."""
  ds = load_mnist()
  batch = (jnp.asarray(ds.x_train[:BATCH]), jnp.asarray(ds.y_train[:BATCH]))
  calls = {}
  for name, make_tx in factories():
    if names is not None and name not in names and name != ADAGRAD:
      continue
    trainer = train.Trainer(MLP(), make_tx, batch_size=BATCH)
    state = train.init_state(trainer, jax.random.key(0), ILR, batch[0][:1])
    step = jax.jit(functools.partial(train.train_step, trainer)).lower(state, ILR, batch).compile()
    calls[name] = warmed_call(step, (state, ILR, batch), warmup)
  times = round_robin(calls, repeats)
  return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--repeats", type=int, default=50, help="timed rounds")
  parser.add_argument("--warmup", type=int, default=3, help="untimed calls per optimizer")
  args = parser.parse_args()
  median = measure(args.repeats, args.warmup)
  print(
    f"MNIST MLP 784-500-10 train step, batch {BATCH}, weight decay {WEIGHT_DECAY:g} on every "
    f"row; jax {jax.__version__} on {jax.devices()[0].platform}; median of {args.repeats} "
    f"interleaved rounds after {args.warmup} warm-up calls"
  )
  ada = median[ADAGRAD]
  header = f"{'rule':12s} {'us/step':>8s} {'adagrad us':>10s} {'vs adagrad':>10s} {'goal':>7s} {'result':>6s}"
  print(header)
  print("-" * len(header))
  met = 0
  for name, seconds in median.items():
    if name == ADAGRAD:
      continue
    ratio = seconds / ada
    met += ratio <= GOAL
    print(
      f"{name:12s} {seconds * 1e6:8.0f} {ada * 1e6:10.0f} {ratio:9.2f}x {f'<= {GOAL:.1f}x':>7s} "
      f"{'met' if ratio <= GOAL else 'MISSED':>6s}"
    )
  print(f"{met} of {len(median) - 1} goals met")


if __name__ == "__main__":
  main()
