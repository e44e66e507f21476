"""Vectorised sweeps: equal to solo runs, robust to divergence, chunking and saving."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import hyperreg_jax as hr
from hyperreg_jax import SweepResult, data, models, train
from hyperreg_jax import _sweep as sweep_module
from hyperreg_jax._registry import make_optimizer
from hyperreg_jax.train import Trainer

REGRESSION = data.synthetic_linear_regression(num_train=96, num_test=32, dim=3, seed=1)
ILRS = np.array([1e-2, 1e-1, 1.0])


def _arrays():
  return REGRESSION.x_train, REGRESSION.y_train, REGRESSION.x_test, REGRESSION.y_test


@functools.cache
def solo_runner(variant):
  trainer = Trainer(
    model=models.LinearRegression(),
    make_tx=make_optimizer(variant),
    loss="mse",
    batch_size=16,
    epochs=3,
  )
  return jax.jit(functools.partial(train.run, trainer))


def solo_run(variant, ilr, seed):
  state, history = solo_runner(variant)(
    jnp.float32(ilr),
    jax.random.key(seed),
    REGRESSION.x_train,
    REGRESSION.y_train,
    REGRESSION.x_test,
    REGRESSION.y_test,
  )
  return state, jax.tree.map(np.asarray, history)


def test_sweep_equals_runs_one_by_one(regression_sweep):
  result = regression_sweep
  assert result.final("train_loss").shape == (3, 3, 2)
  assert result.meta["traces"] == {"rkl1": 1, "kl3": 1, "sgd": 1}
  for v, variant in enumerate(result.variants):
    for k, ilr in enumerate(ILRS):
      for s, seed in enumerate(result.seeds):
        state, history = solo_run(variant, ilr, int(seed))
        for metric in ("train_loss", "test_loss", "step_loss"):
          np.testing.assert_allclose(
            result.curves[metric][v, k, s],
            history[metric],
            rtol=2e-5,
            atol=1e-7,
            err_msg=f"{variant} {ilr} {seed}",
          )
        assert result.diverged[v, k, s] == bool(state.diverged)
  assert np.isnan(result.curves["lr_mean"][2]).all()  # sgd has no beta
  lr_mean = result.curves["lr_mean"][0]
  assert np.all(lr_mean[..., -1] <= ILRS[:, None] * (1 + 1e-6))  # the learning rate only falls
  assert "step_lr_mean" not in result.curves  # per-step LR statistics only when asked for


def test_sweep_logs_lr_statistics_every_step_when_asked():
  result = hr.sweep(
    models.LinearRegression(),
    REGRESSION,
    ["rkl1", "sgd"],
    [0.1, 1.0],
    epochs=2,
    batch_size=16,
    step_lr_stats=True,
    progress=False,
  )
  steps = REGRESSION.x_train.shape[0] // 16
  assert result.curves["step_lr_mean"].shape == (2, 2, 1, 2, steps)
  np.testing.assert_array_equal(
    result.curves["step_lr_mean"][0, ..., -1], result.curves["lr_mean"][0]
  )
  assert np.isnan(result.curves["step_lr_mean"][1]).all()  # sgd has no beta
  assert result.meta["step_lr_stats"] is True


def test_seed_fixes_data_order_and_init_across_ilrs(regression_sweep):
  first_step = regression_sweep.curves["step_loss"][..., 0, 0]  # loss before any update
  np.testing.assert_array_equal(first_step, first_step[:1, :1, :].repeat(3, 0).repeat(3, 1))
  assert first_step[0, 0, 0] != first_step[0, 0, 1]


@pytest.mark.slow
def test_chunked_equals_unchunked(regression_sweep):
  chunked = hr.sweep(
    models.LinearRegression(),
    REGRESSION,
    ["rkl1", "kl3", "sgd"],
    ILRS,
    seeds=[0, 3],
    epochs=3,
    batch_size=16,
    max_parallel=2,
    progress=False,
  )
  assert chunked.meta["chunks"] == 2 and chunked.meta["traces"]["rkl1"] == 1
  for metric, curve in regression_sweep.curves.items():
    np.testing.assert_array_equal(chunked.curves[metric], curve, err_msg=metric)


def first_nonfinite_step(variant, ilr, seed, steps):
  """Independently: an unguarded full-batch loop, the first step with a non-finite value."""
  model = models.LinearRegression()
  trainer = Trainer(
    model=model, make_tx=make_optimizer(variant), loss="mse", batch_size=None, epochs=1
  )
  params = train.init_state(
    trainer, jax.random.fold_in(jax.random.key(seed), 0), ilr, REGRESSION.x_train[:1]
  ).params
  tx = make_optimizer(variant)(ilr)
  opt_state = tx.init(params)
  x, y = jnp.asarray(REGRESSION.x_train), jnp.asarray(REGRESSION.y_train)
  loss_fn = lambda p: 0.5 * jnp.mean((model.apply({"params": p}, x) - y) ** 2)  # noqa: E731
  for step in range(steps):
    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    params = optax.apply_updates(params, updates)
    finite = all(
      bool(jnp.all(jnp.isfinite(leaf))) for leaf in jax.tree.leaves((loss, params, opt_state))
    )
    if not finite:
      return step
  return -1


@pytest.mark.slow
def test_absurd_ilr_is_frozen_and_reported_others_untouched():
  ilrs = np.array([0.1, 1e30, 0.5])
  result = hr.sweep(
    models.LinearRegression(),
    REGRESSION,
    ["sgd", "rkl2"],
    ilrs,
    seeds=[0],
    epochs=4,
    batch_size=None,
    full_batch_steps=5,
    progress=False,
  )
  assert result.diverged[:, 1, 0].all() and not result.diverged[:, [0, 2]].any()
  for v, variant in enumerate(result.variants):
    expected = first_nonfinite_step(variant, 1e30, 0, steps=20)
    assert expected >= 0
    assert result.diverged_at[v, 1, 0] == expected
    assert np.isnan(result.curves["train_loss"][v, 1, 0, -1])
    for k in (0, 2):
      assert np.isfinite(result.curves["train_loss"][v, k]).all()
  # The finite runs equal their solo runs: the exploding neighbour changed nothing.
  clean = hr.sweep(
    models.LinearRegression(),
    REGRESSION,
    ["sgd", "rkl2"],
    ilrs[[0, 2]],
    seeds=[0],
    epochs=4,
    batch_size=None,
    full_batch_steps=5,
    progress=False,
  )
  for metric, curve in clean.curves.items():
    np.testing.assert_array_equal(result.curves[metric][:, [0, 2]], curve, err_msg=metric)


@pytest.mark.slow
def test_sweep_passes_the_loss_reduction_on():
  result = hr.sweep(
    models.LinearRegression(),
    REGRESSION,
    ["sgd"],
    [0.01],
    epochs=2,
    batch_size=16,
    loss_reduction="sum",
    progress=False,
  )
  trainer = Trainer(
    models.LinearRegression(),
    make_optimizer("sgd"),
    loss="mse",
    batch_size=16,
    epochs=2,
    loss_reduction="sum",
  )
  _, history = train.run(trainer, 0.01, jax.random.key(0), *_arrays())
  np.testing.assert_allclose(result.curves["train_loss"][0, 0, 0], history["train_loss"], rtol=1e-5)
  assert result.meta["loss_reduction"] == "sum"
  with pytest.raises(ValueError, match="loss_reduction='avg'"):
    hr.sweep(models.LinearRegression(), REGRESSION, ["sgd"], [0.01], loss_reduction="avg")


@pytest.mark.slow
def test_mnist_mlp_sweep_learns():
  mnist = data.load_mnist()
  small = (mnist.x_train[:1024], mnist.y_train[:1024], mnist.x_test[:500], mnist.y_test[:500])
  result = hr.sweep(
    models.MLP(),
    small,
    {"rkl1": "rkl1", "sgd+": lambda lr: optax.sgd(lr)},
    [0.05, 1.0],
    seeds=[0],
    epochs=2,
    batch_size=32,
    progress=False,
  )
  accuracy = result.final("test_accuracy")
  assert accuracy[:, 1].min() > 0.6 and np.isfinite(accuracy).all()  # chance is 0.1
  assert result.curves["step_loss"].shape == (2, 2, 1, 2, 32)


@pytest.mark.parametrize(
  "bad,match",
  [
    (dict(ilrs=[0.1, -1.0]), "ilrs must be"),
    (dict(ilrs=[]), "ilrs must be"),
    (dict(ilrs=[0.1, 1e-45]), r"ilrs must be normal float32 numbers .*1e-45"),
    (dict(ilrs=[1e39]), r"ilrs must be normal float32 numbers .*1e\+39"),
    (dict(seeds=[0.5]), "seeds must be"),
    (dict(variants=["adamw2"]), "variant must be one of"),
    (dict(variants=[]), "at least one"),
    (dict(max_parallel=0), "max_parallel must be"),
    (dict(dataset=object()), "dataset must be"),
  ],
)
def test_bad_arguments(bad, match):
  kwargs = dict(
    model=models.LinearRegression(),
    dataset=REGRESSION,
    variants=["sgd"],
    ilrs=[0.1],
    seeds=[0],
    progress=False,
  )
  kwargs.update(bad)
  with pytest.raises(ValueError, match=match):
    hr.sweep(**kwargs)


class Interrupted(Exception):
  pass


@pytest.mark.slow
def test_interrupted_sweep_resumes_from_its_checkpoint(tmp_path, monkeypatch):
  kwargs = dict(
    seeds=[0, 1], epochs=2, batch_size=16, max_parallel=2, progress=False, checkpoint=tmp_path
  )
  calls, stop_after = [], [3]
  real_runner = sweep_module._grid_runner

  def counting_runner(trainer, mesh):
    run, traces = real_runner(trainer, mesh)

    def run_and_count(*args):
      if len(calls) == stop_after[0]:
        raise Interrupted  # the sweep is stopped after three pieces
      calls.append(args)
      return run(*args)

    return run_and_count, traces

  monkeypatch.setattr(sweep_module, "_grid_runner", counting_runner)
  with pytest.raises(Interrupted):
    hr.sweep(models.LinearRegression(), REGRESSION, ["rkl1", "sgd"], ILRS, **kwargs)
  assert len(list(tmp_path.glob("piece-*.npz"))) == 3
  calls.clear()
  stop_after[0] = None
  resumed = hr.sweep(models.LinearRegression(), REGRESSION, ["rkl1", "sgd"], ILRS, **kwargs)
  assert len(calls) == 5  # 2 variants x 2 seeds x 2 chunks = 8 pieces, 3 were saved
  monkeypatch.setattr(sweep_module, "_grid_runner", real_runner)
  fresh = hr.sweep(
    models.LinearRegression(), REGRESSION, ["rkl1", "sgd"], ILRS, **{**kwargs, "checkpoint": None}
  )
  for metric, curve in fresh.curves.items():
    np.testing.assert_array_equal(resumed.curves[metric], curve, err_msg=metric)
  np.testing.assert_array_equal(resumed.diverged_at, fresh.diverged_at)
  # A different sweep (another ILR grid) does not pick up these pieces.
  other = hr.sweep(models.LinearRegression(), REGRESSION, ["sgd"], ILRS * 2, **kwargs)
  assert len(list(tmp_path.glob("piece-*.npz"))) == 8 + 4
  assert other.final("train_loss").shape == (1, 3, 2)


@pytest.mark.slow
def test_mlp_chunking_changes_results_only_at_float_rounding():
  """With matrix products a lane's rounding may depend on how many lanes run together.

  The README promises equality to float rounding (not bit for bit) for such models: the
  same (variant, ILR, seed) run chunked two ways agrees to a relative 1e-4 on every curve
  at well-behaved ILRs.
  """
  mnist = data.load_mnist(max_train=256, max_test=64)
  run = functools.partial(
    hr.sweep,
    models.MLP(hidden=32),
    mnist,
    ["rkl1"],
    [0.03, 0.1, 0.3, 1.0],
    seeds=[0],
    epochs=2,
    batch_size=32,
    progress=False,
  )
  whole, chunked = run(), run(max_parallel=1)
  assert chunked.meta["chunks"] == 4 and whole.meta["chunks"] == 1
  for metric in ("train_loss", "test_loss", "lr_mean", "lr_median"):
    np.testing.assert_allclose(chunked.curves[metric], whole.curves[metric], rtol=1e-4)


# === grids over any numeric hyperparameter ==============================================

GRID_KW = dict(seeds=[0, 2], epochs=2, batch_size=16, progress=False)


def _alias_run(make_tx, init_lr, seed):
  """A single run of ``make_tx`` (built from the aliases, not the sweep's table)."""
  trainer = Trainer(
    model=models.LinearRegression(), make_tx=make_tx, loss="mse", batch_size=16, epochs=2
  )
  state, history = jax.jit(functools.partial(train.run, trainer))(
    jnp.float32(init_lr), jax.random.key(seed), *_arrays()
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
    _, history = train.run(trainer, jnp.float32(ilr), jax.random.key(0), *_arrays())
    np.testing.assert_allclose(result.curves["step_loss"][0, k, 0], history["step_loss"], rtol=2e-5)
  assert not np.allclose(result.curves["step_loss"][0, 2], result.curves["step_loss"][1, 2])
