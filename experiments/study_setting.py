"""Experiment 2: the study's own MNIST setting, literally, and where its NaNs come from.

Part A trains with this library in the study's units: the loss **summed** over each batch
of 128 (``Trainer(loss_reduction="sum")``), the study's ILR grid 1e-4 ... 10, L2 as in its
code (``1e-4 * W / batch_size`` added to the summed gradient, i.e. ``weight_decay=1e-4/128``
here), no growth clipping, and its warm-up for ILR > 0.1 (50 steps at learning rate 1e-2,
then beta = 1 / ILR; the code warms up when the initial beta is below 10). Part B re-runs the
study's NumPy code as it was written (:mod:`hyperreg_jax.reference.study_mlp`: standard-normal
init, unguarded formulas, unshifted log-softmax, float64) and records whether beta, the
weights or only the reported loss went non-finite first.
"""

from __future__ import annotations

import numpy as np

from experiments import common

NAME = "study_setting"
TITLE = "The study's setting, literally (summed loss, its ILR grid, its NaNs)"
RULES = ("rkl1", "rkl2", "rkl3", "kl2", "hellinger2", "chi2_2")
NUMPY_RULES = ("gd", "rkl1", "rkl2", "hellinger2", "kl2")
STUDY_ILRS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)
BATCH = 128

#: The study's MNIST table (reported-numbers.md): ILR -> (RKL1 loss, RKL1 test acc, RKL2
#: loss, RKL3 loss); None is NaN.
REPORTED = {
  1e-4: (0.5853, 0.8857, 0.5853, 0.5638),
  1e-3: (0.0775, 0.9332, 0.0775, 0.0779),
  1e-2: (0.0024, 0.9559, 0.0024, 0.0024),
  1e-1: (0.0023, 0.9678, None, None),
  1.0: (0.0213, 0.9640, None, None),
  10.0: (None, 0.098, None, None),
}


def settings(cfg: common.Config) -> dict:
  return {
    "epochs": cfg.pick(3, 40),
    "numpy_epochs": cfg.pick(2, 2),  # the study's code is slow NumPy: NaNs show within 2
    "ilrs": list(STUDY_ILRS),
    "seeds": list(cfg.seeds),
    "batch_size": BATCH,
    "loss_reduction": "sum",
    "weight_decay": common.WEIGHT_DECAY / BATCH,
    "growth": None,
    "warmup": "50 steps at learning rate 1e-2 for ILR > 0.1 (initial beta below 10, as the "
    "study's code)",
    "rules": cfg.rules(RULES),
    "numpy_rules": ["gd"] + cfg.rules([r for r in NUMPY_RULES if r != "gd"]),
    "units": common.SUM_UNITS,
  }


def _train_jax(cfg, s, ds) -> list[dict]:
  rows = []
  # The study's code warms up when the initial beta is below 10, i.e. for ILR > 0.1.
  low = [x for x in s["ilrs"] if x <= 0.1]
  high = [x for x in s["ilrs"] if x > 0.1]
  for ilrs, warm in ((low, {}), (high, {"warmup_steps": 50, "warmup_lr": 1e-2})):
    if not ilrs:
      continue
    variants = {}
    for name in s["rules"]:
      make = common.rule_variant(name, clipped=False, weight_decay=s["weight_decay"], **warm)
      variants[name] = make
    if not variants:
      continue
    result = common.mlp_sweep(
      cfg, NAME, s, ds, variants, ilrs, batch_size=BATCH, loss_reduction="sum"
    )
    rows += common.sweep_rows(result, warmup=bool(warm))
  gd_variant = {"gd": common.baseline_variant("sgd", weight_decay=s["weight_decay"])}
  gd = common.mlp_sweep(
    cfg, NAME, s, ds, gd_variant, [1e-2], batch_size=BATCH, loss_reduction="sum"
  )
  return rows + common.sweep_rows(gd, warmup=False)


def _train_numpy(cfg, s, ds) -> list[dict]:
  from hyperreg_jax.reference import study_mlp

  ilrs = [x for x in s["ilrs"] if x >= 1e-2]  # where the study saw NaNs, and its reference
  jobs = [("gd", 1e-2)] + [(r, x) for r in s["numpy_rules"] if r != "gd" for x in ilrs]
  rows = []
  bar = common_bar(cfg, len(jobs), "numpy (study code)")
  for rule, ilr in jobs:
    record = study_mlp.train(
      {"hellinger2": "h2"}.get(rule, rule),
      ilr,
      ds.x_train,
      ds.y_train,
      epochs=s["numpy_epochs"],
      seed=int(s["seeds"][0]),
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


def common_bar(cfg, total, desc):
  from hyperreg_jax.train import progress_bar

  return progress_bar(cfg.progress, total=total, desc=desc, unit="run")


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


def run(cfg: common.Config) -> dict:
  from experiments import figures

  s = settings(cfg)
  out = cfg.out / NAME
  ds = common.load_mnist(cfg)
  s["data"] = common.data_label(ds)
  runs = common.cached_csv(out / "runs.csv", lambda: _train_jax(cfg, s, ds))
  final = common.final_rows(runs)
  common.write_csv(out / "final.csv", final)
  common.cached_csv(out / "numpy_study_code.csv", lambda: _train_numpy(cfg, s, ds))
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
    reported = np.asarray([REPORTED[k][idx] for k in xs])
    series["study RKL1 (reported, 40 ep.)"] = (np.asarray(xs), reported, None, None)
    if gd:
      value = float(np.nanmean([r[metric] for r in gd]))
      series["GD lr 1e-2 (ILR ignored)"] = (
        np.asarray(s["ilrs"]),
        np.full(len(s["ilrs"]), value),
        None,
        None,
      )
    panels.append((label, label, log_y, series))
  figures.curves(
    panels,
    out / "study_grid.png",
    title=f"The study's setting: summed loss, no clip, warm-up for ILR > 0.1; {s['epochs']} "
    "epochs (study: 40)",
    xlabel=s["units"],
    notes="lines: mean over seeds, bands: min-max; a label ending in (x: diverged) had a "
    "diverged run; a missing point is an ILR where all seeds diverged",
    log_x=True,
  )
  common.write_json(out / "settings.json", s)
  return s
