"""Starts N processes of a worker over loopback; every one is killed at a time limit."""

import dataclasses
import os
import socket
import subprocess
import sys
import tempfile
import time


def free_port() -> int:
  """A TCP port that is free now (the OS picks it)."""
  with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


@dataclasses.dataclass
class Finished:
  returncode: int  # negative: ended by that signal
  killed: bool  # killed here: at the time limit, or after another process failed
  stdout: str
  stderr: str


def report(finished) -> str:
  """Every process's exit status and the tail of its output, for failure messages."""
  return "\n".join(
    f"--- process {i}: returncode {f.returncode}, killed {f.killed}\n"
    f"{f.stdout[-1500:]}\n{f.stderr[-3000:]}"
    for i, f in enumerate(finished)
  )


def launch(args, num_processes=2, time_limit=120.0, grace=5.0, env=None, port=None, ids=None):
  """Runs ``python *args`` as the processes ``ids`` (default: all) of ``num_processes``.

  Each gets ``JAX_COORDINATOR_ADDRESS=127.0.0.1:<port>`` (a free port by default),
  ``JAX_NUM_PROCESSES``, ``JAX_PROCESS_ID`` and ``env`` (one dict, or one per process).
  Once one fails, the others get ``grace`` seconds; at ``time_limit`` every process
  still running is killed. Returns a :class:`Finished` per process.
  """
  port = port or free_port()
  ids = list(range(num_processes)) if ids is None else ids
  procs, logs = [], []
  for n, pid in enumerate(ids):
    penv = dict(os.environ)
    penv.pop("XLA_FLAGS", None)
    penv.update(
      JAX_PLATFORMS="cpu",
      JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}",
      JAX_NUM_PROCESSES=str(num_processes),
      JAX_PROCESS_ID=str(pid),
    )
    penv.update((env[n] if isinstance(env, list) else env) or {})
    logs.append((tempfile.TemporaryFile(), tempfile.TemporaryFile()))  # noqa: SIM115 (closed below)
    procs.append(
      subprocess.Popen(
        [sys.executable, *map(str, args)], env=penv, stdout=logs[-1][0], stderr=logs[-1][1]
      )
    )
  killed = set()
  deadline = time.monotonic() + time_limit
  try:
    while time.monotonic() < deadline:
      codes = [p.poll() for p in procs]  # every one, each time
      if None not in codes:
        break
      if any(code not in (None, 0) for code in codes):
        deadline = min(deadline, time.monotonic() + grace)
      time.sleep(0.05)
  finally:
    for n, p in enumerate(procs):
      if p.poll() is None:
        p.kill()
        killed.add(n)
      p.wait()
  finished = []
  for n, (p, (out, err)) in enumerate(zip(procs, logs)):
    text = []
    for f in (out, err):
      f.seek(0)
      text.append(f.read().decode(errors="replace"))
      f.close()
    finished.append(Finished(p.returncode, n in killed, *text))
  return finished
