"""Tests of the Optax transformations (``hyperreg_jax._transform``, ``_aliases``, ``_lr_stats``).

Two parts:

* A shared, parameterised suite run on every alias (the twelve paper rules plus
  ``adagrad_diag`` and ``wngrad``), in the spirit of optax's
  ``optax/contrib/_common_test.py``: convergence (parabolas and Rosenbrock), extra kwargs without recompiling,
  ``inject_hyperparams``, dtypes (also under ``lax.cond``), ``MultiSteps``,
  ``apply_if_finite``, logging, jit, non-finite gradients.
* Specific checks of SPEC.md: the AdaGrad and WNGrad special cases, Algorithm 3,
  warm-up, weight decay, granularities, growth clipping, vmapped ILR grids and
  input validation.

Everything runs on tiny trees so that the whole file stays fast on two CPU cores.
"""

from __future__ import annotations

import functools
import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import hyperreg_jax as hr

ALIASES = {**hr.PAPER_RULES, "adagrad_diag": hr.adagrad_diag, "wngrad": hr.wngrad}
NAMES = tuple(ALIASES)
COORDINATE_NAMES = tuple(n for n in NAMES if n != "wngrad")  # wngrad is global

# (init_lr, steps) that reach the minimum of both targets below. WNGrad and AdaGrad
# keep shrinking the learning rate, so they need more (cheap, scanned) steps.
CONVERGENCE = {name: (1.0, 300) for name in hr.PAPER_RULES}
CONVERGENCE["adagrad_diag"] = (0.3, 1000)
CONVERGENCE["wngrad"] = (0.03, 3000)


def _default_weight_decay(name):
  return inspect.signature(ALIASES[name]).parameters["weight_decay"].default


def _leaves_close(actual, expected, **kw):
  jax.tree.map(
    lambda a, e: np.testing.assert_allclose(
      np.asarray(a, np.float64), np.asarray(e, np.float64), **kw
    ),
    actual,
    expected,
  )


def _leaves_equal(actual, expected):
  jax.tree.map(
    lambda a, e: np.testing.assert_array_equal(np.asarray(a), np.asarray(e)), actual, expected
  )


def _beta(state):
  return optax.tree.get(state, "beta")


# --- targets ------------------------------------------------------------------------------


def _parabola(dtype=jnp.float32):
  x0 = jnp.array([-1.0, 10.0, 1.0], dtype)
  target = jnp.array([1.0, -1.0, 1.0], dtype)
  return x0, target, lambda x: jnp.sum(jnp.square(x - target))


def _mixed(dtype=jnp.float32):
  """A dict with a matrix and a vector leaf whose targets differ by ~1000x in scale."""
  target = {
    "w": jnp.array([[12.0, -8.0], [4.0, 16.0]], dtype),
    "v": jnp.array([0.01, -0.02, 0.03], dtype),
  }
  x0 = jax.tree.map(jnp.zeros_like, target)

  def loss(p):
    return sum(jnp.sum(jnp.square(p[k] - target[k])) for k in target)

  return x0, target, loss


TARGETS = {"parabola": _parabola, "mixed": _mixed}


def _run(opt, params, loss, steps):
  """``steps`` gradient steps on ``loss`` under ``lax.scan``; returns (params, state)."""
  grad = jax.grad(loss)

  def body(carry, _):
    p, s = carry
    u, s = opt.update(grad(p), s, p)
    return (optax.apply_updates(p, u), s), None

  (params, state), _ = jax.lax.scan(body, (params, opt.init(params)), length=steps)
  return params, state


def _trajectory(opt, params, grads):
  """Feeds the stacked ``grads`` (leading time axis) to ``opt``; applies the updates.

  Returns the stacked updates and the stacked ``beta`` of every step.
  """

  def body(carry, g):
    p, s = carry
    u, s = opt.update(g, s, p)
    return (optax.apply_updates(p, u), s), (u, _beta(s))

  _, (updates, betas) = jax.lax.scan(body, (params, opt.init(params)), grads)
  return updates, betas


def trajectory(opt, params, grads):
  return jax.jit(functools.partial(_trajectory, opt))(params, grads)


# Compiled once per alias (and input shape) and shared by the tests below, to keep
# the file fast: neither depends on a concrete init_lr.


@functools.lru_cache(maxsize=None)
def _update(name):
  """The alias's jitted ``update`` (init_lr only enters ``init``: beta is state)."""
  return jax.jit(ALIASES[name](1e-2).update)


@functools.lru_cache(maxsize=None)
def _alias_trajectory(name):
  """``(init_lr, params, grads) -> (updates, betas)`` with a traced init_lr."""
  return jax.jit(lambda init_lr, params, grads: _trajectory(ALIASES[name](init_lr), params, grads))


def _random_grads(steps, shapes, seed=0, dtype=np.float32):
  """Stacked random gradients whose scale varies over 4 decades across steps."""
  rng = np.random.default_rng(seed)
  scale = 10.0 ** rng.uniform(-2, 2, size=steps)
  return {
    k: jnp.asarray(rng.normal(size=(steps, *shape)) * scale.reshape(-1, *([1] * len(shape))), dtype)
    for k, shape in shapes.items()
  }


