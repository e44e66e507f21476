"""Time one optimizer step of every hyper-regularized rule against optax.adagrad.

One step = ``tx.update`` + ``optax.apply_updates`` on a ~4M-parameter float32 pytree
shaped like a small dense network (three weight matrices and their biases), jitted,
compilation excluded, timed to ``block_until_ready``. Params and state are not donated
(as in ``bench_epoch.py``): every call reads the same inputs, so beta does not drift
between repeats.

Rows: the twelve paper rules, ``adagrad_diag``, ``wngrad``, two custom divergences
solved per coordinate by the generic solver (Jensen-Shannon and a cubic one, through
``hr.Divergence.from_f``, Algorithm 1), and, in the same run, the peers
``optax.adagrad(1e-2)`` and ``optax.sgd(1e-2)``. Every row, peers included, applies the
same weight decay ``1e-4`` first (``optax.add_decayed_weights``, the aliases' default).

The optimizers are timed round-robin (``--repeats`` rounds, the starting optimizer
rotating each round) after ``--warmup`` calls each; each figure is the median, and
every ratio is to ``optax.adagrad`` measured in the same run.

Goals (ratio to adagrad, issue 12):

* closed-form rules (and ``adagrad_diag``): at most 1.2x;
* ``kl1``, ``hellinger1``, ``chi2_1`` (Lambert W and polynomial roots): at most 2x;
* custom Jensen-Shannon through the generic solver: at most 6x; custom cubic: at most 2x.

``wngrad`` (one global beta: a global norm, then the rule on a scalar) has no goal.
Benchmarks are never pass/fail tests: a missed goal is reported, not raised.

``--tuning`` times instead what each of the library's CPU tunings buys: every rule, plus
chi2_1 without the growth clip (the one rule that takes a cube root) and the two custom
divergences through the generic solver itself (``solver_iterations=12``, no fitted
inverse), with all tunings and without each one that changes its program (the others
kept):

* ``fit``: the polynomial inverse fitted at trace time (``hyperreg_jax.rules._fit_for``);
* ``cbrt``: ``exp(log1p(a) / 3)`` for a cube root (``hyperreg_jax.rules._cube_root_1p``).

Run: ``python benchmarks/bench_step.py [--params 4000000] [--repeats 30] [--tuning]``.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from timing import round_robin, warmed_call

import hyperreg_jax as hr
from hyperreg_jax import rules

CLOSED, NEWTON, SOLVER, GLOBAL, PEER = (
  "closed form",
  "iterative root",
  "generic solver",
  "global beta",
  "peer",
)
WEIGHT_DECAY = 1e-4
ADAGRAD, SGD = "optax.adagrad(1e-2)", "optax.sgd(1e-2)"
# Goals of issue 12, as ratios to adagrad (None: no goal).
GOAL = {CLOSED: 1.2, NEWTON: 2.0, GLOBAL: None, PEER: None}
SOLVER_GOAL = {"custom js1 (from_f)": 6.0, "custom cubic1 (from_f)": 2.0}

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


def goal(name: str, kind: str):
  """The issue's goal for a row (a ratio to adagrad), or None."""
  return SOLVER_GOAL[name] if kind == SOLVER else GOAL[kind]


def decayed(tx):
  return optax.chain(optax.add_decayed_weights(WEIGHT_DECAY), tx)


def optimizers(init_lr: float = 1e-2):
  """(name, kind, transformation) for every row of the table, all with the same decay."""
  rows = [
    (name, NEWTON if name in NEWTON_RULES else CLOSED, alias(init_lr, weight_decay=WEIGHT_DECAY))
    for name, alias in hr.PAPER_RULES.items()
  ]
  rows += [
    ("adagrad_diag", CLOSED, hr.adagrad_diag(init_lr, weight_decay=WEIGHT_DECAY)),
    ("wngrad", GLOBAL, hr.wngrad(init_lr, weight_decay=WEIGHT_DECAY)),
    (
      "custom js1 (from_f)",
      SOLVER,
      decayed(hr.scale_by_hyperreg(init_lr, divergence=jensen_shannon, algorithm=1)),
    ),
    (
      "custom cubic1 (from_f)",
      SOLVER,
      decayed(hr.scale_by_hyperreg(init_lr, divergence=cubic, algorithm=1)),
    ),
    (SGD, PEER, decayed(optax.sgd(1e-2))),
    (ADAGRAD, PEER, decayed(optax.adagrad(1e-2))),
  ]
  return rows


