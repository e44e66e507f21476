"""Tests for hyperreg_jax.data's local source: MNIST (IDX) and CIFAR-10 (pickled batches)
read from the files as they are distributed, and the errors of bad or missing files."""

from __future__ import annotations

import pathlib
import pickle
import sys

import numpy as np
import pytest
from data_helpers import check_classification

from hyperreg_jax import data

sys.path.insert(0, str(pathlib.Path(__file__).parent / "helpers"))
import data_writers

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
