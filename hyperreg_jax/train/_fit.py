"""The host-side training loop, :func:`fit`: the jitted step once per batch, an evaluation after
every epoch, a progress bar, an optional per-batch augmentation, and Orbax checkpoints of the
training state after each epoch (:class:`FitCheckpoints`)."""

from __future__ import annotations

import functools
import pathlib
import shutil

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils

from hyperreg_jax import checkpoint as checkpoint_io
from hyperreg_jax.train import _core
from hyperreg_jax.train._config import Trainer, describe

_RETRY = "delete it, or call fit with resume=False to train from the start"


def progress_bar(enabled: bool, **tqdm_kwargs):
  """``tqdm(**tqdm_kwargs)`` when ``enabled`` and tqdm is installed, else ``None``."""
  if not enabled:
    return None
  try:
    from tqdm.auto import tqdm
  except ImportError:
    return None
  return tqdm(**tqdm_kwargs)


# The jitted pieces: compiled once per trainer (a static argument) and data shapes, and reused
# for every init_lr and every call of fit.
_init_variables = jax.jit(_core.init_variables, static_argnums=0)
_batch_order = jax.jit(_core.batch_order, static_argnums=(0, 2))
_step = jax.jit(_core.train_step, static_argnums=0)
_epoch_record = jax.jit(_core.epoch_record, static_argnums=0)


@functools.partial(jax.jit, static_argnums=0)
def _init_state(trainer, init_lr, variables):
  return _core.init_state(trainer, None, init_lr, None, variables=variables)


def fit(
  trainer: Trainer,
  init_lr,
  key,
  x_train,
  y_train,
  x_test=None,
  y_test=None,
  *,
  augment=None,
  progress=True,
  checkpoint=None,
  resume=True,
  max_to_keep=1,
):
  """A training run on the host: the jitted :func:`train_step` once per batch, then the
  epoch's record (with :func:`evaluate` on the test data, and on the training data with
  ``eval_train=True``) after every epoch.

  The same run as :func:`run` (same keys, same batches, same ``history``; equal up to float
  rounding, since the steps are compiled on their own rather than inside a scan), but
  stepping from the host, as Flax's ``examples/mnist`` does: on XLA's CPU backend a
  convolutional network's step is several times faster jitted alone than inside a
  ``lax.scan`` (``benchmarks/bench_conv_scan.py``). Models with batch norm update their
  batch statistics in every step. ``init_lr`` and the data are checked first
  (:func:`check_run_inputs`, as :func:`run` and :func:`hyperreg_jax.sweep` check them).

  Args:
    trainer: the configuration.
    init_lr, key, x_train, y_train, x_test, y_test: as for :func:`run`.
    augment: ``augment(key, x) -> x``, applied to every training batch ``x`` before its
      step, on the host, outside the compiled step: NumPy code works, and a JAX function
      is best jitted (``jax.jit(augment)``). ``key`` is
      ``fold_in(fold_in(run key, 2), global step index)``, so a resumed run augments its
      batches as the uninterrupted one. E.g. a random crop with padding 4 and a
      horizontal flip for CIFAR-10. The test data is not augmented.
    progress: show a progress bar over the steps.
    checkpoint: a directory. After every epoch the training state (params, optimizer
      state, batch statistics, step, divergence flags) and the history so far are saved
      there with Orbax (``orbax.checkpoint.CheckpointManager``, one step per finished
      epoch, in ``checkpoint/fit-<fingerprint>/<epoch>/``, the fingerprint naming the
      trainer, ``init_lr``, ``key``, ``augment`` and the data). Calling ``fit`` again
      with the same arguments after an interruption (a kill included) resumes after the
      last saved epoch, with bit-identical results.
    resume: ``False`` deletes what was saved for this run and trains from the start.
    max_to_keep: how many epochs' checkpoints to keep (the latest ones).

  Returns:
    ``(final TrainState, history)`` as :func:`run`.
  """
  if augment is not None and not callable(augment):
    raise TypeError(f"augment={augment!r} must be None or a callable (key, x) -> x.")
  _core.check_run_inputs(trainer, init_lr, x_train, y_train, x_test, y_test)
  init_key, epoch_keys = _core.epoch_keys(trainer, key)
  init_lr = jnp.asarray(init_lr)
  data = x_train, y_train, x_test, y_test = jax.tree.map(
    jnp.asarray, (x_train, y_train, x_test, y_test)
  )
  n = x_train.shape[0]
  steps = trainer.steps_per_epoch(n)
  state = _init_state(trainer, init_lr, _init_variables(trainer, init_key, x_train[:1]))
  records = []
  store = None
  if checkpoint is not None:
    description = dict(
      describe(trainer),
      init_lr=float(init_lr),
      key=jax.random.key_data(key).tolist(),
      augment=None if augment is None else checkpoint_io.describe_callable(augment),
    )
    tag = checkpoint_io.fingerprint(
      description, [None if a is None else np.asarray(a) for a in data]
    )
    store = FitCheckpoints(pathlib.Path(checkpoint) / f"fit-{tag}", max_to_keep, resume)
    state, records = store.restore(state, _record_shapes(trainer, state, init_lr, steps, data))
  augment_key = jax.random.fold_in(key, 2)
  epochs = range(len(records), trainer.epochs)
  bar = progress_bar(progress, total=len(epochs) * steps, desc="fit", unit="step", leave=False)
  for e in epochs:
    order = _batch_order(trainer, epoch_keys[e], n)
    order = None if order is None else np.asarray(order)
    metrics = []
    for i in range(steps):
      if order is None:
        x, y = x_train, y_train
      else:
        x, y = jnp.take(x_train, order[i], axis=0), jnp.take(y_train, order[i], axis=0)
      if augment is not None:
        x = augment(jax.random.fold_in(augment_key, e * steps + i), x)
      state, m = _step(trainer, state, init_lr, (x, y))
      metrics.append(m)
      if bar is not None:
        bar.update()
    step_metrics = jax.tree.map(lambda *v: jnp.stack(v), *metrics)
    records.append(_epoch_record(trainer, state, step_metrics, x_test, y_test, x_train, y_train))
    if store is not None:
      store.save(state, records)
    if bar is not None:
      shown = ("train_loss", "test_accuracy")
      bar.set_postfix({k: f"{float(records[-1][k]):.4g}" for k in shown if k in records[-1]})
  if bar is not None:
    bar.close()
  if store is not None:
    store.close()
  return state, jax.tree.map(lambda *v: jnp.stack(v), *records)


