"""Experiment 2: the study as it ran, number for number (study section 4, Fig. 2, its logs).

Every number of the study's MNIST table (RKL1-3 at its six ILRs) and curves (GD and five rules
at ILR 1e-2: the loss at epochs 1, 10 and 40, the test accuracy at 40) is set beside three
columns, each over several seeds (:mod:`experiments.study_setting.runs`):

* ``code``: the study's NumPy code, literally (:mod:`experiments.study_code`);
* ``setup``: the library in the study's setup (:func:`experiments.study.study_variant`),
  float64, which takes the code's steps from the same weights and batches
  (tests/test_study_step_for_step.py);
* ``defaults``: the library's own model and rules at the study's ILRs, in its units.

Each column's loss is the study's: the whole training set's after the epoch, plus its L2
term. A verdict says whether the study's number lies within the seed-to-seed spread of each
column (:mod:`experiments.study_setting.verdicts`, a rule calibrated on at least four seeds
of GD and RKL1). Each NaN of the study is re-run literally and with one of its choices at a
time made the library's, to name what broke first and what prevents it.
"""

from __future__ import annotations

import dataclasses

from experiments import common, files
from experiments.study_setting import plots, report, runs
from experiments.study_setting.config import (
  CLAIMS,
  EMBEDDED,
  FULL,
  NAME,
  TITLE,
  Settings,
  keyed,
  nan_cells,
)

__all__ = ["CLAIMS", "EMBEDDED", "FULL", "NAME", "TITLE", "Settings", "run", "section", "settings"]


def settings(cfg: common.Config) -> Settings:
  s = common.scaled(EMBEDDED, FULL, cfg)
  if cfg.seeds is not None:  # --seeds: every cell, every column
    s = dataclasses.replace(s, calibration_seeds=tuple(cfg.seeds), code_seeds=tuple(cfg.seeds))
  return s


def run(cfg: common.Config, s: Settings) -> None:
  ds = common.load_mnist(cfg)
  results = common.Results(cfg.out / NAME, s, common.data_record(ds))
  # The NaN re-runs first: a few short runs, where the columns take hours at full scale.
  results.cached_csv("nans.csv", lambda: runs.explain_nans(cfg, results, ds, nan_cells(s)))
  rows = results.cached_csv("runs.csv", lambda: runs.train(cfg, results, ds))
  files.write_csv(results.path("final.csv"), common.final_rows(keyed(rows)))
  plots.grid(rows, s, results.path("study_grid.png"))
  plots.curves(rows, s, ds.num_train, results.path("curves.png"))


def section(folder, s: Settings, data: dict):
  """The report's section (:func:`experiments.study_setting.report.section`)."""
  return report.section(folder, s, data)
