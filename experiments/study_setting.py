"""Experiment 2: the study's own MNIST setting, literally, and where its NaNs come from.

Part A trains with this library in the study's units (study section 3.2): the loss
**summed** over each batch of 128 (``loss_reduction="sum"``), the study's ILR grid 1e-4 ...
10, L2 as in its code (``1e-4 * W / batch_size`` added to the summed gradient, i.e.
``weight_decay=1e-4/128`` here), no growth clipping, and its warm-up for ILR > 0.1 (50 steps
at learning rate 1e-2, then beta = 1 / ILR; the code warms up when the initial beta is below
10). Part B re-runs the study's NumPy code as it was written
(:mod:`experiments.study_code`: standard-normal init, unguarded formulas,
unshifted log-softmax, float64) and records whether beta, the weights or only the reported
loss went non-finite first.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from experiments import common, files, study
from experiments import markdown as md

NAME = "study_setting"
TITLE = "The study's setting, literally (summed loss, its ILR grid, its NaNs)"

CLAIMS = {
  "table": (
    "study section 4.1, Fig. 2a/b and its logs: MNIST loss after 40 epochs vs ILR",
    "RKL1 fine up to ILR 1 and NaN at 10; RKL2 and RKL3 NaN from ILR 0.1 (summed loss).",
  ),
}

#: The study's MNIST table: ILR -> (RKL1 loss, RKL1 test acc, RKL2 loss, RKL3 loss); None: NaN.
REPORTED = {
  1e-4: (0.5853, 0.8857, 0.5853, 0.5638),
  1e-3: (0.0775, 0.9332, 0.0775, 0.0779),
  1e-2: (0.0024, 0.9559, 0.0024, 0.0024),
  1e-1: (0.0023, 0.9678, None, None),
  1.0: (0.0213, 0.9640, None, None),
  10.0: (None, 0.098, None, None),
}


@dataclasses.dataclass(frozen=True)
class Settings:
  """Attributes: epochs and seeds of the JAX runs; the NumPy runs' epochs; the rules."""

  epochs: int
  seeds: tuple[int, ...]
  numpy_epochs: int = 2  # the study's code is slow NumPy: its NaNs show within 2 epochs
  ilrs: tuple[float, ...] = study.ILRS
  rules: tuple[str, ...] = ("rkl1", "rkl2", "rkl3", "kl2", "hellinger2", "chi2_2")
  numpy_rules: tuple[str, ...] = ("rkl1", "rkl2", "hellinger2", "kl2")
  batch_size: int = study.BATCH
  weight_decay: float = study.WEIGHT_DECAY / study.BATCH

  def summary(self) -> str:
    return (
      f"{md.plural(self.epochs, 'epoch')} (the study's code: {self.numpy_epochs}), batch {self.batch_size}, "
      f"seeds {list(self.seeds)}, the study's {len(self.ilrs)} ILRs"
    )


EMBEDDED = Settings(epochs=3, seeds=(0, 1))
#: The study's table at its scale: RKL1, RKL2, RKL3 (and GD), 40 epochs on full MNIST.
FULL = Settings(epochs=40, seeds=(0, 1), rules=("rkl1", "rkl2", "rkl3"))


def settings(cfg: common.Config) -> Settings:
  return common.scaled(EMBEDDED, FULL, cfg)


def _train_jax(cfg, results, ds) -> list[dict]:
  s = results.settings
  rows = []
  low = [x for x in s.ilrs if x <= 0.1]
  high = [x for x in s.ilrs if x > 0.1]
  warmup = {"warmup_steps": study.WARMUP_STEPS, "warmup_lr": study.WARMUP_LR}
  for ilrs, warm in ((low, {}), (high, warmup)):
    variants = {
      name: common.rule_variant(name, clipped=False, weight_decay=s.weight_decay, **warm)
      for name in s.rules
    }
    if ilrs and variants:
      result = common.mlp_sweep(
        cfg, results, ds, variants, ilrs, batch_size=s.batch_size, loss_reduction="sum"
      )
      rows += common.sweep_rows(result, warmup=bool(warm))
  gd = {"gd": common.baseline_variant("sgd", weight_decay=s.weight_decay)}
  result = common.mlp_sweep(
    cfg, results, ds, gd, [study.WARMUP_LR], batch_size=s.batch_size, loss_reduction="sum"
  )
  return rows + common.sweep_rows(result, warmup=False)


