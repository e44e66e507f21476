"""The host-side training loop: :meth:`Trainer.fit` runs the pure epoch one at a time, with a
progress bar, and checkpoints the training state through Orbax after each epoch."""

from __future__ import annotations

import functools
import pathlib
import shutil

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils

from hyperreg_jax import checkpoint as checkpoint_io

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


@functools.partial(jax.jit, static_argnums=0)
def _init(trainer, key, init_lr, sample_x):
  """``trainer.init``, compiled once per trainer (a static argument) and data shapes."""
  return trainer.init(key, init_lr, sample_x)


@functools.partial(jax.jit, static_argnums=0)
def _epoch(trainer, state, init_lr, key, *data):
  """``trainer.epoch``, compiled once per trainer and data shapes; reused for every ILR."""
  return trainer.epoch(state, init_lr, key, *data)


def fit(trainer, init_lr, key, arrays, *, progress, checkpoint, resume, max_to_keep):
  """See :meth:`hyperreg_jax.train.Trainer.fit`."""
  trainer.check_data(*arrays)
  init_key, epoch_keys = trainer.keys(key)
  init_lr = jnp.asarray(init_lr)
  x_train, y_train, x_test, y_test = jax.tree.map(jnp.asarray, arrays)
  data = (x_train, y_train, x_test, y_test)
  state = _init(trainer, init_key, init_lr, x_train[:1])
  records = []
  store = None
  if checkpoint is not None:
    description = dict(
      trainer.describe(), init_lr=float(init_lr), key=jax.random.key_data(key).tolist()
    )
    tag = checkpoint_io.fingerprint(
      description, [None if a is None else np.asarray(a) for a in data]
    )
    store = FitCheckpoints(pathlib.Path(checkpoint) / f"fit-{tag}", max_to_keep, resume)
    _, record = jax.eval_shape(trainer.epoch, state, init_lr, epoch_keys[0], *data)
    state, records = store.restore(state, record)
  epochs = range(len(records), trainer.epochs)
  bar = progress_bar(progress, iterable=epochs, desc="epoch", leave=False)
  for e in bar or epochs:
    state, record = _epoch(trainer, state, init_lr, epoch_keys[e], *data)
    records.append(record)
    if store is not None:
      store.save(state, records)
    if bar is not None:
      bar.set_postfix(
        {k: f"{float(record[k]):.4g}" for k in ("train_loss", "test_accuracy") if k in record}
      )
  if store is not None:
    store.close()
  return state, jax.tree.map(lambda *v: jnp.stack(v), *records)


class FitCheckpoints:
  """The Orbax checkpoints of one :meth:`Trainer.fit` run: one step per finished epoch.

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
