"""Sweeps of models other than Flax linen (NNX modules, ``(init, apply)`` pairs), and of
chains that read the loss through optax's extra arguments."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from sweep_helpers import ILRS, REGRESSION, regression_arrays

import hyperreg_jax as hr
from hyperreg_jax import models, train
from hyperreg_jax.train import Trainer

# === models other than linen ============================================================


class NNXLinearRegression(nnx.Module):
  """``models.LinearRegression`` in Flax NNX."""

  def __init__(self, rngs: nnx.Rngs):
    self.linear = nnx.Linear(3, 1, rngs=rngs)

  def __call__(self, x):
    return self.linear(x)[:, 0]


def regression_init(key, x):
  return {"w": 0.1 * jax.random.normal(key, (x.shape[1],)), "b": jnp.zeros(())}


def regression_apply(params, x):
  return x @ params["w"] + params["b"]


def test_sweep_takes_nnx_modules_and_init_apply_pairs(tmp_path):
  """An NNX module with the weights of the linen model's seed-0 start gives its curves; a pair
  ``(init, apply)`` trains; an NNX sweep resumes, and not after the module's weights change."""
  kw = dict(seeds=[0], epochs=2, batch_size=16, progress=False)
  linen = hr.sweep(models.LinearRegression(), REGRESSION, ["rkl1", "sgd"], ILRS, **kw)
  init_key, _ = train.epoch_keys(Trainer(models.LinearRegression(), optax.sgd), jax.random.key(0))
  start = models.LinearRegression().init(init_key, REGRESSION.x_train[:1])["params"]["linear"]
  module = NNXLinearRegression(nnx.Rngs(5))
  module.linear.kernel[...], module.linear.bias[...] = start["kernel"], start["bias"]
  nnx_sweep = hr.sweep(module, REGRESSION, ["rkl1", "sgd"], ILRS, checkpoint=tmp_path, **kw)
  assert nnx_sweep.meta["model"] == "NNXLinearRegression"
  for metric in ("train_loss", "test_loss", "step_loss", "lr_mean"):
    np.testing.assert_allclose(nnx_sweep.curves[metric], linen.curves[metric], rtol=2e-5)
  again = hr.sweep(module, REGRESSION, ["rkl1", "sgd"], ILRS, checkpoint=tmp_path, **kw)
  assert again.meta["reused_pieces"] == 2
  module.linear.bias[...] = module.linear.bias[...] + 1.0  # other weights: another sweep
  moved = hr.sweep(module, REGRESSION, ["rkl1", "sgd"], ILRS, checkpoint=tmp_path, **kw)
  assert moved.meta["reused_pieces"] == 0
  assert not np.allclose(moved.curves["step_loss"], nnx_sweep.curves["step_loss"])

  pair = hr.sweep(
    (regression_init, regression_apply), REGRESSION, ["rkl1"], ILRS, **{**kw, "seeds": [0, 1]}
  )
  assert pair.meta["model"] == "(regression_init, regression_apply)"
  loss = pair.curves["train_loss"]
  assert loss.shape == (1, 3, 2, 2) and np.isfinite(loss).all()
  assert np.all(loss[:, 1:, :, -1] < 0.5 * pair.curves["step_loss"][:, 1:, :, 0, 0])  # it learned
  first = pair.curves["step_loss"][0, 0, :, 0, 0]  # (seeds,): each seed draws its weights
  assert first[0] != first[1]


def sgd_on_plateau(lr):
  return optax.chain(optax.sgd(lr), optax.contrib.reduce_on_plateau(factor=0.5, patience=2))


def test_sweep_passes_the_loss_to_reduce_on_plateau():
  """A chain that reads the loss through optax's extra arguments runs in a sweep, as its
  solo runs, and differs from plain SGD once a plateau halves the step."""
  kw = dict(seeds=[0], epochs=3, batch_size=16, progress=False)
  result = hr.sweep(
    models.LinearRegression(), REGRESSION, {"plateau": sgd_on_plateau, "sgd": optax.sgd}, ILRS, **kw
  )
  assert not result.diverged.any() and np.isfinite(result.curves["step_loss"]).all()
  trainer = Trainer(models.LinearRegression(), sgd_on_plateau, loss="mse", batch_size=16, epochs=3)
  for k, ilr in enumerate(ILRS):
    _, history = train.run(trainer, jnp.float32(ilr), jax.random.key(0), *regression_arrays())
    np.testing.assert_allclose(result.curves["step_loss"][0, k, 0], history["step_loss"], rtol=2e-5)
  assert not np.allclose(result.curves["step_loss"][0, 2], result.curves["step_loss"][1, 2])
