"""The initial learning rate as data: a vmapped grid compiles once and equals the runs one by
one; traced hyperparameters; a bad traced ILR gives NaN in its lane only; ILRs whose inverse
leaves the float range."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from alias_helpers import (
  ALIASES,
  alias_params,
  descend,
  get_beta,
  leaves_close,
  mixed,
  small_params,
)

import hyperreg_jax as hr


@pytest.mark.parametrize("name", alias_params(["rkl2", "hellinger1", "kl3", "wngrad"]))
@pytest.mark.slow
def test_vmapped_ilr_grid_equals_loop_and_compiles_once(name):
  alias = ALIASES[name]
  x0, _, loss = mixed()
  traces = []

  def run(init_lr):
    traces.append(None)  # runs at trace time only
    return descend(alias(init_lr), x0, loss, 10)

  lrs = jnp.array([0.03, 0.1, 0.3, 1.0], jnp.float32)
  grid_params, grid_state = jax.jit(jax.vmap(run))(lrs)
  run_jit = jax.jit(run)
  assert len(traces) == 1  # the vmapped grid
  for i in range(lrs.size):
    params, state = run_jit(lrs[i])
    lane = functools.partial(lambda i, x: x[i], i)
    leaves_close(jax.tree.map(lane, grid_params), params, rtol=1e-6, atol=1e-7)
    leaves_close(jax.tree.map(lane, get_beta(grid_state)), get_beta(state), rtol=1e-6, atol=0)
  assert len(traces) == 2  # plus one for every single run
  # The grid really differs across ILRs (beta_0 = 1 / init_lr).
  assert (
    len({float(jax.tree.leaves(get_beta(grid_state))[0][i].ravel()[0]) for i in range(lrs.size)})
    > 1
  )


def test_traced_init_lr_growth_and_warmup_lr_are_accepted():
  g = jnp.array([0.5, -3.0, 20.0])
  traces = []

  @jax.jit
  def step(init_lr, growth, warmup_lr):
    traces.append(None)  # runs at trace time only
    tx = hr.scale_by_hyperreg(
      init_lr, divergence="kl", algorithm=1, growth=growth, warmup_steps=1, warmup_lr=warmup_lr
    )
    state = tx.init(jnp.zeros(3))
    u0, state = tx.update(g, state)
    u1, state = tx.update(g, state)
    return u0, u1, state.beta

  u0, u1, beta = step(0.5, 1.5, 0.01)
  tx = hr.scale_by_hyperreg(
    0.5, divergence="kl", algorithm=1, growth=1.5, warmup_steps=1, warmup_lr=0.01
  )
  state = tx.init(jnp.zeros(3))
  e0, state = tx.update(g, state)
  e1, state = tx.update(g, state)
  np.testing.assert_allclose(u0, e0, rtol=1e-6)
  np.testing.assert_allclose(u1, e1, rtol=1e-6)
  np.testing.assert_allclose(beta, state.beta, rtol=1e-6)
  step(0.25, 3.0, 0.02)
  assert len(traces) == 1


@pytest.mark.parametrize("name", alias_params())
def test_a_bad_traced_init_lr_gives_nan_in_its_lane_only(name):
  """A negative, zero or NaN ILR in a vmapped grid gave huge finite steps (-4.25e37)."""
  params = small_params()
  grads = jax.tree.map(lambda p: 2.0 * p + 0.5, params)
  lrs = jnp.array([0.1, -0.1, 0.0, jnp.nan, jnp.inf, 0.3], jnp.float32)
  bad = np.array([False, True, True, True, True, False])

  def step(init_lr):
    opt = ALIASES[name](init_lr)
    return opt.update(grads, opt.init(params), params)

  updates, state = jax.jit(jax.vmap(step))(lrs)
  for leaf in (*jax.tree.leaves(updates), *jax.tree.leaves(get_beta(state))):
    leaf = np.asarray(leaf).reshape(lrs.size, -1)
    assert np.all(np.isnan(leaf[bad])) and np.all(np.isfinite(leaf[~bad]))
  for i in np.flatnonzero(~bad):  # the good lanes are the runs alone
    alone, _ = step(lrs[i])
    leaves_close(jax.tree.map(lambda u: u[i], updates), alone, rtol=1e-6, atol=0)  # noqa: B023


def test_a_bad_traced_init_lr_gives_nan_also_during_warmup():
  params = jnp.ones(3)

  def step(init_lr):
    opt = hr.rkl1(init_lr, warmup_steps=2, warmup_lr=0.1)
    return opt.update(jnp.ones(3), opt.init(params), params)

  updates, _ = jax.jit(jax.vmap(step))(jnp.array([0.1, -1.0]))
  assert np.all(np.isfinite(updates[0])) and np.all(np.isnan(updates[1]))


def test_a_traced_init_lr_never_gives_beta_zero_or_inf():
  init = jax.jit(lambda lr: hr.rkl1(lr).init({"w": jnp.ones(2)}))
  for init_lr in (1e38, 1e-45, 3e-39):
    beta = get_beta(init(jnp.float32(init_lr)))["w"]
    assert bool(jnp.all(jnp.isfinite(beta) & (beta > 0))), init_lr


@pytest.mark.parametrize("init_lr", [1e38, 1e-39, 1e-45])
def test_init_lr_whose_inverse_is_not_a_normal_float_raises_at_init(init_lr):
  opt = hr.rkl1(init_lr)
  with pytest.raises(ValueError, match=r"init_lr must give beta_0 = 1 / init_lr .* float32"):
    opt.init({"w": jnp.ones(2, jnp.bfloat16)})
  with jax.enable_x64(True):  # a wider beta holds it
    state = hr.rkl1(init_lr, beta_dtype=jnp.float64).init({"w": jnp.ones(2)})
    assert float(get_beta(state)["w"][0]) == pytest.approx(1.0 / init_lr)
