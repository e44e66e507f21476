"""Sweeps over grids of any numeric hyperparameter: each point equals its run with the alias
built by hand, one compile per variant, saved, loaded, resumed and plotted by axis."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from sweep_helpers import ILRS, REGRESSION, regression_arrays

import hyperreg_jax as hr
from hyperreg_jax import SweepResult, models, train
from hyperreg_jax.train import Trainer

# === grids over any numeric hyperparameter ==============================================

GRID_KW = dict(seeds=[0, 2], epochs=2, batch_size=16, progress=False)


def _alias_run(make_tx, init_lr, seed):
  """A single run of ``make_tx`` (built from the aliases, not the sweep's table)."""
  trainer = Trainer(
    model=models.LinearRegression(), make_tx=make_tx, loss="mse", batch_size=16, epochs=2
  )
  state, history = jax.jit(functools.partial(train.run, trainer))(
    jnp.float32(init_lr), jax.random.key(seed), *regression_arrays()
  )
  return state, jax.tree.map(np.asarray, history)


def _assert_equals_alias_runs(result, v, index, make_tx, init_lr):
  for s, seed in enumerate(result.seeds):
    state, history = _alias_run(make_tx, init_lr, int(seed))
    for metric in ("train_loss", "test_loss", "step_loss"):
      np.testing.assert_allclose(
        result.curves[metric][(v, *index, s)],
        history[metric],
        rtol=2e-5,
        atol=1e-7,
        err_msg=f"{index} {metric}",
      )
    assert result.diverged[(v, *index, s)] == bool(state.diverged)


@pytest.mark.slow
def test_growth_inf_and_2_share_one_compile_and_equal_the_aliases():
  growths = [2.0, float("inf")]
  result = hr.sweep(
    models.LinearRegression(),
    REGRESSION,
    ["rkl2"],
    grid={"init_lr": [1.0, 10.0], "growth": growths},
    **GRID_KW,
  )
  assert result.meta["traces"] == {"rkl2": 1}  # clipped and unclipped: one program
  assert list(result.grid) == ["init_lr", "growth"]
  assert result.final("train_loss").shape == (1, 2, 2, 2)
  for k, ilr in enumerate([1.0, 10.0]):
    for g, growth in enumerate([2.0, None]):
      make_tx = functools.partial(
        lambda lr, growth: hr.rkl2(lr, growth=growth, weight_decay=1e-4), growth=growth
      )
      _assert_equals_alias_runs(result, 0, (k, g), make_tx, ilr)
  # The clip matters here: growth 2 and no clip are different runs at ILR 10.
  assert not np.allclose(result.final("train_loss")[0, 1, 0], result.final("train_loss")[0, 1, 1])


def _sgd_with_decay(lr, weight_decay):
  return optax.chain(optax.add_decayed_weights(weight_decay), optax.sgd(lr))


@pytest.mark.slow
def test_two_dimensional_grid_equals_looped_runs(tmp_path):
  import matplotlib

  matplotlib.use("Agg")
  grid = {"init_lr": [0.1, 0.5], "weight_decay": [0.0, 0.3]}
  variants = {"kl3": "kl3", "sgd": "sgd", "my_sgd": _sgd_with_decay}
  result = hr.sweep(
    models.LinearRegression(), REGRESSION, variants, grid=grid, max_parallel=3, **GRID_KW
  )
  assert result.meta["traces"] == {"kl3": 1, "sgd": 1, "my_sgd": 1}
  assert result.meta["chunks"] == 2  # 4 grid points in padded chunks of 3
  assert result.final("train_loss").shape == (3, 2, 2, 2)
  for k, ilr in enumerate(grid["init_lr"]):
    for w, wd in enumerate(grid["weight_decay"]):
      kl3 = functools.partial(lambda lr, wd: hr.kl3(lr, weight_decay=wd), wd=wd)
      _assert_equals_alias_runs(result, 0, (k, w), kl3, ilr)
      _assert_equals_alias_runs(
        result, 1, (k, w), functools.partial(_sgd_with_decay, weight_decay=wd), ilr
      )
  # A callable variant receives the grid values as keyword arguments: my_sgd is sgd.
  np.testing.assert_array_equal(result.curves["train_loss"][2], result.curves["train_loss"][1])
  assert not np.allclose(result.final("train_loss")[0, :, 0], result.final("train_loss")[0, :, 1])

  # One CSV column per axis; save/load keeps the grid; one table and plot line per other value.
  rows = result.records()
  assert len(rows) == 3 * 4 * 2 * 2
  assert list(rows[0])[:5] == ["variant", "init_lr", "weight_decay", "seed", "epoch"]
  assert {(r["init_lr"], r["weight_decay"]) for r in rows} == {
    (a, b) for a in (0.1, 0.5) for b in (0.0, 0.3)
  }
  row = next(
    r
    for r in rows
    if r["variant"] == "kl3"
    and r["init_lr"] == 0.5
    and r["weight_decay"] == 0.3
    and r["seed"] == 2
    and r["epoch"] == 2
  )
  assert row["train_loss"] == pytest.approx(float(result.curves["train_loss"][0, 1, 1, 1, 1]))
  result.save(tmp_path / "grid")
  loaded = SweepResult.load(tmp_path / "grid")
  assert list(loaded.grid) == ["init_lr", "weight_decay"]
  np.testing.assert_array_equal(loaded.grid["weight_decay"], grid["weight_decay"])
  np.testing.assert_array_equal(loaded.curves["train_loss"], result.curves["train_loss"])
  summary = loaded.summary()
  assert "weight_decay=0:" in summary and "weight_decay=0.3:" in summary
  ax = loaded.plot_sensitivity()
  assert len(ax.get_legend().get_texts()) == 3 * 2
  assert "kl3 (weight_decay=0.3)" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_ilrs_is_the_init_lr_axis_of_the_grid(regression_sweep):
  assert list(regression_sweep.grid) == ["init_lr"]
  np.testing.assert_array_equal(regression_sweep.grid["init_lr"], ILRS)
  by_grid = hr.sweep(
    models.LinearRegression(),
    REGRESSION,
    ["rkl1"],
    grid={"init_lr": ILRS},
    seeds=[0, 3],
    epochs=3,
    batch_size=16,
    progress=False,
  )
  np.testing.assert_array_equal(
    by_grid.curves["train_loss"], regression_sweep.curves["train_loss"][:1]
  )


@pytest.mark.slow
def test_checkpoint_resume_with_a_grid(tmp_path):
  grid = {"init_lr": [0.1, 0.5], "growth": [1.5, float("inf")]}
  kwargs = dict(GRID_KW, max_parallel=2, checkpoint=tmp_path)
  first = hr.sweep(models.LinearRegression(), REGRESSION, ["rkl1"], grid=grid, **kwargs)
  assert first.meta["reused_pieces"] == 0
  assert len(list(tmp_path.glob("piece-*.npz"))) == 2 * 2  # 2 seeds x 2 chunks
  again = hr.sweep(models.LinearRegression(), REGRESSION, ["rkl1"], grid=grid, **kwargs)
  assert again.meta["reused_pieces"] == 4 and again.meta["traces"] == {"rkl1": 0}
  np.testing.assert_array_equal(again.curves["train_loss"], first.curves["train_loss"])
  # Another value on any axis is another sweep: nothing is reused.
  other = hr.sweep(
    models.LinearRegression(), REGRESSION, ["rkl1"], grid={**grid, "growth": [1.5, 3.0]}, **kwargs
  )
  assert other.meta["reused_pieces"] == 0
  np.testing.assert_array_equal(
    other.curves["train_loss"][:, :, 0], first.curves["train_loss"][:, :, 0]
  )


@pytest.mark.slow
def test_ilrs_with_a_grid_over_the_learning_rate_multiplier():
  result = hr.sweep(
    models.LinearRegression(),
    REGRESSION,
    ["rkl1"],
    [0.1, 1.0],
    grid={"learning_rate": [0.5, 1.0]},
    **GRID_KW,
  )
  assert list(result.grid) == ["init_lr", "learning_rate"]  # ilrs= is the first axis
  for k, ilr in enumerate([0.1, 1.0]):
    for m, multiplier in enumerate([0.5, 1.0]):
      make_tx = functools.partial(
        lambda lr, m: hr.rkl1(lr, learning_rate=m, weight_decay=1e-4), m=multiplier
      )
      _assert_equals_alias_runs(result, 0, (k, m), make_tx, ilr)


def _kl1_with_warmup(lr, warmup_lr):
  return hr.kl1(lr, warmup_steps=3, warmup_lr=warmup_lr, weight_decay=1e-4)


@pytest.mark.slow
def test_grid_over_warmup_lr_of_a_callable_variant():
  grid = {"init_lr": [0.5], "warmup_lr": [1e-3, 0.1]}
  result = hr.sweep(models.LinearRegression(), REGRESSION, [_kl1_with_warmup], grid=grid, **GRID_KW)
  for w, warmup_lr in enumerate(grid["warmup_lr"]):
    make_tx = functools.partial(_kl1_with_warmup, warmup_lr=warmup_lr)
    _assert_equals_alias_runs(result, 0, (0, w), make_tx, 0.5)
  steps = result.curves["step_loss"][0, 0, :, 0, 0]  # (warmup_lr, step): first steps differ
  assert not np.allclose(steps[0, 1:3], steps[1, 1:3])
