"""Tests of the independent NumPy reference (``hyperreg_jax.reference``) against docs/method.md:
its divergences and beta rules (its optimizer: test_reference_optimizer.py; its MLP:
test_reference_mlp.py).

SciPy is used here (never in the package) as an independent solver: ``brentq`` on the
first-order conditions and ``scipy.special.lambertw``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.optimize
import scipy.special
from hypothesis import given, settings
from hypothesis import strategies as st

from hyperreg_jax.reference import (
  DIVERGENCES,
  divergence,
  divergence_grad,
  lambertw0,
  new_beta,
  raw_beta,
)

NO_FINITE_ROOT_ALG2 = ("rkl", "hellinger", "neyman_chi2")
EPS = np.finfo(np.float64).eps


# ---------------------------------------------------------------------------------------
# Divergences and Lambert W
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", DIVERGENCES)
def test_divergence_table(name):
  eta = np.array([0.3, 1.0, 7.0])[:, None]
  beta = eta * np.array([0.2, 0.7, 1.0, 1.3, 5.0])[None, :]
  d = divergence(name, beta, eta)
  assert np.all(d >= 0)
  np.testing.assert_allclose(divergence(name, eta, eta), 0.0, atol=1e-15)
  # dD/dbeta is the derivative of D (central differences)
  h = 1e-6 * beta
  fd = (divergence(name, beta + h, eta) - divergence(name, beta - h, eta)) / (2 * h)
  np.testing.assert_allclose(divergence_grad(name, beta, eta), fd, rtol=1e-7, atol=1e-8)
  # dD/dbeta >= 0 exactly when beta >= eta
  dd = divergence_grad(name, beta, eta)
  assert np.all((dd >= 0) == (beta >= eta))
  # phi-divergence form: D(beta, eta) = eta f(beta/eta) is 1-homogeneous
  np.testing.assert_allclose(
    divergence(name, 3.0 * beta, 3.0 * eta), 3.0 * d, rtol=1e-13, atol=1e-15
  )


def test_lambertw_against_scipy():
  z = np.concatenate(
    [[0.0, 5e-324, 1e-300], np.logspace(-300, 300, 2001), [math.e, math.e * (1 + 1e-15)]]
  )
  w = lambertw0(z)
  ref = scipy.special.lambertw(z).real
  np.testing.assert_allclose(w, ref, rtol=4 * EPS, atol=0)
  # defining equation, in log form where exp would overflow
  big = z > 1
  np.testing.assert_allclose(w[big] + np.log(w[big]), np.log(z[big]), rtol=4 * EPS)
  assert lambertw0(np.inf) == np.inf
  assert np.isnan(lambertw0(-1.0))


# ---------------------------------------------------------------------------------------
# Closed forms vs the FOC and vs brentq
# ---------------------------------------------------------------------------------------


def _foc_residual(name, algorithm, beta_new, b, g):
  """(lhs, rhs) of the FOC: Alg 1: dD(beta', b) = g^2/beta'^2; Alg 2: = g^2/b^2."""
  lhs = divergence_grad(name, beta_new, b)
  rhs = g**2 / beta_new**2 if algorithm == 1 else g**2 / b**2
  return lhs, rhs


def _brentq_root(name, algorithm, b, g):
  c = (g / b) ** 2
  if algorithm == 1:
    fun = lambda r: divergence_grad(name, r, 1.0) - c / r**2
  else:
    fun = lambda r: divergence_grad(name, r, 1.0) - c
  hi = 2.0
  while fun(hi) <= 0:
    hi *= 2.0
  r = scipy.optimize.brentq(fun, 1.0, hi, xtol=1e-300, rtol=4 * EPS, maxiter=2000)
  return b * r


Q_FOC = np.logspace(-2, 3, 41)  # g/b, c in [1e-4, 1e6]: relative FOC residual ~1e-10 is attainable
Q_BRENT = np.logspace(-6, 4, 31)
BS = (1e-3, 1.0, 37.5, 1e6)


@pytest.mark.parametrize("name", DIVERGENCES)
@pytest.mark.parametrize("algorithm", [1, 2])
def test_closed_forms_satisfy_foc(name, algorithm):
  for b in BS:
    q = Q_FOC
    if algorithm == 2 and name in NO_FINITE_ROOT_ALG2:
      q = q[q < 0.999]
    g = q * b
    beta_new = new_beta(name, algorithm, b, g, growth=None)
    if algorithm == 2 and name == "kl":
      keep = beta_new < np.finfo(np.float64).max  # b exp(c) representable
      beta_new, g = beta_new[keep], g[keep]
    assert np.all(beta_new >= b)
    lhs, rhs = _foc_residual(name, algorithm, beta_new, b, g)
    np.testing.assert_allclose(lhs, rhs, rtol=1e-10, atol=0)
    # unclipped raw solution is the same number
    np.testing.assert_allclose(raw_beta(name, algorithm, b, g), beta_new, rtol=0, atol=0)


@pytest.mark.parametrize("name", DIVERGENCES)
@pytest.mark.parametrize("algorithm", [1, 2])
def test_closed_forms_agree_with_brentq(name, algorithm):
  for b in (1e-3, 1.0, 1e6):
    for q in Q_BRENT:
      if algorithm == 2 and name in NO_FINITE_ROOT_ALG2 and q >= 0.999:
        continue
      if algorithm == 2 and name == "kl" and q > 20:
        continue  # b exp(q^2): brentq bracket search would overflow
      g = q * b
      ours = new_beta(name, algorithm, b, g, growth=None)
      ref = _brentq_root(name, algorithm, b, g)
      assert ours == pytest.approx(ref, rel=1e-12), (name, algorithm, b, q)


def test_named_closed_forms():
  b = 2.5
  g = np.array([0.1, 1.0, 2.0, 2.4])
  c = (g / b) ** 2
  np.testing.assert_allclose(
    new_beta("rkl", 1, b, g, None), (b + np.sqrt(b**2 + 4 * g**2)) / 2, rtol=1e-15
  )
  np.testing.assert_allclose(
    new_beta("neyman_chi2", 1, b, g, None), np.sqrt(b**2 + g**2), rtol=1e-15
  )
  np.testing.assert_allclose(new_beta("kl", 2, b, g, None), b * np.exp(c), rtol=1e-15)
  np.testing.assert_allclose(new_beta("rkl", 2, b, g, None), b / (1 - c), rtol=1e-14)
  np.testing.assert_allclose(new_beta("hellinger", 2, b, g, None), b / (1 - c) ** 2, rtol=1e-14)
  np.testing.assert_allclose(new_beta("chi2", 2, b, g, None), b + g**2 / (2 * b), rtol=1e-15)
  np.testing.assert_allclose(new_beta("neyman_chi2", 2, b, g, None), b / np.sqrt(1 - c), rtol=1e-14)
  # KL1 through the Lambert W of scipy: r = sqrt(z / W(z)), z = 2c
  z = 2 * c
  np.testing.assert_allclose(
    new_beta("kl", 1, b, g, None), b * np.sqrt(z / scipy.special.lambertw(z).real), rtol=1e-14
  )
  # H1 / X2_1 polynomial roots via numpy.roots (s^4 - s^3 - c, r^3 - r^2 - c/2)
  for gi, ci in zip(g, c):
    s = max(r.real for r in np.roots([1, -1, 0, 0, -ci]) if abs(r.imag) < 1e-12)
    assert new_beta("hellinger", 1, b, gi, None) == pytest.approx(b * s * s, rel=1e-12)
    r = max(r.real for r in np.roots([1, -1, 0, -ci / 2]) if abs(r.imag) < 1e-12)
    assert new_beta("chi2", 1, b, gi, None) == pytest.approx(b * r, rel=1e-12)


# ---------------------------------------------------------------------------------------
# c >= 1, clipping, edge cases
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NO_FINITE_ROOT_ALG2)
@pytest.mark.parametrize("algorithm", [2, 3])
def test_no_finite_root_returns_ceiling(name, algorithm):
  b = np.array([1e-3, 0.7, 1.0, 3.0, 1e6])[:, None]
  q = np.array([1.0, 1.0 + 1e-15, 1.5, 10.0, 1e3])[None, :]
  g = q * b
  assert np.isinf(raw_beta(name, algorithm, b, g)).all()
  for growth in (2.0, 1.25, 10.0):
    out = new_beta(name, algorithm, b, g, growth=growth)
    np.testing.assert_array_equal(out, np.broadcast_to(growth * b, out.shape))
  out = new_beta(name, algorithm, b, g, growth=None)
  np.testing.assert_allclose(out, new_beta(name, 1, b, g, growth=None), rtol=0)
  assert np.all(np.isfinite(out)) and np.all(out >= b)
  # just below c = 1 the clipped rule is already at the ceiling
  np.testing.assert_array_equal(new_beta(name, algorithm, b, 0.999999 * b), 2.0 * b)


def test_kl2_no_overflow():
  b = np.array([1e-3, 1.0, 1e6])
  g = np.array([1e6, 1e6, 1e6])
  with np.errstate(over="raise", divide="raise", invalid="raise"):
    np.testing.assert_array_equal(new_beta("kl", 2, b, g), 2 * b)
    out = new_beta("kl", 2, b, g, growth=None)
  assert np.all(np.isfinite(out))
  assert out[0] == np.finfo(np.float64).max and out[1] == np.finfo(np.float64).max
  assert out[2] == pytest.approx(1e6 * math.e)


@pytest.mark.parametrize("name", DIVERGENCES)
@pytest.mark.parametrize("algorithm", [1, 2, 3])
def test_zero_gradient_sign_and_broadcasting(name, algorithm):
  b = np.array([[1e-3], [1.0], [1e6]])
  g = np.array([0.0, 0.3, -0.3, 5.0])
  out = new_beta(name, algorithm, b, g)
  assert out.shape == (3, 4) and out.dtype == np.float64
  np.testing.assert_array_equal(out[:, 0], b[:, 0])
  np.testing.assert_array_equal(out[:, 1], out[:, 2])  # depends on |g| only
  for growth in (2.0, None):
    np.testing.assert_array_equal(
      new_beta(name, algorithm, b, 0.0, growth), np.broadcast_to(b, (3, 1))
    )
  assert np.ndim(new_beta(name, algorithm, 1.0, 0.5)) == 0
  with pytest.raises(ValueError):
    new_beta(name, 4, 1.0, 0.5)
  with pytest.raises(ValueError):
    new_beta(name, algorithm, 1.0, 0.5, growth=0.5)


def test_unknown_divergence():
  with pytest.raises(ValueError):
    new_beta("tv", 1, 1.0, 1.0)


@pytest.mark.parametrize("name", DIVERGENCES)
def test_nan_gradient_stays_local(name):
  b = np.ones(4)
  g = np.array([0.1, np.nan, 2.0, 0.0])
  for algorithm in (1, 2):
    out = new_beta(name, algorithm, b, g)
    assert np.isnan(out[1])
    assert np.all(np.isfinite(out[[0, 2, 3]]))
    np.testing.assert_array_equal(
      out[[0, 2, 3]], new_beta(name, algorithm, b[[0, 2, 3]], g[[0, 2, 3]])
    )


# ---------------------------------------------------------------------------------------
# Property tests (hypothesis)
# ---------------------------------------------------------------------------------------

grads_st = st.floats(min_value=0.0, max_value=1e6, allow_nan=False, allow_infinity=False)
betas_st = st.floats(min_value=1e-3, max_value=1e6, allow_nan=False, allow_infinity=False)
div_st = st.sampled_from(DIVERGENCES)
alg_st = st.sampled_from([1, 2, 3])
growth_st = st.sampled_from([2.0, 1.1, 10.0])


@settings(max_examples=400, deadline=None)
@given(div_st, alg_st, growth_st, betas_st, grads_st, grads_st)
def test_property_bounds_and_monotone(name, algorithm, growth, b, g1, g2):
  with np.errstate(over="raise", divide="raise", invalid="raise"):
    lo, hi = sorted((g1, g2))
    out_lo = new_beta(name, algorithm, b, lo, growth)
    out_hi = new_beta(name, algorithm, b, hi, growth)
    out_none = new_beta(name, algorithm, b, hi, None)
  for out in (out_lo, out_hi):
    assert np.isfinite(out)
    assert b <= out <= growth * b
  assert out_hi >= out_lo * (1 - 1e-13)
  assert np.isfinite(out_none) and out_none >= b


@settings(max_examples=400, deadline=None)
@given(div_st, alg_st, growth_st, betas_st, grads_st, st.floats(min_value=1e-3, max_value=1e3))
def test_property_homogeneous(name, algorithm, growth, b, g, s):
  out = new_beta(name, algorithm, b, g, growth)
  scaled = new_beta(name, algorithm, s * b, s * g, growth)
  assert scaled == pytest.approx(s * out, rel=1e-12)


@settings(max_examples=200, deadline=None)
@given(div_st, betas_st, grads_st, st.floats(min_value=1e-3, max_value=1e3))
def test_property_alg1_unclipped_homogeneous_and_foc(name, b, g, s):
  out = new_beta(name, 1, b, g, None)
  assert np.isfinite(out) and out >= b
  assert new_beta(name, 1, s * b, s * g, None) == pytest.approx(s * out, rel=1e-12)
