"""Experiment 3: convergence at the study's ILR (paper Fig. 2; study Fig. 2c/d).

The MNIST MLP in the study's units (loss summed over batches of 128, L2 ``1e-4 / 128`` on
the summed gradient, no growth clipping, as its MNIST script) at its curve ILR 1e-2, for
every paper rule and for GD at a fixed learning rate 1e-2: training loss and test accuracy
per epoch, and the number of steps until the test accuracy first reaches a target.
"""

from __future__ import annotations

import numpy as np

from experiments import common

NAME = "convergence"
TITLE = "Convergence at the study's ILR 1e-2 (summed loss): GD vs the rules"
ILR = 1e-2
BATCH = 128
TARGETS = (0.8, 0.9)

#: The study's curves at ILR 1e-2: method -> (loss ep 1, loss ep 10, loss ep 40, acc ep 40).
REPORTED = {
  "gd": (0.1937, 0.0172, 0.0016, 0.9666),
  "rkl1": (0.4198, 0.0218, 0.0024, 0.9517),
  "rkl3": (0.4282, 0.0200, 0.0023, 0.9554),
  "hellinger2": (0.3976, 0.0207, 0.0025, 0.9547),
  "kl2": (0.4211, 0.0207, 0.0025, 0.9543),
  "chi2_2": (0.6803, 0.0225, 0.0025, 0.9580),
}


def settings(cfg: common.Config) -> dict:
  return {
    "epochs": cfg.pick(5, 40),
    "ilr": ILR,
    "seeds": list(cfg.seeds),
    "batch_size": BATCH,
    "loss_reduction": "sum",
    "weight_decay": common.WEIGHT_DECAY / BATCH,
    "growth": None,
    "rules": cfg.rules(common.RULES[:-1]),
    "targets": list(TARGETS),
    "units": common.SUM_UNITS,
  }


def _train(cfg, s, ds) -> list[dict]:
  variants = {"gd": common.baseline_variant("sgd", weight_decay=s["weight_decay"])}
  for name in s["rules"]:
    variants[name] = common.rule_variant(name, clipped=False, weight_decay=s["weight_decay"])
  result = common.mlp_sweep(
    cfg, NAME, s, ds, variants, [s["ilr"]], batch_size=BATCH, loss_reduction="sum"
  )
  return common.sweep_rows(result)


def steps_to_target(rows: list[dict], steps_per_epoch: int) -> list[dict]:
  """Per variant and seed: the first step (epoch end) with test accuracy >= each target."""
  out = []
  for variant in dict.fromkeys(r["variant"] for r in rows):
    for seed in dict.fromkeys(r["seed"] for r in rows):
      run = sorted(
        (r for r in rows if r["variant"] == variant and r["seed"] == seed), key=lambda r: r["epoch"]
      )
      record = {"variant": variant, "seed": seed}
      for target in TARGETS:
        hit = [r["epoch"] for r in run if r["test_accuracy"] >= target]
        record[f"steps_to_{int(100 * target)}pct"] = hit[0] * steps_per_epoch if hit else -1
      record["final_test_accuracy"] = run[-1]["test_accuracy"]
      record["final_train_loss"] = run[-1]["train_loss"]
      out.append(record)
  return out


def run(cfg: common.Config) -> dict:
  from experiments import figures

  s = settings(cfg)
  out = cfg.out / NAME
  ds = common.load_mnist(cfg)
  s["data"] = common.data_label(ds)
  s["steps_per_epoch"] = ds.num_train // BATCH
  rows = common.cached_csv(out / "curves.csv", lambda: _train(cfg, s, ds))
  common.write_csv(out / "steps_to_target.csv", steps_to_target(rows, s["steps_per_epoch"]))
  panels = []
  for metric, label, log_y in (
    ("train_loss", "training loss (per example, epoch mean)", True),
    ("test_accuracy", "test accuracy (fraction)", False),
  ):
    series = {}
    for variant in dict.fromkeys(r["variant"] for r in rows):
      epochs = sorted({r["epoch"] for r in rows})
      values = np.array(
        [[r[metric] for r in rows if r["variant"] == variant and r["epoch"] == e] for e in epochs]
      )
      mean, low, high = figures._stats(values)
      series[variant] = (np.asarray(epochs), mean, low, high)
    panels.append((label, label, log_y, series))
  figures.curves(
    panels,
    out / "curves.png",
    title=f"MNIST MLP at ILR {ILR:g} ({s['units']}), no clip; GD at learning rate 1e-2",
    xlabel=f"epoch ({s['steps_per_epoch']} steps of batch {BATCH})",
    notes="lines: mean over seeds; bands: min-max over seeds",
  )
  common.write_json(out / "settings.json", s)
  return s
