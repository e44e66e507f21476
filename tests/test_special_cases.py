"""The special cases the optimizers page (docs/optimizers.md) lists, checked numerically:
``adagrad_diag`` is ``optax.adagrad`` and ``wngrad`` is WNGrad (Wu, Ward, Bottou, 2018)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from alias_helpers import (
  SMALL_SHAPES,
  get_beta,
  leaves_close,
  random_grads,
  small_params,
  trajectory,
)

import hyperreg_jax as hr


@pytest.mark.parametrize("x64", [False, True], ids=["float32", "float64"])
def test_adagrad_diag_equals_optax_adagrad(x64):
  init_lr = 0.3
  with jax.enable_x64(x64):
    dtype = jnp.float64 if x64 else jnp.float32
    params = small_params(dtype)
    grads = random_grads(50, SMALL_SHAPES, seed=4, dtype=np.float64 if x64 else np.float32)
    ours, betas = trajectory(hr.adagrad_diag(init_lr, weight_decay=0.0), params, grads)
    reference = optax.adagrad(1.0, initial_accumulator_value=1.0 / init_lr**2, eps=0.0)
    expected, _ = trajectory(reference, params, grads)
    assert all(u.dtype == dtype for u in jax.tree.leaves(ours))
    rtol = 1e-12 if x64 else 1e-5
    leaves_close(ours, expected, rtol=rtol, atol=0)
    # beta_t^2 = beta_0^2 + sum_s g_s^2
    acc = jax.tree.map(
      lambda g: np.sqrt(1.0 / init_lr**2 + np.cumsum(np.asarray(g, np.float64) ** 2, axis=0)), grads
    )
    leaves_close(betas, acc, rtol=rtol, atol=0)


@pytest.mark.parametrize("x64", [False, True], ids=["float32", "float64"])
@pytest.mark.slow
def test_wngrad_equals_numpy_wngrad(x64):
  init_lr, steps = 0.05, 100
  rng = np.random.default_rng(5)
  curvature = {k: 10.0 ** rng.uniform(-1, 1, size=s) for k, s in SMALL_SHAPES.items()}
  target = {k: rng.normal(size=s) for k, s in SMALL_SHAPES.items()}
  x0 = {k: rng.normal(size=s) for k, s in SMALL_SHAPES.items()}

  def np_grad(x):
    return {k: curvature[k] * (x[k] - target[k]) for k in x}

  # WNGrad (Wu, Ward, Bottou 2018), one scalar b.
  b, x = 1.0 / init_lr, dict(x0)
  np_betas, np_params = [], []
  for _ in range(steps):
    g = np_grad(x)
    b = b + sum(np.sum(v**2) for v in g.values()) / b
    x = {k: x[k] - g[k] / b for k in x}
    np_betas.append(b)
    np_params.append(x)

  with jax.enable_x64(x64):
    dtype = jnp.float64 if x64 else jnp.float32
    opt = hr.wngrad(init_lr, weight_decay=0.0)
    cur = {k: jnp.asarray(v, dtype) for k, v in curvature.items()}
    tgt = {k: jnp.asarray(v, dtype) for k, v in target.items()}
    loss = lambda p: sum(0.5 * jnp.sum(cur[k] * (p[k] - tgt[k]) ** 2) for k in p)

    def body(carry, _):
      p, s = carry
      u, s = opt.update(jax.grad(loss)(p), s, p)
      p = optax.apply_updates(p, u)
      return (p, s), (p, get_beta(s))

    params = {k: jnp.asarray(v, dtype) for k, v in x0.items()}
    _, (params_t, betas) = jax.jit(lambda p: jax.lax.scan(body, (p, opt.init(p)), length=steps))(
      params
    )

  rtol = 1e-11 if x64 else 2e-5
  np.testing.assert_allclose(np.asarray(betas), np.array(np_betas), rtol=rtol)
  for k in SMALL_SHAPES:
    np.testing.assert_allclose(
      np.asarray(params_t[k]), np.stack([p[k] for p in np_params]), rtol=rtol, atol=rtol * 10
    )
