"""The figures of the reproduction, drawn from saved rows (never from live training state).

Conventions: an ILR axis is logarithmic and its label names the ILR convention; a line is
the mean over seeds and its band the min-max over seeds; an ``x`` marks an ILR where at least
one seed diverged (non-finite, run frozen), an open circle one where a run failed
(``study.FAILED``). Every figure carries a legend that says so.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from experiments import common, files, study


def _by_ilr(rows, variant, metric):
  """ILRs, per-ILR values over seeds (NaN for diverged), diverged mask, chance mask."""
  runs = [r for r in rows if r["variant"] == variant]
  ilrs = sorted({r["ilr"] for r in runs})
  values, diverged, chance = [], [], []
  for ilr in ilrs:
    at = [r for r in runs if r["ilr"] == ilr]
    outcomes = [common.outcome(r) for r in at]
    values.append([r[metric] if o != "diverged" else np.nan for r, o in zip(at, outcomes)])
    diverged.append("diverged" in outcomes)
    chance.append("failed" in outcomes)
  width = max(len(v) for v in values)
  values = np.array([v + [np.nan] * (width - len(v)) for v in values], dtype=float)
  return np.asarray(ilrs), values, np.asarray(diverged), np.asarray(chance)


def _stats(values):
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)
    return np.nanmean(values, 1), np.nanmin(values, 1), np.nanmax(values, 1)


def sensitivity_lines(ax, rows, variants, metric, styles=None, fail_y=None):
  """Draws ``metric`` vs ILR for ``variants`` on ``ax``; failures marked at ``fail_y``."""
  styles = styles or {}
  for variant in variants:
    ilrs, values, diverged, chance = _by_ilr(rows, variant, metric)
    mean, low, high = _stats(values)
    style = dict(marker=".", label=variant, **styles.get(variant, {}))
    (line,) = ax.plot(ilrs, mean, **style)
    color = line.get_color()
    if values.shape[1] > 1:
      ax.fill_between(ilrs, low, high, color=color, alpha=0.15, lw=0)
    y = fail_y if fail_y is not None else np.nanmax(high) if np.isfinite(high).any() else 1.0
    ax.plot(ilrs[diverged], np.full(diverged.sum(), y), "x", color=color, ms=7, mew=2)
    ax.plot(
      ilrs[chance & ~diverged],
      mean[chance & ~diverged],
      "o",
      mfc="none",
      color=color,
      ms=8,
    )
  ax.set_xscale("log")
  if metric.endswith("loss"):
    ax.set_yscale("log")


def legend_outside(ax, **kwargs):
  """The axes' legend to the right of it, outside the plotting area: it never covers data."""
  ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), borderaxespad=0, **kwargs)


def _mark_legend(ax, fail_where):
  from matplotlib.lines import Line2D
  from matplotlib.patches import Patch

  handles = [
    Line2D([], [], color="k", marker=".", label="mean over seeds"),
    Patch(color="k", alpha=0.15, label="min-max over seeds"),
    Line2D(
      [], [], color="k", marker="x", ls="none", mew=2, label=f"a seed diverged ({fail_where})"
    ),
    Line2D([], [], color="k", marker="o", mfc="none", ls="none", label=study.FAILED),
    Line2D([], [], color="0.4", ls=":", label="best learning-rate-free optimizer"),
  ]
  ax.legend(handles=handles, loc="center", fontsize="small", title="marks")
  ax.axis("off")


