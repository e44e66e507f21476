"""The grid runner: :func:`sweep` trains every (variant, grid point, seed), each variant's whole
grid in one compiled, vmapped program sharded over the devices.

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
import math
import os
from collections.abc import Callable, Mapping, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from hyperreg_jax import _registry, _validate, train
from hyperreg_jax import checkpoint as checkpoint_io
from hyperreg_jax._parallel import global_array, grid_mesh, to_host
from hyperreg_jax._pieces import Pieces
from hyperreg_jax._results import SweepResult, assemble
from hyperreg_jax._transform import DEFAULT_WEIGHT_DECAY
from hyperreg_jax.train import Trainer, _model, progress_bar
from hyperreg_jax.train._model import OutputShapeError

# The model's initial weights for a key: compiled once per model, shared by its variants.
_init_variables = jax.jit(_model.init_variables, static_argnums=0)


@functools.lru_cache(maxsize=64)
def _grid_runner(trainer: Trainer, mesh: Mesh):
  """:func:`~hyperreg_jax.train.run` vmapped over grid points (ILRs) for one key, jitted; and a trace counter.

  The key and the initial weights are not batched, so all ILRs of a seed share them
  and the data order: their batches are gathered once and the first layer's matmuls of all ILRs become one
  larger matmul. The ILR axis is sharded over the mesh.
  """
  traces = [0]

  def one_run(ilr, key_data, variables, arrays):
    traces[0] += 1  # runs at trace time only
    key = jax.random.wrap_key_data(key_data)
    state, history = train.run(trainer, ilr, key, *arrays, variables=variables)
    return state.diverged, state.diverged_at, history

  run = jax.jit(
    jax.vmap(one_run, in_axes=(0, None, None, None)),
    out_shardings=NamedSharding(mesh, P("grid")),
  )
  return run, traces


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
  weight_decay: float = DEFAULT_WEIGHT_DECAY,
  full_batch_steps: int = 1,
  eval_batch_size: int = 1000,
  step_lr_stats: bool = False,
  eval_train: bool = False,
  penalty: Callable | None = None,
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

  For each optimizer variant the whole training run (:func:`hyperreg_jax.train.run`) is vmapped
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

  Multi-host: call ``hr.distributed.initialize()`` first, on every host
  (:func:`hyperreg_jax.distributed.initialize`), then call :func:`sweep` with the same
  arguments on every host. The grid is sharded over all
  devices of all hosts and every host receives the full result.

  Args:
    model: a Flax linen module (see :mod:`hyperreg_jax.models`), a Flax NNX module, or a
      pair ``(init, apply)`` of pure functions ``init(key, x) -> params`` and
      ``apply(params, x) -> outputs`` (``x`` a batch; see
      :class:`hyperreg_jax.train.Trainer`). An NNX module is split into its graph and
      its variables (``nnx.split``) and merged inside the pure step: its weights, as they
      are when ``sweep`` is called, start every run, whatever the seed.
    dataset: a :class:`hyperreg_jax.data.Dataset` or ``(x_train, y_train[, x_test,
      y_test])``.
    variants: names (``"kl2"``, ``"rkl1"``, ..., ``"adagrad_diag"``, ``"wngrad"``,
      ``"sgd"``, ``"adagrad"``; see :func:`variant_names`), callables
      ``init_lr -> optax transformation``, or a ``{label: name or callable}`` dict.
      Named variants all get L2 ``weight_decay`` through ``add_decayed_weights``.
    ilrs: the initial learning rates (for ``sgd``/``adagrad``: the learning rate);
      short for ``grid={"init_lr": ilrs}``.
    seeds: a seed fixes the initial parameters (not an NNX module's: see ``model``) and
      the data order; runs with the same seed see the same batches and start from the
      same weights whatever their ILR or variant.
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
    loss: ``"cross_entropy"`` or ``"mse"``; by default ``"cross_entropy"`` for integer
      labels (or a dataset with ``num_classes``), ``"mse"`` for float ones.
    loss_reduction: ``"mean"`` (default) or ``"sum"`` over each training batch, see
      :class:`hyperreg_jax.train.Trainer`; with ``"sum"`` the ILR axis moves by
      ``batch_size`` (the reproducibility study's units).
    step_lr_stats: also record ``step_lr_min``/``step_lr_mean``/``step_lr_max`` curves
      (every step), see :class:`hyperreg_jax.train.Trainer`; per-epoch ``lr_*`` curves
      are always recorded.
    eval_train: also evaluate the whole training set after every epoch: curves
      ``eval_train_loss`` and ``eval_train_accuracy`` (the study's training loss), see
      :class:`hyperreg_jax.train.Trainer`.
    penalty: ``penalty(params) -> scalar`` added to ``eval_train_loss`` only (e.g. the L2
      term of the regularised objective); needs ``eval_train=True``.
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
      naming the file, and so does a piece whose recorded run (sweep fingerprint,
      variant, seed, chunk) is not the one its name says: a copied or renamed piece.
      ``meta["reused_pieces"]`` counts the pieces loaded.
    resume: with ``False``, every piece saved in ``checkpoint`` (damaged and stale ones
      included) is deleted first and everything is trained again.

  Returns:
    A :class:`SweepResult`, indexed ``[variant, *grid axes, seed, ...]``
    (``[variant, ilr, seed, ...]`` with ``ilrs=``).

  Raises:
    ValueError, TypeError: bad arguments, a model that is not one, or bad data, or
      model outputs that do not fit the labels (checked before anything compiles, see
      :func:`hyperreg_jax.train.check_data`); a grid key a named variant does not have, or
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

  x_train, y_train, _, _ = arrays = _as_arrays(dataset)
  seeds = _validate.check_seeds(seeds)
  weight_decay = _validate.check_weight_decay(weight_decay)
  axes = _registry.check_grid(ilrs, grid)
  factories = _registry.resolve_variants(variants, weight_decay, tuple(axes))
  mesh = grid_mesh(devices)
  plan = _Plan.make(axes, mesh.size, max_parallel)
  inferred_loss = loss is None
  loss = loss or _default_loss(dataset, y_train)
  model = _model.as_model(model)  # one copy of an NNX module's weights for every variant
  settings = {  # the trainers' settings: the sweep's arguments of the same names
    "model": model,
    "loss": loss,
    "batch_size": batch_size,
    "epochs": epochs,
    "eval_batch_size": eval_batch_size,
    "full_batch_steps": full_batch_steps,
    "loss_reduction": loss_reduction,
    "step_lr_stats": step_lr_stats,
    "eval_train": eval_train,
    "penalty": penalty,
  }
  trainers = {
    label: Trainer(
      make_tx=make_tx if plan.only_ilrs else _registry.point_factory(make_tx), **settings
    )
    for label, make_tx in factories.items()
  }
  for label, make_tx in factories.items():
    _registry.check_points(label, make_tx, axes)
  # What train.check_run_inputs checks (fit and run call it): each ILR was checked above as it
  # checks one (check_grid), the data once here.
  try:
    out_shape = train.check_data(next(iter(trainers.values())), *arrays)
  except OutputShapeError as err:
    if not inferred_loss:
      raise
    raise OutputShapeError(
      f"{err} (sweep took loss={loss!r} from the labels: y_train holds {y_train.dtype} values.)"
    ) from None
  store = None
  if checkpoint is not None:
    store = Pieces.open(checkpoint, resume, trainers, weight_decay, plan, seeds, arrays)
  outputs, traces = _train_grid(trainers, plan, seeds, arrays, mesh, store, progress)
  meta = {
    **settings,
    "model": _model.name(model),
    "penalty": None if penalty is None else checkpoint_io.callable_name(penalty),
    "weight_decay": weight_decay,
    **({"num_classes": int(out_shape[-1])} if loss == "cross_entropy" else {}),
    "dataset": getattr(dataset, "name", "arrays"),
    "num_train": int(x_train.shape[0]),
    "devices": mesh.size,
    "chunk": plan.chunk,
    "chunks": plan.n_chunks,
    "reused_pieces": 0 if store is None else store.reused,
    "traces": traces,
    "processes": jax.process_count(),
  }
  return assemble(list(factories), axes, seeds, outputs, meta)


@dataclasses.dataclass(frozen=True)
class _Plan:
  """How the grid runs: its points in equal chunks, the last padded with the first point."""

  lengths: tuple[int, ...]  # the grid's axis lengths
  n_points: int
  chunk: int  # grid points per call: a multiple of the device count
  n_chunks: int
  padded: dict[str, np.ndarray]  # {axis: (n_chunks * chunk,) float32 values; float64 under x64}
  only_ilrs: bool  # then the trainer's ILR is a number, not a dict of grid values

  @classmethod
  def make(cls, axes: dict[str, np.ndarray], n_devices: int, max_parallel) -> _Plan:
    max_parallel = _validate.check_int("max_parallel", max_parallel, allow_none=True)
    points = _registry.grid_points(axes)
    n_points = points["init_lr"].size
    chunk = min(max_parallel or n_points, n_points)
    chunk = math.ceil(chunk / n_devices) * n_devices
    n_chunks = math.ceil(n_points / chunk)
    dtype = jax.dtypes.canonicalize_dtype(np.float64)  # float64 under x64: beta_0 = 1 / ILR
    padded = {
      k: np.concatenate([v, np.full(n_chunks * chunk - n_points, v[0])]).astype(dtype)
      for k, v in points.items()
    }
    lengths = tuple(a.size for a in axes.values())
    return cls(lengths, n_points, chunk, n_chunks, padded, list(axes) == ["init_lr"])

  def part(self, c: int, sharding: NamedSharding):
    """Chunk ``c``'s grid values on the devices: the ILRs, or ``{axis: values}``."""
    part = {
      k: global_array(v[c * self.chunk : (c + 1) * self.chunk], sharding)
      for k, v in self.padded.items()
    }
    return part["init_lr"] if self.only_ilrs else part

  def describe(self) -> dict:
    """The grid values as they run, for fingerprints."""
    if self.only_ilrs:
      return dict(chunk=self.chunk, ilrs=self.padded["init_lr"].tolist())
    return dict(chunk=self.chunk, grid={k: v.tobytes().hex() for k, v in self.padded.items()})


