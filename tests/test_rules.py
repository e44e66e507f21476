"""The beta-update rules: closed forms against solvers, FOCs, and their properties (the
divergences, custom ones and the generic solver: test_divergences.py)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize
import scipy.special
from hypothesis import given, settings
from hypothesis import strategies as st
from rule_helpers import C_GRID, NAMES, PAIRS, generic

from hyperreg_jax import divergences, rules

UNBOUNDED_2 = ("rkl", "hellinger", "neyman_chi2")  # Algorithm 2 has no root for c >= 1


def has_finite_root(name, alg, c):
  """Where the unclipped root is finite and below ~1e60 (KL2's exp(c) grows fast)."""
  if alg == 2 and name in UNBOUNDED_2:
    return c < 1
  return c < 138 if (alg, name) == (2, "kl") else np.ones_like(c, bool)


def foc_residual(name, alg, r, c):
  """Relative residual of the first-order condition, evaluated without cancellation."""
  slope = {  # f'(r) written around r = 1, without cancellation
    "kl": lambda log_r: log_r,
    "rkl": lambda log_r: -np.expm1(-log_r),
    "hellinger": lambda log_r: -np.expm1(-0.5 * log_r),
    "chi2": lambda log_r: 2 * np.expm1(log_r),
    "neyman_chi2": lambda log_r: -np.expm1(-2 * log_r),
  }[name](np.log(r))
  lhs = slope * r * r if alg == 1 else slope
  return np.abs(lhs - c) / c


@pytest.fixture(autouse=True)
def x64():
  with jax.enable_x64(True):
    yield


@pytest.mark.parametrize("name,alg", PAIRS)
def test_closed_form_solves_its_foc(name, alg):
  c = C_GRID[has_finite_root(name, alg, C_GRID)]
  r = np.asarray(rules.new_beta(name, alg, np.ones_like(c), np.sqrt(c), growth=None))
  assert r.dtype == np.float64
  saturated = r == np.finfo(np.float64).max  # KL2's exp(c) beyond the float range
  assert np.all(c[saturated] > 700)
  r, c = r[~saturated], c[~saturated]
  # r = 1 + O(c) is stored with absolute error ~eps, so the residual in c is ~eps / c.
  tolerance = 1e-10 + 8 * np.finfo(np.float64).eps / c
  np.testing.assert_array_less(foc_residual(name, alg, r, c), tolerance)


@pytest.mark.parametrize("name,alg", PAIRS)
@pytest.mark.parametrize("growth", [None, 2.0, 1.5])
@pytest.mark.slow
def test_closed_form_equals_generic_solver(name, alg, growth):
  c = C_GRID[has_finite_root(name, alg, C_GRID)] if growth is None else C_GRID
  b = np.geomspace(1e-3, 1e3, c.size)
  g = b * np.sqrt(c)
  rule = jax.jit(
    rules.new_beta, static_argnums=(0, 1), static_argnames=("growth", "solver_iterations")
  )
  closed = rule(name, alg, b, g, growth=growth)
  solved = rule(generic(name), alg, b, g, growth=growth)
  np.testing.assert_allclose(closed, solved, rtol=1e-11)


@pytest.mark.parametrize("name,alg", PAIRS)
def test_closed_form_equals_brentq(name, alg):
  div = divergences.BUILTIN[name]
  for c in C_GRID[has_finite_root(name, alg, C_GRID)][::8]:
    f = lambda r: float(rules.foc_lhs(div, alg, r, 1.0)) - c  # noqa: B023
    hi = 2.0
    while f(hi) < 0:
      hi *= 2
    root = scipy.optimize.brentq(f, 1.0, hi, xtol=1e-300, rtol=1e-15)
    assert float(rules.new_beta(name, alg, 1.0, np.sqrt(c), growth=None)) == pytest.approx(
      root, rel=1e-10
    )


def test_lambertw_matches_scipy():
  z = np.concatenate([[0.0, 1e-300, 1e-20], np.logspace(-8, 300, 400)])
  np.testing.assert_allclose(rules.lambertw(z), scipy.special.lambertw(z).real, rtol=1e-14)


def test_special_closed_forms():
  b, g = 1.5, 0.7
  c = (g / b) ** 2
  expected = {
    ("rkl", 1): (b + np.sqrt(b * b + 4 * g * g)) / 2,
    ("neyman_chi2", 1): np.sqrt(b * b + g * g),
    ("kl", 2): b * np.exp(c),
    ("rkl", 2): b / (1 - c),
    ("hellinger", 2): b / (1 - c) ** 2,
    ("chi2", 2): b + g * g / (2 * b),
    ("neyman_chi2", 2): b / np.sqrt(1 - c),
  }
  for (name, alg), value in expected.items():
    assert float(rules.new_beta(name, alg, b, g, growth=None)) == pytest.approx(value, rel=1e-14)


@pytest.mark.parametrize("name", UNBOUNDED_2)
def test_no_finite_root_gives_the_ceiling_or_the_exact_root(name):
  """c >= 1 in RKL2/H2/NX2_2: the clip ceiling, never a value below it (the reproducers' bug)."""
  b = np.array([2.0, 2.0, 2.0])
  g = b * np.sqrt([1.0, 1.5, 1e6])
  np.testing.assert_array_equal(rules.new_beta(name, 2, b, g, growth=2.0), 2 * b)
  np.testing.assert_array_equal(rules.new_beta(name, 2, b, g, growth=7.5), 7.5 * b)
  np.testing.assert_array_equal(
    rules.new_beta(name, 2, b, g, growth=None), rules.new_beta(name, 1, b, g, growth=None)
  )


@pytest.mark.parametrize("name,alg", PAIRS)
def test_extreme_inputs_stay_finite(name, alg):
  with jax.enable_x64(False):
    b = jnp.array([1e-30, 1e-3, 1.0, 1e30, 3e38], jnp.float32)
    g = jnp.array([1e30, 3e38, 0.0, 1e-30, 3e38], jnp.float32)
    for growth in (2.0, None):
      beta = rules.new_beta(name, alg, b, g, growth=growth)
      assert beta.dtype == jnp.float32
      assert bool(jnp.all(jnp.isfinite(beta))) and bool(jnp.all(beta >= b))
    assert float(rules.new_beta(name, alg, 1.0, 0.0)) == 1.0  # zero gradient: beta stays


# --- property tests ------------------------------------------------------------------------

GRADS = st.floats(0.0, 1e6)
BETAS = st.floats(1e-3, 1e6)


@functools.cache
def jitted_rule(name, alg, growth):
  return jax.jit(lambda b, g: rules.new_beta(name, alg, b, g, growth=growth))


@pytest.mark.parametrize("name,alg", PAIRS)
@settings(max_examples=60, deadline=None)
@given(b=BETAS, g1=GRADS, g2=GRADS, scale=st.floats(1e-3, 1e3))
def test_rule_properties(name, alg, b, g1, g2, scale):
  rule = jitted_rule(name, alg, 2.0)
  lo, hi = sorted((g1, g2))
  beta_lo, beta_hi = float(rule(b, lo)), float(rule(b, hi))
  assert np.isfinite(beta_lo) and np.isfinite(beta_hi)
  assert b <= beta_lo <= 2 * b * (1 + 1e-15)
  assert beta_lo <= beta_hi * (1 + 1e-14)  # monotone in |g|
  assert float(rule(b, -hi)) == beta_hi  # depends on g^2 only
  assert float(rule(scale * b, scale * hi)) == pytest.approx(scale * beta_hi, rel=1e-12)


@pytest.mark.parametrize("name,alg", PAIRS)
@settings(max_examples=40, deadline=None)
@given(b=BETAS, g=GRADS, scale=st.floats(1e-3, 1e3))
def test_unclipped_rule_properties(name, alg, b, g, scale):
  rule = jitted_rule(name, alg, None)
  beta = float(rule(b, g))
  assert np.isfinite(beta) and beta >= b
  if max(beta, scale * beta) >= np.finfo(np.float64).max:
    return  # saturated at the largest float (KL2's exp(c)): not homogeneous there
  assert float(rule(scale * b, scale * g)) == pytest.approx(scale * beta, rel=1e-10)


@pytest.mark.slow
@pytest.mark.parametrize("growth", [None, 2.0, 10.0])
def test_float32_agrees_with_float64(growth):
  """Clipped float32 KL1, H1 and X2_1 take the fitted start and one Newton step."""
  b = np.geomspace(1e-3, 1e6, 64)
  g = np.geomspace(1e-4, 1e6, 64)[::-1]
  for name, alg in PAIRS:
    exact = np.asarray(rules.new_beta(name, alg, b, g, growth=growth))
    with jax.enable_x64(False):
      single = np.asarray(
        jax.jit(lambda b, g: rules.new_beta(name, alg, b, g, growth=growth))(  # noqa: B023
          b.astype(np.float32), g.astype(np.float32)
        )
      )
    ok = exact < 1e37
    np.testing.assert_allclose(single[ok], exact[ok], rtol=2e-5, err_msg=f"{name}{alg}")


def test_fitted_inverse_is_float32_accurate():
  """KL1, H1, X2_1 in float32 at a concrete growth: the fitted inverse (a power series or a
  Chebyshev series, Newton steps or none) is within a few ulps of the float64 rule,
  for every c from 0 to past the clip."""
  from hyperreg_jax import _roots

  forms = set()
  for name in ("kl", "hellinger", "chi2"):
    for growth in (1.5, 2.0, 4.0, 10.0):
      fit = _roots.inverse_fit(divergences.BUILTIN[name], 1, growth)
      forms.add((fit.power, fit.steps > 0))
      ceiling = float(_roots.foc_lhs(divergences.BUILTIN[name], 1, growth, 1.0))
      g = np.sqrt(np.linspace(0.0, 1.2 * ceiling, 4001)).astype(np.float32)
      b = np.full_like(g, 1.0)
      exact = np.asarray(
        rules.new_beta(name, 1, b.astype(np.float64), g.astype(np.float64), growth)
      )
      with jax.enable_x64(False):
        single = np.asarray(
          jax.jit(functools.partial(rules.new_beta, name, 1, growth=growth))(b, g)
        )
      error = np.max(np.abs(single - exact) / exact)
      assert error <= 6e-7, f"{name}1 growth {growth}: {error:.2e}"
  assert forms == {(True, False), (True, True), (False, False), (False, True)}  # all four kinds


@pytest.mark.parametrize("growth", [2.0, 1.25, None])
@pytest.mark.slow
def test_matches_independent_numpy_reference(growth):
  from hyperreg_jax import reference

  rng = np.random.default_rng(0)
  b = 10 ** rng.uniform(-3, 6, 500)
  g = b * 10 ** rng.uniform(-6, 4, 500)
  g[:5] = 0.0
  for name, alg in PAIRS + [(name, 3) for name in NAMES]:
    expected = reference.new_beta(name, alg, b, g, growth=growth)
    got = np.asarray(jitted_rule(name, alg, growth)(b, g))
    ok = expected < 1e300  # both saturate where KL2's exp(c) overflows
    np.testing.assert_allclose(got[ok], expected[ok], rtol=1e-11, err_msg=f"{name}{alg}")
    np.testing.assert_array_equal(got[~ok] >= 1e300, True)


@pytest.mark.parametrize("alg", [1, 2])
@pytest.mark.parametrize("growth", [None, 2.0])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_gradient_gives_nan_beta_also_through_the_generic_solver(alg, growth, dtype):
  """NaN in, NaN out: the solver's bracket would otherwise return a finite ratio; the
  fitted inverse (float32, growth 2) and the closed forms agree."""
  with jax.enable_x64(dtype == np.float64):
    g = np.array([np.nan, 1.0, np.nan], dtype)
    b = np.array([2.0, 2.0, 1e-3], dtype)
    for divergence in (generic("rkl"), "hellinger", "kl"):
      beta = np.asarray(rules.new_beta(divergence, alg, b, g, growth=growth))
      assert np.isnan(beta[[0, 2]]).all() and np.isfinite(beta[1]), (divergence, beta)
