"""What the data tests share: the contract every classification dataset meets."""

from __future__ import annotations

import numpy as np

from hyperreg_jax import data


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
