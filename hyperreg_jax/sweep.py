"""Vectorised sweeps: a grid of initial learning rates (and other hyperparameters) x seeds.

For each optimizer variant the whole training run (:meth:`Trainer.run`) is vmapped
over the grid (the ILRs, or the flattened product of a ``grid=`` over several
hyperparameters), jitted once, and the grid axis is sharded over every device with
:class:`jax.sharding.NamedSharding` (the runs are independent: no collectives).
Seeds run one after the other through the same compiled program; all ILRs of a
seed share its initial parameters and data order. More grid points than ``max_parallel``
are processed in equal, padded chunks, again with the same program. Chunking, padding
and the number of devices change a run only at float rounding: not at all for
elementwise models such as the linear regression; with matrix products (the MLP) XLA
may round a lane differently when a different number of lanes runs together (about
1e-7 relative, which chaotic runs at large ILRs can amplify).

A run whose loss or state goes non-finite is frozen by the training engine and
reported (``diverged``, ``diverged_at``); the other runs are untouched.

Multi-host: call :func:`jax.distributed.initialize` first, on every host, then call
:func:`sweep` with the same arguments on every host. The grid is sharded over all
devices of all hosts and every host receives the full result.

Example:
  >>> import numpy as np, hyperreg_jax as hr
  >>> from hyperreg_jax import data, models
  >>> ds = data.synthetic_linear_regression(num_train=256, num_test=64)
  >>> result = hr.sweep(models.LinearRegression(), ds, ["rkl1", "sgd"],
  ...                   ilrs=np.logspace(-2, 0, 3), seeds=[0, 1], epochs=2,
  ...                   batch_size=32, progress=False)
  >>> result.final("train_loss").shape  # (variants, ILRs, seeds)
  (2, 3, 2)
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import pathlib
import warnings
from collections.abc import Callable, Mapping, Sequence

import jax
import numpy as np
import optax
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from hyperreg_jax import checkpoint as checkpoint_io
from hyperreg_jax import transform, validate
from hyperreg_jax.train import Trainer, progress_bar

_BASELINES = {
  "sgd": optax.sgd,
  "adagrad": lambda lr: optax.adagrad(lr, initial_accumulator_value=0.0, eps=1e-10),
}
SPECIAL = {"adagrad_diag": transform.adagrad_diag, "wngrad": transform.wngrad}


def variant_names() -> list[str]:
  """Names :func:`sweep` understands: the paper's rules, special cases, baselines."""
  return [*transform.PAPER_RULES, *SPECIAL, *_BASELINES]


GRID_KEYS = ("init_lr", "weight_decay", "growth", "learning_rate", "warmup_lr")
_BASELINE_KEYS = ("init_lr", "weight_decay")


@functools.lru_cache(maxsize=None)
def make_optimizer(name: str, weight_decay: float = 1e-4) -> Callable:
  """``(init_lr, **hyperparameters) -> GradientTransformation`` for a variant name.

  Every variant, baselines included, gets the same L2 ``weight_decay`` (through
  ``optax.add_decayed_weights``), so they are compared on the same objective. The
  keyword arguments (a grid point of :func:`sweep`, possibly traced) override the
  alias's defaults and ``weight_decay``: any of :data:`GRID_KEYS` for the hyperreg
  variants, only ``weight_decay`` for the baselines ``sgd`` and ``adagrad``. Cached:
  the same name gives the same factory, so repeated sweeps reuse their programs.
  """
  if name in transform.PAPER_RULES or name in SPECIAL:
    alias = transform.PAPER_RULES.get(name) or SPECIAL[name]
    return lambda lr, **kw: alias(lr, **{"weight_decay": weight_decay, **kw})
  if name in _BASELINES:
    base = _BASELINES[name]
    return lambda lr, weight_decay=weight_decay: optax.chain(
      optax.add_decayed_weights(weight_decay), base(lr)
    )
  raise ValueError(
    f"variant must be one of {variant_names()} or a callable "
    f"init_lr -> optax transformation, got {name!r}."
  )