def make_step(tx):
  def step(params, state, grads):
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state

  return jax.jit(step)


def measure(n_params: int, repeats: int, warmup: int, names=None):
  """Median seconds per step of every row (or of ``names`` and the peers), round-robin.

  Returns ``(rows, median, spread, compile_s)``: ``rows`` as in :func:`optimizers`.
  """
  params, grads = make_params(n_params)
  rows = [r for r in optimizers() if names is None or r[0] in names or r[1] == PEER]
  calls = {}
  compile_s = {}
  for name, _, tx in rows:
    state = tx.init(params)
    # One real step first, so that beta is no longer uniform (not that it matters).
    _, state = tx.update(grads, state, params)
    start = time.perf_counter()
    compiled = make_step(tx).lower(params, state, grads).compile()
    compile_s[name] = time.perf_counter() - start
    calls[name] = warmed_call(compiled, (params, state, grads), warmup)
  times = round_robin(calls, repeats)
  median = {name: statistics.median(t) for name, t in times.items()}
  spread = {
    name: (np.percentile(t, 75) - np.percentile(t, 25)) / median[name] for name, t in times.items()
  }
  return rows, median, spread, compile_s


# Each tuning, and what replaces it when it is switched off.
TUNINGS = {
  "fit": (rules, "_fit_for", lambda *args: None),
  "cbrt": (rules, "_cube_root_1p", lambda a: jnp.cbrt(1.0 + a)),
}
UNCLIPPED_CHI2_1 = "chi2_1 (growth=None)"


def tuning_rows():
  """(name, transformation): the table's rules, and the rows that reach the cube root and
  the generic solver."""
  rows = [(name, tx) for name, kind, tx in optimizers() if kind != PEER]
  rows.append((UNCLIPPED_CHI2_1, hr.chi2_1(1e-2, weight_decay=WEIGHT_DECAY, growth=None)))
  for label, divergence in (("js1", jensen_shannon), ("cubic1", cubic)):
    tx = hr.scale_by_hyperreg(1e-2, divergence=divergence, algorithm=1, solver_iterations=12)
    rows.append((f"custom {label} (solver)", decayed(tx)))
  return rows


@contextlib.contextmanager
def switched_off(tuning):
  """Traces inside this block without ``tuning`` (a key of :data:`TUNINGS`, or None)."""
  if tuning is None:
    yield
    return
  module, name, plain = TUNINGS[tuning]
  kept = getattr(module, name)
  setattr(module, name, plain)
  try:
    yield
  finally:
    setattr(module, name, kept)


def measure_tuning(n_params: int, repeats: int, warmup: int, names=None):
  """Median seconds per step of every rule with all tunings and without each one.

  Returns ``{rule: {None or tuning: seconds}}``; a tuning that leaves a rule's program
  unchanged (same lowered text) is not timed for it.
  """
  params, grads = make_params(n_params)
  rows = [(name, tx) for name, tx in tuning_rows() if names is None or name in names]
  calls = {}
  for name, tx in rows:
    state = tx.update(grads, tx.init(params), params)[1]
    plain_text = None
    for tuning in (None, *TUNINGS):
      with switched_off(tuning):
        lowered = make_step(tx).lower(params, state, grads)
      text = lowered.as_text()
      if tuning is None:
        plain_text = text
      elif text == plain_text:
        continue
      calls[(name, tuning)] = warmed_call(lowered.compile(), (params, state, grads), warmup)
  times = round_robin(calls, repeats)
  out = {}
  for (name, tuning), t in times.items():
    out.setdefault(name, {})[tuning] = statistics.median(t)
  return out


