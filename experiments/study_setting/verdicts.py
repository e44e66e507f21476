"""The agreement rule of experiment 2, calibrated on the seed spread of the study's own setup.

The study ran one seed. Its number is one draw from what its setup gives; whether it "agrees"
with a column is whether it lies where that column's runs land, seed to seed. The rule, fixed
before any result is read:

* **The spread.** For each quantity (the loss at an epoch, the test accuracy at an epoch),
  ``sigma_cal`` is the pooled seed-to-seed standard deviation of the calibration cells (GD and
  RKL1 at the curve ILR, at least four seeds each) in the study's setup, its code and the
  library alike: the spread of the setup itself. Losses are compared as ``log10``, since
  they span decades; accuracies in points.
* **A cell.** A column's ``n`` finite seeds have mean ``m`` and standard deviation ``sd``;
  ``sigma = max(sigma_cal, sd)``. The study's number ``x`` lies within the spread when
  ``|x - m| <= K * sigma * sqrt(1 + 1/n)`` (a prediction interval for one more seed, with
  ``K = 3``).
* **NaN.** A NaN of the study lies within the spread of a column when at least one of its
  seeds went non-finite; a finite number of the study when at least one seed stayed finite
  (and the test above holds on those).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

#: How many spreads away a study number may lie and still be "within the spread".
K = 3.0
WITHIN = "within the spread"
OUTSIDE = "outside the spread"

RULE = (
  f"the study's number lies within the spread of a column when it is at most {K:g} x sigma x "
  "sqrt(1 + 1/n) from the mean of that column's n finite seeds, where sigma is the larger of "
  "that cell's seed-to-seed standard deviation and the pooled one of the calibration cells "
  "(losses as log10, accuracies in points); a NaN of the study lies within it when a seed "
  "went non-finite there"
)


def scale(kind: str, values) -> np.ndarray:
  """Values on the rule's scale: ``log10`` of a loss, points (x 100) of an accuracy."""
  values = np.asarray(values, float)
  if kind == "loss":
    with np.errstate(all="ignore"):
      return np.log10(values)
  if kind == "accuracy":
    return 100 * values
  raise ValueError(f"kind={kind!r} is not 'loss' or 'accuracy'.")


def pooled_sd(groups: Sequence[Sequence[float]], kind: str) -> float:
  """The pooled standard deviation of groups of per-seed values (each one cell), on the
  rule's scale; non-finite values and groups of fewer than two are left out."""
  num, dof = 0.0, 0
  for group in groups:
    v = scale(kind, group)
    v = v[np.isfinite(v)]
    if v.size >= 2:
      num += float(np.sum((v - v.mean()) ** 2))
      dof += v.size - 1
  return math.sqrt(num / dof) if dof else float("nan")


def distance(kind: str, theirs: float, ours: Sequence[float], sigma_cal: float) -> float:
  """How many ``sigma * sqrt(1 + 1/n)`` the study's finite number lies from the mean of a
  column's finite seeds (``inf`` when none stayed finite)."""
  v = scale(kind, ours)
  finite = v[np.isfinite(v)]
  if finite.size == 0:
    return math.inf
  sd = float(np.std(finite, ddof=1)) if finite.size >= 2 else 0.0
  sigma = max(sigma_cal, sd)
  x = float(scale(kind, [theirs])[0])
  return abs(x - finite.mean()) / (sigma * math.sqrt(1 + 1 / finite.size))


def verdict(kind: str, theirs: float | None, ours: Sequence[float], sigma_cal: float) -> str:
  """:data:`WITHIN` or :data:`OUTSIDE`: the study's number (``None``: NaN) against a column's
  per-seed values (NaN: the seed went non-finite), under :data:`RULE`."""
  if theirs is None or not np.isfinite(theirs):
    return WITHIN if not np.all(np.isfinite(scale(kind, ours))) else OUTSIDE
  return WITHIN if distance(kind, theirs, ours, sigma_cal) <= K else OUTSIDE
