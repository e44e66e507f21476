"""The pure, jittable training engine: a step, an epoch, an evaluation, a whole run as one scan.

The whole of a training run is one pure function of ``(init_lr, key, data)``
(:meth:`Trainer.run`), so a grid of initial learning rates and seeds is a ``jax.vmap`` of it,
compiled once and sharded like any other array program::

    trainer = Trainer(model=MLP(), make_tx=lambda lr: hr.rkl1(lr, weight_decay=1e-4),
                      batch_size=128, epochs=2)
    run = jax.jit(jax.vmap(trainer.run, in_axes=(0, 0, None, None, None, None)))
    states, history = run(ilrs, keys, x_train, y_train, x_test, y_test)

Conventions:

* The optimizer is a **factory** ``make_tx(init_lr) -> optax.GradientTransformation``; the
  initial learning rate enters as data (possibly a traced scalar), so one compiled program
  serves every ILR.
* The training loss is the **mean** over the batch by default (``loss_reduction="mean"``):
  softmax cross-entropy with integer labels, or ``0.5 * mean((prediction - y)**2)``.
  ``loss_reduction="sum"`` sums it over the batch instead, as the reproducibility study did:
  the gradient is ``batch_size`` times larger. Hyper-regularized rules are 1-homogeneous
  (SPEC.md section 1), so the sum moves the ILR axis by ``batch_size`` (an ILR ``lr`` with
  the sum acts like ``batch_size * lr`` with the mean) and a weight decay ``wd`` with the sum
  weighs like ``wd / batch_size`` with the mean. Reported losses (``loss``, ``train_loss``,
  ``test_loss``) are per-example means either way, so curves stay comparable. L2
  regularisation belongs in the optimizer chain (``optax.add_decayed_weights``), not in the
  loss.
* Models are duck-typed: anything with Flax-linen-style ``init(key, x, [train=])`` and
  ``apply(variables, x, [train=], [mutable=["batch_stats"]])``; ``train=`` is passed when the
  model's ``__call__`` accepts it. Flax itself is never imported here.
* **Divergence guard.** A step whose loss, new parameters, new batch statistics or new
  optimizer state holds a non-finite value is refused: the old state is kept (the run is
  frozen at its last finite point), ``diverged`` becomes True and ``diverged_at`` records
  that step's index (0-based; the first refused step). Every later step is a no-op. Step
  metrics are NaN from ``diverged_at`` on. The guard is elementwise ``jnp.where`` per run,
  so in a vmapped grid an exploding run never touches its neighbours.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax

from hyperreg_jax import _validate
from hyperreg_jax import checkpoint as checkpoint_io
from hyperreg_jax._lr_stats import lr_stats
from hyperreg_jax.train import _model

__all__ = ["LOSSES", "LOSS_REDUCTIONS", "TrainState", "Trainer"]

LOSSES = ("cross_entropy", "mse")
LOSS_REDUCTIONS = ("mean", "sum")


class TrainState(NamedTuple):
  """The carry of a training run (a pytree; vmappable)."""

  params: Any
  batch_stats: Any  # {} when the model has no batch norm
  opt_state: Any
  step: jax.Array  # shape=(), dtype=int32: steps attempted so far (refused ones included)
  diverged: jax.Array  # shape=(), dtype=bool
  diverged_at: jax.Array  # shape=(), dtype=int32: index of the first refused step, -1 if none


@dataclasses.dataclass(frozen=True)
class Trainer:
  """Static configuration of a training run, with pure methods (jit/vmap them freely).

  Attributes:
    model: a Flax-linen-like model (hashable: used as a static jit argument).
    make_tx: ``init_lr -> optax.GradientTransformation``; ``init_lr`` may be traced.
    loss: ``"cross_entropy"`` (integer labels; logs accuracy too) or ``"mse"``.
    batch_size: mini-batch size; ``None`` = full batch (no shuffling).
    epochs: number of epochs of :meth:`run` / :meth:`fit`.
    eval_batch_size: chunk size of :meth:`evaluate`.
    full_batch_steps: with ``batch_size=None``, the gradient steps in one "epoch" (the unit
      at which :meth:`run` evaluates and logs); e.g. ``epochs=100, full_batch_steps=200``
      runs 20,000 full-batch steps with 100 evaluations. Must be 1 otherwise.
    batch_sharding: optional sharding of each training batch (data parallelism, see
      :func:`hyperreg_jax.data_parallel`); ``None`` leaves placement to the compiler.
    loss_reduction: ``"mean"`` (default) or ``"sum"``: how the per-example losses of a
      training batch are reduced into the loss that is differentiated (see the module
      docstring). Logged losses are means in both cases.
    step_lr_stats: also log the effective learning rate's ``lr_min``/``lr_mean``/``lr_max``
      after every step (history keys ``step_lr_*``), not only once an epoch. Off by
      default: three more passes over beta per step (about a tenth of an MNIST MLP step
      on a CPU, see ``benchmarks/bench_train_step.py``).
  """

  model: Any
  make_tx: Callable[[Any], optax.GradientTransformation]
  loss: str = "cross_entropy"
  batch_size: Optional[int] = 128
  epochs: int = 1
  eval_batch_size: int = 1000
  full_batch_steps: int = 1
  batch_sharding: Any = None
  loss_reduction: str = "mean"
  step_lr_stats: bool = False

  def __post_init__(self):
    if self.loss not in LOSSES:
      raise ValueError(f"loss={self.loss!r} is not supported; choose one of {LOSSES}.")
    if self.loss_reduction not in LOSS_REDUCTIONS:
      raise ValueError(
        f"loss_reduction={self.loss_reduction!r} is not supported; choose one of {LOSS_REDUCTIONS}."
      )
    _validate.check_int("batch_size", self.batch_size, allow_none=True)
    for name in ("epochs", "eval_batch_size", "full_batch_steps"):
      _validate.check_int(name, getattr(self, name))
    if self.batch_size is not None and self.full_batch_steps != 1:
      raise ValueError(
        f"full_batch_steps={self.full_batch_steps!r} needs batch_size=None "
        f"(got batch_size={self.batch_size!r})."
      )
    if not isinstance(self.step_lr_stats, (bool, np.bool_)):
      raise TypeError(f"step_lr_stats={self.step_lr_stats!r} must be True or False.")
    if not callable(self.make_tx):
      raise ValueError(f"make_tx={self.make_tx!r} must be a callable init_lr -> optax tx.")

  # -- model plumbing -------------------------------------------------------------------

  @property
  def classification(self) -> bool:
    return self.loss == "cross_entropy"

  def steps_per_epoch(self, num_examples: int) -> int:
    """``num_examples // batch_size`` (last partial batch dropped), or ``full_batch_steps``."""
    if self.batch_size is None:
      return self.full_batch_steps
    if self.batch_size > num_examples:
      raise ValueError(
        f"batch_size={self.batch_size} exceeds the {num_examples} training examples."
      )
    return num_examples // self.batch_size

  # -- the pure methods -----------------------------------------------------------------

  def init(self, key, init_lr, sample_x) -> TrainState:
    """Parameters from ``key`` (shapes from ``sample_x``), optimizer state for ``init_lr``."""
    variables = _model.init_variables(self.model, key, sample_x)
    params = variables["params"]
    batch_stats = variables.get("batch_stats", {})
    return TrainState(
      params=params,
      batch_stats=batch_stats,
      opt_state=self.make_tx(init_lr).init(params),
      step=jnp.zeros((), jnp.int32),
      diverged=jnp.zeros((), bool),
      diverged_at=jnp.full((), -1, jnp.int32),
    )

  def train_step(self, state: TrainState, init_lr, batch) -> tuple[TrainState, dict]:
    """One guarded optimizer step on ``batch = (x, y)``.

    The differentiated loss is the batch mean or sum (``loss_reduction``). Returns the new
    state and metrics ``loss`` (mean over the batch, before the step, either way),
    ``accuracy`` (classification) and the ``hr.lr_stats`` of the new optimizer state
    (``lr_min``/``lr_mean``/``lr_max``; the median only per epoch, see :meth:`run`)
    when the optimizer has any. Loss and accuracy
    are NaN on refused steps (see the module docstring).
    """
    x, y = batch
    if self.batch_sharding is not None:
      x, y = jax.lax.with_sharding_constraint((x, y), self.batch_sharding)

    def loss_fn(params):
      out, batch_stats = _model.apply(self.model, params, state.batch_stats, x, train=True)
      per_example = _model.per_example_loss(self.classification, out, y)
      reduced = per_example.sum() if self.loss_reduction == "sum" else per_example.mean()
      return reduced, (out, batch_stats, per_example.mean())

    (_, (out, batch_stats, loss)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    updates, opt_state = self.make_tx(init_lr).update(grads, state.opt_state, state.params)
    new = (optax.apply_updates(state.params, updates), batch_stats, opt_state)
    ok = ~state.diverged & jnp.isfinite(loss) & _model.all_finite(new)
    params, batch_stats, opt_state = optax.tree.where(
      ok, new, (state.params, state.batch_stats, state.opt_state)
    )
    diverged = ~ok
    diverged_at = jnp.where(diverged & ~state.diverged, state.step, state.diverged_at)
    metrics = {"loss": jnp.where(diverged, jnp.nan, loss)}
    if self.classification:
      accuracy = jnp.mean(jnp.argmax(out, axis=-1) == y)
      metrics["accuracy"] = jnp.where(diverged, jnp.nan, accuracy)
    if self.step_lr_stats:
      metrics.update(lr_stats(opt_state, median=False))
    new_state = TrainState(params, batch_stats, opt_state, state.step + 1, diverged, diverged_at)
    return new_state, metrics

  def train_epoch(self, state: TrainState, init_lr, key, x, y) -> tuple[TrainState, dict]:
    """One epoch as one ``lax.scan``; returns per-step metrics of shape (steps_per_epoch,).

    Mini-batch mode: the examples are permuted with ``jax.random.permutation(key, n)``,
    the last partial batch is dropped, and each step gathers its batch by index.
    Full-batch mode (``batch_size=None``): ``full_batch_steps`` steps on all of (x, y);
    ``key`` is unused.
    """
    x, y = jnp.asarray(x), jnp.asarray(y)
    if x.shape[0] != y.shape[0]:
      raise ValueError(f"x has {x.shape[0]} examples but y has {y.shape[0]}.")
    steps = self.steps_per_epoch(x.shape[0])
    if self.batch_size is None:
      body = lambda s, _: self.train_step(s, init_lr, (x, y))  # noqa: E731
      return jax.lax.scan(body, state, None, length=steps)
    order = jax.random.permutation(key, x.shape[0])[: steps * self.batch_size]

    def body(s, idx):
      return self.train_step(s, init_lr, (jnp.take(x, idx, axis=0), jnp.take(y, idx, axis=0)))

    return jax.lax.scan(body, state, order.reshape(steps, self.batch_size))

  def evaluate(self, state: TrainState, x, y) -> dict:
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
    size = min(self.eval_batch_size, n)
    num_chunks, rest = divmod(n, size)

    def sums(xc, yc):
      out, _ = _model.apply(self.model, state.params, state.batch_stats, xc, train=False)
      s = {"loss": _model.per_example_loss(self.classification, out, yc).sum()}
      if self.classification:
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

  def epoch(self, state, init_lr, key, x_train, y_train, x_test=None, y_test=None):
    """One epoch of :meth:`run`: train (:meth:`train_epoch`), evaluate, and return the new
    state and the epoch's history record (each entry one epoch's row of :meth:`run`'s history).
    """
    state, m = self.train_epoch(state, init_lr, key, x_train, y_train)
    record = {"train_loss": m["loss"].mean()}
    if self.classification:
      record["train_accuracy"] = m["accuracy"].mean()
    if x_test is not None:
      for k, v in self.evaluate(state, x_test, y_test).items():
        record[f"test_{k}"] = jnp.where(state.diverged, jnp.nan, v)
    record.update(lr_stats(state.opt_state))  # the median too, once an epoch
    record.update({f"step_{k}": v for k, v in m.items()})
    return state, record

  def keys(self, key):
    """``(init key, per-epoch keys)`` derived from the run's key (see :meth:`run`)."""
    epoch_keys = jax.random.split(jax.random.fold_in(key, 1), self.epochs)
    return jax.random.fold_in(key, 0), epoch_keys

  def run(self, init_lr, key, x_train, y_train, x_test=None, y_test=None):
    """The whole training run as one pure function (a ``lax.scan`` over epochs).

    Returns ``(final TrainState, history)``. ``history`` holds arrays with a leading
    epoch axis:

    * per epoch (epochs,): ``train_loss`` and ``train_accuracy`` (means over the epoch's
      steps; NaN from the epoch a run diverges in), ``test_loss`` and ``test_accuracy``
      (after the epoch; only with test data; NaN once diverged), ``lr_min``/``lr_median``/
      ``lr_mean``/``lr_max`` at the epoch's last step (hyper-regularized optimizers only);
    * per step (epochs, steps_per_epoch): ``step_loss``, ``step_accuracy``, and with
      ``step_lr_stats=True`` ``step_lr_min``, ``step_lr_mean``, ``step_lr_max``.

    Keys: parameters from ``fold_in(key, 0)``, epoch ``e`` shuffles with
    ``split(fold_in(key, 1), epochs)[e]``. Vmap over ``(init_lr, key)`` for a sweep.
    """
    init_key, epoch_keys = self.keys(key)
    state = self.init(init_key, init_lr, jnp.asarray(x_train)[:1])

    def body(s, k):
      return self.epoch(s, init_lr, k, x_train, y_train, x_test, y_test)

    return jax.lax.scan(body, state, epoch_keys)

  def fit(
    self,
    init_lr,
    key,
    x_train,
    y_train,
    x_test=None,
    y_test=None,
    *,
    progress=True,
    checkpoint=None,
    resume=True,
    max_to_keep=1,
  ):
    """:meth:`run` on the host, epoch by epoch, with a progress bar and Orbax checkpoints.

    Same keys, same results and same ``history`` as :meth:`run`; the epoch is jitted once
    per (trainer, data shapes) and reused for every ``init_lr``. The data is checked
    first, on the host (see :meth:`check_data`).

    Args:
      init_lr, key, x_train, y_train, x_test, y_test: as for :meth:`run`.
      progress: show a progress bar over epochs.
      checkpoint: a directory. After every epoch the training state (params, optimizer
        state, batch statistics, step, divergence flags) and the history so far are saved
        there with Orbax (``orbax.checkpoint.CheckpointManager``, one step per finished
        epoch, in ``checkpoint/fit-<fingerprint>/<epoch>/``, the fingerprint naming the
        trainer, ``init_lr``, ``key`` and the data). Calling ``fit`` again with the same
        arguments after an interruption (a kill included) resumes after the last saved
        epoch, with bit-identical results.
      resume: ``False`` deletes what was saved for this run and trains from the start.
      max_to_keep: how many epochs' checkpoints to keep (the latest ones).

    Returns:
      ``(final TrainState, history)`` as :meth:`run`.
    """
    from hyperreg_jax.train import _fit

    return _fit.fit(
      self,
      init_lr,
      key,
      (x_train, y_train, x_test, y_test),
      progress=progress,
      checkpoint=checkpoint,
      resume=resume,
      max_to_keep=max_to_keep,
    )

  def check_data(self, x_train, y_train, x_test=None, y_test=None) -> None:
    """Checks the data on the host before anything compiles.

    Raises a ``ValueError``/``TypeError`` naming the array for an empty training set,
    NaN or infinity, labels outside ``[0, number of model outputs)``, float labels
    with ``loss="cross_entropy"``, or a test half without the other; warns about
    integer images in 0..255.
    """
    arrays = tuple(None if a is None else np.asarray(a) for a in (x_train, y_train, x_test, y_test))
    num_classes = None
    x = arrays[0]
    if self.classification and x is not None and x.size and np.issubdtype(x.dtype, np.number):
      num_classes = _model.num_outputs(self.model, arrays[0][:1])
    _validate.check_data(*arrays, classification=self.classification, num_classes=num_classes)

  def describe(self) -> dict:
    """The configuration as JSON-able values (no memory addresses), for fingerprints.

    The optimizer factory is described by its code, defaults and captured values
    (:func:`hyperreg_jax.checkpoint.describe_callable`), the model by its repr and its
    class's code. Raises ``ValueError`` when ``make_tx`` cannot be described.
    """
    return dict(
      model=repr(self.model),
      model_code=checkpoint_io.describe_callable(type(self.model)),
      make_tx=checkpoint_io.describe_callable(self.make_tx),
      loss=self.loss,
      batch_size=self.batch_size,
      epochs=self.epochs,
      eval_batch_size=self.eval_batch_size,
      full_batch_steps=self.full_batch_steps,
      loss_reduction=self.loss_reduction,
      step_lr_stats=self.step_lr_stats,
    )
