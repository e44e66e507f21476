"""Tests for hyperreg_jax.data: every source returns the same contract (embedded MNIST,
tfds, synthetic data, the arguments; the files of the local source: test_data_local.py)."""

from __future__ import annotations

import importlib.util
import pathlib
import re

import numpy as np
import pytest
from data_helpers import check_classification

from hyperreg_jax import data

# ------------------------------------------------------------------ embedded MNIST


def test_embedded_mnist_contract_and_fixed_split():
  a = data.load_mnist()
  b = data.load("mnist")
  check_classification(a, "mnist", (28, 28, 1), 4000, 1000)
  for field in ("x_train", "y_train", "x_test", "y_test"):
    np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
  assert a.info["source"] == "embedded" and "CC BY-SA 3.0" in a.info["licence"]
  # Stratified split: every class in both splits, 400 / 100 each.
  np.testing.assert_array_equal(np.bincount(a.y_train, minlength=10), [400] * 10)
  np.testing.assert_array_equal(np.bincount(a.y_test, minlength=10), [100] * 10)
  # Real digits: 8-bit pixel grid, mostly black background, some bright strokes.
  assert np.allclose(a.x_train * 255, np.round(a.x_train * 255), atol=1e-4)
  assert 0.05 < a.x_train.mean() < 0.25 and a.x_train.max() == 1.0
  # Not shuffled labels: the class means of the images differ clearly (ones are thin).
  ones, zeros = a.x_train[a.y_train == 1].mean(), a.x_train[a.y_train == 0].mean()
  assert ones < 0.8 * zeros


def test_embedded_split_is_disjoint_and_pinned():
  from importlib.resources import files

  with np.load(files("hyperreg_jax") / "_data" / "mnist_5k.npz") as z:
    train, test = z["index_train"], z["index_test"]
    assert z["images_train"].dtype == np.uint8 and z["labels_train"].dtype == np.uint8
  assert len(np.intersect1d(train, test)) == 0
  assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(5000))
  # Pin the shipped split: changing the npz must be deliberate.
  assert train[:5].tolist() == PINNED_TRAIN_HEAD and test[:5].tolist() == PINNED_TEST_HEAD


PINNED_TRAIN_HEAD = [580, 2332, 3576, 1240, 1970]  # csv rows of the first shipped examples
PINNED_TEST_HEAD = [1780, 3886, 4761, 3618, 2857]


def test_max_train_max_test_prefix():
  full = data.load_mnist()
  ds = data.load_mnist(max_train=100, max_test=7)
  check_classification(ds, "mnist", (28, 28, 1), 100, 7)
  np.testing.assert_array_equal(ds.x_train, full.x_train[:100])
  np.testing.assert_array_equal(ds.y_test, full.y_test[:7])
  assert data.load_mnist(max_train=10**9).num_train == 4000


# ------------------------------------------------------------------ tfds (mocked, offline)


@pytest.mark.parametrize(
  "name, loader, shape",
  [("mnist", data.load_mnist, (28, 28, 1)), ("cifar10", data.load_cifar10, (32, 32, 3))],
)
def test_tfds_under_mock_data(name, loader, shape, tmp_path):
  tfds = pytest.importorskip("tensorflow_datasets")
  with tfds.testing.mock_data(policy=tfds.testing.MockPolicy.USE_CODE, num_examples=6):
    ds = loader("tfds", data_dir=tmp_path, download=False)
    small = data.load(name, source="tfds", data_dir=tmp_path, max_train=4, max_test=2)
  check_classification(ds, name, shape, 6, 6)
  check_classification(small, name, shape, 4, 2)
  assert ds.info["source"] == "tfds"
  # Mock images are random uint8, so after /255 they span most of [0, 1] on the 8-bit grid.
  assert ds.x_train.max() > 0.9 and np.allclose(
    ds.x_train * 255, np.round(ds.x_train * 255), atol=1e-4
  )
  np.testing.assert_array_equal(small.x_train, ds.x_train[:4])


def test_tfds_missing_gives_install_hint(monkeypatch):
  import builtins

  real_import = builtins.__import__

  def fake_import(name, *args, **kwargs):
    if name == "tensorflow_datasets" or name.startswith("tensorflow_datasets."):
      raise ImportError("No module named 'tensorflow_datasets'")
    return real_import(name, *args, **kwargs)

  monkeypatch.setattr(builtins, "__import__", fake_import)
  with pytest.raises(ImportError, match=r"pip install hyperreg_jax\[tfds\]"):
    data.load_mnist("tfds")


# ------------------------------------------------------------------ synthetic


