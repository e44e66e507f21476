"""The shared suite, run on every alias (the twelve paper rules, ``adagrad_diag``, ``wngrad``),
in the manner of optax's ``optax/contrib/_common_test.py``: convergence on a parabola, a mixed
tree and Rosenbrock; extra keyword arguments without recompiling; ``inject_hyperparams``
identical to the plain alias; dtypes (bf16, f16, f32) kept, also under ``lax.cond``;
``MultiSteps``' first update zero; ``apply_if_finite``; jit equal to eager; non-finite
gradients; Python scalars as optax takes them; a state whose structure no value changes.

In the fast loop (``pytest -m "not slow"``) each runs on ``rkl2`` alone (``alias_params``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from alias_helpers import (
  ALIASES,
  COORDINATE_NAMES,
  NAMES,
  SMALL_SHAPES,
  alias_params,
  alias_trajectory,
  default_weight_decay,
  descend,
  get_beta,
  jitted_update,
  leaves_close,
  leaves_equal,
  mixed,
  parabola,
  random_grads,
  small_params,
  trajectory,
)

import hyperreg_jax as hr

# (init_lr, steps) that reach the minimum of both targets below. WNGrad and AdaGrad
# keep shrinking the learning rate, so they need more (cheap, scanned) steps.
CONVERGENCE = {name: (1.0, 300) for name in hr.PAPER_RULES}
CONVERGENCE["adagrad_diag"] = (0.3, 1000)
CONVERGENCE["wngrad"] = (0.03, 3000)


TARGETS = {"parabola": parabola, "mixed": mixed}


@pytest.mark.parametrize("target", sorted(TARGETS))
@pytest.mark.parametrize("name", alias_params())
def test_reaches_minimum(name, target):
  init_lr, steps = CONVERGENCE[name]
  wd = default_weight_decay(name)
  x0, xstar, loss = TARGETS[target]()
  # The minimiser of the loss plus the decay term wd/2 ||x||^2 (add_decayed_weights).
  expected = jax.tree.map(lambda t: 2.0 * t / (2.0 + wd), xstar)
  opt = ALIASES[name](init_lr)
  params, state = jax.jit(lambda p: descend(opt, p, loss, steps))(x0)
  leaves_close(params, expected, rtol=1e-3, atol=1e-4)
  assert all(bool(jnp.all(jnp.isfinite(b))) for b in jax.tree.leaves(get_beta(state)))


def _rosenbrock():
  """optax's ``_setup_rosenbrock``: a curved valley from (0, 0) to the minimum (1, 1)."""
  x0 = jnp.zeros(2, jnp.float32)
  return x0, jnp.ones(2, jnp.float32), lambda x: (1.0 - x[0]) ** 2 + 100.0 * (x[1] - x[0] ** 2) ** 2


@pytest.mark.parametrize("name", alias_params())
def test_reaches_the_minimum_of_rosenbrock(name):
  # As optax's contrib suite: 30k steps from (0, 0), then within 3e-2 of (1, 1), with a
  # small learning rate (the valley's curvature at the minimum is ~1000).
  x0, xstar, loss = _rosenbrock()
  opt = ALIASES[name](0.01)
  params, state = jax.jit(lambda p: descend(opt, p, loss, 30_000))(x0)
  leaves_close(params, xstar, rtol=3e-2, atol=3e-2)
  assert float(loss(params)) < 1e-4 * float(loss(x0))
  assert all(bool(jnp.all(jnp.isfinite(b))) for b in jax.tree.leaves(get_beta(state)))


@pytest.mark.parametrize("name", alias_params())
def test_accepts_extra_kwargs_without_recompiling(name):
  opt = ALIASES[name](0.1)
  x0, _, loss = parabola()
  traces = []

  @jax.jit
  def step(params, state, extra):
    traces.append(None)  # runs at trace time only
    value, grads = jax.value_and_grad(loss)(params)
    updates, state = opt.update(
      grads, state, params, value=value, unexpected_extra_args_your_optimizer_doesnt_expect=extra
    )
    return optax.apply_updates(params, updates), state

  params, state = x0, opt.init(x0)
  for i in range(3):
    params, state = step(params, state, jnp.float32(i))
  assert len(traces) == 1
  assert bool(jnp.all(jnp.isfinite(params)))


