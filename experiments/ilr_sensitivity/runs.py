"""Experiment 1's training and its robustness widths, from the sweep's rows."""

from __future__ import annotations

import numpy as np

from experiments import common
from experiments.ilr_sensitivity.config import Settings
from hyperreg_jax import robustness_width


def _variants(s: Settings) -> dict[str, tuple[str, object]]:
  """label -> (group, factory)."""
  out = {}
  for name in s.rules:
    for clipped in (True, False):
      make = common.rule_variant(name, clipped=clipped)
      out[make.__name__] = ("clipped" if clipped else "unclipped", make)
  for name in s.baselines:
    out[name] = ("baseline", common.baseline_variant(name))
  return out


def _train(cfg, results, ds) -> list[dict]:
  variants = _variants(results.settings)
  makes = {label: make for label, (_, make) in variants.items()}
  result = common.mlp_sweep(
    cfg, results, ds, makes, results.settings.ilrs, batch_size=results.settings.batch_size
  )
  return [dict(row, group=variants[row["variant"]][0]) for row in common.sweep_rows(result)]


def _train_lr_free(cfg, results, ds) -> list[dict]:
  lr_free = {name: common.lr_free_variant(name) for name in results.settings.lr_free}
  result = common.mlp_sweep(
    cfg, results, ds, lr_free, [1.0], batch_size=results.settings.batch_size
  )
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
    best = ilrs[int(np.argmax(scores))]
    at_best = [r["test_accuracy"] for r in runs if r["ilr"] == best]
    rows.append(
      {
        "variant": variant,
        "group": groups[variant],
        "best_test_accuracy": max(scores),
        "best_seed_spread": float(np.ptp(at_best)) if np.isfinite(at_best).all() else 0.0,
        "best_ilr": best,
        "width_1pt_decades": w1,
        "ilr_range_1pt": f"{lo1:.3g}-{hi1:.3g}",
        "width_5pt_decades": w5,
        "ilr_range_5pt": f"{lo5:.3g}-{hi5:.3g}",
        "diverged_at_ilrs": _ilrs(runs, "diverged"),
        "chance_at_ilrs": _ilrs(runs, "failed"),
      }
    )
  return rows


def _ilrs(runs, outcome) -> str:
  found = sorted({r["ilr"] for r in runs if common.outcome(r) == outcome})
  return " ".join(f"{x:.3g}" for x in found) or "none"
