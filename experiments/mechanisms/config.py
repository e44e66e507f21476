"""Experiment 7's settings, claims and variants (see :mod:`experiments.mechanisms`)."""

from __future__ import annotations

import dataclasses

from experiments import common, study
from experiments import markdown as md

NAME = "mechanisms"
TITLE = "Why the rules fail where they fail"

CLAIMS = {
  "warmup": (
    "study, MNIST setting (docs/method.md section 4): warm-up before ILRs > 0.1",
    "50 steps at learning rate 1e-2, then beta = 1 / ILR: the study's fix for large ILRs.",
  ),
}


@dataclasses.dataclass(frozen=True)
class Settings:
  """Attributes: epochs and seeds of every traced run (the ablation runs the first seed);
  the traced ILRs and optimizers; the ILRs of the first-step measurement and its rules (all
  without the clip); the ILRs whose every step is saved; the limit ILRs."""

  epochs: int
  seeds: tuple[int, ...]
  ilrs: tuple[float, ...] = (
    1.0,
    10 ** (2 / 3),
    10 ** (4 / 3),
    100.0,
    10 ** (8 / 3),
    1e4,
    1e8,
    1e10,
    1e12,
  )
  traced: tuple[str, ...] = (
    "sgd",
    "rkl1_noclip",
    "hellinger2_noclip",
    "adagrad_diag_noclip",
    "hellinger3_noclip",
    "rkl1",
    "hellinger2",
  )
  free: tuple[str, ...] = ("prodigy", "dog", "cocob")
  first_step_ilrs: tuple[float, ...] = tuple(10 ** (k / 2) for k in range(-8, 25))
  first_step_rules: tuple[str, ...] = study.RULES
  shown_ilrs: tuple[float, ...] = (10 ** (2 / 3), 10 ** (4 / 3), 100.0, 1e4)
  limit_ilrs: tuple[float, ...] = (1e8, 1e10, 1e12)
  batch_size: int = study.BATCH
  weight_decay: float = study.WEIGHT_DECAY

  def summary(self) -> str:
    return (
      f"{md.plural(self.epochs, 'epoch')}, batch {self.batch_size}, seeds "
      f"{list(self.seeds)}, {len(self.ilrs)} traced ILRs from {self.ilrs[0]:g} to "
      f"{self.ilrs[-1]:g}; the ablation: seed {self.seeds[0]}"
    )


EMBEDDED = Settings(epochs=2, seeds=(0, 1))
#: Full MNIST: one epoch (468 steps), one seed.
FULL = Settings(epochs=1, seeds=(0,))


def rule_parts(name: str) -> tuple[str, int]:
  """``"hellinger2"`` -> ``("hellinger", 2)``; ``adagrad_diag`` is Neyman chi-square, Alg. 1."""
  if name == "adagrad_diag":
    return "neyman_chi2", 1
  return name.rstrip("123").rstrip("_"), int(name[-1])


def group(label: str) -> str:
  """``sgd``, ``lr_free``, ``clipped``, ``unclipped`` (Algorithms 1-2) or ``lagged`` (3)."""
  if label in ("sgd", *study.LR_FREE):
    return "sgd" if label == "sgd" else "lr_free"
  if not label.endswith("_noclip"):
    return "clipped"
  return "lagged" if rule_parts(label.removesuffix("_noclip"))[1] == 3 else "unclipped"


def make(label: str, weight_decay: float, **kw):
  """``init_lr -> optax transformation`` of a label: a rule (``_noclip``: no growth clip),
  SGD or a learning-rate-free optimizer."""
  if label == "sgd":
    return common.baseline_variant("sgd", weight_decay)
  if label in study.LR_FREE:
    return common.lr_free_variant(label, weight_decay)
  rule = label.removesuffix("_noclip")
  return common.rule_variant(rule, clipped=rule == label, weight_decay=weight_decay, **kw)


# ----------------------------------------------------------------------------- measurements
