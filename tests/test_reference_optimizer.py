"""Tests of the independent NumPy reference's optimizer (``hyperreg_jax.reference``) against
docs/method.md: the beta it keeps, its step, warm-up, weight decay and granularities."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hyperreg_jax.reference import (
  DIVERGENCES,
  AdaGradNumpy,
  HyperRegNumpy,
  WNGradNumpy,
  adagrad_numpy,
  new_beta,
  tree_leaves,
  wngrad_numpy,
)

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
