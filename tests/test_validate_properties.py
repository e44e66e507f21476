"""Bad arguments, property tests (hypothesis) over the arguments of ``hr.sweep``,
``hr.hyperreg`` and the data loaders: every generated input either runs or raises
``ValueError``/``TypeError`` whose message names a bad argument (hand-written cases:
test_validate.py).
"""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hyperreg_jax as hr
from hyperreg_jax import data, models

REGRESSION = data.synthetic_linear_regression(num_train=16, num_test=8, dim=2, seed=2)


# ----------------------------------------------------------------------------- properties
#
# Each property draws which arguments to break (none, one or two), then a value for every
# argument from its "allowed" or its "not allowed" strategy: inputs without a broken
# argument must run, the others must raise ValueError/TypeError naming a broken one.

BAD_NUMBER = st.one_of(
  st.floats(max_value=0.0),
  st.sampled_from([math.nan, math.inf, -math.inf, None, "abc", [1.0]]),
)


def _with_bad(good_list, bad_element):
  """A list of allowed values with one value that is not allowed, somewhere in it."""
  return st.builds(
    lambda good, bad, where: good[:where] + [bad] + good[where:],
    good_list,
    bad_element,
    st.integers(0, 2),
  )


def _draw(draw, allowed: dict, not_allowed: dict):
  broken = draw(st.sets(st.sampled_from(sorted(allowed)), max_size=2))
  values = {name: draw(not_allowed[name] if name in broken else allowed[name]) for name in allowed}
  return values, broken


def _runs_or_names(call, broken):
  if not broken:
    return call()
  with pytest.raises((ValueError, TypeError)) as err:
    call()
  assert any(name in str(err.value) for name in broken), (broken, str(err.value))
  return None


SEEDS_OK = st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=2)
ILRS_OK = st.lists(st.floats(1e-3, 10.0), min_size=1, max_size=3)
SWEEP_ALLOWED = {
  "seeds": SEEDS_OK,
  "ilrs": ILRS_OK,
  "weight_decay": st.sampled_from([0, 0.0, 1e-4, 1e-3]),
  "epochs": st.sampled_from([1, 2]),
  "batch_size": st.sampled_from([None, 8, 16]),
  "max_parallel": st.one_of(st.none(), st.integers(1, 3)),
  "variants": st.sampled_from([["sgd"], ["rkl1"], ["sgd", "rkl1"], "kl2"]),
}
SWEEP_NOT_ALLOWED = {
  "seeds": st.one_of(
    st.just([]),
    _with_bad(
      st.lists(st.integers(0, 9), max_size=1),
      st.one_of(
        st.integers(max_value=-1),
        st.integers(min_value=2**32),
        st.floats(),
        st.sampled_from([None, "0", True]),
      ),
    ),
  ),
  "ilrs": st.one_of(
    st.sampled_from([[], [[0.1, 1.0]], "abc"]),
    _with_bad(st.lists(st.floats(1e-3, 1.0)), BAD_NUMBER),
  ),
  "weight_decay": st.one_of(
    st.floats(max_value=-1e-12), st.sampled_from([math.nan, math.inf, "1e-4", None, True])
  ),
  "epochs": st.sampled_from([0, -1, 1.0, "1", None]),
  "batch_size": st.sampled_from([0, -3, 2.5, 100, "8"]),
  "max_parallel": st.sampled_from([0, -1, 1.5, "2", True]),
  "variants": st.sampled_from([["bogus"], [], ["sgd", "sgd"], [3], "nonsense"]),
}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
@pytest.mark.slow
def test_property_sweep_runs_or_names_a_bad_argument(data_strategy):
  kw, broken = _draw(data_strategy.draw, SWEEP_ALLOWED, SWEEP_NOT_ALLOWED)
  variants, ilrs = kw.pop("variants"), kw.pop("ilrs")
  call = functools.partial(
    hr.sweep, models.LinearRegression(), REGRESSION, variants, ilrs, progress=False, **kw
  )
  result = _runs_or_names(call, {"variant" if b == "variants" else b for b in broken})
  if result is not None:
    assert result.final("train_loss").shape[1:] == (len(ilrs), len(kw["seeds"]))
    assert np.isfinite(result.final("train_loss")).all()