def test_synthetic_linear_regression_optimum():
  ds = data.synthetic_linear_regression(num_train=500, num_test=50, dim=3, noise=0.2, seed=3)
  assert ds.num_classes is None and ds.name == "linear_regression"
  assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.float32
  assert ds.x_train.shape == (500, 3) and ds.y_train.shape == (500,)
  assert ds.x_test.shape == (50, 3) and ds.y_test.shape == (50,)
  info = ds.info
  x, y = ds.x_train.astype(np.float64), ds.y_train.astype(np.float64)
  w, b = info["w_opt"], info["b_opt"]
  r = x @ w + b - y
  # Gradient of 0.5 * mean(r**2) vanishes at the stored optimum.
  np.testing.assert_allclose(x.T @ r / len(y), 0.0, atol=1e-10)
  assert abs(r.mean()) < 1e-10
  np.testing.assert_allclose(0.5 * np.mean(r**2), info["loss_opt"], rtol=1e-12)
  # It is a minimum: the true weights are (slightly) worse, and close.
  r_true = x @ info["w_true"] + info["b_true"] - y
  assert 0.5 * np.mean(r_true**2) >= info["loss_opt"]
  np.testing.assert_allclose(w, info["w_true"], atol=0.05)
  assert info["loss_opt"] == pytest.approx(0.5 * 0.2**2, rel=0.2)
  # Standardised features: Hessian ~ identity, so GD at lr 0.5 converges in tens of steps.
  assert 0.7 < info["hessian_eigvals"].min() <= info["hessian_eigvals"].max() < 1.3
  theta = np.zeros(4)
  design = np.c_[x, np.ones(len(y))]
  for _ in range(40):
    theta -= 0.5 * design.T @ (design @ theta - y) / len(y)
  assert 0.5 * np.mean((design @ theta - y) ** 2) < info["loss_opt"] * (1 + 1e-6)
  # Deterministic in the seed.
  again = data.load("linear_regression", num_train=500, num_test=50, dim=3, noise=0.2, seed=3)
  np.testing.assert_array_equal(again.x_train, ds.x_train)


def test_synthetic_cifar10_contract_and_learnable():
  ds = data.load_cifar10("synthetic", num_train=200, num_test=100, seed=2)
  check_classification(ds, "cifar10", (32, 32, 3), 200, 100)
  assert set(ds.y_train.tolist()) == set(range(10))
  # Nearest class-mean colour already separates the classes.
  feats = lambda x: x.mean(axis=(1, 2))
  centroids = np.stack([feats(ds.x_train[ds.y_train == c]).mean(0) for c in range(10)])
  pred = np.argmin(((feats(ds.x_test)[:, None] - centroids[None]) ** 2).sum(-1), axis=1)
  assert (pred == ds.y_test).mean() > 0.9
  assert not np.array_equal(
    data.synthetic_cifar10(seed=0).x_train, data.synthetic_cifar10(seed=1).x_train
  )


# ------------------------------------------------------------------ argument validation


def test_unknown_name_and_source():
  with pytest.raises(
    ValueError, match=r"name='imagenet'.*allowed: \['cifar10', 'linear_regression', 'mnist'\]"
  ):
    data.load("imagenet")
  with pytest.raises(
    ValueError, match=r"source='synthetic'.*'mnist'.*allowed: \['embedded', 'tfds', 'local'\]"
  ):
    data.load("mnist", source="synthetic")
  with pytest.raises(ValueError, match=r"source='embedded'.*allowed"):
    data.load_cifar10("embedded")
  with pytest.raises(ValueError, match=r"source='web'.*allowed"):
    data.load_mnist("web")
  with pytest.raises(ValueError, match=r"allowed: \['synthetic'\]"):
    data.load("linear_regression", source="local")


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "10"])
def test_sizes_must_be_positive_ints(bad):
  with pytest.raises(ValueError, match=r"num_train must be an integer >= 1, got num_train="):
    data.synthetic_linear_regression(num_train=bad)
  with pytest.raises(ValueError, match=r"max_test must be None or an integer >= 1, got max_test="):
    data.load_mnist(max_test=bad)


def test_other_argument_checks(tmp_path):
  with pytest.raises(ValueError, match=r"noise"):
    data.synthetic_linear_regression(noise=-1.0)
  with pytest.raises(ValueError, match=r"data_dir is not used"):
    data.load_mnist("embedded", data_dir=tmp_path)
  with pytest.raises(TypeError, match=r"num_train"):
    data.load_cifar10("local", tmp_path, num_train=3)
  f = tmp_path / "file"
  f.write_text("x")
  with pytest.raises(NotADirectoryError, match=r"not a directory"):
    data.load_cifar10("local", f)
  with pytest.raises(ValueError, match=r"x_train has 2 rows but y_train has 3"):
    data.Dataset("d", np.zeros((2, 1)), np.zeros(3), np.zeros((1, 1)), np.zeros(1), None, {})


@pytest.mark.parametrize("name", ["mnist", "cifar10"])
def test_tfds_without_prepared_data_says_it_is_not_there(name, tmp_path):
  pytest.importorskip("tensorflow_datasets")
  with pytest.raises(FileNotFoundError) as err:
    data.load(name, source="tfds", data_dir=tmp_path, download=False)
  message = str(err.value)
  assert f"{name} is not prepared for tfds in {tmp_path / name}" in message
  assert "download=True" in message and "source='local'" in message
  assert "already prepared" not in message


def test_tfds_extra_brings_what_downloading_imports():
  tomllib = pytest.importorskip("tomllib")
  root = pathlib.Path(__file__).parents[1]
  extras = tomllib.loads((root / "pyproject.toml").read_text())["project"]["optional-dependencies"]
  names = {re.split(r"[<>=;\[ ]", req)[0] for req in extras["tfds"]}
  # tfds imports importlib_resources to build a dataset, and TensorFlow's gfile to prepare
  # MNIST and CIFAR-10; neither is among tensorflow-datasets' own requirements.
  assert {"tensorflow-datasets", "importlib_resources", "tensorflow"} <= names
  assert importlib.util.find_spec("importlib_resources") is not None