@pytest.mark.parametrize("name", alias_params())
@pytest.mark.slow
def test_inject_hyperparams_matches_plain(name):
  alias = ALIASES[name]
  params = small_params()
  grads = random_grads(4, SMALL_SHAPES)
  plain_updates, plain_betas = alias_trajectory(name)(0.2, params, grads)
  injected = optax.inject_hyperparams(alias)(init_lr=0.2)
  inj_updates, inj_betas = trajectory(injected, params, grads)
  leaves_close(inj_updates, plain_updates, rtol=1e-6, atol=0)
  leaves_close(inj_betas, plain_betas, rtol=1e-6, atol=0)
  # The injected init_lr is visible (and changeable) in the state.
  state = injected.init(params)
  assert float(state.hyperparams["init_lr"]) == pytest.approx(0.2)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16", "float32"])
@pytest.mark.parametrize("name", alias_params())
@pytest.mark.slow
def test_dtypes_preserved_and_stable_under_cond(name, dtype):
  dtype = jnp.dtype(dtype)
  opt = ALIASES[name](0.1)
  x0, _, loss = parabola(dtype)

  @jax.jit
  def step(params, state):
    grads = jax.grad(loss)(params)
    # lax.cond refuses branches whose output types differ: it checks that the
    # updates and the state keep their dtypes, as optax's shared test does.
    cond = jax.random.randint(jax.random.key(0), (), 0, 2) == 0
    updates, new_state = jax.lax.cond(
      cond, lambda: opt.update(grads, state, params), lambda: (jnp.zeros_like(params), state)
    )
    keep = jax.random.randint(jax.random.key(1), (), 0, 2) == 0
    next_state = jax.lax.cond(keep, lambda: state, lambda: new_state)
    return optax.apply_updates(params, updates), new_state, next_state, updates

  params, state = x0, opt.init(x0)
  dtypes0 = jax.tree.map(lambda x: x.dtype, state)
  for _ in range(2):
    params, new_state, state, updates = step(params, state)
    assert updates.dtype == dtype
    assert params.dtype == dtype
    assert jax.tree.map(lambda x: x.dtype, new_state) == dtypes0
    assert jax.tree.map(lambda x: x.dtype, state) == dtypes0
  # beta is kept in at least float32, so bf16 params neither freeze nor overflow it.
  beta_dtype = jnp.promote_types(dtype, jnp.float32)
  assert all(b.dtype == beta_dtype for b in jax.tree.leaves(get_beta(state)))


MULTISTEPS_CASES = [(name, "float32") for name in NAMES] + [
  (name, "bfloat16") for name in ("kl1", "rkl2", "chi2_3", "adagrad_diag")
]


@pytest.mark.parametrize("name, dtype", MULTISTEPS_CASES)
@pytest.mark.slow
def test_multisteps_first_update_is_zero(name, dtype):
  dtype = jnp.dtype(dtype)
  inner = ALIASES[name](0.1)
  opt = optax.MultiSteps(inner, every_k_schedule=2)
  params = small_params(dtype)
  grads = jax.tree.map(lambda p: 2.0 * p, params)
  update = jax.jit(opt.update)
  state = opt.init(params)
  updates, state = update(grads, state, params)
  assert all(u.dtype == dtype for u in jax.tree.leaves(updates))
  leaves_equal(updates, jax.tree.map(jnp.zeros_like, params))
  # The second call applies the inner optimizer to the mean gradient (= grads).
  updates, state = update(grads, state, params)
  if dtype == jnp.float32:
    expected, _ = jitted_update(name)(grads, inner.init(params), params)
    leaves_close(updates, expected, rtol=1e-6, atol=0)
  else:
    assert not any(bool(jnp.all(u == 0)) for u in jax.tree.leaves(updates))


@pytest.mark.parametrize("name", alias_params())
def test_apply_if_finite_skips_nan_step(name):
  inner = ALIASES[name](0.1)
  opt = optax.apply_if_finite(inner, max_consecutive_errors=3)
  params = small_params()
  good = jax.tree.map(lambda p: 2.0 * p + 0.5, params)
  bad = {**good, "b": good["b"].at[2].set(jnp.nan)}
  update = jax.jit(opt.update)
  state0 = opt.init(params)

  updates, state1 = update(bad, state0, params)
  leaves_equal(updates, jax.tree.map(jnp.zeros_like, params))
  leaves_equal(get_beta(state1), get_beta(state0))
  assert int(state1.notfinite_count) == 1
  assert not bool(state1.last_finite)

  updates, state2 = update(good, state1, params)
  expected_updates, expected_state = jitted_update(name)(good, inner.init(params), params)
  leaves_close(updates, expected_updates, rtol=1e-6, atol=0)
  leaves_close(get_beta(state2), get_beta(expected_state), rtol=1e-6, atol=0)
  assert int(state2.notfinite_count) == 0
  assert int(state2.total_notfinite) == 1