def _apply_point(make_tx, point):
  """``make_tx(init_lr, **others)`` for a grid point ``{axis: value}``."""
  others = {k: v for k, v in point.items() if k != "init_lr"}
  return make_tx(point["init_lr"], **others)


@functools.lru_cache(maxsize=None)
def _point_factory(make_tx):
  """The trainer's factory when the grid has more axes than ``init_lr``: the trainer's
  "ILR" is then the grid point, a dict of scalars. Cached, so that the same variant
  gives an equal trainer and reuses its compiled program."""
  return functools.partial(_apply_point, make_tx)


def _variants(variants, weight_decay, axes=("init_lr",)) -> dict[str, Callable]:
  if isinstance(variants, (str, Callable)):
    variants = [variants]
  if isinstance(variants, Mapping):
    items = list(variants.items())
  else:
    items = [
      (v if isinstance(v, str) else getattr(v, "__name__", f"variant{i}"), v)
      for i, v in enumerate(variants)
    ]
  if not items:
    raise ValueError("variants must name at least one optimizer.")
  out = {}
  for label, v in items:
    if label in out:
      raise ValueError(f"variants has the label {label!r} twice.")
    if isinstance(v, str) and v in _BASELINES:
      for key in axes:
        if key not in _BASELINE_KEYS:
          raise ValueError(
            f"grid: variant {label!r} ({v}) has no hyperparameter {key!r}; a baseline "
            f"sweeps only {list(_BASELINE_KEYS)} (init_lr is its learning rate)."
          )
    elif isinstance(v, str):
      for key in axes:
        if key not in GRID_KEYS:
          raise ValueError(
            f"grid: variant {label!r} ({v}) has no hyperparameter {key!r}; "
            f"a named variant sweeps {list(GRID_KEYS)}."
          )
    out[label] = make_optimizer(v, weight_decay) if isinstance(v, str) else v
    if not callable(out[label]):
      raise ValueError(f"variant {label!r} must be a name or a callable, got {v!r}.")
  return out


_AXIS_RULES = {  # allowed values of each grid axis: (test, description)
  "init_lr": (lambda a: np.isfinite(a) & (a > 0), "finite numbers > 0"),
  "weight_decay": (lambda a: np.isfinite(a) & (a >= 0), "finite numbers >= 0"),
  "growth": (lambda a: ~np.isnan(a) & (a >= 1), "numbers >= 1 (inf: no clip)"),
  "learning_rate": (lambda a: np.isfinite(a) & (a > 0), "finite numbers > 0"),
  "warmup_lr": (lambda a: np.isfinite(a) & (a > 0), "finite numbers > 0"),
}


def _check_axis(name: str, key: str, values) -> np.ndarray:
  test, allowed = _AXIS_RULES.get(key, (lambda a: np.isfinite(a), "finite numbers"))
  try:
    a = np.asarray(values, np.float64).reshape(-1) if np.ndim(values) <= 1 else None
  except (TypeError, ValueError):
    a = None
  if a is None or a.size == 0 or not np.all(test(a)):
    raise ValueError(f"{name} must be a non-empty 1-D sequence of {allowed}, got {values!r}.")
  info = np.finfo(np.float32)  # the sweep runs its grid in float32
  outside = a[np.isfinite(a) & (a != 0) & ((np.abs(a) < info.tiny) | (np.abs(a) > info.max))]
  if outside.size:
    raise ValueError(
      f"{name} must be normal float32 numbers (between {info.tiny:.3g} and {info.max:.3g}), "
      f"got {outside.tolist()}."
    )
  return a


