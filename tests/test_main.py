"""The main command, end to end on a small slice of the embedded MNIST."""

import json

import numpy as np

from hyperreg_jax import __main__ as main_command
from hyperreg_jax.sweep import SweepResult


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
  assert "final training loss" in printed and "final test accuracy" in printed
  assert "sgd at ILR 1e+30, seed 0: non-finite at step" in printed
  for suffix in (".npz", ".json", ".csv", ".png"):
    assert (tmp_path / ("sweep" + suffix)).stat().st_size > 0
  result = SweepResult.load(out)
  assert result.variants == ["rkl1", "sgd"] and result.diverged[1, 1, 0]
  assert np.isfinite(result.final("train_loss")[:, 0]).all()
  assert json.loads((tmp_path / "sweep.json").read_text())["meta"]["num_train"] == 512
