"""Atomic writes, the small ``.npz`` pieces of an interrupted sweep, and fingerprints of runs
(:func:`hyperreg_jax.train.fit` checkpoints its training state through Orbax instead).

A sweep piece is an ``.npz`` of arrays whose name carries a fingerprint of
everything that determines its content (data, model, optimizer, settings, and the
versions of this package's code and of jax, optax and numpy), so a changed run
never picks up a stale file. Every file this package writes (checkpoints, sweep
results, tables, plots) goes through :func:`atomic_write`: a kill at any moment
leaves either the complete old file or the complete new one. Checkpoints are
written by process 0 only, and read by process 0 only, which sends what it read to
the other processes: in a multi-process run there is one writer per file, every
process resumes from the same state, and the directory need not be shared.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import hashlib
import inspect
import io
import json
import numbers
import os
import pathlib
import sys
import tempfile
import types

import jax
import numpy as np
from jax.experimental import multihost_utils

_TMP_SUFFIX = ".tmp"


class DamagedFileError(ValueError):
  """A saved file that exists but cannot be read back (truncated, empty, corrupted)."""


# ----------------------------------------------------------------------------- writing


@functools.lru_cache(maxsize=1)
def _file_mode() -> int:
  umask = os.umask(0)
  os.umask(umask)
  return 0o666 & ~umask


@contextlib.contextmanager
def atomic_write(path, mode: str = "wb"):
  """Opens a temporary file beside ``path``; on success it replaces ``path`` whole.

  The data is written to a temporary file in the same folder, flushed and fsynced,
  then renamed over ``path`` (an atomic step on POSIX and Windows), and the folder
  is fsynced. Missing parent folders are created. On any error, or a kill, ``path``
  keeps its previous content; an interrupted temporary file is removed (or, after a
  kill, left as a hidden ``.NAME.*.tmp`` beside it).

  Args:
    path: the destination file.
    mode: ``"wb"`` (binary) or ``"w"`` (text, UTF-8, no newline translation).

  Yields:
    The open temporary file.

  Example:
    >>> import pathlib, tempfile
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "sub" / "table.csv"
    >>> with atomic_write(target, "w") as f:
    ...   _ = f.write("a,b\\n1,2\\n")
    >>> target.read_text()
    'a,b\\n1,2\\n'
  """
  if mode not in ("wb", "w"):
    raise ValueError(f"mode={mode!r} must be 'wb' or 'w'.")
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=_TMP_SUFFIX, dir=path.parent)
  try:
    text = {} if mode == "wb" else {"encoding": "utf-8", "newline": ""}
    with os.fdopen(fd, mode, **text) as f:
      yield f
      f.flush()
      os.fsync(f.fileno())
    os.chmod(tmp, _file_mode())
    os.replace(tmp, path)
  except BaseException:
    with contextlib.suppress(FileNotFoundError):
      os.unlink(tmp)
    raise
  _fsync_dir(path.parent)


def _fsync_dir(directory: pathlib.Path) -> None:
  if os.name != "posix":
    return
  fd = os.open(directory, os.O_RDONLY)
  try:
    os.fsync(fd)
  except OSError:  # some file systems cannot fsync a directory
    pass
  finally:
    os.close(fd)


def check_writable(path, arg: str) -> pathlib.Path:
  """Makes sure files can be written at ``path`` (a file to be), before any work is done.

  Creates the missing parent folders and writes (then removes) a small temporary
  file beside ``path``. Raises a ``ValueError`` naming ``arg`` otherwise. Only
  process 0 writes, so only process 0 checks (and creates folders).
  """
  path = pathlib.Path(path)
  if jax.process_index() != 0:
    return path
  if path.is_dir():
    raise ValueError(f"{arg}={os.fspath(path)!r} is a directory; give a file path (prefix).")
  blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
  if blocker is not None:
    raise ValueError(
      f"{arg}={os.fspath(path)!r}: {os.fspath(blocker)!r} is a file, not a folder; "
      "choose another path."
    )
  try:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=path.parent):
      pass
  except OSError as err:
    raise ValueError(
      f"{arg}={os.fspath(path)!r}: cannot write in {os.fspath(path.parent)!r} "
      f"({type(err).__name__}: {err.strerror or err}); choose a writable folder."
    ) from None
  return path


def save(path: pathlib.Path, **arrays) -> None:
  """Writes ``arrays`` to ``path`` atomically (process 0 only)."""
  if jax.process_index() != 0:
    return
  with atomic_write(path) as f:
    np.savez(f, **arrays)


def load(path: pathlib.Path, keys=(), retry_hint: str = "") -> dict[str, np.ndarray] | None:
  """The arrays saved at ``path``, or ``None`` when there is no such file.

  Raises :class:`DamagedFileError` (a ``ValueError``) naming the file when it cannot
  be read, or lacks one of ``keys``; ``retry_hint`` says how to start afresh. With
  several processes, every process must call it (in the same order): process 0
  reads the file and broadcasts its bytes.
  """
  path = pathlib.Path(path)
  raw = path.read_bytes() if jax.process_index() == 0 and path.exists() else None
  if jax.process_count() > 1:
    raw = _broadcast_bytes(raw)
  if raw is None:
    return None
  try:
    with np.load(io.BytesIO(raw), allow_pickle=False) as saved:
      arrays = {name: saved[name] for name in saved.files}
    missing = [k for k in keys if k not in arrays]
    if missing:
      raise KeyError(f"no {missing[0]!r} in it")
  except Exception as err:  # zipfile.BadZipFile, EOFError, KeyError, ValueError, OSError, ...
    raise damaged(path, err, retry_hint) from err
  return arrays


def _broadcast_bytes(raw: bytes | None) -> bytes | None:
  """Process 0's ``raw`` (``None``: no file) on every process."""
  size = -1 if raw is None else len(raw)
  size = int(multihost_utils.broadcast_one_to_all(np.int32(size)))
  if size < 0:
    return None
  buffer = np.frombuffer(raw, np.uint8) if jax.process_index() == 0 else np.zeros(size, np.uint8)
  return multihost_utils.broadcast_one_to_all(buffer).tobytes()


