"""Test configuration: property tests are reproducible on CI."""

import os

import pytest
from hypothesis import settings

# On CI (CI=true) hypothesis draws the same examples every run, so a red build always
# reproduces; locally it explores new examples each run.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

# Scripts run in subprocesses by the tests, not modules to import (--doctest-modules).
collect_ignore_glob = ["helpers/*"]


@pytest.fixture(scope="module")
def regression_sweep():
  """rkl1, kl3 and sgd x 3 ILRs x 2 seeds on a small linear regression, 3 epochs."""
  import hyperreg_jax as hr
  from hyperreg_jax import data, models

  regression = data.synthetic_linear_regression(num_train=96, num_test=32, dim=3, seed=1)
  return hr.sweep(
    models.LinearRegression(),
    regression,
    ["rkl1", "kl3", "sgd"],
    [1e-2, 1e-1, 1.0],
    seeds=[0, 3],
    epochs=3,
    batch_size=16,
    progress=False,
  )