def _train_numpy(cfg, results, ds) -> list[dict]:
  from experiments import study_code

  s = results.settings
  ilrs = [x for x in s.ilrs if x >= 1e-2]  # where the study saw NaNs, and its reference
  jobs = [("gd", 1e-2)] + [(r, x) for r in s.numpy_rules for x in ilrs]
  rows = []
  bar = common.progress_bar(cfg, len(jobs), "numpy (study code)")
  for rule, ilr in jobs:
    record = study_code.train(
      {"hellinger2": "h2"}.get(rule, rule),
      ilr,
      ds.x_train,
      ds.y_train,
      epochs=s.numpy_epochs,
      seed=int(s.seeds[0]),
      literal_counter=False,
      x_test=ds.x_test,
      y_test=ds.y_test,
    )
    rows.append({"rule": rule, "ilr": ilr, **record})
    if bar is not None:
      bar.update(1)
  if bar is not None:
    bar.close()
  return rows


def first_bad(row) -> str:
  """What went non-finite first in a NumPy run: beta, weights, reported loss, or nothing."""
  events = [
    (row[k], label)
    for k, label in (
      ("first_bad_beta", "beta"),
      ("first_bad_weights", "weights"),
      ("first_bad_loss", "reported loss"),
    )
    if row[k] >= 0
  ]
  if not events:
    return "none"
  step = min(e[0] for e in events)
  return " + ".join(label for s, label in events if s == step) + f" at step {step}"


def warmup_covers_run(s: Settings, num_train: int) -> bool:
  """Whether the study's warm-up lasts the whole run (then ILR > 0.1 trains as GD)."""
  return s.epochs * (num_train // s.batch_size) <= study.WARMUP_STEPS


def run(cfg: common.Config, s: Settings) -> None:
  from experiments import figures

  ds = common.load_mnist(cfg)
  results = common.Results(cfg.out / NAME, s, common.data_record(ds))
  final = common.final_rows(results.cached_csv("runs.csv", lambda: _train_jax(cfg, results, ds)))
  files.write_csv(results.path("final.csv"), final)
  results.cached_csv("numpy_study_code.csv", lambda: _train_numpy(cfg, results, ds))
  gd = [r for r in final if r["variant"] == "gd"]
  panels = []
  for metric, label, log_y in (
    ("train_loss", "final training loss (per example)", True),
    ("test_accuracy", "final test accuracy (fraction)", False),
  ):
    series = {}
    for variant in dict.fromkeys(r["variant"] for r in final if r["variant"] != "gd"):
      ilrs, values, diverged, _ = figures._by_ilr(final, variant, metric)
      mean, low, high = figures._stats(values)
      series[variant + (" (x: diverged)" if diverged.any() else "")] = (ilrs, mean, low, high)
    idx = 0 if metric == "train_loss" else 1
    xs = [k for k, v in REPORTED.items() if v[idx] is not None]
    series["study RKL1 (reported, 40 ep.)"] = (
      np.asarray(xs),
      np.asarray([REPORTED[k][idx] for k in xs]),
      None,
      None,
    )
    if gd:
      value = float(np.nanmean([r[metric] for r in gd]))
      series["GD lr 1e-2 (ILR ignored)"] = (
        np.asarray(s.ilrs),
        np.full(len(s.ilrs), value),
        None,
        None,
      )
    panels.append((label, label, log_y, series))
  figures.curves(
    panels,
    results.path("study_grid.png"),
    title=f"The study's setting: summed loss, no clip, warm-up for ILR > 0.1; {s.epochs} "
    "epochs (study: 40)",
    xlabel=study.SUM_UNITS,
    notes="lines: mean over seeds, bands: min-max; a label ending in (x: diverged) had a "
    "diverged run; a missing point is an ILR where all seeds diverged",
    log_x=True,
  )


# ----------------------------------------------------------------------------- report


def section(folder, s: Settings, data: dict) -> md.Section:
  """The report's section: the study's table beside ours, and the study's code's NaNs
  (written by :mod:`experiments.study_setting_report`)."""
  from experiments import study_setting_report

  return study_setting_report.section(folder, s, data)
