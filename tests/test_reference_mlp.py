"""Tests of the independent NumPy reference's MLP (``hyperreg_jax.reference``): its layout,
forward pass and loss (against SciPy), gradients (finite differences) and training loop."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special

from hyperreg_jax.reference import (
  HyperRegNumpy,
  SGDNumpy,
  accuracy,
  forward,
  init_mlp_params,
  loss_and_grads,
  train_mlp,
)

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
