"""Small on-disk checkpoints, so that an interrupted run or sweep loses nothing.

A checkpoint file is an ``.npz`` of arrays whose name carries a fingerprint of
everything that determines its content (data, model, optimizer, settings), so a
changed run never picks up a stale file. Files are written atomically (write,
then rename), by process 0 only, and read by process 0 only, which sends what it
read to the other processes: in a multi-process run there is one writer per file,
every process resumes from the same state, and the directory need not be shared.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pathlib

import jax
import numpy as np
from jax.experimental import multihost_utils


def fingerprint(description: dict, arrays=()) -> str:
  """A short hash of a JSON-able ``description`` and the bytes of ``arrays``."""
  digest = hashlib.sha1(json.dumps(description, sort_keys=True, default=repr).encode())
  for array in arrays:
    if array is not None:
      array = np.ascontiguousarray(array)
      digest.update(f"{array.shape}{array.dtype}".encode())
      digest.update(array.tobytes())
  return digest.hexdigest()[:16]


def callable_name(fn) -> str:
  """A stable name for a function (no memory address): module and qualified name."""
  return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', type(fn).__name__)}"


def save(path: pathlib.Path, **arrays) -> None:
  """Writes ``arrays`` to ``path`` atomically (process 0 only)."""
  if jax.process_index() != 0:
    return
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = path.with_name(path.name + ".tmp.npz")
  np.savez(tmp, **arrays)
  os.replace(tmp, path)


def load(path: pathlib.Path) -> dict[str, np.ndarray] | None:
  """The arrays saved at ``path``, or ``None`` when there is no such file.

  With several processes, every process must call it (in the same order): process 0
  reads the file and broadcasts its bytes.
  """
  if jax.process_count() == 1:
    return _read(path.read_bytes()) if path.exists() else None
  raw = path.read_bytes() if jax.process_index() == 0 and path.exists() else None
  return _read(_broadcast_bytes(raw))


def _read(raw: bytes | None) -> dict[str, np.ndarray] | None:
  if raw is None:
    return None
  with np.load(io.BytesIO(raw)) as saved:
    return {name: saved[name] for name in saved.files}


def _broadcast_bytes(raw: bytes | None) -> bytes | None:
  """Process 0's ``raw`` (``None``: no file) on every process."""
  size = -1 if raw is None else len(raw)
  size = int(multihost_utils.broadcast_one_to_all(np.int32(size)))
  if size < 0:
    return None
  buffer = np.frombuffer(raw, np.uint8) if jax.process_index() == 0 else np.zeros(size, np.uint8)
  return multihost_utils.broadcast_one_to_all(buffer).tobytes()
