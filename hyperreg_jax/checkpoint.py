"""Small on-disk checkpoints, so that an interrupted run or sweep loses nothing.

A checkpoint file is an ``.npz`` of arrays whose name carries a fingerprint of
everything that determines its content (data, model, optimizer, settings), so a
changed run never picks up a stale file. Files are written atomically (write,
then rename), by process 0 only: on a cluster the directory must be shared.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib

import jax
import numpy as np


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
  """The arrays saved at ``path``, or ``None`` when there is no such file."""
  if not path.exists():
    return None
  with np.load(path) as saved:
    return {name: saved[name] for name in saved.files}
