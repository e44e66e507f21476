"""The host loop ``train.fit``: a jitted step per batch with augmentation, Orbax checkpoints
and resuming after a kill, and optax's extra arguments (the loss, for reduce_on_plateau)."""

from __future__ import annotations

import pathlib
import signal
import subprocess
import sys

import jax
import numpy as np
import optax
import pytest
from train_helpers import SmallConvBN, crop_and_flip, rkl1, sgd

from hyperreg_jax import train
from hyperreg_jax.models import LinearRegression
from hyperreg_jax.train import Trainer

sys.path.insert(0, str(pathlib.Path(__file__).parent / "helpers"))
import fit_killed

# ------------------------------------------------------------------------ checkpoints and resuming


@pytest.mark.slow
def test_fit_killed_mid_epoch_resumes_bit_identically(tmp_path):
  """A fitting process is SIGKILLed during epoch 3; ``fit`` again trains epochs 3-5 only,
  from the Orbax checkpoint of epoch 2, and ends bit for bit where an uninterrupted fit ends."""
  trainer, args = fit_killed.case()
  fit_killed.executed.clear()
  full_state, full_history = train.fit(
    trainer, *args, augment=fit_killed.count_batch, progress=False
  )
  assert fit_killed.epochs_run() == fit_killed.EPOCHS
  helper = pathlib.Path(__file__).parent / "helpers" / "fit_killed.py"
  killed = subprocess.run(
    [sys.executable, str(helper), str(tmp_path), "3"], capture_output=True, text=True, timeout=600
  )
  assert killed.returncode == -signal.SIGKILL, killed.stderr
  (run,) = tmp_path.glob("fit-*")
  assert sorted(int(p.name) for p in run.iterdir() if p.name.isdigit()) == [2]  # max_to_keep=1

  fit_killed.executed.clear()
  state, history = train.fit(
    trainer, *args, augment=fit_killed.count_batch, progress=False, checkpoint=tmp_path
  )
  assert fit_killed.epochs_run() == fit_killed.EPOCHS - 2  # epochs 3, 4 and 5 only
  for got, want in zip(
    jax.tree.leaves((state, history)), jax.tree.leaves((full_state, full_history))
  ):
    np.testing.assert_array_equal(got, want)
  assert sorted(int(p.name) for p in run.iterdir() if p.name.isdigit()) == [fit_killed.EPOCHS]
  # Finished: fit again trains nothing and gives the same.
  fit_killed.executed.clear()
  _, again = train.fit(
    trainer, *args, augment=fit_killed.count_batch, progress=False, checkpoint=tmp_path
  )
  assert not fit_killed.executed
  jax.tree.map(np.testing.assert_array_equal, again, full_history)
  # Another ILR is another run: it does not resume from this one.
  train.fit(
    trainer, 0.1, *args[1:], augment=fit_killed.count_batch, progress=False, checkpoint=tmp_path
  )
  assert fit_killed.epochs_run() == fit_killed.EPOCHS
  assert len(list(tmp_path.glob("fit-*"))) == 2


def test_fit_checkpoints_to_a_relative_folder(tmp_path, monkeypatch):
  """``checkpoint="ckpt"`` is relative to the working directory (Orbax itself takes only
  absolute paths), and resumes from there."""
  trainer, args = fit_killed.case()
  monkeypatch.chdir(tmp_path)
  fit_killed.executed.clear()
  _, history = train.fit(
    trainer, *args, augment=fit_killed.count_batch, progress=False, checkpoint="ckpt"
  )
  assert fit_killed.epochs_run() == fit_killed.EPOCHS
  (run,) = (tmp_path / "ckpt").glob("fit-*")
  assert [p.name for p in run.iterdir() if p.name.isdigit()] == [str(fit_killed.EPOCHS)]
  fit_killed.executed.clear()
  _, again = train.fit(
    trainer, *args, augment=fit_killed.count_batch, progress=False, checkpoint="ckpt"
  )
  assert not fit_killed.executed
  jax.tree.map(np.testing.assert_array_equal, again, history)


# ------------------------------------------------------------------------ fit: the host loop


