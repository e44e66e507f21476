"""Bad data and bad arguments: stopped on the host, before compiling, by an error naming them.

Hand-written cases per kind of problem (the property tests over the same arguments:
test_validate_properties.py).
"""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import hyperreg_jax as hr
from hyperreg_jax import _sweep as sweep_module
from hyperreg_jax import data, models, train
from hyperreg_jax.train import Trainer
from hyperreg_jax.train import _fit as fit_module

RNG = np.random.default_rng(0)
X = RNG.random((24, 4)).astype(np.float32)
Y = np.arange(24, dtype=np.int32) % 3
XT, YT = X[:8].copy(), Y[:8].copy()
CLASSIFIER = models.MLP(hidden=8, num_classes=3)
REGRESSION = data.synthetic_linear_regression(num_train=16, num_test=8, dim=2, seed=2)


def _set(array, index, value, dtype=None):
  out = np.array(array, dtype=dtype or array.dtype)
  out[index] = value
  return out


# (case, (x_train, y_train, x_test, y_test), expected error, pattern naming the problem)
BAD_CLASSIFICATION_DATA = [
  ("label == num_classes", (X, _set(Y, 5, 3), XT, YT), ValueError, r"y_train .* \[0, 3\)"),
  ("label 12", (X, _set(Y, 0, 12), XT, YT), ValueError, r"y_train holds labels from 0 to 12"),
  ("label -1", (X, _set(Y, 3, -1), XT, YT), ValueError, r"y_train holds labels from -1"),
  ("test label 99", (X, Y, XT, _set(YT, 2, 99)), ValueError, r"y_test .* \[0, 3\)"),
  ("test label -7", (X, Y, XT, _set(YT, 2, -7)), ValueError, r"y_test holds labels from -7"),
  ("NaN input", (_set(X, (4, 1), np.nan), Y, XT, YT), ValueError, r"x_train holds NaN"),
  ("inf input", (_set(X, (0, 0), np.inf), Y, XT, YT), ValueError, r"x_train .*index 0"),
  ("-inf test input", (X, Y, _set(XT, (7, 3), -np.inf), YT), ValueError, r"x_test holds NaN"),
  ("empty train", (X[:0], Y[:0], XT, YT), ValueError, r"x_train is empty"),
  ("empty test", (X, Y, XT[:0], YT[:0]), ValueError, r"x_test is empty"),
  ("x_test alone", (X, Y, XT, None), ValueError, r"x_test was given without y_test"),
  ("y_test alone", (X, Y, None, YT), ValueError, r"y_test was given without x_test"),
  ("float labels", (X, Y.astype(np.float32), XT, YT), TypeError, r"y_train has dtype float32"),
  ("float test labels", (X, Y, XT, YT + 0.5), TypeError, r"y_test has dtype float64"),
  ("2-D labels", (X, Y[:, None], XT, YT), ValueError, r"y_train has shape \(24, 1\)"),
  ("short labels", (X, Y[:20], XT, YT), ValueError, r"x_train has 24 .* y_train has 20"),
  ("short test labels", (X, Y, XT, YT[:3]), ValueError, r"x_test has 8 .* y_test has 3"),
  ("text inputs", (X.astype(str), Y, XT, YT), TypeError, r"x_train has dtype <U"),
  ("complex inputs", (X + 1j, Y, XT, YT), TypeError, r"x_train has dtype complex"),
]

RX, RY, RXT, RYT = REGRESSION.x_train, REGRESSION.y_train, REGRESSION.x_test, REGRESSION.y_test
BAD_REGRESSION_DATA = [
  ("NaN target", (RX, _set(RY, 3, np.nan)), r"y_train holds NaN .* index 3"),
  ("inf target", (RX, _set(RY, 0, np.inf)), r"y_train holds NaN or infinity"),
  ("NaN test target", (RX, RY, RXT, _set(RYT, 1, np.nan)), r"y_test holds NaN"),
  ("inf test input", (RX, RY, _set(RXT, (2, 1), -np.inf), RYT), r"x_test holds NaN"),
  ("empty regression", (RX[:0], RY[:0]), r"x_train is empty"),
  ("regression test half", (RX, RY, RXT, None), r"x_test was given without y_test"),
]


@pytest.fixture
def nothing_compiles(monkeypatch):
  """Fails the test if a sweep or a fit reaches compilation."""

  def refuse(*args, **kwargs):
    raise AssertionError("reached compilation: the bad input was not caught first")

  monkeypatch.setattr(sweep_module, "_grid_runner", refuse)
  monkeypatch.setattr(fit_module, "_init_variables", refuse)


def _run(entry, model, arrays, loss=None):
  if entry == "sweep":
    return hr.sweep(
      model, arrays, ["sgd"], [0.1], epochs=1, batch_size=8, progress=False, loss=loss
    )
  trainer = Trainer(model, make_tx=optax.sgd, loss=loss or "cross_entropy", batch_size=8)
  return train.fit(trainer, 0.1, jax.random.key(0), *arrays, progress=False)


