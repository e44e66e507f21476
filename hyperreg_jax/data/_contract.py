"""What every data source returns: :class:`Dataset` (numpy arrays, images ``float32`` in
``[0, 1]`` channels last, ``int32`` labels), the sources of each name, and shared helpers."""

from __future__ import annotations

import dataclasses
import os
import pathlib

import numpy as np

from hyperreg_jax._validate import check_int

PathLike = str | os.PathLike

PathLike = str | os.PathLike

#: Allowed sources per dataset name; the first one is the default.
SOURCES: dict[str, tuple[str, ...]] = {
  "mnist": ("embedded", "tfds", "local"),
  "cifar10": ("tfds", "local", "synthetic"),
  "linear_regression": ("synthetic",),
}
#: The dataset names :func:`load` knows.
NAMES: tuple[str, ...] = tuple(SOURCES)

#: CIFAR-10's class names, by label.
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

EMBEDDED_MNIST = "mnist_5k.npz"
MNIST_LICENCE = "CC BY-SA 3.0"
MNIST_CITATION = "Y. LeCun, C. Cortes, C. J. C. Burges, The MNIST database of handwritten digits"
CIFAR_CITATION = "A. Krizhevsky, Learning Multiple Layers of Features from Tiny Images, 2009"


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

  @classmethod
  def from_splits(cls, name: str, train, test, *, num_classes: int | None = 10, info=None):
    """A dataset from the ``(x, y)`` pairs of its training and test splits."""
    return cls(name, *train, *test, num_classes, info or {})

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


def check_source(name: str, source: str) -> None:
  if source not in SOURCES[name]:
    raise ValueError(
      f"source={source!r} is not available for {name!r}; allowed: {list(SOURCES[name])}"
    )


def check_dir(data_dir: PathLike | None) -> pathlib.Path:
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


def take(ds: Dataset, max_train: int | None, max_test: int | None) -> Dataset:
  if max_train is None and max_test is None:
    return ds
  return dataclasses.replace(
    ds,
    x_train=ds.x_train[:max_train],
    y_train=ds.y_train[:max_train],
    x_test=ds.x_test[:max_test],
    y_test=ds.y_test[:max_test],
  )


def images_to_float(images: np.ndarray) -> np.ndarray:
  return np.asarray(images, dtype=np.uint8).astype(np.float32) / np.float32(255.0)


def check_seed(seed) -> int:
  return check_int("seed", seed, minimum=0)
