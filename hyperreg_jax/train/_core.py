"""The pure, jittable training engine: a step, an epoch, an evaluation, a whole run as one scan.

Module-level pure functions of a :class:`~hyperreg_jax.train.Trainer` (the static
configuration, their first argument), as in Flax's ``examples/mnist/train.py``. The whole of
a training run is one pure function of ``(init_lr, key, data)`` (:func:`run`), so a grid of
initial learning rates and seeds is a ``jax.vmap`` of it, compiled once and sharded like any
other array program::

    trainer = Trainer(model=MLP(), make_tx=lambda lr: hr.rkl1(lr, weight_decay=1e-4),
                      batch_size=128, epochs=2)
    one_run = functools.partial(train.run, trainer)
    sweep = jax.jit(jax.vmap(one_run, in_axes=(0, 0, None, None, None, None)))
    states, history = sweep(ilrs, keys, x_train, y_train, x_test, y_test)

Conventions:

* The optimizer is a **factory** ``make_tx(init_lr) -> optax.GradientTransformation``; the
  initial learning rate enters as data (possibly a traced scalar), so one compiled program
  serves every ILR. Its ``update`` receives the differentiated loss as ``value=``
  (optax's extra arguments, which ``optax.contrib.reduce_on_plateau`` reads); a
  transformation without extra arguments is wrapped by ``optax.with_extra_args_support``
  and ignores it.
* The training loss is the **mean** over the batch by default (``loss_reduction="mean"``):
  softmax cross-entropy with integer labels, or ``0.5 * mean((prediction - y)**2)``.
  ``loss_reduction="sum"`` sums it over the batch instead, as the reproducibility study
  (Saadatnejad et al., 2019) did: the gradient is ``batch_size`` times larger. The
  hyper-regularized rules are 1-homogeneous in (gradient, beta) (Xie et al., 2019; see
  docs/optimizers.md, "ILR and the loss scale"), so the sum moves the ILR axis by ``batch_size`` (an
  ILR ``lr`` with the sum acts like ``batch_size * lr`` with the mean) and a weight decay
  ``wd`` with the sum weighs like ``wd / batch_size`` with the mean. Reported losses
  (``loss``, ``train_loss``, ``test_loss``) are per-example means either way, so curves
  stay comparable. L2 regularisation belongs in the optimizer chain
  (``optax.add_decayed_weights``), not in the loss.
* **Divergence guard.** A step whose loss, new parameters, new batch statistics or new
  optimizer state holds a non-finite value is refused: the old state is kept (the run is
  frozen at its last finite point), ``diverged`` becomes True and ``diverged_at`` records
  that step's index (0-based; the first refused step). Every later step is a no-op. Step
  metrics are NaN from ``diverged_at`` on. The guard is elementwise ``jnp.where`` per run,
  so in a vmapped grid an exploding run never touches its neighbours.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from hyperreg_jax import _validate
from hyperreg_jax._lr_stats import lr_stats
from hyperreg_jax.train import _model
from hyperreg_jax.train._config import Trainer


class TrainState(NamedTuple):
  """The carry of a training run (a pytree; vmappable)."""

  params: Any
  batch_stats: Any  # {} when the model has no batch norm
  opt_state: Any
  step: jax.Array  # shape=(), dtype=int32: steps attempted so far (refused ones included)
  diverged: jax.Array  # shape=(), dtype=bool
  diverged_at: jax.Array  # shape=(), dtype=int32: index of the first refused step, -1 if none


def init_variables(trainer: Trainer, key, sample_x) -> dict:
  """The model's initial ``{"params": ..., "batch_stats": ...}`` (``{}`` without batch norm).

  Shapes come from ``sample_x`` (a batch, e.g. ``x_train[:1]``); ``key`` draws the weights.
  """
  return _model.init_variables(trainer.model, key, sample_x)


def init_state(trainer: Trainer, key, init_lr, sample_x, *, variables=None) -> TrainState:
  """The state before the first step: the model's variables (drawn with ``key``, shapes from
  ``sample_x``; or ``variables`` as :func:`init_variables` returns them) and the optimizer
  state for ``init_lr``."""
  if variables is None:
    variables = init_variables(trainer, key, sample_x)
  params = variables["params"]
  return TrainState(
    params=params,
    batch_stats=variables["batch_stats"],
    opt_state=trainer.make_tx(init_lr).init(params),
    step=jnp.zeros((), jnp.int32),
    diverged=jnp.zeros((), bool),
    diverged_at=jnp.full((), -1, jnp.int32),
  )


def train_step(trainer: Trainer, state: TrainState, init_lr, batch) -> tuple[TrainState, dict]:
  """One guarded optimizer step on ``batch = (x, y)``.

  The differentiated loss is the batch mean or sum (``loss_reduction``); the optimizer's
  ``update`` receives it as ``value=`` (see the module docstring). Returns the new state
  and metrics ``loss`` (mean over the batch, before the step, either way), ``accuracy``
  (classification) and, with ``step_lr_stats``, the ``hr.lr_stats`` of the new optimizer
  state (``lr_min``/``lr_mean``/``lr_max``; the median only per epoch, see :func:`run`).
  Loss and accuracy are NaN on refused steps (see the module docstring).
  """
  x, y = batch
  if trainer.batch_sharding is not None:
    x, y = jax.lax.with_sharding_constraint((x, y), trainer.batch_sharding)

  def loss_fn(params):
    out, batch_stats = _model.apply(trainer.model, params, state.batch_stats, x, train=True)
    per_example = _model.per_example_loss(trainer.loss, out, y, trainer.model)
    reduced = per_example.sum() if trainer.loss_reduction == "sum" else per_example.mean()
    return reduced, (out, batch_stats, per_example.mean())

  (reduced, (out, batch_stats, loss)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
    state.params
  )
  tx = optax.with_extra_args_support(trainer.make_tx(init_lr))
  updates, opt_state = tx.update(grads, state.opt_state, state.params, value=reduced)
  new = (optax.apply_updates(state.params, updates), batch_stats, opt_state)
  ok = ~state.diverged & jnp.isfinite(loss) & _model.all_finite(new)
  params, batch_stats, opt_state = optax.tree.where(
    ok, new, (state.params, state.batch_stats, state.opt_state)
  )
  diverged = ~ok
  diverged_at = jnp.where(diverged & ~state.diverged, state.step, state.diverged_at)
  metrics = {"loss": jnp.where(diverged, jnp.nan, loss)}
  if trainer.classification:
    accuracy = jnp.mean(jnp.argmax(out, axis=-1) == y)
    metrics["accuracy"] = jnp.where(diverged, jnp.nan, accuracy)
  if trainer.step_lr_stats:
    metrics.update(lr_stats(opt_state, median=False))
  new_state = TrainState(params, batch_stats, opt_state, state.step + 1, diverged, diverged_at)
  return new_state, metrics


def batch_order(trainer: Trainer, key, num_examples: int) -> jax.Array | None:
  """The example indices of an epoch's batches, shape ``(steps_per_epoch, batch_size)``.

  ``jax.random.permutation(key, num_examples)``, the last partial batch dropped; ``None`` in
  full-batch mode (``batch_size=None``: every step sees all the data, ``key`` is unused).
  """
  steps = trainer.steps_per_epoch(num_examples)
  if trainer.batch_size is None:
    return None
  order = jax.random.permutation(key, num_examples)[: steps * trainer.batch_size]
  return order.reshape(steps, trainer.batch_size)


def train_epoch(trainer: Trainer, state: TrainState, init_lr, key, x, y) -> tuple[TrainState, dict]:
  """One epoch as one ``lax.scan``; returns per-step metrics of shape (steps_per_epoch,).

  The batches are those of :func:`batch_order` (shuffled with ``key``), each gathered by
  index inside the scan. Full-batch mode (``batch_size=None``): ``full_batch_steps`` steps
  on all of (x, y).
  """
  x, y = jnp.asarray(x), jnp.asarray(y)
  if x.shape[0] != y.shape[0]:
    raise ValueError(f"x has {x.shape[0]} examples but y has {y.shape[0]}.")
  order = batch_order(trainer, key, x.shape[0])
  if order is None:
    body = lambda s, _: train_step(trainer, s, init_lr, (x, y))
    return jax.lax.scan(body, state, None, length=trainer.full_batch_steps)

  def body(s, idx):
    return train_step(trainer, s, init_lr, (jnp.take(x, idx, axis=0), jnp.take(y, idx, axis=0)))

  return jax.lax.scan(body, state, order)


def evaluate(trainer: Trainer, state: TrainState, x, y) -> dict:
  """Mean ``loss`` (and ``accuracy`` for classification) over all of (x, y), eval mode.

  Runs in chunks of ``eval_batch_size`` (``lax.map``) plus one exact remainder chunk,
  summing per-example values and dividing by ``n``: no padding, every example counted
  once.
  """
  x, y = jnp.asarray(x), jnp.asarray(y)
  n = x.shape[0]
  if n == 0 or y.shape[0] != n:
    raise ValueError(
      f"evaluate needs matching, non-empty x and y; got {n} and {y.shape[0]} examples."
    )
  size = min(trainer.eval_batch_size, n)
  num_chunks, rest = divmod(n, size)

  def sums(xc, yc):
    out, _ = _model.apply(trainer.model, state.params, state.batch_stats, xc, train=False)
    s = {"loss": _model.per_example_loss(trainer.loss, out, yc, trainer.model).sum()}
    if trainer.classification:
      s["accuracy"] = jnp.sum(jnp.argmax(out, axis=-1) == yc, dtype=jnp.int32)
    return s

  cut = num_chunks * size
  chunks = (
    x[:cut].reshape((num_chunks, size) + x.shape[1:]),
    y[:cut].reshape((num_chunks, size) + y.shape[1:]),
  )
  total = jax.tree.map(lambda v: v.sum(0), jax.lax.map(lambda c: sums(*c), chunks))
  if rest:
    total = jax.tree.map(jnp.add, total, sums(x[cut:], y[cut:]))
  return {k: v / n for k, v in total.items()}


def epoch_record(
  trainer: Trainer,
  state: TrainState,
  step_metrics: dict,
  x_test=None,
  y_test=None,
  x_train=None,
  y_train=None,
):
  """An epoch's history record from its per-step metrics (stacked, ``(steps,)`` each) and
  the state after it: the row of :func:`run`'s history (see there). The training data is
  needed with ``eval_train=True`` only."""
  record = {"train_loss": step_metrics["loss"].mean()}
  if trainer.classification:
    record["train_accuracy"] = step_metrics["accuracy"].mean()
  if x_test is not None:
    for k, v in evaluate(trainer, state, x_test, y_test).items():
      record[f"test_{k}"] = jnp.where(state.diverged, jnp.nan, v)
  if trainer.eval_train:
    if x_train is None or y_train is None:
      raise ValueError(
        "Trainer(eval_train=True) evaluates the training set after every epoch: pass "
        "x_train and y_train to epoch_record."
      )
    for k, v in evaluate(trainer, state, x_train, y_train).items():
      if k == "loss" and trainer.penalty is not None:
        v = v + _penalty(trainer, state.params)
      record[f"eval_train_{k}"] = jnp.where(state.diverged, jnp.nan, v)
  record.update(lr_stats(state.opt_state))  # the median too, once an epoch
  record.update({f"step_{k}": v for k, v in step_metrics.items()})
  return record


def _penalty(trainer: Trainer, params):
  """``trainer.penalty(params)``, which must be a scalar."""
  value = jnp.asarray(trainer.penalty(params))
  if value.shape != ():
    raise ValueError(
      f"penalty={trainer.penalty!r} must return a scalar, got an array of shape {value.shape}."
    )
  return value


def epoch_keys(trainer: Trainer, key) -> tuple[jax.Array, jax.Array]:
  """``(init key, per-epoch keys)`` of a run's key: ``fold_in(key, 0)`` draws the weights,
  ``split(fold_in(key, 1), epochs)[e]`` shuffles epoch ``e``."""
  return jax.random.fold_in(key, 0), jax.random.split(jax.random.fold_in(key, 1), trainer.epochs)


def run(
  trainer: Trainer, init_lr, key, x_train, y_train, x_test=None, y_test=None, *, variables=None
):
  """The whole training run as one pure function (a ``lax.scan`` over epochs).

  Returns ``(final TrainState, history)``. ``history`` holds arrays with a leading
  epoch axis:

  * per epoch (epochs,): ``train_loss`` and ``train_accuracy`` (means over the epoch's
    steps; NaN from the epoch a run diverges in), ``test_loss`` and ``test_accuracy``
    (after the epoch; only with test data; NaN once diverged), with ``eval_train=True``
    ``eval_train_loss`` (plus ``penalty(params)`` if given) and ``eval_train_accuracy``
    (the whole training set evaluated after the epoch, as the test set; NaN once
    diverged), ``lr_min``/``lr_median``/``lr_mean``/``lr_max`` at the epoch's last step
    (hyper-regularized optimizers only);
  * per step (epochs, steps_per_epoch): ``step_loss``, ``step_accuracy``, and with
    ``step_lr_stats=True`` ``step_lr_min``, ``step_lr_mean``, ``step_lr_max``.

  Keys (:func:`epoch_keys`): the weights from ``fold_in(key, 0)`` unless ``variables`` (as
  :func:`init_variables` returns them) are given; epoch ``e`` shuffles with
  ``split(fold_in(key, 1), epochs)[e]``. Vmap over ``(init_lr, key)`` for a sweep.

  Each epoch's steps run inside the scan; on XLA's CPU backend a convolutional network's
  step runs several times slower there than jitted alone (``benchmarks/bench_conv_scan.py``),
  so train such models with :func:`~hyperreg_jax.train.fit`, which runs the step per batch.

  Called with concrete values, it checks them first (:func:`check_run_inputs`); traced ones
  (inside ``jax.jit`` or ``jax.vmap``, as in :func:`hyperreg_jax.sweep`, which checks them
  on the host before compiling) are not checked.
  """
  check_run_inputs(trainer, init_lr, x_train, y_train, x_test, y_test)
  init_key, keys = epoch_keys(trainer, key)
  state = init_state(trainer, init_key, init_lr, jnp.asarray(x_train)[:1], variables=variables)

  def body(s, k):
    s, m = train_epoch(trainer, s, init_lr, k, x_train, y_train)
    return s, epoch_record(trainer, s, m, x_test, y_test, x_train, y_train)

  return jax.lax.scan(body, state, keys)


def check_run_inputs(trainer: Trainer, init_lr, x_train, y_train, x_test=None, y_test=None):
  """The checks of a training run's inputs, on the host, the same for :func:`run`,
  :func:`~hyperreg_jax.train.fit`, :func:`hyperreg_jax.sweep` and ``python -m hyperreg_jax``
  (each raises the same message for the same bad input).

  A concrete ``init_lr`` must be one finite number > 0 (``hr``'s ``_validate.check_ilr``;
  a sweep checks each of its ILRs so, in its grid check, naming the position); the data
  is checked by :func:`check_data` (once per sweep). Traced values are skipped: the ILR
  (a bad traced one turns only its own run NaN), and the data when any array of it is
  traced.

  Returns:
    What :func:`check_data` returns; ``None`` when the data is traced.
  """
  if isinstance(init_lr, Mapping):  # a grid point of a sweep: {hyperparameter: value}
    _validate.check_ilr(init_lr.get("init_lr"))
  else:
    _validate.check_ilr(init_lr)
  data = (x_train, y_train, x_test, y_test)
  if any(isinstance(a, jax.core.Tracer) for a in data):
    return None
  return check_data(trainer, *data)


def check_data(trainer: Trainer, x_train, y_train, x_test=None, y_test=None):
  """Checks the data, and the model's outputs against the labels, on the host before anything
  compiles (the model's output shape comes from ``jax.eval_shape``: nothing runs).

  Raises a ``ValueError``/``TypeError`` naming the array for an empty training set,
  NaN or infinity, labels outside ``[0, number of model outputs)``, float labels
  with ``loss="cross_entropy"``, or a test half without the other; a ``ValueError``
  naming the loss and both shapes when the model's outputs do not fit the labels (a
  classifier's ``(batch, classes)`` against float targets of shape ``(batch,)`` with
  ``loss="mse"``, say); warns about integer images in 0..255.

  Returns:
    The shape of the model's outputs for one training batch (``None`` when ``x_train``
    holds no numbers: an error was raised then).
  """
  arrays = tuple(None if a is None else np.asarray(a) for a in (x_train, y_train, x_test, y_test))
  x, y = arrays[:2]
  out_shape = None
  if x is not None and x.ndim and x.size and np.issubdtype(x.dtype, np.number):
    size = x.shape[0] if trainer.batch_size is None else min(trainer.batch_size, x.shape[0])
    out_shape = _model.output_shape(trainer.model, x[:size])
  num_classes = None
  if trainer.classification and out_shape is not None and len(out_shape) == 2:
    num_classes = out_shape[-1]
  _validate.check_data(*arrays, classification=trainer.classification, num_classes=num_classes)
  if out_shape is not None:
    y_shape = (out_shape[0], *y.shape[1:])
    _model.check_output(trainer.loss, trainer.model, out_shape, y_shape, labels="y_train")
  return out_shape
