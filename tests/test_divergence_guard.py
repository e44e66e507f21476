"""The training step's divergence guard: a step that would make the loss, the parameters or
the optimizer state non-finite is refused, recorded, and leaves the other lanes of a vmapped
sweep bit-identical."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from train_helpers import SWEEP_AXES, assert_trees_equal, sgd

from hyperreg_jax import train
from hyperreg_jax.models import MLP, LinearRegression
from hyperreg_jax.train import Trainer

# ------------------------------------------------------------------------ divergence guard


def unguarded_linreg(ilr, x, y, params, steps):
  """Plain full-batch SGD without the guard: the per-step losses and parameter trees."""

  def loss_fn(p):
    return 0.5 * jnp.mean((LinearRegression().apply({"params": p}, x) - y) ** 2)

  losses, finite_after = [], []
  for _ in range(steps):
    loss, grads = jax.value_and_grad(loss_fn)(params)
    params = jax.tree.map(lambda p, g: p - ilr * g, params, grads)
    losses.append(float(loss))
    finite_after.append(all(bool(jnp.all(jnp.isfinite(p))) for p in jax.tree.leaves(params)))
  return np.array(losses), np.array(finite_after)


def test_all_finite_finds_every_nan_and_infinity():
  """The guard's check, jitted, against NumPy: one bad entry anywhere in any float leaf."""
  from hyperreg_jax.train._model import all_finite

  check = jax.jit(all_finite)
  rng = np.random.default_rng(0)
  dtypes = (jnp.float32, jnp.bfloat16, jnp.float16, jnp.complex64)
  for shape in ((784, 500), (3, 33, 5), (1,), (0,)):
    for dtype in dtypes:
      base = (rng.standard_normal(shape) * 1e4).astype(np.float32)  # large but finite
      tree = {"w": jnp.asarray(base, dtype), "n": jnp.arange(3), "b": jnp.ones(2, dtype)}
      assert bool(check(tree))
      if not base.size:
        continue
      for bad in (np.nan, np.inf, -np.inf):
        values = base.ravel().copy()
        values[rng.integers(values.size)] = bad
        tree["w"] = jnp.asarray(values.reshape(shape), dtype)
        assert not bool(check(tree)), (shape, dtype, bad)
  huge = {"w": jnp.full((1000,), jnp.finfo(jnp.float32).max)}  # its sum would overflow
  assert bool(check(huge))
  assert bool(check({"i": jnp.array([2**31 - 1])}))  # integer leaves are ignored


def test_divergence_guard_freezes_and_records_step(linreg):
  x, y = jnp.asarray(linreg.x_train), jnp.asarray(linreg.y_train)
  steps, ilr = 40, 1e3
  trainer = Trainer(LinearRegression(), sgd, loss="mse", batch_size=None, full_batch_steps=steps)
  state0 = train.init_state(trainer, jax.random.key(0), ilr, x[:1])
  state, m = jax.jit(functools.partial(train.train_epoch, trainer))(
    state0, ilr, jax.random.key(0), x, y
  )

  losses, finite_after = unguarded_linreg(ilr, x, y, state0.params, steps)
  first_bad_loss = int(np.argmax(~np.isfinite(losses)))
  first_bad = int(np.argmax(~np.isfinite(losses) | ~finite_after))
  assert 0 < first_bad_loss < steps and first_bad == first_bad_loss
  assert bool(state.diverged) and int(state.diverged_at) == first_bad_loss
  assert int(state.step) == steps
  # Frozen at the last finite point: the parameters before the refused step.
  assert all(bool(jnp.all(jnp.isfinite(p))) for p in jax.tree.leaves(state.params))
  np.testing.assert_array_equal(np.isnan(m["loss"]), np.arange(steps) >= first_bad_loss)
  np.testing.assert_allclose(m["loss"][:first_bad_loss], losses[:first_bad_loss], rtol=1e-4)
  # Once diverged, further steps are no-ops.
  again, m2 = jax.jit(functools.partial(train.train_epoch, trainer))(
    state, ilr, jax.random.key(0), x, y
  )
  assert_trees_equal((again.params, again.opt_state), (state.params, state.opt_state))
  assert int(again.diverged_at) == first_bad_loss and bool(np.all(np.isnan(m2["loss"])))
  # (The frozen parameters are finite, but their loss is the one that overflowed.)
  assert set(train.evaluate(trainer, state, x, y)) == {"loss"}


