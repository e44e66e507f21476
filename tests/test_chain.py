"""The chain around the rule, as in optax's aliases: weight decay (the paper's coupled L2,
or decoupled from beta), its mask, and ``learning_rate`` as a multiplier or a schedule on
the direction ``g / beta``."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from alias_helpers import (
  ALIASES,
  SMALL_SHAPES,
  alias_params,
  descend,
  get_beta,
  leaves_close,
  leaves_equal,
  mixed,
  parabola,
  random_grads,
  small_params,
  trajectory,
)

import hyperreg_jax as hr


@pytest.mark.slow
def test_weight_decay_enters_the_gradient_that_drives_beta():
  wd, init_lr = 0.05, 0.2
  x0, _, loss = mixed()
  x0 = jax.tree.map(lambda x: x + 3.0, x0)
  opt = hr.hyperreg(init_lr=init_lr, divergence="rkl", algorithm=2, weight_decay=wd)
  scale = hr.scale_by_hyperreg(init_lr, divergence="rkl", algorithm=2)
  s, s_ref, s_nodecay = opt.init(x0), scale.init(x0), scale.init(x0)
  p = x0
  for _ in range(3):
    g = jax.grad(loss)(p)
    u, s = opt.update(g, s, p)
    u_ref, s_ref = scale.update(jax.tree.map(lambda g, x: g + wd * x, g, p), s_ref)
    _, s_nodecay = scale.update(g, s_nodecay)
    leaves_close(u, jax.tree.map(jnp.negative, u_ref), rtol=1e-6, atol=0)
    leaves_close(get_beta(s), get_beta(s_ref), rtol=1e-6, atol=0)
    p = optax.apply_updates(p, u)
  # ... and the decay does change beta (the check above has teeth).
  assert not np.allclose(np.asarray(get_beta(s)["v"]), np.asarray(get_beta(s_nodecay)["v"]))


@pytest.mark.parametrize("mask_kind", ["tree", "callable"])
def test_mask_limits_weight_decay_like_adamw(mask_kind):
  wd, params = 0.5, small_params()
  tree_mask = {"w": True, "b": False}
  mask = tree_mask if mask_kind == "tree" else (lambda p: jax.tree.map(lambda x: x.ndim > 1, p))
  grads = jax.tree.map(lambda p: 0.1 * p, params)
  opt = hr.rkl1(0.2, weight_decay=wd, mask=mask)
  updates, state = opt.update(grads, opt.init(params), params)
  decayed = {"w": grads["w"] + wd * params["w"], "b": grads["b"]}
  scale = hr.scale_by_hyperreg(0.2, divergence="rkl", algorithm=1)
  direction, expected_state = scale.update(decayed, scale.init(params))
  leaves_close(updates, jax.tree.map(jnp.negative, direction), rtol=1e-6, atol=0)
  leaves_close(get_beta(state), expected_state.beta, rtol=1e-6, atol=0)


@pytest.mark.parametrize("name", alias_params())
def test_decoupled_weight_decay_keeps_the_decay_out_of_beta(name):
  """decay="decoupled": beta sees the raw gradient, the step is lr (g + wd x) / beta."""
  params = small_params()
  grads = random_grads(3, SMALL_SHAPES, seed=12)
  wd, lr = 0.3, 0.5
  runs = {
    (decay, w): trajectory(
      ALIASES[name](0.4, learning_rate=lr, weight_decay=w, decay=decay), params, grads
    )
    for decay in ("coupled", "decoupled")
    for w in (0.0, wd)
  }
  # Decoupled: identical beta with and without the decay; coupled: the decay moves beta.
  leaves_equal(runs["decoupled", wd][1], runs["decoupled", 0.0][1])
  leaves_equal(runs["decoupled", 0.0][1], runs["coupled", 0.0][1])
  assert not all(
    np.array_equal(a, b)
    for a, b in zip(*(jax.tree.leaves(runs["coupled", w][1]) for w in (0.0, wd)))
  )
  # ... and the decay is in the step: replay the parameters and check each step.
  updates, betas = runs["decoupled", wd]
  lagged = name.endswith("3")
  p = params
  for t in range(3):
    step_beta = jax.tree.map(
      lambda b, t=t: (np.full_like(b[0], 1 / 0.4) if t == 0 else b[t - 1]) if lagged else b[t],
      betas,
    )
    if name == "wngrad":
      step_beta = jax.tree.map(lambda _, b=step_beta: b, p)
    expected = jax.tree.map(
      lambda g, x, b, t=t: -lr * (np.asarray(g[t]) + wd * np.asarray(x)) / np.asarray(b),
      grads,
      p,
      step_beta,
    )
    leaves_close(jax.tree.map(lambda u, t=t: u[t], updates), expected, rtol=1e-5, atol=1e-7)
    p = jax.tree.map(lambda x, u, t=t: x + u[t], p, updates)


def test_decay_must_be_coupled_or_decoupled():
  for factory in (hr.kl1, hr.wngrad, functools.partial(hr.hyperreg, divergence="kl", algorithm=2)):
    with pytest.raises(
      ValueError, match=r"decay must be 'coupled' .* or 'decoupled' .*got 'adamw'"
    ):
      factory(0.1, decay="adamw")


def test_direction_composes_with_scale_by_learning_rate_like_optax():
  """scale_by_hyperreg returns g / beta: chained with scale_by_learning_rate it descends."""
  x0, _, loss = parabola()
  for tx, factor in (
    (
      optax.chain(
        hr.scale_by_hyperreg(1.0, divergence="rkl", algorithm=1), optax.scale_by_learning_rate(0.5)
      ),
      1e-3,
    ),
    (optax.chain(optax.scale_by_rss(), optax.scale_by_learning_rate(0.5)), 0.2),  # the peer
  ):
    params, _ = jax.jit(lambda p, tx=tx: descend(tx, p, loss, 100))(x0)
    assert float(loss(params)) < factor * float(loss(x0))
  g = jnp.array([0.5, -2.0, 0.0])
  direction, state = hr.scale_by_hyperreg(0.5, divergence="kl", algorithm=2).update(
    g, hr.scale_by_hyperreg(0.5, divergence="kl", algorithm=2).init(jnp.zeros(3))
  )
  np.testing.assert_allclose(direction, g / state.beta, rtol=1e-7)  # same sign as g


@pytest.mark.parametrize("name", alias_params(["kl1", "rkl3", "chi2_2", "adagrad_diag", "wngrad"]))
@pytest.mark.slow
def test_learning_rate_multiplies_one_over_beta_also_as_a_schedule(name):
  params = small_params()
  grads = random_grads(12, SMALL_SHAPES, seed=11)
  plain, betas = trajectory(ALIASES[name](0.3, weight_decay=0.0), params, grads)
  schedule = optax.warmup_cosine_decay_schedule(0.0, 2.0, warmup_steps=4, decay_steps=12)
  for learning_rate, factors in (
    (0.25, np.full(12, 0.25)),
    (schedule, np.array([schedule(t) for t in range(12)])),
  ):
    scaled, scaled_betas = trajectory(
      ALIASES[name](0.3, learning_rate=learning_rate, weight_decay=0.0), params, grads
    )
    # beta does not depend on the multiplier; the step is scaled by it, step by step.
    leaves_close(scaled_betas, betas, rtol=1e-6, atol=0)
    expected = jax.tree.map(
      lambda u: np.asarray(u) * factors.reshape(-1, *[1] * (u.ndim - 1)),  # noqa: B023
      plain,
    )
    leaves_close(scaled, expected, rtol=1e-5, atol=1e-30)
  assert np.any(np.asarray(jax.tree.leaves(scaled)[0][0]) == 0)  # the schedule starts at 0
