"""Vectorised sweeps: a grid of initial learning rates x seeds in one compiled call.

For each optimizer variant the whole training run (:meth:`Trainer.run`) is vmapped
over the ILRs, jitted once, and the ILR axis is sharded over every device with
:class:`jax.sharding.NamedSharding` (the runs are independent: no collectives).
Seeds run one after the other through the same compiled program; all ILRs of a
seed share its initial parameters and data order. More ILRs than ``max_parallel``
are processed in equal, padded chunks, again with the same program, so the
results do not depend on the chunking or on the number of devices.

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


@functools.lru_cache(maxsize=None)
def make_optimizer(name: str, weight_decay: float = 1e-4) -> Callable:
  """``init_lr -> GradientTransformation`` for a variant name, with L2 ``weight_decay``.

  Every variant, baselines included, gets the same ``optax.add_decayed_weights``
  in front, so they are compared on the same objective. Cached: the same name
  gives the same factory, so repeated sweeps reuse their compiled programs.
  """
  if name in transform.PAPER_RULES:
    rule = transform.PAPER_RULES[name]
    return lambda lr: rule(lr, weight_decay=weight_decay)
  if name in SPECIAL:
    return lambda lr: SPECIAL[name](lr, weight_decay=weight_decay)
  if name in _BASELINES:
    base = _BASELINES[name]
    return lambda lr: optax.chain(optax.add_decayed_weights(weight_decay), base(lr))
  raise ValueError(
    f"variant must be one of {variant_names()} or a callable "
    f"init_lr -> optax transformation, got {name!r}."
  )


def _variants(variants, weight_decay) -> dict[str, Callable]:
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
    out[label] = make_optimizer(v, weight_decay) if isinstance(v, str) else v
    if not callable(out[label]):
      raise ValueError(f"variant {label!r} must be a name or a callable, got {v!r}.")
  return out


def _check_grid(ilrs, seeds):
  try:
    ilrs = np.asarray(ilrs, np.float64).reshape(-1) if np.ndim(ilrs) <= 1 else None
  except (TypeError, ValueError):
    ilrs = None
  if ilrs is None or ilrs.size == 0 or not np.all(np.isfinite(ilrs) & (ilrs > 0)):
    raise ValueError("ilrs must be a non-empty 1-D sequence of finite numbers > 0.")
  info = np.finfo(np.float32)  # the sweep runs its ILRs in float32
  outside = ilrs[(ilrs < info.tiny) | (ilrs > info.max)]
  if outside.size:
    raise ValueError(
      f"ilrs must be normal float32 numbers (between {info.tiny:.3g} and {info.max:.3g}), "
      f"got {outside.tolist()}."
    )
  seeds = np.asarray(seeds).reshape(-1)
  if seeds.size == 0 or not np.issubdtype(seeds.dtype, np.integer):
    raise ValueError(f"seeds must be a non-empty sequence of integers, got {seeds!r}.")
  return ilrs, seeds


def _global_array(host: np.ndarray, sharding: NamedSharding) -> jax.Array:
  """A global array from a host array every process holds in full."""
  return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def _to_host(tree):
  if jax.process_count() == 1:
    return jax.tree.map(np.asarray, jax.device_get(tree))
  return jax.tree.map(np.asarray, multihost_utils.process_allgather(tree, tiled=True))


@functools.lru_cache(maxsize=64)
def _grid_runner(trainer: Trainer, mesh: Mesh):
  """``trainer.run`` vmapped over ILRs for one key, jitted; and a trace counter.

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
  """Finished pieces of a sweep, one (variant, seed, chunk of ILRs) a file."""

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
  """Everything a sweep measured, indexed ``[variant, ilr, seed, ...]``.

  Attributes:
    variants: variant labels.
    ilrs: the initial learning rates, shape ``(K,)``.
    seeds: the seeds, shape ``(S,)``.
    curves: per-epoch metrics, each ``(V, K, S, epochs)`` (``train_loss``,
      ``test_accuracy``, ``lr_mean``, ...), and per-step ones ``step_*`` of shape
      ``(V, K, S, epochs, steps_per_epoch)``. Metrics a variant does not have
      (``lr_*`` for sgd) are NaN.
    diverged: ``(V, K, S)`` bool, the run went non-finite and was frozen.
    diverged_at: ``(V, K, S)`` int, the 0-based step that went non-finite, -1 if none.
    meta: JSON-able description of the sweep.
  """

  variants: list[str]
  ilrs: np.ndarray
  seeds: np.ndarray
  curves: dict[str, np.ndarray]
  diverged: np.ndarray
  diverged_at: np.ndarray
  meta: dict = dataclasses.field(default_factory=dict)

  def final(self, metric: str = "train_loss") -> np.ndarray:
    """The last epoch's value of a per-epoch metric, ``(V, K, S)``."""
    if metric not in self.curves or metric.startswith("step_"):
      per_epoch = sorted(k for k in self.curves if not k.startswith("step_"))
      raise ValueError(f"metric must be one of {per_epoch}, got {metric!r}.")
    return self.curves[metric][..., -1]

  def records(self) -> list[dict]:
    """A tidy table: one record per (variant, ILR, seed, epoch)."""
    per_epoch = sorted(k for k in self.curves if not k.startswith("step_"))
    rows = []
    for v, label in enumerate(self.variants):
      for k, ilr in enumerate(self.ilrs):
        for s, seed in enumerate(self.seeds):
          for e in range(self.meta.get("epochs", self.curves[per_epoch[0]].shape[-1])):
            row = {
              "variant": label,
              "ilr": float(ilr),
              "seed": int(seed),
              "epoch": e + 1,
              "diverged": bool(self.diverged[v, k, s]),
              "diverged_at": int(self.diverged_at[v, k, s]),
            }
            row.update({m: float(self.curves[m][v, k, s, e]) for m in per_epoch})
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
        ilrs=self.ilrs,
        seeds=self.seeds,
        diverged=self.diverged,
        diverged_at=self.diverged_at,
        **arrays,
      )
    with checkpoint_io.atomic_write(base + ".json", "w") as f:
      json.dump({"variants": self.variants, "meta": self.meta}, f, indent=2)
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
    except (ValueError, KeyError, TypeError) as err:
      raise checkpoint_io.damaged(base + ".json", err, hint) from err
    z = checkpoint_io.load(base + ".npz", ("ilrs", "seeds", "diverged", "diverged_at"), hint)
    curves = {k.removeprefix("curve/"): v for k, v in z.items() if k.startswith("curve/")}
    return cls(variants, z["ilrs"], z["seeds"], curves, z["diverged"], z["diverged_at"], meta)

  def summary(self, metric: str = "train_loss") -> str:
    """A plain-text table of the final ``metric`` (mean over seeds), variant x ILR.

    Diverged runs are left out of the mean; a cell whose runs all diverged says so.
    """
    values = np.where(self.diverged, np.nan, self.final(metric))
    width = max(len(v) for v in self.variants) + 2
    lines = ["variant".ljust(width) + "".join(f"{ilr:>11.3g}" for ilr in self.ilrs)]
    for v, label in enumerate(self.variants):
      cells = []
      for k in range(len(self.ilrs)):
        if self.diverged[v, k].all():
          cells.append("   diverged")
        else:
          cells.append(f"{np.nanmean(values[v, k]):>11.4g}")
      lines.append(label.ljust(width) + "".join(cells))
    return "\n".join(lines)

  def plot_sensitivity(self, metric: str = "train_loss", ax=None):
    """LR-sensitivity plot: the final ``metric`` vs ILR (log axis), one line per variant.

    Mean over seeds with min-max band; diverged runs are marked with an x at the top.
    """
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(6, 4))[1]
    values = np.where(self.diverged, np.nan, self.final(metric))
    finite = values[np.isfinite(values)]
    top = finite.max() if finite.size else 1.0
    for v, label in enumerate(self.variants):
      with warnings.catch_warnings():  # an ILR whose seeds all diverged is left blank
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(values[v], axis=-1)
        low, high = np.nanmin(values[v], axis=-1), np.nanmax(values[v], axis=-1)
      (line,) = ax.plot(self.ilrs, mean, marker="o", label=label)
      if values.shape[-1] > 1:
        ax.fill_between(self.ilrs, low, high, color=line.get_color(), alpha=0.15)
      blown = self.diverged[v].any(-1)
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
  ilrs: Sequence[float],
  seeds: Sequence[int] = (0,),
  *,
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
  """Trains every (variant, ILR, seed) combination, each variant in one compiled call.

  Args:
    model: a Flax-linen-style model (see :mod:`hyperreg_jax.models`).
    dataset: a :class:`hyperreg_jax.data.Dataset` or ``(x_train, y_train[, x_test,
      y_test])``.
    variants: names (``"kl2"``, ``"rkl1"``, ..., ``"adagrad_diag"``, ``"wngrad"``,
      ``"sgd"``, ``"adagrad"``; see :func:`variant_names`), callables
      ``init_lr -> optax transformation``, or a ``{label: name or callable}`` dict.
      Named variants all get L2 ``weight_decay`` through ``add_decayed_weights``.
    ilrs: the initial learning rates (for ``sgd``/``adagrad``: the learning rate).
    seeds: a seed fixes the initial parameters and the data order; runs with the
      same seed see the same batches whatever their ILR or variant.
    epochs, batch_size, full_batch_steps, eval_batch_size: see
      :class:`hyperreg_jax.train.Trainer` (``batch_size=None``: full batch).
    loss: ``"cross_entropy"`` or ``"mse"``; inferred from the labels by default.
    loss_reduction: ``"mean"`` (default) or ``"sum"`` over each training batch, see
      :class:`hyperreg_jax.train.Trainer`; with ``"sum"`` the ILR axis moves by
      ``batch_size`` (the reproducibility study's units).
    max_parallel: at most this many runs at once (rounded up to a multiple of the
      device count). Seeds run one after the other, each over its ILRs in equal
      chunks of this size; default: all ILRs of a seed at once.
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
    A :class:`SweepResult`.

  Raises:
    ValueError, TypeError: bad arguments or data (checked before anything compiles):
      see :mod:`hyperreg_jax.validate`.
  """
  x_train, y_train, x_test, y_test = _as_arrays(dataset)
  seeds = validate.check_seeds(seeds)
  weight_decay = validate.check_weight_decay(weight_decay)
  ilrs, seeds = _check_grid(ilrs, seeds)
  factories = _variants(variants, weight_decay)
  mesh = grid_mesh(devices)
  n_dev = mesh.size
  if max_parallel is not None and (
    isinstance(max_parallel, bool)
    or not isinstance(max_parallel, (int, np.integer))
    or max_parallel < 1
  ):
    raise ValueError(f"max_parallel must be None or an integer >= 1, got {max_parallel!r}.")
  # One seed at a time; chunks of ILRs, the last padded with copies of the first ILR.
  chunk = min(max_parallel or ilrs.size, ilrs.size)
  chunk = math.ceil(chunk / n_dev) * n_dev
  n_chunks = math.ceil(ilrs.size / chunk)
  padded_ilrs = np.concatenate([ilrs, np.full(n_chunks * chunk - ilrs.size, ilrs[0])]).astype(
    np.float32
  )
  keys = [np.asarray(jax.random.key_data(jax.random.key(int(seed)))) for seed in seeds]

  ilr_sharding = NamedSharding(mesh, P("grid"))
  replicated = NamedSharding(mesh, P())
  loss = loss or _default_loss(dataset, y_train)
  traces = {}  # compilations per variant during this call (0 when reused)
  outputs = {}
  trainers = {
    label: Trainer(
      model=model,
      make_tx=make_tx,
      loss=loss,
      batch_size=batch_size,
      epochs=epochs,
      eval_batch_size=eval_batch_size,
      full_batch_steps=full_batch_steps,
      loss_reduction=loss_reduction,
    )
    for label, make_tx in factories.items()
  }
  for label, trainer in trainers.items():
    validate.check_optimizer(label, trainer.make_tx, ilrs[0])
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
      ilrs=padded_ilrs.tolist(),
      chunk=chunk,
      seeds=seeds.tolist(),
    )
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
          part = _global_array(padded_ilrs[c * chunk : (c + 1) * chunk], ilr_sharding)
          piece = _to_host(run_grid(part, key, data))
          if store is not None:
            store.save(v, s, c, piece)
        pieces.append(piece)
        if bar is not None:
          bar.update(chunk)
      per_seed.append(jax.tree.map(lambda *p: np.concatenate(p)[: ilrs.size], *pieces))
    traces[label] = trace_count[0] - traces_before
    outputs[label] = jax.tree.map(lambda *p: np.stack(p, axis=1), *per_seed)  # (K, S, ...)
  if bar is not None:
    bar.close()
  return _assemble(
    list(factories),
    ilrs,
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


def _assemble(labels, ilrs, seeds, outputs, meta) -> SweepResult:
  """Stacks per-variant ``(diverged, diverged_at, history)`` of shape (K, S, ...)."""
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
  return SweepResult(labels, ilrs, seeds, curves, diverged, diverged_at, meta)