SMALL_SHAPES = {"w": (3, 4), "b": (5,)}


def _small_params(dtype=jnp.float32, seed=1):
  rng = np.random.default_rng(seed)
  return {k: jnp.asarray(rng.normal(size=s), dtype) for k, s in SMALL_SHAPES.items()}


# === the shared suite (every alias) ======================================================


@pytest.mark.parametrize("target", sorted(TARGETS))
@pytest.mark.parametrize("name", NAMES)
def test_reaches_minimum(name, target):
  init_lr, steps = CONVERGENCE[name]
  wd = _default_weight_decay(name)
  x0, xstar, loss = TARGETS[target]()
  # The minimiser of the loss plus the decay term wd/2 ||x||^2 (add_decayed_weights).
  expected = jax.tree.map(lambda t: 2.0 * t / (2.0 + wd), xstar)
  opt = ALIASES[name](init_lr)
  params, state = jax.jit(lambda p: _run(opt, p, loss, steps))(x0)
  _leaves_close(params, expected, rtol=1e-3, atol=1e-4)
  assert all(bool(jnp.all(jnp.isfinite(b))) for b in jax.tree.leaves(_beta(state)))


def _rosenbrock():
  """optax's ``_setup_rosenbrock``: a curved valley from (0, 0) to the minimum (1, 1)."""
  x0 = jnp.zeros(2, jnp.float32)
  return x0, jnp.ones(2, jnp.float32), lambda x: (1.0 - x[0]) ** 2 + 100.0 * (x[1] - x[0] ** 2) ** 2


@pytest.mark.parametrize("name", NAMES)
def test_reaches_the_minimum_of_rosenbrock(name):
  # As optax's contrib suite: 30k steps from (0, 0), then within 3e-2 of (1, 1), with a
  # small learning rate (the valley's curvature at the minimum is ~1000).
  x0, xstar, loss = _rosenbrock()
  opt = ALIASES[name](0.01)
  params, state = jax.jit(lambda p: _run(opt, p, loss, 30_000))(x0)
  _leaves_close(params, xstar, rtol=3e-2, atol=3e-2)
  assert float(loss(params)) < 1e-4 * float(loss(x0))
  assert all(bool(jnp.all(jnp.isfinite(b))) for b in jax.tree.leaves(_beta(state)))


@pytest.mark.parametrize("name", NAMES)
def test_accepts_extra_kwargs_without_recompiling(name):
  opt = ALIASES[name](0.1)
  x0, _, loss = _parabola()
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


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.slow
def test_inject_hyperparams_matches_plain(name):
  alias = ALIASES[name]
  params = _small_params()
  grads = _random_grads(4, SMALL_SHAPES)
  plain_updates, plain_betas = _alias_trajectory(name)(0.2, params, grads)
  injected = optax.inject_hyperparams(alias)(init_lr=0.2)
  inj_updates, inj_betas = trajectory(injected, params, grads)
  _leaves_close(inj_updates, plain_updates, rtol=1e-6, atol=0)
  _leaves_close(inj_betas, plain_betas, rtol=1e-6, atol=0)
  # The injected init_lr is visible (and changeable) in the state.
  state = injected.init(params)
  assert float(state.hyperparams["init_lr"]) == pytest.approx(0.2)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16", "float32"])
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.slow
def test_dtypes_preserved_and_stable_under_cond(name, dtype):
  dtype = jnp.dtype(dtype)
  opt = ALIASES[name](0.1)
  x0, _, loss = _parabola(dtype)

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
  assert all(b.dtype == beta_dtype for b in jax.tree.leaves(_beta(state)))


MULTISTEPS_CASES = [(name, "float32") for name in NAMES] + [
  (name, "bfloat16") for name in ("kl1", "rkl2", "chi2_3", "adagrad_diag")
]


@pytest.mark.parametrize("name, dtype", MULTISTEPS_CASES)
@pytest.mark.slow
def test_multisteps_first_update_is_zero(name, dtype):
  dtype = jnp.dtype(dtype)
  inner = ALIASES[name](0.1)
  opt = optax.MultiSteps(inner, every_k_schedule=2)
  params = _small_params(dtype)
  grads = jax.tree.map(lambda p: 2.0 * p, params)
  update = jax.jit(opt.update)
  state = opt.init(params)
  updates, state = update(grads, state, params)
  assert all(u.dtype == dtype for u in jax.tree.leaves(updates))
  _leaves_equal(updates, jax.tree.map(jnp.zeros_like, params))
  # The second call applies the inner optimizer to the mean gradient (= grads).
  updates, state = update(grads, state, params)
  if dtype == jnp.float32:
    expected, _ = _update(name)(grads, inner.init(params), params)
    _leaves_close(updates, expected, rtol=1e-6, atol=0)
  else:
    assert not any(bool(jnp.all(u == 0)) for u in jax.tree.leaves(updates))