HYPERREG_ALLOWED = {
  "init_lr": st.one_of(st.floats(1e-6, 1e3), st.integers(1, 3)),
  "divergence": st.sampled_from(["kl", "rkl", "hellinger", "chi2", "neyman_chi2"]),
  "algorithm": st.sampled_from([1, 2, 3]),
  "growth": st.one_of(st.none(), st.floats(1.0, 1e6), st.integers(1, 3)),
  "warmup_steps": st.sampled_from([0, 2]),
  "granularity": st.sampled_from(["coordinate", "tensor", "global"]),
}
HYPERREG_NOT_ALLOWED = {
  "init_lr": BAD_NUMBER,
  "divergence": st.sampled_from(["bogus", 3, None, ""]),
  "algorithm": st.sampled_from([0, 4, "1", None, -1]),
  "growth": st.one_of(st.floats(max_value=0.999), st.sampled_from([math.nan, -math.inf, -1])),
  "warmup_steps": st.sampled_from([-1, 1.5, None, "2"]),
  "granularity": st.sampled_from(["other", None, 1]),
}


@settings(max_examples=80, deadline=None)
@given(st.data())
@pytest.mark.slow
def test_property_hyperreg_runs_or_names_a_bad_argument(data_strategy):
  kw, broken = _draw(data_strategy.draw, HYPERREG_ALLOWED, HYPERREG_NOT_ALLOWED)
  if kw["warmup_steps"] == 2:
    kw["warmup_lr"] = 0.01
  opt = _runs_or_names(functools.partial(hr.hyperreg, **kw), broken)
  if opt is None:
    return
  params = {"w": jnp.array([1.0, -2.0, 0.5])}
  state = opt.init(params)
  for _ in range(3):
    updates, state = opt.update(jax.tree.map(jnp.sin, params), state, params)
    params = optax.apply_updates(params, updates)
  assert all(np.isfinite(leaf).all() for leaf in jax.tree.leaves((params, state)))


LOADER_ALLOWED = {
  "source": st.just("embedded"),
  "data_dir": st.just(None),
  "max_train": st.one_of(st.none(), st.integers(1, 5000)),
  "max_test": st.one_of(st.none(), st.integers(1, 2000)),
}
LOADER_NOT_ALLOWED = {
  "source": st.sampled_from(["bogus", None, 3, "synthetic"]),
  "data_dir": st.sampled_from(["missing", "file", 3]),
  "max_train": st.one_of(st.integers(max_value=0), st.sampled_from([1.5, "10", True])),
  "max_test": st.one_of(st.integers(max_value=0), st.sampled_from([0.5, False, "1"])),
}


@settings(
  max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_property_mnist_loader_loads_or_names_a_bad_argument(tmp_path, data_strategy):
  kw, broken = _draw(data_strategy.draw, LOADER_ALLOWED, LOADER_NOT_ALLOWED)
  (tmp_path / "file").write_text("x")
  if kw["data_dir"] in ("missing", "file"):
    kw["data_dir"] = str(tmp_path / kw["data_dir"])
  call = functools.partial(data.load_mnist, kw.pop("source"), kw.pop("data_dir"), **kw)
  try:
    ds = _runs_or_names(call, broken)
  except (FileNotFoundError, NotADirectoryError) as err:  # a missing or wrong data_dir
    assert "data_dir" in broken and "data_dir" in str(err)
    return
  if ds is not None:
    assert ds.num_train == min(kw["max_train"] or 4000, 4000)
    assert ds.num_test == min(kw["max_test"] or 1000, 1000)


SYNTHETIC_ALLOWED = {
  "num_train": st.integers(1, 50),
  "num_test": st.integers(1, 20),
  "dim": st.integers(1, 4),
  "noise": st.one_of(st.floats(0.0, 10.0), st.integers(0, 2)),
  "seed": st.integers(0, 2**40),
}
SYNTHETIC_NOT_ALLOWED = {
  "num_train": st.one_of(st.integers(max_value=0), st.sampled_from([None, "1", True, 1.5])),
  "num_test": st.one_of(st.integers(max_value=0), st.sampled_from([None, "2", False, 2.0])),
  "dim": st.sampled_from([0, -1, 2.0, None]),
  "noise": st.one_of(
    st.floats(max_value=-1e-9), st.sampled_from([math.nan, math.inf, "0.1", None])
  ),
  "seed": st.one_of(st.integers(max_value=-1), st.sampled_from([1.5, "0", None, True])),
}


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_property_synthetic_regression_builds_or_names_a_bad_argument(data_strategy):
  kw, broken = _draw(data_strategy.draw, SYNTHETIC_ALLOWED, SYNTHETIC_NOT_ALLOWED)
  ds = _runs_or_names(functools.partial(data.synthetic_linear_regression, **kw), broken)
  if ds is not None:
    assert ds.x_train.shape == (kw["num_train"], kw["dim"]) and np.isfinite(ds.y_train).all()