def test_fit_steps_a_batch_norm_model_per_batch_with_augmentation(tmp_path):
  """fit = the jitted step per batch on the augmented batches of ``batch_order``, the batch
  statistics updated by every step, a record after every epoch; resumed from its checkpoint
  without training again."""
  rng = np.random.default_rng(0)
  x, y = rng.random((16, 8, 8, 3), np.float32), rng.integers(0, 3, 16).astype(np.int32)
  xt, yt = x[:8] * 0.5, y[:8]
  trainer = Trainer(SmallConvBN(), rkl1, batch_size=4, epochs=2)
  key, calls = jax.random.key(4), []

  def augment(k, batch):
    calls.append(None)
    return crop_and_flip(k, batch)

  state, history = train.fit(
    trainer, 0.5, key, x, y, xt, yt, augment=augment, progress=False, checkpoint=tmp_path
  )
  assert len(calls) == 2 * 4  # once per batch
  assert history["step_loss"].shape == (2, 4) and history["test_accuracy"].shape == (2,)
  assert {"train_loss", "train_accuracy", "test_loss", "lr_median"} <= set(history)

  # The same run written out: the documented batches, keys and step.
  init_key, epoch_keys = train.epoch_keys(trainer, key)
  ref = train.init_state(trainer, init_key, 0.5, x[:1])
  start = ref.batch_stats
  step = jax.jit(train.train_step, static_argnums=0)
  losses = []
  for e in range(2):
    for i, idx in enumerate(np.asarray(train.batch_order(trainer, epoch_keys[e], 16))):
      batch = crop_and_flip(jax.random.fold_in(jax.random.fold_in(key, 2), e * 4 + i), x[idx])
      ref, m = step(trainer, ref, 0.5, (batch, y[idx]))
      losses.append(float(m["loss"]))
  np.testing.assert_allclose(history["step_loss"].ravel(), losses, rtol=1e-6)
  jax.tree.map(
    lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7),
    (state.params, state.batch_stats),
    (ref.params, ref.batch_stats),
  )
  moved = jax.tree.map(lambda a, b: not np.allclose(a, b), start, state.batch_stats)
  assert all(jax.tree.leaves(moved))  # every running mean and variance moved
  evaluated = train.evaluate(trainer, ref, xt, yt)
  np.testing.assert_allclose(history["test_loss"][-1], evaluated["loss"], rtol=1e-5)

  # Without the augmentation it is another run; with it again, the checkpoint is reused.
  _, plain = train.fit(trainer, 0.5, key, x, y, xt, yt, progress=False)
  assert not np.allclose(plain["step_loss"], history["step_loss"])
  calls.clear()
  _, again = train.fit(
    trainer, 0.5, key, x, y, xt, yt, augment=augment, progress=False, checkpoint=tmp_path
  )
  assert not calls
  jax.tree.map(np.testing.assert_array_equal, again, history)


# ------------------------------------------------------------------------ optax's extra arguments


def sgd_on_plateau(lr):
  """SGD whose step is halved after 2 steps without a better loss (reads ``value=``)."""
  return optax.chain(optax.sgd(lr), optax.contrib.reduce_on_plateau(factor=0.5, patience=2))


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_fit_passes_the_loss_to_reduce_on_plateau(linreg, reduction):
  """``tx.update(..., value=loss)``: the differentiated loss (a batch mean or sum)."""
  trainer = Trainer(
    LinearRegression(),
    sgd_on_plateau,
    loss="mse",
    batch_size=16,
    epochs=3,
    loss_reduction=reduction,
  )
  lr = 0.3 if reduction == "mean" else 0.3 / 16
  state, history = train.fit(
    trainer, lr, jax.random.key(0), linreg.x_train, linreg.y_train, progress=False
  )
  plateau = state.opt_state[1]
  scale = 16 if reduction == "sum" else 1  # the value is the summed loss: 16x the mean
  step_loss = np.asarray(history["step_loss"]).ravel()
  assert np.isfinite(step_loss).all()
  assert float(plateau.best_value) <= scale * step_loss[0]
  np.testing.assert_allclose(float(plateau.best_value), scale * step_loss.min(), rtol=1e-3)
  assert float(plateau.scale) < 1  # it saw plateaus and cut the step
  plain = Trainer(LinearRegression(), sgd, loss="mse", batch_size=16, epochs=3)
  _, plain_history = train.fit(
    plain, 0.3, jax.random.key(0), linreg.x_train, linreg.y_train, progress=False
  )
  if reduction == "mean":
    assert not np.allclose(plain_history["step_loss"], history["step_loss"])
