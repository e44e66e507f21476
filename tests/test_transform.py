"""``scale_by_hyperreg``: the step of each algorithm (Algorithm 3's lagged step), warm-up,
the granularities against a hand computation, growth clipping (the ceiling, and the
no-finite-root case of Algorithm 2), the step counter, homogeneity in the gradient scale
and a custom divergence through the generic solver."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from alias_helpers import (
  ALIASES,
  SMALL_SHAPES,
  alias_params,
  get_beta,
  jitted_update,
  leaves_close,
  leaves_equal,
  random_grads,
  scan_trajectory,
  small_params,
  trajectory,
)

import hyperreg_jax as hr


def test_count_saturates():
  opt = hr.scale_by_hyperreg(0.1, divergence="kl", algorithm=2)
  params = jnp.ones(2)
  state = opt.init(params)
  assert state.count.dtype == jnp.int32
  state = state._replace(count=jnp.asarray(np.iinfo(np.int32).max, jnp.int32))
  _, state = opt.update(params, state)
  assert int(state.count) == np.iinfo(np.int32).max


def test_algorithm3_steps_with_the_old_beta():
  init_lr = 0.5
  b0 = 1.0 / init_lr
  g1 = np.array([0.3, -1.0, 0.0, 2.5])
  g2 = np.array([-0.7, 0.2, 1.5, -0.1])
  lagged = hr.scale_by_hyperreg(init_lr, divergence="kl", algorithm=3, growth=None)
  alternating = hr.scale_by_hyperreg(init_lr, divergence="kl", algorithm=2, growth=None)
  s3, s2 = lagged.init(jnp.zeros(4)), alternating.init(jnp.zeros(4))

  u3, s3 = lagged.update(jnp.asarray(g1, jnp.float32), s3)
  u2, s2 = alternating.update(jnp.asarray(g1, jnp.float32), s2)
  b1 = b0 * np.exp((g1 / b0) ** 2)  # KL, Algorithm 2: b exp(c)
  np.testing.assert_allclose(u3, g1 / b0, rtol=1e-7)  # the direction uses beta_0
  np.testing.assert_allclose(u2, g1 / b1, rtol=1e-6)  # Algorithm 2 uses beta_1
  np.testing.assert_allclose(s3.beta, b1, rtol=1e-6)
  np.testing.assert_allclose(s2.beta, b1, rtol=1e-6)

  u3, s3 = lagged.update(jnp.asarray(g2, jnp.float32), s3)
  b2 = b1 * np.exp((g2 / b1) ** 2)
  np.testing.assert_allclose(u3, g2 / b1, rtol=1e-6)
  np.testing.assert_allclose(s3.beta, b2, rtol=1e-6)

  # With clipping, a huge gradient doubles beta, but the lagged step still uses b.
  clipped = hr.scale_by_hyperreg(init_lr, divergence="rkl", algorithm=3)
  u, s = clipped.update(jnp.array([1e4]), clipped.init(jnp.zeros(1)))
  np.testing.assert_allclose(u, [1e4 / b0], rtol=1e-7)
  np.testing.assert_array_equal(s.beta, [2.0 * b0])


def test_lagged_step_that_overflows_keeps_beta():
  """Algorithm 3 tests its own step g / beta_t for finiteness (not g itself): a finite g
  whose step overflows leaves beta as it was; Algorithm 2 grows it to the clip."""
  g = jnp.array([3e38, 1.0], jnp.float32)  # beta_0 = 0.1: the first step overflows
  for alias, grown in ((hr.kl3, False), (hr.kl2, True)):
    opt, params = alias(10.0), jnp.zeros(2, jnp.float32)
    state = opt.init(params)
    updates, new = opt.update(g, state, params)
    beta, old = np.asarray(get_beta(new)), np.asarray(get_beta(state))
    assert np.all(np.isfinite(beta)) and beta[1] > old[1]
    assert (beta[0] == 2.0 * old[0]) if grown else (beta[0] == old[0])
    assert not np.isfinite(np.asarray(updates)[0]) or grown


@pytest.mark.parametrize("divergence, algorithm", [("rkl", 1), ("kl", 3), ("hellinger", 2)])
@pytest.mark.slow
def test_warmup(divergence, algorithm):
  init_lr, warmup_lr, warmup = 0.1, 0.05, 3
  params = small_params()
  grads = random_grads(7, SMALL_SHAPES, seed=6)
  tx = hr.scale_by_hyperreg(
    init_lr, divergence=divergence, algorithm=algorithm, warmup_steps=warmup, warmup_lr=warmup_lr
  )
  updates, betas = trajectory(tx, params, grads)
  first = lambda tree: jax.tree.map(lambda x: x[:warmup], tree)
  rest = lambda tree: jax.tree.map(lambda x: x[warmup:], tree)
  leaves_close(
    first(updates), jax.tree.map(lambda g: warmup_lr * g, first(grads)), rtol=1e-7, atol=0
  )
  leaves_equal(
    first(betas), jax.tree.map(lambda g: np.full(g.shape, 1 / init_lr, np.float32), first(grads))
  )
  # Then the rule starts from beta = 1 / init_lr, as a fresh optimizer would.
  fresh = hr.scale_by_hyperreg(init_lr, divergence=divergence, algorithm=algorithm)
  after = jax.tree.map(lambda p, u: p - u.sum(0), params, first(updates))
  expected_updates, expected_betas = trajectory(fresh, after, rest(grads))
  leaves_close(rest(updates), expected_updates, rtol=1e-6, atol=0)
  leaves_close(rest(betas), expected_betas, rtol=1e-6, atol=0)


@pytest.mark.parametrize(
  "divergence, algorithm", [("kl", 1), ("rkl", 2), ("hellinger", 3), ("chi2", 1)]
)
@pytest.mark.parametrize("granularity", ["tensor", "global"])
def test_granularity_matches_hand_computation(granularity, divergence, algorithm):
  init_lr = 0.5
  params = small_params()
  grads = random_grads(3, SMALL_SHAPES, seed=7)
  tx = hr.scale_by_hyperreg(
    init_lr, divergence=divergence, algorithm=algorithm, granularity=granularity
  )
  state = tx.init(params)
  if granularity == "tensor":
    assert jax.tree.map(jnp.shape, state.beta) == {"w": (), "b": ()}
    beta = {k: 1.0 / init_lr for k in SMALL_SHAPES}
  else:
    assert jnp.shape(state.beta) == ()
    beta = 1.0 / init_lr
  for t in range(3):
    g = {k: np.asarray(v[t], np.float64) for k, v in grads.items()}
    if granularity == "tensor":
      new = {
        k: float(
          hr.rules.new_beta(divergence, algorithm, beta[k], np.sqrt(np.mean(g[k] ** 2)), growth=2.0)
        )
        for k in g
      }
      step = {k: beta[k] if algorithm == 3 else new[k] for k in g}
    else:
      norm = np.sqrt(sum(np.sum(v**2) for v in g.values()))
      new = float(hr.rules.new_beta(divergence, algorithm, beta, norm, growth=2.0))
      step = {k: beta if algorithm == 3 else new for k in g}
    updates, state = tx.update(jax.tree.map(lambda v: v[t], grads), state)  # noqa: B023
    leaves_close(updates, {k: g[k] / step[k] for k in g}, rtol=2e-6, atol=0)
    leaves_close(state.beta, new, rtol=2e-6, atol=0)
    beta = new


@pytest.mark.parametrize("name", alias_params(tuple(hr.PAPER_RULES)))
def test_huge_gradient_gives_exactly_the_growth_ceiling(name):
  init_lr = 0.1
  opt = ALIASES[name](init_lr)
  params = jax.tree.map(jnp.zeros_like, small_params())
  # 3e38 overflows g^2 in float32.
  g = {
    "w": jnp.full((3, 4), -1e5).at[0, 0].set(3e38),
    "b": jnp.array([1e3, -1e6, 1e30, 3e38, 50.0]),
  }
  updates, state = jitted_update(name)(g, opt.init(params), params)
  leaves_equal(
    get_beta(state), jax.tree.map(lambda x: np.full(x.shape, 2.0 / init_lr, np.float32), params)
  )
  step_beta = 1.0 / init_lr if name.endswith("3") else 2.0 / init_lr
  leaves_close(
    updates, jax.tree.map(lambda x: -np.asarray(x, np.float64) / step_beta, g), rtol=1e-6, atol=0
  )


@pytest.mark.parametrize("algorithm", [2, 3])
@pytest.mark.parametrize("divergence", ["rkl", "hellinger", "neyman_chi2"])
@pytest.mark.slow
def test_no_finite_root_gives_the_ceiling_not_less(divergence, algorithm):
  """Algorithm 2 has no finite root for c >= 1: the reproducers' bug case."""
  b = 10.0
  tx = hr.scale_by_hyperreg(1 / b, divergence=divergence, algorithm=algorithm)
  c = np.array([0.8, 0.999, 1.0, 1.001, 1.5, 4.0, 100.0, 1e12], np.float32)
  g = jnp.asarray(b * np.sqrt(c), jnp.float32)
  _, state = tx.update(g, tx.init(jnp.zeros(c.size)))
  np.testing.assert_array_equal(state.beta, np.full(c.size, 2.0 * b, np.float32))
  # Without the upper clip: the Algorithm 1 root for c >= 1, finite and above b.
  tx = hr.scale_by_hyperreg(1 / b, divergence=divergence, algorithm=algorithm, growth=None)
  _, state = tx.update(g, tx.init(jnp.zeros(c.size)))
  beta = np.asarray(state.beta, np.float64)
  assert np.all(np.isfinite(beta)) and np.all(beta > b)
  exact1 = np.asarray(hr.rules.new_beta(divergence, 1, b, g, growth=None), np.float64)
  np.testing.assert_allclose(beta[c >= 1.0], exact1[c >= 1.0], rtol=1e-6)
  # Below the ceiling the closed form holds: rkl 1/(1-c), hellinger 1/(1-c)^2, ...
  small = np.array([0.05, 0.2])
  tx = hr.scale_by_hyperreg(1 / b, divergence=divergence, algorithm=algorithm)
  _, state = tx.update(jnp.asarray(b * np.sqrt(small), jnp.float32), tx.init(jnp.zeros(2)))
  closed = {
    "rkl": 1 / (1 - small),
    "hellinger": 1 / (1 - small) ** 2,
    "neyman_chi2": 1 / np.sqrt(1 - small),
  }[divergence]
  np.testing.assert_allclose(state.beta, b * closed, rtol=1e-5)


