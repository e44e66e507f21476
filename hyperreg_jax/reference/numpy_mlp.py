"""The MNIST MLP 784-500(sigmoid)-10(softmax) with a manual NumPy forward/backward pass.

A JAX-free reference in the spirit of the reproducibility study's NumPy code, with the
project's convention: the loss is the MEAN softmax cross-entropy over the batch (docs/method.md,
section 1; the reproducers summed, which shifts the initial-learning-rate axis by the
batch size).

Parameter layout (same nested layout and kernel orientation ``(in, out)`` as Flax linen
``Dense`` layers named ``"hidden"`` and ``"output"``)::

    {"hidden": {"kernel": (784, 500), "bias": (500,)},
     "output": {"kernel": (500, 10),  "bias": (10,)}}

Model: ``h = sigmoid(x @ Wh + bh)``, ``logits = h @ Wo + bo``.
Inputs are used as given (flattened to ``(N, 784)``; no rescaling is done here).
"""

from __future__ import annotations

import numpy as np

from hyperreg_jax.reference.optimizers import tree_map

__all__ = [
  "init_mlp_params",
  "forward",
  "loss_and_grads",
  "accuracy",
  "train_mlp",
  "SGDNumpy",
]


def init_mlp_params(seed: int = 0, dtype=np.float64, sizes=(784, 500, 10)) -> dict:
  """Initial parameters.

  Kernels: i.i.d. normal with standard deviation ``1 / sqrt(fan_in)`` (LeCun-normal
  variance, but an untruncated normal, drawn with ``np.random.default_rng(seed)``;
  hidden kernel first, then output kernel). Biases: zeros. Not bitwise equal to
  Flax's ``lecun_normal`` (which truncates and uses JAX's PRNG).
  """
  n_in, n_hidden, n_out = sizes
  rng = np.random.default_rng(seed)
  wh = rng.standard_normal((n_in, n_hidden)) / np.sqrt(n_in)
  wo = rng.standard_normal((n_hidden, n_out)) / np.sqrt(n_hidden)
  return {
    "hidden": {"kernel": wh.astype(dtype), "bias": np.zeros((n_hidden,), dtype=dtype)},
    "output": {"kernel": wo.astype(dtype), "bias": np.zeros((n_out,), dtype=dtype)},
  }


def _flatten(params, x):
  x = np.asarray(x)
  dtype = np.asarray(params["hidden"]["kernel"]).dtype
  return x.reshape(x.shape[0], -1).astype(dtype, copy=False)


def _sigmoid(z):
  # overflow-free logistic function
  return 0.5 * (1.0 + np.tanh(0.5 * z))


def _hidden(params, x):
  return _sigmoid(x @ params["hidden"]["kernel"] + params["hidden"]["bias"])


def forward(params, x) -> np.ndarray:
  """Logits ``(N, 10)``; ``x`` is ``(N, 784)`` or ``(N, 28, 28, 1)`` (flattened)."""
  x = _flatten(params, x)
  h = _hidden(params, x)
  return h @ params["output"]["kernel"] + params["output"]["bias"]


def _log_softmax(logits):
  m = np.max(logits, axis=1, keepdims=True)
  shifted = logits - m
  return shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))


def loss_and_grads(params, x, y):
  """Mean softmax cross-entropy over the batch and its gradient (same layout as params).

  ``y`` holds integer labels ``(N,)``. Stable log-sum-exp; manual backward pass:
  ``dlogits = (softmax - onehot) / N``, ``dWo = h^T dlogits``, ``dz = (dlogits Wo^T) h (1-h)``,
  ``dWh = x^T dz``; bias gradients are the column sums.
  """
  x = _flatten(params, x)
  y = np.asarray(y).astype(np.int64).reshape(-1)
  n = x.shape[0]
  wo = params["output"]["kernel"]
  h = _hidden(params, x)
  logits = h @ wo + params["output"]["bias"]
  logp = _log_softmax(logits)
  rows = np.arange(n)
  loss = -np.mean(logp[rows, y])

  dlogits = np.exp(logp)
  dlogits[rows, y] -= 1.0
  dlogits /= n
  d_wo = h.T @ dlogits
  d_bo = dlogits.sum(axis=0)
  dz = (dlogits @ wo.T) * h * (1.0 - h)
  d_wh = x.T @ dz
  d_bh = dz.sum(axis=0)
  grads = {
    "hidden": {"kernel": d_wh, "bias": d_bh},
    "output": {"kernel": d_wo, "bias": d_bo},
  }
  return float(loss), grads


def accuracy(params, x, y, batch_size: int = 10000) -> float:
  """Fraction of ``argmax(logits) == y`` (evaluated in chunks of ``batch_size``)."""
  y = np.asarray(y).reshape(-1)
  correct = 0
  for start in range(0, len(y), batch_size):
    logits = forward(params, np.asarray(x)[start : start + batch_size])
    correct += int(np.sum(np.argmax(logits, axis=1) == y[start : start + batch_size]))
  return correct / max(len(y), 1)


class SGDNumpy:
  """Plain SGD: ``x' = x - lr * (g + weight_decay * x)``. State is the step count."""

  def __init__(self, lr: float, weight_decay: float = 0.0):
    self.lr = float(lr)
    self.weight_decay = float(weight_decay)

  def init(self, params):
    return 0

  def step(self, params, grads, state):
    lr, wd = self.lr, self.weight_decay
    new = tree_map(
      lambda p, g: (np.asarray(p) - lr * (np.asarray(g) + wd * np.asarray(p))).astype(
        np.asarray(p).dtype, copy=False
      ),
      params,
      grads,
    )
    return new, state + 1


def train_mlp(
  params,
  x,
  y,
  optimizer,
  epochs: int,
  batch_size: int,
  seed: int = 0,
  x_test=None,
  y_test=None,
):
  """Plain NumPy mini-batch training loop.

  Each epoch draws ``np.random.default_rng(seed).permutation(N)`` (one generator for the
  whole run, created once from ``seed``), iterates over ``N // batch_size`` full batches
  (the last partial batch is dropped), and calls ``optimizer.step(params, grads, state)``
  (any object with ``init``/``step``: ``HyperRegNumpy``, ``SGDNumpy``, ...).

  Returns ``(params, history)`` with ``history["train_loss"]``: per-epoch mean of the
  batch losses (each measured before that batch's update), ``history["test_accuracy"]``:
  per-epoch test accuracy after the epoch (empty list when no test set is given), and
  ``history["state"]``: the final optimizer state.
  """
  x = np.asarray(x)
  x = x.reshape(x.shape[0], -1)
  y = np.asarray(y).reshape(-1)
  n = x.shape[0]
  n_batches = n // batch_size
  if n_batches == 0:
    raise ValueError(f"batch_size {batch_size} larger than the data set ({n})")
  rng = np.random.default_rng(seed)
  state = optimizer.init(params)
  history = {"train_loss": [], "test_accuracy": []}
  for _ in range(epochs):
    perm = rng.permutation(n)
    losses = []
    for i in range(n_batches):
      idx = perm[i * batch_size : (i + 1) * batch_size]
      loss, grads = loss_and_grads(params, x[idx], y[idx])
      losses.append(loss)
      params, state = optimizer.step(params, grads, state)
    history["train_loss"].append(float(np.mean(losses)))
    if x_test is not None and y_test is not None:
      history["test_accuracy"].append(accuracy(params, x_test, y_test))
  history["state"] = state
  return params, history
