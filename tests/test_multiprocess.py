"""Two processes x 2 fake CPU devices over loopback (gloo) equal one process.

Each check starts its processes through ``helpers/multiprocess_launch.py``: a free port
chosen at run time, every process killed at a time limit, and every process's output in
the failure message.
"""

import os
import pathlib
import re
import socket
import sys

import jax
import numpy as np
import pytest

import hyperreg_jax as hr

HELPERS = os.path.join(os.path.dirname(__file__), "helpers")
sys.path.insert(0, HELPERS)
import multiprocess_cases as cases  # noqa: E402
import multiprocess_launch  # noqa: E402

WORKER = os.path.join(HELPERS, "multiprocess_worker.py")
SWEEP_RTOL, SWEEP_ATOL = 1e-6, 1e-7  # the README's tolerance for a sharded sweep
PARALLEL_RTOL, PARALLEL_ATOL = 2e-4, 2e-6  # data parallel: gradient sums reordered
PIECES = len(cases.VARIANTS) * len(cases.SEEDS) * 2  # 2 chunks of 4 ILRs each


@pytest.fixture(scope="module")
def single_process():
  """The same sweep, ``run`` and ``fit`` in this process, on one device."""
  assert jax.process_count() == 1 and jax.device_count() == 1
  trainer = cases.mlp_trainer(parallel=False)
  return cases.grid_sweep(), cases.run(trainer), cases.fit(trainer)


def launch(scenario, out_dir, **kwargs):
  return multiprocess_launch.launch([WORKER, scenario, out_dir], **kwargs)


def succeeded(finished) -> bool:
  return all(f.returncode == 0 and not f.killed for f in finished)


def outputs(out_dir, scenario):
  """Each process's saved arrays; asserts that they are equal on every process."""
  saved = []
  for pid in range(2):
    with np.load(out_dir / f"{scenario}-p{pid}.npz") as z:
      saved.append({k: z[k] for k in z.files})
  for name in saved[0]:
    np.testing.assert_array_equal(saved[1][name], saved[0][name], err_msg=f"process 1 {name}")
  return saved[0]


def assert_sweep_equal(got, reference):
  np.testing.assert_array_equal(got["diverged"], reference.diverged)
  np.testing.assert_array_equal(got["diverged_at"], reference.diverged_at)
  assert reference.diverged[:, 1].all() and reference.diverged.sum() == 2 * len(cases.SEEDS)
  for metric, curve in reference.curves.items():
    np.testing.assert_allclose(
      got[f"sweep/{metric}"], curve, rtol=SWEEP_RTOL, atol=SWEEP_ATOL, err_msg=metric
    )


def assert_training_equal(got, prefix, reference):
  params, history = reference
  for i, want in enumerate(params):
    np.testing.assert_allclose(
      got[f"{prefix}/param{i}"], want, rtol=PARALLEL_RTOL, atol=PARALLEL_ATOL, err_msg=prefix
    )
  for name in ("train_loss", "test_loss", "test_accuracy", "lr_mean"):
    np.testing.assert_allclose(
      got[f"{prefix}/{name}"], history[name], rtol=PARALLEL_RTOL, atol=PARALLEL_ATOL, err_msg=name
    )


@pytest.mark.slow
def test_two_processes_equal_one(single_process, tmp_path):
  finished = launch("train", tmp_path)
  assert succeeded(finished), multiprocess_launch.report(finished)
  assert all("of 2: 4 devices" in f.stdout for f in finished), multiprocess_launch.report(finished)
  got = outputs(tmp_path, "train")
  reference, run, fit = single_process
  assert_sweep_equal(got, reference)
  assert_training_equal(got, "run", run)
  assert_training_equal(got, "fit", fit)
  assert got["sweep_saves"] == 0 and got["fit_saves"] == 0  # no checkpoint folder given


@pytest.mark.slow
def test_killed_process_resumes_on_all(single_process, tmp_path):
  """Process 1 is killed mid-sweep, then mid-fit; each rerun trains only what is missing.

  Each process has its own checkpoint folder, as on hosts without a shared file system:
  process 0 writes and reads, and sends what it read to process 1.
  """
  ckpt = tmp_path / "ckpt"

  def on_disk():
    return sorted(p.name for p in ckpt.iterdir()) if ckpt.exists() else []

  env = {"KILL_AFTER": "3", "HEARTBEAT_TIMEOUT": "5"}
  killed = launch("checkpoint", tmp_path, env=env, grace=90.0)
  report = multiprocess_launch.report(killed)
  assert killed[1].returncode == -9 and not killed[1].killed, report
  # Process 0 waits in a collective for the dead one: no hang, it ends once the
  # coordinator misses process 1's heartbeats.
  assert killed[0].returncode not in (0, None) and not killed[0].killed, report
  assert "heartbeat" in killed[0].stderr, report
  pieces = [name for name in on_disk() if name.startswith("piece-")]
  assert 2 <= len(pieces) <= 3 and len(on_disk()) == len(pieces), on_disk()  # process 0 wrote
  written = {name: (ckpt / name).stat().st_mtime_ns for name in pieces}
  missing = PIECES - len(pieces)

  # Killed again after the missing pieces and fit's first epoch (its (missing + 1)-th write).
  killed = launch("checkpoint", tmp_path, env={"KILL_AFTER": str(missing + 1)}, grace=3.0)
  assert killed[1].returncode == -9 and not killed[1].killed, multiprocess_launch.report(killed)
  assert len([name for name in on_disk() if name.startswith("piece-")]) == PIECES
  assert {name: (ckpt / name).stat().st_mtime_ns for name in pieces} == written  # not redone
  assert on_disk_epochs(ckpt) == 1  # process 0 cannot train epoch 2 alone

  finished = launch("checkpoint", tmp_path)
  assert succeeded(finished), multiprocess_launch.report(finished)
  got = outputs(tmp_path, "checkpoint")
  assert got["sweep_saves"] == 0  # every piece loaded
  assert got["fit_saves"] == 1  # epoch 2 only
  reference, _, fit = single_process
  assert_sweep_equal(got, reference)
  assert_training_equal(got, "fit", fit)
  assert not any(name.endswith(".tmp.npz") for name in on_disk())
  assert not (tmp_path / "ckpt-p1").exists()  # process 1 neither wrote nor needed a file


