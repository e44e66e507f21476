"""Tests for hyperreg_jax.train: vmap == loop, one compile per configuration, the divergence
guard, evaluation in chunks, and short real runs (embedded MNIST, linear regression)."""

from __future__ import annotations

import functools
import pathlib
import signal
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import linen as nn
from flax import nnx

import hyperreg_jax as hr
from hyperreg_jax.data import load_mnist, synthetic_linear_regression
from hyperreg_jax.models import MLP, LinearRegression
from hyperreg_jax import train
from hyperreg_jax.train import Trainer

sys.path.insert(0, str(pathlib.Path(__file__).parent / "helpers"))
import fit_killed  # noqa: E402

SWEEP_AXES = (0, 0, None, None, None, None)


@pytest.fixture(scope="module")
def mnist():
  return load_mnist()


@pytest.fixture(scope="module")
def small(mnist):
  """256 training and 100 test digits."""
  return mnist.x_train[:256], mnist.y_train[:256], mnist.x_test[:100], mnist.y_test[:100]


@pytest.fixture(scope="module")
def linreg():
  return synthetic_linear_regression(num_train=256, num_test=64, dim=3, seed=0)


def sgd(lr):
  return optax.sgd(lr)


def rkl1(lr):
  return hr.rkl1(lr, weight_decay=1e-4)


def assert_trees_equal(a, b):
  jax.tree.map(lambda u, v: np.testing.assert_array_equal(np.asarray(u), np.asarray(v)), a, b)


# ------------------------------------------------------------------------ configuration


def test_bad_config():
  model = MLP(hidden=8)
  with pytest.raises(ValueError, match="loss='hinge'"):
    Trainer(model, sgd, loss="hinge")
  for bad in (0, -1, True, 2.0):
    with pytest.raises(ValueError, match="batch_size"):
      Trainer(model, sgd, batch_size=bad)
  with pytest.raises(ValueError, match="epochs"):
    Trainer(model, sgd, epochs=0)
  with pytest.raises(ValueError, match="eval_batch_size"):
    Trainer(model, sgd, eval_batch_size=0)
  with pytest.raises(ValueError, match="full_batch_steps"):
    Trainer(model, sgd, batch_size=32, full_batch_steps=5)
  with pytest.raises(ValueError, match=r"loss_reduction='median'.*\('mean', 'sum'\)"):
    Trainer(model, sgd, loss_reduction="median")
  with pytest.raises(TypeError, match="step_lr_stats='yes' must be True or False"):
    Trainer(model, sgd, step_lr_stats="yes")
  trainer = Trainer(model, sgd, batch_size=64)
  state = train.init_state(trainer, jax.random.key(0), 0.1, jnp.zeros((1, 4)))
  with pytest.raises(ValueError, match="batch_size=64 exceeds the 10"):
    train.train_epoch(
      trainer, state, 0.1, jax.random.key(0), jnp.zeros((10, 4)), jnp.zeros(10, int)
    )
  with pytest.raises(ValueError, match="examples"):
    train.train_epoch(
      trainer, state, 0.1, jax.random.key(0), jnp.zeros((64, 4)), jnp.zeros(63, int)
    )
  assert trainer.steps_per_epoch(200) == 3  # the partial batch is dropped
  assert Trainer(model, sgd, batch_size=None, full_batch_steps=7).steps_per_epoch(10) == 7


class DuckLinear:
  """Not a Flax module: just ``init``/``apply`` (and no ``train`` argument)."""

  def init(self, key, x):
    return {"params": {"w": jnp.zeros(x.shape[1])}}

  def apply(self, variables, x):
    return x @ variables["params"]["w"]


def test_duck_typed_model():
  x = np.random.default_rng(0).standard_normal((64, 3)).astype(np.float32)
  y = x @ np.array([1.0, -2.0, 0.5], np.float32)
  trainer = Trainer(DuckLinear(), sgd, loss="mse", batch_size=None, full_batch_steps=50)
  state = train.init_state(trainer, jax.random.key(0), 0.5, x[:1])
  assert state.batch_stats == {}
  state, m = train.train_epoch(trainer, state, 0.5, None, x, y)
  assert m["loss"][-1] < 1e-3 * m["loss"][0] and int(state.step) == 50
  np.testing.assert_allclose(state.params["w"], [1.0, -2.0, 0.5], atol=1e-2)


# ------------------------------------------------------------------------ vmap and compile


