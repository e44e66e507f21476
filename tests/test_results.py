"""SweepResult: save and load, the tidy table and CSV, the text summary, the sensitivity plot;
which runs failed."""

import numpy as np
import pytest

import hyperreg_jax as hr
from hyperreg_jax import SweepResult


def test_save_load_and_tidy_table(regression_sweep, tmp_path):
  npz, js = regression_sweep.save(tmp_path / "sweep")
  loaded = SweepResult.load(tmp_path / "sweep.npz")
  assert loaded.variants == regression_sweep.variants and loaded.meta == regression_sweep.meta
  np.testing.assert_array_equal(loaded.ilrs, regression_sweep.ilrs)
  np.testing.assert_array_equal(loaded.diverged_at, regression_sweep.diverged_at)
  for metric, curve in regression_sweep.curves.items():
    np.testing.assert_array_equal(loaded.curves[metric], curve)
  rows = loaded.records()
  assert len(rows) == 3 * 3 * 2 * 3
  assert rows[0]["variant"] == "rkl1" and rows[0]["epoch"] == 1 and "train_loss" in rows[0]
  loaded.to_csv(tmp_path / "sweep.csv")
  lines = (tmp_path / "sweep.csv").read_text().splitlines()
  assert len(lines) == len(rows) + 1 and lines[0].startswith("variant,init_lr,seed,epoch")
  assert "rkl1" in loaded.summary()
  assert loaded.summary("test_loss").splitlines()[0].startswith("final test_loss, mean over seeds")
  with pytest.raises(FileNotFoundError, match="no saved sweep result"):
    SweepResult.load(tmp_path / "missing")


def test_sensitivity_plot(regression_sweep, tmp_path):
  import matplotlib

  matplotlib.use("Agg")
  ax = regression_sweep.plot_sensitivity()
  assert ax.get_xscale() == "log" and len(ax.get_legend().get_texts()) == 3
  ax.figure.savefig(tmp_path / "sensitivity.png")
  assert (tmp_path / "sensitivity.png").stat().st_size > 1000


def test_failed_runs_are_flagged_even_when_finite():
  def per_ilr(*values):
    return np.array(values, np.float32).reshape(1, 4, 1, 1)

  # ILR 0.1 learns; 1 ends at chance; 10 ends above its starting loss; 100 diverged.
  result = SweepResult(
    ["sgd"],
    np.array([0.1, 1.0, 10.0, 100.0]),
    np.array([0]),
    {
      "train_loss": per_ilr(0.3, 0.4, 2.5, np.nan),
      "test_accuracy": per_ilr(0.9, 0.1, 0.8, np.nan),
      "step_loss": per_ilr(2.0, 2.0, 2.0, 2.0)[..., None],
    },
    np.array([False, False, False, True]).reshape(1, 4, 1),
    np.array([-1, -1, -1, 0]).reshape(1, 4, 1),
    meta={"num_classes": 10},
  )
  failed = {point["init_lr"]: reason for _, point, _, reason in result.failures()}
  assert sorted(failed) == [1.0, 10.0]
  assert failed[1.0] == "test accuracy 0.100 is at chance (0.1)"
  assert failed[10.0] == "final loss 2.5 is above its starting loss 2"
  assert result.outcomes()[0, :, 0].tolist() == ["ok", "failed", "failed", "diverged"]
  np.testing.assert_array_equal(result.failed[0, :, 0], [False, True, True, False])


def test_one_definition_of_a_failed_run():
  """``hr.run_outcome`` is the definition (``hr.CHANCE_FACTOR`` x chance, or a loss above
  its start); the sweep records the number of classes it needs."""
  assert hr.CHANCE_FACTOR == 1.5 and hr.OUTCOMES == ("ok", "failed", "diverged")
  chance = hr.CHANCE_FACTOR / 10
  outcome = hr.run_outcome(
    [False, False, False, True],
    test_accuracy=[chance, chance + 0.01, 0.9, 0.9],
    num_classes=10,
    final_train_loss=[0.1, 0.1, 3.0, 0.1],
    first_train_loss=2.3,
  )
  assert outcome.tolist() == ["failed", "ok", "failed", "diverged"]
  assert hr.run_outcome(False) == "ok" and hr.run_outcome(True) == "diverged"
  assert hr.run_outcome(False, test_accuracy=0.1) == "ok"  # no number of classes: not applied


def test_a_sweep_knows_its_classes_and_failed_runs(regression_sweep):
  from hyperreg_jax import data, models

  assert "num_classes" not in regression_sweep.meta  # regression: only the loss criterion
  assert regression_sweep.outcomes().shape == regression_sweep.diverged.shape
  digits = data.load_mnist(max_train=64, max_test=32)
  result = hr.sweep(
    models.MLP(hidden=8), digits, ["sgd"], [1e-4, 1.0], epochs=1, batch_size=32, progress=False
  )
  assert result.meta["num_classes"] == 10
  assert result.outcomes()[0, 0, 0] == "failed"  # ILR 1e-4: nothing learned in 2 steps
  ((variant, point, seed, reason),) = [f for f in result.failures() if f[1]["init_lr"] < 1e-3]
  assert variant == "sgd" and seed == 0 and "is at chance (0.1)" in reason