def prefixed(prefix: str, arrays: dict) -> dict:
  """``{"prefix/name": array}``: a group of arrays under one prefix in a flat ``.npz``."""
  return {f"{prefix}/{name}": value for name, value in arrays.items()}


def unprefixed(prefix: str, arrays: dict) -> dict:
  """The inverse of :func:`prefixed`: the arrays saved under ``prefix``, by name."""
  return {k.removeprefix(f"{prefix}/"): v for k, v in arrays.items() if k.startswith(f"{prefix}/")}


def damaged(path, err: Exception, retry_hint: str = "") -> DamagedFileError:
  """The error for a saved file that cannot be read back."""
  hint = retry_hint or "delete it and run again"
  return DamagedFileError(
    f"{os.fspath(path)} is damaged (truncated, empty or not written by this package: "
    f"{type(err).__name__}: {err}); {hint}."
  )


def remove_saved(directory, pattern: str) -> int:
  """Deletes the files matching ``pattern`` in ``directory`` and leftover temporaries.

  Returns how many were removed (process 0 only; other processes return 0).
  """
  directory = pathlib.Path(directory)
  if jax.process_index() != 0 or not directory.is_dir():
    return 0
  removed = 0
  for path in [*directory.glob(pattern), *directory.glob(f".*{_TMP_SUFFIX}")]:
    with contextlib.suppress(FileNotFoundError):
      path.unlink()
      removed += 1
  return removed


# ----------------------------------------------------------------------------- fingerprints


@functools.lru_cache(maxsize=1)
def code_version() -> dict:
  """This package's version and a hash of its code, and jax/optax/numpy versions.

  The hash is of what the code does (:func:`code_digest`), not of its text: docstrings,
  comments and formatting may change without making saved runs stale. The NumPy reference
  (``reference/``, a test oracle no training runs) is left out.
  """
  import optax

  from hyperreg_jax._version import __version__

  digest = hashlib.sha1()
  package = pathlib.Path(__file__).parent
  for source in sorted(package.rglob("*.py")):
    if source.relative_to(package).parts[0] == "reference":
      continue
    digest.update(source.relative_to(package).as_posix().encode())
    digest.update(code_digest(source.read_text()).encode())
  return dict(
    hyperreg_jax=f"{__version__}+{digest.hexdigest()[:12]}",
    jax=jax.__version__,
    optax=optax.__version__,
    numpy=np.__version__,
    python=sys.version.split()[0],
  )


def code_digest(source: str) -> str:
  """The syntax tree of Python ``source`` without its docstrings, as text: equal for two
  sources that differ only in docstrings, comments or layout."""
  tree = ast.parse(source)
  for node in ast.walk(tree):
    body = getattr(node, "body", None)
    if (
      isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
      and body
      and isinstance(body[0], ast.Expr)
      and isinstance(body[0].value, ast.Constant)
      and isinstance(body[0].value.value, str)
    ):
      node.body = body[1:] or [ast.Pass()]
  return ast.dump(tree)


def fingerprint(description: dict, arrays=()) -> str:
  """A short hash of a JSON-able ``description``, the code versions and ``arrays``' bytes."""
  text = json.dumps([description, code_version()], sort_keys=True, default=repr)
  digest = hashlib.sha1(text.encode())
  for array in arrays:
    if array is not None:
      array = np.ascontiguousarray(array)
      digest.update(f"{array.shape}{array.dtype}".encode())
      digest.update(array.tobytes())
  return digest.hexdigest()[:16]


def callable_name(fn) -> str:
  """A stable name for a function (no memory address): module and qualified name."""
  return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', type(fn).__name__)}"


