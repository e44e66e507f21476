"""The experiments' files: atomic writes of CSV, JSON, text and figures, and reading them back.

Every file goes through a temporary file next to the target and a rename (the library's
:func:`hyperreg_jax.checkpoint.atomic_write`): a killed run leaves the old file or the new
one, never half of one.
"""

from __future__ import annotations

import csv
import io
import json
import math
import pathlib
from collections.abc import Sequence

import numpy as np


def _atomic_write(path, data: bytes) -> pathlib.Path:
  from hyperreg_jax import checkpoint

  with checkpoint.atomic_write(path) as f:
    f.write(data)
  return pathlib.Path(path)


def write_text(path, text: str) -> pathlib.Path:
  """Writes ``text`` to ``path`` atomically."""
  return _atomic_write(path, text.encode())


def write_json(path, obj) -> pathlib.Path:
  """Writes ``obj`` as indented JSON, atomically."""
  return write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_jsonable) + "\n")


def read_json(path):
  """The JSON at ``path``, or ``None`` when there is no such file."""
  path = pathlib.Path(path)
  return json.loads(path.read_text()) if path.exists() else None


def _jsonable(value):
  if isinstance(value, np.generic):
    return value.item()
  if isinstance(value, np.ndarray):
    return value.tolist()
  return str(value)


def write_csv(path, rows: Sequence[dict]) -> pathlib.Path:
  """Writes ``rows`` (dicts with the same keys) as CSV, atomically; floats with 6 digits."""
  if not rows:
    raise ValueError(f"write_csv({path}): no rows to write.")
  buffer = io.StringIO()
  writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
  writer.writeheader()
  for row in rows:
    writer.writerow({k: _cell(v) for k, v in row.items()})
  return write_text(path, buffer.getvalue())


def _cell(value):
  if isinstance(value, (bool, np.bool_)):
    return str(bool(value))
  if isinstance(value, (float, np.floating)):
    value = float(value)
    return "nan" if math.isnan(value) else f"{value:.6g}"
  return value


def read_csv(path) -> list[dict]:
  """The rows of a CSV written by :func:`write_csv`, numbers parsed back."""
  with open(path, newline="") as f:
    return [{k: _parse(v) for k, v in row.items()} for row in csv.DictReader(f)]


def _parse(text: str):
  if text in ("True", "False"):
    return text == "True"
  for kind in (int, float):
    try:
      return kind(text)
    except ValueError:
      pass
  return text


def pyplot():
  """matplotlib.pyplot with the non-interactive backend."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  return plt


def save_figure(fig, path) -> pathlib.Path:
  """Saves a matplotlib figure as PNG atomically, without time stamps, and closes it."""
  buffer = io.BytesIO()
  fig.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
  pyplot().close(fig)
  return _atomic_write(path, buffer.getvalue())