@pytest.mark.slow
def test_vmapped_run_equals_looped(small):
  """hr.rkl1 on a small MLP (optax.sgd: see the exploding-lane test below)."""
  make_tx = rkl1
  x, y, xt, yt = small
  trainer = Trainer(
    MLP(hidden=32), make_tx, batch_size=32, epochs=2, eval_batch_size=64, step_lr_stats=True
  )
  ilrs = jnp.array([0.03, 0.1, 0.3])
  keys = jax.random.split(jax.random.key(1), 3)
  states, hist = jax.jit(jax.vmap(functools.partial(train.run, trainer), in_axes=SWEEP_AXES))(
    ilrs, keys, x, y, xt, yt
  )

  steps = 256 // 32
  assert hist["train_loss"].shape == (3, 2) and hist["test_accuracy"].shape == (3, 2)
  assert hist["step_loss"].shape == (3, 2, steps)
  for k in ("lr_min", "lr_mean", "lr_max"):  # beta statistics, logged every step when asked
    assert hist[k].shape == (3, 2) and hist[f"step_{k}"].shape == (3, 2, steps)
  np.testing.assert_array_equal(hist["lr_max"], hist["step_lr_max"][:, :, -1])
  # The median is logged once an epoch (it costs several passes over beta), not per step.
  assert hist["lr_median"].shape == (3, 2) and "step_lr_median" not in hist
  assert np.all((hist["lr_min"] <= hist["lr_median"]) & (hist["lr_median"] <= hist["lr_max"]))
  final = [hr.lr_stats(jax.tree.map(lambda a, i=i: a[i], states.opt_state)) for i in range(3)]
  np.testing.assert_allclose(hist["lr_median"][:, -1], [float(f["lr_median"]) for f in final])
  assert np.all(np.diff(hist["step_lr_max"].reshape(3, -1), axis=1) <= 0)  # LR never grows
  assert np.all(hist["step_lr_max"] <= ilrs[:, None, None] * (1 + 1e-6))
  assert np.all(hist["step_lr_min"] < ilrs[:, None, None])  # and it did adapt
  np.testing.assert_array_equal(states.step, 2 * steps)

  looped = jax.jit(functools.partial(train.run, trainer))
  for i in range(3):
    state_i, hist_i = looped(ilrs[i], keys[i], x, y, xt, yt)
    lane = jax.tree.map(lambda a: a[i], (states, hist))
    jax.tree.map(
      lambda u, v: np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-6), lane, (state_i, hist_i)
    )
  # Different ILRs gave different runs.
  assert not np.allclose(hist["train_loss"][0], hist["train_loss"][2])


@pytest.mark.slow
def test_fit_compiles_once_and_matches_run(small):
  x, y, xt, yt = small
  traces = []

  def make_tx(lr):
    traces.append(None)  # called while tracing only: the ILR is a tracer there
    return optax.sgd(lr)

  trainer = Trainer(MLP(hidden=16), make_tx, batch_size=64, epochs=2)
  state_a, hist_a = train.fit(trainer, 0.1, jax.random.key(0), x, y, xt, yt, progress=False)
  first = len(traces)
  assert first > 0
  state_b, hist_b = train.fit(trainer, 0.5, jax.random.key(0), x, y, xt, yt, progress=True)
  assert len(traces) == first  # a new ILR is data, not a retrace
  assert not np.allclose(hist_a["step_loss"], hist_b["step_loss"])

  state_r, hist_r = jax.jit(functools.partial(train.run, trainer))(
    0.1, jax.random.key(0), x, y, xt, yt
  )
  assert set(hist_r) == set(hist_a)
  jax.tree.map(
    lambda u, v: np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-6),
    (state_a, hist_a),
    (state_r, hist_r),
  )


# ------------------------------------------------------------------------ divergence guard


def unguarded_linreg(ilr, x, y, params, steps):
  """Plain full-batch SGD without the guard: the per-step losses and parameter trees."""

  def loss_fn(p):
    return 0.5 * jnp.mean((LinearRegression().apply({"params": p}, x) - y) ** 2)

  losses, finite_after = [], []
  for _ in range(steps):
    loss, grads = jax.value_and_grad(loss_fn)(params)
    params = jax.tree.map(lambda p, g: p - ilr * g, params, grads)
    losses.append(float(loss))
    finite_after.append(all(bool(jnp.all(jnp.isfinite(p))) for p in jax.tree.leaves(params)))
  return np.array(losses), np.array(finite_after)


