"""The reproduction's figures: no legend covers data."""

from __future__ import annotations

import numpy as np
import pytest

from experiments import figures, files


@pytest.fixture
def drawn(monkeypatch):
  """The figures that ``figures`` would save, drawn and kept instead."""
  kept = []

  def keep(fig, path):
    fig.canvas.draw()
    kept.append(fig)
    return path

  monkeypatch.setattr(files, "save_figure", keep)
  yield kept
  for fig in kept:
    files.pyplot().close(fig)


def _points_under_legends(fig) -> int:
  """How many plotted data points fall inside a legend's box, over all axes of ``fig``."""
  renderer = fig.canvas.get_renderer()
  legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
  boxes = [legend.get_window_extent(renderer) for legend in legends]
  covered = 0
  for ax in fig.axes:
    for line in ax.get_lines():
      xy = np.column_stack(line.get_data()).astype(float)
      xy = xy[np.isfinite(xy).all(1)]
      if xy.size:
        for x, y in ax.transData.transform(xy):
          covered += sum(box.contains(x, y) for box in boxes)
  return covered


def _rows(variants, group):
  """Runs whose accuracies fill the whole panel: no free corner for a legend inside it."""
  rng = np.random.default_rng(0)
  return [
    dict(
      variant=v,
      group=group,
      ilr=ilr,
      seed=s,
      epoch=1,
      diverged=False,
      test_accuracy=float(rng.uniform(0.1, 0.98)),
      train_loss=float(rng.uniform(0.05, 2)),
    )
    for v in variants
    for ilr in np.logspace(-4, 4, 33)
    for s in (0, 1)
  ]


def test_curve_legends_cover_no_data(drawn, tmp_path):
  epochs = np.arange(1, 6)
  series = {f"rule{i}": (epochs, 0.5 + 0.1 * i + 0.0 * epochs, None, None) for i in range(8)}
  series["study RKL1 (reported, 40 ep.)"] = (epochs, np.linspace(0.9, 0.99, 5), None, None)
  panels = [("accuracy", "test accuracy (fraction)", False, series)] * 2
  figures.curves(panels, tmp_path / "c.png", title="t", xlabel="epoch")
  assert _points_under_legends(drawn[0]) == 0


def test_sensitivity_grid_legends_cover_no_data(drawn, tmp_path):
  final = _rows(["rkl1"], "clipped") + _rows(["rkl1_noclip"], "unclipped")
  final += _rows(["sgd", "adagrad", "adam"], "baseline")
  lr_free = [dict(r, ilr=1.0) for r in _rows(["dog", "prodigy", "cocob", "dowg"], "lr_free")]
  figures.sensitivity_grid(
    final, lr_free, "test_accuracy", tmp_path / "g.png", title="t", xlabel="ILR"
  )
  assert _points_under_legends(drawn[0]) == 0
