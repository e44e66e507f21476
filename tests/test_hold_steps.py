"""``hold_steps``: plain steps ``g / beta_0`` after the warm-up, beta held, for every algorithm
and granularity (the reproducibility study's "reset step"); the rule adapts beta after them."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from alias_helpers import (
  SMALL_SHAPES,
  get_beta,
  leaves_close,
  leaves_equal,
  random_grads,
  scan_trajectory,
  small_params,
  trajectory,
)

import hyperreg_jax as hr
from hyperreg_jax.reference import rules as reference

# One divergence per algorithm keeps the grid small; every granularity with each.
RULES = [("rkl", 1), ("kl", 2), ("chi2", 3)]
GRANULARITIES = ["coordinate", "tensor", "global"]
INIT_LR = 0.25  # beta_0 = 4: g / beta_0 and INIT_LR * g are the same float


def _steps(tree, start, stop=None):
  return jax.tree.map(lambda x: x[start:stop], tree)


def _beta0_like(betas, steps):
  return jax.tree.map(lambda b: np.full(b[:steps].shape, 1 / INIT_LR, np.float32), betas)


def _apply(params, updates):
  return jax.tree.map(lambda p, u: p + u.sum(0), params, updates)


@pytest.mark.parametrize("granularity", GRANULARITIES)
@pytest.mark.parametrize("divergence, algorithm", RULES)
def test_one_hold_step_without_warmup(divergence, algorithm, granularity):
  params, grads = small_params(), random_grads(4, SMALL_SHAPES, seed=3)
  make = functools.partial(
    hr.hyperreg,
    divergence=divergence,
    algorithm=algorithm,
    weight_decay=0.0,
    granularity=granularity,
  )
  updates, betas = trajectory(make(INIT_LR, hold_steps=1), params, grads)
  # Step 0: x - init_lr * g exactly, beta still beta_0.
  leaves_equal(_steps(updates, 0, 1), jax.tree.map(lambda g: -INIT_LR * g[:1], grads))
  leaves_equal(_steps(betas, 0, 1), _beta0_like(betas, 1))
  # Without the hold the rule moves beta on step 0 already: the test above can fail.
  _, plain_betas = trajectory(make(INIT_LR), params, grads)
  assert not all(
    np.array_equal(a, b)
    for a, b in zip(
      jax.tree.leaves(_steps(plain_betas, 0, 1)), jax.tree.leaves(_steps(betas, 0, 1))
    )
  )
  # From step 1 on: the rule, as a fresh optimizer started after step 0 (beta_0 again).
  after = _apply(params, _steps(updates, 0, 1))
  fresh_updates, fresh_betas = trajectory(make(INIT_LR), after, _steps(grads, 1))
  leaves_close(_steps(updates, 1), fresh_updates, rtol=1e-6, atol=0)
  leaves_close(_steps(betas, 1), fresh_betas, rtol=1e-6, atol=0)
  assert all(np.all(b[1] > 1 / INIT_LR) for b in jax.tree.leaves(betas))  # adapted
  if granularity == "coordinate":  # and the rule's value, from the NumPy reference
    expected = jax.tree.map(
      lambda g: reference.new_beta(divergence, algorithm, 1 / INIT_LR, np.float64(g[1])), grads
    )
    leaves_close(_steps(betas, 1, 2), jax.tree.map(lambda b: b[None], expected), rtol=1e-5)


@pytest.mark.parametrize("granularity", GRANULARITIES)
@pytest.mark.parametrize("divergence, algorithm", RULES)
def test_hold_after_warmup(divergence, algorithm, granularity):
  warmup, warmup_lr, hold = 3, 0.5, 2
  params, grads = small_params(), random_grads(8, SMALL_SHAPES, seed=4)
  tx = hr.scale_by_hyperreg(
    INIT_LR,
    divergence=divergence,
    algorithm=algorithm,
    granularity=granularity,
    warmup_steps=warmup,
    warmup_lr=warmup_lr,
    hold_steps=hold,
  )
  updates, betas = trajectory(tx, params, grads)
  end = warmup + hold
  leaves_equal(_steps(updates, 0, warmup), jax.tree.map(lambda g: warmup_lr * g[:warmup], grads))
  leaves_equal(_steps(updates, warmup, end), jax.tree.map(lambda g: g[warmup:end] / 4, grads))
  leaves_equal(_steps(betas, 0, end), _beta0_like(betas, end))
  # Step 5 on: the rule from beta_0, as a fresh transformation (the warm-up alone would adapt
  # beta on step 3 already).
  fresh = hr.scale_by_hyperreg(
    INIT_LR, divergence=divergence, algorithm=algorithm, granularity=granularity
  )
  after = jax.tree.map(lambda p, u: p - u.sum(0), params, _steps(updates, 0, end))
  fresh_updates, fresh_betas = trajectory(fresh, after, _steps(grads, end))
  leaves_close(_steps(updates, end), fresh_updates, rtol=1e-6, atol=0)
  leaves_close(_steps(betas, end), fresh_betas, rtol=1e-6, atol=0)
  assert all(np.all(b[end] > 1 / INIT_LR) for b in jax.tree.leaves(betas))


def test_hold_step_numerator_has_decoupled_decay():
  params, grads = small_params(), random_grads(2, SMALL_SHAPES, seed=5)
  opt = hr.hyperreg(
    INIT_LR, divergence="rkl", algorithm=1, weight_decay=0.1, decay="decoupled", hold_steps=1
  )
  state = opt.init(params)
  g = _steps(grads, 0, 1)
  g = jax.tree.map(lambda x: x[0], g)
  updates, state = opt.update(g, state, params)
  expected = jax.tree.map(lambda x, p: -(x + 0.1 * p) / 4, g, params)
  leaves_close(updates, expected, rtol=1e-6, atol=0)
  leaves_equal(get_beta(state), jax.tree.map(lambda p: np.full(p.shape, 4.0, np.float32), params))


@pytest.mark.parametrize(
  "options", [{}, {"warmup_steps": 2, "warmup_lr": 0.3}, {"granularity": "global"}]
)
def test_zero_hold_steps_is_the_default(options):
  params, grads = small_params(), random_grads(5, SMALL_SHAPES, seed=6)
  make = functools.partial(hr.hyperreg, 0.1, divergence="kl", algorithm=3, **options)
  leaves_equal(trajectory(make(hold_steps=0), params, grads), trajectory(make(), params, grads))


def test_inject_hyperparams():
  """Static (as documented) or as an array, hold_steps gives the same steps."""
  params, grads = small_params(), random_grads(4, SMALL_SHAPES, seed=7)
  options = dict(init_lr=INIT_LR, divergence="rkl", algorithm=2, weight_decay=0.0, hold_steps=2)
  plain = trajectory(hr.hyperreg(**options), params, grads)
  leaves_equal(_steps(plain[0], 0, 2), jax.tree.map(lambda g: -INIT_LR * g[:2], grads))
  static = ("divergence", "algorithm", "warmup_steps", "hold_steps", "solver_iterations")
  for static_args in (static, static[:3] + static[4:]):
    injected = optax.inject_hyperparams(hr.hyperreg, static_args=static_args)(**options)

    def run(params, grads, injected=injected):
      def body(carry, g):
        p, s = carry
        u, s = injected.update(g, s, p)
        return (optax.apply_updates(p, u), s), u

      return jax.lax.scan(body, (params, injected.init(params)), grads)[1]

    leaves_close(jax.jit(run)(params, grads), plain[0], rtol=1e-6, atol=0)


def test_traced_init_lr_under_jit_and_vmap():
  params, grads = small_params(), random_grads(3, SMALL_SHAPES, seed=8)
  init_lrs = jnp.array([INIT_LR, 0.5, -1.0])

  @jax.jit
  @jax.vmap
  def lanes(init_lr):
    tx = hr.scale_by_hyperreg(init_lr, divergence="rkl", algorithm=1, hold_steps=1)
    return scan_trajectory(tx, params, grads)

  updates, betas = lanes(init_lrs)
  for i, lr in enumerate((INIT_LR, 0.5)):
    lane = jax.tree.map(lambda x, i=i: x[i], (updates, betas))
    leaves_close(_steps(lane[0], 0, 1), jax.tree.map(lambda g, lr=lr: lr * g[:1], grads), rtol=1e-7)
    concrete = hr.scale_by_hyperreg(lr, divergence="rkl", algorithm=1, hold_steps=1)
    leaves_close(lane, trajectory(concrete, params, grads), rtol=1e-6, atol=0)
  # An invalid traced init_lr: NaN in its lane only, the held step included.
  for leaf in jax.tree.leaves((updates, betas)):
    assert np.all(np.isnan(leaf[2]))


@pytest.mark.parametrize("value", [-1, 1.5, "1", True, None, np.array([1, 2])])
def test_bad_hold_steps(value):
  for make in (hr.hyperreg, hr.scale_by_hyperreg):
    with pytest.raises(ValueError, match=r"hold_steps must be an integer >= 0, got hold_steps="):
      make(0.1, divergence="rkl", algorithm=1, hold_steps=value)
  # warmup_steps treats a bool the same way
  with pytest.raises(ValueError, match="warmup_steps"):
    hr.scale_by_hyperreg(0.1, divergence="rkl", algorithm=1, warmup_steps=True, warmup_lr=0.1)


def test_hold_steps_accepts_numpy_ints():
  tx = hr.scale_by_hyperreg(0.5, divergence="rkl", algorithm=1, hold_steps=np.int64(1))
  params = jnp.array([1.0, -2.0])
  updates, state = tx.update(2 * params, tx.init(params))
  np.testing.assert_array_equal(updates, params)  # 2x / beta_0 with beta_0 = 2
  np.testing.assert_array_equal(state.beta, [2.0, 2.0])
