"""The reproduction command: end to end at a tiny scale, resuming, and its CLI errors."""

from __future__ import annotations

import dataclasses
import filecmp
import json
import os
import pathlib
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest

from experiments import common, files, report, reproduce, study_setting, vgg_cifar
from experiments.ilr_sensitivity import robustness
from hyperreg_jax import robustness_width as width

ROOT = pathlib.Path(__file__).resolve().parents[1]
TINY = ["--epochs", "1", "--ilrs", "0.1", "10", "--variants", "rkl2", "sgd", "--seeds", "0"]
#: Every experiment but mechanisms, which tests/test_mechanisms.py runs end to end itself.
TINY_ONLY = [name for name in reproduce.EXPERIMENTS if name != "mechanisms"]
#: Files holding measured times: they differ from run to run by nature.
TIMED = {"timing.json", "timing.csv", "REPORT.md", "findings.json"}


def run_command(out, *extra, check=True):
  env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
  proc = subprocess.run(
    [sys.executable, "-m", "experiments", "--out", str(out), "--no-progress", *extra],
    cwd=ROOT,
    env=env,
    capture_output=True,
    text=True,
    timeout=900,
  )
  if check and proc.returncode != 0:
    raise AssertionError(proc.stderr[-3000:])
  return proc


def saved_files(out: pathlib.Path) -> list[str]:
  return sorted(
    p.relative_to(out).as_posix()
    for p in out.rglob("*")
    if p.is_file() and "pieces" not in p.parts and "checkpoints" not in p.parts
  )


def tree_mtimes(folder: pathlib.Path) -> dict[str, int]:
  """Every file under ``folder`` with its modification time."""
  return {
    p.relative_to(folder).as_posix(): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()
  }


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
  out = tmp_path_factory.mktemp("tiny") / "run"
  run_command(out, *TINY, "--only", *TINY_ONLY)
  return out


@pytest.mark.slow
def test_tiny_run_writes_every_figure_data_file_and_the_report(tiny_run):
  written = saved_files(tiny_run)
  for name in TINY_ONLY:
    assert f"{name}/settings.json" in written
    assert f"{name}/timing.json" in written
    assert any(f.startswith(name) and f.endswith(".csv") for f in written), name
    assert any(f.startswith(name) and f.endswith(".png") for f in written), name
  assert "config.json" in written and "REPORT.md" in written
  report = (tiny_run / "REPORT.md").read_text()
  for png in [f for f in written if f.endswith(".png")]:
    assert f"]({png})" in report, png  # every figure is in the report, with its caption
  for heading in ("## 1.", "## 2.", "## 3.", "## 4.", "## 6.", "## Claims"):
    assert heading in report
  assert (
    "## 5. VGG-16-BN on CIFAR-10: SGD vs RKL2, H2, X2_2, KL2\n\n**SYNTHETIC smoke run.**" in report
  )
  assert report.count("not tested here") >= 2  # the CIFAR claims, honestly
  assert "Not run here, so their claims are not in this table: mechanisms" in report
  vgg = files.read_csv(tiny_run / "vgg_cifar" / "curves.csv")
  assert [(r["variant"], r["epoch"]) for r in vgg] == [("sgd", 1), ("rkl2", 1)]
  assert all(np.isfinite(r["train_loss"]) and not r["diverged"] for r in vgg)
  assert vgg[0]["test_loss"] != vgg[1]["test_loss"]  # the rule took other steps than SGD
  assert "study section 4.2: per-iteration cost" in report and "MNIST loss after 40" in report
  assert "SPEC" not in report
  runs = files.read_csv(tiny_run / "ilr_sensitivity" / "runs.csv")
  assert {r["variant"] for r in runs} == {"rkl2", "rkl2_noclip", "sgd"}
  assert {r["ilr"] for r in runs} == {0.1, 10.0}
  assert not list(tiny_run.rglob(".*.tmp"))  # no temporary file left behind
  # The report is rebuilt from the saved results alone, identically.
  assert reproduce.report.write_report(tiny_run).read_text() == report
  findings = json.loads((tiny_run / "findings.json").read_text())
  assert {f["key"] for f in findings["findings"]} >= {
    "ilr_sensitivity/rkl2/best_test_accuracy",
    "convergence/gd/steps_to_target",
    "convergence/step_size_vs_gd@0.01",
    "linear_regression/gd/iterations_to_tolerance",
    "study_setting/within_spread/code",
  }
  assert set(findings["settings"]) == set(TINY_ONLY)


