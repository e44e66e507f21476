"""``Trainer(eval_train=True, penalty=...)``: the whole training set evaluated after every epoch
(the reproducibility study's training loss), the penalty added to that loss only; in ``run``,
``fit`` and ``sweep``."""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from train_helpers import rkl1, sgd

import hyperreg_jax as hr
from hyperreg_jax import data, train
from hyperreg_jax.models import MLP, LinearRegression
from hyperreg_jax.train import Trainer
from hyperreg_jax.train._config import describe

MODEL = MLP(hidden=16)
KEY = jax.random.key(3)
ILR = 0.05


def l2(params):
  """A penalty large enough to stand out against float32 rounding of the loss."""
  return 0.05 * sum(jnp.sum(jnp.square(p)) for p in jax.tree.leaves(params))


@pytest.fixture(scope="module")
def digits():
  ds = data.load_mnist(max_train=300, max_test=100)
  return ds.x_train, ds.y_train, ds.x_test, ds.y_test


def trainer(**kw):
  # eval_batch_size=128 leaves a remainder chunk of the 300 training images
  return Trainer(MODEL, rkl1, batch_size=64, epochs=3, eval_batch_size=128, **kw)


@functools.cache
def jitted_run(t):
  return jax.jit(functools.partial(train.run, t))


def test_new_fields_come_last():
  names = [f.name for f in dataclasses.fields(Trainer)]
  assert names[-2:] == ["eval_train", "penalty"]
  t = Trainer(MODEL, sgd)
  assert t.eval_train is False and t.penalty is None


def test_eval_train_is_evaluate_after_each_epoch(digits):
  x_train, y_train, x_test, y_test = digits
  t = trainer(eval_train=True)
  _, history = jitted_run(t)(ILR, KEY, *digits)
  assert history["eval_train_loss"].shape == history["eval_train_accuracy"].shape == (3,)
  # Independently: epoch by epoch, then the test set's evaluation on the training set.
  init_key, keys = train.epoch_keys(t, KEY)
  state = train.init_state(t, init_key, ILR, x_train[:1])
  epoch = jax.jit(functools.partial(train.train_epoch, t))
  for e in range(t.epochs):
    state, _ = epoch(state, ILR, keys[e], x_train, y_train)
    expected = train.evaluate(t, state, x_train, y_train)
    for k in ("loss", "accuracy"):
      np.testing.assert_allclose(history[f"eval_train_{k}"][e], expected[k], rtol=1e-5)
  # Not the mean of the batch losses before each step, nor the test loss.
  assert not np.allclose(history["eval_train_loss"], history["train_loss"], rtol=1e-3)
  assert not np.allclose(history["eval_train_loss"], history["test_loss"], rtol=1e-3)
  # Everything else as without eval_train.
  _, plain = jitted_run(trainer())(ILR, KEY, *digits)
  assert set(history) - set(plain) == {"eval_train_loss", "eval_train_accuracy"}
  for k in plain:
    np.testing.assert_allclose(history[k], plain[k], rtol=1e-6, err_msg=k)


def test_penalty_is_added_to_eval_train_loss_only(digits):
  x_train, y_train, _, _ = digits
  state, history = jitted_run(trainer(eval_train=True, penalty=l2))(ILR, KEY, *digits)
  same_state, plain = jitted_run(trainer(eval_train=True))(ILR, KEY, *digits)
  # Not differentiated, not in the training loss: the same training run.
  jax.tree.map(np.testing.assert_array_equal, state.params, same_state.params)
  np.testing.assert_array_equal(history["step_loss"], plain["step_loss"])
  np.testing.assert_array_equal(history["eval_train_accuracy"], plain["eval_train_accuracy"])
  penalty = float(l2(state.params))
  assert penalty > 0.1
  np.testing.assert_allclose(
    history["eval_train_loss"][-1], plain["eval_train_loss"][-1] + penalty, rtol=1e-6
  )
  # The record itself: exactly the evaluation plus the penalty of the state's params.
  t = trainer(eval_train=True, penalty=l2)
  metrics = {"loss": jnp.ones(2), "accuracy": jnp.ones(2)}
  record = train.epoch_record(t, state, metrics, x_train=x_train, y_train=y_train)
  expected = train.evaluate(t, state, x_train, y_train)["loss"] + l2(state.params)
  assert record["eval_train_loss"] == expected


