"""Writers of the real on-disk formats, for tests: MNIST IDX files and CIFAR-10's python batches
(the inverses of ``load_mnist("local", ...)`` and ``load_cifar10("local", ...)``)."""

from __future__ import annotations

import gzip
import pathlib
import pickle

import numpy as np

from hyperreg_jax.data._cifar import CIFAR_DIR, CIFAR_TEST, CIFAR_TRAIN
from hyperreg_jax.data._mnist_idx import IDX_DTYPES, MNIST_FILES

_IDX_CODES = {v.newbyteorder("=").str: k for k, v in IDX_DTYPES.items()}


def write_idx(path: pathlib.Path, array: np.ndarray) -> None:
  array = np.asarray(array)
  code = _IDX_CODES.get(array.dtype.newbyteorder("=").str)
  if code is None:
    raise ValueError(
      f"cannot write dtype {array.dtype} as IDX; "
      "allowed: uint8, int8, int16, int32, float32, float64"
    )
  header = bytes([0, 0, code, array.ndim]) + b"".join(
    int(d).to_bytes(4, "big") for d in array.shape
  )
  payload = header + array.astype(IDX_DTYPES[code]).tobytes()
  if path.suffix == ".gz":
    with gzip.open(path, "wb") as f:
      f.write(payload)
  else:
    path.write_bytes(payload)


def save_mnist_idx(
  data_dir,
  x_train: np.ndarray,
  y_train: np.ndarray,
  x_test: np.ndarray,
  y_test: np.ndarray,
  *,
  gz: bool = False,
) -> list[pathlib.Path]:
  """Write MNIST-format IDX files (the inverse of ``load_mnist("local", data_dir)``).

  Images may be ``uint8 (N, 28, 28)`` / ``(N, 28, 28, 1)`` or floats in ``[0, 1]`` (scaled by
  255 and rounded); labels are written as uint8. Returns the four paths written.

  Example::

      ds = load_mnist()
      save_mnist_idx("/tmp/mnist", ds.x_train, ds.y_train, ds.x_test, ds.y_test, gz=True)
  """
  out = pathlib.Path(data_dir).expanduser()
  out.mkdir(parents=True, exist_ok=True)
  paths = []
  for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
    x = _images_to_uint8(x)
    if x.ndim == 4 and x.shape[-1] == 1:
      x = x[..., 0]
    if x.ndim != 3:
      raise ValueError(f"x_{split}: expected (N, H, W) or (N, H, W, 1) images, got shape {x.shape}")
    y = _labels_to_uint8(y, f"y_{split}", len(x))
    for kind, array in (("images", x), ("labels", y)):
      path = out / (MNIST_FILES[(split, kind)] + (".gz" if gz else ""))
      write_idx(path, array)
      paths.append(path)
  return paths


def save_cifar10_batches(
  data_dir,
  x_train: np.ndarray,
  y_train: np.ndarray,
  x_test: np.ndarray,
  y_test: np.ndarray,
) -> pathlib.Path:
  """Write ``data_dir/cifar-10-batches-py`` in the original format (inverse of the local loader).

  Images ``(N, 32, 32, 3)`` uint8 or floats in ``[0, 1]``; the training set is split into
  five ``data_batch_*`` files (the last ones may be empty for tiny inputs). Each file is a
  pickled dict with ``b"data"`` (channel-first rows of 3072 uint8), ``b"labels"`` (list of
  int), ``b"batch_label"`` and ``b"filenames"``. Returns the directory written.

  Example::

      ds = synthetic_cifar10()
      save_cifar10_batches("/tmp/c", ds.x_train, ds.y_train, ds.x_test, ds.y_test)
  """
  root = pathlib.Path(data_dir).expanduser() / CIFAR_DIR
  root.mkdir(parents=True, exist_ok=True)

  def dump(path, x, y, label):
    x = _images_to_uint8(x)
    if x.ndim != 4 or x.shape[1:] != (32, 32, 3):
      raise ValueError(f"expected images of shape (N, 32, 32, 3), got {x.shape}")
    y = _labels_to_uint8(y, "labels", len(x))
    batch = {
      b"batch_label": label.encode(),
      b"labels": [int(v) for v in y],
      b"data": np.ascontiguousarray(x.transpose(0, 3, 1, 2).reshape(len(x), 3072)),
      b"filenames": [f"img_{i:05d}.png".encode() for i in range(len(x))],
    }
    with open(path, "wb") as f:
      pickle.dump(batch, f, protocol=2)

  bounds = np.linspace(0, len(x_train), len(CIFAR_TRAIN) + 1).astype(int)
  for i, name in enumerate(CIFAR_TRAIN):
    lo, hi = bounds[i], bounds[i + 1]
    dump(
      root / name,
      np.asarray(x_train)[lo:hi],
      np.asarray(y_train)[lo:hi],
      f"training batch {i + 1} of 5",
    )
  dump(root / CIFAR_TEST, x_test, y_test, "testing batch 1 of 1")
  return root


def _images_to_uint8(images: np.ndarray) -> np.ndarray:
  images = np.asarray(images)
  if images.dtype == np.uint8:
    return images
  if np.issubdtype(images.dtype, np.floating):
    if images.size and (images.min() < 0 or images.max() > 1):
      raise ValueError("float images must lie in [0, 1]")
    return np.rint(images * 255.0).astype(np.uint8)
  raise ValueError(f"images must be uint8 or floats in [0, 1], got {images.dtype}")


def _labels_to_uint8(labels: np.ndarray, arg: str, n: int) -> np.ndarray:
  labels = np.asarray(labels)
  if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
    raise ValueError(f"{arg}: expected {n} integer labels, got {labels.dtype} {labels.shape}")
  if n and (labels.min() < 0 or labels.max() > 255):
    raise ValueError(f"{arg}: labels must be in 0..255")
  return labels.astype(np.uint8)