@pytest.mark.slow
def test_interrupted_run_finishes_only_what_is_missing_with_identical_files(tiny_run, tmp_path):
  again = tmp_path / "run"
  shutil.copytree(tiny_run, again)
  # As if killed during the third experiment: its results, part of the second's and the
  # report are gone, and a half-written temporary file is left over.
  shutil.rmtree(again / "convergence")
  for name in ("final.csv", "study_grid.png"):
    (again / "study_setting" / name).unlink()
  (again / "REPORT.md").unlink()
  (again / "ilr_sensitivity" / ".runs.csv.tmp").write_text("half a fi")
  before = (again / "ilr_sensitivity" / "runs.csv").stat().st_mtime_ns
  # VGG: killed while training its second optimizer, whose checkpoint is gone.
  (again / "vgg_cifar" / "curves.csv").unlink()
  vgg_checkpoints = again / "vgg_cifar" / "checkpoints"
  sgd_before = tree_mtimes(vgg_checkpoints / "sgd")
  assert sgd_before  # an Orbax checkpoint: one folder per saved epoch
  shutil.rmtree(vgg_checkpoints / "rkl2")
  proc = run_command(again, *TINY, "--only", *TINY_ONLY)
  assert (again / "ilr_sensitivity" / "runs.csv").stat().st_mtime_ns == before  # not retrained
  assert f"reusing {again / 'ilr_sensitivity' / 'runs.csv'}" in proc.stdout  # and says so
  assert "reusing" not in proc.stdout.split("== convergence")[1].split("==")[0]  # retrained
  assert tree_mtimes(vgg_checkpoints / "sgd") == sgd_before  # finished: resumed, not retrained
  assert tree_mtimes(vgg_checkpoints / "rkl2")  # retrained and checkpointed again
  assert saved_files(tiny_run) == [f for f in saved_files(again) if not f.endswith(".tmp")]
  for f in saved_files(tiny_run):
    if f == "config.json":  # names its own folder
      old, new = (json.loads((d / f).read_text()) for d in (tiny_run, again))
      assert old["command"].pop("out") != new["command"].pop("out") and old == new
    elif f == "findings.json":  # the same findings; only the wall times differ
      old, new = (json.loads((d / f).read_text()) for d in (tiny_run, again))
      assert old.pop("timing").keys() == new.pop("timing").keys() and old == new
    elif pathlib.Path(f).name not in TIMED:
      assert filecmp.cmp(tiny_run / f, again / f, shallow=False), f
  # The report differs only where it quotes measured times or its folder.
  old, new = ((d / "REPORT.md").read_text().splitlines() for d in (tiny_run, again))
  assert len(old) == len(new)
  timed = (
    "Generated by",
    "* **Wall time",
    "| gd",
    "| sgd",
    "Overheads",
    "| study section 4.2: per",
  )
  assert all(a.startswith(timed) for a, b in zip(old, new) if a != b)


@pytest.mark.parametrize(
  "argv, message",
  [
    (["--only", "nope"], "unknown experiment 'nope'"),
    (["--epochs", "-3"], "--epochs must be an integer >= 1, got -3"),
    (["--data-dir", "/no/such/folder"], "--data-dir '/no/such/folder' is not an existing folder"),
    (["--variants", "rkl9"], "unknown variant 'rkl9'"),
    (["--ilrs", "0", "1"], "--ilrs must be finite numbers > 0"),
  ],
)
def test_bad_arguments_exit_non_zero_with_one_line(argv, message, capsys, tmp_path):
  with pytest.raises(SystemExit) as exit_info:
    reproduce.main(["--out", str(tmp_path / "x"), *argv])
  assert exit_info.value.code != 0
  err = capsys.readouterr().err
  assert err.count("\n") == 1 and message in err and err.startswith("python -m experiments")
  assert not (tmp_path / "x").exists()


def test_bad_arguments_from_the_shell(tmp_path):
  proc = run_command(tmp_path / "x", "--epochs", "-1", check=False)
  assert proc.returncode == 2
  assert proc.stderr.strip().count("\n") == 0 and "--epochs" in proc.stderr