def on_disk_epochs(ckpt) -> int:
  """The last epoch of fit's Orbax checkpoints (one step folder per epoch)."""
  (run,) = ckpt.glob("fit-*")
  return max(int(p.name) for p in run.iterdir() if p.name.isdigit())


@pytest.mark.slow
def test_mismatched_process_counts_fail_on_every_process(tmp_path):
  finished = launch("join", tmp_path, env=[{}, {"JAX_NUM_PROCESSES": "3"}], grace=30.0)
  report = multiprocess_launch.report(finished)
  for f in finished:
    assert f.returncode == 1 and not f.killed, report
    assert "ValueError" in f.stderr and "num_processes=[2, 3]" in f.stderr, report


@pytest.mark.slow
def test_port_in_use_is_a_clear_error(tmp_path):
  with socket.socket() as busy:
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    finished = launch("join", tmp_path, ids=[0], port=port)
  report = multiprocess_launch.report(finished)
  assert finished[0].returncode == 1 and not finished[0].killed, report
  assert f"ValueError: coordinator_address='127.0.0.1:{port}': port {port} is already in use" in (
    finished[0].stderr
  ), report


@pytest.mark.slow
def test_process_that_never_joins_times_out(tmp_path):
  finished = launch("join", tmp_path, ids=[0], env={"JOIN_TIMEOUT": "2"}, time_limit=60.0)
  report = multiprocess_launch.report(finished)
  assert finished[0].returncode == 1 and not finished[0].killed, report
  assert "process 0 of 2 gave up after 2 s: not every process joined" in finished[0].stderr, report


@pytest.mark.parametrize(
  "args, env, message",
  [
    (("127.0.0.1:1234", 2, 2), {}, "process_id=2 must be an integer in 0..1"),
    (("127.0.0.1:1234", 2, -1), {}, "process_id=-1 must be an integer in 0..1"),
    (("127.0.0.1:1234", 0, 0), {}, "num_processes=0 must be an integer >= 1"),
    (("127.0.0.1", 2, 0), {}, "coordinator_address='127.0.0.1' must be 'host:port'"),
    (("127.0.0.1:70000", 2, 0), {}, "port in 1..65535"),
    ((None, 2, 0), {}, "the environment variable JAX_COORDINATOR_ADDRESS is not set"),
    (("127.0.0.1:1234", None, 0), {"JAX_NUM_PROCESSES": "two"}, "JAX_NUM_PROCESSES='two'"),
  ],
)
def test_bad_arguments_fail_before_joining(args, env, message, monkeypatch):
  for name in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID"):
    monkeypatch.delenv(name, raising=False)
  for name, value in env.items():
    monkeypatch.setenv(name, value)
  with pytest.raises(ValueError, match=re.escape(message)):
    hr.distributed.initialize(*args)
  with pytest.raises(ValueError, match="timeout=0"):
    hr.distributed.initialize("127.0.0.1:1234", 2, 1, timeout=0)


def test_multi_host_start_is_said_one_way_everywhere():
  """The docs' pages on several processes and on sweeps, ``hr.sweep`` and ``hr.data_parallel``
  name the same call to start a multi-host run: ``hr.distributed.initialize()``, never JAX's
  own."""
  docs = pathlib.Path(__file__).resolve().parents[1] / "docs"
  texts = {
    "docs/distributed.md": (docs / "distributed.md").read_text(),
    "docs/sweeps.md": (docs / "sweeps.md").read_text(),
    "sweep": hr.sweep.__doc__,
    "data_parallel": hr.data_parallel.__doc__,
  }
  for name, text in texts.items():
    assert "hr.distributed.initialize()" in text, name
    assert not re.search(r"(?<!\w)jax\.distributed\.initialize", text), name  # JAX's own


@pytest.mark.slow
def test_importing_the_package_computes_nothing():
  """``hr.distributed.initialize`` must run before any computation: importing may not start one."""
  import subprocess

  code = (
    "import hyperreg_jax, hyperreg_jax.train, hyperreg_jax._sweep, hyperreg_jax.models\n"
    "from jax._src import xla_bridge\n"
    "assert not xla_bridge._backends, 'importing hyperreg_jax initialised a JAX backend'\n"
  )
  done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
  assert done.returncode == 0, done.stderr
