"""Runs the sweep and data-parallel checks on N fake CPU devices; saves what it got.

Usage: python multidevice_worker.py N OUT_DIR   (run in a fresh process: the device
count is fixed when JAX initialises).
"""

import os
import sys

n_devices, out_dir = int(sys.argv[1]), sys.argv[2]
os.environ["XLA_FLAGS"] = (
  os.environ.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={n_devices}"
)

import jax  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import multidevice_cases as cases  # noqa: E402

assert jax.device_count() == n_devices, jax.devices()
result = cases.grid_sweep()
assert result.meta["devices"] == n_devices, result.meta
result.save(os.path.join(out_dir, "sweep"))
chunked = cases.grid_sweep(max_parallel=n_devices)
assert chunked.meta["chunks"] > 1 and chunked.meta["traces"] == result.meta["traces"]
chunked.save(os.path.join(out_dir, "sweep_chunked"))
if n_devices in (2, 4):
  assert cases.data_parallel_hlo_all_reduces() > 0  # the batch really is split
  params, history = cases.data_parallel_fit()
  np.savez(
    os.path.join(out_dir, "data_parallel.npz"),
    *jax.tree.leaves(params),
    train_loss=history["train_loss"],
  )
print("ok", n_devices)
