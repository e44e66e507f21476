"""Tests for hyperreg_jax.train: the configuration, vmap == loop, one compile per
configuration, evaluation in chunks, and short real runs (embedded MNIST, linear regression).
The divergence guard: test_divergence_guard.py; the host loop ``fit``: test_fit.py; models
other than linen: test_nnx_models.py."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from train_helpers import SWEEP_AXES, rkl1, sgd

import hyperreg_jax as hr
from hyperreg_jax import train
from hyperreg_jax.models import MLP, LinearRegression
from hyperreg_jax.train import Trainer

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
    lane = jax.tree.map(lambda a: a[i], (states, hist))  # noqa: B023
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
    make_tx = lambda init_lr: hr.rkl1(init_lr, weight_decay=decay)
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
  kernel = lambda state: state.params["linear"]["kernel"]
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
