"""Bad data and bad arguments: stopped on the host, before compiling, by an error naming them.

Hand-written cases per kind of problem, then property tests (hypothesis) over the
arguments of ``hr.sweep``, ``hr.hyperreg`` and the data loaders: every generated input
either runs or raises ``ValueError``/``TypeError`` whose message names a bad argument.
"""

import functools
import importlib
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hyperreg_jax as hr
from hyperreg_jax import data, models, train
from hyperreg_jax.train import Trainer

sweep_module = importlib.import_module("hyperreg_jax.sweep")

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
  monkeypatch.setattr(train, "_jit_init", refuse)


def _run(entry, model, arrays, loss=None):
  if entry == "sweep":
    return hr.sweep(
      model, arrays, ["sgd"], [0.1], epochs=1, batch_size=8, progress=False, loss=loss
    )
  trainer = Trainer(model, make_tx=optax.sgd, loss=loss or "cross_entropy", batch_size=8)
  return trainer.fit(0.1, jax.random.key(0), *arrays, progress=False)


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


def test_images_in_0_255_warn_and_still_train():
  images = (X * 255).astype(np.uint8)
  with pytest.warns(UserWarning, match=r"x_train holds integers up to 2\d\d .*/ 255"):
    result = hr.sweep(
      CLASSIFIER, (images, Y), ["sgd"], [0.1], epochs=1, batch_size=8, progress=False
    )
  assert result.final("train_loss").shape == (1, 1, 1)


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
  ({"variants": [_returns(None)]}, TypeError, r"variants: '<lambda>' returned NoneType"),
  ({"variants": {"x": _returns(0.1)}}, TypeError, r"variants: 'x' returned float"),
  ({"variants": {"x": _returns(optax.sgd)}}, TypeError, r"variants: 'x' returned function"),
  ({"variants": {"g": lambda lr: hr.hyperreg(lr, growth="2")}}, TypeError, r"variants: 'g' failed"),
  (
    {"variants": {"a": lambda lr: hr.hyperreg(lr, algorithm=7)}},
    ValueError,
    r"variants: 'a'.*algorithm",
  ),
  ({"variants": ["bogus"]}, ValueError, r"variant must be one of"),
  ({"ilrs": "abc"}, ValueError, r"ilrs must be"),
  ({"ilrs": [0.0]}, ValueError, r"ilrs must be"),
  ({"ilrs": [math.nan]}, ValueError, r"ilrs must be"),
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


@pytest.mark.xfail(
  strict=True,
  reason="transform-level checks of growth/weight_decay/warmup_lr belong to hr.hyperreg "
  "(being rewritten): remove this mark once it validates them",
)
@pytest.mark.parametrize(
  "bad",
  [{"growth": "2"}, {"weight_decay": math.nan}, {"weight_decay": -1.0}, {"warmup_lr": -1.0}],
  ids=str,
)
def test_hyperreg_names_bad_growth_weight_decay_warmup_lr(bad):
  (name,) = bad
  with pytest.raises(ValueError, match=name):
    hr.hyperreg(0.1, **bad)


# ----------------------------------------------------------------------------- properties

NUMBERS = st.one_of(
  st.floats(allow_nan=True, allow_infinity=True, width=32),
  st.integers(-3, 3),
  st.sampled_from([None, "1", True, 2**32, 2**64]),
)


def _is_int(v):
  return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _is_number(v):
  return isinstance(v, (int, float)) and not isinstance(v, bool)


def _as_float(v):
  try:
    return float(v)
  except (TypeError, ValueError):
    return None


def _bad_sweep_arguments(kw) -> set[str]:
  """Which drawn arguments are outside what ``hr.sweep`` allows (the oracle)."""
  bad = set()
  seeds = kw["seeds"]
  if not seeds or not all(_is_int(s) and 0 <= s < 2**32 for s in seeds):
    bad.add("seeds")
  ilrs = kw["ilrs"]
  # Anything float() takes ("1", True) is a number to np.asarray too: it runs correctly.
  floats = [_as_float(v) for v in ilrs]
  if not ilrs or not all(v is not None and math.isfinite(v) and v > 0 for v in floats):
    bad.add("ilrs")
  wd = kw["weight_decay"]
  if not (_is_number(wd) and math.isfinite(wd) and wd >= 0):
    bad.add("weight_decay")
  if not (_is_int(kw["epochs"]) and kw["epochs"] >= 1):
    bad.add("epochs")
  bs = kw["batch_size"]
  if bs is not None and not (_is_int(bs) and 1 <= bs <= 16):
    bad.add("batch_size")
  mp = kw["max_parallel"]
  if mp is not None and not (_is_int(mp) and mp >= 1):
    bad.add("max_parallel")
  if kw["variants"] not in (["sgd"], ["rkl1"], ["sgd", "rkl1"]):
    bad.add("variant")
  return bad


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
  seeds=st.lists(st.one_of(st.integers(-2, 2**33), NUMBERS), max_size=2),
  ilrs=st.lists(NUMBERS, max_size=2),
  weight_decay=NUMBERS,
  epochs=st.sampled_from([1, 0, -1, 1.0, "1"]),
  batch_size=st.sampled_from([None, 8, 16, 100, 0, -3, 2.5]),
  max_parallel=st.sampled_from([None, 1, 2, 0, -1, 1.5]),
  variants=st.sampled_from([["sgd"], ["rkl1"], ["sgd", "rkl1"], ["bogus"], [], ["sgd", "sgd"]]),
)
def test_property_sweep_runs_or_names_a_bad_argument(**kw):
  bad = _bad_sweep_arguments(kw)
  variants, ilrs = kw.pop("variants"), kw.pop("ilrs")
  call = functools.partial(
    hr.sweep, models.LinearRegression(), REGRESSION, variants, ilrs, progress=False, **kw
  )
  if not bad:
    result = call()
    assert result.final("train_loss").shape[1:] == (len(result.ilrs), len(result.seeds))
    return
  with pytest.raises((ValueError, TypeError)) as err:
    call()
  assert any(name in str(err.value) for name in bad), (bad, str(err.value))


