"""Synthetic data: linear regression with a known optimum, and CIFAR-shaped learnable images."""

from __future__ import annotations

import numpy as np

from hyperreg_jax._validate import check_int
from hyperreg_jax.data._contract import (
  CIFAR10_CLASSES,
  Dataset,
  check_seed,
)


def synthetic_linear_regression(
  num_train: int = 1000,
  num_test: int = 200,
  dim: int = 2,
  noise: float = 0.1,
  seed: int = 0,
) -> Dataset:
  """Linear regression ``y = x @ w_true + b_true + noise * eps`` with a known optimum.

  Scale: the reproducers regressed weight on height. Here features are already standardised,
  ``x ~ N(0, I_dim)`` (think z-scored heights), ``w_true ~ N(0, I)``, ``b_true ~ N(0, 1)``,
  ``eps ~ N(0, 1)``, so the loss Hessian is close to the identity and plain gradient descent
  with a learning rate of 0.1 to 1 converges in tens of steps.

  Loss convention: ``L(w, b) = 0.5 * mean((x @ w + b - y) ** 2)`` over the training set.
  ``info`` holds ``w_true`` ``(dim,)``, ``b_true``, the exact training-set minimiser
  ``w_opt``, ``b_opt`` (``np.linalg.lstsq`` on ``[x, 1]`` in float64, from the float32
  arrays returned), ``loss_opt = L(w_opt, b_opt)``, ``hessian_eigvals`` of ``L`` (ascending;
  GD is stable for ``lr < 2 / max``) and ``loss``, the convention as a string.

  Example::

      ds = synthetic_linear_regression(dim=1)
      w, b = ds.info["w_opt"], ds.info["b_opt"]
      0.5 * ((ds.x_train @ w + b - ds.y_train) ** 2).mean()   # == ds.info["loss_opt"]
  """
  num_train = check_int("num_train", num_train)
  num_test = check_int("num_test", num_test)
  dim = check_int("dim", dim)
  if isinstance(noise, bool) or not isinstance(noise, (int, float, np.integer, np.floating)):
    raise ValueError(f"noise={noise!r} must be a finite number >= 0")
  noise = float(noise)
  if not np.isfinite(noise) or noise < 0:
    raise ValueError(f"noise={noise!r} must be a finite number >= 0")
  check_seed(seed)
  rng = np.random.default_rng(seed)
  w_true = rng.standard_normal(dim)
  b_true = float(rng.standard_normal())

  def make(n):
    x = rng.standard_normal((n, dim)).astype(np.float32)
    y = (x.astype(np.float64) @ w_true + b_true + noise * rng.standard_normal(n)).astype(np.float32)
    return x, y

  x_train, y_train = make(num_train)
  x_test, y_test = make(num_test)
  design = np.concatenate([x_train.astype(np.float64), np.ones((num_train, 1))], axis=1)
  theta, *_ = np.linalg.lstsq(design, y_train.astype(np.float64), rcond=None)
  residual = design @ theta - y_train
  return Dataset.from_splits(
    "linear_regression",
    (x_train, y_train),
    (x_test, y_test),
    num_classes=None,
    info={
      "source": "synthetic",
      "seed": seed,
      "noise": noise,
      "w_true": w_true,
      "b_true": b_true,
      "w_opt": theta[:dim],
      "b_opt": float(theta[dim]),
      "loss_opt": float(0.5 * np.mean(residual**2)),
      "hessian_eigvals": np.linalg.eigvalsh(design.T @ design / num_train),
      "loss": "0.5 * mean((x @ w + b - y) ** 2)",
    },
  )


def synthetic_cifar10(num_train: int = 256, num_test: int = 64, seed: int = 0) -> Dataset:
  """CIFAR-shaped random images for smoke runs: ``float32 (N, 32, 32, 3)`` in ``[0, 1]``.

  Learnable on purpose: each class has its own mean colour (a fixed palette, the same for
  every seed) plus a class-dependent horizontal/vertical gradient, under pixel noise, so a
  loss should fall within a few steps. Labels are balanced (``arange(N) % 10``, shuffled).

  Example::

      ds = synthetic_cifar10(num_train=128, num_test=32, seed=1)
  """
  num_train = check_int("num_train", num_train)
  num_test = check_int("num_test", num_test)
  check_seed(seed)
  palette = np.random.default_rng(10).uniform(0.2, 0.8, size=(10, 3))  # fixed across seeds
  ramp = np.linspace(-0.5, 0.5, 32)
  patterns = np.stack(
    [
      np.broadcast_to(ramp[None, :, None] if c % 2 else ramp[:, None, None], (32, 32, 1))
      * (0.1 + 0.02 * c)
      for c in range(10)
    ]
  )
  rng = np.random.default_rng(seed)

  def make(n):
    labels = rng.permutation(np.arange(n) % 10).astype(np.int32)
    images = (
      palette[labels][:, None, None, :]
      + patterns[labels]
      + 0.15 * rng.standard_normal((n, 32, 32, 3))
    )
    return np.clip(images, 0.0, 1.0).astype(np.float32), labels

  x_train, y_train = make(num_train)
  x_test, y_test = make(num_test)
  return Dataset.from_splits(
    "cifar10",
    (x_train, y_train),
    (x_test, y_test),
    info={
      "source": "synthetic",
      "seed": seed,
      "description": "random images with a class-dependent mean colour and gradient",
      "class_names": CIFAR10_CLASSES,
    },
  )
