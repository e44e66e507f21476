"""Provenance without training: where a run writes, and saved results of other settings."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from test_experiments import ROOT, tree_mtimes

from experiments import reproduce


def test_the_default_run_writes_where_git_ignores_and_the_reference_is_tracked():
  cfg, _ = reproduce.config_from_args(reproduce.parse_args([]))
  ignored = subprocess.run(["git", "check-ignore", "-q", str(cfg.out / "REPORT.md")], cwd=ROOT)
  assert ignored.returncode == 0
  tracked = subprocess.run(
    ["git", "check-ignore", "-q", "results/embedded-cpu/REPORT.md"], cwd=ROOT
  )
  assert tracked.returncode == 1
  assert reproduce.REFERENCE[False] == ROOT / "results" / "embedded-cpu"
  assert (
    reproduce.REFERENCE[True] == ROOT / "results" / "full-mnist-cpu"
  )  # what --full compares with


def test_the_reference_runs_convergence_is_not_reused_for_other_settings(tmp_path, capsys):
  """The case that once passed silently: 1 epoch and seed 5 over the 5-epoch, 2-seed run."""
  shutil.copytree(ROOT / "results" / "embedded-cpu" / "convergence", tmp_path / "convergence")
  before = tree_mtimes(tmp_path)
  with pytest.raises(SystemExit) as exit_info:
    reproduce.main(
      [
        "--out",
        str(tmp_path),
        "--only",
        "convergence",
        "--epochs",
        "1",
        "--seeds",
        "5",
        "--no-progress",
      ]
    )
  assert exit_info.value.code == 2
  err = capsys.readouterr().err
  assert (
    "convergence holds results of other settings (epochs: saved 5, now 1; seeds: saved "
    "[0, 1], now [5])" in err
  )
  assert tree_mtimes(tmp_path) == before


@pytest.mark.parametrize(
  "only, names",
  [
    (["convergence", "linear_regression"], "full MNIST is not in"),
    (["vgg_cifar"], "cifar10 is not prepared for tfds"),
  ],
)
def test_full_without_its_data_stops_before_anything_is_written(
  only, names, tmp_path, monkeypatch, capsys
):
  """Nothing is downloaded at run time: a missing data set ends ``--full`` at once."""
  empty = tmp_path / "no-data"
  empty.mkdir()
  monkeypatch.setenv("HYPERREG_JAX_DATA", str(empty))
  monkeypatch.setenv("TFDS_DATA_DIR", str(empty))
  out = tmp_path / "run"
  with pytest.raises(SystemExit) as exit_info:
    reproduce.main(["--full", "--out", str(out), "--only", *only, "--no-progress"])
  assert exit_info.value.code == 2
  err = capsys.readouterr().err
  assert f"error: {only[0]} at --full needs data that is not here: {names}" in err
  assert f"Or leave {only[0]} out: --only" in err
  assert "--data-dir FOLDER" in err
  assert not out.exists()


def test_a_rule_is_faster_than_gd_only_when_it_is_in_every_seed():
  """Steps to the target per seed (-1: not reached): the rule's slowest seed before GD's fastest."""
  from experiments.convergence import _faster_than_gd

  def rows(**runs):
    return [
      {"variant": v, "seed": s, "steps_to_97pct": x}
      for v, xs in runs.items()
      for s, x in enumerate(xs)
    ]

  steps = rows(gd=[3276, 3276], both=[2808, 2808], one=[3276, 2808], late=[3744, -1])
  assert _faster_than_gd(steps, "steps_to_97pct") == (["both"], ["one"])
  # GD never reaching the target: a rule that reaches it in every seed is faster.
  steps = rows(gd=[-1, -1], rule=[468, 936], half=[468, -1])
  assert _faster_than_gd(steps, "steps_to_97pct") == (["rule"], ["half"])


def test_report_of_a_mistyped_folder_fails_and_creates_nothing(tmp_path):
  import sys

  missing = tmp_path / "reslts"
  done = subprocess.run(
    [sys.executable, "-m", "experiments.report", str(missing)],
    cwd=ROOT,
    capture_output=True,
    text=True,
    timeout=120,
  )
  assert done.returncode == 2
  assert "holds no run (no config.json)" in done.stderr
  assert not missing.exists()


@pytest.mark.slow
def test_ctrl_c_prints_one_line_and_the_way_to_resume(tmp_path):
  import os
  import signal
  import sys
  import time

  out = tmp_path / "run"
  env = dict(os.environ, PYTHONPATH=str(ROOT))
  code = (  # Ctrl-C as in a terminal (a pytest-xdist worker ignores SIGINT, and so would we)
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from experiments.reproduce import main; main(sys.argv[1:])"
  )
  argv = ["--only", "convergence", "--epochs", "1", "--no-progress", "--out", str(out)]
  run = subprocess.Popen(
    [sys.executable, "-c", code, *argv],
    cwd=ROOT,
    env=env,
    stdout=subprocess.PIPE,
    stderr=subprocess.PIPE,
    text=True,
  )
  deadline = time.monotonic() + 240
  while not (out / "convergence" / "settings.json").exists() and time.monotonic() < deadline:
    time.sleep(0.05)
  run.send_signal(signal.SIGINT)
  stdout, stderr = run.communicate(timeout=120)
  assert run.returncode == 130, stderr
  assert "an interrupted run resumes where it stopped" in stdout.splitlines()[0]
  assert f"interrupted: the finished results are saved in {out}" in stdout
  assert "run the same command again to resume" in stdout
  assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr


def test_report_says_which_results_an_older_version_saved_and_reports_the_rest(tmp_path):
  """Results whose settings record fields this version lacks (or lacks fields it needs) are
  named with those fields and left out, not a TypeError that stops the whole report."""
  import json

  from experiments import report

  shutil.copy(ROOT / "results" / "embedded-cpu" / "config.json", tmp_path / "config.json")
  for name in ("convergence", "linear_regression"):
    shutil.copytree(ROOT / "results" / "embedded-cpu" / name, tmp_path / name)
  record = json.loads((tmp_path / "convergence" / "settings.json").read_text())
  record["settings"]["study_init"] = ["gd"]
  del record["settings"]["epochs"]
  (tmp_path / "convergence" / "settings.json").write_text(json.dumps(record))
  report.write_report(tmp_path, reference=tmp_path)
  text = (tmp_path / "REPORT.md").read_text()
  assert (
    f"Not reported: `{tmp_path / 'convergence'}` holds settings saved by another version of "
    "this experiment (fields it no longer has: study_init; fields missing: epochs). Delete "
    "that folder and run `python -m experiments --only convergence` to train it again."
  ) in text
  keys = [f["key"] for f in json.loads((tmp_path / "findings.json").read_text())["findings"]]
  assert not any(k.startswith("convergence/") for k in keys)
  assert any(k.startswith("linear_regression/") for k in keys)  # the rest is reported