def _record_shapes(trainer, state, init_lr, steps, data):
  """The shapes of one epoch's history record (``jax.ShapeDtypeStruct``), from shapes only."""
  x_train, y_train, x_test, y_test = data
  size = x_train.shape[0] if trainer.batch_size is None else trainer.batch_size
  batch = tuple(jax.ShapeDtypeStruct((size, *a.shape[1:]), a.dtype) for a in (x_train, y_train))
  _, m = jax.eval_shape(functools.partial(_core.train_step, trainer), state, init_lr, batch)
  m = {k: jax.ShapeDtypeStruct((steps, *v.shape), v.dtype) for k, v in m.items()}
  record = functools.partial(_core.epoch_record, trainer)
  return jax.eval_shape(record, state, m, x_test, y_test, x_train, y_train)


class FitCheckpoints:
  """The Orbax checkpoints of one :func:`fit` run: one step per finished epoch.

  Each step holds two items, ``state`` (the :class:`TrainState`: params, optimizer state,
  batch statistics, step, divergence flags) and ``history`` (``{metric: (epochs so far,
  ...)}``). Orbax writes a step to a temporary folder and renames it when complete, so a
  kill never leaves a step that looks finished. Process 0 alone writes and reads; with
  several processes it sends what it read to the others, so the folder need not be shared.
  """

  def __init__(self, directory: pathlib.Path, max_to_keep: int, resume: bool):
    import orbax.checkpoint as ocp

    directory = pathlib.Path(directory).absolute()  # Orbax takes absolute paths only
    self.ocp, self.directory, self.manager = ocp, directory, None
    if jax.process_index() != 0:
      return
    checkpoint_io.check_writable(directory / "step", "checkpoint")
    if not resume and directory.exists():
      shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)
    options = ocp.CheckpointManagerOptions(
      max_to_keep=max_to_keep,
      create=False,
      enable_async_checkpointing=False,
      multiprocessing_options=ocp.options.MultiprocessingOptions(active_processes={0}),
    )
    self.manager = ocp.CheckpointManager(directory, options=options, item_names=_ITEMS)

  def save(self, state, records: list[dict]) -> None:
    """Saves the state after ``len(records)`` epochs and the history so far."""
    state, history = jax.tree.map(_host_copy, state), _stack(records)
    if self.manager is not None:
      items = {"state": state, "history": history}
      args = {k: self.ocp.args.StandardSave(v) for k, v in items.items()}
      self.manager.save(len(records), args=self.ocp.args.Composite(**args))

  def restore(self, fresh, record) -> tuple:
    """``(state, records)`` of the last saved epoch; ``(fresh, [])`` when none is saved.

    ``record`` gives the shapes of one epoch's history record (``jax.ShapeDtypeStruct``).
    """
    epochs = None if self.manager is None else self.manager.latest_step()
    if jax.process_count() > 1:
      epochs = int(multihost_utils.broadcast_one_to_all(np.int32(epochs or 0)))
    if not epochs:
      return fresh, []
    target = (
      jax.tree.map(lambda a: np.zeros(a.shape, a.dtype), fresh),
      {k: np.zeros((epochs, *v.shape), v.dtype) for k, v in record.items()},
    )
    if self.manager is not None:
      target = self._read(epochs, target)
    if jax.process_count() > 1:
      target = multihost_utils.broadcast_one_to_all(target)
    state, history = jax.tree.map(jnp.asarray, target)
    return state, [{k: v[e] for k, v in history.items()} for e in range(epochs)]

  def _read(self, epochs: int, target):
    args = {k: self.ocp.args.StandardRestore(v) for k, v in zip(_ITEMS, target)}
    try:
      restored = self.manager.restore(epochs, args=self.ocp.args.Composite(**args))
      return tuple(restored[k] for k in _ITEMS)
    except Exception as err:  # missing, truncated or foreign files: Orbax raises many kinds
      raise checkpoint_io.damaged(self.directory / str(epochs), err, _RETRY) from err

  def close(self) -> None:
    if self.manager is not None:
      self.manager.close()


_ITEMS = ("state", "history")


def _stack(records: list[dict]) -> dict:
  return {k: np.stack([_host_copy(r[k]) for r in records]) for k in records[0]}


def _host_copy(a) -> np.ndarray:
  """This process's copy of a replicated (or process-local) array; sharded ones gathered."""
  if isinstance(a, jax.Array) and not a.is_fully_addressable:
    if a.is_fully_replicated:
      return np.asarray(a.addressable_data(0))
    return np.asarray(multihost_utils.process_allgather(a, tiled=True))
  return np.asarray(a)
