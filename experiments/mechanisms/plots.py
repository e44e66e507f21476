"""The figures of the mechanisms experiment, drawn from its saved rows (:mod:`.mechanisms`).

Every axis names its unit; ILRs (loss averaged over the batch) and learning rates are on log
scales; steps, counted from 1, on a log scale (what breaks, breaks in the first steps); every
legend sits outside its axes.
"""

from __future__ import annotations

import numpy as np

from experiments import figures, files, study
from experiments.mechanisms import trace

STEP = "step (from 1; batch numbers measured before it)"
LAYER_COLORS = dict(zip(trace.LAYERS, ("C0", "C1", "C2", "C3")))


def _series(rows, x, y, **where):
  """(x, mean, min, max) of ``y`` over seeds, for the rows matching ``where``."""
  sel = [r for r in rows if all(r[k] == v for k, v in where.items())]
  xs = sorted({r[x] for r in sel})
  vals = [[r[y] for r in sel if r[x] == v] for v in xs]
  stats = np.full((len(xs), 3), np.nan)
  for i, v in enumerate(vals):
    v = np.asarray(v, float)
    if np.isfinite(v).any():
      stats[i] = np.nanmean(v), np.nanmin(v), np.nanmax(v)
  return np.asarray(xs), stats[:, 0], stats[:, 1], stats[:, 2]


def _finish(ax, xlabel, ylabel, logx=True, logy=True):
  ax.set_xlabel(xlabel, fontsize="small")
  ax.set_ylabel(ylabel, fontsize="small")
  if logx:
    ax.set_xscale("log")
  if logy:
    ax.set_yscale("log")
  figures.legend_outside(ax, fontsize="x-small")


def _save(fig, path, title=None):
  """Titles the figure (when ``title`` is given), lays it out and saves it as ``path``."""
  if title is not None:
    fig.suptitle(title)
  fig.tight_layout()
  return files.save_figure(fig, path)


def first_step(rows, path):
  """Median beta after one step vs ILR, per layer, for every rule (Algorithms 1 and 2)."""
  plt = files.pyplot()
  fig, axes = plt.subplots(2, 2, figsize=(13, 7.5))
  rules = [
    v
    for v in dict.fromkeys(r["variant"] for r in rows)
    if any(r["variant"] == v and r["algorithm"] != 3 for r in rows)
  ]
  colors = plt.get_cmap("tab10").colors
  for ax, layer in zip(axes.ravel(), trace.LAYERS):
    sel = [r for r in rows if r["layer"] == layer]
    for i, rule in enumerate(rules):
      x, y, _, _ = _series(sel, "ilr", "beta1", variant=rule)
      ax.plot(x, y, color=colors[i % 10], ls="-" if i < 10 else "--", label=rule)
    ilrs = np.asarray(sorted({r["ilr"] for r in sel}))
    ax.plot(ilrs, 1 / ilrs, "k:", lw=2, label="1 / ILR (beta_0)")
    ax.axhline(sel[0]["g0"], color="k", ls="--", lw=1, label="median |g_0|")
    ax.set_title(f"{layer}: median beta after the first step", fontsize="medium")
    _finish(ax, f"initial learning rate ({study.MEAN_UNITS})", "beta_1 (1 / learning rate)")
  return _save(
    fig,
    path,
    "The first step, no growth clip: beta_1 follows 1 / ILR until 1 / ILR falls below "
    "the gradient, then the gradient's scale (or not)\nmedian over the layer's "
    "entries (W1: a fixed sample of 8192); Algorithm 3 updates beta as Algorithm 2",
  )


