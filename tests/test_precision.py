"""beta in low precision and edge inputs: bf16/f16 params with a float32 beta, ``beta_dtype``,
zero-size leaves, gradients near the float maximum."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from alias_helpers import (
  ALIASES,
  alias_params,
  get_beta,
  leaves_close,
  trajectory,
)

import hyperreg_jax as hr


def _constant_gradient_betas(dtype, steps, g, init_lr, name="rkl1", **kwargs):
  """beta after each of ``steps`` steps of the constant gradient ``g`` (params in ``dtype``)."""
  opt = ALIASES[name](init_lr, weight_decay=0.0, **kwargs)
  params = jnp.zeros(2, dtype)
  grads = jnp.full((steps, 2), g, dtype)
  updates, betas = trajectory(opt, params, grads)
  assert updates.dtype == dtype  # updates keep the params' dtype
  return np.asarray(betas, np.float64).reshape(steps, -1)[:, 0]


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
@pytest.mark.parametrize(
  "name", alias_params(["rkl1", "kl2", "hellinger3", "chi2_1", "adagrad_diag", "wngrad"])
)
@pytest.mark.slow
def test_low_precision_beta_follows_the_float32_run(name, dtype):
  g = float(jnp.asarray(0.03, dtype))  # the same gradient, exactly, in both runs
  low = _constant_gradient_betas(jnp.dtype(dtype), 200, g, 1.0, name)
  single = _constant_gradient_betas(jnp.float32, 200, g, 1.0, name)
  np.testing.assert_allclose(low, single, rtol=1e-6)
  assert low[-1] > 1.001  # beta really grows (bf16 storage would hold it at 1.0)


def test_bfloat16_beta_storage_would_freeze_beta():
  """Why beta defaults to float32: growth factors below 1 + 2^-8 round back in bfloat16."""
  g = float(jnp.asarray(0.03, jnp.bfloat16))
  frozen = _constant_gradient_betas(jnp.bfloat16, 200, g, 1.0, beta_dtype=jnp.bfloat16)
  kept = _constant_gradient_betas(jnp.bfloat16, 200, g, 1.0)
  assert frozen[-1] == 1.0
  assert kept[-1] == pytest.approx(1.166, abs=1e-3)  # rkl1's float32 value


@pytest.mark.parametrize("name", alias_params())
@pytest.mark.slow
def test_float16_finite_input_never_gives_a_non_finite_beta(name):
  # init_lr = 1e-5: beta_0 = 1e5 overflows float16; g = 6e4 doubles beta every step.
  betas = _constant_gradient_betas(jnp.float16, 300, 6e4, 1e-5, name)
  assert np.all(np.isfinite(betas)) and np.all(np.diff(betas) >= 0)
  assert betas[0] >= 1e5
  params = jnp.ones(3, jnp.float16)
  opt = ALIASES[name](1e-5)
  updates, state = jax.jit(opt.update)(jnp.full(3, 6e4, jnp.float16), opt.init(params), params)
  assert updates.dtype == jnp.float16 and bool(jnp.all(jnp.isfinite(updates)))
  assert all(b.dtype == jnp.float32 for b in jax.tree.leaves(get_beta(state)))


def test_beta_dtype_option():
  params = {"w": jnp.ones(3, jnp.bfloat16)}
  for beta_dtype, expected in ((None, jnp.float32), (jnp.bfloat16, jnp.bfloat16)):
    state = hr.kl1(0.1, beta_dtype=beta_dtype).init(params)
    assert get_beta(state)["w"].dtype == expected
  with jax.enable_x64(True):
    state = hr.kl1(0.1, beta_dtype=jnp.float64).init({"w": jnp.ones(3, jnp.float32)})
    assert get_beta(state)["w"].dtype == jnp.float64
    state = hr.wngrad(0.1).init({"a": jnp.ones(2, jnp.float16), "b": jnp.ones(2, jnp.float64)})
    assert get_beta(state).dtype == jnp.float64  # the global beta: the widest params' dtype


@pytest.mark.parametrize("granularity", ["coordinate", "tensor", "global"])
@pytest.mark.slow
def test_zero_size_leaves(granularity):
  params = {"w": jnp.ones((3, 2)), "empty": jnp.zeros((0, 4)), "b": jnp.ones(0)}
  opt = hr.kl1(0.5, granularity=granularity, weight_decay=0.0)
  grads = {"w": jnp.full((3, 2), 2.0), "empty": jnp.zeros((0, 4)), "b": jnp.ones(0)}
  updates, state = jax.jit(opt.update)(grads, opt.init(params), params)
  assert updates["empty"].shape == (0, 4) and bool(jnp.all(jnp.isfinite(updates["w"])))
  reference = hr.kl1(0.5, granularity=granularity, weight_decay=0.0)
  w_only = {"w": params["w"]}
  expected, _ = reference.update({"w": grads["w"]}, reference.init(w_only), w_only)
  leaves_close(updates["w"], expected["w"], rtol=1e-6, atol=0)  # empty leaves change nothing
  stats = hr.lr_stats(state)
  assert all(bool(jnp.isfinite(v)) for v in stats.values()), stats
  only_empty = hr.kl1(0.5, granularity=granularity).init({"e": jnp.zeros(0)})
  if granularity != "coordinate":  # one beta per leaf or in all, even for no entries
    assert float(hr.lr_stats(only_empty)["lr_median"]) == pytest.approx(0.5)
  else:
    assert all(np.isnan(float(v)) for v in hr.lr_stats(only_empty).values())


@pytest.mark.parametrize("granularity", ["tensor", "global"])
@pytest.mark.slow
def test_gradients_near_the_float_maximum_are_not_read_as_zero(granularity):
  init_lr = 0.1
  for big in (1e38, 3e38):
    tx = hr.scale_by_hyperreg(init_lr, divergence="rkl", algorithm=1, granularity=granularity)
    params = {"w": jnp.zeros(3), "b": jnp.zeros(2)}
    g = {"w": jnp.array([big, 1.0, -big / 2]), "b": jnp.array([big, big])}
    _, state = jax.jit(tx.update)(g, tx.init(params))
    for beta in jax.tree.leaves(state.beta):
      assert float(beta) == pytest.approx(2.0 / init_lr)  # the growth ceiling, not 1 / init_lr
