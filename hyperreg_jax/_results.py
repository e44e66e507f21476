"""The result of a sweep, :class:`SweepResult`: its arrays, save/load (npz + json), a tidy CSV,
a text table and the learning-rate sensitivity plot."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import warnings

import numpy as np

from hyperreg_jax import checkpoint as checkpoint_io

#: A run that stayed finite *failed* when its final test accuracy is at most this multiple of
#: chance (``1 / number of classes``: 0.15 for 10 classes) or its final training loss is
#: above the loss of its first step. A classifier that collapsed onto one class scores that
#: class's frequency (about 0.1 on MNIST or CIFAR-10) and guessing scores 0.10 +- 0.01 on
#: 1,000 test images, both well below; a run that learned, however slowly, is above.
CHANCE_FACTOR = 1.5

#: What :func:`run_outcome` and :meth:`SweepResult.outcomes` say of a run.
OUTCOMES = ("ok", "failed", "diverged")


def run_outcome(
  diverged, *, test_accuracy=None, num_classes=None, final_train_loss=None, first_train_loss=None
):
  """``"diverged"``, ``"failed"`` or ``"ok"``: the one definition of a failed run.

  A run *diverged* when it went non-finite (the engine froze it). A finite run *failed*
  when its final test accuracy is at most :data:`CHANCE_FACTOR` times chance
  (``1 / num_classes``), or its final training loss is above its first step's loss; a
  criterion whose values are not given (``None``) is not applied. Elementwise over arrays
  (NumPy broadcasting), a ``str`` for scalars.

  Example:
    >>> import hyperreg_jax as hr
    >>> hr.run_outcome(False, test_accuracy=0.12, num_classes=10)
    'failed'
    >>> hr.run_outcome([False, True], final_train_loss=[0.3, 0.3], first_train_loss=2.3).tolist()
    ['ok', 'diverged']
  """
  diverged = np.asarray(diverged, bool)
  failed = np.zeros_like(diverged)
  if test_accuracy is not None and num_classes is not None:
    failed = failed | _at_chance(np.asarray(test_accuracy), num_classes)
  if final_train_loss is not None and first_train_loss is not None:
    failed = failed | (np.asarray(final_train_loss) > np.asarray(first_train_loss))
  out = np.where(diverged, "diverged", np.where(failed, "failed", "ok"))
  return str(out) if out.ndim == 0 else out


def _at_chance(accuracy, num_classes):
  return accuracy <= CHANCE_FACTOR / num_classes


@dataclasses.dataclass
class SweepResult:
  """Everything a sweep measured, indexed ``[variant, *grid axes, seed, ...]``.

  With only initial learning rates swept (``ilrs=``) the index is ``[variant, ilr,
  seed, ...]``; a ``grid=`` adds one axis per hyperparameter, in the grid's order.

  Attributes:
    variants: variant labels.
    ilrs: the initial learning rates, shape ``(K,)`` (``grid["init_lr"]``).
    seeds: the seeds, shape ``(S,)``.
    curves: per-epoch metrics, each ``(V, *G, S, epochs)`` with ``G`` the grid's axis
      lengths (``train_loss``, ``test_accuracy``, ``lr_mean``, ...), and per-step ones
      ``step_*`` of shape ``(V, *G, S, epochs, steps_per_epoch)``. Metrics a variant
      does not have (``lr_*`` for sgd) are NaN.
    diverged: ``(V, *G, S)`` bool, the run went non-finite and was frozen.
    diverged_at: ``(V, *G, S)`` int, the 0-based step that went non-finite, -1 if none.
    meta: JSON-able description of the sweep.
    grid: the swept hyperparameters ``{name: values}`` in axis order (default
      ``{"init_lr": ilrs}``).
  """

  variants: list[str]
  ilrs: np.ndarray
  seeds: np.ndarray
  curves: dict[str, np.ndarray]
  diverged: np.ndarray
  diverged_at: np.ndarray
  meta: dict = dataclasses.field(default_factory=dict)
  grid: dict[str, np.ndarray] | None = None

  def __post_init__(self):
    if self.grid is None:
      self.grid = {"init_lr": np.asarray(self.ilrs)}

  def final(self, metric: str = "train_loss") -> np.ndarray:
    """The last epoch's value of a per-epoch metric, ``(V, *G, S)``."""
    if metric not in self.curves or metric.startswith("step_"):
      per_epoch = sorted(k for k in self.curves if not k.startswith("step_"))
      raise ValueError(f"metric must be one of {per_epoch}, got {metric!r}.")
    return self.curves[metric][..., -1]

  def _columns(self, point: tuple) -> dict:
    """The record columns of a grid index, named as the grid's axes."""
    return {k: float(v[i]) for (k, v), i in zip(self.grid.items(), point)}

  def outcomes(self, num_classes: int | None = None) -> np.ndarray:
    """``(V, *G, S)`` strings, ``"diverged"``, ``"failed"`` or ``"ok"`` (:func:`run_outcome`).

    ``num_classes`` (default: ``meta["num_classes"]``, which :func:`~hyperreg_jax.sweep`
    records for classifiers) turns on the accuracy criterion.
    """
    return run_outcome(self.diverged, **self._outcome_values(num_classes))

  @property
  def failed(self) -> np.ndarray:
    """``(V, *G, S)`` bool: the run stayed finite but failed (:func:`run_outcome`)."""
    return self.outcomes() == "failed"

  def failures(self, num_classes: int | None = None) -> list[tuple[str, dict, int, str]]:
    """``(variant, {axis: value}, seed, reason)`` of every failed run, the reason in words."""
    values = self._outcome_values(num_classes)
    out = []
    for at in zip(*np.nonzero(self.outcomes(num_classes) == "failed")):
      v, *point, s = at
      reasons = []
      accuracy = values.get("test_accuracy")
      if accuracy is not None and values.get("num_classes") is not None:
        chance = 1 / values["num_classes"]
        if _at_chance(accuracy[at], values["num_classes"]):
          reasons.append(f"test accuracy {accuracy[at]:.3f} is at chance ({chance:g})")
      last, first = values["final_train_loss"][at], values["first_train_loss"][at]
      if last > first:
        reasons.append(f"final loss {last:.4g} is above its starting loss {first:.4g}")
      out.append((self.variants[v], self._columns(point), int(self.seeds[s]), "; ".join(reasons)))
    return out

  def _outcome_values(self, num_classes) -> dict:
    values = {
      "final_train_loss": self.final("train_loss"),
      "first_train_loss": self.curves["step_loss"][..., 0, 0],  # before any update
    }
    if "test_accuracy" in self.curves:
      values["test_accuracy"] = self.final("test_accuracy")
      values["num_classes"] = num_classes or self.meta.get("num_classes")
    return values

  def records(self) -> list[dict]:
    """A tidy table: one record per (variant, grid point, seed, epoch).

    One column per grid axis, named as the axis (``init_lr``, ``weight_decay``, ...).
    """
    per_epoch = sorted(k for k in self.curves if not k.startswith("step_"))
    lengths = tuple(len(v) for v in self.grid.values())
    rows = []
    for v, label in enumerate(self.variants):
      for point in np.ndindex(*lengths):
        for s, seed in enumerate(self.seeds):
          for e in range(self.meta.get("epochs", self.curves[per_epoch[0]].shape[-1])):
            at = (v, *point, s)
            row = {
              "variant": label,
              **self._columns(point),
              "seed": int(seed),
              "epoch": e + 1,
              "diverged": bool(self.diverged[at]),
              "diverged_at": int(self.diverged_at[at]),
            }
            row.update({m: float(self.curves[m][(*at, e)]) for m in per_epoch})
            rows.append(row)
    return rows

  def to_csv(self, path) -> None:
    """Writes :meth:`records` as CSV (atomically; missing folders are created)."""
    import csv

    rows = self.records()
    with checkpoint_io.atomic_write(path, "w") as f:
      writer = csv.DictWriter(f, fieldnames=list(rows[0]))
      writer.writeheader()
      writer.writerows(rows)

  def save(self, path) -> tuple[str, str]:
    """Saves to ``path.npz`` (arrays) and ``path.json`` (labels and metadata).

    Each file is written atomically (:func:`hyperreg_jax.checkpoint.atomic_write`): a
    kill leaves the complete old file or the complete new one. Missing folders are
    created.
    """
    base = os.fspath(path).removesuffix(".npz").removesuffix(".json")
    with checkpoint_io.atomic_write(base + ".npz") as f:
      np.savez_compressed(
        f,
        **checkpoint_io.prefixed("grid", {k: v for k, v in self.grid.items() if k != "init_lr"}),
        ilrs=self.ilrs,
        seeds=self.seeds,
        diverged=self.diverged,
        diverged_at=self.diverged_at,
        **checkpoint_io.prefixed("curve", self.curves),
      )
    with checkpoint_io.atomic_write(base + ".json", "w") as f:
      json.dump(
        {"variants": self.variants, "meta": self.meta, "grid": list(self.grid)}, f, indent=2
      )
    return base + ".npz", base + ".json"

  @classmethod
  def load(cls, path) -> SweepResult:
    """The inverse of :meth:`save`."""
    base = os.fspath(path).removesuffix(".npz").removesuffix(".json")
    for suffix in (".npz", ".json"):
      if not os.path.exists(base + suffix):
        raise FileNotFoundError(
          f"{base + suffix}: no saved sweep result there "
          "(SweepResult.save writes a .npz and a .json)."
        )
    hint = "save the result again, or rerun the sweep"
    try:
      with open(base + ".json") as f:
        info = json.load(f)
      variants, meta = info["variants"], info["meta"]
      names = info.get("grid", ["init_lr"])
    except (ValueError, KeyError, TypeError) as err:
      raise checkpoint_io.damaged(base + ".json", err, hint) from err
    z = checkpoint_io.load(base + ".npz", ("ilrs", "seeds", "diverged", "diverged_at"), hint)
    curves = checkpoint_io.unprefixed("curve", z)
    saved_grid = checkpoint_io.unprefixed("grid", z)
    grid = {k: saved_grid.get(k, z["ilrs"] if k == "init_lr" else None) for k in names}
    if any(v is None for v in grid.values()):
      raise checkpoint_io.damaged(base + ".npz", KeyError(names), hint)
    return cls(variants, z["ilrs"], z["seeds"], curves, z["diverged"], z["diverged_at"], meta, grid)

  def _by_ilr(self, array: np.ndarray):
    """``array`` of shape ``(V, *G, S)`` as ``(V, O, K, S)`` (``O``: the other axes'
    points, flattened), with a label per other point (empty when only ILRs vary)."""
    names = list(self.grid)
    k = names.index("init_lr")
    array = np.moveaxis(array, 1 + k, -2)
    others = [(n, v) for n, v in self.grid.items() if n != "init_lr"]
    labels = [
      ", ".join(f"{n}={v[i]:g}" for (n, v), i in zip(others, point))
      for point in np.ndindex(*(len(v) for _, v in others))
    ]
    return array.reshape(array.shape[0], len(labels), *array.shape[-2:]), labels

  def summary(self, metric: str = "train_loss") -> str:
    """A plain-text table of the final ``metric`` (mean over seeds), variant x ILR.

    The first line names the metric. Diverged runs are left out of the mean; a cell whose
    runs all diverged says so. A grid over more hyperparameters gives one table per value
    of the others.
    """
    values, labels = self._by_ilr(np.where(self.diverged, np.nan, self.final(metric)))
    diverged, _ = self._by_ilr(self.diverged)
    width = max(len(v) for v in self.variants) + 2
    lines = [f"final {metric}, mean over seeds (diverged runs left out); columns: init_lr"]
    for o, other in enumerate(labels):
      if other:
        lines.append(f"{other}:")
      lines.append("variant".ljust(width) + "".join(f"{ilr:>11.3g}" for ilr in self.ilrs))
      for v, label in enumerate(self.variants):
        cells = []
        for k in range(len(self.ilrs)):
          if diverged[v, o, k].all():
            cells.append("   diverged")
          else:
            cells.append(f"{np.nanmean(values[v, o, k]):>11.4g}")
        lines.append(label.ljust(width) + "".join(cells))
    return "\n".join(lines)

  def plot_sensitivity(self, metric: str = "train_loss", ax=None):
    """LR-sensitivity plot: the final ``metric`` vs ILR (log axis), one line per variant.

    Mean over seeds with min-max band; diverged runs are marked with an x at the top.
    A grid over more hyperparameters gives one line per variant and value of the others.
    """
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(6, 4))[1]
    values, others = self._by_ilr(np.where(self.diverged, np.nan, self.final(metric)))
    diverged, _ = self._by_ilr(self.diverged)
    finite = values[np.isfinite(values)]
    top = finite.max() if finite.size else 1.0
    for v, label in enumerate(self.variants):
      for o, other in enumerate(others):
        with warnings.catch_warnings():  # an ILR whose seeds all diverged is left blank
          warnings.simplefilter("ignore", RuntimeWarning)
          mean = np.nanmean(values[v, o], axis=-1)
          low, high = np.nanmin(values[v, o], axis=-1), np.nanmax(values[v, o], axis=-1)
        name = f"{label} ({other})" if other else label
        (line,) = ax.plot(self.ilrs, mean, marker="o", label=name)
        if values.shape[-1] > 1:
          ax.fill_between(self.ilrs, low, high, color=line.get_color(), alpha=0.15)
        blown = diverged[v, o].any(-1)
        ax.plot(self.ilrs[blown], np.full(blown.sum(), top), "x", color=line.get_color(), ms=9)
    ax.set_xscale("log")
    if metric.endswith("loss"):
      ax.set_yscale("log")
    ax.set_xlabel("initial learning rate (loss averaged over the batch)")
    ax.set_ylabel(f"final {metric.replace('_', ' ')}")
    ax.legend(fontsize="small")
    return ax


