"""Experiment 2's figures: the study's table and curves beside each column's runs."""

from __future__ import annotations

import numpy as np

from experiments import study
from experiments.study_setting.config import COLUMN_LABELS, COLUMN_STYLES, Settings, keyed


def grid(rows, s: Settings, path) -> None:
  """Final loss and test accuracy vs ILR per rule of the table and column, the study's
  points beside them."""
  from experiments import figures

  final = keyed([r for r in rows if r["epoch"] == s.epochs])
  panels = []
  for idx, metric, label, log_y in (
    (0, "train_loss", "training loss after the last epoch (the study's measure)", True),
    (1, "test_accuracy", "test accuracy after the last epoch (fraction)", False),
  ):
    series, styles = {}, {}
    for rule in s.rules:
      for column in s.columns:
        part = [r for r in final if r["group"] == column]
        ilrs, values, _, _ = figures._by_ilr(part, rule, metric)
        if len(ilrs):
          name = f"{rule}, {COLUMN_LABELS[column]}"
          series[name] = (ilrs, *figures._stats(values))
          styles[name] = {"ls": COLUMN_STYLES[column]}
    column_of = {"rkl1": idx, "rkl2": 2, "rkl3": 3} if idx == 0 else {"rkl1": 1}
    for rule, k in column_of.items():
      xs = [x for x, v in study.TABLE.items() if v[k] is not None and x in s.ilrs]
      name = f"{rule}, the study (1 seed)"
      series[name] = (np.asarray(xs), np.asarray([study.TABLE[x][k] for x in xs]), None, None)
      styles[name] = {"ls": "none", "marker": "s"}
    panels.append((label, label, log_y, series))
  figures.curves(
    panels,
    path,
    title=f"The study's table: {s.epochs} epochs (the study: 40), each column over its seeds",
    xlabel=study.SUM_UNITS,
    notes="line: mean over seeds, band: min-max; solid: the study's code, dashed: the "
    "library in its setup, dotted: the library's defaults; squares: the study's numbers; "
    "a missing point: every seed non-finite",
    log_x=True,
    styles=styles,
  )


def curves(rows, s: Settings, num_train: int, path) -> None:
  """Loss and test accuracy per epoch at the curve ILR, per column, beside the study's."""
  from experiments import figures

  at = [r for r in rows if r["ilr"] == s.curve_ilr]
  epochs = sorted({r["epoch"] for r in at})
  panels = []
  for metric, label, log_y in (
    ("train_loss", "training loss (the study's measure)", True),
    ("test_accuracy", "test accuracy (fraction)", False),
  ):
    series, styles = {}, {}
    for rule in ("gd", *s.curve_rules):
      for column in s.columns:
        values = np.array(
          [
            [
              r[metric]
              for r in at
              if r["rule"] == rule and r["column"] == column and r["epoch"] == e
            ]
            for e in epochs
          ]
        )
        if values.size:
          name = f"{rule}, {COLUMN_LABELS[column]}"
          series[name] = (np.asarray(epochs), *figures._stats(values))
          styles[name] = {"ls": COLUMN_STYLES[column]}
    panels.append((label, label, log_y, series))
  figures.curves(
    panels,
    path,
    title=f"The study's curves at ILR {s.curve_ilr:g} ({study.SUM_UNITS})",
    xlabel=f"epoch ({num_train // s.batch_size} steps of batch {s.batch_size})",
    notes="line: mean over seeds, band: min-max; solid: the study's code, dashed: the "
    "library in its setup, dotted: the library's defaults",
    styles=styles,
  )