def accuracy(runs, path, epochs):
  """Final test accuracy vs ILR of every traced optimizer; the LR-free ones as lines."""
  plt = files.pyplot()
  fig, ax = plt.subplots(figsize=(11, 5))
  styles = {"unclipped": "-", "clipped": "--", "lagged": "-.", "sgd": ":"}
  variants = [
    v
    for v in dict.fromkeys(r["variant"] for r in runs)
    if runs[[r["variant"] for r in runs].index(v)]["group"] != "lr_free"
  ]
  for i, v in enumerate(variants):
    grp = next(r["group"] for r in runs if r["variant"] == v)
    x, mean, low, high = _series(runs, "ilr", "test_accuracy", variant=v)
    (line,) = ax.plot(x, mean, marker=".", ls=styles[grp], color=f"C{i}", label=f"{v} ({grp})")
    ax.fill_between(x, low, high, color=line.get_color(), alpha=0.15, lw=0)
  for j, v in enumerate(dict.fromkeys(r["variant"] for r in runs if r["group"] == "lr_free")):
    acc = np.nanmean([r["test_accuracy"] for r in runs if r["variant"] == v])
    ax.axhline(acc, color=f"C{len(variants) + j}", lw=1, ls=(0, (5, 2)), label=f"{v} (no ILR)")
  ax.axhline(0.1, color="0.5", lw=0.8, label="chance (10%)")
  ax.set_ylim(0, 1)
  ax.set_title(
    f"Final test accuracy after {epochs} epochs; line: mean over seeds, band: "
    "min-max; a missing point: every seed diverged",
    fontsize="medium",
  )
  _finish(ax, f"initial learning rate ({study.MEAN_UNITS})", "test accuracy (fraction)", logy=False)
  return _save(fig, path)


def _steps(rows, variant, ilr, key):
  sel = sorted(
    (r for r in rows if r["variant"] == variant and np.isclose(r["ilr"], ilr)),
    key=lambda r: r["step"],
  )
  return np.asarray([r["step"] + 1 for r in sel]), np.asarray([r[key] for r in sel])


def _ilr_columns(n_rows, ilrs, width, height):
  """A figure with ``n_rows`` rows of axes and a column ``width`` inches wide per ILR."""
  plt = files.pyplot()
  return plt.subplots(n_rows, len(ilrs), figsize=(width * len(ilrs) + 2, height), squeeze=False)


def _plot_layer(ax, rows, variant, ilr, layer, quantity, label):
  """``layer``'s ``quantity`` per step of ``variant`` at ``ilr``, in the layer's colour."""
  ax.plot(
    *_steps(rows, variant, ilr, f"{layer}_{quantity}"),
    color=LAYER_COLORS[layer],
    label=f"{label} {layer}",
  )


def valley(rows, path, ilrs):
  """Around the valley: per-step learning rates per layer, hidden units, logits, loss."""
  fig, axes = _ilr_columns(4, ilrs, width=4.6, height=11)
  for col, ilr in enumerate(ilrs):
    ax = axes[0, col]
    for layer in trace.LAYERS:
      _plot_layer(ax, rows, "rkl1_noclip", ilr, layer, "lr", "rkl1 (no clip)")
    ax.axhline(ilr, color="k", ls=":", label="SGD (every layer) = ILR")
    ax.set_title(f"ILR {ilr:.3g}", fontsize="medium")
    _finish(ax, STEP, "median effective learning rate")
    ax = axes[1, col]
    for variant, ls in (("rkl1_noclip", "-"), ("sgd", "--")):
      ax.plot(*_steps(rows, variant, ilr, "dead"), color="C3", ls=ls, label=f"{variant}: dead")
      ax.plot(*_steps(rows, variant, ilr, "sat"), color="C0", ls=ls, label=f"{variant}: saturated")
    ax.set_ylim(-0.02, 1.02)
    _finish(ax, STEP, "fraction of hidden units", logy=False)
    for row, key, label in (
      (2, "max_logit", "largest |logit| in the batch"),
      (3, "loss", "batch loss before the step (nats)"),
    ):
      ax = axes[row, col]
      for variant, ls in (("rkl1_noclip", "-"), ("sgd", "--")):
        ax.plot(*_steps(rows, variant, ilr, key), color="k", ls=ls, label=variant)
      _finish(ax, STEP, label)
  return _save(
    fig,
    path,
    "Around the valley (seed 0): saturated = |sigmoid input| > 4.6 (output outside "
    "[0.01, 0.99]) for one image; dead = saturated on the same side for the whole "
    "batch (a constant feature)",
  )


