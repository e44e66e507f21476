"""Saved results and checkpoints: atomic under kills, damage named, stale pieces never reused."""

import functools
import json
import os
import pathlib
import shutil
import struct
import subprocess
import sys
import zipfile

import jax
import numpy as np
import optax
import pytest

import hyperreg_jax as hr
from hyperreg_jax import SweepResult, data, models, train
from hyperreg_jax import checkpoint as checkpoint_io
from hyperreg_jax.train import Trainer

HELPERS = pathlib.Path(__file__).parent / "helpers"
REGRESSION = data.synthetic_linear_regression(num_train=32, num_test=8, dim=2, seed=4)
SMALL = dict(seeds=[0, 1], epochs=1, batch_size=16, progress=False)


def small_result(value: float = 1.0) -> SweepResult:
  return SweepResult(
    ["a"],
    np.array([0.1, 1.0]),
    np.array([0]),
    {"train_loss": np.full((1, 2, 1, 3), value, np.float32)},
    np.zeros((1, 2, 1), bool),
    np.full((1, 2, 1), -1, np.int32),
    {"epochs": 3},
  )


# ----------------------------------------------------------------------------- atomic writes


@pytest.mark.slow
def test_sigkill_at_random_moments_leaves_old_or_new_files(tmp_path):
  env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [os.getcwd(), *sys.path])))
  done = subprocess.run(
    [sys.executable, str(HELPERS / "kill_while_saving.py"), str(tmp_path), "60", "7"],
    capture_output=True,
    text=True,
    env=env,
    timeout=120,
  )
  assert done.returncode == 0, done.stdout + done.stderr
  summary = json.loads(done.stdout.strip().splitlines()[-1])
  # Every kind of file was replaced by newer generations between kills, and checked whole.
  assert all(n >= 2 for n in summary["generations"].values()), summary
  # Interrupted writes leave only hidden temporaries, never a damaged visible file.
  assert all(name.startswith(".") and name.endswith(".tmp") for name in summary["leftovers"])
  assert checkpoint_io.remove_saved(tmp_path, "nothing-*") == len(summary["leftovers"])
  assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_failed_write_keeps_the_old_file_and_no_temporary(tmp_path):
  target = tmp_path / "table.csv"
  target.write_text("old")
  with pytest.raises(RuntimeError, match="boom"), checkpoint_io.atomic_write(target, "w") as f:
    f.write("half of the new")
    raise RuntimeError("boom")
  assert target.read_text() == "old"
  assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]
  with pytest.raises(ValueError, match="mode='a'"), checkpoint_io.atomic_write(target, "a"):
    pass


def test_save_and_csv_create_missing_folders(tmp_path):
  base = tmp_path / "results" / "deeper" / "my_sweep"
  npz, js = small_result(2.0).save(base)
  small_result().to_csv(tmp_path / "tables" / "my_sweep.csv")
  loaded = SweepResult.load(base)
  np.testing.assert_array_equal(loaded.curves["train_loss"], 2.0)
  assert pathlib.Path(npz).exists() and pathlib.Path(js).exists()
  assert len((tmp_path / "tables" / "my_sweep.csv").read_text().splitlines()) == 1 + 2 * 3
  # Written files get the usual permissions, not the private ones of a temporary file.
  assert os.stat(npz).st_mode & 0o777 == 0o666 & ~_umask()


def _umask():
  mask = os.umask(0)
  os.umask(mask)
  return mask


@pytest.mark.parametrize("blocker", ["file", "file/inside"])
def test_check_writable_names_the_argument(tmp_path, blocker):
  (tmp_path / "file").write_text("x")
  with pytest.raises(ValueError, match=r"--out=.*is a file, not a folder"):
    checkpoint_io.check_writable(tmp_path / blocker / "result.npz", "--out")
  with pytest.raises(ValueError, match=r"checkpoint=.*is a directory"):
    checkpoint_io.check_writable(tmp_path, "checkpoint")


# ----------------------------------------------------------------------------- damaged files


