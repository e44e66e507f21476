"""Flax (linen) models of the paper's three workloads.

* :class:`MLP`: 784-500-10 with a sigmoid hidden layer (MNIST).
* :class:`VGG16BN`: VGG-16 with batch norm, CIFAR-10 sized (32x32x3 inputs).
* :class:`LinearRegression`: one dense layer.

Every model is called as ``model.apply(variables, x, train=...)``; ``train`` only matters
for batch norm (``VGG16BN``), the other models accept and ignore it so the training engine
(:mod:`hyperreg_jax.train`) can treat all models alike. Models return logits (classification)
or predictions (regression); losses live in the engine.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

__all__ = ["MLP", "VGG16BN", "LinearRegression", "VGG16_STAGE_WIDTHS"]

#: The channel widths of VGG-16's five stages (2, 2, 3, 3, 3 convolutions, then a 2x2 max-pool).
VGG16_STAGE_WIDTHS = (64, 128, 256, 512, 512)
_VGG16_STAGE_DEPTHS = (2, 2, 3, 3, 3)


class MLP(nn.Module):
  """The paper's MNIST network: flatten, ``Dense(500)``, sigmoid, ``Dense(10)`` -> logits.

  397,510 parameters for 28x28 inputs. Initialisation: Flax's defaults (LeCun-normal
  kernels, zero biases) or, with ``init_std``, every weight and bias drawn from
  ``normal(0, init_std)``; ``init_std=1.0`` is the study's code (NumPy's ``randn``, no
  fan-in scaling), which starts with saturated sigmoids. The parameter tree
  ``{"params": {"hidden": {"kernel", "bias"}, "output": {"kernel", "bias"}}}`` has the same
  layout (and kernel orientation ``(in, out)``) as the NumPy reference
  (:mod:`hyperreg_jax.reference.numpy_mlp`), so weights move between the two unchanged.
  ``param_dtype`` is the weights' dtype (Flax's ``float32`` by default); with
  ``jax_enable_x64`` on, ``param_dtype=jnp.float64`` and float64 inputs compute in float64
  (the study's NumPy code).

  Example:
      >>> import jax, jax.numpy as jnp
      >>> model = MLP()
      >>> variables = model.init(jax.random.key(0), jnp.zeros((1, 28, 28, 1)))
      >>> model.apply(variables, jnp.zeros((4, 28, 28, 1))).shape
      (4, 10)
      >>> study = MLP(init_std=1.0).init(jax.random.key(0), jnp.zeros((1, 784)))
      >>> round(float(study["params"]["hidden"]["bias"].std()), 1)
      1.0
  """

  hidden: int = 500
  num_classes: int = 10
  init_std: float | None = None
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool = False) -> jnp.ndarray:
    del train  # no train-mode behaviour
    if self.init_std is None:
      inits = {}  # Flax's defaults
    else:
      inits = dict(kernel_init=nn.initializers.normal(self.init_std))
      inits["bias_init"] = inits["kernel_init"]
    x = x.reshape((x.shape[0], -1))
    inits["param_dtype"] = self.param_dtype
    x = nn.sigmoid(nn.Dense(self.hidden, name="hidden", **inits)(x))
    return nn.Dense(self.num_classes, name="output", **inits)(x)


class VGG16BN(nn.Module):
  """VGG-16 with batch norm for 32x32 images (CIFAR-10).

  Features: 13 convolutions 3x3 (``padding="SAME"``) in five stages
  ``[64, 64, M, 128, 128, M, 256, 256, 256, M, 512, 512, 512, M, 512, 512, 512, M]``, each
  followed by ``BatchNorm(momentum=0.9, epsilon=1e-5)`` (PyTorch's momentum 0.1, eps 1e-5)
  and ReLU; ``M`` is a 2x2 max-pool, so a 32x32 input ends as 1x1x512.

  Classifier (``classifier=``):

  * ``"mlp"`` (default): three fully connected layers 512-512-10 with ReLU, the classifier of
    the common CIFAR port ``chengyangfu/pytorch-vgg-cifar10`` that the reproducers describe
    ("three fully connected layers").
  * ``"linear"``: a single ``Dense(num_classes)`` on the 512 features, as in many other CIFAR
    VGG ports.

  Differences from the PyTorch port, on purpose:

  * **No dropout.** The port puts dropout before the two hidden dense layers. Leaving it out
    makes a training step a deterministic function of (params, batch), which the engine's
    vmapped-vs-looped and sweep equality tests rely on, and keeps the model call free of an
    RNG stream; batch norm already regularises the network.
  * Batch norm normalises with the biased batch variance and keeps a biased running variance
    (Flax); PyTorch stores the unbiased one. Dense layers use Flax's default (LeCun normal)
    initialisation; convolutions use He normal with fan-out, as the port does
    (``normal(0, sqrt(2 / (3 * 3 * out_channels)))``), biases zero.

  Call as ``model.apply(variables, x, train=True, mutable=["batch_stats"])`` to train (batch
  statistics, running averages updated) and ``model.apply(variables, x, train=False)`` to
  evaluate (running averages).
  """

  num_classes: int = 10
  classifier: str = "mlp"
  hidden_features: int = 512

  def _check(self) -> None:
    if self.classifier not in ("mlp", "linear"):
      raise ValueError(
        f"classifier={self.classifier!r} is not supported; use 'mlp' (512-512-10) "
        "or 'linear' (one dense layer)."
      )

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool = False) -> jnp.ndarray:
    self._check()
    conv_init = nn.initializers.variance_scaling(2.0, "fan_out", "normal")
    for width, depth in zip(VGG16_STAGE_WIDTHS, _VGG16_STAGE_DEPTHS):
      for _ in range(depth):
        x = nn.Conv(width, (3, 3), padding="SAME", kernel_init=conv_init)(x)
        x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5)(x)
        x = nn.relu(x)
      x = nn.max_pool(x, (2, 2), strides=(2, 2))
    x = x.reshape((x.shape[0], -1))
    if self.classifier == "mlp":
      x = nn.relu(nn.Dense(self.hidden_features)(x))
      x = nn.relu(nn.Dense(self.hidden_features)(x))
    return nn.Dense(self.num_classes)(x)


class LinearRegression(nn.Module):
  """``y = x w + b``: one ``Dense(features)``; with ``features=1`` returns shape ``(N,)``."""

  features: int = 1

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool = False) -> jnp.ndarray:
    del train
    y = nn.Dense(self.features, name="linear")(x.reshape((x.shape[0], -1)))
    return y[:, 0] if self.features == 1 else y
