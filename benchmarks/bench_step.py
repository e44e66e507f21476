"""Time one optimizer step of every hyper-regularized rule against optax.sgd / optax.adagrad.

One step = ``tx.update`` + ``optax.apply_updates`` on a ~10M-parameter float32 pytree
shaped like a small dense network (three weight matrices and their biases), jitted,
compilation excluded, timed to ``block_until_ready``. Params and state are not donated
(as in ``bench_epoch.py``): every call reads the same inputs, so beta does not drift
between repeats.

Rows: the twelve paper rules, ``adagrad_diag``, ``wngrad``, a custom divergence
(Jensen-Shannon, ``hr.Divergence.from_f``, Algorithm 1: solved per coordinate by the
generic safeguarded Newton solver), and, in the same run, ``optax.sgd(1e-2)`` and
``optax.adagrad(1e-2)``. The hyper-regularized rules are built with
``weight_decay=0`` so that every row is the bare scaling rule, like the two peers.

The optimizers are timed round-robin (``--repeats`` rounds, the starting optimizer
rotating each round) after ``--warmup`` calls each; each figure is the median.

Targets (ratio to adagrad):

* closed-form rules: within 1.5x;
* rules that run an iterative solver: within 3x. Those are the custom divergence and
  ``wngrad`` (the generic solver; for ``wngrad`` on one global scalar), and the
  built-ins whose root is found by a fixed number of Newton or Halley steps:
  ``hellinger1`` and ``chi2_1`` (polynomial roots, Newton) and ``kl1`` (Lambert W,
  Halley).

Run: ``python benchmarks/bench_step.py [--params 10000000] [--repeats 30]``.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import hyperreg_jax as hr

CLOSED, NEWTON, SOLVER, PEER = "closed form", "fixed-step root", "generic solver", "peer"
TARGET = {CLOSED: 1.5, NEWTON: 3.0, SOLVER: 3.0}

# Built-ins whose rule runs a fixed-step Newton / Halley iteration (see hyperreg_jax.rules).
NEWTON_RULES = ("kl1", "hellinger1", "chi2_1")

jensen_shannon = hr.Divergence.from_f(
  lambda u: u * jnp.log(u) - (1.0 + u) * jnp.log((1.0 + u) / 2.0), name="jensen_shannon"
)


# A polynomial custom divergence: the cost of the solver itself, not of evaluating logs.
cubic = hr.Divergence.from_f(lambda u: (u**3 - 1.0 - 3.0 * (u - 1.0)) / 6.0, name="cubic")


def make_params(n_params: int, seed: int = 0):
  """Three dense layers (d x d, d x d, d x d/2) and their biases: about 2.5 d^2 floats."""
  d = max(8, int(round(math.sqrt(n_params / 2.5) / 8)) * 8)
  shapes = {
    "dense0/w": (d, d),
    "dense0/b": (d,),
    "dense1/w": (d, d),
    "dense1/b": (d,),
    "dense2/w": (d, d // 2),
    "dense2/b": (d // 2,),
  }
  keys = jax.random.split(jax.random.key(seed), 2 * len(shapes))
  params = {
    k: jax.random.normal(keys[i], s, jnp.float32) / math.sqrt(s[0])
    for i, (k, s) in enumerate(shapes.items())
  }
  grads = {
    k: 1e-2 * jax.random.normal(keys[len(shapes) + i], s, jnp.float32)
    for i, (k, s) in enumerate(shapes.items())
  }
  return params, grads


def optimizers(init_lr: float = 1e-2):
  """(name, kind, transformation) for every row of the table."""
  rows = [
    (name, NEWTON if name in NEWTON_RULES else CLOSED, alias(init_lr, weight_decay=0.0))
    for name, alias in hr.PAPER_RULES.items()
  ]
  rows += [
    ("adagrad_diag", CLOSED, hr.adagrad_diag(init_lr)),
    ("wngrad", SOLVER, hr.wngrad(init_lr)),
    (
      "custom js1 (from_f)",
      SOLVER,
      hr.scale_by_hyperreg(jensen_shannon, algorithm=1, init_lr=init_lr),
    ),
    ("custom cubic1 (from_f)", SOLVER, hr.scale_by_hyperreg(cubic, algorithm=1, init_lr=init_lr)),
    ("optax.sgd(1e-2)", PEER, optax.sgd(1e-2)),
    ("optax.adagrad(1e-2)", PEER, optax.adagrad(1e-2)),
  ]
  return rows


def make_step(tx):
  def step(params, state, grads):
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state

  return jax.jit(step)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument(
    "--params", type=int, default=10_000_000, help="approximate number of float32 parameters"
  )
  parser.add_argument("--repeats", type=int, default=30, help="timed rounds")
  parser.add_argument("--warmup", type=int, default=3, help="untimed calls per optimizer")
  args = parser.parse_args()

  params, grads = make_params(args.params)
  n = sum(x.size for x in jax.tree.leaves(params))
  print(
    f"one jitted step (update + apply_updates), {n:,} float32 params in "
    f"{len(jax.tree.leaves(params))} leaves, not donated; jax {jax.__version__} on "
    f"{jax.devices()[0].platform} ({jax.device_count()} device(s)); median of "
    f"{args.repeats} interleaved rounds after {args.warmup} warm-up calls"
  )

  runs = []  # (name, kind, compiled step, state)
  for name, kind, tx in optimizers():
    state = tx.init(params)
    # One real step first, so that beta is no longer uniform (not that it matters).
    _, state = tx.update(grads, state, params)
    step = make_step(tx)
    start = time.perf_counter()
    compiled = step.lower(params, state, grads).compile()
    compile_s = time.perf_counter() - start
    for _ in range(args.warmup):
      jax.block_until_ready(compiled(params, state, grads))
    runs.append((name, kind, compiled, state, compile_s))

  times = {name: [] for name, *_ in runs}
  for r in range(args.repeats):
    for i in range(len(runs)):
      name, _, compiled, state, _ = runs[(i + r) % len(runs)]
      start = time.perf_counter()
      jax.block_until_ready(compiled(params, state, grads))
      times[name].append(time.perf_counter() - start)

  median = {name: statistics.median(t) for name, t in times.items()}
  spread = {
    name: (np.percentile(t, 75) - np.percentile(t, 25)) / median[name] for name, t in times.items()
  }
  ada, sgd = median["optax.adagrad(1e-2)"], median["optax.sgd(1e-2)"]
  header = (
    f"{'rule':22s} {'kind':18s} {'ms/step':>9s} {'IQR':>5s} {'vs adagrad':>10s} "
    f"{'vs sgd':>7s} {'target':>13s} {'result':>6s} {'compile s':>9s}"
  )
  print(header)
  print("-" * len(header))
  misses = 0
  for name, kind, _, _, compile_s in runs:
    ms = median[name] * 1e3
    ratio = median[name] / ada
    if kind == PEER:
      target, result = "", ""
    else:
      target = f"<= {TARGET[kind]:.1f}x adagrad"
      result = "PASS" if ratio <= TARGET[kind] else "MISS"
      misses += result == "MISS"
    print(
      f"{name:22s} {kind:18s} {ms:9.2f} {spread[name]:5.0%} {ratio:9.2f}x "
      f"{median[name] / sgd:6.2f}x {target:>13s} {result:>6s} {compile_s:9.2f}"
    )
  print(
    f"{misses} MISS of {sum(kind != PEER for _, kind, *_ in runs)} rules "
    "(IQR: interquartile range / median of the timed rounds)"
  )


if __name__ == "__main__":
  main()
