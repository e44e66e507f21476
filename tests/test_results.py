"""SweepResult: save and load, the tidy table and CSV, the text summary, the sensitivity plot."""

import numpy as np
import pytest

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
  assert len(lines) == len(rows) + 1 and lines[0].startswith("variant,ilr,seed,epoch")
  assert "rkl1" in loaded.summary()
  with pytest.raises(FileNotFoundError, match="no saved sweep result"):
    SweepResult.load(tmp_path / "missing")


def test_sensitivity_plot(regression_sweep, tmp_path):
  import matplotlib

  matplotlib.use("Agg")
  ax = regression_sweep.plot_sensitivity()
  assert ax.get_xscale() == "log" and len(ax.get_legend().get_texts()) == 3
  ax.figure.savefig(tmp_path / "sensitivity.png")
  assert (tmp_path / "sensitivity.png").stat().st_size > 1000