@pytest.mark.slow
def test_rules_are_homogeneous_in_the_gradient_scale():
  """Every rule is 1-homogeneous (docs/optimizers.md, "ILR and the loss scale"): scaling g and
  beta by k scales the whole run's betas by k."""
  params = small_params()
  grads = random_grads(5, SMALL_SHAPES, seed=8)
  k = 64.0  # a power of two: exact scaling in floating point
  for name in ("kl1", "rkl2", "chi2_3", "hellinger1"):
    run = jax.jit(
      lambda lr, gs, name=name: scan_trajectory(
        ALIASES[name](init_lr=lr, weight_decay=0.0), params, gs
      )
    )
    u, b = run(0.3, grads)
    u_k, b_k = run(0.3 / k, jax.tree.map(lambda g: g * k, grads))
    leaves_close(u_k, u, rtol=1e-5, atol=0)
    leaves_close(b_k, jax.tree.map(lambda x: x * k, b), rtol=1e-5, atol=0)


@pytest.mark.slow
def test_custom_divergence_through_the_transform():
  """A custom divergence equal to a built-in one (via the generic solver) agrees with it."""
  rkl_from_f = hr.Divergence.from_f(lambda u: -jnp.log(u) + u - 1.0, name="rkl_from_f")
  params = small_params()
  grads = random_grads(4, SMALL_SHAPES, seed=9)
  for algorithm in (1, 2):  # (Algorithm 3 has the beta update of Algorithm 2)
    u, b = trajectory(
      hr.scale_by_hyperreg(0.5, divergence=rkl_from_f, algorithm=algorithm), params, grads
    )
    u_ref, b_ref = trajectory(
      hr.scale_by_hyperreg(0.5, divergence="rkl", algorithm=algorithm), params, grads
    )
    leaves_close(u, u_ref, rtol=1e-5, atol=0)
    leaves_close(b, b_ref, rtol=1e-5, atol=0)


