"""hyperreg_jax: hyper-regularized adaptive learning rates for JAX and Optax.

The core (divergences, rules, transformations, sweeps) needs only jax, optax and
numpy; so does ``hyperreg_jax.train``. ``.models`` (Flax) and ``.data`` are imported on
first use.

Example:
  >>> import optax, hyperreg_jax as hr
  >>> opt = optax.chain(optax.clip_by_global_norm(1.0), hr.kl2(init_lr=1e-2))
"""

import importlib

from hyperreg_jax import distributed, divergences, rules
from hyperreg_jax.divergences import Divergence
from hyperreg_jax.transform import (
  DEFAULT_WEIGHT_DECAY,
  GRANULARITIES,
  PAPER_RULES,
  HyperRegState,
  adagrad_diag,
  chi2_1,
  chi2_2,
  chi2_3,
  hellinger1,
  hellinger2,
  hellinger3,
  hyperreg,
  kl1,
  kl2,
  kl3,
  lr_stats,
  rkl1,
  rkl2,
  rkl3,
  scale_by_hyperreg,
  wngrad,
)

from hyperreg_jax.sweep import (  # noqa: E402  (the function shadows the module)
  SweepResult,
  data_parallel,
  sweep,
  variant_names,
)

__version__ = "0.1.0"

__all__ = [
  "DEFAULT_WEIGHT_DECAY",
  "Divergence",
  "GRANULARITIES",
  "HyperRegState",
  "PAPER_RULES",
  "SweepResult",
  "adagrad_diag",
  "chi2_1",
  "chi2_2",
  "chi2_3",
  "data_parallel",
  "distributed",
  "divergences",
  "hellinger1",
  "hellinger2",
  "hellinger3",
  "hyperreg",
  "kl1",
  "kl2",
  "kl3",
  "lr_stats",
  "rkl1",
  "rkl2",
  "rkl3",
  "rules",
  "scale_by_hyperreg",
  "sweep",
  "variant_names",
  "wngrad",
]

_LAZY_SUBMODULES = ("data", "models", "reference")


def __getattr__(name):
  if name in _LAZY_SUBMODULES:
    return importlib.import_module(f"hyperreg_jax.{name}")
  raise AttributeError(f"module 'hyperreg_jax' has no attribute {name!r}")
