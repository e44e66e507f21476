"""Models other than Flax linen: an NNX module (with batch norm, too) and an ``(init, apply)``
pair train as the linen model with the same weights."""

from __future__ import annotations

import functools

import jax
import numpy as np
import pytest
from flax import nnx
from train_helpers import SmallConvBN, crop_and_flip, rkl1, sgd

from hyperreg_jax import train
from hyperreg_jax.models import MLP
from hyperreg_jax.train import Trainer

# ------------------------------------------------------------------------ other kinds of model


class NNXMLP(nnx.Module):
  """``models.MLP`` written in Flax NNX: the same layers under the same names."""

  def __init__(self, hidden: int, rngs: nnx.Rngs):
    self.hidden = nnx.Linear(784, hidden, rngs=rngs)
    self.output = nnx.Linear(hidden, 10, rngs=rngs)

  def __call__(self, x):
    return self.output(nnx.sigmoid(self.hidden(x.reshape(x.shape[0], -1))))


class NNXConvBN(nnx.Module):
  """``SmallConvBN`` written in Flax NNX."""

  def __init__(self, rngs: nnx.Rngs):
    self.conv = nnx.Conv(3, 4, (3, 3), rngs=rngs)
    self.bn = nnx.BatchNorm(4, momentum=0.9, epsilon=1e-5, rngs=rngs)
    self.dense = nnx.Linear(4, 3, rngs=rngs)

  def __call__(self, x):
    return self.dense(nnx.relu(self.bn(self.conv(x))).mean(axis=(1, 2)))


def copy_weights(module, variables, names):
  """Writes linen ``variables`` into an NNX ``module``: ``names`` maps linen layer names to
  the module's attributes."""
  for layers in variables.values():
    for layer, leaves in layers.items():
      for leaf, value in leaves.items():
        getattr(getattr(module, names[layer]), leaf)[...] = value


def mlp_init(key, x):
  return MLP(hidden=16).init(key, x)["params"]


def mlp_apply(params, x):
  return MLP(hidden=16).apply({"params": params}, x)


def assert_close(a, b, rtol=1e-5, atol=1e-6):
  jax.tree.map(lambda u, v: np.testing.assert_allclose(u, v, rtol=rtol, atol=atol), a, b)


@pytest.mark.slow
def test_nnx_module_and_init_apply_pair_train_as_the_linen_model(small):
  """The same weights give the same run, whatever the kind of model; an NNX module's
  weights are taken when the trainer is built."""
  x, y, xt, yt = small
  key = jax.random.key(2)
  init_key, _ = train.epoch_keys(Trainer(MLP(), sgd), key)
  linen_params = MLP(hidden=16).init(init_key, x[:1])["params"]
  module = NNXMLP(16, nnx.Rngs(0))
  copy_weights(module, {"params": linen_params}, {"hidden": "hidden", "output": "output"})
  runs = {}
  for kind, model in (("linen", MLP(hidden=16)), ("nnx", module), ("pair", (mlp_init, mlp_apply))):
    trainer = Trainer(model, rkl1, batch_size=32, epochs=2)
    runs[kind] = jax.jit(functools.partial(train.run, trainer))(0.5, key, x, y, xt, yt)
    if kind == "nnx":
      fitted = train.fit(trainer, 0.5, key, x, y, xt, yt, progress=False)
      module.hidden.kernel[...] = 0.0  # too late: the trainer holds the weights it was given
      again = jax.jit(functools.partial(train.run, trainer))(0.5, key, x, y, xt, yt)
  for kind in ("nnx", "pair"):
    assert_close(runs[kind], runs["linen"])
  assert_close(fitted, runs["nnx"])
  assert_close(again, runs["nnx"])
  assert runs["linen"][1]["test_accuracy"][-1] > 0.5
  assert repr(Trainer(module, sgd).model) == "NNXMLP (Flax NNX)"


def test_nnx_batch_norm_model_trains_as_the_linen_one():
  """NNX BatchNorm, split into Param and BatchStat state and merged inside the step: the
  same curves and running statistics as linen's ``batch_stats`` collection."""
  rng = np.random.default_rng(1)
  x, y = rng.random((16, 8, 8, 3), np.float32), rng.integers(0, 3, 16).astype(np.int32)
  xt, yt = x[:8] * 0.5, y[:8]
  key = jax.random.key(3)
  linen = Trainer(SmallConvBN(), rkl1, batch_size=4, epochs=2)
  variables = train.init_variables(linen, train.epoch_keys(linen, key)[0], x[:1])
  module = NNXConvBN(nnx.Rngs(0))
  names = {"Conv_0": "conv", "BatchNorm_0": "bn", "Dense_0": "dense"}
  copy_weights(module, variables, names)
  nnx_trainer = Trainer(module, rkl1, batch_size=4, epochs=2)
  fits = [
    train.fit(t, 0.5, key, x, y, xt, yt, augment=crop_and_flip, progress=False)
    for t in (linen, nnx_trainer)
  ]
  assert_close(fits[1][1], fits[0][1])
  for stat in ("mean", "var"):
    np.testing.assert_allclose(
      fits[1][0].batch_stats["bn"][stat], fits[0][0].batch_stats["BatchNorm_0"][stat], rtol=1e-5
    )
  assert not np.allclose(fits[1][0].batch_stats["bn"]["mean"], 0.0)  # the statistics moved
