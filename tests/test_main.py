"""The main command, end to end on a small slice of the embedded MNIST."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from hyperreg_jax import SweepResult
from hyperreg_jax import __main__ as main_command


@pytest.mark.slow
def test_main_command_sweeps_reports_and_saves(tmp_path, capsys):
  out = tmp_path / "sweep"
  main_command.main(
    [
      "--variants",
      "rkl1",
      "sgd",
      "--ilrs",
      "0.5",
      "1e30",
      "--epochs",
      "1",
      "--num-train",
      "512",
      "--out",
      str(out),
    ]
  )
  printed = capsys.readouterr().out
  assert "final train_loss, mean over seeds" in printed and "final test_accuracy" in printed
  assert "sgd at ILR 1e+30, seed 0: diverged (non-finite at step" in printed
  assert "columns: init_lr" in printed
  for suffix in (".npz", ".json", ".csv", ".png"):
    assert (tmp_path / ("sweep" + suffix)).stat().st_size > 0
  result = SweepResult.load(out)
  assert result.variants == ["rkl1", "sgd"] and result.diverged[1, 1, 0]
  assert np.isfinite(result.final("train_loss")[:, 0]).all()
  assert json.loads((tmp_path / "sweep.json").read_text())["meta"]["num_train"] == 512


# ----------------------------------------------------------------------------- arguments


def test_help_has_a_line_and_a_default_for_every_option(capsys):
  parser = main_command.build_parser()
  options = [a for a in parser._actions if a.dest != "help"]
  assert {a.dest for a in options} >= {"variants", "ilrs", "seeds", "epochs", "num_train", "out"}
  with pytest.raises(SystemExit) as done:
    main_command.parse_args(["--help"])
  assert done.value.code == 0
  text = " ".join(capsys.readouterr().out.split())
  for action in options:
    assert action.help, action.dest
    assert " ".join(action.help.split()) in text
  assert text.count("(default: ") == len(options)


BAD_ARGV = [
  (["--num-train", "-5"], "--num-train: -5 must be an integer >= 1"),
  (["--num-train", "0"], "--num-train: 0 must be an integer >= 1"),
  (["--num-train", "1.5"], "--num-train: '1.5' is not an integer"),
  (["--num-train", "many"], "--num-train: 'many' is not an integer"),
  (["--epochs", "0"], "--epochs: 0 must be"),
  (["--epochs", "-2"], "--epochs: -2 must be"),
  (["--batch-size", "0"], "--batch-size: 0 must be"),
  # The message of train.fit, train.run and hr.sweep (tests/test_one_validation_path.py).
  (["--ilrs", "0"], "--ilrs: init_lr must be a finite number > 0, got 0.0."),
  (["--ilrs", "0.1", "-1"], "--ilrs: init_lr must be a finite number > 0, got -1.0."),
  (["--ilrs", "nan"], "--ilrs: init_lr must be a finite number > 0, got nan."),
  (["--ilrs", "inf"], "--ilrs: init_lr must be a finite number > 0, got inf."),
  (["--ilrs", "big"], "--ilrs: 'big' is not a number"),
  (["--seeds", "-1"], "--seeds: -1 must be an integer in [0, 2**32)"),
  (["--seeds", "4294967296"], "--seeds: 4294967296 must be an integer in [0, 2**32)"),
  (["--seeds", "0.5"], "--seeds: '0.5' is not an integer"),
  (["--variants", "adam"], "--variants: invalid choice: 'adam'"),
]


@pytest.mark.parametrize("argv, message", BAD_ARGV, ids=[" ".join(a) for a, _ in BAD_ARGV])
def test_bad_arguments_end_with_one_line_naming_the_option(argv, message, capsys):
  with pytest.raises(SystemExit) as done:
    main_command.parse_args(argv)
  assert done.value.code == 2
  err = capsys.readouterr().err
  assert f"python -m hyperreg_jax: error: argument {message}" in err, err


@pytest.mark.parametrize("where", ["file/out", "file/deeper/out", "folder", "folder/"])
def test_unwritable_out_is_refused_before_training(where, tmp_path, capsys):
  (tmp_path / "file").write_text("a regular file")
  (tmp_path / "folder").mkdir()
  with pytest.raises(SystemExit) as done:
    main_command.main(["--out", str(tmp_path / where) + ("/" if where.endswith("/") else "")])
  assert done.value.code == 2
  captured = capsys.readouterr()
  assert "argument --out:" in captured.err and "MNIST" not in captured.out
  assert ("is a file, not a folder" in captured.err) == where.startswith("file")


def _run_main(argv, **kwargs):
  env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [os.getcwd(), *sys.path])))
  # Ctrl-C as in a terminal: a child inherits "SIGINT ignored" from a parent that ignores it
  # (pytest-xdist's workers do), and Python then never raises KeyboardInterrupt.
  code = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from hyperreg_jax.__main__ import main; main(sys.argv[1:])"
  )
  return subprocess.Popen(
    [sys.executable, "-c", code, *argv],
    stdout=subprocess.PIPE,
    stderr=subprocess.PIPE,
    text=True,
    env=env,
    **kwargs,
  )


@pytest.mark.slow
def test_without_flax_the_command_names_the_extra(tmp_path):
  env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [os.getcwd(), *sys.path])))
  code = (
    "import sys; sys.modules['flax'] = None\n"  # as if only the core were installed
    "from hyperreg_jax.__main__ import main; main(['--out', sys.argv[1]])"
  )
  done = subprocess.run(
    [sys.executable, "-c", code, str(tmp_path / "out")],
    capture_output=True,
    text=True,
    env=env,
    timeout=120,
  )
  assert done.returncode == 1
  assert "pip install 'hyperreg_jax[experiments]'" in done.stderr
  assert "Traceback" not in done.stderr and "ModuleNotFoundError" not in done.stderr


@pytest.mark.slow
def test_ctrl_c_damage_and_resume(tmp_path):
  out = tmp_path / "sweep"
  pieces = tmp_path / "sweep_pieces"
  # Three variants: after the first piece, two more compilations (seconds) leave the
  # interrupt ample time to land before the sweep ends, even on a busy machine.
  argv = ["--variants", "rkl1", "sgd", "kl1", "--seeds", "0", "1", "2", "3"]
  argv += ["--ilrs", "0.1", "1"]
  argv += ["--epochs", "1", "--num-train", "256", "--out", str(out)]
  run = _run_main(argv)
  deadline = time.monotonic() + 240
  while not list(pieces.glob("piece-*.npz")) and time.monotonic() < deadline:
    time.sleep(0.02)
  run.send_signal(signal.SIGINT)
  stdout, stderr = run.communicate(timeout=120)
  assert run.returncode == 130, stderr
  saved = len(list(pieces.glob("piece-*.npz")))
  assert 1 <= saved < 12
  assert f"interrupted: {saved} finished pieces are saved in {pieces}/" in stdout
  assert "run the same command again to resume" in stdout
  assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
  assert not out.with_suffix(".npz").exists()
  # A damaged piece: one line naming it and the way out.
  victim = sorted(pieces.glob("piece-*.npz"))[0]
  victim.write_bytes(victim.read_bytes()[:100])
  stdout, stderr = _run_main(argv).communicate(timeout=300)
  assert f"error: {victim} is damaged" in stderr and "--no-resume" in stderr
  assert "Traceback" not in stderr
  # --no-resume deletes every piece and trains all; the next run reuses all of them.
  stdout, _ = _run_main([*argv, "--no-resume"]).communicate(timeout=300)
  assert "resumed" not in stdout and "saved: " in stdout
  stdout, _ = _run_main(argv).communicate(timeout=300)
  assert f"resumed: reused 12 of 12 pieces saved in {pieces}/" in stdout
