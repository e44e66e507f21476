"""CIFAR-10 from a local ``cifar-10-batches-py`` folder (the python pickles, read safely)."""

from __future__ import annotations

import pathlib
import pickle

import numpy as np

from hyperreg_jax.data._contract import (
  CIFAR10_CLASSES,
  CIFAR_CITATION,
  Dataset,
  images_to_float,
)

CIFAR_DIR = "cifar-10-batches-py"
CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST = "test_batch"
_CIFAR_EXPECTED = "expected a pickled dict with b'data' (N, 3072) uint8 and b'labels' (N,)"
_PICKLE_ALLOWED = {
  ("numpy", "ndarray"),
  ("numpy", "dtype"),
  ("numpy.core.multiarray", "_reconstruct"),
  ("numpy._core.multiarray", "_reconstruct"),
  ("numpy.core.multiarray", "scalar"),
  ("numpy._core.multiarray", "scalar"),
  ("numpy.core.numeric", "_frombuffer"),
  ("numpy._core.numeric", "_frombuffer"),
  ("_codecs", "encode"),
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
  """Unpickler that resolves only the globals numpy arrays need (no arbitrary code)."""

  def find_class(self, module, name):
    if (module, name) in _PICKLE_ALLOWED:
      return super().find_class(module, name)
    raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")


def _cifar_dir(data_dir: pathlib.Path) -> pathlib.Path:
  if (data_dir / CIFAR_DIR).is_dir():
    data_dir = data_dir / CIFAR_DIR
  missing = [f for f in (*CIFAR_TRAIN, CIFAR_TEST) if not (data_dir / f).is_file()]
  if missing:
    raise FileNotFoundError(
      f"CIFAR-10 batches not found in {data_dir}: missing {missing}; expected the "
      f"'{CIFAR_DIR}' directory (data_batch_1..5, test_batch) or its parent"
    )
  return data_dir


def _load_cifar_batch(path: pathlib.Path) -> tuple[np.ndarray, np.ndarray]:
  try:
    with open(path, "rb") as f:
      batch = _NumpyOnlyUnpickler(f, encoding="bytes").load()
  except FileNotFoundError:
    raise FileNotFoundError(f"{path}: no such file") from None
  except Exception as e:  # truncated pickles raise EOFError, UnpicklingError, ValueError, ...
    raise ValueError(f"{path}: cannot unpickle ({type(e).__name__}: {e}); {_CIFAR_EXPECTED}") from e
  if not isinstance(batch, dict):
    raise ValueError(f"{path}: got a pickled {type(batch).__name__}; {_CIFAR_EXPECTED}")
  data = batch.get(b"data", batch.get("data"))
  labels = batch.get(b"labels", batch.get("labels"))
  if data is None or labels is None:
    raise ValueError(f"{path}: keys {sorted(map(repr, batch))}; {_CIFAR_EXPECTED}")
  data, labels = np.asarray(data), np.asarray(labels)
  if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
    raise ValueError(f"{path}: b'data' is {data.dtype} {data.shape}; {_CIFAR_EXPECTED}")
  if labels.shape != (len(data),) or not np.issubdtype(labels.dtype, np.integer):
    raise ValueError(
      f"{path}: b'labels' has shape {labels.shape} for {len(data)} images; {_CIFAR_EXPECTED}"
    )
  if len(labels) and (labels.min() < 0 or labels.max() > 9):
    raise ValueError(
      f"{path}: labels must be in 0..9, found {int(labels.min())}..{int(labels.max())}"
    )
  # Rows are channel-first (1024 red, 1024 green, 1024 blue, each row-major 32x32) -> HWC.
  images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
  return images, labels.astype(np.int32)


def cifar10_local(data_dir: pathlib.Path) -> Dataset:
  root = _cifar_dir(data_dir)
  train = [_load_cifar_batch(root / f) for f in CIFAR_TRAIN]
  x_test, y_test = _load_cifar_batch(root / CIFAR_TEST)
  return Dataset.from_splits(
    "cifar10",
    (images_to_float(np.concatenate([b[0] for b in train])), np.concatenate([b[1] for b in train])),
    (images_to_float(x_test), y_test),
    info={
      "source": "local",
      "data_dir": str(root),
      "class_names": CIFAR10_CLASSES,
      "citation": CIFAR_CITATION,
    },
  )