@pytest.mark.parametrize("name", alias_params())
@pytest.mark.slow
def test_jit_matches_eager(name):
  opt = ALIASES[name](0.5)
  params = small_params()
  grads = random_grads(4, SMALL_SHAPES, seed=3)
  eager_updates = []
  with jax.disable_jit():  # really op by op (also lax.fori_loop / scan inside)
    p, s = params, opt.init(params)
    for t in range(4):
      u, s = opt.update(jax.tree.map(lambda g: g[t], grads), s, p)  # noqa: B023
      p = optax.apply_updates(p, u)
      eager_updates.append(u)
  eager_updates = jax.tree.map(lambda *u: jnp.stack(u), *eager_updates)
  jit_updates, jit_betas = alias_trajectory(name)(0.5, params, grads)
  leaves_close(jit_updates, eager_updates, rtol=1e-6, atol=1e-12)
  leaves_close(jax.tree.map(lambda b: b[-1], jit_betas), get_beta(s), rtol=1e-6, atol=0)


@pytest.mark.parametrize("name", alias_params())
def test_nonfinite_gradient_coordinate(name):
  opt = ALIASES[name](0.5)
  params = small_params()
  g_ok = jax.tree.map(lambda p: 4.0 * p - 1.0, params)
  update = jitted_update(name)
  state0 = opt.init(params)
  u_ok, s_ok = update(g_ok, state0, params)
  flat = lambda tree: np.concatenate([np.ravel(np.asarray(x)) for x in jax.tree.leaves(tree)])
  beta0, beta_ok, u_ok = flat(get_beta(state0)), flat(get_beta(s_ok)), flat(u_ok)
  bad_index = (
    flat({"w": jnp.zeros_like(params["w"]), "b": jnp.zeros_like(params["b"]).at[1].set(1.0)}) == 1
  )
  assert bad_index.sum() == 1
  for bad in (np.nan, np.inf, -np.inf):
    g_bad = {**g_ok, "b": g_ok["b"].at[1].set(bad)}
    u_bad, s_bad = update(g_bad, state0, params)
    beta_bad, u_bad = flat(get_beta(s_bad)), flat(u_bad)
    assert np.all(np.isfinite(beta_bad)), bad
    assert np.all(beta_bad >= beta0), bad
    assert not np.any(np.isfinite(u_bad[bad_index])), bad  # so apply_if_finite skips it
    # Non-finite in: beta keeps its old value (all of it for the global beta).
    mask = bad_index if name in COORDINATE_NAMES else slice(None)
    np.testing.assert_array_equal(beta_bad[mask], beta0[mask])
    if name in COORDINATE_NAMES:
      np.testing.assert_array_equal(beta_bad[~bad_index], beta_ok[~bad_index])
      np.testing.assert_array_equal(u_bad[~bad_index], u_ok[~bad_index])


@pytest.mark.parametrize("name", alias_params())
def test_python_scalar_params_work_like_optax(name):
  """opt.init(1.0) and opt.update(1.0, state, 1.0) raised AttributeError; optax.adam takes them."""
  opt, adam = ALIASES[name](0.1), optax.adam(0.1)
  updates, state = opt.update(1.0, opt.init(1.0), 1.0)
  adam_updates, _ = adam.update(1.0, adam.init(1.0), 1.0)
  for u in (updates, adam_updates):  # 0-d arrays of the default float dtype
    assert isinstance(u, jax.Array) and u.shape == () and u.dtype == jnp.float32
  assert get_beta(state).shape == () and get_beta(state).dtype == jnp.float32
  expected, expected_state = opt.update(
    jnp.float32(1.0), opt.init(jnp.float32(1.0)), jnp.float32(1.0)
  )
  np.testing.assert_array_equal(updates, expected)
  np.testing.assert_array_equal(get_beta(state), get_beta(expected_state))
  params = optax.apply_updates(1.0, updates)
  assert float(params) < 1.0


@pytest.mark.parametrize("name", alias_params())
def test_state_structure_does_not_depend_on_hyperparameter_values(name):
  params = small_params()
  alias = ALIASES[name]
  reference = jax.tree.structure(alias(0.1).init(params))
  for kwargs in (
    {"weight_decay": 0},
    {"weight_decay": 0.0},
    {"weight_decay": jnp.float32(0)},
    {"weight_decay": 0.3},
    {"growth": 1.0},
    {"growth": None},
    {"warmup_steps": 3, "warmup_lr": 0.2},
    {"learning_rate": 0.0},
  ):
    assert jax.tree.structure(alias(0.1, **kwargs).init(params)) == reference, kwargs
