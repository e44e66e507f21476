"""hyperreg_jax: hyper-regularized adaptive learning rates for JAX and Optax.

The public API, re-exported from private implementation modules (as in optax): no public name
is a submodule's. The core (divergences, rules, transformations, sweeps) needs only jax, optax
and numpy; so does ``hyperreg_jax.train``. ``.models`` (Flax) and ``.data`` load on first use.

Example:
  >>> import optax, hyperreg_jax as hr
  >>> opt = optax.chain(optax.clip_by_global_norm(1.0), hr.kl2(init_lr=1e-2))
"""

from hyperreg_jax import distributed, divergences, rules
from hyperreg_jax._aliases import (
  PAPER_RULES,
  RULE_NAMES,
  adagrad_diag,
  chi2_1,
  chi2_2,
  chi2_3,
  hellinger1,
  hellinger2,
  hellinger3,
  kl1,
  kl2,
  kl3,
  rkl1,
  rkl2,
  rkl3,
  wngrad,
)
from hyperreg_jax._lr_stats import inverse_beta_stats, lr_stats, step_size_stats
from hyperreg_jax._parallel import data_parallel
from hyperreg_jax._registry import make_optimizer, variant_names
from hyperreg_jax._results import (
  CHANCE_FACTOR,
  OUTCOMES,
  SweepResult,
  robustness_width,
  run_outcome,
)
from hyperreg_jax._sweep import sweep
from hyperreg_jax._transform import (
  DEFAULT_WEIGHT_DECAY,
  GRANULARITIES,
  HyperRegState,
  hyperreg,
  scale_by_hyperreg,
)
from hyperreg_jax._version import __version__ as __version__
from hyperreg_jax.divergences import Divergence

__all__ = [
  "CHANCE_FACTOR",
  "DEFAULT_WEIGHT_DECAY",
  "GRANULARITIES",
  "PAPER_RULES",
  "RULE_NAMES",
  "Divergence",
  "HyperRegState",
  "OUTCOMES",
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
  "inverse_beta_stats",
  "kl1",
  "kl2",
  "kl3",
  "lr_stats",
  "rkl1",
  "rkl2",
  "rkl3",
  "robustness_width",
  "rules",
  "run_outcome",
  "scale_by_hyperreg",
  "step_size_stats",
  "sweep",
  "variant_names",
  "make_optimizer",
  "wngrad",
]

_LAZY_SUBMODULES = ("data", "models", "reference")


def __getattr__(name):
  if name in _LAZY_SUBMODULES:
    import importlib  # here, so that the package's namespace holds no foreign module

    return importlib.import_module(f"hyperreg_jax.{name}")
  raise AttributeError(f"module 'hyperreg_jax' has no attribute {name!r}")