def test_all_finite_finds_every_nan_and_infinity():
  """The guard's check, jitted, against NumPy: one bad entry anywhere in any float leaf."""
  from hyperreg_jax.train._model import all_finite

  check = jax.jit(all_finite)
  rng = np.random.default_rng(0)
  dtypes = (jnp.float32, jnp.bfloat16, jnp.float16, jnp.complex64)
  for shape in ((784, 500), (3, 33, 5), (1,), (0,)):
    for dtype in dtypes:
      base = (rng.standard_normal(shape) * 1e4).astype(np.float32)  # large but finite
      tree = {"w": jnp.asarray(base, dtype), "n": jnp.arange(3), "b": jnp.ones(2, dtype)}
      assert bool(check(tree))
      if not base.size:
        continue
      for bad in (np.nan, np.inf, -np.inf):
        values = base.ravel().copy()
        values[rng.integers(values.size)] = bad
        tree["w"] = jnp.asarray(values.reshape(shape), dtype)
        assert not bool(check(tree)), (shape, dtype, bad)
  huge = {"w": jnp.full((1000,), jnp.finfo(jnp.float32).max)}  # its sum would overflow
  assert bool(check(huge))
  assert bool(check({"i": jnp.array([2**31 - 1])}))  # integer leaves are ignored


def test_divergence_guard_freezes_and_records_step(linreg):
  x, y = jnp.asarray(linreg.x_train), jnp.asarray(linreg.y_train)
  steps, ilr = 40, 1e3
  trainer = Trainer(LinearRegression(), sgd, loss="mse", batch_size=None, full_batch_steps=steps)
  state0 = train.init_state(trainer, jax.random.key(0), ilr, x[:1])
  state, m = jax.jit(functools.partial(train.train_epoch, trainer))(
    state0, ilr, jax.random.key(0), x, y
  )

  losses, finite_after = unguarded_linreg(ilr, x, y, state0.params, steps)
  first_bad_loss = int(np.argmax(~np.isfinite(losses)))
  first_bad = int(np.argmax(~np.isfinite(losses) | ~finite_after))
  assert 0 < first_bad_loss < steps and first_bad == first_bad_loss
  assert bool(state.diverged) and int(state.diverged_at) == first_bad_loss
  assert int(state.step) == steps
  # Frozen at the last finite point: the parameters before the refused step.
  assert all(bool(jnp.all(jnp.isfinite(p))) for p in jax.tree.leaves(state.params))
  np.testing.assert_array_equal(np.isnan(m["loss"]), np.arange(steps) >= first_bad_loss)
  np.testing.assert_allclose(m["loss"][:first_bad_loss], losses[:first_bad_loss], rtol=1e-4)
  # Once diverged, further steps are no-ops.
  again, m2 = jax.jit(functools.partial(train.train_epoch, trainer))(
    state, ilr, jax.random.key(0), x, y
  )
  assert_trees_equal((again.params, again.opt_state), (state.params, state.opt_state))
  assert int(again.diverged_at) == first_bad_loss and bool(np.all(np.isnan(m2["loss"])))
  # (The frozen parameters are finite, but their loss is the one that overflowed.)
  assert set(train.evaluate(trainer, state, x, y)) == {"loss"}


@pytest.mark.slow
def test_divergence_guard_refuses_non_finite_update(small):
  """MLP + absurd SGD step: the update overflows before the loss does; the step that
  would have written infinities into the parameters is the one recorded."""
  x, y, _, _ = small
  trainer = Trainer(MLP(hidden=16), sgd, batch_size=None, full_batch_steps=12)
  state0 = train.init_state(trainer, jax.random.key(0), 1e38, x[:1])
  state, m = jax.jit(functools.partial(train.train_epoch, trainer))(
    state0, 1e38, jax.random.key(0), x, y
  )
  assert bool(state.diverged)
  t = int(state.diverged_at)
  # Re-run the steps before t unguarded: all finite; step t writes non-finite params.
  params, tx = state0.params, optax.sgd(1e38)
  opt_state = tx.init(params)

  def loss_fn(p):
    logits = MLP(hidden=16).apply({"params": p}, x)
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

  @jax.jit
  def unguarded_step(params, opt_state):
    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return loss, optax.apply_updates(params, updates), opt_state

  for s in range(t + 1):
    loss, new, opt_state = unguarded_step(params, opt_state)
    finite = np.isfinite(float(loss)) and all(
      bool(jnp.all(jnp.isfinite(p))) for p in jax.tree.leaves(new)
    )
    assert finite == (s < t), s
    if s < t:
      params = new
  assert_trees_equal(state.params, params)
  np.testing.assert_array_equal(np.isnan(m["loss"]), np.arange(12) >= t)