def print_tuning(median, n_params, repeats, warmup):
  n = sum(x.size for x in jax.tree.leaves(make_params(n_params)[0]))
  print(
    f"what each CPU tuning buys: one jitted step (update + apply_updates), {n:,} float32 "
    f"params; jax {jax.__version__} on {jax.devices()[0].platform}; median of {repeats} "
    f"interleaved rounds after {warmup} warm-up calls. 'without X': ms/step with X switched "
    "off (the others kept) and its ratio to all tunings (> 1: X helps); '-': X does not "
    "change this rule's program"
  )
  header = f"{'rule':22s} {'all, ms':>8s}" + "".join(f" {'w/o ' + t:>20s}" for t in TUNINGS)
  print(header)
  print("-" * len(header))
  for name, row in median.items():
    cells = "".join(
      f" {row[t] * 1e3:9.2f} ({row[t] / row[None]:5.2f}x)" if t in row else f" {'-':>20s}"
      for t in TUNINGS
    )
    print(f"{name:22s} {row[None] * 1e3:8.2f}{cells}")


def verdict(ratio: float, target) -> str:
  """'met' / 'MISSED' for a ratio that should be at most ``target`` ('' without a goal)."""
  if target is None:
    return ""
  return "met" if ratio <= target else "MISSED"


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument(
    "--params", type=int, default=4_000_000, help="approximate number of float32 parameters"
  )
  parser.add_argument("--repeats", type=int, default=30, help="timed rounds")
  parser.add_argument("--warmup", type=int, default=3, help="untimed calls per optimizer")
  parser.add_argument(
    "--only", nargs="+", metavar="NAME", help="time only these rules (and the peers)"
  )
  parser.add_argument(
    "--tuning", action="store_true", help="time each CPU tuning of the library on and off"
  )
  args = parser.parse_args()

  if args.tuning:
    median = measure_tuning(args.params, args.repeats, args.warmup, args.only)
    print_tuning(median, args.params, args.repeats, args.warmup)
    return
  rows, median, spread, compile_s = measure(args.params, args.repeats, args.warmup, args.only)
  n = sum(x.size for x in jax.tree.leaves(make_params(args.params)[0]))
  print(
    f"one jitted step (update + apply_updates), {n:,} float32 params, weight decay "
    f"{WEIGHT_DECAY:g} on every row; jax {jax.__version__} on {jax.devices()[0].platform} "
    f"({jax.device_count()} device(s)); median of {args.repeats} interleaved rounds after "
    f"{args.warmup} warm-up calls"
  )
  ada, sgd = median[ADAGRAD], median[SGD]
  header = (
    f"{'rule':22s} {'kind':15s} {'ms/step':>8s} {'IQR':>5s} {'adagrad ms':>10s} "
    f"{'vs adagrad':>10s} {'goal':>7s} {'result':>6s} {'vs sgd':>7s} {'compile s':>9s}"
  )
  print(header)
  print("-" * len(header))
  misses = goals = 0
  for name, kind, _ in rows:
    ratio = median[name] / ada
    target = goal(name, kind)
    result = verdict(ratio, target)
    goals += target is not None
    misses += result == "MISSED"
    print(
      f"{name:22s} {kind:15s} {median[name] * 1e3:8.2f} {spread[name]:5.0%} {ada * 1e3:10.2f} "
      f"{ratio:9.2f}x {f'<= {target:.1f}x' if target else '':>7s} {result:>6s} "
      f"{median[name] / sgd:6.2f}x {compile_s[name]:9.2f}"
    )
  print(
    f"{goals - misses} of {goals} goals met (IQR: interquartile range / median of the timed rounds)"
  )


if __name__ == "__main__":
  main()
