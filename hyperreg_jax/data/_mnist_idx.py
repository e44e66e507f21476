"""MNIST from local IDX files (raw or ``.gz``; Fashion-MNIST's too)."""

from __future__ import annotations

import gzip
import pathlib
import zlib

import numpy as np

from hyperreg_jax.data._contract import (
  MNIST_CITATION,
  MNIST_LICENCE,
  Dataset,
  PathLike,
  images_to_float,
)

IDX_DTYPES = {
  0x08: np.dtype(">u1"),
  0x09: np.dtype(">i1"),
  0x0B: np.dtype(">i2"),
  0x0C: np.dtype(">i4"),
  0x0D: np.dtype(">f4"),
  0x0E: np.dtype(">f8"),
}
_IDX_IMAGES_MAGIC = 0x0803  # 2051: unsigned bytes, 3 dims
_IDX_LABELS_MAGIC = 0x0801  # 2049: unsigned bytes, 1 dim
MNIST_FILES = {
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
  if raw[0] != 0 or raw[1] != 0 or code not in IDX_DTYPES:
    raise ValueError(
      f"{path}: not an IDX file (magic {magic}: bad zero bytes or unknown type code {code:#04x})"
    )
  header = 4 + 4 * ndim
  if len(raw) < header:
    raise ValueError(
      f"{path}: truncated IDX header: {ndim} dims need {header} bytes, file has {len(raw)}"
    )
  dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
  dtype = IDX_DTYPES[code]
  expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
  found = len(raw) - header
  if found != expected:
    raise ValueError(
      f"{path}: truncated or corrupt IDX file: header says dims {dims} of {dtype.name} "
      f"({expected} data bytes), found {found}"
    )
  array = np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)
  return array.astype(dtype.newbyteorder("="))


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


def mnist_local(data_dir: pathlib.Path) -> Dataset:
  arrays, files = {}, {}
  for split in ("train", "test"):
    img_path = _find_mnist_file(data_dir, MNIST_FILES[(split, "images")])
    lab_path = _find_mnist_file(data_dir, MNIST_FILES[(split, "labels")])
    images = read_idx(img_path, _IDX_IMAGES_MAGIC, "images")
    labels = read_idx(lab_path, _IDX_LABELS_MAGIC, "labels")
    if images.ndim != 3:
      raise ValueError(f"{img_path}: expected images of shape (N, rows, cols), got {images.shape}")
    if labels.ndim != 1 or len(labels) != len(images):
      raise ValueError(
        f"{lab_path}: expected {len(images)} labels to match {img_path.name}, "
        f"got shape {labels.shape}"
      )
    if len(labels) and labels.max() > 9:
      raise ValueError(f"{lab_path}: labels must be digits 0..9, found {int(labels.max())}")
    arrays[split] = (images_to_float(images[..., None]), labels.astype(np.int32))
    files[split] = (str(img_path), str(lab_path))
  return Dataset.from_splits(
    "mnist",
    (arrays["train"][0], arrays["train"][1]),
    (arrays["test"][0], arrays["test"][1]),
    info={
      "source": "local",
      "data_dir": str(data_dir),
      "files": files,
      "licence": MNIST_LICENCE,
      "citation": MNIST_CITATION,
    },
  )