def describe_callable(fn, _depth: int = 0):
  """What identifies a callable's behaviour, as JSON-able values, for fingerprints.

  A function is identified by its name, a hash of its code, its default arguments,
  the values its closure captures and the simple global values it reads; a
  ``functools.partial`` by its function and bound arguments; a method by its
  function and object; a class by its name and its methods' code; a wrapper
  (``jax.jit(f)``) by the function it wraps. Values are
  described by content (arrays by their bytes); functions within them recursively.

  Raises:
    ValueError: when some captured value has no stable description (its ``repr``
      holds a memory address): such a callable cannot be checkpointed safely.
  """
  if _depth > 8:
    return callable_name(fn)
  deeper = functools.partial(_describe_value, depth=_depth + 1)
  if isinstance(fn, functools.partial):
    return dict(
      partial=describe_callable(fn.func, _depth + 1),
      args=[deeper(a) for a in fn.args],
      keywords={k: deeper(v) for k, v in sorted(fn.keywords.items())},
    )
  if inspect.ismethod(fn):
    return dict(method=describe_callable(fn.__func__, _depth + 1), self=deeper(fn.__self__))
  if inspect.isfunction(fn):
    code = fn.__code__
    closure = [cell.cell_contents for cell in fn.__closure__ or ()]
    globals_read = {
      name: fn.__globals__[name]
      for name in sorted(_global_names(code))
      if name in fn.__globals__ and _is_plain_global(fn.__globals__[name])
    }
    return dict(
      name=callable_name(fn),
      code=_code_hash(code),
      defaults=deeper(fn.__defaults__),
      kwdefaults=deeper(fn.__kwdefaults__),
      closure=[deeper(c) for c in closure],
      globals={k: deeper(v) for k, v in globals_read.items()},
    )
  if isinstance(fn, type):
    methods = {
      k: _code_hash(v.__code__) for k, v in sorted(vars(fn).items()) if inspect.isfunction(v)
    }
    return dict(type=callable_name(fn), methods=methods)
  if isinstance(fn, (types.BuiltinFunctionType, np.ufunc)):
    return callable_name(fn)
  if callable(getattr(fn, "__wrapped__", None)):  # jax.jit(f), functools.wraps: f decides
    return dict(wrapped=describe_callable(fn.__wrapped__, _depth + 1))
  return dict(object=_describe_value(fn, _depth + 1), type=describe_callable(type(fn), _depth + 1))


def _code_hash(code: types.CodeType) -> str:
  digest = hashlib.sha1(code.co_code)
  digest.update(repr(code.co_names).encode())
  for const in code.co_consts:
    if isinstance(const, types.CodeType):
      digest.update(_code_hash(const).encode())
    elif isinstance(const, frozenset):  # its repr's order changes with the hash seed
      digest.update(repr(sorted(map(repr, const))).encode())
    else:
      digest.update(repr(const).encode())
  return digest.hexdigest()[:16]


def _global_names(code: types.CodeType) -> set[str]:
  names = set(code.co_names)
  for const in code.co_consts:
    if isinstance(const, types.CodeType):
      names |= _global_names(const)
  return names


def _is_plain_global(value) -> bool:
  """Globals worth fingerprinting: numbers, strings, arrays, user functions (not modules)."""
  if isinstance(value, (types.ModuleType, type)):
    return False
  if inspect.isfunction(value) or isinstance(value, functools.partial):
    module = getattr(value, "__module__", None) or ""
    return not module.startswith(("jax", "optax", "numpy", "hyperreg_jax", "flax"))
  return isinstance(value, (numbers.Number, str, bytes, np.ndarray, tuple))


def _describe_value(value, depth: int):
  if value is None or isinstance(value, (bool, str, bytes)):
    return repr(value)
  if isinstance(value, numbers.Number) and not hasattr(value, "shape"):
    return repr(value)
  if isinstance(value, (np.ndarray, np.generic, jax.Array)):
    array = np.ascontiguousarray(np.asarray(value))
    return f"array{array.shape}{array.dtype}:{hashlib.sha1(array.tobytes()).hexdigest()[:16]}"
  if isinstance(value, (list, tuple)):
    return [type(value).__name__, *(_describe_value(v, depth) for v in value)]
  if isinstance(value, dict):
    return {repr(k): _describe_value(v, depth) for k, v in value.items()}
  if isinstance(value, (set, frozenset)):
    return ["set", *sorted(json.dumps(_describe_value(v, depth), default=repr) for v in value)]
  if isinstance(value, types.ModuleType):
    return f"module {value.__name__} {getattr(value, '__version__', '')}"
  if callable(value):
    return describe_callable(value, depth)
  text = repr(value)
  if " at 0x" in text:
    raise ValueError(
      f"cannot fingerprint {text}: its repr holds a memory address, so a changed value "
      "could not be told apart from the saved one. Give it a stable __repr__, or pass "
      "checkpoint=None."
    )
  return text