@pytest.mark.slow
def test_divergence_guard_refuses_non_finite_update(small):
  """MLP + absurd SGD step: the update overflows before the loss does; the step that
  would have written infinities into the parameters is the one recorded."""
  x, y, _, _ = small
  trainer = Trainer(MLP(hidden=16), sgd, batch_size=None, full_batch_steps=12)
  state0 = train.init_state(trainer, jax.random.key(0), 1e38, x[:1])
  state, m = jax.jit(functools.partial(train.train_epoch, trainer))(
    state0, 1e38, jax.random.key(0), x, y
  )
  assert bool(state.diverged)
  t = int(state.diverged_at)
  # Re-run the steps before t unguarded: all finite; step t writes non-finite params.
  params, tx = state0.params, optax.sgd(1e38)
  opt_state = tx.init(params)

  def loss_fn(p):
    logits = MLP(hidden=16).apply({"params": p}, x)
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

  @jax.jit
  def unguarded_step(params, opt_state):
    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return loss, optax.apply_updates(params, updates), opt_state

  for s in range(t + 1):
    loss, new, opt_state = unguarded_step(params, opt_state)
    finite = np.isfinite(float(loss)) and all(
      bool(jnp.all(jnp.isfinite(p))) for p in jax.tree.leaves(new)
    )
    assert finite == (s < t), s
    if s < t:
      params = new
  assert_trees_equal(state.params, params)
  np.testing.assert_array_equal(np.isnan(m["loss"]), np.arange(12) >= t)


@pytest.mark.slow
def test_exploding_lane_leaves_other_lanes_bit_identical(small):
  """optax.sgd, 3 ILRs vmapped, one of them absurd: vmapped == looped, bit for bit (CPU)."""
  x, y, xt, yt = small
  trainer = Trainer(LinearRegression(), sgd, loss="mse", batch_size=32, epochs=2)
  xr, yr = x.reshape(256, -1)[:, :20], (y % 3).astype(np.float32)
  keys = jax.random.split(jax.random.key(7), 3)
  sweep = jax.jit(jax.vmap(functools.partial(train.run, trainer), in_axes=SWEEP_AXES))
  args = (xr, yr, xr[:50], yr[:50])
  bad_states, bad_hist = sweep(jnp.array([0.01, 1e18, 0.02]), keys, *args)
  good_states, good_hist = sweep(jnp.array([0.01, 0.015, 0.02]), keys, *args)
  np.testing.assert_array_equal(bad_states.diverged, [False, True, False])
  np.testing.assert_array_equal(good_states.diverged, [False, False, False])
  assert int(bad_states.diverged_at[1]) >= 0
  assert np.isnan(bad_hist["test_loss"][1, -1]) and np.isnan(bad_hist["train_loss"][1, -1])
  assert "lr_min" not in bad_hist and "step_lr_mean" not in bad_hist  # sgd: no beta
  solo_run = jax.jit(functools.partial(train.run, trainer))
  for i, ilr in enumerate([0.01, 1e18, 0.02]):
    lane = jax.tree.map(lambda a: a[i], (bad_states, bad_hist))  # noqa: B023
    if i != 1:
      assert_trees_equal(lane, jax.tree.map(lambda a: a[i], (good_states, good_hist)))  # noqa: B023
    # ... and each lane equals its run on its own.
    assert_trees_equal(lane, solo_run(jnp.float32(ilr), keys[i], *args))
