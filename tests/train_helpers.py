"""What the tests of hyperreg_jax.train share: the optimizers, a comparison of trees, and a
small model with batch norm and its augmentation."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import linen as nn

import hyperreg_jax as hr

SWEEP_AXES = (0, 0, None, None, None, None)


def sgd(lr):
  return optax.sgd(lr)


def rkl1(lr):
  return hr.rkl1(lr, weight_decay=1e-4)


def assert_trees_equal(a, b):
  jax.tree.map(lambda u, v: np.testing.assert_array_equal(np.asarray(u), np.asarray(v)), a, b)


class SmallConvBN(nn.Module):
  """A convolution, batch norm and a dense layer: the kinds of layers of VGG-16-BN, small."""

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = nn.Conv(4, (3, 3))(x)
    x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5)(x)
    return nn.Dense(3)(nn.relu(x).mean(axis=(1, 2)))


@jax.jit
def crop_and_flip(key, x):
  """A random crop with padding 1 and a random horizontal flip, per image."""
  k_crop, k_flip = jax.random.split(key)
  n, h, w, c = x.shape
  padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  offsets = jax.random.randint(k_crop, (n, 2), 0, 3)
  crop = jax.vmap(lambda img, o: jax.lax.dynamic_slice(img, (o[0], o[1], 0), (h, w, c)))
  x = crop(padded, offsets)
  return jnp.where(jax.random.bernoulli(k_flip, 0.5, (n, 1, 1, 1)), x[:, :, ::-1], x)