@pytest.mark.slow
def test_exploding_lane_leaves_other_lanes_bit_identical(small):
  """optax.sgd, 3 ILRs vmapped, one of them absurd: vmapped == looped, bit for bit (CPU)."""
  x, y, xt, yt = small
  trainer = Trainer(LinearRegression(), sgd, loss="mse", batch_size=32, epochs=2)
  xr, yr = x.reshape(256, -1)[:, :20], (y % 3).astype(np.float32)
  keys = jax.random.split(jax.random.key(7), 3)
  sweep = jax.jit(jax.vmap(functools.partial(train.run, trainer), in_axes=SWEEP_AXES))
  args = (xr, yr, xr[:50], yr[:50])
  bad_states, bad_hist = sweep(jnp.array([0.01, 1e18, 0.02]), keys, *args)
  good_states, good_hist = sweep(jnp.array([0.01, 0.015, 0.02]), keys, *args)
  np.testing.assert_array_equal(bad_states.diverged, [False, True, False])
  np.testing.assert_array_equal(good_states.diverged, [False, False, False])
  assert int(bad_states.diverged_at[1]) >= 0
  assert np.isnan(bad_hist["test_loss"][1, -1]) and np.isnan(bad_hist["train_loss"][1, -1])
  assert "lr_min" not in bad_hist and "step_lr_mean" not in bad_hist  # sgd: no beta
  solo_run = jax.jit(functools.partial(train.run, trainer))
  for i, ilr in enumerate([0.01, 1e18, 0.02]):
    lane = jax.tree.map(lambda a: a[i], (bad_states, bad_hist))  # noqa: B023
    if i != 1:
      assert_trees_equal(lane, jax.tree.map(lambda a: a[i], (good_states, good_hist)))
    # ... and each lane equals its run on its own.
    assert_trees_equal(lane, solo_run(jnp.float32(ilr), keys[i], *args))


# ------------------------------------------------------------------------ evaluation


@pytest.mark.slow
def test_evaluate_chunked_mean_is_exact(mnist):
  x, y = mnist.x_test, mnist.y_test  # 1000 examples: 15 chunks of 64 and a remainder of 40
  trainer = Trainer(MLP(hidden=16), sgd, eval_batch_size=64)
  state = train.init_state(trainer, jax.random.key(3), 0.1, x[:1])
  chunked = jax.jit(functools.partial(train.evaluate, trainer))(state, x, y)
  whole = train.evaluate(Trainer(MLP(hidden=16), sgd, eval_batch_size=5000), state, x, y)
  logits = np.asarray(MLP(hidden=16).apply({"params": state.params}, x), np.float64)
  logp = logits - logits.max(1, keepdims=True)
  logp -= np.log(np.exp(logp).sum(1, keepdims=True))
  ref_loss = -logp[np.arange(1000), y].mean()
  ref_acc = np.mean(logits.argmax(1) == y)
  for ev in (chunked, whole):
    np.testing.assert_allclose(float(ev["loss"]), ref_loss, rtol=1e-6)
    assert float(ev["accuracy"]) == pytest.approx(ref_acc, abs=1e-7)
  # Mean squared error, chunk size not dividing n.
  reg = Trainer(LinearRegression(), sgd, loss="mse", eval_batch_size=7)
  rstate = train.init_state(reg, jax.random.key(0), 0.1, jnp.zeros((1, 3)))
  xr = np.random.default_rng(0).standard_normal((50, 3)).astype(np.float32)
  yr = xr.sum(1)
  pred = np.asarray(LinearRegression().apply({"params": rstate.params}, xr), np.float64)
  np.testing.assert_allclose(
    float(train.evaluate(reg, rstate, xr, yr)["loss"]), 0.5 * np.mean((pred - yr) ** 2), rtol=1e-6
  )


# ------------------------------------------------------------------------ real runs


