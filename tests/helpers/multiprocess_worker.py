"""One process of a multi-process run on fake CPU devices; saves what it computed.

Usage: python multiprocess_worker.py SCENARIO OUT_DIR, with JAX_COORDINATOR_ADDRESS,
JAX_NUM_PROCESSES and JAX_PROCESS_ID set (read by ``hr.distributed.initialize``).

Scenarios: ``join`` (initialize only), ``train`` (a sweep, a data-parallel ``run`` and
``fit``), ``checkpoint`` (the sweep and ``fit`` with a checkpoint folder per process,
``OUT_DIR/ckpt`` for process 0, ``OUT_DIR/ckpt-p<id>`` for the others; with
``KILL_AFTER=k`` process 1 kills itself at its k-th checkpoint write).
Environment: ``DEVICES`` (fake CPU devices per process, default 2), ``JOIN_TIMEOUT``
and ``HEARTBEAT_TIMEOUT`` (seconds, default 60 and 100). Each process writes
``OUT_DIR/<scenario>-p<process id>.npz``.
"""

import os
import signal
import sys
import time

scenario, out_dir = sys.argv[1], sys.argv[2]
os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={os.environ.get('DEVICES', '2')}"

import jax  # noqa: E402
import numpy as np  # noqa: E402

import hyperreg_jax as hr  # noqa: E402

hr.distributed.initialize(
  timeout=float(os.environ.get("JOIN_TIMEOUT", "60")),
  heartbeat_timeout=int(os.environ.get("HEARTBEAT_TIMEOUT", "100")),
)
pid = jax.process_index()
assert jax.config.jax_cpu_collectives_implementation == "gloo"
print(f"process {pid} of {jax.process_count()}: {jax.device_count()} devices", flush=True)
if scenario == "join":
  print("ok", pid)
  sys.exit(0)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import multiprocess_cases as cases  # noqa: E402

from hyperreg_jax import checkpoint as checkpoint_io  # noqa: E402

saves = []
original_save, original_fit_save = checkpoint_io.save, hr.train.FitCheckpoints.save


def counted(save):
  """``save`` that counts checkpoint writes (every process calls it); may kill process 1."""

  def counting_save(*args, **kwargs):
    save(*args, **kwargs)
    saves.append(1)
    if pid == 1 and len(saves) == int(os.environ.get("KILL_AFTER", "0")):
      os.kill(os.getpid(), signal.SIGKILL)

  return counting_save


checkpoint_io.save = counted(original_save)  # the sweep's pieces
hr.train.FitCheckpoints.save = counted(original_fit_save)  # fit's epochs (Orbax)
started = time.perf_counter()
ckpt = None
if scenario == "checkpoint":  # one folder per process: nothing needs to be shared
  ckpt = os.path.join(out_dir, "ckpt" if pid == 0 else f"ckpt-p{pid}")
result = cases.grid_sweep(checkpoint=ckpt)
assert result.meta["processes"] == jax.process_count(), result.meta
assert result.meta["devices"] == jax.device_count(), result.meta  # all processes' devices
arrays = {f"sweep/{k}": v for k, v in result.curves.items()}
arrays.update(diverged=result.diverged, diverged_at=result.diverged_at)
sweep_saves = len(saves)
print(f"sweep done at {time.perf_counter() - started:.1f} s", flush=True)
params, history = cases.fit(cases.mlp_trainer(parallel=True), checkpoint=ckpt)
arrays.update({f"fit/param{i}": p for i, p in enumerate(params)})
arrays.update({f"fit/{k}": v for k, v in history.items()})
print(f"fit done at {time.perf_counter() - started:.1f} s", flush=True)
if scenario == "train":
  params, history = cases.run(cases.mlp_trainer(parallel=True))
  arrays.update({f"run/param{i}": p for i, p in enumerate(params)})
  arrays.update({f"run/{k}": v for k, v in history.items()})
arrays.update(sweep_saves=sweep_saves, fit_saves=len(saves) - sweep_saves)
np.savez(os.path.join(out_dir, f"{scenario}-p{pid}.npz"), **arrays)
print("ok", pid, flush=True)
