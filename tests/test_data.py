"""Tests for hyperreg_jax.data: every source returns the same contract."""

from __future__ import annotations

import importlib.util
import pathlib
import pickle
import re
import sys

import numpy as np
import pytest

from hyperreg_jax import data

sys.path.insert(0, str(pathlib.Path(__file__).parent / "helpers"))
import data_writers  # noqa: E402


def check_classification(
  ds: data.Dataset, name: str, shape: tuple[int, ...], n_train=None, n_test=None
):
  assert isinstance(ds, data.Dataset)
  assert ds.name == name and ds.num_classes == 10
  for x, y in ((ds.x_train, ds.y_train), (ds.x_test, ds.y_test)):
    assert isinstance(x, np.ndarray) and isinstance(y, np.ndarray)
    assert x.dtype == np.float32 and y.dtype == np.int32
    assert x.shape[1:] == shape and y.shape == (len(x),)
    assert np.all(np.isfinite(x)) and x.min() >= 0.0 and x.max() <= 1.0
    assert y.min() >= 0 and y.max() < 10
  assert ds.input_shape == shape
  assert ds.num_train == len(ds.x_train) and ds.num_test == len(ds.x_test)
  if n_train is not None:
    assert ds.num_train == n_train
  if n_test is not None:
    assert ds.num_test == n_test
  assert name in repr(ds) and len(repr(ds)) < 200


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


# ------------------------------------------------------------------ local MNIST (IDX)


def _tiny_mnist(n_train=12, n_test=5, seed=0):
  rng = np.random.default_rng(seed)
  return (
    rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
    rng.integers(0, 10, n_train).astype(np.uint8),
    rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
    rng.integers(0, 10, n_test).astype(np.uint8),
  )


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_idx_round_trip(tmp_path, gz):
  xtr, ytr, xte, yte = _tiny_mnist()
  paths = data_writers.save_mnist_idx(tmp_path, xtr, ytr, xte, yte, gz=gz)
  names = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
  )
  assert {p.name for p in paths} == {f + (".gz" if gz else "") for f in names}
  ds = data.load_mnist("local", tmp_path)
  check_classification(ds, "mnist", (28, 28, 1), 12, 5)
  np.testing.assert_array_equal(np.rint(ds.x_train[..., 0] * 255).astype(np.uint8), xtr)
  np.testing.assert_array_equal(ds.y_train, ytr)
  np.testing.assert_array_equal(np.rint(ds.x_test[..., 0] * 255).astype(np.uint8), xte)
  np.testing.assert_array_equal(ds.y_test, yte)
  assert ds.info["source"] == "local"


def test_idx_header_is_the_real_format(tmp_path):
  xtr, ytr, xte, yte = _tiny_mnist(3, 2)
  data_writers.save_mnist_idx(tmp_path, xtr, ytr, xte, yte)
  raw = (tmp_path / "train-images-idx3-ubyte").read_bytes()
  assert (
    raw[:16] == bytes.fromhex("00000803") + (3).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
  )
  assert raw[16:] == xtr.tobytes()
  raw = (tmp_path / "train-labels-idx1-ubyte").read_bytes()
  assert raw[:8] == bytes.fromhex("00000801") + (3).to_bytes(4, "big") and raw[8:] == ytr.tobytes()
  assert data.read_idx(tmp_path / "t10k-images-idx3-ubyte", expected_magic=2051).shape == (
    2,
    28,
    28,
  )


def test_embedded_exported_as_idx_reloads_identically(tmp_path):
  ds = data.load_mnist(max_train=50, max_test=20)
  data_writers.save_mnist_idx(tmp_path, ds.x_train, ds.y_train, ds.x_test, ds.y_test, gz=True)
  back = data.load_mnist("local", tmp_path)
  np.testing.assert_array_equal(back.x_train, ds.x_train)
  np.testing.assert_array_equal(back.y_test, ds.y_test)