def assemble(labels, axes, seeds, outputs, meta) -> SweepResult:
  """Stacks per-variant ``(diverged, diverged_at, history)`` of shape (*lengths, S, ...)."""
  metrics = sorted({m for out in outputs.values() for m in out[2]})
  curves = {}
  for m in metrics:
    given = [out[2][m] for out in outputs.values() if m in out[2]]
    like = given[0]
    x64 = any(a.dtype == np.float64 for a in given)  # a float64 run (x64) keeps float64
    dtype = np.float64 if x64 else np.float32
    curves[m] = np.stack(
      [
        out[2][m].astype(dtype) if m in out[2] else np.full(like.shape, np.nan, dtype)
        for out in outputs.values()
      ]
    )
  diverged = np.stack([out[0] for out in outputs.values()])
  diverged_at = np.stack([out[1] for out in outputs.values()])
  return SweepResult(labels, axes["init_lr"], seeds, curves, diverged, diverged_at, meta, axes)


def robustness_width(ilrs, scores, points: float) -> tuple[float, float, float]:
  """How many decades of ILR stay within ``points`` (accuracy points) of the best score.

  ``scores[i]`` is the score (e.g. mean final test accuracy, a fraction) at ``ilrs[i]``, the
  ILRs in increasing order. Returns ``(decades, lowest ILR, highest ILR)`` of the contiguous
  stretch of the grid around the best ILR whose scores are at least ``best - points / 100``;
  0 decades when only the best ILR qualifies (the width is resolved to the grid's spacing).

  Example:
    >>> import hyperreg_jax as hr
    >>> hr.robustness_width([1e-3, 1e-2, 1e-1, 1.0], [0.5, 0.95, 0.96, 0.955], points=1)
    (2.0, 0.01, 1.0)
  """
  scores = np.asarray(scores)
  best = int(np.argmax(scores))
  ok = scores >= scores[best] - points / 100
  lo = hi = best
  while lo > 0 and ok[lo - 1]:
    lo -= 1
  while hi < len(ok) - 1 and ok[hi + 1]:
    hi += 1
  return math.log10(ilrs[hi] / ilrs[lo]), ilrs[lo], ilrs[hi]
