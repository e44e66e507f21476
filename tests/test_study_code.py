"""The study's code re-stated literally (``experiments/study_code.py``): each point of what its
code did, pinned on a small case checked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from experiments import study_code

SIZES = (4, 3, 2)
PIXEL = 255 * 0.99 + 0.01  # the study's divisor, about 252.5


def tiny(n=8, seed=0):
  """A 4-3-2 network's study init and ``n`` examples (pixels in [0, 1], two classes)."""
  rng = np.random.default_rng(seed)
  params = study_code.init_params(seed, sizes=SIZES)
  return params, rng.uniform(0, 1, (n, 4)), rng.integers(0, 2, n)


def steps_of(rule, ilr, params, x, y, **kw):
  """Every step's (params, beta), recorded through ``on_step``."""
  seen = []
  if "batches" not in kw:  # in order, so that a test knows each step's batch
    size, epochs = kw.get("batch_size", 128), kw.get("epochs", 1)
    order = np.arange(len(x) // size * size).reshape(-1, size)
    kw["batches"] = np.stack([order] * epochs)
  record = study_code.train(
    rule,
    ilr,
    x,
    y,
    params=params,
    on_step=lambda step, p, b: seen.append((dict(p), dict(b))),
    **kw,
  )
  return record, seen


def manual_grads(params, x, y, wd):
  """The summed cross-entropy gradient of the sigmoid MLP, written out, plus ``wd W / n``."""
  n = len(x)
  a1 = 1 / (1 + np.exp(-(x @ params["W1"] + params["b1"])))
  z = a1 @ params["W2"] + params["b2"]
  p = np.exp(z - z.max(1, keepdims=True))
  p /= p.sum(1, keepdims=True)
  d2 = p - np.eye(z.shape[1])[y]
  d1 = d2 @ params["W2"].T * a1 * (1 - a1)
  return {
    "W1": x.T @ d1 + wd * params["W1"] / n,
    "b1": d1.sum(0),
    "W2": a1.T @ d2 + wd * params["W2"] / n,
    "b2": d2.sum(0),
  }


def test_init_is_standard_normal_weights_and_biases():
  literal = study_code.init_params(0, sizes=SIZES)
  rng = np.random.default_rng(0)
  assert np.array_equal(literal["W1"], rng.standard_normal((4, 3)))
  assert np.array_equal(literal["b1"], rng.standard_normal(3))
  lecun = study_code.init_params(0, sizes=SIZES, init="lecun")
  np.testing.assert_allclose(lecun["W1"], literal["W1"] / 2)
  assert not lecun["b1"].any() and not lecun["b2"].any()


def test_rules_are_unguarded_as_written():
  b, g = np.array([1.0, 1.0]), np.array([0.5, 2.0])
  rkl2 = study_code.new_beta("rkl2", b, g)
  assert rkl2[0] == pytest.approx(1 / 0.75) and rkl2[1] < 0  # g^2 > b^2: negative beta
  assert np.array_equal(study_code.new_beta("rkl3", b, g), rkl2)  # its RKL3 is its RKL2
  assert study_code.new_beta("h2", b, g)[0] == pytest.approx(1 / 0.75**2)
  assert study_code.new_beta("rkl1", b, g)[1] == pytest.approx((1 + math.sqrt(17)) / 2)
  assert study_code.new_beta("x2_2", b, g)[1] == pytest.approx(1 + 4 / 2)
  assert study_code.new_beta("kl2", b, g)[0] == pytest.approx(math.exp(0.25))
  assert np.isinf(study_code.new_beta("kl2", b, np.array([30.0])))[0]
  assert study_code.new_beta("gd", b, g) is b


def test_guarded_switch_gives_the_library_rule():
  b, g = np.array([1.0, 1.0]), np.array([0.5, 2.0])
  guarded = study_code.new_beta("rkl2", b, g, guarded=True)
  assert guarded[0] == pytest.approx(1 / 0.75)
  assert guarded[1] == pytest.approx((1 + math.sqrt(17)) / 2)  # the RKL1 root, finite
  assert study_code.new_beta("h2", b, g, guarded=True)[1] > 1


def test_pixels_are_divided_by_252_46_and_the_gradient_is_summed_with_l2_on_weights():
  params, x, y = tiny()
  _, seen = steps_of("gd", 0.5, params, x, y, epochs=1, batch_size=8, weight_decay=0.3)
  g = manual_grads(params, x * 255 / PIXEL, y, wd=0.3)
  for k in params:  # GD: beta 100 whatever the ILR
    np.testing.assert_allclose(seen[0][0][k], params[k] - g[k] / 100, rtol=1e-12)
    assert np.all(seen[0][1][k] == 100)


def test_reset_step_without_warm_up_is_a_plain_step_at_the_ilr():
  params, x, y = tiny()
  _, seen = steps_of("rkl1", 0.05, params, x, y, epochs=1, batch_size=4, weight_decay=0.0)
  g0 = manual_grads(params, _batch(x * 255 / PIXEL, 0), _batch(y, 0), 0.0)
  for k in params:  # step 0: beta = 1 / ILR, not adapted; the step is ILR * g
    assert np.all(seen[0][1][k] == 20.0)
    np.testing.assert_allclose(seen[0][0][k], params[k] - 0.05 * g0[k], rtol=1e-12)
  g1 = manual_grads(seen[0][0], _batch(x * 255 / PIXEL, 1), _batch(y, 1), 0.0)
  for k in params:  # step 1: the rule, from beta = 20
    np.testing.assert_allclose(seen[1][1][k], (20 + np.sqrt(400 + 4 * g1[k] ** 2)) / 2)


def _batch(a, i, size=4):
  return a[i * size : (i + 1) * size]


def test_warm_up_then_reset_step_then_the_rule():
  params, x, y = tiny(n=60)
  _, seen = steps_of("rkl1", 2.0, params, x, y, epochs=1, batch_size=1, weight_decay=0.0)
  for step in (0, 49):  # warm-up: beta 100, not adapted
    assert all(np.all(b == 100.0) for b in seen[step][1].values())
  before = seen[49][0]
  g = manual_grads(before, _batch(x * 255 / PIXEL, 50, 1), _batch(y, 50, 1), 0.0)
  for k in params:  # step 50: beta reset to 1 / ILR = 0.5, a plain step at ILR 2
    assert np.all(seen[50][1][k] == 0.5)
    np.testing.assert_allclose(seen[50][0][k], before[k] - 2.0 * g[k], rtol=1e-12)
  assert any(np.any(seen[51][1][k] > 0.5) for k in params)  # step 51 adapts


def test_switches_restore_adaptation_on_the_reset_step():
  params, x, y = tiny()
  _, seen = steps_of(
    "rkl1", 0.05, params, x, y, epochs=1, batch_size=4, weight_decay=0.0, reset_step=False
  )
  assert all(np.all(b > 20.0) for b in seen[0][1].values())


def test_warm_up_counter_never_resets_with_few_batches():
  rng = np.random.default_rng(0)
  x, y = rng.uniform(0, 1, (64, 784)), rng.integers(0, 10, 64)
  literal = study_code.train("rkl1", 1.0, x, y, epochs=1, batch_size=1)
  assert literal["reset"] is True  # 64 batches per epoch: the counter passes 50
  short = study_code.train("rkl1", 1.0, x[:40], y[:40], epochs=2, batch_size=1)
  assert short["reset"] is False  # 40 batches: 0..39, then 1000..1039, never 50
  steps = study_code.train(
    "rkl1", 1.0, x[:40], y[:40], epochs=2, batch_size=1, literal_counter=False
  )
  assert steps["reset"] is True


def test_reported_loss_is_the_whole_training_set_after_the_epoch_with_l2_on_weights():
  params, x, y = tiny(n=10)
  params = {k: v * 0.1 for k, v in params.items()}
  xs = x * 255 / PIXEL
  a1 = 1 / (1 + np.exp(-(xs @ params["W1"] + params["b1"])))
  z = a1 @ params["W2"] + params["b2"]
  ce = -np.mean(z[np.arange(10), y] - np.log(np.exp(z).sum(1)))
  l2 = 1e-4 * 0.5 * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2)) / 10
  reported, stable, _ = study_code.reported_loss(params, xs, y)
  assert reported == pytest.approx(ce + l2, rel=1e-12)
  assert stable == pytest.approx(reported, rel=1e-12)
  # In a run: after the epoch's last step, on every training image.
  record, seen = steps_of("gd", 1.0, params, x, y, epochs=2, batch_size=5)
  after = study_code.reported_loss(seen[1][0], xs, y)[0]
  assert record["history"][0]["train_loss"] == pytest.approx(after, rel=1e-12)
  assert record["final_loss"] == record["history"][1]["train_loss"]


