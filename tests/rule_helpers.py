"""What the tests of the beta rules and of the divergences share: the built-in divergences,
the grid of c = (g / b)^2, and each divergence without its closed forms."""

import numpy as np

import hyperreg_jax as hr
from hyperreg_jax import divergences

NAMES = tuple(divergences.BUILTIN)
PAIRS = [(name, alg) for name in NAMES for alg in (1, 2)]
C_GRID = np.logspace(-10, 12, 89)


def generic(name):
  """The same divergence without its closed forms: dD from jax.grad, generic solver."""
  return hr.Divergence(name + "_generic", D=divergences.BUILTIN[name].D)