def test_idx_wrong_magic(tmp_path):
  xtr, ytr, xte, yte = _tiny_mnist(3, 2)
  data_writers.save_mnist_idx(tmp_path, xtr, ytr, xte, yte)
  # Swap in a labels file where images are expected.
  (tmp_path / "train-images-idx3-ubyte").write_bytes(
    (tmp_path / "train-labels-idx1-ubyte").read_bytes()
  )
  with pytest.raises(
    ValueError, match=r"train-images-idx3-ubyte.*expected IDX magic 2051 for images, got 2049"
  ):
    data.load_mnist("local", tmp_path)


def test_idx_truncated_raw_and_gz(tmp_path):
  xtr, ytr, xte, yte = _tiny_mnist(3, 2)
  raw_dir, gz_dir = tmp_path / "raw", tmp_path / "gz"
  data_writers.save_mnist_idx(raw_dir, xtr, ytr, xte, yte)
  data_writers.save_mnist_idx(gz_dir, xtr, ytr, xte, yte, gz=True)
  p = raw_dir / "t10k-images-idx3-ubyte"
  p.write_bytes(p.read_bytes()[:-100])
  with pytest.raises(
    ValueError, match=r"t10k-images-idx3-ubyte: truncated or corrupt IDX file.*\(2, 28, 28\)"
  ):
    data.load_mnist("local", raw_dir)
  p.write_bytes(p.read_bytes()[:10])
  with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte: truncated IDX header"):
    data.load_mnist("local", raw_dir)
  g = gz_dir / "train-labels-idx1-ubyte.gz"
  g.write_bytes(g.read_bytes()[:-12])
  with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte\.gz: cannot read gzip data"):
    data.load_mnist("local", gz_dir)


def test_idx_label_count_mismatch(tmp_path):
  xtr, ytr, xte, yte = _tiny_mnist(4, 2)
  data_writers.save_mnist_idx(tmp_path, xtr, ytr, xte, yte)
  data_writers.write_idx(tmp_path / "train-labels-idx1-ubyte", ytr[:3])
  with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte: expected 4 labels"):
    data.load_mnist("local", tmp_path)


def test_mnist_missing_files(tmp_path, monkeypatch):
  with pytest.raises(FileNotFoundError, match=r"train-images-idx3-ubyte"):
    data.load_mnist("local", tmp_path)
  with pytest.raises(FileNotFoundError, match=r"does not exist"):
    data.load_mnist("local", tmp_path / "nope")
  monkeypatch.setenv("HYPERREG_JAX_DATA", str(tmp_path / "fetched"))
  with pytest.raises(FileNotFoundError, match=r"fetched/mnist .*hyperreg_jax\.data fetch mnist"):
    data.load_mnist("local")  # no folder: the fetched full MNIST, not there
  with pytest.raises(ValueError, match=r"data_dir is required"):
    data.load_cifar10("local")


# ------------------------------------------------------------------ local CIFAR-10


def test_cifar_round_trip_and_channel_first_to_hwc(tmp_path):
  n_train, n_test = 11, 3
  rng = np.random.default_rng(1)
  x_train = rng.integers(0, 256, (n_train, 32, 32, 3), dtype=np.uint8)
  y_train = rng.integers(0, 10, n_train)
  x_test = rng.integers(0, 256, (n_test, 32, 32, 3), dtype=np.uint8)
  y_test = np.array([3, 0, 9])
  root = data_writers.save_cifar10_batches(tmp_path, x_train, y_train, x_test, y_test)
  assert root.name == "cifar-10-batches-py"
  for data_dir in (tmp_path, root):  # the parent or the directory itself
    ds = data.load_cifar10("local", data_dir)
    check_classification(ds, "cifar10", (32, 32, 3), n_train, n_test)
    np.testing.assert_array_equal(np.rint(ds.x_train * 255).astype(np.uint8), x_train)
    np.testing.assert_array_equal(ds.y_train, y_train)
    np.testing.assert_array_equal(np.rint(ds.x_test * 255).astype(np.uint8), x_test)
    np.testing.assert_array_equal(ds.y_test, y_test)


