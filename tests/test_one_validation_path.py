"""One validation path: a bad initial learning rate or bad data gets the same message from
``train.fit``, ``train.run`` (called with concrete values), ``hr.sweep`` and the command line
(``python -m hyperreg_jax``, which takes ILRs only: it trains on the embedded MNIST)."""

import os
import re
import subprocess
import sys

import jax
import numpy as np
import optax
import pytest

import hyperreg_jax as hr
from hyperreg_jax import __main__ as main_command
from hyperreg_jax import data, models, train

KEY = jax.random.key(0)


@pytest.fixture(scope="module")
def digits():
  ds = data.load_mnist(max_train=256, max_test=64)
  return ds.x_train, ds.y_train, ds.x_test, ds.y_test


def _trainer(loss="cross_entropy"):
  return train.Trainer(models.MLP(hidden=8), optax.sgd, loss=loss, batch_size=64, epochs=1)


def _messages(init_lr, arrays, loss="cross_entropy"):
  """``{entry point: (exception type, message)}`` of fit, run and sweep on the same input."""
  trainer = _trainer(loss)
  calls = {
    "fit": lambda: train.fit(trainer, init_lr, KEY, *arrays, progress=False),
    "run": lambda: train.run(trainer, init_lr, KEY, *arrays),
    "sweep": lambda: hr.sweep(
      models.MLP(hidden=8), arrays, ["sgd"], [init_lr], loss=loss, batch_size=64, progress=False
    ),
  }
  out = {}
  for name, call in calls.items():
    with pytest.raises((ValueError, TypeError)) as raised:
      call()
    out[name] = raised.type, str(raised.value)
  return out


BAD_ILRS = [-0.5, 0, float("nan"), float("inf")]


@pytest.mark.parametrize("init_lr", BAD_ILRS, ids=str)
def test_a_bad_ilr_gets_one_message_from_fit_run_sweep_and_the_command_line(
  init_lr, digits, capsys
):
  msg = f"init_lr must be a finite number > 0, got {float(init_lr)!r}."
  got = _messages(init_lr, digits)
  assert got["fit"] == (ValueError, msg)
  assert got["run"] == (ValueError, msg)
  # One of several ILRs: the same message, after the position in ilrs.
  assert got["sweep"] == (ValueError, f"ilrs[0]: {msg}")
  with pytest.raises(SystemExit) as done:
    main_command.main(["--ilrs", "0.1", str(init_lr), "--epochs", "1"])
  assert done.value.code == 2
  err = capsys.readouterr().err
  assert re.search(re.escape(f"python -m hyperreg_jax: error: argument --ilrs: {msg}"), err), err


def test_the_command_line_prints_the_same_ilr_message_as_fit(digits, tmp_path):
  with pytest.raises(ValueError) as raised:
    train.fit(_trainer(), -0.5, KEY, *digits, progress=False)
  msg = str(raised.value)
  env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [os.getcwd(), *sys.path])))
  argv = ["--ilrs", "-0.5", "--epochs", "1", "--out", str(tmp_path / "sweep")]
  done = subprocess.run(
    [sys.executable, "-m", "hyperreg_jax", *argv],
    capture_output=True,
    text=True,
    env=env,
    timeout=300,
  )
  assert done.returncode == 2
  assert done.stderr.strip().endswith(f"error: argument --ilrs: {msg}"), done.stderr
  assert not (tmp_path / "sweep.npz").exists()


def _float_labels(x, y, xt, yt):
  return x, y.astype(np.float32), xt, yt


def _label_out_of_range(x, y, xt, yt):
  y = y.copy()
  y[3] = 10  # the MLP has 10 outputs
  return x, y, xt, yt


def _mismatched_lengths(x, y, xt, yt):
  return x, y[:200], xt, yt


BAD_DATA = [
  (
    _float_labels,
    TypeError,
    "y_train has dtype float32, but loss='cross_entropy' needs integer class labels: use "
    "y_train.astype(int) if they are class indices, or loss='mse' for regression.",
  ),
  (
    _label_out_of_range,
    ValueError,
    "y_train holds labels from 0 to 10; they must lie in [0, 10) (the model has 10 outputs).",
  ),
  (
    _mismatched_lengths,
    ValueError,
    "x_train has 256 examples but y_train has 200: they must match.",
  ),
]


@pytest.mark.parametrize(
  "spoil, kind, msg", BAD_DATA, ids=[spoil.__name__.strip("_") for spoil, _, _ in BAD_DATA]
)
def test_bad_data_gets_one_message_from_fit_run_and_sweep(spoil, kind, msg, digits):
  got = _messages(0.1, spoil(*digits))
  assert got == {"fit": (kind, msg), "run": (kind, msg), "sweep": (kind, msg)}, got


def test_run_checks_nothing_when_traced(digits):
  """Inside jit and vmap (as a sweep calls it) run leaves a bad ILR to the transform: the run
  of the bad lane is NaN, the good one trains."""
  trainer = train.Trainer(models.MLP(hidden=8), hr.rkl1, batch_size=64, epochs=1)
  runs = jax.jit(jax.vmap(lambda lr: train.run(trainer, lr, KEY, *digits)[1]["train_loss"]))
  losses = np.asarray(runs(np.asarray([0.1, -0.5], np.float32)))
  assert np.isfinite(losses[0]).all() and np.isnan(losses[1]).all()  # (lanes, epochs)


def test_run_still_checks_concrete_values_under_a_traced_key(digits):
  """The ILR and the data are checked when concrete, each on its own: a vmap over keys alone
  keeps them concrete."""
  x, y, xt, yt = _mismatched_lengths(*digits)
  keys = jax.random.split(KEY, 2)
  with pytest.raises(ValueError, match=re.escape("init_lr must be a finite number > 0, got nan.")):
    jax.vmap(lambda k: train.run(_trainer(), float("nan"), k, *digits))(keys)
  with pytest.raises(ValueError, match="x_train has 256 examples but y_train has 200"):
    jax.vmap(lambda k: train.run(_trainer(), 0.1, k, x, y, xt, yt))(keys)


def test_a_sweep_over_a_grid_of_hyperparameters_passes_the_check():
  """A grid point reaches ``train.run`` as ``{hyperparameter: value}``: its ILR is checked."""
  ds = data.synthetic_linear_regression(num_train=64, num_test=16)
  result = hr.sweep(
    models.LinearRegression(),
    ds,
    ["rkl1"],
    grid={"init_lr": [0.1, 1.0], "growth": [2.0, 4.0]},
    epochs=1,
    batch_size=32,
    progress=False,
  )
  assert result.final("train_loss").shape == (1, 2, 2, 1)
