"""What the sweep tests share: a small linear regression and the ILRs of the session's
``regression_sweep`` fixture (tests/conftest.py)."""

import numpy as np

from hyperreg_jax import data

REGRESSION = data.synthetic_linear_regression(num_train=96, num_test=32, dim=3, seed=1)
ILRS = np.array([1e-2, 1e-1, 1.0])


def regression_arrays():
  return REGRESSION.x_train, REGRESSION.y_train, REGRESSION.x_test, REGRESSION.y_test