@pytest.mark.slow
def test_short_mnist_run_learns(mnist):
  x, y = mnist.x_train[:2000], mnist.y_train[:2000]
  trainer = Trainer(MLP(), rkl1, batch_size=32, epochs=2)
  state, hist = jax.jit(functools.partial(train.run, trainer))(
    0.5, jax.random.key(0), x, y, mnist.x_test, mnist.y_test
  )
  assert not bool(state.diverged) and int(state.diverged_at) == -1
  step_loss = np.asarray(hist["step_loss"]).ravel()
  assert step_loss[-5:].mean() < 0.5 * step_loss[0]
  assert hist["train_loss"][1] < hist["train_loss"][0]
  assert float(hist["test_accuracy"][-1]) > 0.75
  assert float(hist["lr_max"][-1]) <= 0.5 and float(hist["lr_min"][-1]) > 0


@pytest.mark.slow
def test_summed_loss_moves_the_ilr_axis_by_the_batch_size(linreg):
  """Sum with ILR lr / B and decay B * wd is the mean with lr and wd (1-homogeneity)."""
  batch, lr, wd = 32, 0.3, 1e-2

  def run(reduction, ilr, decay):
    make_tx = lambda init_lr: hr.rkl1(init_lr, weight_decay=decay)  # noqa: E731
    trainer = Trainer(
      LinearRegression(),
      make_tx,
      loss="mse",
      batch_size=batch,
      epochs=2,
      loss_reduction=reduction,
    )
    return train.run(trainer, ilr, jax.random.key(0), linreg.x_train, linreg.y_train)

  mean_state, mean_history = run("mean", lr, wd)
  sum_state, sum_history = run("sum", lr / batch, wd * batch)
  jax.tree.map(
    lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-6),
    mean_state.params,
    sum_state.params,
  )
  # Logged losses are per-example means with either reduction.
  np.testing.assert_allclose(sum_history["train_loss"], mean_history["train_loss"], rtol=2e-4)
  # The same ILR with the sum is a different (larger) effective step.
  other_state, _ = run("sum", lr, wd * batch)
  kernel = lambda state: state.params["linear"]["kernel"]  # noqa: E731
  assert not np.allclose(kernel(other_state), kernel(mean_state))


def test_lr_statistics_are_logged_once_an_epoch_unless_every_step_is_asked_for(linreg):
  data = (linreg.x_train, linreg.y_train)
  hists = {}
  for every_step in (False, True):
    trainer = Trainer(
      LinearRegression(), rkl1, loss="mse", batch_size=64, epochs=2, step_lr_stats=every_step
    )
    hists[every_step] = jax.jit(functools.partial(train.run, trainer))(
      0.5, jax.random.key(0), *data
    )[1]
  epoch_keys = {"lr_min", "lr_median", "lr_mean", "lr_max"}
  step_keys = {"step_lr_min", "step_lr_mean", "step_lr_max"}
  assert epoch_keys <= set(hists[False]) and not step_keys & set(hists[False])
  assert step_keys <= set(hists[True])
  for k in sorted(epoch_keys):  # the switch changes nothing else
    np.testing.assert_array_equal(hists[False][k], hists[True][k])
  np.testing.assert_array_equal(hists[False]["step_loss"], hists[True]["step_loss"])
  np.testing.assert_array_equal(hists[True]["step_lr_mean"][:, -1], hists[True]["lr_mean"])
  assert np.all(np.diff(hists[True]["step_lr_max"].ravel()) <= 0)  # the LR never grows


def test_full_batch_linear_regression_reaches_optimum(linreg):
  trainer = Trainer(
    LinearRegression(), sgd, loss="mse", batch_size=None, epochs=5, full_batch_steps=20
  )
  state, hist = jax.jit(functools.partial(train.run, trainer))(
    0.5, jax.random.key(0), linreg.x_train, linreg.y_train, linreg.x_test, linreg.y_test
  )
  assert hist["step_loss"].shape == (5, 20) and "test_loss" in hist
  assert "train_accuracy" not in hist and "test_accuracy" not in hist
  final = float(train.evaluate(trainer, state, linreg.x_train, linreg.y_train)["loss"])
  assert final == pytest.approx(linreg.info["loss_opt"], rel=1e-4)
  np.testing.assert_allclose(
    state.params["linear"]["kernel"][:, 0], linreg.info["w_opt"], rtol=1e-3, atol=1e-4
  )


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
  for collection, layers in variables.items():
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
