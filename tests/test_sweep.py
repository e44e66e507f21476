"""Vectorised sweeps: equal to solo runs, robust to divergence, chunking and saving (grids
over any hyperparameter: test_sweep_grid.py; other kinds of model: test_sweep_models.py)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from sweep_helpers import ILRS, REGRESSION, regression_arrays

import hyperreg_jax as hr
from hyperreg_jax import _sweep as sweep_module
from hyperreg_jax import data, models, train
from hyperreg_jax._registry import make_optimizer
from hyperreg_jax.train import Trainer


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
  loss_fn = lambda p: 0.5 * jnp.mean((model.apply({"params": p}, x) - y) ** 2)
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
  _, history = train.run(trainer, 0.01, jax.random.key(0), *regression_arrays())
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
    (dict(ilrs=[0.1, -1.0]), r"ilrs\[1\]: init_lr must be a finite number > 0, got -1\.0\."),
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

  The sweeps page (docs/sweeps.md) promises equality to float rounding (not bit for bit) for
  such models: the same (variant, ILR, seed) run chunked two ways agrees to a relative 1e-4
  on every curve at well-behaved ILRs.
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


def rkl1_without_decay(lr):
  return hr.rkl1(lr, weight_decay=0.0)


def test_float64_sweep_starts_from_the_exact_ilr():
  """Under x64 a sweep of float64 weights on float64 data runs in float64 from beta_0 = 1 / ILR
  exactly: the curves of ``train.run`` with the Python float ILR, not those of its float32
  rounding."""
  ds = data.load_mnist(max_train=128, max_test=32)
  arrays = (ds.x_train.astype(np.float64), ds.y_train, ds.x_test.astype(np.float64), ds.y_test)
  model = models.MLP(hidden=8, param_dtype=jnp.float64)
  trainer = Trainer(model, rkl1_without_decay, batch_size=32, epochs=2)
  ilr = 0.3  # not a float32 number
  with jax.enable_x64(True):
    result = hr.sweep(
      model, arrays, {"rkl1": rkl1_without_decay}, [ilr], epochs=2, batch_size=32, progress=False
    )
    run = jax.jit(functools.partial(train.run, trainer))
    _, exact = run(ilr, jax.random.key(0), *arrays)
    _, rounded = run(float(np.float32(ilr)), jax.random.key(0), *arrays)
  assert exact["train_loss"].dtype == result.curves["train_loss"].dtype == np.float64
  for k, v in exact.items():
    np.testing.assert_allclose(result.curves[k][0, 0, 0], v, rtol=1e-12, atol=0, err_msg=k)
  for k in ("train_loss", "lr_mean"):
    assert not np.allclose(result.curves[k][0, 0, 0], rounded[k], rtol=1e-12, atol=0), k