def test_default_runs_every_experiment_vgg_as_a_synthetic_smoke_run():
  cfg, only = reproduce.config_from_args(reproduce.parse_args([]))
  assert only == list(reproduce.EXPERIMENTS) and "vgg_cifar" in only
  assert cfg.out.as_posix() == f"results/local/embedded-{jax.default_backend()}"
  assert not cfg.full and vgg_cifar.settings(cfg) == vgg_cifar.EMBEDDED
  assert vgg_cifar.EMBEDDED.synthetic_images == 32
  _, only = reproduce.config_from_args(reproduce.parse_args(["--only", "vgg_cifar"]))
  assert only == ["vgg_cifar"]


# ----------------------------------------------------------------------------- pieces


def test_robustness_width_is_the_stretch_around_the_best():
  ilrs = [1e-3, 1e-2, 1e-1, 1.0, 10.0]
  assert width(ilrs, [0.5, 0.95, 0.96, 0.955, 0.2], 1) == (2.0, 1e-2, 1.0)
  # a good ILR that is not connected to the best one does not count
  assert width(ilrs, [0.96, 0.5, 0.97, 0.5, 0.965], 1) == (0.0, 1e-1, 1e-1)
  final = [
    dict(group="clipped", variant="v", ilr=x, seed=0, epoch=1, diverged=d, test_accuracy=a)
    for x, d, a in zip(ilrs, [False, False, False, True, False], [0.85, 0.95, 0.5, 0.9, 0.15])
  ]
  (row,) = robustness(final)
  assert row["best_ilr"] == 1e-2 and row["width_5pt_decades"] == 0.0
  assert row["diverged_at_ilrs"] == "1" and row["chance_at_ilrs"] == "10"


def test_csv_round_trip_and_atomic_write(tmp_path):
  rows = [{"a": 1, "b": 0.5, "c": True, "d": float("nan"), "e": "x y"}]
  path = files.write_csv(tmp_path / "sub" / "t.csv", rows)
  back = files.read_csv(path)
  assert back[0]["a"] == 1 and back[0]["b"] == 0.5 and back[0]["c"] is True
  assert np.isnan(back[0]["d"]) and back[0]["e"] == "x y"
  assert [p.name for p in path.parent.iterdir()] == ["t.csv"]


def test_saved_results_are_reused_only_for_their_settings(tmp_path):
  data = {"label": "MNIST (embedded subset, 4000 train / 1000 test)", "num_train": 4000}
  s = study_setting.EMBEDDED
  results = common.Results(tmp_path / "exp", s, data)
  rows = [{"a": 1}]
  calls = []
  assert results.cached_csv("t.csv", lambda: calls.append(1) or rows) == rows
  again = common.Results(tmp_path / "exp", s, data)
  assert again.cached_csv("t.csv", lambda: calls.append(1) or rows) == rows
  assert calls == [1]  # the same settings: the saved rows are used, nothing is recomputed
  other = dataclasses.replace(s, epochs=1, seeds=(5,))
  with pytest.raises(ValueError, match=r"epochs: saved 3, now 1; seeds: saved \[0, 1\], now \[5\]"):
    common.Results(tmp_path / "exp", other, data)
  with pytest.raises(ValueError, match=r"num_train"):
    common.Results(tmp_path / "exp", s, dict(data, num_train=60000))
  (tmp_path / "old").mkdir()
  files.write_csv(tmp_path / "old" / "runs.csv", rows)  # results without their settings
  with pytest.raises(ValueError, match="without a record of their settings"):
    common.Results(tmp_path / "old", s, data)


@pytest.mark.slow
def test_vgg_augmentation_crops_and_flips_each_image():
  x = np.arange(2 * 32 * 32 * 3, dtype=np.float32).reshape(2, 32, 32, 3) + 1
  out = np.asarray(vgg_cifar.augment(jax.random.key(3), x))
  assert out.shape == x.shape
  for img, src in zip(out, x):
    inner = img[img.sum(-1) > 0]  # the part of the crop that is not padding
    assert set(inner.ravel()) <= set(src.ravel())
    assert inner.shape[0] >= 28 * 28  # a shift of at most 4 pixels each way
  many = np.asarray(vgg_cifar.augment(jax.random.key(0), np.repeat(x[:1], 64, 0)))
  assert len({m.tobytes() for m in many}) > 10  # random per image


