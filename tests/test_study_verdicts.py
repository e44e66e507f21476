"""The calibrated agreement rule of experiment 2 (``experiments/study_setting/verdicts.py``),
pinned on cases just inside and just outside, and the numbers it is applied to."""

from __future__ import annotations

import math

import numpy as np
import pytest

from experiments import study
from experiments.study_setting import config, report, verdicts

WITHIN, OUTSIDE = verdicts.WITHIN, verdicts.OUTSIDE


def test_k_is_three_spreads():
  assert verdicts.K == 3.0
  assert "3 x sigma x sqrt(1 + 1/n)" in verdicts.RULE


@pytest.mark.parametrize("side", [-1, 1])
def test_accuracy_just_inside_and_just_outside(side):
  # Two seeds at 95.0% and 95.2%: sd 0.141 points, below the calibration's 1 point.
  ours = [0.950, 0.952]
  bound = 3 * 1.0 * math.sqrt(1 + 1 / 2)  # points
  mean = 95.1
  inside = (mean + side * (bound - 1e-6)) / 100
  outside = (mean + side * (bound + 1e-6)) / 100
  assert verdicts.verdict("accuracy", inside, ours, sigma_cal=1.0) == WITHIN
  assert verdicts.verdict("accuracy", outside, ours, sigma_cal=1.0) == OUTSIDE


def test_loss_is_compared_in_log10():
  ours = [0.002, 0.002]  # no spread of their own: the calibration's 0.05 decades decides
  bound = 3 * 0.05 * math.sqrt(1.5)
  assert verdicts.verdict("loss", 0.002 * 10 ** (bound - 1e-9), ours, 0.05) == WITHIN
  assert verdicts.verdict("loss", 0.002 * 10 ** (bound + 1e-9), ours, 0.05) == OUTSIDE
  assert verdicts.verdict("loss", 0.002 / 10 ** (bound + 1e-9), ours, 0.05) == OUTSIDE


def test_a_cell_wider_than_the_calibration_uses_its_own_spread():
  ours = [0.90, 0.96]  # sd 4.24 points
  sd = np.std([90.0, 96.0], ddof=1)
  edge = 93.0 + 3 * sd * math.sqrt(1.5)
  assert verdicts.verdict("accuracy", (edge - 1e-6) / 100, ours, sigma_cal=1.0) == WITHIN
  assert verdicts.verdict("accuracy", (edge + 1e-6) / 100, ours, sigma_cal=1.0) == OUTSIDE


def test_nans():
  assert verdicts.verdict("loss", None, [float("nan"), 0.1], 0.05) == WITHIN
  assert verdicts.verdict("loss", None, [0.1, 0.1], 0.05) == OUTSIDE
  assert verdicts.verdict("loss", 0.1, [float("nan")] * 2, 0.05) == OUTSIDE
  # Only the finite seeds count for a finite number of the study.
  assert verdicts.verdict("loss", 0.1, [float("nan"), 0.1], 0.05) == WITHIN


def test_pooled_sd():
  groups = [[1.0, 3.0], [10.0, 10.0, 13.0], [5.0]]  # the lone value has no spread
  expected = math.sqrt((2.0 + 6.0) / (1 + 2))
  assert verdicts.pooled_sd(groups, "accuracy") == pytest.approx(100 * expected)


def test_every_number_of_the_study_is_compared_at_full_scale():
  numbers = report.numbers(config.FULL)
  assert len(numbers) == 24 + 24
  assert sum(n["value"] is None for n in numbers) == 7  # the table's NaNs
  assert {n["epoch"] for n in numbers} == {1, 10, 40}
  gd = [n for n in numbers if n["rule"] == "gd"]
  assert [n["value"] for n in gd] == list(study.CURVES["gd"])


def test_a_non_finite_run_that_printed_the_study_accuracy_is_named_not_counted():
  # The study's 9.8% at RKL1, ILR 10 is what a run with NaN weights prints (class 0 for
  # every image): the rule still counts that seed as NaN, and the report says what it printed.
  s = config.FULL
  (n,) = [x for x in report.numbers(s) if x["label"] == "table: rkl1 accuracy, ILR 10"]
  assert n["value"] == pytest.approx(0.098)

  def rows(printed, diverged=True):
    row = dict(rule="rkl1", ilr=10.0, epoch=s.epochs, seed=0, train_loss=float("nan"))
    return [dict(row, column="code", test_accuracy=printed, diverged=diverged)]

  assert report.nonfinite_printing(rows(0.098), s, n) == ["code"]
  assert report.nonfinite_printing(rows(0.0985), s, n) == ["code"]  # to the study's 0.1 point
  assert report.nonfinite_printing(rows(0.0995), s, n) == []
  assert report.nonfinite_printing(rows(0.098, diverged=False), s, n) == []
  assert verdicts.verdict("accuracy", n["value"], [float("nan")], 0.1) == OUTSIDE
  (loss,) = [x for x in report.numbers(s) if x["label"] == "table: rkl1 loss, ILR 1"]
  assert report.nonfinite_printing(rows(0.098), s, loss) == []
  found = report.settings_matching(rows(0.098), s, n, sigma=0.1)
  assert found == ["rkl1 (the study's code, as printed by its non-finite seeds)"]