@pytest.mark.parametrize("name", NAMES)
def test_apply_if_finite_skips_nan_step(name):
  inner = ALIASES[name](0.1)
  opt = optax.apply_if_finite(inner, max_consecutive_errors=3)
  params = _small_params()
  good = jax.tree.map(lambda p: 2.0 * p + 0.5, params)
  bad = {**good, "b": good["b"].at[2].set(jnp.nan)}
  update = jax.jit(opt.update)
  state0 = opt.init(params)

  updates, state1 = update(bad, state0, params)
  _leaves_equal(updates, jax.tree.map(jnp.zeros_like, params))
  _leaves_equal(_beta(state1), _beta(state0))
  assert int(state1.notfinite_count) == 1
  assert not bool(state1.last_finite)

  updates, state2 = update(good, state1, params)
  expected_updates, expected_state = _update(name)(good, inner.init(params), params)
  _leaves_close(updates, expected_updates, rtol=1e-6, atol=0)
  _leaves_close(_beta(state2), _beta(expected_state), rtol=1e-6, atol=0)
  assert int(state2.notfinite_count) == 0
  assert int(state2.total_notfinite) == 1


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.slow
def test_jit_matches_eager(name):
  opt = ALIASES[name](0.5)
  params = _small_params()
  grads = _random_grads(4, SMALL_SHAPES, seed=3)
  eager_updates = []
  with jax.disable_jit():  # really op by op (also lax.fori_loop / scan inside)
    p, s = params, opt.init(params)
    for t in range(4):
      u, s = opt.update(jax.tree.map(lambda g: g[t], grads), s, p)  # noqa: B023
      p = optax.apply_updates(p, u)
      eager_updates.append(u)
  eager_updates = jax.tree.map(lambda *u: jnp.stack(u), *eager_updates)
  jit_updates, jit_betas = _alias_trajectory(name)(0.5, params, grads)
  _leaves_close(jit_updates, eager_updates, rtol=1e-6, atol=1e-12)
  _leaves_close(jax.tree.map(lambda b: b[-1], jit_betas), _beta(s), rtol=1e-6, atol=0)


def test_lagged_step_that_overflows_keeps_beta():
  """Algorithm 3 tests its own step g / beta_t for finiteness (not g itself): a finite g
  whose step overflows leaves beta as it was; Algorithm 2 grows it to the clip."""
  g = jnp.array([3e38, 1.0], jnp.float32)  # beta_0 = 0.1: the first step overflows
  for alias, grown in ((hr.kl3, False), (hr.kl2, True)):
    opt, params = alias(10.0), jnp.zeros(2, jnp.float32)
    state = opt.init(params)
    updates, new = opt.update(g, state, params)
    beta, old = np.asarray(_beta(new)), np.asarray(_beta(state))
    assert np.all(np.isfinite(beta)) and beta[1] > old[1]
    assert (beta[0] == 2.0 * old[0]) if grown else (beta[0] == old[0])
    assert not np.isfinite(np.asarray(updates)[0]) or grown


@pytest.mark.parametrize("name", NAMES)
def test_nonfinite_gradient_coordinate(name):
  opt = ALIASES[name](0.5)
  params = _small_params()
  g_ok = jax.tree.map(lambda p: 4.0 * p - 1.0, params)
  update = _update(name)
  state0 = opt.init(params)
  u_ok, s_ok = update(g_ok, state0, params)
  flat = lambda tree: np.concatenate(  # noqa: E731
    [np.ravel(np.asarray(x)) for x in jax.tree.leaves(tree)]
  )
  beta0, beta_ok, u_ok = flat(_beta(state0)), flat(_beta(s_ok)), flat(u_ok)
  bad_index = (
    flat({"w": jnp.zeros_like(params["w"]), "b": jnp.zeros_like(params["b"]).at[1].set(1.0)}) == 1
  )
  assert bad_index.sum() == 1
  for bad in (np.nan, np.inf, -np.inf):
    g_bad = {**g_ok, "b": g_ok["b"].at[1].set(bad)}
    u_bad, s_bad = update(g_bad, state0, params)
    beta_bad, u_bad = flat(_beta(s_bad)), flat(u_bad)
    assert np.all(np.isfinite(beta_bad)), bad
    assert np.all(beta_bad >= beta0), bad
    assert not np.any(np.isfinite(u_bad[bad_index])), bad  # so apply_if_finite skips it
    # Non-finite in: beta keeps its old value (all of it for the global beta).
    mask = bad_index if name in COORDINATE_NAMES else slice(None)
    np.testing.assert_array_equal(beta_bad[mask], beta0[mask])
    if name in COORDINATE_NAMES:
      np.testing.assert_array_equal(beta_bad[~bad_index], beta_ok[~bad_index])
      np.testing.assert_array_equal(u_bad[~bad_index], u_ok[~bad_index])


def test_count_saturates():
  opt = hr.scale_by_hyperreg(0.1, divergence="kl", algorithm=2)
  params = jnp.ones(2)
  state = opt.init(params)
  assert state.count.dtype == jnp.int32
  state = state._replace(count=jnp.asarray(np.iinfo(np.int32).max, jnp.int32))
  _, state = opt.update(params, state)
  assert int(state.count) == np.iinfo(np.int32).max


# === special cases (SPEC section 5) =====================================================


