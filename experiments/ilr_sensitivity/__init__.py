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

from experiments import common, files, study
from experiments.ilr_sensitivity import report, runs
from experiments.ilr_sensitivity.config import CLAIMS, EMBEDDED, FULL, NAME, TITLE, Settings
from experiments.ilr_sensitivity.runs import robustness, score_table

__all__ = [
  "CLAIMS",
  "EMBEDDED",
  "FULL",
  "NAME",
  "TITLE",
  "Settings",
  "robustness",
  "run",
  "score_table",
  "section",
  "settings",
]


def settings(cfg: common.Config) -> Settings:
  extra = {} if cfg.ilrs is None else {"ilrs": tuple(cfg.ilrs)}
  return common.scaled(EMBEDDED, FULL, cfg, **extra)


def run(cfg: common.Config, s: Settings) -> None:
  """Trains what is missing, then writes the tables and figures."""
  from experiments import figures

  ds = common.load_mnist(cfg)
  results = common.Results(cfg.out / NAME, s, common.data_record(ds))
  final = common.final_rows(results.cached_csv("runs.csv", lambda: runs._train(cfg, results, ds)))
  lr_free = []
  if s.lr_free:
    lr_free = results.cached_csv("lr_free.csv", lambda: runs._train_lr_free(cfg, results, ds))
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


def section(folder, s: Settings, data: dict):
  """The report's section (:func:`experiments.ilr_sensitivity.report.section`)."""
  return report.section(folder, s, data)
