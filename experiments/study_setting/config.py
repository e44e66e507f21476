"""Experiment 2's settings, claims and names (see :mod:`experiments.study_setting`)."""

from __future__ import annotations

import dataclasses

from experiments import markdown as md
from experiments import study
from experiments.study_setting import runs

NAME = "study_setting"
TITLE = "The study as it ran: its code, its setup in the library, and the library's defaults"

CLAIMS = {
  "table": (
    "study section 4.1, Fig. 2a/b and its logs: MNIST loss after 40 epochs vs ILR",
    "RKL1 fine up to ILR 1 and NaN at 10; RKL2 and RKL3 NaN from ILR 0.1 (summed loss).",
  ),
  "curves": (
    "study section 4.2, Fig. 2c/d and its logs: curves at ILR 1e-2",
    "GD reaches loss 0.0016 / 96.66% after 40 epochs; the rules 0.0023-0.0025 / 95.2-95.8%.",
  ),
}


@dataclasses.dataclass(frozen=True)
class Settings:
  """Attributes: epochs; the seeds of every cell (the study's code: ``code_seeds``); the
  calibration cells' rules and seeds (every column);
  the study's ILRs and table rules; its curve ILR and rules; the columns; the epochs of the
  NaN re-runs; batch size and weight decay (on the summed gradient)."""

  epochs: int
  seeds: tuple[int, ...]
  calibration_seeds: tuple[int, ...]
  code_seeds: tuple[int, ...] = (0,)
  calibration_rules: tuple[str, ...] = ("gd", "rkl1")
  ilrs: tuple[float, ...] = study.ILRS
  rules: tuple[str, ...] = ("rkl1", "rkl2", "rkl3")
  curve_ilr: float = 1e-2
  curve_rules: tuple[str, ...] = ("rkl1", "rkl3", "hellinger2", "kl2", "chi2_2")
  columns: tuple[str, ...] = runs.COLUMNS
  nan_epochs: int = 2
  batch_size: int = study.BATCH
  weight_decay: float = study.WEIGHT_DECAY / study.BATCH

  def summary(self) -> str:
    return (
      f"{md.plural(self.epochs, 'epoch')}, batch {self.batch_size}, seeds {list(self.seeds)} "
      f"(the study's code: {list(self.code_seeds)}; GD and RKL1 at ILR {self.curve_ilr:g}, "
      f"every column: {list(self.calibration_seeds)}), the study's "
      f"{len(self.ilrs)} ILRs; the NaN re-runs: {md.plural(self.nan_epochs, 'epoch')}"
    )


EMBEDDED = Settings(epochs=3, seeds=(0, 1), calibration_seeds=(0, 1, 2, 3), code_seeds=(0, 1))
#: The study's scale: 40 epochs on full MNIST, two seeds a cell in the library and one in the
#: study's code (the slowest: about 4 minutes a run), four where it calibrates.
FULL = Settings(epochs=40, seeds=(0, 1), calibration_seeds=(0, 1, 2, 3), code_seeds=(0,))


def nan_cells(s: Settings) -> list[tuple[str, float]]:
  """The cells of the study's table it reports as NaN (RKL3's are its RKL2's, re-run once)."""
  cells = []
  for ilr, numbers in study.TABLE.items():
    if ilr not in s.ilrs:
      continue
    for rule, value in zip(("rkl1", None, "rkl2", "rkl3"), numbers):
      if rule in s.rules and rule != "rkl3" and value is None:
        cells.append((rule, ilr))
  return cells


COLUMN_LABELS = {
  "code": "the study's code",
  "setup": "library, study's setup",
  "defaults": "library defaults",
}
COLUMN_STYLES = {"code": "-", "setup": "--", "defaults": ":"}


def keyed(rows):
  """Rows with the ``variant`` and ``group`` keys of :func:`experiments.common.final_rows`."""
  return [dict(r, variant=r["rule"], group=r["column"]) for r in rows]