def test_cifar_layout_hand_built_batch(tmp_path):
  """A batch written by hand in the documented layout: row = 1024 R, 1024 G, 1024 B, row-major."""
  root = tmp_path / "cifar-10-batches-py"
  root.mkdir()
  row = np.zeros(3072, np.uint8)
  row[0 * 1024 + 0 * 32 + 5] = 200  # red at (r=0, c=5)
  row[1 * 1024 + 7 * 32 + 0] = 100  # green at (r=7, c=0)
  row[2 * 1024 + 31 * 32 + 31] = 255  # blue at (r=31, c=31)
  batch = {b"batch_label": b"x", b"labels": [7], b"data": row[None, :], b"filenames": [b"a.png"]}
  for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
    with open(root / name, "wb") as f:
      pickle.dump(batch, f, protocol=2)
  ds = data.load_cifar10("local", tmp_path)
  img = np.rint(ds.x_test[0] * 255).astype(int)
  assert img.shape == (32, 32, 3) and ds.y_test.tolist() == [7] and ds.num_train == 5
  assert img[0, 5, 0] == 200 and img[7, 0, 1] == 100 and img[31, 31, 2] == 255
  assert img.sum() == 200 + 100 + 255


def test_cifar_legacy_numpy_core_pickles_load(tmp_path):
  """The real files were pickled by Python 2 numpy: globals live in ``numpy.core.multiarray``."""
  x = np.random.default_rng(2).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
  root = data_writers.save_cifar10_batches(tmp_path, x, np.arange(5), x[:1], [4])
  for path in root.iterdir():
    raw = path.read_bytes()
    assert b"numpy._core.multiarray" in raw or b"numpy.core.multiarray" in raw
    path.write_bytes(raw.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
  ds = data.load_cifar10("local", root)
  np.testing.assert_array_equal(np.rint(ds.x_train * 255).astype(np.uint8), x)
  assert ds.y_test.tolist() == [4]


def test_cifar_corrupt_and_missing(tmp_path):
  x = np.zeros((10, 32, 32, 3), np.uint8)
  y = np.arange(10)
  root = data_writers.save_cifar10_batches(tmp_path, x, y, x[:2], y[:2])
  # Truncated pickle.
  p = root / "data_batch_3"
  p.write_bytes(p.read_bytes()[:50])
  with pytest.raises(
    ValueError, match=r"data_batch_3: cannot unpickle.*expected a pickled dict with b'data'"
  ):
    data.load_cifar10("local", tmp_path)
  # A pickle of the wrong thing.
  with open(p, "wb") as f:
    pickle.dump({b"pixels": [1, 2]}, f)
  expected = r"data_batch_3: keys .*expected a pickled dict with b'data' .* and b'labels'"
  with pytest.raises(ValueError, match=expected):
    data.load_cifar10("local", tmp_path)
  # A pickle that would run code is refused, not executed.
  with open(p, "wb") as f:
    pickle.dump({b"data": np.zeros((1, 3072), np.uint8), b"labels": [print]}, f)
  with pytest.raises(
    ValueError, match=r"data_batch_3: cannot unpickle \(UnpicklingError: refusing"
  ):
    data.load_cifar10("local", tmp_path)
  # Missing file.
  p.unlink()
  with pytest.raises(FileNotFoundError, match=r"missing \['data_batch_3'\].*cifar-10-batches-py"):
    data.load_cifar10("local", tmp_path)
  empty = tmp_path / "empty"
  empty.mkdir()
  with pytest.raises(FileNotFoundError, match=r"missing \['data_batch_1'.*'test_batch'\]"):
    data.load_cifar10("local", empty)


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
  feats = lambda x: x.mean(axis=(1, 2))  # noqa: E731
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
