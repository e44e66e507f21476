"""Device meshes: the 1-D mesh a sweep shards its grid over, data parallelism for one large run,
and moving arrays between the host and (all processes') devices."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P


def grid_mesh(devices=None) -> Mesh:
  """A 1-D mesh named ``"grid"`` over ``devices`` (default: every device, all hosts)."""
  devices = jax.devices() if devices is None else list(devices)
  return Mesh(np.asarray(devices), ("grid",))


def data_parallel(trainer, devices=None):
  """The same trainer with every batch sharded over ``devices`` (data parallelism).

  For one large run (VGG-16 on CIFAR-10) instead of a grid of small ones: the
  parameters and optimizer state are replicated, each batch's leading axis is split
  over the devices, and the compiler averages the gradients across them, so the
  result equals single-device training up to float summation order. The batch
  size must be a multiple of the device count. Works across hosts after
  ``hr.distributed.initialize()`` (:func:`hyperreg_jax.distributed.initialize`) on
  every host.

  Example:
    >>> import jax, hyperreg_jax as hr
    >>> from hyperreg_jax import models
    >>> trainer = hr.data_parallel(hr.train.Trainer(
    ...     model=models.MLP(), make_tx=hr.rkl1, batch_size=128, epochs=1))
  """
  devices = jax.devices() if devices is None else list(devices)
  batch_size = trainer.batch_size
  if batch_size is not None and batch_size % len(devices):
    raise ValueError(
      f"batch_size={batch_size} must be a multiple of the {len(devices)} "
      "devices for data parallelism."
    )
  mesh = Mesh(np.asarray(devices), ("data",))
  return dataclasses.replace(trainer, batch_sharding=NamedSharding(mesh, P("data")))


def global_array(host: np.ndarray, sharding: NamedSharding) -> jax.Array:
  """A global array from a host array every process holds in full."""
  return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def to_host(tree):
  """Numpy copies of a tree of (sharded) global arrays, whole on every process."""
  if jax.process_count() == 1:
    return jax.tree.map(np.asarray, jax.device_get(tree))
  return jax.tree.map(np.asarray, multihost_utils.process_allgather(tree, tiled=True))
