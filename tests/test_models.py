"""Tests for hyperreg_jax.models: shapes, parameter counts, batch-norm modes, a VGG train step."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from hyperreg_jax import train
from hyperreg_jax.models import MLP, VGG16BN, LinearRegression
from hyperreg_jax.train import Trainer, TrainState


def differ(a, b) -> bool:
  return bool(np.any(np.asarray(a) != np.asarray(b)))


def num_params(tree) -> int:
  return sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(tree))


@pytest.mark.slow
def test_mlp_shapes_and_param_count():
  model = MLP()
  variables = model.init(jax.random.key(0), jnp.zeros((1, 28, 28, 1)))
  assert set(variables) == {"params"}
  params = variables["params"]
  assert num_params(params) == 397_510
  shapes = jax.tree.map(lambda a: a.shape, params)
  assert shapes == {
    "hidden": {"kernel": (784, 500), "bias": (500,)},
    "output": {"kernel": (500, 10), "bias": (10,)},
  }
  logits = model.apply(variables, jnp.zeros((3, 28, 28, 1)), train=True)
  assert logits.shape == (3, 10) and logits.dtype == jnp.float32
  # The train flag is accepted and ignored.
  np.testing.assert_array_equal(logits, model.apply(variables, jnp.zeros((3, 784))))


def test_mlp_init_flax_default_or_study_normal():
  x = jnp.zeros((1, 784))
  flax_default = MLP().init(jax.random.key(0), x)["params"]
  # Flax's Dense defaults: LeCun-normal kernels (std 1/sqrt(fan_in)), zero biases.
  np.testing.assert_array_equal(flax_default["hidden"]["bias"], 0.0)
  assert abs(float(flax_default["hidden"]["kernel"].std()) * np.sqrt(784) - 1) < 0.05
  # The study's code: every weight and bias from a standard normal, no fan-in scaling.
  study = MLP(init_std=1.0).init(jax.random.key(0), x)["params"]
  for values in (study["hidden"]["kernel"], study["hidden"]["bias"], study["output"]["kernel"]):
    assert abs(float(values.std()) - 1.0) < 0.1 and abs(float(values.mean())) < 0.1
  half = MLP(init_std=0.5).init(jax.random.key(0), x)["params"]
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, 0.5 * b, rtol=1e-6), half, study)
  assert np.all(np.asarray(study["output"]["bias"]) != 0)


def test_mlp_float64_params():
  """``param_dtype=jnp.float64`` under x64: float64 weights and a float64 forward pass (NumPy's
  float64 to 1e-10, which float32 misses by far); float32 weights by default."""
  x = np.random.default_rng(0).uniform(size=(3, 784))
  with jax.enable_x64(True):
    model = MLP(hidden=32, init_std=1.0, param_dtype=jnp.float64)
    variables = model.init(jax.random.key(0), jnp.zeros((1, 784), jnp.float64))
    out = model.apply(variables, jnp.asarray(x))
  assert not jax.config.jax_enable_x64  # the context restored it
  assert {leaf.dtype for leaf in jax.tree.leaves(variables)} == {np.dtype(np.float64)}
  assert out.dtype == np.float64
  p = jax.tree.map(np.asarray, variables["params"])
  hidden = 1 / (1 + np.exp(-(x @ p["hidden"]["kernel"] + p["hidden"]["bias"])))
  expected = hidden @ p["output"]["kernel"] + p["output"]["bias"]
  np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-10, atol=1e-10)
  default = MLP(hidden=32, init_std=1.0).init(jax.random.key(0), jnp.zeros((1, 784)))
  assert {leaf.dtype for leaf in jax.tree.leaves(default)} == {np.dtype(np.float32)}
  assert MLP().param_dtype == jnp.float32


@pytest.mark.slow
def test_linear_regression_shapes():
  model = LinearRegression()
  variables = model.init(jax.random.key(0), jnp.zeros((1, 5)))
  assert num_params(variables) == 6
  assert model.apply(variables, jnp.ones((7, 5))).shape == (7,)
  wide = LinearRegression(features=3)
  wide_vars = wide.init(jax.random.key(0), jnp.zeros((1, 5)))
  assert wide.apply(wide_vars, jnp.ones((7, 5))).shape == (7, 3)


@pytest.fixture(scope="module")
def vgg():
  model = VGG16BN()
  variables = jax.jit(lambda k: model.init(k, jnp.zeros((1, 32, 32, 3)), train=False))(
    jax.random.key(0)
  )
  return model, variables


@pytest.mark.slow
def test_vgg_structure(vgg):
  model, variables = vgg
  params, stats = variables["params"], variables["batch_stats"]
  convs = sorted((k for k in params if k.startswith("Conv_")), key=lambda k: int(k[5:]))
  widths = [params[k]["kernel"].shape[-1] for k in convs]
  assert widths == [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
  assert all(params[k]["kernel"].shape[:2] == (3, 3) for k in convs)
  assert len(stats) == 13  # one BatchNorm after every convolution
  dense = [params[f"Dense_{i}"]["kernel"].shape for i in range(3)]
  assert dense == [(512, 512), (512, 512), (512, 10)]
  # 14,728,266 (convs + BN) + 262,656 + 262,656 + 5,130 (classifier 512-512-10)
  assert num_params(params) == 15_253_578

  linear = VGG16BN(classifier="linear")
  lin_params = jax.eval_shape(lambda: linear.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3))))[
    "params"
  ]
  assert [k for k in lin_params if k.startswith("Dense")] == ["Dense_0"]
  assert lin_params["Dense_0"]["kernel"].shape == (512, 10)
  with pytest.raises(ValueError, match="classifier"):
    VGG16BN(classifier="conv").init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)))


@pytest.mark.slow
def test_vgg_batch_norm_modes(vgg):
  model, variables = vgg
  x = jax.random.uniform(jax.random.key(1), (4, 32, 32, 3))

  @jax.jit
  def outputs(variables, x):
    train = model.apply(variables, x, train=True, mutable=["batch_stats"])
    evaluated = model.apply(variables, x, train=False, mutable=["batch_stats"])
    half_eval = model.apply(variables, x[:2], train=False)
    return train, evaluated, half_eval

  (logits, updated), (out, same), half_eval = outputs(variables, x)
  assert logits.shape == (4, 10) and out.shape == (4, 10)
  moved = jax.tree.map(differ, variables["batch_stats"], updated["batch_stats"])
  assert all(jax.tree.leaves(moved))  # every running mean and variance moved in train mode
  # Eval mode uses the running averages and leaves them alone.
  assert bool(jnp.all(jnp.isfinite(out)))
  jax.tree.map(np.testing.assert_array_equal, variables["batch_stats"], same["batch_stats"])
  # Eval-mode outputs do not depend on the rest of the batch; train-mode ones do.
  np.testing.assert_allclose(half_eval, out[:2], rtol=1e-5, atol=1e-5)
  assert not np.allclose(logits, out, atol=1e-4)


@pytest.mark.slow
def test_vgg_two_train_steps_through_engine(vgg):
  """The full 13-conv network, batch 2, two SGD steps through the training engine."""
  model, variables = vgg
  x = jax.random.uniform(jax.random.key(2), (4, 32, 32, 3))
  y = jnp.array([0, 1, 2, 3], jnp.int32)
  trainer = Trainer(model, optax.sgd, batch_size=2)
  epoch = jax.jit(functools.partial(train.train_epoch, trainer))
  # The fixture's parameters (train.init_state would compile the 15M-parameter init again).
  params, stats = variables["params"], variables["batch_stats"]
  state = TrainState(
    params, stats, trainer.make_tx(0.01).init(params), jnp.int32(0), jnp.bool_(False), jnp.int32(-1)
  )
  new, metrics = epoch(state, 0.01, jax.random.key(3), x, y)
  assert metrics["loss"].shape == (2,) and bool(jnp.all(jnp.isfinite(metrics["loss"])))
  assert int(new.step) == 2 and not bool(new.diverged)
  changed = jax.tree.map(differ, state.params, new.params)
  assert all(jax.tree.leaves(changed))
  moved = jax.tree.map(differ, state.batch_stats, new.batch_stats)
  assert all(jax.tree.leaves(moved))