@pytest.mark.parametrize("x64", [False, True], ids=["float32", "float64"])
def test_adagrad_diag_equals_optax_adagrad(x64):
  init_lr = 0.3
  with jax.enable_x64(x64):
    dtype = jnp.float64 if x64 else jnp.float32
    params = _small_params(dtype)
    grads = _random_grads(50, SMALL_SHAPES, seed=4, dtype=np.float64 if x64 else np.float32)
    ours, betas = trajectory(hr.adagrad_diag(init_lr, weight_decay=0.0), params, grads)
    reference = optax.adagrad(1.0, initial_accumulator_value=1.0 / init_lr**2, eps=0.0)
    expected, _ = trajectory(reference, params, grads)
    assert all(u.dtype == dtype for u in jax.tree.leaves(ours))
    rtol = 1e-12 if x64 else 1e-5
    _leaves_close(ours, expected, rtol=rtol, atol=0)
    # beta_t^2 = beta_0^2 + sum_s g_s^2
    acc = jax.tree.map(
      lambda g: np.sqrt(1.0 / init_lr**2 + np.cumsum(np.asarray(g, np.float64) ** 2, axis=0)), grads
    )
    _leaves_close(betas, acc, rtol=rtol, atol=0)


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
    loss = lambda p: sum(0.5 * jnp.sum(cur[k] * (p[k] - tgt[k]) ** 2) for k in p)  # noqa: E731

    def body(carry, _):
      p, s = carry
      u, s = opt.update(jax.grad(loss)(p), s, p)
      p = optax.apply_updates(p, u)
      return (p, s), (p, _beta(s))

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


# === the step rules ========================================================================


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


@pytest.mark.parametrize("divergence, algorithm", [("rkl", 1), ("kl", 3), ("hellinger", 2)])
@pytest.mark.slow
def test_warmup(divergence, algorithm):
  init_lr, warmup_lr, warmup = 0.1, 0.05, 3
  params = _small_params()
  grads = _random_grads(7, SMALL_SHAPES, seed=6)
  tx = hr.scale_by_hyperreg(
    init_lr, divergence=divergence, algorithm=algorithm, warmup_steps=warmup, warmup_lr=warmup_lr
  )
  updates, betas = trajectory(tx, params, grads)
  first = lambda tree: jax.tree.map(lambda x: x[:warmup], tree)  # noqa: E731
  rest = lambda tree: jax.tree.map(lambda x: x[warmup:], tree)  # noqa: E731
  _leaves_close(
    first(updates), jax.tree.map(lambda g: warmup_lr * g, first(grads)), rtol=1e-7, atol=0
  )
  _leaves_equal(
    first(betas), jax.tree.map(lambda g: np.full(g.shape, 1 / init_lr, np.float32), first(grads))
  )
  # Then the rule starts from beta = 1 / init_lr, as a fresh optimizer would.
  fresh = hr.scale_by_hyperreg(init_lr, divergence=divergence, algorithm=algorithm)
  after = jax.tree.map(lambda p, u: p - u.sum(0), params, first(updates))
  expected_updates, expected_betas = trajectory(fresh, after, rest(grads))
  _leaves_close(rest(updates), expected_updates, rtol=1e-6, atol=0)
  _leaves_close(rest(betas), expected_betas, rtol=1e-6, atol=0)


@pytest.mark.slow
def test_weight_decay_enters_the_gradient_that_drives_beta():
  wd, init_lr = 0.05, 0.2
  x0, _, loss = _mixed()
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
    _leaves_close(u, jax.tree.map(jnp.negative, u_ref), rtol=1e-6, atol=0)
    _leaves_close(_beta(s), _beta(s_ref), rtol=1e-6, atol=0)
    p = optax.apply_updates(p, u)
  # ... and the decay does change beta (the check above has teeth).
  assert not np.allclose(np.asarray(_beta(s)["v"]), np.asarray(_beta(s_nodecay)["v"]))


@pytest.mark.parametrize(
  "divergence, algorithm", [("kl", 1), ("rkl", 2), ("hellinger", 3), ("chi2", 1)]
)
@pytest.mark.parametrize("granularity", ["tensor", "global"])
def test_granularity_matches_hand_computation(granularity, divergence, algorithm):
  init_lr = 0.5
  params = _small_params()
  grads = _random_grads(3, SMALL_SHAPES, seed=7)
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
    _leaves_close(updates, {k: g[k] / step[k] for k in g}, rtol=2e-6, atol=0)
    _leaves_close(state.beta, new, rtol=2e-6, atol=0)
    beta = new


# === growth clipping ======================================================================


