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

# Doctests that run whole sweeps, or eager optimizer steps of each alias (the reverse-KL
# aliases' doctests stay in the fast loop): in the full suite only. Tests are marked slow where
# they are written (@pytest.mark.slow; the aliases beyond the fast loop's one by
# alias_helpers.alias_params); doctests cannot be, so they are listed here by file or function.
SLOW_DOCTESTS = (
  "hyperreg_jax/_sweep.py",
  *(
    f"hyperreg_jax/_aliases.py::hyperreg_jax._aliases.{name}"
    for name in ("kl1", "kl2", "kl3", "hellinger1", "hellinger2", "hellinger3")
    + ("chi2_1", "chi2_2", "chi2_3", "adagrad_diag", "wngrad")
  ),
)


def pytest_collection_modifyitems(items):
  """Marks ``slow`` the doctests of :data:`SLOW_DOCTESTS`."""
  for item in items:
    if item.nodeid.startswith(SLOW_DOCTESTS):
      item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
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


# The training tests' data, one copy per test module as before.
@pytest.fixture(scope="module")
def mnist():
  """The embedded MNIST subset."""
  from hyperreg_jax.data import load_mnist

  return load_mnist()


@pytest.fixture(scope="module")
def small(mnist):
  """256 training and 100 test digits."""
  return mnist.x_train[:256], mnist.y_train[:256], mnist.x_test[:100], mnist.y_test[:100]


@pytest.fixture(scope="module")
def linreg():
  """A small synthetic linear regression: 256 training and 64 test points in 3 dimensions."""
  from hyperreg_jax.data import synthetic_linear_regression

  return synthetic_linear_regression(num_train=256, num_test=64, dim=3, seed=0)
