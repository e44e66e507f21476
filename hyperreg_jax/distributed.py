"""Joining a multi-process (multi-host) run, with clear errors instead of hangs.

:func:`initialize` wraps :func:`jax.distributed.initialize`. After it, on every
process, the same :func:`hyperreg_jax.sweep` call shards its grid over the devices of
all processes, and :func:`hyperreg_jax.data_parallel` splits every batch over them.
On CPU the processes talk through gloo (JAX's default; selected here where an
older JAX has none), the same code path as a GPU cluster.

What it adds to JAX's own call, whose failures are a crash or a wait:

* arguments from the environment (``JAX_COORDINATOR_ADDRESS``, ``JAX_NUM_PROCESSES``,
  ``JAX_PROCESS_ID``) when not given, each checked with a ``ValueError``;
* process 0 checks that the coordinator's port is free before JAX binds it;
* a process that cannot join all the others within ``timeout`` seconds says so on
  stderr and exits with status 1 (JAX's runtime cannot be recovered in-process);
* every process checks that all of them were started with the same
  ``num_processes``.

Example (two hosts; ``host0`` is reachable from both, port 1234 free on it)::

  # on host0:  JAX_PROCESS_ID=0, on host1:  JAX_PROCESS_ID=1, both with
  # JAX_COORDINATOR_ADDRESS=host0:1234 JAX_NUM_PROCESSES=2
  import hyperreg_jax as hr
  hr.distributed.initialize()
  result = hr.sweep(...)   # the same call on both hosts; both get the whole result
"""

from __future__ import annotations

import numbers
import os
import socket
import sys
import threading

import jax
import numpy as np
from jax.experimental import multihost_utils


def _from_env(value, name: str, env: str):
  if value is not None:
    return value
  if env not in os.environ:
    raise ValueError(f"{name} is not given and the environment variable {env} is not set.")
  text = os.environ[env]
  if name == "coordinator_address":
    return text
  try:
    return int(text)
  except ValueError:
    raise ValueError(f"{env}={text!r} must be an integer (it gives {name}).") from None


def _is_int(value) -> bool:
  return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _port(coordinator_address) -> int:
  host, _, port = str(coordinator_address).rpartition(":")
  if not host or not port.isdigit() or not 0 < int(port) < 65536:
    raise ValueError(
      f"coordinator_address={coordinator_address!r} must be 'host:port' with a port in 1..65535."
    )
  return int(port)


def _check_port_free(coordinator_address, port: int) -> None:
  """Raises ``ValueError`` when ``port`` cannot be bound on all interfaces (as JAX binds it)."""
  try:
    probe = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    address = ("::", port)
  except OSError:  # no IPv6 on this host
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    address = ("", port)
  with probe:
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
      probe.bind(address)
    except OSError as error:
      raise ValueError(
        f"coordinator_address={coordinator_address!r}: port {port} is already in use on this "
        f"host ({error.strerror}); process 0 runs the coordinator there, so choose a free port."
      ) from None


def _watchdog(timeout: float, message: str) -> threading.Timer:
  """A started timer that prints ``message`` and ends the process after ``timeout`` s."""

  def give_up():
    print(message, file=sys.stderr, flush=True)
    os._exit(1)

  timer = threading.Timer(timeout, give_up)
  timer.daemon = True
  timer.start()
  return timer


def initialize(
  coordinator_address: str | None = None,
  num_processes: int | None = None,
  process_id: int | None = None,
  *,
  timeout: float = 300.0,
  heartbeat_timeout: int = 100,
) -> None:
  """Joins this process to a run of ``num_processes`` processes (call before any JAX work).

  Args:
    coordinator_address: ``"host:port"`` of process 0, reachable from every process;
      default: the environment variable ``JAX_COORDINATOR_ADDRESS``.
    num_processes: how many processes take part; default: ``JAX_NUM_PROCESSES``.
    process_id: this process's index in ``0 .. num_processes - 1``; default:
      ``JAX_PROCESS_ID``.
    timeout: seconds to wait until every process has joined. A process still waiting
      then prints why to stderr and exits with status 1.
    heartbeat_timeout: seconds after which a silent process counts as dead and the
      others stop (JAX's own handling: they end with an error, they do not hang).

  Raises:
    ValueError: a missing or malformed argument, a coordinator port already in use
      (process 0), or processes started with different ``num_processes``.

  Example:
    On each of two hosts, before anything else touches JAX (``JAX_PROCESS_ID`` is 0
    on ``host0``, 1 on the other)::

      JAX_COORDINATOR_ADDRESS=host0:1234 JAX_NUM_PROCESSES=2 JAX_PROCESS_ID=0 python run.py

    where ``run.py`` calls ``hr.distributed.initialize()`` and then the same
    :func:`hyperreg_jax.sweep` on every host. Bad arguments fail before joining:

    >>> import hyperreg_jax as hr
    >>> hr.distributed.initialize("10.0.0.1:1234", 2, 2)
    Traceback (most recent call last):
      ...
    ValueError: process_id=2 must be an integer in 0..1 (num_processes=2).
  """
  coordinator_address = _from_env(
    coordinator_address, "coordinator_address", "JAX_COORDINATOR_ADDRESS"
  )
  num_processes = _from_env(num_processes, "num_processes", "JAX_NUM_PROCESSES")
  process_id = _from_env(process_id, "process_id", "JAX_PROCESS_ID")
  port = _port(coordinator_address)
  if not _is_int(num_processes) or num_processes < 1:
    raise ValueError(f"num_processes={num_processes!r} must be an integer >= 1.")
  if not _is_int(process_id) or not 0 <= process_id < num_processes:
    raise ValueError(
      f"process_id={process_id!r} must be an integer in 0..{num_processes - 1} "
      f"(num_processes={num_processes})."
    )
  if not timeout > 0:
    raise ValueError(f"timeout={timeout!r} must be a number of seconds > 0.")
  if not _is_int(heartbeat_timeout) or heartbeat_timeout < 1:
    raise ValueError(f"heartbeat_timeout={heartbeat_timeout!r} must be an integer >= 1 (seconds).")
  if process_id == 0:
    _check_port_free(coordinator_address, port)
  if jax.config.jax_cpu_collectives_implementation is None:  # older JAX: none by default
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
  timer = _watchdog(
    timeout,
    f"hyperreg_jax.distributed.initialize: process {process_id} of {num_processes} gave up "
    f"after {timeout:g} s: not every process joined the coordinator at {coordinator_address}. "
    f"Start all {num_processes} processes (ids 0..{num_processes - 1}) with the same "
    "coordinator address and num_processes, and check that the address is reachable.",
  )
  try:
    jax.distributed.initialize(
      coordinator_address,
      num_processes=int(num_processes),
      process_id=int(process_id),
      initialization_timeout=int(timeout) + 30,  # the watchdog speaks first
      heartbeat_timeout_seconds=heartbeat_timeout,
    )
    _check_same_count(int(num_processes), int(process_id))
  finally:
    timer.cancel()


def _check_same_count(num_processes: int, process_id: int) -> None:
  """Raises ``ValueError`` when the processes were started with different counts."""
  counts = multihost_utils.process_allgather(np.int32(num_processes)).reshape(-1).tolist()
  if jax.process_count() != num_processes or len(set(counts)) > 1:
    raise ValueError(
      f"num_processes={num_processes} on process {process_id}, but the processes were started "
      f"with num_processes={counts} (one per process; the coordinator runs "
      f"{jax.process_count()}): start every process with the same num_processes."
    )