@pytest.mark.parametrize("name", tuple(hr.PAPER_RULES))
def test_huge_gradient_gives_exactly_the_growth_ceiling(name):
  init_lr = 0.1
  opt = ALIASES[name](init_lr)
  params = jax.tree.map(jnp.zeros_like, _small_params())
  # 3e38 overflows g^2 in float32.
  g = {
    "w": jnp.full((3, 4), -1e5).at[0, 0].set(3e38),
    "b": jnp.array([1e3, -1e6, 1e30, 3e38, 50.0]),
  }
  updates, state = _update(name)(g, opt.init(params), params)
  _leaves_equal(
    _beta(state), jax.tree.map(lambda x: np.full(x.shape, 2.0 / init_lr, np.float32), params)
  )
  step_beta = 1.0 / init_lr if name.endswith("3") else 2.0 / init_lr
  _leaves_close(
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


# === vmapped ILR grids, jit, purity =========================================================


@pytest.mark.parametrize("name", ["rkl2", "hellinger1", "kl3", "wngrad"])
@pytest.mark.slow
def test_vmapped_ilr_grid_equals_loop_and_compiles_once(name):
  alias = ALIASES[name]
  x0, _, loss = _mixed()
  traces = []

  def run(init_lr):
    traces.append(None)  # runs at trace time only
    return _run(alias(init_lr), x0, loss, 10)

  lrs = jnp.array([0.03, 0.1, 0.3, 1.0], jnp.float32)
  grid_params, grid_state = jax.jit(jax.vmap(run))(lrs)
  run_jit = jax.jit(run)
  assert len(traces) == 1  # the vmapped grid
  for i in range(lrs.size):
    params, state = run_jit(lrs[i])
    _leaves_close(
      jax.tree.map(lambda x: x[i], grid_params),
      params,  # noqa: B023
      rtol=1e-6,
      atol=1e-7,
    )
    _leaves_close(
      jax.tree.map(lambda x: x[i], _beta(grid_state)),
      _beta(state),  # noqa: B023
      rtol=1e-6,
      atol=0,
    )
  assert len(traces) == 2  # plus one for every single run
  # The grid really differs across ILRs (beta_0 = 1 / init_lr).
  assert (
    len({float(jax.tree.leaves(_beta(grid_state))[0][i].ravel()[0]) for i in range(lrs.size)}) > 1
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


# === validation =============================================================================

NAN, INF = float("nan"), float("inf")

BAD_ARGUMENTS = [
  (
    {"divergence": "kld"},
    r"divergence must be one of \['chi2', 'hellinger', 'kl', "
    r"'neyman_chi2', 'rkl'\].*'kld'",
  ),
  ({"divergence": None}, r"divergence must be one of .*None"),
  ({"algorithm": 0}, r"algorithm must be one of \(1, 2, 3\), got 0"),
  ({"algorithm": 4}, r"algorithm must be one of \(1, 2, 3\), got 4"),
  ({"algorithm": "2"}, r"algorithm must be one of \(1, 2, 3\), got '2'"),
  ({"algorithm": True}, r"algorithm must be one of \(1, 2, 3\), got True"),
  ({"algorithm": 2.0}, r"algorithm must be one of \(1, 2, 3\), got 2\.0"),
  ({"init_lr": 0.0}, r"init_lr must be a finite number > 0, got 0\.0"),
  ({"init_lr": -1e-3}, r"init_lr must be a finite number > 0, got -0\.001"),
  ({"init_lr": NAN}, r"init_lr must be a finite number > 0, got nan"),
  ({"init_lr": INF}, r"init_lr must be a finite number > 0, got inf"),
  ({"init_lr": jnp.array([0.1, 0.2])}, r"init_lr must be a finite number > 0"),
  ({"growth": 0.5}, r"growth must be None or inf \(no upper clip\) or a number >= 1, got 0\.5"),
  ({"growth": NAN}, r"growth must be None .* >= 1, got nan"),
  ({"growth": -INF}, r"growth must be None .* >= 1, got -inf"),
  (
    {"granularity": "layer"},
    r"granularity must be one of \('coordinate', 'tensor', "
    r"'global'\), got 'layer'",
  ),
  ({"warmup_steps": 5}, r"warmup_lr must be given"),
  ({"warmup_steps": 5, "warmup_lr": -1.0}, r"warmup_lr must be a finite number > 0"),
  ({"warmup_steps": -1}, r"warmup_steps must be an integer >= 0, got warmup_steps=-1"),
  (
    {"warmup_steps": 2.5, "warmup_lr": 0.1},
    r"warmup_steps must be an integer >= 0, got warmup_steps=2\.5",
  ),
]


@pytest.mark.parametrize(
  "factory", [hr.scale_by_hyperreg, hr.hyperreg], ids=["scale_by_hyperreg", "hyperreg"]
)
@pytest.mark.parametrize("kwargs, match", BAD_ARGUMENTS, ids=[repr(kw) for kw, _ in BAD_ARGUMENTS])
def test_bad_arguments_raise(factory, kwargs, match):
  with pytest.raises(ValueError, match=match):
    factory(**{"init_lr": 1e-2, "divergence": "kl", "algorithm": 2, **kwargs})


@pytest.mark.parametrize(
  "kwargs, match",
  [
    ({"init_lr": 0.0}, r"init_lr"),
    ({"init_lr": NAN}, r"init_lr"),
    ({"growth": 0.9}, r"growth"),
    ({"granularity": "per-layer"}, r"granularity"),
    ({"warmup_steps": 2}, r"warmup_lr"),
  ],
)
def test_bad_arguments_raise_in_aliases(kwargs, match):
  with pytest.raises(ValueError, match=match):
    hr.rkl2(**{"init_lr": 1e-2, **kwargs})
  if "init_lr" in kwargs:
    with pytest.raises(ValueError, match=match):
      hr.adagrad_diag(**kwargs)
    with pytest.raises(ValueError, match=match):
      hr.wngrad(**kwargs)


@pytest.mark.parametrize("name", ["kl2", "adagrad_diag", "wngrad"])
def test_integer_params_raise_at_init(name):
  opt = ALIASES[name](0.1)
  with pytest.raises(ValueError, match=r"floating-point.*\['count'\].*int32"):
    opt.init({"w": jnp.ones(3), "count": jnp.arange(3, dtype=jnp.int32)})


@pytest.mark.slow
def test_rules_are_homogeneous_in_the_gradient_scale():
  """SPEC section 1: scaling g and beta by k scales the whole run's betas by k."""
  params = _small_params()
  grads = _random_grads(5, SMALL_SHAPES, seed=8)
  k = 64.0  # a power of two: exact scaling in floating point
  for name in ("kl1", "rkl2", "chi2_3", "hellinger1"):
    run = jax.jit(
      lambda lr, gs: _trajectory(  # noqa: B023
        ALIASES[name](init_lr=lr, weight_decay=0.0), params, gs
      )
    )  # noqa: B023
    u, b = run(0.3, grads)
    u_k, b_k = run(0.3 / k, jax.tree.map(lambda g: g * k, grads))
    _leaves_close(u_k, u, rtol=1e-5, atol=0)
    _leaves_close(b_k, jax.tree.map(lambda x: x * k, b), rtol=1e-5, atol=0)


@pytest.mark.slow
def test_custom_divergence_through_the_transform():
  """A custom divergence equal to a built-in one (via the generic solver) agrees with it."""
  rkl_from_f = hr.Divergence.from_f(lambda u: -jnp.log(u) + u - 1.0, name="rkl_from_f")
  params = _small_params()
  grads = _random_grads(4, SMALL_SHAPES, seed=9)
  for algorithm in (1, 2):  # (Algorithm 3 has the beta update of Algorithm 2)
    u, b = trajectory(
      hr.scale_by_hyperreg(0.5, divergence=rkl_from_f, algorithm=algorithm), params, grads
    )
    u_ref, b_ref = trajectory(
      hr.scale_by_hyperreg(0.5, divergence="rkl", algorithm=algorithm), params, grads
    )
    _leaves_close(u, u_ref, rtol=1e-5, atol=0)
    _leaves_close(b, b_ref, rtol=1e-5, atol=0)


def test_direction_composes_with_scale_by_learning_rate_like_optax():
  """scale_by_hyperreg returns g / beta: chained with scale_by_learning_rate it descends."""
  x0, _, loss = _parabola()
  for tx, factor in (
    (
      optax.chain(
        hr.scale_by_hyperreg(1.0, divergence="rkl", algorithm=1), optax.scale_by_learning_rate(0.5)
      ),
      1e-3,
    ),
    (optax.chain(optax.scale_by_rss(), optax.scale_by_learning_rate(0.5)), 0.2),  # the peer
  ):
    params, _ = jax.jit(lambda p, tx=tx: _run(tx, p, loss, 100))(x0)
    assert float(loss(params)) < factor * float(loss(x0))
  g = jnp.array([0.5, -2.0, 0.0])
  direction, state = hr.scale_by_hyperreg(0.5, divergence="kl", algorithm=2).update(
    g, hr.scale_by_hyperreg(0.5, divergence="kl", algorithm=2).init(jnp.zeros(3))
  )
  np.testing.assert_allclose(direction, g / state.beta, rtol=1e-7)  # same sign as g


@pytest.mark.parametrize("name", ["kl1", "rkl3", "chi2_2", "adagrad_diag", "wngrad"])
@pytest.mark.slow
def test_learning_rate_multiplies_one_over_beta_also_as_a_schedule(name):
  params = _small_params()
  grads = _random_grads(12, SMALL_SHAPES, seed=11)
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
    _leaves_close(scaled_betas, betas, rtol=1e-6, atol=0)
    expected = jax.tree.map(
      lambda u: np.asarray(u) * factors.reshape(-1, *[1] * (u.ndim - 1)),  # noqa: B023
      plain,
    )
    _leaves_close(scaled, expected, rtol=1e-5, atol=1e-30)
  assert np.any(np.asarray(jax.tree.leaves(scaled)[0][0]) == 0)  # the schedule starts at 0


@pytest.mark.parametrize("name", NAMES)
def test_state_structure_does_not_depend_on_hyperparameter_values(name):
  params = _small_params()
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


@pytest.mark.parametrize("mask_kind", ["tree", "callable"])
def test_mask_limits_weight_decay_like_adamw(mask_kind):
  wd, params = 0.5, _small_params()
  tree_mask = {"w": True, "b": False}
  mask = tree_mask if mask_kind == "tree" else (lambda p: jax.tree.map(lambda x: x.ndim > 1, p))
  grads = jax.tree.map(lambda p: 0.1 * p, params)
  opt = hr.rkl1(0.2, weight_decay=wd, mask=mask)
  updates, state = opt.update(grads, opt.init(params), params)
  decayed = {"w": grads["w"] + wd * params["w"], "b": grads["b"]}
  scale = hr.scale_by_hyperreg(0.2, divergence="rkl", algorithm=1)
  direction, expected_state = scale.update(decayed, scale.init(params))
  _leaves_close(updates, jax.tree.map(jnp.negative, direction), rtol=1e-6, atol=0)
  _leaves_close(_beta(state), expected_state.beta, rtol=1e-6, atol=0)


@pytest.mark.parametrize(
  "kwargs, match",
  [
    ({"weight_decay": -1e-4}, r"weight_decay must be a finite number >= 0, got -0\.0001"),
    ({"weight_decay": float("nan")}, r"weight_decay must be a finite number >= 0, got nan"),
    ({"weight_decay": float("inf")}, r"weight_decay must be a finite number >= 0, got inf"),
    ({"learning_rate": -0.5}, r"learning_rate must be a finite number >= 0, got -0\.5"),
    ({"learning_rate": float("nan")}, r"learning_rate must be a finite number >= 0"),
    ({"beta_dtype": jnp.int32}, r"beta_dtype must be None .* floating dtype"),
    ({"beta_dtype": "complex64"}, r"beta_dtype must be None .* floating dtype"),
  ],
)
def test_bad_optax_arguments_raise(kwargs, match):
  kl = functools.partial(hr.hyperreg, divergence="kl", algorithm=2)
  for factory in (kl, hr.kl2, hr.adagrad_diag, hr.wngrad):
    with pytest.raises(ValueError, match=match):
      factory(0.1, **kwargs)


# === beta in low precision ===================================================================


def _constant_gradient_betas(dtype, steps, g, init_lr, name="rkl1", **kwargs):
  """beta after each of ``steps`` steps of the constant gradient ``g`` (params in ``dtype``)."""
  opt = ALIASES[name](init_lr, weight_decay=0.0, **kwargs)
  params = jnp.zeros(2, dtype)
  grads = jnp.full((steps, 2), g, dtype)
  updates, betas = trajectory(opt, params, grads)
  assert updates.dtype == dtype  # updates keep the params' dtype
  return np.asarray(betas, np.float64).reshape(steps, -1)[:, 0]


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
@pytest.mark.parametrize("name", ["rkl1", "kl2", "hellinger3", "chi2_1", "adagrad_diag", "wngrad"])
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


@pytest.mark.parametrize("name", NAMES)
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
  assert all(b.dtype == jnp.float32 for b in jax.tree.leaves(_beta(state)))


def test_beta_dtype_option():
  params = {"w": jnp.ones(3, jnp.bfloat16)}
  for beta_dtype, expected in ((None, jnp.float32), (jnp.bfloat16, jnp.bfloat16)):
    state = hr.kl1(0.1, beta_dtype=beta_dtype).init(params)
    assert _beta(state)["w"].dtype == expected
  with jax.enable_x64(True):
    state = hr.kl1(0.1, beta_dtype=jnp.float64).init({"w": jnp.ones(3, jnp.float32)})
    assert _beta(state)["w"].dtype == jnp.float64
    state = hr.wngrad(0.1).init({"a": jnp.ones(2, jnp.float16), "b": jnp.ones(2, jnp.float64)})
    assert _beta(state).dtype == jnp.float64  # the global beta: the widest params' dtype


# === edge inputs =============================================================================


@pytest.mark.parametrize("name", ["kl2", "adagrad_diag", "wngrad"])
def test_complex_params_raise_at_init(name):
  with pytest.raises(ValueError, match=r"real floating-point.*\['z'\].*complex64"):
    ALIASES[name](0.1).init({"w": jnp.ones(3), "z": jnp.ones(2, jnp.complex64)})


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
  _leaves_close(updates["w"], expected["w"], rtol=1e-6, atol=0)  # empty leaves change nothing
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


@pytest.mark.parametrize("init_lr", [1e38, 1e-39, 1e-45])
def test_init_lr_whose_inverse_is_not_a_normal_float_raises_at_init(init_lr):
  opt = hr.rkl1(init_lr)
  with pytest.raises(ValueError, match=r"init_lr must give beta_0 = 1 / init_lr .* float32"):
    opt.init({"w": jnp.ones(2, jnp.bfloat16)})
  with jax.enable_x64(True):  # a wider beta holds it
    state = hr.rkl1(init_lr, beta_dtype=jnp.float64).init({"w": jnp.ones(2)})
    assert float(_beta(state)["w"][0]) == pytest.approx(1.0 / init_lr)


def test_a_traced_init_lr_never_gives_beta_zero_or_inf():
  init = jax.jit(lambda lr: hr.rkl1(lr).init({"w": jnp.ones(2)}))
  for init_lr in (1e38, 1e-45, 3e-39):
    beta = _beta(init(jnp.float32(init_lr)))["w"]
    assert bool(jnp.all(jnp.isfinite(beta) & (beta > 0))), init_lr


@pytest.mark.parametrize("iterations", [0, -1, 2.5, True])
def test_bad_solver_iterations_raise(iterations):
  with pytest.raises(
    ValueError, match=r"solver_iterations must be None \(automatic\) or an integer"
  ):
    hr.scale_by_hyperreg(
      1e-2,
      divergence=hr.Divergence.from_f(lambda u: (u - 1) ** 2, name="q"),
      algorithm=1,
      solver_iterations=iterations,
    )
  with pytest.raises(ValueError, match=r"solver_iterations"):
    hr.hyperreg(0.1, divergence="kl", algorithm=2, solver_iterations=iterations)


# === wiring: every public alias computes its own rule ===========================================

# Written out by hand (not derived from the aliases or the sweep's table), so a miswired
# alias cannot pass by agreeing with itself.


# === traps of an optax user ==================================================================


@pytest.mark.parametrize("name", NAMES)
def test_python_scalar_params_work_like_optax(name):
  """opt.init(1.0) and opt.update(1.0, state, 1.0) raised AttributeError; optax.adam takes them."""
  opt, adam = ALIASES[name](0.1), optax.adam(0.1)
  updates, state = opt.update(1.0, opt.init(1.0), 1.0)
  adam_updates, _ = adam.update(1.0, adam.init(1.0), 1.0)
  for u in (updates, adam_updates):  # 0-d arrays of the default float dtype
    assert isinstance(u, jax.Array) and u.shape == () and u.dtype == jnp.float32
  assert _beta(state).shape == () and _beta(state).dtype == jnp.float32
  expected, expected_state = opt.update(
    jnp.float32(1.0), opt.init(jnp.float32(1.0)), jnp.float32(1.0)
  )
  np.testing.assert_array_equal(updates, expected)
  np.testing.assert_array_equal(_beta(state), _beta(expected_state))
  params = optax.apply_updates(1.0, updates)
  assert float(params) < 1.0


@pytest.mark.parametrize("name", NAMES)
def test_a_bad_traced_init_lr_gives_nan_in_its_lane_only(name):
  """A negative, zero or NaN ILR in a vmapped grid gave huge finite steps (-4.25e37)."""
  params = _small_params()
  grads = jax.tree.map(lambda p: 2.0 * p + 0.5, params)
  lrs = jnp.array([0.1, -0.1, 0.0, jnp.nan, jnp.inf, 0.3], jnp.float32)
  bad = np.array([False, True, True, True, True, False])

  def step(init_lr):
    opt = ALIASES[name](init_lr)
    return opt.update(grads, opt.init(params), params)

  updates, state = jax.jit(jax.vmap(step))(lrs)
  for leaf in (*jax.tree.leaves(updates), *jax.tree.leaves(_beta(state))):
    leaf = np.asarray(leaf).reshape(lrs.size, -1)
    assert np.all(np.isnan(leaf[bad])) and np.all(np.isfinite(leaf[~bad]))
  for i in np.flatnonzero(~bad):  # the good lanes are the runs alone
    alone, _ = step(lrs[i])
    _leaves_close(jax.tree.map(lambda u: u[i], updates), alone, rtol=1e-6, atol=0)  # noqa: B023


def test_a_bad_traced_init_lr_gives_nan_also_during_warmup():
  params = jnp.ones(3)

  def step(init_lr):
    opt = hr.rkl1(init_lr, warmup_steps=2, warmup_lr=0.1)
    return opt.update(jnp.ones(3), opt.init(params), params)

  updates, _ = jax.jit(jax.vmap(step))(jnp.array([0.1, -1.0]))
  assert np.all(np.isfinite(updates[0])) and np.all(np.isnan(updates[1]))


@pytest.mark.parametrize("name", NAMES)
def test_decoupled_weight_decay_keeps_the_decay_out_of_beta(name):
  """decay="decoupled": beta sees the raw gradient, the step is lr (g + wd x) / beta."""
  params = _small_params()
  grads = _random_grads(3, SMALL_SHAPES, seed=12)
  wd, lr = 0.3, 0.5
  runs = {
    (decay, w): trajectory(
      ALIASES[name](0.4, learning_rate=lr, weight_decay=w, decay=decay), params, grads
    )
    for decay in ("coupled", "decoupled")
    for w in (0.0, wd)
  }
  # Decoupled: identical beta with and without the decay; coupled: the decay moves beta.
  _leaves_equal(runs["decoupled", wd][1], runs["decoupled", 0.0][1])
  _leaves_equal(runs["decoupled", 0.0][1], runs["coupled", 0.0][1])
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
    _leaves_close(jax.tree.map(lambda u, t=t: u[t], updates), expected, rtol=1e-5, atol=1e-7)
    p = jax.tree.map(lambda x, u, t=t: x + u[t], p, updates)


def test_decay_must_be_coupled_or_decoupled():
  for factory in (hr.kl1, hr.wngrad, functools.partial(hr.hyperreg, divergence="kl", algorithm=2)):
    with pytest.raises(
      ValueError, match=r"decay must be 'coupled' .* or 'decoupled' .*got 'adamw'"
    ):
      factory(0.1, decay="adamw")