def test_reported_loss_overflows_where_the_shifted_one_does_not():
  params = {k: np.zeros_like(v) for k, v in study_code.init_params(0, sizes=SIZES).items()}
  params["b2"] = np.array([800.0, 0.0])  # logit 800 > log(max float64) ~ 709
  _, _, unshifted, shifted = study_code.forward(params, np.zeros((1, 4)))
  assert not np.isfinite(unshifted).all() and np.isfinite(shifted).all()
  reported, stable, _ = study_code.reported_loss(params, np.zeros((1, 4)), np.array([1]))
  assert not np.isfinite(reported) and stable == pytest.approx(800.0)


def test_a_blown_up_run_says_what_broke_first_and_predicts_class_zero():
  params, x, y = tiny(n=16)
  params = {k: v * 3 for k, v in params.items()}
  record = study_code.train(
    "rkl2", 10.0, x, y, params=params, epochs=3, batch_size=4, warmup=False, x_test=x,
    y_test=y,
  )  # fmt: skip
  assert record["first_negative_beta"] >= 1  # step 0 is the reset step, then g^2 > b^2
  assert record["first_bad_beta"] <= record["first_bad_weights"]
  assert record["first_bad_weights"] >= 0 and record["steps"] < 12  # stopped once all NaN
  assert math.isnan(record["final_loss"])
  assert record["test_accuracy"] == pytest.approx(np.mean(y == 0))  # argmax(NaN) = 0