@settings(max_examples=60, deadline=None)
@given(
  init_lr=NUMBERS,
  divergence=st.sampled_from(["kl", "rkl", "hellinger", "chi2", "neyman_chi2", "bogus", 3]),
  algorithm=st.sampled_from([1, 2, 3, 0, 4, "1", 2.0]),
  growth=st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-1, 3)),
  warmup_steps=st.sampled_from([0, 2, -1, 1.5, None]),
  granularity=st.sampled_from(["coordinate", "tensor", "global", "other", None]),
)
def test_property_hyperreg_runs_or_names_a_bad_argument(**kw):
  bad = set()
  if not (_is_number(kw["init_lr"]) and math.isfinite(kw["init_lr"]) and kw["init_lr"] > 0):
    bad.add("init_lr")
  if kw["divergence"] not in ("kl", "rkl", "hellinger", "chi2", "neyman_chi2"):
    bad.add("divergence")
  if kw["algorithm"] not in (1, 2, 3) or not _is_int(kw["algorithm"]):
    bad.add("algorithm")
  g = kw["growth"]
  if g is not None and not (math.isfinite(g) and g >= 1):
    bad.add("growth")
  if not (_is_int(kw["warmup_steps"]) and kw["warmup_steps"] >= 0):
    bad.add("warmup_steps")
  if kw["granularity"] not in ("coordinate", "tensor", "global"):
    bad.add("granularity")
  if bad:
    with pytest.raises((ValueError, TypeError)) as err:
      hr.hyperreg(**kw)
    assert any(name in str(err.value) for name in bad), (bad, str(err.value))
    return
  opt = hr.hyperreg(**kw)
  params = {"w": jnp.array([1.0, -2.0, 0.5])}
  state = opt.init(params)
  for _ in range(3):
    updates, state = opt.update(jax.tree.map(jnp.sin, params), state, params)
    params = optax.apply_updates(params, updates)
  if kw["init_lr"] <= 1e6:  # larger ones may overflow float32 parameters, legitimately
    assert all(np.isfinite(leaf).all() for leaf in jax.tree.leaves((params, state)))


@settings(
  max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
  source=st.sampled_from(["embedded", "local", "synthetic", "bogus", None, 3]),
  data_dir=st.sampled_from([None, "missing", "file", 3]),
  max_train=st.one_of(st.none(), st.integers(-2, 5000), st.sampled_from([1.5, "10", True])),
  max_test=st.one_of(st.none(), st.integers(-2, 2000), st.sampled_from([0.5, False])),
)
def test_property_mnist_loader_loads_or_names_a_bad_argument(
  tmp_path, source, data_dir, max_train, max_test
):
  (tmp_path / "file").write_text("x")
  if data_dir in ("missing", "file"):
    data_dir = str(tmp_path / data_dir)
  bad = set()
  if source not in ("embedded", "local"):
    bad.add("source")
  elif source == "embedded" and data_dir is not None:
    bad.add("data_dir")
  elif source == "local":
    bad.add("data_dir")  # never a folder of IDX files here
  for name, value in (("max_train", max_train), ("max_test", max_test)):
    if value is not None and not (_is_int(value) and value > 0):
      bad.add(name)
  if not bad:
    ds = data.load_mnist(source, data_dir, max_train=max_train, max_test=max_test)
    assert ds.num_train == min(max_train or 4000, 4000) and ds.num_test == min(
      max_test or 1000, 1000
    )
    return
  with pytest.raises((ValueError, TypeError, FileNotFoundError, NotADirectoryError)) as err:
    data.load_mnist(source, data_dir, max_train=max_train, max_test=max_test)
  assert any(name in str(err.value) for name in bad), (bad, str(err.value))


@settings(max_examples=60, deadline=None)
@given(
  num_train=st.one_of(st.integers(-2, 50), st.sampled_from([None, "1", True, 1.5, math.nan])),
  num_test=st.one_of(st.integers(-2, 20), st.sampled_from([None, "2", False, 2.0, math.inf])),
  dim=st.sampled_from([1, 3, 0, -1, 2.0, None]),
  noise=NUMBERS,
  seed=st.one_of(st.integers(-3, 2**40), st.sampled_from([1.5, "0", None, True])),
)
def test_property_synthetic_regression_builds_or_names_a_bad_argument(
  num_train, num_test, dim, noise, seed
):
  bad = {
    name
    for name, value in (("num_train", num_train), ("num_test", num_test), ("dim", dim))
    if not (_is_int(value) and value > 0)
  }
  if not (_is_number(noise) and math.isfinite(noise) and noise >= 0):
    bad.add("noise")
  if not (_is_int(seed) and seed >= 0):
    bad.add("seed")
  if not bad:
    ds = data.synthetic_linear_regression(num_train, num_test, dim, noise, seed)
    assert ds.x_train.shape == (num_train, dim) and np.isfinite(ds.y_train).all()
    return
  with pytest.raises((ValueError, TypeError)) as err:
    data.synthetic_linear_regression(num_train, num_test, dim, noise, seed)
  assert any(name in str(err.value) for name in bad), (bad, str(err.value))