# ----------------------------------------------------------------------------- provenance


@pytest.mark.slow
def test_a_run_of_other_settings_stops_before_training_and_names_them(tiny_run, tmp_path):
  again = tmp_path / "run"
  shutil.copytree(tiny_run, again)
  before = tree_mtimes(again)
  proc = run_command(again, "--only", "convergence", "--epochs", "2", "--seeds", "5", check=False)
  assert proc.returncode == 2
  assert "convergence holds results of other settings (epochs: saved 1, now 2; " in proc.stderr
  assert "; seeds: saved [0], now [5]" in proc.stderr
  assert "; rules: saved ['rkl2'], now ['kl1', " in proc.stderr  # --variants filtered
  assert tree_mtimes(again) == before  # nothing written, nothing trained


@pytest.mark.slow
def test_the_report_says_when_the_warm_up_covers_the_run(tiny_run):
  text = (tiny_run / "REPORT.md").read_text()
  assert "warm-up only = GD here" in text  # 31 steps: at ILR > 0.1 the rules took GD's steps
  assert "**With 31 batches per epoch the study's counter never reaches 50**" in text


@pytest.mark.slow
def test_the_header_names_only_what_ran(tiny_run, tmp_path):
  only = tmp_path / "only"
  shutil.copytree(tiny_run / "linear_regression", only / "linear_regression")
  shutil.copy(tiny_run / "config.json", only / "config.json")
  text = report.write_report(only).read_text()
  header = text.split("## Claims")[0]
  assert "linear_regression: linear_regression (synthetic" in header and "MNIST" not in header
  assert (
    "## 1. ILR sensitivity: all rules, with and without growth clipping\n\nNot run here." in text
  )


@pytest.mark.slow
def test_the_report_sets_the_run_beside_its_reference(tiny_run, tmp_path):
  run, ref = tmp_path / "run", tmp_path / "ref"
  for folder in (run, ref):
    shutil.copytree(tiny_run, folder)
  findings = json.loads((ref / "findings.json").read_text())
  by_key = {f["key"]: f for f in findings["findings"]}
  by_key["linear_regression/gd/iterations_to_tolerance"]["value"] += 1
  by_key["convergence/gd/final_test_accuracy"]["spread"] = 0.5
  by_key["convergence/gd/final_test_accuracy"]["value"] += 0.25
  findings["settings"]["vgg_cifar"]["settings"]["epochs"] = 2
  (ref / "findings.json").write_text(json.dumps(findings))
  section = report.write_report(run, ref).read_text().split("## This run beside the reference")[1]
  n = sum(k.split("/")[0] != "vgg_cifar" for k in by_key)
  assert f"{n - 2} identical, 1 within the seed spread, 1 outside the seed spread" in section
  assert "| gd: iterations to 0.001 (-1: not reached) (linear_regression) |" in section
  row = next(line for line in section.splitlines() if "iterations to 0.001 (-1" in line)
  assert row.endswith("| -1 | outside the seed spread |")
  row = next(line for line in section.splitlines() if "gd: final test accuracy" in line)
  assert row.endswith("| within the seed spread |")
  assert (
    "vgg_cifar: not compared, the reference ran other settings (epochs: reference 2, "
    "this run 1)" in section
  )


@pytest.mark.parametrize("exp", report.EXPERIMENTS, ids=lambda e: e.NAME)
def test_every_experiment_has_the_protocol_shape(exp):
  import inspect

  from experiments.protocol import Experiment

  assert isinstance(exp, Experiment), exp.__name__
  assert dataclasses.is_dataclass(exp.Settings) and exp.Settings.__dataclass_params__.frozen
  assert isinstance(exp.EMBEDDED, exp.Settings) and isinstance(exp.FULL, exp.Settings)
  assert callable(exp.EMBEDDED.summary) and isinstance(exp.FULL.summary(), str)
  for name, params in (("settings", ["cfg"]), ("run", ["cfg", "s"])):
    assert list(inspect.signature(getattr(exp, name)).parameters) == params, name
  assert list(inspect.signature(exp.section).parameters) == ["folder", "s", "data"]
  assert all(len(v) == 2 and all(isinstance(x, str) for x in v) for v in exp.CLAIMS.values())
  assert exp.settings(common.Config(out=pathlib.Path("x"))) == exp.EMBEDDED
