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

# The suites run on every named optimizer run on this one in the fast loop
# (pytest -m "not slow"); the full suite runs them on all fourteen.
FAST_ALIASES = {"rkl2"}
# Doctests that run whole sweeps: in the full suite only.
SLOW_DOCTESTS = ("hyperreg_jax/_sweep.py",)
ALIAS_NAMES = {
  *(f"{d}{a}" for d in ("kl", "rkl", "hellinger") for a in (1, 2, 3)),
  *(f"chi2_{a}" for a in (1, 2, 3)),
  "adagrad_diag",
  "wngrad",
}


def pytest_collection_modifyitems(items):
  """Marks ``slow`` the cases of a test parametrized over the optimizers' names beyond
  :data:`FAST_ALIASES` and their doctests (every such test still runs in the fast loop, on a
  few optimizers), and the doctests of :data:`SLOW_DOCTESTS`."""
  for item in items:
    params = getattr(getattr(item, "callspec", None), "params", {})
    alias = params.get("name", item.name.rpartition(".")[2])  # a test's case, or a doctest
    if alias in ALIAS_NAMES - FAST_ALIASES or item.nodeid.startswith(SLOW_DOCTESTS):
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