@pytest.mark.parametrize("granularity", ["global", "tensor"])
def test_unclipped_magnitude_is_the_global_norm_or_each_leafs_rms(granularity):
  """Without the clip beta depends on the magnitude itself (with it, large gradients all
  give the ceiling): the global norm over every leaf, or each leaf's root-mean-square."""
  grads = {"w": jnp.array([[0.3, -0.4], [1.2, 0.0]]), "b": jnp.array([0.5, -1.0, 2.0])}
  tx = hr.scale_by_hyperreg(
    0.5, divergence="rkl", algorithm=1, growth=None, granularity=granularity
  )
  beta = tx.update(grads, tx.init(jax.tree.map(jnp.zeros_like, grads)))[1].beta
  squares = {k: np.sum(np.square(v)) for k, v in grads.items()}
  if granularity == "global":
    norm = np.sqrt(sum(squares.values()))
    assert abs(norm - sum(np.sqrt(s) for s in squares.values())) > 0.5  # not a sum of norms
    np.testing.assert_allclose(beta, hr.rules.new_beta("rkl", 1, 2.0, norm, None), rtol=1e-6)
  else:
    for k, g in grads.items():
      rms = np.sqrt(squares[k] / g.size)
      np.testing.assert_allclose(beta[k], hr.rules.new_beta("rkl", 1, 2.0, rms, None), rtol=1e-6)