def _train_grid(trainers, plan: _Plan, seeds, arrays, mesh: Mesh, store, progress):
  """Every variant over every seed and chunk (or its saved piece): ``({label: (diverged,
  diverged_at, history) of shape (*lengths, S, ...)}, {label: compilations})``."""
  replicated = NamedSharding(mesh, P())
  data = tuple(None if a is None else global_array(a, replicated) for a in arrays)
  keys = [
    global_array(np.asarray(jax.random.key_data(jax.random.key(int(seed)))), replicated)
    for seed in seeds
  ]
  some_trainer = next(iter(trainers.values()))
  initial = {}  # the initial weights of each seed, made when a piece of it is trained

  def variables(s: int):
    if s not in initial:
      init_key, _ = train.epoch_keys(some_trainer, jax.random.key(int(seeds[s])))
      host = jax.device_get(_init_variables(some_trainer.model, init_key, arrays[0][:1]))
      initial[s] = jax.tree.map(lambda a: global_array(np.asarray(a), replicated), host)
    return initial[s]

  bar = progress_bar(
    progress,
    total=len(trainers) * plan.n_chunks * plan.chunk * seeds.size,
    desc="sweep",
    unit="run",
  )
  outputs, traces = {}, {}
  for v, (label, trainer) in enumerate(trainers.items()):
    run_grid, trace_count = _grid_runner(trainer, mesh)
    traces_before = trace_count[0]
    per_seed = []
    for s, key in enumerate(keys):
      pieces = []
      for c in range(plan.n_chunks):
        piece = None if store is None else store.load(v, s, c)
        if piece is None:
          points = plan.part(c, NamedSharding(mesh, P("grid")))
          piece = to_host(run_grid(points, key, variables(s), data))
          if store is not None:
            store.save(v, s, c, piece)
        pieces.append(piece)
        if bar is not None:
          bar.update(plan.chunk)
      per_seed.append(jax.tree.map(lambda *p: np.concatenate(p)[: plan.n_points], *pieces))
    traces[label] = trace_count[0] - traces_before
    outputs[label] = jax.tree.map(  # (*lengths, S, ...)
      lambda *p: np.stack(p, axis=1).reshape(*plan.lengths, len(keys), *p[0].shape[1:]), *per_seed
    )
  if bar is not None:
    bar.close()
  return outputs, traces
