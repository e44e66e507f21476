"""The Flax MLP + training engine against the independent NumPy reference.

Same weights -> same loss and gradients (float64 and float32), and the same 20-step
trajectory of hyper-regularized rules (``hr.rkl1``, ``hr.kl2``, weight decay 1e-4) as
``HyperRegNumpy`` + the manual-backprop MLP. float64 runs inside the scoped
``jax.enable_x64(True)`` context, so other tests keep JAX's float32 default.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import hyperreg_jax as hr
from hyperreg_jax import train
from hyperreg_jax.data import load_mnist
from hyperreg_jax.models import MLP
from hyperreg_jax.reference import numpy_mlp
from hyperreg_jax.reference.optimizers import HyperRegNumpy
from hyperreg_jax.train import Trainer, TrainState

BATCH, STEPS = 32, 20


@pytest.fixture(scope="module")
def batches():
  ds = load_mnist()
  n = BATCH * STEPS
  return ds.x_train[:n].reshape(STEPS, BATCH, -1), ds.y_train[:n].reshape(STEPS, BATCH)


def jax_loss_and_grads(params, x, y):
  def loss_fn(p):
    logits = MLP().apply({"params": p}, x)
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

  return jax.jit(jax.value_and_grad(loss_fn))(params)


def assert_tree_close(actual, desired, rtol):
  """Leafwise ``|a - d| <= rtol * max|d|`` (relative to each leaf's scale)."""

  def check(a, d):
    a, d = np.asarray(a, np.float64), np.asarray(d, np.float64)
    np.testing.assert_allclose(a, d, rtol=0, atol=rtol * np.max(np.abs(d)))

  jax.tree.map(check, actual, desired)


@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-10), (np.float32, 1e-5)])
@pytest.mark.slow
def test_same_loss_and_gradients(batches, dtype, rtol):
  x, y = batches[0][0].astype(dtype), batches[1][0]
  params = numpy_mlp.init_mlp_params(seed=0, dtype=dtype)
  ref_loss, ref_grads = numpy_mlp.loss_and_grads(params, x, y)
  with jax.enable_x64(dtype == np.float64):
    loss, grads = jax_loss_and_grads(jax.tree.map(jnp.asarray, params), jnp.asarray(x), y)
    assert jax.tree.leaves(grads)[0].dtype == dtype
    logits = MLP().apply({"params": params}, x)
  np.testing.assert_allclose(float(loss), ref_loss, rtol=rtol)
  assert_tree_close(grads, ref_grads, rtol)
  assert_tree_close(logits, numpy_mlp.forward(params, x), rtol)


@pytest.mark.parametrize("alias,divergence,algorithm", [("rkl1", "rkl", 1), ("kl2", "kl", 2)])
@pytest.mark.slow
def test_same_hyperreg_trajectory(batches, alias, divergence, algorithm):
  """20 steps, fixed batches of 32, ILR 1, weight decay 1e-4, float64 on both sides."""
  xs, ys = batches
  ilr, wd = 1.0, 1e-4
  params = numpy_mlp.init_mlp_params(seed=1, dtype=np.float64)

  ref = HyperRegNumpy(divergence, algorithm, init_lr=ilr, weight_decay=wd)
  ref_params, ref_state = params, ref.init(params)
  for x, y in zip(xs, ys):
    _, grads = numpy_mlp.loss_and_grads(ref_params, x.astype(np.float64), y)
    ref_params, ref_state = ref.step(ref_params, grads, ref_state)

  make_tx = lambda lr: getattr(hr, alias)(lr, weight_decay=wd)
  trainer = Trainer(MLP(), make_tx, batch_size=BATCH, step_lr_stats=True)
  with jax.enable_x64(True):
    p = jax.tree.map(jnp.asarray, params)
    state = TrainState(p, {}, make_tx(ilr).init(p), jnp.int32(0), jnp.bool_(False), jnp.int32(-1))
    step = jax.jit(train.train_step, static_argnums=0)
    for x, y in zip(xs, ys):
      state, metrics = step(trainer, state, ilr, (jnp.asarray(x, jnp.float64), y))
    assert jax.tree.leaves(state.params)[0].dtype == jnp.float64
    stats = {k: float(v) for k, v in metrics.items()}

  assert not bool(state.diverged) and int(state.step) == STEPS
  moved = max(
    float(np.max(np.abs(a - b)))
    for a, b in zip(jax.tree.leaves(ref_params), jax.tree.leaves(params))
  )
  assert moved > 1e-2  # the runs went somewhere
  assert_tree_close(state.params, ref_params, 1e-8)
  lr = [1.0 / b for b in jax.tree.leaves(ref_state.beta)]
  assert stats["lr_min"] == pytest.approx(min(float(v.min()) for v in lr), rel=1e-5)
  assert stats["lr_max"] == pytest.approx(max(float(v.max()) for v in lr), rel=1e-5)
  assert stats["lr_min"] < 0.9 * ilr  # beta adapted