@pytest.mark.parametrize("entry", ["sweep", "fit"])
@pytest.mark.parametrize(
  "arrays, error, match",
  [c[1:] for c in BAD_CLASSIFICATION_DATA],
  ids=[c[0] for c in BAD_CLASSIFICATION_DATA],
)
def test_bad_classification_data_is_named_before_compiling(
  entry, arrays, error, match, nothing_compiles
):
  with pytest.raises(error, match=match):
    _run(entry, CLASSIFIER, arrays, loss="cross_entropy")


@pytest.mark.parametrize("entry", ["sweep", "fit"])
@pytest.mark.parametrize(
  "arrays, match", [c[1:] for c in BAD_REGRESSION_DATA], ids=[c[0] for c in BAD_REGRESSION_DATA]
)
def test_bad_regression_data_is_named_before_compiling(entry, arrays, match, nothing_compiles):
  with pytest.raises(ValueError, match=match):
    _run(entry, models.LinearRegression(), arrays, loss="mse")


# ----------------------------------------------------------------------------- models


def test_float_labels_with_a_classifier_name_the_loss_shapes_and_fix(nothing_compiles):
  """Float class labels make the sweep take loss='mse'; the classifier's (batch, classes)
  outputs then cannot be compared with them: named before compiling, with the fix."""
  floats = (X, Y.astype(np.float32), XT, YT.astype(np.float32))
  with pytest.raises(ValueError) as caught:
    hr.sweep(CLASSIFIER, floats, ["sgd"], [0.1], batch_size=8, progress=False)
  message = str(caught.value)
  assert "loss='mse'" in message and "MLP gives outputs of shape (8, 3)" in message
  assert "y_train has shape (8,)" in message and "y_train.astype(int)" in message
  assert "sweep took loss='mse' from the labels: y_train holds float32 values" in message
  with pytest.raises(ValueError, match=r"loss='mse' .*\(8, 3\).*y_train.astype\(int\)"):
    _run("fit", CLASSIFIER, floats, loss="mse")


@pytest.mark.parametrize("entry", ["sweep", "fit"])
def test_classifier_on_regression_data_is_named_before_compiling(entry, nothing_compiles):
  """The paper's MLP on 2-feature regression targets: outputs (8, 10) against (8,)."""
  with pytest.raises(ValueError, match=r"loss='mse'.*MLP gives outputs of shape \(8, 10\)"):
    _run(entry, models.MLP(), (RX, RY, RXT, RYT), loss="mse" if entry == "fit" else None)


@pytest.mark.parametrize("entry", ["sweep", "fit"])
def test_regression_model_with_class_labels_is_named(entry, nothing_compiles):
  with pytest.raises(ValueError, match=r"loss='cross_entropy' needs one output .* \(8,\)"):
    _run(entry, models.LinearRegression(), (X, Y, XT, YT), loss="cross_entropy")


@pytest.mark.parametrize("model", [None, "MLP", optax.sgd])
def test_not_a_model_is_a_type_error(model, nothing_compiles):
  with pytest.raises(TypeError, match=rf"model={model!r} is not a model: pass a Flax"):
    hr.sweep(model, REGRESSION, ["sgd"], [0.1], progress=False)
  with pytest.raises(TypeError, match=r"is not a model"):
    Trainer(model, optax.sgd)


def test_output_shapes_are_checked_when_tracing_too():
  """``train.run`` on its own (no host checks): the same error, raised while tracing."""
  trainer = Trainer(models.MLP(hidden=4), optax.sgd, loss="mse", batch_size=8)
  with pytest.raises(ValueError, match=r"loss='mse'.*\(8, 10\).*the labels have shape \(8,\)"):
    jax.eval_shape(functools.partial(train.run, trainer), 0.1, jax.random.key(0), RX, RY)


@pytest.mark.slow
def test_images_in_0_255_warn_and_still_train():
  images = (X * 255).astype(np.uint8)
  with pytest.warns(UserWarning, match=r"x_train holds integers up to 2\d\d .*/ 255"):
    result = hr.sweep(
      CLASSIFIER, (images, Y), ["sgd"], [0.1], epochs=1, batch_size=8, progress=False
    )
  assert result.final("train_loss").shape == (1, 1, 1)


@pytest.mark.slow
def test_optimizer_divergence_is_still_reported_as_diverged():
  # Clean data, an absurd learning rate: a divergence with its step, not a data error.
  result = hr.sweep(
    CLASSIFIER, (X, Y, XT, YT), ["sgd"], [0.1, 1e30], epochs=1, batch_size=8, progress=False
  )
  assert result.diverged[0].tolist() == [[False], [True]]
  assert result.diverged_at[0, 1, 0] >= 0 and result.diverged_at[0, 0, 0] == -1


# ----------------------------------------------------------------------------- arguments


def _returns(value):
  return lambda lr: value


