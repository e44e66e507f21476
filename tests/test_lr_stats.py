"""hr.step_size_stats, hr.inverse_beta_stats and hr.lr_stats: min, median, mean and max of the
step size learning_rate / beta and of 1 / beta in any optimizer state, exact and jit-able."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from alias_helpers import ALIASES, alias_params, get_beta, jitted_update, small_params

import hyperreg_jax as hr


@pytest.mark.parametrize("name", alias_params())
def test_beta_logging_and_lr_stats(name):
  opt = ALIASES[name](0.25)
  params = small_params()
  state = opt.init(params)
  stats = hr.lr_stats(state)
  assert set(stats) == {"lr_min", "lr_median", "lr_mean", "lr_max"}
  for value in stats.values():
    assert float(value) == pytest.approx(0.25)

  grads = jax.tree.map(lambda p: 3.0 * p, params)
  _, state = jitted_update(name)(grads, state, params)
  beta = get_beta(state)
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
  params = small_params()
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
  lr = 1.0 / np.concatenate([np.ravel(b) for b in jax.tree.leaves(get_beta(state))])
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


# === the step size, not only 1 / beta ==========================================================


def test_step_size_stats_include_the_learning_rate_schedule():
  """A schedule at 0 gives step size 0, while 1 / beta (lr_stats) still shows the ILR."""
  params = small_params()
  schedule = optax.linear_schedule(0.0, 2.0, transition_steps=4)  # 0, 0.5, 1, 1.5, 2, 2, ...
  opt = hr.rkl1(0.1, learning_rate=schedule)
  state = opt.init(params)
  stats = hr.step_size_stats(state, schedule)
  assert set(stats) == {"step_size_min", "step_size_median", "step_size_mean", "step_size_max"}
  assert all(float(v) == 0.0 for v in stats.values())
  assert float(hr.lr_stats(state)["lr_mean"]) == pytest.approx(0.1)  # 1 / beta, not the step
  assert float(hr.inverse_beta_stats(state)["inv_beta_mean"]) == pytest.approx(0.1)
  update = jax.jit(opt.update)
  grads = jax.tree.map(lambda p: 3.0 * p, params)
  for t in range(1, 6):
    updates, state = update(grads, state, params)
    beta = np.concatenate([np.ravel(b) for b in jax.tree.leaves(get_beta(state))]).astype(
      np.float64
    )
    rate = float(schedule(t))  # what the next update multiplies 1 / beta by
    stats = jax.jit(hr.step_size_stats, static_argnums=1)(state, schedule)
    np.testing.assert_allclose(
      [float(stats[k]) for k in ("step_size_min", "step_size_median", "step_size_mean")],
      [rate * (1 / beta).min(), rate * np.median(1 / beta), rate * (1 / beta).mean()],
      rtol=1e-6,
    )
    inverse = hr.inverse_beta_stats(state, median=False)
    assert list(inverse) == ["inv_beta_min", "inv_beta_mean", "inv_beta_max"]
    assert float(stats["step_size_max"]) == pytest.approx(rate * float(inverse["inv_beta_max"]))
  # The update that follows (count 5) steps by exactly those sizes for a lagged rule.
  lagged = hr.rkl3(0.1, learning_rate=schedule, weight_decay=0.0)
  state = lagged.init(params)
  for _ in range(3):
    _, state = lagged.update(grads, state, params)
  sizes = hr.step_size_stats(state, schedule)
  updates, _ = lagged.update(grads, state, params)
  ratio = np.concatenate(
    [np.ravel(-u / g) for u, g in zip(*map(jax.tree.leaves, (updates, grads)))]
  )
  np.testing.assert_allclose(ratio.max(), float(sizes["step_size_max"]), rtol=1e-6)
  np.testing.assert_allclose(ratio.min(), float(sizes["step_size_min"]), rtol=1e-6)


def test_step_size_stats_with_a_constant_learning_rate_and_through_wrappers():
  params = small_params()
  opt = optax.MultiSteps(hr.kl2(0.2, learning_rate=0.5), every_k_schedule=2)
  state = opt.init(params)
  stats = hr.step_size_stats(state, 0.5)
  assert float(stats["step_size_mean"]) == pytest.approx(0.1)
  assert float(hr.step_size_stats(state, 0.0)["step_size_max"]) == 0.0
  assert hr.step_size_stats(optax.sgd(0.1).init(params), 0.1) == {}
  with pytest.raises(ValueError, match=r"learning_rate must be a number >= 0 or an optax schedule"):
    hr.step_size_stats(state, "0.1")