def sensitivity_grid(final, lr_free, metric, path, *, title, xlabel):
  """One panel per rule (clipped vs unclipped), one for baselines and LR-free references."""
  plt = files.pyplot()
  rules = [v for v in dict.fromkeys(r["variant"] for r in final if r["group"] == "clipped")]
  baselines = [v for v in dict.fromkeys(r["variant"] for r in final if r["group"] == "baseline")]
  panels = rules + (["baselines"] if baselines or lr_free else []) + ["legend"]
  cols = min(4, len(panels))
  nrows = math.ceil(len(panels) / cols)
  fig, axes = plt.subplots(nrows, cols, figsize=(5.0 * cols, 2.9 * nrows), squeeze=False)
  axes = axes.ravel()
  is_acc = metric == "test_accuracy"
  fail_y = 1.0 if is_acc else None
  best_free = None
  means = [
    np.nanmean([r[metric] for r in lr_free if r["variant"] == name])
    for name in dict.fromkeys(r["variant"] for r in lr_free)
  ]
  means = [m for m in means if np.isfinite(m)]
  if means:
    best_free = max(means) if is_acc else min(means)
  for ax, panel in zip(axes, panels):
    if panel == "legend":
      _mark_legend(ax, "top of panel" if is_acc else "at the panel's top")
      continue
    if panel == "baselines":
      sensitivity_lines(ax, final, baselines, metric, fail_y=fail_y)
      for i, name in enumerate(dict.fromkeys(r["variant"] for r in lr_free)):
        vals = [r[metric] for r in lr_free if r["variant"] == name]
        ax.axhline(np.nanmean(vals), ls="--", lw=1, color=f"C{i + 3}", label=f"{name} (no LR)")
      ax.set_title("baselines; dashed: LR-free", fontsize="medium")
    else:
      sensitivity_lines(
        ax,
        final,
        [panel, f"{panel}_noclip"],
        metric,
        styles={f"{panel}_noclip": {"ls": "--"}},
        fail_y=fail_y,
      )
      if best_free is not None:
        ax.axhline(best_free, ls=":", color="0.4", lw=1)
      ax.set_title(panel, fontsize="medium")
    legend_outside(ax, fontsize="x-small")
    ax.set_xlabel("ILR", fontsize="small")
    ax.set_ylabel(metric.replace("_", " ") + (" (fraction)" if is_acc else ""), fontsize="small")
    if is_acc:
      ax.set_ylim(0, 1.05)
  for ax in axes[len(panels) :]:
    ax.axis("off")
  fig.suptitle(f"{title}\nx axis: {xlabel}; solid: growth clip 2 (paper), dashed: no clip")
  fig.tight_layout()
  return files.save_figure(fig, path)


def robustness_bars(rows, path, *, xlabel):
  """Horizontal bars: robustness width within 1 and 5 points, per variant."""
  plt = files.pyplot()
  rows = sorted(rows, key=lambda r: (r["width_1pt_decades"], r["width_5pt_decades"]))
  labels = [r["variant"] for r in rows]
  y = np.arange(len(rows))
  fig, ax = plt.subplots(figsize=(9, 0.28 * len(rows) + 1.6))
  ax.barh(y - 0.2, [r["width_5pt_decades"] for r in rows], 0.4, label="within 5 points of best")
  ax.barh(y + 0.2, [r["width_1pt_decades"] for r in rows], 0.4, label="within 1 point of best")
  ax.set_yticks(y, labels, fontsize="small")
  ax.set_xlabel(xlabel)
  ax.set_title("Robustness width: ILR span keeping test accuracy near its best")
  legend_outside(ax, fontsize="small")
  fig.tight_layout()
  return files.save_figure(fig, path)


def curves(panels, path, *, title, xlabel, notes="", log_x=False, styles=None, ncols=None):
  """Line plots: ``panels`` is a list of (title, ylabel, log_y, {label: (x, mean, low, high)}),
  laid out in rows of ``ncols`` (default: one row); ``styles``: ``{label: matplotlib line
  options}`` over the default style of a label."""
  plt = files.pyplot()
  ncols = ncols or len(panels)
  nrows = -(-len(panels) // ncols)
  fig, axes = plt.subplots(nrows, ncols, figsize=(7.2 * ncols, 3.8 * nrows), squeeze=False)
  for ax, (panel_title, ylabel, log_y, series) in zip(axes.ravel(), panels):
    colors = plt.get_cmap("tab20" if len(series) > 10 else "tab10").colors
    for i, (label, (x, mean, low, high)) in enumerate(series.items()):
      style = dict(color=colors[i % len(colors)])
      if label.startswith("study"):  # numbers the study reported: black squares
        style = dict(color="k", ls="--", marker="s", ms=4)
      elif label.lower().startswith("gd"):
        style = dict(color="k", lw=2.5, ls=":")
      style.update((styles or {}).get(label, {}))
      (line,) = ax.plot(x, mean, label=label, **style)
      if low is not None:
        ax.fill_between(x, low, high, color=line.get_color(), alpha=0.15, lw=0)
    if log_y:
      ax.set_yscale("log")
    if log_x:
      ax.set_xscale("log")
    ax.set_title(panel_title, fontsize="medium")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    legend_outside(ax, fontsize="x-small")
  return save_titled(fig, path, title + (f"\n{notes}" if notes else ""))


def save_titled(fig, path, title):
  """Titles ``fig`` (in medium type), lays it out and saves it as ``path``."""
  fig.suptitle(title, fontsize="medium")
  fig.tight_layout()
  return files.save_figure(fig, path)