BAD_SWEEP_ARGUMENTS = [
  ({"seeds": [2**32]}, ValueError, r"seeds must be integers in \[0, 2\*\*32\); got 4294967296"),
  ({"seeds": [2**64 + 3]}, ValueError, r"seeds must be"),
  ({"seeds": [-1]}, ValueError, r"seeds must be .* got -1"),
  ({"seeds": [0, 1.5]}, ValueError, r"seeds must be .* got 1.5"),
  ({"seeds": [True]}, ValueError, r"seeds must be"),
  ({"seeds": ["0"]}, ValueError, r"seeds must be"),
  ({"seeds": []}, ValueError, r"seeds="),
  ({"weight_decay": math.nan}, ValueError, r"weight_decay=nan must be a finite number >= 0"),
  ({"weight_decay": math.inf}, ValueError, r"weight_decay=inf"),
  ({"weight_decay": -1e-4}, ValueError, r"weight_decay=-0.0001"),
  ({"weight_decay": "1e-4"}, TypeError, r"weight_decay='1e-4'"),
  ({"weight_decay": None}, TypeError, r"weight_decay=None"),
  ({"variants": [_returns(None)]}, TypeError, r"variants: 'variant0' returned NoneType"),
  ({"variants": {"x": _returns(0.1)}}, TypeError, r"variants: 'x' returned float"),
  ({"variants": {"x": _returns(optax.sgd)}}, TypeError, r"variants: 'x' returned function"),
  (
    {"variants": {"g": lambda lr: hr.hyperreg(lr, divergence="kl", algorithm=2, growth="2")}},
    ValueError,
    r"variants: 'g' failed .*growth must be None or inf",
  ),
  (
    {"variants": {"a": lambda lr: hr.hyperreg(lr, divergence="kl", algorithm=7)}},
    ValueError,
    r"variants: 'a'.*algorithm",
  ),
  ({"variants": ["bogus"]}, ValueError, r"variant must be one of"),
  ({"ilrs": "abc"}, ValueError, r"ilrs must be"),
  ({"ilrs": [0.0]}, ValueError, r"ilrs\[0\]: init_lr must be a finite number > 0, got 0\.0\."),
  ({"ilrs": [math.nan]}, ValueError, r"ilrs\[0\]: init_lr must be a finite number > 0, got nan\."),
  ({"ilrs": []}, ValueError, r"ilrs must be"),
  ({"max_parallel": 1.5}, ValueError, r"max_parallel must be"),
  ({"max_parallel": "2"}, ValueError, r"max_parallel must be"),
  ({"epochs": 0}, ValueError, r"epochs=0"),
  ({"batch_size": -3}, ValueError, r"batch_size=-3"),
  ({"loss": "hinge"}, ValueError, r"loss='hinge'"),
  ({"dataset": (X, Y, XT)}, ValueError, r"dataset must be"),
  ({"dataset": ([[1.0, 2.0], [3.0]], [0, 1])}, ValueError, r"dataset: x_train"),
]


@pytest.mark.parametrize(
  "bad, error, match", BAD_SWEEP_ARGUMENTS, ids=[str(c[0])[:40] for c in BAD_SWEEP_ARGUMENTS]
)
def test_bad_sweep_arguments_are_named(bad, error, match, nothing_compiles):
  kwargs = dict(model=CLASSIFIER, dataset=(X, Y), variants=["sgd"], ilrs=[0.1], progress=False)
  kwargs.update(bad)
  with pytest.raises(error, match=match):
    hr.sweep(**kwargs)


BAD_LOADER_ARGUMENTS = [
  (functools.partial(data.synthetic_linear_regression, noise="abc"), r"noise='abc'"),
  (functools.partial(data.synthetic_linear_regression, noise=None), r"noise=None"),
  (functools.partial(data.synthetic_linear_regression, seed=-1), r"seed=-1"),
  (functools.partial(data.synthetic_linear_regression, seed="x"), r"seed='x'"),
  (functools.partial(data.synthetic_cifar10, seed=1.5), r"seed=1.5"),
  (functools.partial(data.load_mnist, "local", 3), r"data_dir=3"),
  (functools.partial(data.load_mnist, max_train=0), r"max_train=0"),
  (functools.partial(data.load_mnist, max_test=-2), r"max_test=-2"),
]


@pytest.mark.parametrize("load, match", BAD_LOADER_ARGUMENTS)
def test_bad_loader_arguments_are_named(load, match):
  with pytest.raises(ValueError, match=match):
    load()


def test_hyperreg_large_integer_init_lr_works_or_is_named():
  params = {"w": jnp.ones(2)}
  try:
    state = hr.hyperreg(2**32, divergence="kl", algorithm=2).init(params)
  except ValueError as err:
    assert "init_lr" in str(err)
  else:
    assert np.isfinite(jax.tree.leaves(state)[0]).all()


@pytest.mark.parametrize(
  "bad",
  [{"growth": "2"}, {"weight_decay": math.nan}, {"weight_decay": -1.0}, {"warmup_lr": -1.0}],
  ids=str,
)
def test_hyperreg_names_bad_growth_weight_decay_warmup_lr(bad):
  (name,) = bad
  with pytest.raises(ValueError, match=name):
    hr.hyperreg(0.1, divergence="kl", algorithm=2, **bad)
