"""The one body of the named optimizers: each alias is ``hyperreg`` with its own divergence and
algorithm, and passes its arguments through unchanged."""

from __future__ import annotations

from typing import Any

import optax

from hyperreg_jax import divergences
from hyperreg_jax._transform import hyperreg
from hyperreg_jax._validate import check_init_lr


def hyperreg_alias(
  name: str,
  divergence: str | divergences.Divergence,
  algorithm: int,
  arguments: dict[str, Any],
) -> optax.GradientTransformationExtraArgs:
  """The alias ``name``: ``hyperreg`` with ``divergence`` and ``algorithm``, and the alias's
  ``arguments`` (its ``locals()`` on entry: ``init_lr`` and the keyword arguments)."""
  options = dict(arguments)
  init_lr = options.pop("init_lr")
  check_init_lr(init_lr, name, options["learning_rate"])
  return hyperreg(init_lr, divergence=divergence, algorithm=algorithm, **options)