def clip(rows, runs, path, ilrs):
  """The growth clip: the fraction of entries whose beta doubled, layer norms, logits."""
  fig, axes = _ilr_columns(3, ilrs, width=5.6, height=9)
  for col, ilr in enumerate(ilrs):
    ax = axes[0, col]
    for layer in trace.LAYERS:
      _plot_layer(ax, rows, "rkl1", ilr, layer, "doubled", "rkl1 (clip 2)")
      pred = [
        trace.clip_steps_predicted(r[f"{layer}_g0"], r["ilr"], r["clip_c"])
        for r in runs
        if r["variant"] == "rkl1" and np.isclose(r["ilr"], ilr)
      ][:1]
      for p in pred:
        ax.axvline(
          p + 0.5,
          color=LAYER_COLORS[layer],
          ls=":",
          lw=1,
          label=f"{layer}: predicted end, {p} steps",
        )
    ax.set_title(f"ILR {ilr:.3g}", fontsize="medium")
    ax.set_ylim(-0.02, 1.02)
    _finish(ax, STEP, "fraction of entries whose beta doubled", logy=False)
    for row, key, label in ((1, "W2_w", "norm of W2"), (2, "max_logit", "largest |logit|")):
      ax = axes[row, col]
      for variant, ls in (
        ("rkl1", "-"),
        ("rkl1_noclip", "--"),
        ("hellinger2", "-"),
        ("hellinger2_noclip", "--"),
      ):
        color = "C0" if variant.startswith("rkl1") else "C1"
        ax.plot(*_steps(rows, variant, ilr, key), color=color, ls=ls, label=variant)
      _finish(ax, STEP, label)
  return _save(
    fig,
    path,
    "The growth clip (beta at most doubles per step), seed 0: solid clipped, dashed "
    "not; dotted verticals: 1 + floor(log2(|g_0| ILR / sqrt(C))) from the median |g_0|",
  )


def lagged(first, rows, path, ilr):
  """Algorithm 3: its first step's learning rate vs the others'; one run at a large ILR."""
  plt = files.pyplot()
  fig, axes = plt.subplots(1, 3, figsize=(19, 4.6))
  ax = axes[0]
  sel = [r for r in first if r["layer"] == "W2"]
  for alg, color in ((1, "C0"), (2, "C1"), (3, "C3")):
    names = dict.fromkeys(r["variant"] for r in sel if r["algorithm"] == alg)
    for i, v in enumerate(names):
      x, y, _, _ = _series(sel, "ilr", "lr0", variant=v)
      ax.plot(x, y, color=color, alpha=0.7, label=f"Algorithm {alg}" if i == 0 else None)
  ilrs = np.asarray(sorted({r["ilr"] for r in sel}))
  ax.plot(ilrs, ilrs, "k:", label="SGD: learning rate = ILR")
  ax.set_title("W2: learning rate of the first step, every rule", fontsize="medium")
  _finish(ax, f"initial learning rate ({study.MEAN_UNITS})", "median effective learning rate")
  for ax, key, label in (
    (axes[1], "max_logit", "largest |logit|"),
    (axes[2], "W2_lr", "W2: median effective learning rate"),
  ):
    for variant, color in (("hellinger3_noclip", "C3"), ("hellinger2_noclip", "C1"), ("sgd", "k")):
      ax.plot(*_steps(rows, variant, ilr, key), color=color, label=variant)
    ax.set_title(f"ILR {ilr:.3g}, seed 0", fontsize="medium")
    _finish(ax, STEP, label)
  return _save(fig, path)
