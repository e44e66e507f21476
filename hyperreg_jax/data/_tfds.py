"""MNIST and CIFAR-10 through ``tensorflow_datasets.data_source`` (the ``tfds`` extra)."""

from __future__ import annotations

import os
import pathlib

import numpy as np

from hyperreg_jax.data._contract import (
  CIFAR_CITATION,
  MNIST_CITATION,
  MNIST_LICENCE,
  Dataset,
  images_to_float,
)


def load_tfds(name, data_dir, max_train, max_test, download) -> Dataset:
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
    splits[split] = (images_to_float(images), labels)
  return Dataset.from_splits(
    name,
    splits["train"],
    splits["test"],
    info={
      "source": "tfds",
      "tfds_name": name,
      "data_dir": data_dir,
      "licence": MNIST_LICENCE if name == "mnist" else "see tfds catalog (cifar10)",
      "citation": MNIST_CITATION if name == "mnist" else CIFAR_CITATION,
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
