"""Experiment 1's settings and claims (see :mod:`experiments.ilr_sensitivity`)."""

from __future__ import annotations

import dataclasses

import numpy as np

from experiments import markdown as md
from experiments import study

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
