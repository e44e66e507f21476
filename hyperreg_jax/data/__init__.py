"""Datasets: one contract for every source, and the loaders that pick a source.

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
* ``"local"``: MNIST IDX files or CIFAR-10's ``cifar-10-batches-py`` in a directory you name;
  for MNIST without a directory, the full set that ``python -m hyperreg_jax.data fetch mnist``
  put in :func:`default_data_dir` (see :func:`fetch_mnist`).
* ``"synthetic"``: linear regression with a known optimum; CIFAR-shaped learnable images.

Example::

    from hyperreg_jax import data
    ds = data.load("mnist")                       # embedded, offline
    ds.x_train.shape, ds.y_train.dtype            # ((4000, 28, 28, 1), dtype('int32'))
    reg = data.load("linear_regression", dim=1)
    reg.info["w_opt"], reg.info["loss_opt"]

One module per source (``_embedded``, ``_tfds``, ``_mnist_idx``, ``_cifar``, ``_synthetic``),
and ``_fetch`` for fetching and verifying the full MNIST; only numpy is imported at module
import, tensorflow-datasets lazily.
"""

from __future__ import annotations

from typing import Any

from hyperreg_jax._validate import check_int
from hyperreg_jax.data._cifar import cifar10_local
from hyperreg_jax.data._contract import (
  CIFAR10_CLASSES,
  NAMES,
  SOURCES,
  Dataset,
  PathLike,
  check_dir,
  check_source,
  take,
)
from hyperreg_jax.data._embedded import mnist_embedded
from hyperreg_jax.data._fetch import FetchError, default_data_dir, fetch_mnist, full_mnist_dir
from hyperreg_jax.data._mnist_idx import mnist_local, read_idx
from hyperreg_jax.data._synthetic import synthetic_cifar10, synthetic_linear_regression
from hyperreg_jax.data._tfds import load_tfds

__all__ = [
  "CIFAR10_CLASSES",
  "NAMES",
  "SOURCES",
  "Dataset",
  "FetchError",
  "default_data_dir",
  "fetch_mnist",
  "full_mnist_dir",
  "load",
  "load_cifar10",
  "load_mnist",
  "read_idx",
  "synthetic_cifar10",
  "synthetic_linear_regression",
]


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
  check_source(name, source)
  if name == "linear_regression":
    return synthetic_linear_regression(**kw)
  return {"mnist": load_mnist, "cifar10": load_cifar10}[name](source, **kw)


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
    data_dir: directory for ``"local"`` and ``"tfds"`` (optional, tfds' default). For
      ``"local"``, ``None`` is the full MNIST fetched by ``python -m hyperreg_jax.data fetch
      mnist`` (:func:`full_mnist_dir`: every file checked against the original's sha256;
      a ``FileNotFoundError`` names the command when they are not there).
    max_train, max_test: keep only the first ``max_*`` examples of each split.
    download: ``"tfds"`` only: let tfds download and prepare the data if it is missing.

  Example::

      ds = load_mnist()                                  # embedded
      ds = load_mnist("local", "~/data/mnist", max_train=10_000)
      ds = load_mnist("local")                           # the fetched full MNIST, 60k / 10k
  """
  return _load("mnist", source, data_dir, max_train, max_test, download, {})


def load_cifar10(
  source: str = "tfds",
  data_dir: PathLike | None = None,
  *,
  download: bool = True,
  max_train: int | None = None,
  max_test: int | None = None,
  **synthetic_kw: Any,
) -> Dataset:
  """CIFAR-10 as ``float32 (N, 32, 32, 3)`` in ``[0, 1]`` with ``int32`` labels.

  Args:
    source: ``"tfds"`` (50k / 10k via ``tfds.data_source``), ``"local"`` (the python version,
      ``cifar-10-batches-py``: ``data_dir`` is that directory or its parent) or
      ``"synthetic"`` (:func:`synthetic_cifar10`, for smoke runs).
    data_dir, download, max_train, max_test: as for :func:`load_mnist`.
    **synthetic_kw: ``num_train``, ``num_test``, ``seed`` for ``source="synthetic"``.

  The local batches are Python pickles; they are read with an unpickler that only accepts
  numpy arrays and plain containers, but still only point it at files you trust.

  Example::

      ds = load_cifar10("local", "~/data")               # ~/data/cifar-10-batches-py
      ds = load_cifar10("synthetic", num_train=128)
  """
  return _load("cifar10", source, data_dir, max_train, max_test, download, synthetic_kw)


def _load(name, source, data_dir, max_train, max_test, download, synthetic_kw) -> Dataset:
  """The one argument check of the named loaders, then the source's own loader."""
  check_source(name, source)
  max_train = check_int("max_train", max_train, allow_none=True)
  max_test = check_int("max_test", max_test, allow_none=True)
  if synthetic_kw and source != "synthetic":
    raise TypeError(
      f"load_{name}(source={source!r}) got unexpected keyword arguments "
      f"{sorted(synthetic_kw)} (num_train, num_test, seed are for source='synthetic')"
    )
  if source in ("embedded", "synthetic") and data_dir is not None:
    hint = "; use source='local' or 'tfds'" if source == "embedded" else ""
    raise ValueError(f"data_dir is not used by source={source!r}{hint}")
  if source == "embedded":
    ds = mnist_embedded()
  elif source == "synthetic":
    ds = synthetic_cifar10(**synthetic_kw)
  elif source == "tfds":
    ds = load_tfds(name, data_dir, max_train, max_test, download)
  elif name == "mnist":
    ds = mnist_local(full_mnist_dir() if data_dir is None else check_dir(data_dir))
  else:
    ds = cifar10_local(check_dir(data_dir))
  return take(ds, max_train, max_test)