def _check_grid(ilrs, grid) -> dict[str, np.ndarray]:
  """The grid's axes ``{name: float64 values}`` in order; ``ilrs`` is ``grid["init_lr"]``."""
  if grid is None:
    grid = {}
  if not isinstance(grid, Mapping):
    raise ValueError(f"grid must be a dict {{hyperparameter: values}}, got {grid!r}.")
  if ilrs is not None and "init_lr" in grid:
    raise ValueError("pass the initial learning rates either as ilrs or as grid['init_lr'].")
  if ilrs is None and "init_lr" not in grid:
    raise ValueError("sweep needs the initial learning rates: ilrs=[...] or grid['init_lr'].")
  axes = {"init_lr": _check_axis("ilrs", "init_lr", ilrs)} if ilrs is not None else {}
  for key, values in grid.items():
    if not isinstance(key, str) or not key.isidentifier():
      raise ValueError(f"grid keys must be keyword argument names, got {key!r}.")
    axes[key] = _check_axis(f"grid[{key!r}]", key, values)
  return axes


def _grid_points(axes: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
  """The cartesian product, flattened in C order: ``{name: (P,) values}``."""
  mesh = np.meshgrid(*axes.values(), indexing="ij")
  return {k: m.reshape(-1) for k, m in zip(axes, mesh)}


def _global_array(host: np.ndarray, sharding: NamedSharding) -> jax.Array:
  """A global array from a host array every process holds in full."""
  return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def _to_host(tree):
  if jax.process_count() == 1:
    return jax.tree.map(np.asarray, jax.device_get(tree))
  return jax.tree.map(np.asarray, multihost_utils.process_allgather(tree, tiled=True))


@functools.lru_cache(maxsize=64)
def _grid_runner(trainer: Trainer, mesh: Mesh):
  """``trainer.run`` vmapped over grid points (ILRs) for one key, jitted; and a trace counter.

  The key is not batched, so all ILRs of a seed share the data order: their
  batches are gathered once and the first layer's matmuls of all ILRs become one
  larger matmul. The ILR axis is sharded over the mesh.
  """
  traces = [0]

  def one_run(ilr, key_data, arrays):
    traces[0] += 1  # runs at trace time only
    state, history = trainer.run(ilr, jax.random.wrap_key_data(key_data), *arrays)
    return state.diverged, state.diverged_at, history

  run = jax.jit(
    jax.vmap(one_run, in_axes=(0, None, None)), out_shardings=NamedSharding(mesh, P("grid"))
  )
  return run, traces


class _Pieces:
  """Finished pieces of a sweep, one (variant, seed, chunk of grid points) a file."""

  RETRY = "delete it, or run again with resume=False (--no-resume) to train every piece afresh"

  def __init__(self, directory, tag: str):
    self.directory = checkpoint_io.check_writable(pathlib.Path(directory) / "piece", "checkpoint")
    self.directory = self.directory.parent
    self.tag = tag
    self.reused = 0

  def _path(self, variant: int, seed: int, chunk: int) -> pathlib.Path:
    return self.directory / f"piece-{self.tag}-v{variant}-s{seed}-c{chunk}.npz"

  def clear(self) -> int:
    """Removes every saved piece in the directory (damaged and stale ones included)."""
    return checkpoint_io.remove_saved(self.directory, "piece-*.npz")

  def load(self, variant, seed, chunk):
    path = self._path(variant, seed, chunk)
    saved = checkpoint_io.load(path, ("diverged", "diverged_at"), self.RETRY)
    if saved is None:
      return None
    self.reused += 1
    history = {k.removeprefix("history/"): v for k, v in saved.items() if k.startswith("history/")}
    return saved["diverged"], saved["diverged_at"], history

  def save(self, variant, seed, chunk, piece) -> None:
    diverged, diverged_at, history = piece
    checkpoint_io.save(
      self._path(variant, seed, chunk),
      diverged=diverged,
      diverged_at=diverged_at,
      **{f"history/{k}": v for k, v in history.items()},
    )


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
    """The record columns of a grid index: ``ilr`` for init_lr, the name for the rest."""
    return {
      ("ilr" if k == "init_lr" else k): float(v[i]) for (k, v), i in zip(self.grid.items(), point)
    }

  def records(self) -> list[dict]:
    """A tidy table: one record per (variant, grid point, seed, epoch).

    One column per grid axis: ``ilr`` for ``init_lr``, the hyperparameter's name for
    the others.
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
    arrays = {f"curve/{k}": v for k, v in self.curves.items()}
    with checkpoint_io.atomic_write(base + ".npz") as f:
      np.savez_compressed(
        f,
        **{f"grid/{k}": v for k, v in self.grid.items() if k != "init_lr"},
        ilrs=self.ilrs,
        seeds=self.seeds,
        diverged=self.diverged,
        diverged_at=self.diverged_at,
        **arrays,
      )
    with checkpoint_io.atomic_write(base + ".json", "w") as f:
      json.dump(
        {"variants": self.variants, "meta": self.meta, "grid": list(self.grid)}, f, indent=2
      )
    return base + ".npz", base + ".json"

  @classmethod
  def load(cls, path) -> "SweepResult":
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
    curves = {k.removeprefix("curve/"): v for k, v in z.items() if k.startswith("curve/")}
    grid = {k: z.get(f"grid/{k}", z["ilrs"] if k == "init_lr" else None) for k in names}
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

    Diverged runs are left out of the mean; a cell whose runs all diverged says so.
    A grid over more hyperparameters gives one table per value of the others.
    """
    values, labels = self._by_ilr(np.where(self.diverged, np.nan, self.final(metric)))
    diverged, _ = self._by_ilr(self.diverged)
    width = max(len(v) for v in self.variants) + 2
    lines = []
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


def _as_arrays(dataset):
  if isinstance(dataset, Sequence) and len(dataset) in (2, 4):
    arrays = tuple(dataset) + (None,) * (4 - len(dataset))
  elif all(hasattr(dataset, a) for a in ("x_train", "y_train")):
    arrays = (
      dataset.x_train,
      dataset.y_train,
      getattr(dataset, "x_test", None),
      getattr(dataset, "y_test", None),
    )
  else:
    raise ValueError(
      "dataset must be a hyperreg_jax.data.Dataset or a tuple (x_train, y_train[, x_test, y_test])."
    )
  names = ("x_train", "y_train", "x_test", "y_test")
  out = []
  for name, a in zip(names, arrays):
    try:
      out.append(None if a is None else np.asarray(a))
    except (TypeError, ValueError) as err:
      raise ValueError(f"dataset: {name} is not an array of numbers ({err}).") from None
  return tuple(out)


def _default_loss(dataset, y_train):
  num_classes = getattr(dataset, "num_classes", None)
  if num_classes is not None or np.issubdtype(y_train.dtype, np.integer):
    return "cross_entropy"
  return "mse"


def data_parallel(trainer: Trainer, devices=None) -> Trainer:
  """The same trainer with every batch sharded over ``devices`` (data parallelism).

  For one large run (VGG-16 on CIFAR-10) instead of a grid of small ones: the
  parameters and optimizer state are replicated, each batch's leading axis is split
  over the devices, and the compiler averages the gradients across them, so the
  result equals single-device training up to float summation order. The batch
  size must be a multiple of the device count. Works across hosts after
  :func:`jax.distributed.initialize`.

  Example:
    >>> import jax, hyperreg_jax as hr
    >>> from hyperreg_jax import models
    >>> trainer = hr.data_parallel(hr.train.Trainer(
    ...     model=models.MLP(), make_tx=hr.rkl1, batch_size=128, epochs=1))
  """
  devices = jax.devices() if devices is None else list(devices)
  batch_size = trainer.batch_size
  if batch_size is not None and batch_size % len(devices):
    raise ValueError(
      f"batch_size={batch_size} must be a multiple of the {len(devices)} "
      "devices for data parallelism."
    )
  mesh = Mesh(np.asarray(devices), ("data",))
  return dataclasses.replace(trainer, batch_sharding=NamedSharding(mesh, P("data")))


def grid_mesh(devices=None) -> Mesh:
  """A 1-D mesh named ``"grid"`` over ``devices`` (default: every device, all hosts)."""
  devices = jax.devices() if devices is None else list(devices)
  return Mesh(np.asarray(devices), ("grid",))


def sweep(
  model,
  dataset,
  variants: str | Callable | Sequence | Mapping,
  ilrs: Sequence[float] | None = None,
  seeds: Sequence[int] = (0,),
  *,
  grid: Mapping[str, Sequence[float]] | None = None,
  epochs: int = 1,
  batch_size: int | None = 128,
  loss: str | None = None,
  loss_reduction: str = "mean",
  weight_decay: float = 1e-4,
  full_batch_steps: int = 1,
  eval_batch_size: int = 1000,
  max_parallel: int | None = None,
  devices=None,
  progress: bool = True,
  checkpoint: str | os.PathLike | None = None,
  resume: bool = True,
) -> SweepResult:
  """Trains every (variant, grid point, seed) combination, each variant in one compiled call.

  The grid is the cartesian product of ``ilrs`` or, with ``grid=``, of any numeric
  hyperparameters of the variants. It is flattened into one axis, vmapped and sharded
  over the devices, so a variant compiles once for the whole grid: the values are data.

  Args:
    model: a Flax-linen-style model (see :mod:`hyperreg_jax.models`).
    dataset: a :class:`hyperreg_jax.data.Dataset` or ``(x_train, y_train[, x_test,
      y_test])``.
    variants: names (``"kl2"``, ``"rkl1"``, ..., ``"adagrad_diag"``, ``"wngrad"``,
      ``"sgd"``, ``"adagrad"``; see :func:`variant_names`), callables
      ``init_lr -> optax transformation``, or a ``{label: name or callable}`` dict.
      Named variants all get L2 ``weight_decay`` through ``add_decayed_weights``.
    ilrs: the initial learning rates (for ``sgd``/``adagrad``: the learning rate);
      short for ``grid={"init_lr": ilrs}``.
    seeds: a seed fixes the initial parameters and the data order; runs with the
      same seed see the same batches whatever their ILR or variant.
    grid: ``{hyperparameter: values}``, the axes of a full cartesian grid, in order;
      must include ``init_lr`` unless ``ilrs`` is given (then ``init_lr`` is the first
      axis). Named variants take ``init_lr``, ``weight_decay``, ``growth`` (``inf``: no
      clip, the same as ``None``), ``learning_rate`` (a number) and ``warmup_lr`` as
      keyword arguments of their alias (traced); the baselines ``sgd`` and ``adagrad``
      only ``init_lr`` and ``weight_decay`` (a grid ``weight_decay`` replaces the
      argument ``weight_decay``). Callable variants are called as
      ``variant(init_lr, **other_values)``.
    epochs, batch_size, full_batch_steps, eval_batch_size: see
      :class:`hyperreg_jax.train.Trainer` (``batch_size=None``: full batch).
    loss: ``"cross_entropy"`` or ``"mse"``; inferred from the labels by default.
    loss_reduction: ``"mean"`` (default) or ``"sum"`` over each training batch, see
      :class:`hyperreg_jax.train.Trainer`; with ``"sum"`` the ILR axis moves by
      ``batch_size`` (the reproducibility study's units).
    max_parallel: at most this many runs at once (rounded up to a multiple of the
      device count). Seeds run one after the other, each over its grid points in equal
      chunks of this size; default: all grid points of a seed at once.
    devices: the devices to shard the grid over (default: all of them).
    progress: show a progress bar over chunks.
    checkpoint: a directory where every finished (variant, seed, chunk) is saved;
      calling :func:`sweep` again with the same arguments after an interruption
      loads those and runs only the rest. Callable variants are identified by
      their label, code, defaults and captured values (a ``functools.partial``'s
      arguments too); one whose captured values cannot be described raises
      ``ValueError`` (pass ``checkpoint=None``). Damaged pieces raise a ``ValueError``
      naming the file. ``meta["reused_pieces"]`` counts the pieces loaded.
    resume: with ``False``, every piece saved in ``checkpoint`` (damaged and stale ones
      included) is deleted first and everything is trained again.

  Returns:
    A :class:`SweepResult`, indexed ``[variant, *grid axes, seed, ...]``
    (``[variant, ilr, seed, ...]`` with ``ilrs=``).

  Raises:
    ValueError, TypeError: bad arguments or data (checked before anything compiles):
      see :mod:`hyperreg_jax.validate`; a grid key a named variant does not have, or
      values outside the hyperparameter's range (``ValueError`` naming the key).

  Example:
    A 2-D grid, ILR x weight decay:

    >>> import hyperreg_jax as hr
    >>> from hyperreg_jax import data, models
    >>> ds = data.synthetic_linear_regression(num_train=128, num_test=32)
    >>> result = hr.sweep(models.LinearRegression(), ds, ["rkl1", "sgd"],
    ...                   grid={"init_lr": [0.1, 1.0], "weight_decay": [0.0, 1e-3, 1e-2]},
    ...                   epochs=1, batch_size=32, progress=False)
    >>> result.final("train_loss").shape  # (variants, ILRs, weight decays, seeds)
    (2, 2, 3, 1)
    >>> list(result.grid)
    ['init_lr', 'weight_decay']
  """
  x_train, y_train, x_test, y_test = _as_arrays(dataset)
  seeds = validate.check_seeds(seeds)
  weight_decay = validate.check_weight_decay(weight_decay)
  axes = _check_grid(ilrs, grid)
  ilrs = axes["init_lr"]
  factories = _variants(variants, weight_decay, tuple(axes))
  points = _grid_points(axes)
  n_points = points["init_lr"].size
  lengths = tuple(a.size for a in axes.values())
  only_ilrs = list(axes) == ["init_lr"]  # then the trainer's ILR is a number, as before
  mesh = grid_mesh(devices)
  n_dev = mesh.size
  if max_parallel is not None and (
    isinstance(max_parallel, bool)
    or not isinstance(max_parallel, (int, np.integer))
    or max_parallel < 1
  ):
    raise ValueError(f"max_parallel must be None or an integer >= 1, got {max_parallel!r}.")
  # One seed at a time; chunks of grid points, the last padded with copies of the first.
  chunk = min(max_parallel or n_points, n_points)
  chunk = math.ceil(chunk / n_dev) * n_dev
  n_chunks = math.ceil(n_points / chunk)
  padded = {
    k: np.concatenate([v, np.full(n_chunks * chunk - n_points, v[0])]).astype(np.float32)
    for k, v in points.items()
  }
  keys = [np.asarray(jax.random.key_data(jax.random.key(int(seed)))) for seed in seeds]

  ilr_sharding = NamedSharding(mesh, P("grid"))
  replicated = NamedSharding(mesh, P())
  loss = loss or _default_loss(dataset, y_train)
  traces = {}  # compilations per variant during this call (0 when reused)
  outputs = {}
  trainers = {
    label: Trainer(
      model=model,
      make_tx=make_tx if only_ilrs else _point_factory(make_tx),
      loss=loss,
      batch_size=batch_size,
      epochs=epochs,
      eval_batch_size=eval_batch_size,
      full_batch_steps=full_batch_steps,
      loss_reduction=loss_reduction,
    )
    for label, make_tx in factories.items()
  }
  for label, make_tx in factories.items():
    _check_points(label, make_tx, axes)
  next(iter(trainers.values())).check_data(x_train, y_train, x_test, y_test)
  data = tuple(
    None if a is None else _global_array(a, replicated) for a in (x_train, y_train, x_test, y_test)
  )
  keys = [_global_array(key, replicated) for key in keys]
  store = None
  if checkpoint is not None:
    description = dict(
      variants={label: trainer.describe() for label, trainer in trainers.items()},
      weight_decay=weight_decay,
      chunk=chunk,
      seeds=seeds.tolist(),
    )
    if only_ilrs:
      description["ilrs"] = padded["init_lr"].tolist()
    else:
      description["grid"] = {k: v.tobytes().hex() for k, v in padded.items()}
    tag = checkpoint_io.fingerprint(description, (x_train, y_train, x_test, y_test))
    store = _Pieces(checkpoint, tag)
    if not resume:
      store.clear()
  bar = progress_bar(
    progress, total=len(factories) * n_chunks * chunk * seeds.size, desc="sweep", unit="run"
  )
  for v, (label, trainer) in enumerate(trainers.items()):
    run_grid, trace_count = _grid_runner(trainer, mesh)
    traces_before = trace_count[0]
    per_seed = []
    for s, key in enumerate(keys):
      pieces = []
      for c in range(n_chunks):
        piece = None if store is None else store.load(v, s, c)
        if piece is None:
          part = {
            k: _global_array(v[c * chunk : (c + 1) * chunk], ilr_sharding)
            for k, v in padded.items()
          }
          part = part["init_lr"] if only_ilrs else part
          piece = _to_host(run_grid(part, key, data))
          if store is not None:
            store.save(v, s, c, piece)
        pieces.append(piece)
        if bar is not None:
          bar.update(chunk)
      per_seed.append(jax.tree.map(lambda *p: np.concatenate(p)[:n_points], *pieces))
    traces[label] = trace_count[0] - traces_before
    outputs[label] = jax.tree.map(  # (*lengths, S, ...)
      lambda *p: np.stack(p, axis=1).reshape(*lengths, len(keys), *p[0].shape[1:]), *per_seed
    )
  if bar is not None:
    bar.close()
  return _assemble(
    list(factories),
    axes,
    seeds,
    outputs,
    dict(
      epochs=epochs,
      batch_size=batch_size,
      loss=loss,
      loss_reduction=loss_reduction,
      weight_decay=weight_decay,
      model=type(model).__name__,
      dataset=getattr(dataset, "name", "arrays"),
      num_train=int(x_train.shape[0]),
      devices=n_dev,
      chunk=chunk,
      chunks=n_chunks,
      reused_pieces=0 if store is None else store.reused,
      traces=traces,
      processes=jax.process_count(),
    ),
  )


def _check_points(label: str, make_tx, axes: dict[str, np.ndarray]) -> None:
  """Builds the variant's optimizer for every value of every axis (the others at their first
  value), so that a value the variant rejects raises before anything compiles."""
  first = {k: float(v[0]) for k, v in axes.items()}
  for key, values in axes.items():
    for value in values if len(axes) > 1 else values[:1]:
      point = {**first, key: float(value)}
      others = {k: v for k, v in point.items() if k != "init_lr"}
      validate.check_optimizer(
        label if len(axes) == 1 else f"{label} at {point}",
        functools.partial(make_tx, **others) if others else make_tx,
        point["init_lr"],
      )


def _assemble(labels, axes, seeds, outputs, meta) -> SweepResult:
  """Stacks per-variant ``(diverged, diverged_at, history)`` of shape (*lengths, S, ...)."""
  metrics = sorted({m for out in outputs.values() for m in out[2]})
  curves = {}
  for m in metrics:
    like = next(out[2][m] for out in outputs.values() if m in out[2])
    curves[m] = np.stack(
      [
        out[2][m].astype(np.float32) if m in out[2] else np.full(like.shape, np.nan, np.float32)
        for out in outputs.values()
      ]
    )
  diverged = np.stack([out[0] for out in outputs.values()])
  diverged_at = np.stack([out[1] for out in outputs.values()])
  return SweepResult(labels, axes["init_lr"], seeds, curves, diverged, diverged_at, meta, axes)