def test_diverged_run_gives_nan():
  ds = data.synthetic_linear_regression(num_train=64, num_test=16, dim=3, seed=0)
  t = Trainer(LinearRegression(), sgd, loss="mse", batch_size=16, epochs=3, eval_train=True)
  state, history = jax.jit(functools.partial(train.run, t))(1e3, KEY, ds.x_train, ds.y_train)
  epoch = int(state.diverged_at) // t.steps_per_epoch(64)
  assert bool(state.diverged) and 0 < epoch < t.epochs  # finite epochs first, then NaN
  assert "eval_train_accuracy" not in history  # regression: a loss only
  assert np.all(np.isfinite(history["eval_train_loss"][:epoch]))
  assert np.all(np.isnan(history["eval_train_loss"][epoch:]))


def test_bad_arguments(digits):
  for bad in (1, "yes", None):
    with pytest.raises(TypeError, match=rf"eval_train={bad!r} must be True or False"):
      Trainer(MODEL, sgd, eval_train=bad)
  with pytest.raises(TypeError, match=r"penalty=3 must be None or a callable params -> scalar"):
    Trainer(MODEL, sgd, eval_train=True, penalty=3)
  with pytest.raises(ValueError, match=r"penalty=.*needs eval_train=True.*eval_train=False"):
    Trainer(MODEL, sgd, penalty=l2)
  with pytest.raises(ValueError, match=r"penalty=.*needs eval_train=True"):
    hr.sweep(MODEL, digits, ["sgd"], [0.1], penalty=l2, progress=False)
  t = trainer(eval_train=True, penalty=lambda p: p["hidden"]["bias"])
  with pytest.raises(ValueError, match=r"penalty=.* must return a scalar, got .* shape \(16,\)"):
    train.run(t, ILR, KEY, *digits[:2])
  state = train.init_state(t, KEY, ILR, digits[0][:1])
  with pytest.raises(ValueError, match="eval_train=True.*pass x_train and y_train"):
    train.epoch_record(t, state, {"loss": jnp.ones(2), "accuracy": jnp.ones(2)})


def test_describe_tells_them_apart():
  seen = [
    describe(trainer()),
    describe(trainer(eval_train=True)),
    describe(trainer(eval_train=True, penalty=l2)),
    describe(trainer(eval_train=True, penalty=lambda p: 2 * l2(p))),
  ]
  assert seen[0]["eval_train"] is False and seen[0]["penalty"] is None
  assert len({repr(d) for d in seen}) == len(seen)


def test_fit_records_them(digits, tmp_path):
  t = trainer(eval_train=True, penalty=l2)
  _, expected = jitted_run(t)(ILR, KEY, *digits)
  run_fit = functools.partial(train.fit, t, ILR, KEY, *digits, progress=False)
  _, history = run_fit(checkpoint=tmp_path)
  for k in ("eval_train_loss", "eval_train_accuracy"):
    np.testing.assert_allclose(history[k], expected[k], rtol=1e-4, err_msg=k)
  _, resumed = run_fit(checkpoint=tmp_path)  # every epoch restored from the checkpoints
  for k in ("eval_train_loss", "eval_train_accuracy"):
    np.testing.assert_array_equal(resumed[k], history[k])


def test_sweep_curves(digits, tmp_path):
  ilrs = [0.05, 0.5]
  result = hr.sweep(
    MODEL,
    digits,
    {"sgd": sgd},
    ilrs,
    seeds=[3],
    epochs=2,
    batch_size=64,
    eval_batch_size=128,
    weight_decay=0.0,
    eval_train=True,
    penalty=l2,
    progress=False,
  )
  assert result.curves["eval_train_loss"].shape == (1, 2, 1, 2)
  assert result.curves["eval_train_accuracy"].shape == (1, 2, 1, 2)
  assert result.meta["eval_train"] is True and result.meta["penalty"].endswith(".l2")
  t = Trainer(MODEL, sgd, batch_size=64, epochs=2, eval_batch_size=128, eval_train=True)
  t = dataclasses.replace(t, penalty=l2)
  for i, ilr in enumerate(ilrs):
    _, history = jax.jit(functools.partial(train.run, t))(ilr, jax.random.key(3), *digits)
    for k in ("eval_train_loss", "eval_train_accuracy"):
      np.testing.assert_allclose(result.curves[k][0, i, 0], history[k], rtol=1e-4, err_msg=k)
  saved = hr.SweepResult.load(result.save(tmp_path / "result")[0])
  np.testing.assert_array_equal(saved.curves["eval_train_loss"], result.curves["eval_train_loss"])
  plain = hr.sweep(MODEL, digits, {"sgd": sgd}, ilrs[:1], epochs=1, progress=False)
  assert not any(k.startswith("eval_train") for k in plain.curves)
