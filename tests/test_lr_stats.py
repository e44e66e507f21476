"""hr.lr_stats: min, median, mean and max of 1 / beta in any optimizer state, exact and jit-able."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from test_transform import ALIASES, NAMES, _beta, _small_params, _update

import hyperreg_jax as hr


@pytest.mark.parametrize("name", NAMES)
def test_beta_logging_and_lr_stats(name):
  opt = ALIASES[name](0.25)
  params = _small_params()
  state = opt.init(params)
  stats = hr.lr_stats(state)
  assert set(stats) == {"lr_min", "lr_median", "lr_mean", "lr_max"}
  for value in stats.values():
    assert float(value) == pytest.approx(0.25)

  grads = jax.tree.map(lambda p: 3.0 * p, params)
  _, state = _update(name)(grads, state, params)
  beta = _beta(state)
  if name == "wngrad":
    assert jnp.shape(beta) == ()
  else:
    assert jax.tree.map(jnp.shape, beta) == jax.tree.map(jnp.shape, params)
  lr = 1.0 / np.concatenate([np.ravel(np.asarray(b, np.float64)) for b in jax.tree.leaves(beta)])
  stats = hr.lr_stats(state)
  np.testing.assert_allclose(
    [float(stats[k]) for k in ("lr_min", "lr_median", "lr_mean", "lr_max")],
    [lr.min(), np.median(lr), lr.mean(), lr.max()],
    rtol=1e-6,
  )
  assert float(stats["lr_max"]) <= 0.25  # the learning rate never increases
  cheap = hr.lr_stats(state, median=False)
  assert list(cheap) == ["lr_min", "lr_mean", "lr_max"]
  assert all(float(cheap[k]) == float(stats[k]) for k in cheap)
  # Found through wrappers too, and jit-able for logging inside a train step.
  wrapped = optax.apply_if_finite(optax.MultiSteps(opt, 2).gradient_transformation(), 2)
  jitted = jax.jit(hr.lr_stats)(wrapped.init(params))
  assert float(jitted["lr_mean"]) == pytest.approx(0.25)


def test_lr_stats_of_a_foreign_optimizer_is_empty():
  params = _small_params()
  assert hr.lr_stats(optax.sgd(0.1).init(params)) == {}
  assert hr.lr_stats(optax.adam(0.1).init(params)) == {}


@pytest.mark.slow
def test_lr_median_is_exact_and_sees_weights_without_gradient():
  """The median, not the mean, shows that most weights here still sit at the ILR."""
  params = {"w": jnp.ones((7, 3)), "b": jnp.ones(4)}  # 25 entries
  opt = hr.rkl1(0.5, weight_decay=0.0)
  grads = {"w": jnp.zeros((7, 3)).at[:2].set(jnp.arange(6.0).reshape(2, 3) + 1), "b": jnp.ones(4)}
  _, state = opt.update(grads, opt.init(params), params)
  stats = hr.lr_stats(state)
  lr = 1.0 / np.concatenate([np.ravel(b) for b in jax.tree.leaves(_beta(state))])
  assert float(stats["lr_median"]) == pytest.approx(np.median(lr), rel=1e-7)
  assert float(stats["lr_median"]) == pytest.approx(0.5) and float(stats["lr_mean"]) < 0.45
  # An even count: the mean of the two middle entries; float64 beta too.
  with jax.enable_x64(True):
    rng = np.random.default_rng(3)
    beta = {"a": jnp.asarray(10 ** rng.uniform(-3, 3, (6, 5))), "b": jnp.asarray([1e-300, 1e300])}
    state = hr.HyperRegState(count=jnp.zeros([], jnp.int32), beta=beta)
    lr = 1.0 / np.concatenate([np.ravel(b) for b in beta.values()])
    stats = jax.jit(hr.lr_stats)(state)
    assert stats["lr_median"].dtype == jnp.float64
    assert float(stats["lr_median"]) == pytest.approx(np.median(lr), rel=1e-15)


@pytest.mark.parametrize("size", [4095, 4096, 4097, 9000, 9001])
def test_lr_median_is_exact_sorted_or_selected(size):
  """Up to 4096 entries the median comes from a sort, above from radix selection."""
  rng = np.random.default_rng(size)
  beta = {"a": jnp.asarray(10 ** rng.uniform(-3, 3, size - 7), jnp.float32), "b": jnp.ones(7)}
  state = hr.HyperRegState(count=jnp.zeros([], jnp.int32), beta=beta)
  lr = 1.0 / np.concatenate([np.ravel(b) for b in beta.values()]).astype(np.float64)
  stats = jax.jit(hr.lr_stats)(state)
  assert float(stats["lr_median"]) == pytest.approx(np.median(lr), rel=1e-6)