def _damage(path: pathlib.Path, how: str) -> None:
  raw = path.read_bytes()
  if how == "empty":
    path.write_bytes(b"")
  elif how == "truncated":
    path.write_bytes(raw[: len(raw) // 2])
  elif how == "264 bytes":
    path.write_bytes(raw[:264])
  elif how == "garbage":
    path.write_bytes(b"\x93NUMPY not really" * 10)
  elif how == "flipped":  # one bit pattern inverted inside the largest array's stored bytes
    with zipfile.ZipFile(path) as z:
      member = max(z.infolist(), key=lambda m: m.compress_size)
    offset = member.header_offset  # the local header: 30 bytes, then the name and extra field
    name_len, extra_len = struct.unpack("<HH", raw[offset + 26 : offset + 30])
    start = offset + 30 + name_len + extra_len
    middle = start + member.compress_size // 2
    path.write_bytes(raw[:middle] + bytes([raw[middle] ^ 0xFF]) + raw[middle + 1 :])
  elif how == "missing key":
    np.savez(path, something_else=np.zeros(2))
  elif how == "text":
    path.write_text("not an npz at all")


DAMAGE = ["empty", "truncated", "264 bytes", "garbage", "flipped", "missing key", "text"]
FIT_DAMAGE = ["empty", "truncated", "garbage", "missing item"]
# One kind of damage in the fast loop (pytest -m "not slow"), every kind in the full suite.
SLOW_DAMAGE = [d if d == "truncated" else pytest.param(d, marks=pytest.mark.slow) for d in DAMAGE]


@pytest.mark.parametrize("how", DAMAGE)
def test_damaged_result_file_is_named(tmp_path, how):
  npz, _ = small_result().save(tmp_path / "r")
  _damage(pathlib.Path(npz), how)
  with pytest.raises(ValueError, match=rf"{npz} is damaged.*save the result again"):
    SweepResult.load(tmp_path / "r")


@pytest.mark.parametrize("content", ["", "{", '{"variants": ["a"]}', "[1, 2]"])
def test_damaged_result_json_is_named(tmp_path, content):
  _, js = small_result().save(tmp_path / "r")
  pathlib.Path(js).write_text(content)
  with pytest.raises(ValueError, match=rf"{js} is damaged"):
    SweepResult.load(tmp_path / "r")


@pytest.fixture(scope="module")
def swept_pieces(tmp_path_factory):
  """A finished sweep's pieces, and the result a fresh run gives."""
  directory = tmp_path_factory.mktemp("pieces")
  result = hr.sweep(
    models.LinearRegression(),
    REGRESSION,
    ["rkl1", "sgd"],
    [0.1, 1.0],
    checkpoint=directory,
    **SMALL,
  )
  return directory, result


@pytest.mark.parametrize("how", SLOW_DAMAGE)
def test_damaged_piece_is_named_and_no_resume_cleans_it(swept_pieces, tmp_path, how):
  source, fresh = swept_pieces
  for piece in source.glob("piece-*.npz"):
    (tmp_path / piece.name).write_bytes(piece.read_bytes())
  victim = sorted(tmp_path.glob("piece-*.npz"))[1]
  _damage(victim, how)
  (tmp_path / "piece-0123456789abcdef-v0-s0-c0.npz").write_bytes(b"stale, from another sweep")
  args = (models.LinearRegression(), REGRESSION, ["rkl1", "sgd"], [0.1, 1.0])
  with pytest.raises(ValueError, match=rf"{victim} is damaged.*resume=False \(--no-resume\)"):
    hr.sweep(*args, checkpoint=tmp_path, **SMALL)
  again = hr.sweep(*args, checkpoint=tmp_path, resume=False, **SMALL)
  assert again.meta["reused_pieces"] == 0
  assert len(list(tmp_path.glob("piece-*.npz"))) == 4  # the stale one is gone too
  resumed = hr.sweep(*args, checkpoint=tmp_path, **SMALL)
  assert resumed.meta["reused_pieces"] == 4
  for metric, curve in fresh.curves.items():
    np.testing.assert_array_equal(resumed.curves[metric], curve, err_msg=metric)


def test_piece_copied_over_another_is_refused_naming_the_file(swept_pieces, tmp_path):
  """A valid piece under another piece's name (another lane, or another sweep's piece renamed
  to this sweep's fingerprint) is not resumed: its recorded run does not match the name."""
  source, fresh = swept_pieces
  args = (models.LinearRegression(), REGRESSION, ["rkl1", "sgd"], [0.1, 1.0])
  for piece in source.glob("piece-*.npz"):
    (tmp_path / piece.name).write_bytes(piece.read_bytes())
  (seed0,) = tmp_path.glob("piece-*-v0-s0-c0.npz")
  (seed1,) = tmp_path.glob("piece-*-v0-s1-c0.npz")
  seed0.write_bytes(seed1.read_bytes())  # another lane's piece under this lane's name
  with pytest.raises(ValueError) as caught:
    hr.sweep(*args, checkpoint=tmp_path, **SMALL)
  message = str(caught.value)
  assert message.startswith(f"{seed0} belongs to another run: it holds variant 'rkl1', seed 1")
  assert "but its name is that of variant 'rkl1', seed 0, chunk 0 of sweep" in message
  assert "resume=False (--no-resume)" in message

  other = tmp_path / "other"  # another sweep (other ILRs): its piece renamed to this sweep's
  hr.sweep(*args[:3], [0.2, 2.0], checkpoint=other, **SMALL)
  (foreign,) = other.glob("piece-*-v0-s0-c0.npz")
  seed0.write_bytes(foreign.read_bytes())
  with pytest.raises(ValueError, match=rf"{seed0} belongs to another run: .* of sweep"):
    hr.sweep(*args, checkpoint=tmp_path, **SMALL)
  seed0.unlink()  # the way out the message names: this piece is trained again
  resumed = hr.sweep(*args, checkpoint=tmp_path, **SMALL)
  assert resumed.meta["reused_pieces"] == 3
  for metric, curve in fresh.curves.items():
    np.testing.assert_array_equal(resumed.curves[metric], curve, err_msg=metric)


@pytest.mark.parametrize(
  "how", [d if d == "truncated" else pytest.param(d, marks=pytest.mark.slow) for d in FIT_DAMAGE]
)
def test_damaged_fit_checkpoint_is_named(tmp_path, how):
  trainer = Trainer(models.LinearRegression(), make_tx=hr.rkl1, loss="mse", batch_size=16)
  args = (0.1, jax.random.key(0), REGRESSION.x_train, REGRESSION.y_train)
  train.fit(trainer, *args, progress=False, checkpoint=tmp_path)
  (run,) = tmp_path.glob("fit-*")
  saved = run / "1"  # the Orbax step of epoch 1: items "state" and "history"
  if how == "missing item":
    shutil.rmtree(saved / "state")
  else:
    for path in (p for p in (saved / "state").rglob("*") if p.is_file()):
      _damage(path, how)
  with pytest.raises(ValueError, match=rf"{saved} is damaged.*resume=False"):
    train.fit(trainer, *args, progress=False, checkpoint=tmp_path)
  _, history = train.fit(trainer, *args, progress=False, checkpoint=tmp_path, resume=False)
  assert np.isfinite(history["train_loss"]).all()
  # The damaged step was replaced by a good one.
  _, again = train.fit(trainer, *args, progress=False, checkpoint=tmp_path)
  np.testing.assert_array_equal(again["train_loss"], history["train_loss"])


# ----------------------------------------------------------------------------- fingerprints


def scaled_sgd(lr, scale=1.0):
  return optax.sgd(lr * scale)


def test_description_of_a_callable_follows_its_behaviour():
  describe = checkpoint_io.describe_callable
  # Same code and captured values: same description, whatever the object's identity.
  assert describe(lambda lr: optax.sgd(lr)) == describe(lambda lr: optax.sgd(lr))
  assert describe(functools.partial(scaled_sgd, scale=2.0)) == describe(
    functools.partial(scaled_sgd, scale=2.0)
  )
  different = [
    lambda lr: optax.sgd(lr),
    lambda lr: optax.sgd(2 * lr),  # code
    functools.partial(scaled_sgd, scale=2.0),  # a partial's keywords
    functools.partial(scaled_sgd, scale=3.0),
    functools.partial(scaled_sgd, 0.1),  # a partial's arguments
    _closure(0.5),  # a closure's values
    _closure(0.25),
    _closure(np.float32(0.25)),
    _defaults(),
    _defaults(momentum=0.8),  # default arguments
    hr.kl2,
    hr.rkl2,
    jax.jit(_closure(0.5)),  # a jitted function: the function it wraps
    jax.jit(_closure(0.25)),
  ]
  descriptions = [json.dumps(describe(f), sort_keys=True) for f in different]
  assert len(set(descriptions)) == len(different)


def _closure(scale):
  return lambda lr: optax.sgd(lr * scale)


def _defaults(momentum=0.9):
  def make(lr, momentum=momentum):
    return optax.sgd(lr, momentum=momentum)

  return make


class _Opaque:
  pass


@pytest.mark.slow
def test_callable_that_cannot_be_described_refuses_to_checkpoint(tmp_path):
  opaque = _Opaque()
  make_tx = lambda lr: optax.sgd(lr) if opaque else None
  with pytest.raises(ValueError, match="memory address.*checkpoint=None"):
    checkpoint_io.describe_callable(make_tx)
  with pytest.raises(ValueError, match="memory address"):
    hr.sweep(models.LinearRegression(), REGRESSION, {"x": make_tx}, [0.1], checkpoint=tmp_path)
  result = hr.sweep(models.LinearRegression(), REGRESSION, {"x": make_tx}, [0.1], **SMALL)
  assert result.final("train_loss").shape == (1, 1, 2)


def test_fingerprint_follows_the_code_version(monkeypatch):
  before = checkpoint_io.fingerprint({"a": 1})
  assert checkpoint_io.code_version()["hyperreg_jax"].startswith(hr.__version__ + "+")
  monkeypatch.setattr(checkpoint_io, "code_version", lambda: {"hyperreg_jax": "0.2.0"})
  assert checkpoint_io.fingerprint({"a": 1}) != before


@pytest.mark.slow
def test_changed_callable_variant_under_the_same_label_is_not_reused(tmp_path):
  args = (models.LinearRegression(), REGRESSION)
  first = hr.sweep(
    *args, {"mine": functools.partial(scaled_sgd, scale=1.0)}, [0.1], checkpoint=tmp_path, **SMALL
  )
  assert first.meta["reused_pieces"] == 0
  same = hr.sweep(
    *args, {"mine": functools.partial(scaled_sgd, scale=1.0)}, [0.1], checkpoint=tmp_path, **SMALL
  )
  assert same.meta["reused_pieces"] == 2
  changed = hr.sweep(
    *args, {"mine": functools.partial(scaled_sgd, scale=0.1)}, [0.1], checkpoint=tmp_path, **SMALL
  )
  assert changed.meta["reused_pieces"] == 0
  assert not np.allclose(changed.final("train_loss"), first.final("train_loss"))


@pytest.mark.slow
def test_description_is_the_same_in_another_process():
  code = (
    "import json, optax\n"
    "from hyperreg_jax import checkpoint\n"
    "names = {'alpha', 'beta', 'gamma', 'delta'}\n"
    "def make(lr, kind='sgd'):\n"
    "  return optax.sgd(lr) if kind in {'sgd', 'plain', 'vanilla', 'basic'} else names\n"
    "print(json.dumps(checkpoint.describe_callable(make), sort_keys=True))\n"
  )
  env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [os.getcwd(), *sys.path])))
  outputs = {
    subprocess.run(
      [sys.executable, "-c", code],
      capture_output=True,
      text=True,
      env={**env, "PYTHONHASHSEED": str(seed)},
      check=True,
    ).stdout
    for seed in (1, 2, 3)
  }
  assert len(outputs) == 1, outputs


def test_the_code_digest_ignores_docstrings_comments_and_layout_but_not_code():
  source = 'def f(x):\n  """Doubles."""\n  return 2 * x  # twice\n'
  same = 'def f(x):\n    """Twice x, reworded."""\n\n    return 2*x\n'
  other = 'def f(x):\n  """Doubles."""\n  return 3 * x\n'
  only_doc = 'def f(x):\n  """Doubles."""\n'
  assert checkpoint_io.code_digest(source) == checkpoint_io.code_digest(same)
  assert checkpoint_io.code_digest(source) != checkpoint_io.code_digest(other)
  assert checkpoint_io.code_digest(only_doc) != checkpoint_io.code_digest(source)
  module = '"""A module."""\nX = 1\n'
  assert checkpoint_io.code_digest(module) == checkpoint_io.code_digest("X = 1\n")
