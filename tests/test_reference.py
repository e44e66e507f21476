"""Tests of the independent NumPy reference (``hyperreg_jax.reference``) against docs/method.md.

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
  AdaGradNumpy,
  HyperRegNumpy,
  SGDNumpy,
  WNGradNumpy,
  accuracy,
  adagrad_numpy,
  divergence,
  divergence_grad,
  forward,
  init_mlp_params,
  lambertw0,
  loss_and_grads,
  new_beta,
  raw_beta,
  train_mlp,
  tree_leaves,
  wngrad_numpy,
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
    fun = lambda r: divergence_grad(name, r, 1.0) - c / r**2  # noqa: E731
  else:
    fun = lambda r: divergence_grad(name, r, 1.0) - c  # noqa: E731
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


# ---------------------------------------------------------------------------------------
# The optimizer
# ---------------------------------------------------------------------------------------


def _tree(rng, scale=1.0):
  return {
    "a": {"w": scale * rng.standard_normal((3, 4)), "b": scale * rng.standard_normal(4)},
    "c": scale * rng.standard_normal(5),
  }


def _leaves(t):
  return [t["a"]["b"], t["a"]["w"], t["c"]]


def _grads_seq(seed=0, n=6, scale=1.0):
  rng = np.random.default_rng(seed)
  return [_tree(rng, scale) for _ in range(n)]


def test_init_state():
  params = _tree(np.random.default_rng(0))
  for gran in ("coordinate", "tensor", "global"):
    st_ = HyperRegNumpy(init_lr=0.25, granularity=gran).init(params)
    assert st_.count == 0
    if gran == "coordinate":
      assert st_.beta["a"]["w"].shape == (3, 4)
      assert np.all(st_.beta["a"]["w"] == 4.0)
    elif gran == "tensor":
      assert np.shape(st_.beta["c"]) == () and st_.beta["c"] == 4.0
    else:
      assert np.shape(st_.beta) == () and st_.beta == 4.0


def test_neyman_alg1_is_adagrad():
  params0 = _tree(np.random.default_rng(1))
  grads = _grads_seq(2, n=10, scale=3.0)
  opt = HyperRegNumpy("neyman_chi2", 1, init_lr=0.5, growth=None)
  state = opt.init(params0)
  params = params0
  for g in grads:
    params, state = opt.step(params, g, state)
  ref_params, ref_beta = adagrad_numpy(params0, grads, init_lr=0.5)
  for x, y in zip(_leaves(params), _leaves(ref_params)):
    np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-14)
  for x, y in zip(_leaves(state.beta), _leaves(ref_beta)):
    np.testing.assert_allclose(x, y, rtol=1e-13)
  # AdaGradNumpy's explicit formula beta^2 = beta0^2 + sum g^2
  np.testing.assert_allclose(
    ref_beta["c"], np.sqrt(4.0 + sum(g["c"] ** 2 for g in grads)), rtol=1e-14
  )
  assert isinstance(AdaGradNumpy(0.5).init(params0).beta, dict)


def test_global_chi2_alg2_and_wngrad():
  """docs/method.md, section 5: global chi2 + Alg 2 has increment ||g||^2/(2b), i.e. half WNGrad's.

  Checkable statement: fed the gradients sqrt(2) g_t (growth off), its beta sequence equals
  WNGrad's on g_t, and (fixed gradient sequence) its displacement is sqrt(2) times WNGrad's.
  """
  params0 = _tree(np.random.default_rng(3))
  grads = _grads_seq(4, n=8)
  init_lr = 0.3
  opt = HyperRegNumpy("chi2", 2, init_lr=init_lr, growth=None, granularity="global")
  # one step: the increment
  _, s1 = opt.step(params0, grads[0], opt.init(params0))
  sq = sum(np.sum(x**2) for x in _leaves(grads[0]))
  b0 = 1 / init_lr
  assert float(s1.beta) == pytest.approx(b0 + sq / (2 * b0), rel=1e-15)

  r2 = math.sqrt(2.0)
  state, params = opt.init(params0), params0
  wn = WNGradNumpy(init_lr)
  wstate, wparams = wn.init(params0), params0
  for g in grads:
    params, state = opt.step(
      params,
      {
        k: (v * r2 if not isinstance(v, dict) else {kk: vv * r2 for kk, vv in v.items()})
        for k, v in g.items()
      },
      state,
    )
    wparams, wstate = wn.step(wparams, g, wstate)
    assert float(state.beta) == pytest.approx(float(wstate.beta), rel=1e-13)
  for x, y, x0 in zip(_leaves(params), _leaves(wparams), _leaves(params0)):
    np.testing.assert_allclose(x - x0, r2 * (y - x0), rtol=1e-12, atol=1e-14)
  # the functional form agrees with the class
  fp, fb = wngrad_numpy(params0, grads, init_lr)
  assert fb == pytest.approx(float(wstate.beta), rel=1e-15)
  np.testing.assert_allclose(fp["c"], wparams["c"], rtol=1e-15)


def test_wngrad_by_hand():
  x0 = {"w": np.array([1.0, -2.0])}
  g1, g2 = {"w": np.array([3.0, 4.0])}, {"w": np.array([0.0, 1.0])}
  b0 = 2.0
  b1 = b0 + 25.0 / b0
  b2 = b1 + 1.0 / b1
  x, b = wngrad_numpy(x0, [g1, g2], init_lr=1 / b0)
  np.testing.assert_allclose(x["w"], x0["w"] - g1["w"] / b1 - g2["w"] / b2, rtol=1e-15)
  assert b == pytest.approx(b2, rel=1e-15)


@pytest.mark.parametrize("name", DIVERGENCES)
@pytest.mark.parametrize("algorithm", [1, 2])
def test_step_uses_new_beta(name, algorithm):
  params = _tree(np.random.default_rng(5))
  g = _grads_seq(6, n=1, scale=20.0)[0]
  opt = HyperRegNumpy(name, algorithm, init_lr=0.1)
  new_params, state = opt.step(params, g, opt.init(params))
  for p, gg, bb, pn in zip(_leaves(params), _leaves(g), _leaves(state.beta), _leaves(new_params)):
    np.testing.assert_array_equal(bb, new_beta(name, algorithm, 10.0, gg))
    np.testing.assert_allclose(pn, p - gg / bb, rtol=1e-15)
  assert state.count == 1


@pytest.mark.parametrize("name", DIVERGENCES)
def test_algorithm3_uses_old_beta(name):
  params0 = _tree(np.random.default_rng(7))
  grads = _grads_seq(8, n=3, scale=5.0)
  opt3 = HyperRegNumpy(name, 3, init_lr=0.2)
  s = opt3.init(params0)
  p = params0
  beta = {k: v for k, v in s.beta.items()}
  for g in grads:
    p_new, s = opt3.step(p, g, s)
    for x, gg, bold, xn in zip(_leaves(p), _leaves(g), _leaves(beta), _leaves(p_new)):
      np.testing.assert_allclose(xn, x - gg / bold, rtol=1e-15)
    for bold, gg, bn in zip(_leaves(beta), _leaves(g), _leaves(s.beta)):
      np.testing.assert_array_equal(bn, new_beta(name, 2, bold, gg))
    beta, p = s.beta, p_new
  # first step differs from algorithm 2 (which uses the new beta) but the betas agree
  opt2 = HyperRegNumpy(name, 2, init_lr=0.2)
  p2, s2 = opt2.step(params0, grads[0], opt2.init(params0))
  p3, s3 = opt3.step(params0, grads[0], opt3.init(params0))
  np.testing.assert_array_equal(s2.beta["c"], s3.beta["c"])
  np.testing.assert_allclose(
    p3["c"], params0["c"] - 0.2 * grads[0]["c"], rtol=1e-15
  )  # x - g / (1/init_lr)


def test_warmup():
  params0 = _tree(np.random.default_rng(9))
  grads = _grads_seq(10, n=6, scale=2.0)
  opt = HyperRegNumpy("rkl", 1, init_lr=0.5, warmup_steps=3, warmup_lr=0.01)
  state, params = opt.init(params0), params0
  for t in range(3):
    new_params, state = opt.step(params, grads[t], state)
    np.testing.assert_allclose(new_params["c"], params["c"] - 0.01 * grads[t]["c"], rtol=1e-15)
    np.testing.assert_array_equal(state.beta["c"], 2.0)
    params = new_params
  assert state.count == 3
  # a tampered beta is reset to 1/init_lr when the rule starts
  state = state._replace(
    beta={"a": {"w": np.full((3, 4), 99.0), "b": np.full(4, 99.0)}, "c": np.full(5, 99.0)}
  )
  fresh = HyperRegNumpy("rkl", 1, init_lr=0.5)
  p_ref, s_ref = fresh.step(params, grads[3], fresh.init(params))
  p_w, s_w = opt.step(params, grads[3], state)
  np.testing.assert_array_equal(p_w["c"], p_ref["c"])
  np.testing.assert_array_equal(s_w.beta["a"]["w"], s_ref.beta["a"]["w"])
  # afterwards it just continues
  p_ref2, _ = fresh.step(p_ref, grads[4], s_ref)
  p_w2, s_w2 = opt.step(p_w, grads[4], s_w)
  np.testing.assert_array_equal(p_w2["c"], p_ref2["c"])
  assert s_w2.count == 5
  # warmup_lr=None means init_lr
  optn = HyperRegNumpy("rkl", 1, init_lr=0.5, warmup_steps=1)
  pn, _ = optn.step(params0, grads[0], optn.init(params0))
  np.testing.assert_allclose(pn["c"], params0["c"] - 0.5 * grads[0]["c"], rtol=1e-15)


def test_weight_decay_enters_beta():
  params = _tree(np.random.default_rng(11))
  g = _grads_seq(12, n=1)[0]
  wd = 0.3
  decayed = {
    "a": {"w": g["a"]["w"] + wd * params["a"]["w"], "b": g["a"]["b"] + wd * params["a"]["b"]},
    "c": g["c"] + wd * params["c"],
  }
  for gran in ("coordinate", "tensor", "global"):
    o1 = HyperRegNumpy("hellinger", 2, init_lr=0.1, weight_decay=wd, granularity=gran)
    o0 = HyperRegNumpy("hellinger", 2, init_lr=0.1, granularity=gran)
    p1, s1 = o1.step(params, g, o1.init(params))
    p0, s0 = o0.step(params, decayed, o0.init(params))
    for x, y in zip(_leaves(p1), _leaves(p0)):
      np.testing.assert_allclose(x, y, rtol=1e-15)


def test_granularities():
  params = _tree(np.random.default_rng(13))
  g = _grads_seq(14, n=1, scale=10.0)[0]
  b0 = 1 / 0.05
  # tensor: one beta per leaf from the leaf's mean square
  opt = HyperRegNumpy("kl", 1, init_lr=0.05, granularity="tensor")
  p, s = opt.step(params, g, opt.init(params))
  for x, gg, bb, xn in zip(_leaves(params), _leaves(g), _leaves(s.beta), _leaves(p)):
    assert np.shape(bb) == ()
    assert bb == new_beta("kl", 1, b0, np.sqrt(np.mean(gg**2)))
    np.testing.assert_allclose(xn, x - gg / bb, rtol=1e-15)
  # global: one beta from the global norm
  opt = HyperRegNumpy("rkl", 2, init_lr=0.05, granularity="global", growth=None)
  p, s = opt.step(params, g, opt.init(params))
  gnorm = math.sqrt(sum(np.sum(x**2) for x in _leaves(g)))
  assert np.shape(s.beta) == ()
  assert float(s.beta) == pytest.approx(float(new_beta("rkl", 2, b0, gnorm, None)), rel=1e-15)
  for x, gg, xn in zip(_leaves(params), _leaves(g), _leaves(p)):
    np.testing.assert_allclose(xn, x - gg / s.beta, rtol=1e-15)
  with pytest.raises(ValueError):
    HyperRegNumpy(granularity="layer")


@pytest.mark.parametrize("gran", ["coordinate", "tensor", "global"])
def test_zero_gradient_and_dtype(gran):
  params = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "v": np.ones(2, np.float32)}
  zeros = {"w": np.zeros((2, 3), np.float32), "v": np.zeros(2, np.float32)}
  opt = HyperRegNumpy("chi2", 1, init_lr=0.1, granularity=gran)
  s0 = opt.init(params)
  p, s = opt.step(params, zeros, s0)
  assert p["w"].dtype == np.float32
  np.testing.assert_array_equal(p["w"], params["w"])
  for a, b in zip(tree_leaves(s.beta), tree_leaves(s0.beta)):
    np.testing.assert_array_equal(a, b)
  assert s.count == 1


def test_nan_gradient_does_not_spread_per_coordinate():
  params = {"w": np.zeros(4)}
  g = {"w": np.array([1.0, np.nan, 2.0, 0.5])}
  opt = HyperRegNumpy("rkl", 1, init_lr=0.1)
  p, s = opt.step(params, g, opt.init(params))
  assert np.isnan(s.beta["w"][1]) and np.isnan(p["w"][1])
  assert np.all(np.isfinite(s.beta["w"][[0, 2, 3]])) and np.all(np.isfinite(p["w"][[0, 2, 3]]))


# ---------------------------------------------------------------------------------------
# The NumPy MLP
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mlp_batch():
  rng = np.random.default_rng(0)
  x = rng.random((16, 784))
  y = rng.integers(0, 10, 16)
  return x, y


def test_mlp_layout_and_forward(mlp_batch):
  x, y = mlp_batch
  p = init_mlp_params(seed=0)
  assert p["hidden"]["kernel"].shape == (784, 500) and p["hidden"]["bias"].shape == (500,)
  assert p["output"]["kernel"].shape == (500, 10) and p["output"]["bias"].shape == (10,)
  assert p["hidden"]["kernel"].dtype == np.float64
  assert np.all(p["hidden"]["bias"] == 0) and np.all(p["output"]["bias"] == 0)
  assert p["hidden"]["kernel"].std() == pytest.approx(1 / math.sqrt(784), rel=0.02)
  assert init_mlp_params(seed=0, dtype=np.float32)["output"]["kernel"].dtype == np.float32
  logits = forward(p, x)
  assert logits.shape == (16, 10)
  np.testing.assert_array_equal(forward(p, x.reshape(16, 28, 28, 1)), logits)
  loss, _ = loss_and_grads(p, x.reshape(16, 28, 28, 1), y)
  ref = -np.mean(scipy.special.log_softmax(logits, axis=1)[np.arange(16), y])
  assert loss == pytest.approx(ref, rel=1e-13)
  assert accuracy(p, x, y) == pytest.approx(np.mean(np.argmax(logits, 1) == y))
  # stable for huge logits
  big = {k: dict(v) for k, v in p.items()}
  big["output"] = {"kernel": p["output"]["kernel"] * 1e4, "bias": p["output"]["bias"]}
  with np.errstate(over="raise", divide="raise", invalid="raise"):
    lb, gb = loss_and_grads(big, x, y)
  assert np.isfinite(lb) and all(np.all(np.isfinite(v)) for d in gb.values() for v in d.values())


@pytest.mark.slow
def test_mlp_gradients_finite_differences(mlp_batch):
  x, y = mlp_batch
  p = init_mlp_params(seed=1)
  rng = np.random.default_rng(2)
  p["hidden"]["bias"] = 0.1 * rng.standard_normal(500)
  p["output"]["bias"] = 0.1 * rng.standard_normal(10)
  _, grads = loss_and_grads(p, x, y)
  h = 1e-3  # five-point stencil: truncation O(h^4), rounding O(eps / h)
  for layer in ("hidden", "output"):
    for name in ("kernel", "bias"):
      arr = p[layer][name]
      for _ in range(6):
        idx = tuple(rng.integers(0, n) for n in arr.shape)
        old = arr[idx]
        vals = []
        for k in (-2, -1, 1, 2):
          arr[idx] = old + k * h
          vals.append(loss_and_grads(p, x, y)[0])
        arr[idx] = old
        fd = (vals[0] - 8 * vals[1] + 8 * vals[2] - vals[3]) / (12 * h)
        gi = grads[layer][name][idx]
        assert abs(fd - gi) <= 1e-7 * abs(gi) + 1e-12, (layer, name, idx, fd, gi)


@pytest.mark.slow
def test_train_mlp_lowers_loss():
  rng = np.random.default_rng(3)
  x = rng.random((256, 784))
  teacher = rng.standard_normal((784, 10))
  y = np.argmax((x - 0.5) @ teacher, axis=1)
  p0 = init_mlp_params(seed=0)
  for opt in (SGDNumpy(0.5), HyperRegNumpy("rkl", 1, init_lr=0.5, weight_decay=1e-4)):
    p, hist = train_mlp(p0, x, y, opt, epochs=4, batch_size=32, seed=0, x_test=x, y_test=y)
    assert len(hist["train_loss"]) == 4 and len(hist["test_accuracy"]) == 4
    assert hist["train_loss"][-1] < hist["train_loss"][0]
    assert loss_and_grads(p, x, y)[0] < loss_and_grads(p0, x, y)[0]
    # deterministic given the seed; params not modified in place
    p_again, hist_again = train_mlp(p0, x, y, opt, epochs=4, batch_size=32, seed=0)
    assert hist_again["train_loss"] == hist["train_loss"]
    assert hist_again["test_accuracy"] == []
    np.testing.assert_array_equal(p_again["output"]["kernel"], p["output"]["kernel"])
  np.testing.assert_array_equal(p0["hidden"]["bias"], 0.0)
  with pytest.raises(ValueError):
    train_mlp(p0, x[:10], y[:10], SGDNumpy(0.1), epochs=1, batch_size=32)
