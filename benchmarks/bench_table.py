"""The speed table of issue 12, every row beside its peer from the same run, with its goal.

Runs the three measurements of ``bench_step.py`` (the jitted update on 4M float32
params against ``optax.adagrad``), ``bench_train_step.py`` (the MNIST MLP train step
against the same step with adagrad) and ``bench_sweep.py`` (a sweep of 8 ILRs against 8
sequential runs, compilation excluded), and prints one table:

====================================================  ===============
measure                                               goal
====================================================  ===============
update, closed-form rules vs adagrad (worst rule)     <= 1.2x
update, kl1 / hellinger1 / chi2_1 vs adagrad          <= 2x each
update, custom Jensen-Shannon / cubic vs adagrad      <= 6x / <= 2x
MLP train step, every rule vs adagrad (worst rule)    <= 1.1x
sweep of 8 ILRs vs 8 sequential runs: MLP / linreg    >= 1.5x / >= 5x
====================================================  ===============

Every ratio is of medians (the sweep: of best-of timings) measured in this run. The
machine is shared and its timings noisy: compare ratios, not milliseconds. Benchmarks
are never pass/fail tests: a missed goal is reported, not raised.

Run: ``python benchmarks/bench_table.py [--repeats 30] [--params 4000000]``.
"""

from __future__ import annotations

import argparse

import bench_step
import bench_sweep
import bench_train_step
import jax


def verdict(*met: bool) -> str:
  """'met' or 'MISSED' for each part of a row."""
  return " / ".join("met" if m else "MISSED" for m in met)


def row(measure: str, now: str, peer: str, goal: str, result: str) -> None:
  print(f"| {measure} | {now} | {peer} | {goal} | {result} |")


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--params", type=int, default=4_000_000)
  parser.add_argument("--repeats", type=int, default=30, help="timed rounds (update, step)")
  parser.add_argument("--sweep-repeats", type=int, default=3)
  args = parser.parse_args()

  rows, step, _, _ = bench_step.measure(args.params, args.repeats, warmup=3)
  train = bench_train_step.measure(args.repeats, warmup=3)
  sweeps = {}
  for case in (bench_sweep.mlp_case(), bench_sweep.linear_regression_case()):
    name, model, arrays, config = case
    sweeps[name] = bench_sweep.compare(
      name, model, arrays, 8, args.sweep_repeats, cold=False, **config
    )

  print()
  print(
    f"jax {jax.__version__} on {jax.devices()[0].platform}; ratios of timings measured in this run"
  )
  print("| measure | measured | peer (same run) | goal | result |")
  print("|---|---|---|---|---|")
  ada = step[bench_step.ADAGRAD]
  peer = f"adagrad {ada * 1e3:.2f} ms"
  closed = {n: step[n] / ada for n, kind, _ in rows if kind == bench_step.CLOSED}
  worst = max(closed, key=closed.get)
  row(
    "jitted update, 4M float32 params, closed-form rules vs `optax.adagrad` (same weight "
    "decay on both sides), worst rule",
    f"{closed[worst]:.2f}x ({worst})",
    peer,
    "<= 1.2x",
    verdict(closed[worst] <= 1.2),
  )
  iterative = [step[n] / ada for n in bench_step.NEWTON_RULES]
  row(
    "same, kl1 / hellinger1 / chi2_1",
    " / ".join(f"{r:.2f}x" for r in iterative),
    peer,
    "<= 2x each",
    verdict(*(r <= 2.0 for r in iterative)),
  )
  js, cubic = (step[n] / ada for n in bench_step.SOLVER_GOAL)
  row(
    "custom divergence through the generic solver (Jensen-Shannon, cubic)",
    f"{js:.2f}x / {cubic:.2f}x",
    peer,
    "<= 6x / <= 2x",
    verdict(js <= 6.0, cubic <= 2.0),
  )
  ada_step = train[bench_train_step.ADAGRAD]
  ratios = {n: t / ada_step for n, t in train.items() if n != bench_train_step.ADAGRAD}
  worst = max(ratios, key=ratios.get)
  named = ("rkl1", "hellinger1", "chi2_1", "kl1")
  row(
    "MNIST MLP train step (batch 128) with a rule vs the same step with `optax.adagrad`",
    ", ".join(f"{n} {ratios[n]:.2f}x" for n in named) + f"; worst {worst} {ratios[worst]:.2f}x",
    f"adagrad {ada_step * 1e6:.0f} us",
    "every rule <= 1.1x",
    verdict(ratios[worst] <= bench_train_step.GOAL),
  )
  (mlp_seq, mlp_sweep), (lin_seq, lin_sweep) = (
    sweeps[bench_sweep.MLP_NAME],
    sweeps[bench_sweep.LINREG],
  )
  row(
    "sweep of 8 ILRs vs 8 sequential runs, compile excluded: MLP / linear regression",
    f"{mlp_seq / mlp_sweep:.2f}x / {lin_seq / lin_sweep:.2f}x",
    f"sequential {mlp_seq:.2f} s / {lin_seq:.3f} s",
    ">= 1.5x / >= 5x",
    verdict(mlp_seq / mlp_sweep >= 1.5, lin_seq / lin_sweep >= 5.0),
  )


if __name__ == "__main__":
  main()
