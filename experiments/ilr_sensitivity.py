"""Experiment 1: ILR sensitivity (paper Fig. 1; study Fig. 2a/b), with and without the clip.

The MNIST MLP 784-500(sigmoid)-10, batch 128, L2 1e-4, trained from every initial learning
rate of a log grid (eight decades in 13 steps by default) with every paper rule and
``adagrad_diag``,
each with the paper's growth clipping (``growth=2``) and without it, beside SGD, AdaGrad and
Adam at the same learning rates and the learning-rate-free optimizers of ``optax.contrib`` at
their defaults. The loss is averaged over the batch (this library's ILR units).

The **robustness width** of a variant is the span of ILRs, in decades, of the contiguous
stretch of the grid around its best ILR over which the mean test accuracy (over seeds; a
diverged run counts as chance, 10%) stays within 1 point (and within 5 points) of its best.
"""

from __future__ import annotations

import numpy as np

from experiments import common
from hyperreg_jax import robustness_width

NAME = "ilr_sensitivity"
TITLE = "ILR sensitivity: all rules, with and without growth clipping"


def settings(cfg: common.Config) -> dict:
  ilrs = cfg.ilrs if cfg.ilrs is not None else tuple(np.logspace(-4, 4, 13).tolist())
  return {
    "epochs": cfg.pick(2, 40),
    "ilrs": list(ilrs),
    "seeds": list(cfg.seeds),
    "batch_size": 128,
    "weight_decay": common.WEIGHT_DECAY,
    "rules": cfg.rules(common.RULES),
    "baselines": cfg.rules(common.BASELINES),
    "lr_free": cfg.rules(common.LR_FREE),
    "units": common.MEAN_UNITS,
  }


def _variants(s: dict) -> dict[str, tuple[str, object]]:
  """label -> (group, factory)."""
  out = {}
  for name in s["rules"]:
    for clipped in (True, False):
      make = common.rule_variant(name, clipped=clipped)
      out[make.__name__] = ("clipped" if clipped else "unclipped", make)
  for name in s["baselines"]:
    out[name] = ("baseline", common.baseline_variant(name))
  return out


def _train(cfg, s, ds) -> list[dict]:
  variants = _variants(s)
  makes = {label: make for label, (_, make) in variants.items()}
  result = common.mlp_sweep(cfg, NAME, s, ds, makes, s["ilrs"], batch_size=s["batch_size"])
  rows = common.sweep_rows(result, group="")
  for row in rows:
    row["group"] = variants[row["variant"]][0]
  return rows


def _train_lr_free(cfg, s, ds) -> list[dict]:
  lr_free = {name: common.lr_free_variant(name) for name in s["lr_free"]}
  result = common.mlp_sweep(cfg, NAME, s, ds, lr_free, [1.0], batch_size=s["batch_size"])
  return common.final_rows(common.sweep_rows(result, group="lr_free"))


def score_table(final: list[dict]) -> dict[str, dict[float, float]]:
  """variant -> {ilr: mean final test accuracy over seeds, a diverged run counted as 0.1}."""
  scores: dict[str, dict[float, list]] = {}
  for row in final:
    acc = 0.1 if common.outcome(row) == "diverged" else row["test_accuracy"]
    scores.setdefault(row["variant"], {}).setdefault(row["ilr"], []).append(acc)
  return {v: {k: float(np.mean(a)) for k, a in sorted(d.items())} for v, d in scores.items()}


def robustness(final: list[dict]) -> list[dict]:
  """One row per variant: best accuracy and ILR, widths within 1 and 5 points, failures."""
  groups = {row["variant"]: row["group"] for row in final}
  rows = []
  for variant, by_ilr in score_table(final).items():
    ilrs, scores = list(by_ilr), list(by_ilr.values())
    w1, lo1, hi1 = robustness_width(ilrs, scores, 1)
    w5, lo5, hi5 = robustness_width(ilrs, scores, 5)
    runs = [r for r in final if r["variant"] == variant]
    diverged = sorted({r["ilr"] for r in runs if common.outcome(r) == "diverged"})
    chance = sorted({r["ilr"] for r in runs if common.outcome(r) == "chance"})
    rows.append(
      {
        "variant": variant,
        "group": groups[variant],
        "best_test_accuracy": max(scores),
        "best_ilr": ilrs[int(np.argmax(scores))],
        "width_1pt_decades": w1,
        "ilr_range_1pt": f"{lo1:.3g}-{hi1:.3g}",
        "width_5pt_decades": w5,
        "ilr_range_5pt": f"{lo5:.3g}-{hi5:.3g}",
        "diverged_at_ilrs": " ".join(f"{x:.3g}" for x in diverged) or "none",
        "chance_at_ilrs": " ".join(f"{x:.3g}" for x in chance) or "none",
      }
    )
  return rows


def run(cfg: common.Config) -> dict:
  """Trains what is missing, then writes the tables and figures; returns the settings."""
  from experiments import figures

  s = settings(cfg)
  out = cfg.out / NAME
  ds = common.load_mnist(cfg)
  s["data"] = common.data_label(ds)
  runs = common.cached_csv(out / "runs.csv", lambda: _train(cfg, s, ds))
  final = common.final_rows(runs)
  lr_free = (
    common.cached_csv(out / "lr_free.csv", lambda: _train_lr_free(cfg, s, ds))
    if s["lr_free"]
    else []
  )
  common.write_csv(out / "final.csv", final)
  common.write_csv(out / "robustness.csv", robustness(final))
  figures.sensitivity_grid(
    final,
    lr_free,
    "test_accuracy",
    out / "test_accuracy_vs_ilr.png",
    title=f"MNIST MLP, {s['epochs']} epochs: final test accuracy vs initial learning rate",
    xlabel=s["units"],
  )
  figures.sensitivity_grid(
    final,
    lr_free,
    "train_loss",
    out / "train_loss_vs_ilr.png",
    title=f"MNIST MLP, {s['epochs']} epochs: final training loss vs initial learning rate",
    xlabel=s["units"],
  )
  figures.robustness_bars(
    robustness(final), out / "robustness_width.png", xlabel="decades of " + s["units"]
  )
  common.write_json(out / "settings.json", s)
  return s
