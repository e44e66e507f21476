"""Sharded over 2 and 4 fake CPU devices equals single-device, in separate processes."""

import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from hyperreg_jax import SweepResult

HELPERS = os.path.join(os.path.dirname(__file__), "helpers")
sys.path.insert(0, HELPERS)
import multidevice_cases as cases  # noqa: E402


@pytest.fixture(scope="module")
def single_device():
  assert jax.device_count() == 1
  return cases.grid_sweep(), cases.data_parallel_fit()


def run_worker(n_devices, out_dir):
  env = dict(os.environ)
  env.pop("XLA_FLAGS", None)
  proc = subprocess.run(
    [sys.executable, os.path.join(HELPERS, "multidevice_worker.py"), str(n_devices), str(out_dir)],
    env=env,
    capture_output=True,
    text=True,
    timeout=600,
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert f"ok {n_devices}" in proc.stdout


@pytest.mark.parametrize("n_devices", [2, 4])
@pytest.mark.slow
def test_sharded_equals_single_device(n_devices, single_device, tmp_path):
  run_worker(n_devices, tmp_path)
  reference, (ref_params, ref_history) = single_device
  for name in ("sweep", "sweep_chunked"):
    sharded = SweepResult.load(tmp_path / name)
    assert sharded.meta["devices"] == n_devices
    np.testing.assert_array_equal(sharded.diverged, reference.diverged)
    np.testing.assert_array_equal(sharded.diverged_at, reference.diverged_at)
    assert reference.diverged[:, 1].all() and reference.diverged.sum() == 2
    for metric, curve in reference.curves.items():
      np.testing.assert_allclose(
        sharded.curves[metric], curve, rtol=1e-6, atol=1e-7, err_msg=f"{name} {metric}"
      )
  with np.load(tmp_path / "data_parallel.npz") as saved:
    leaves = [saved[f"arr_{i}"] for i in range(len(jax.tree.leaves(ref_params)))]
    for got, want in zip(leaves, jax.tree.leaves(ref_params)):
      np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-6)
    np.testing.assert_allclose(saved["train_loss"], ref_history["train_loss"], rtol=1e-4)
