"""Experiment 1: ILR sensitivity (paper Fig. 1; study section 4.1, Fig. 2a/b), clip on and off.

The MNIST MLP 784-500(sigmoid)-10, batch 128, L2 1e-4, trained from every initial learning
rate of a log grid with every paper rule and ``adagrad_diag``, each with the paper's growth
clipping (``growth=2``) and without it, beside SGD, AdaGrad and Adam at the same learning
rates and the learning-rate-free optimizers of ``optax.contrib`` at their defaults. The loss
is averaged over the batch (this library's ILR units).

The **robustness width** of a variant is the span of ILRs, in decades, of the contiguous
stretch of the grid around its best ILR over which the mean test accuracy (over seeds; a
diverged run counts as chance, 10%) stays within 1 point (and within 5 points) of its best.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from experiments import common, files, study
from experiments import markdown as md
from hyperreg_jax import robustness_width

NAME = "ilr_sensitivity"
TITLE = "ILR sensitivity: all rules, with and without growth clipping"

CLAIMS = {
  "robust": (
    "paper, abstract; study section 4.1, Fig. 2a/b: robust to the ILR",
    "The paper claims robustness to the initial learning rate; the study found divergence "
    "at large ILRs and high loss at small ones.",
  ),
  "clip": (
    "paper, experiments: growth clipping (beta at most doubles per step) as a safeguard",
    "Used in all the paper's runs to keep large ILRs stable; never tested without.",
  ),
}


@dataclasses.dataclass(frozen=True)
class Settings:
  """Attributes: epochs and seeds of every run; the ILR grid; the variants' names."""

  epochs: int
  seeds: tuple[int, ...]
  ilrs: tuple[float, ...]
  rules: tuple[str, ...] = study.RULES
  baselines: tuple[str, ...] = study.BASELINES
  lr_free: tuple[str, ...] = study.LR_FREE
  batch_size: int = study.BATCH
  weight_decay: float = study.WEIGHT_DECAY

  def summary(self) -> str:
    return (
      f"{md.plural(self.epochs, 'epoch')}, batch {self.batch_size}, seeds {list(self.seeds)}, "
      f"{len(self.ilrs)} ILRs from {self.ilrs[0]:g} to {self.ilrs[-1]:g}"
    )


EMBEDDED = Settings(epochs=2, seeds=(0, 1), ilrs=tuple(np.logspace(-4, 4, 13).tolist()))
#: Full MNIST: half-decade grid, one seed, as many epochs as a 2-core CPU affords in the
#: budget of the full run (29 optimizers x 17 ILRs; the study: 40 epochs).
FULL = Settings(epochs=3, seeds=(0,), ilrs=tuple(np.logspace(-4, 4, 17).tolist()))


def settings(cfg: common.Config) -> Settings:
  extra = {} if cfg.ilrs is None else {"ilrs": tuple(cfg.ilrs)}
  return common.scaled(EMBEDDED, FULL, cfg, **extra)


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
        "chance_at_ilrs": _ilrs(runs, "chance"),
      }
    )
  return rows


def _ilrs(runs, outcome) -> str:
  found = sorted({r["ilr"] for r in runs if common.outcome(r) == outcome})
  return " ".join(f"{x:.3g}" for x in found) or "none"


def run(cfg: common.Config, s: Settings) -> None:
  """Trains what is missing, then writes the tables and figures."""
  from experiments import figures

  ds = common.load_mnist(cfg)
  results = common.Results(cfg.out / NAME, s, common.data_record(ds))
  final = common.final_rows(results.cached_csv("runs.csv", lambda: _train(cfg, results, ds)))
  lr_free = []
  if s.lr_free:
    lr_free = results.cached_csv("lr_free.csv", lambda: _train_lr_free(cfg, results, ds))
  files.write_csv(results.path("final.csv"), final)
  files.write_csv(results.path("robustness.csv"), robustness(final))
  for metric, what in (("test_accuracy", "test accuracy"), ("train_loss", "training loss")):
    figures.sensitivity_grid(
      final,
      lr_free,
      metric,
      results.path(f"{metric}_vs_ilr.png"),
      title=f"MNIST MLP, {s.epochs} epochs: final {what} vs initial learning rate",
      xlabel=study.MEAN_UNITS,
    )
  figures.robustness_bars(
    robustness(final), results.path("robustness_width.png"), xlabel="decades of " + study.MEAN_UNITS
  )


# ----------------------------------------------------------------------------- report


def section(folder, s: Settings, data: dict) -> md.Section:
  """The report's section: figures, the robustness table, findings and claims (written by
  :mod:`experiments.ilr_sensitivity_report`)."""
  from experiments import ilr_sensitivity_report

  return ilr_sensitivity_report.section(folder, s, data)
