"""The configuration of a training run, :class:`Trainer`: a small frozen dataclass, checked when
it is built, that the engine's pure functions take as their first (static) argument."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import optax

from hyperreg_jax import _validate
from hyperreg_jax import checkpoint as checkpoint_io

#: The losses a Trainer knows by name.
LOSSES = ("cross_entropy", "mse")
#: How the loss is reduced over a batch, the mean (the default) or the sum (the study's units).
LOSS_REDUCTIONS = ("mean", "sum")


@dataclasses.dataclass(frozen=True)
class Trainer:
  """What a training run does, as data (hashable: the engine's static argument).

  The engine is a set of pure functions of a ``Trainer`` (:func:`~hyperreg_jax.train.train_step`,
  :func:`~hyperreg_jax.train.train_epoch`, :func:`~hyperreg_jax.train.evaluate`,
  :func:`~hyperreg_jax.train.run`) and one host loop (:func:`~hyperreg_jax.train.fit`).

  Attributes:
    model: a Flax linen module (or any object with linen-style ``init(key, x, [train=])``
      and ``apply(variables, x, [train=], [mutable=["batch_stats"]])``), a Flax NNX module,
      or a pair ``(init, apply)`` of pure functions: ``init(key, x) -> params`` and
      ``apply(params, x) -> outputs``, where ``x`` is a batch. An NNX module's variables
      are taken when the trainer is built (later changes to the module do not reach it);
      they are its initial weights for every key.
    make_tx: ``init_lr -> optax.GradientTransformation``; ``init_lr`` may be traced.
    loss: ``"cross_entropy"`` (integer labels; logs accuracy too) or ``"mse"``.
    batch_size: mini-batch size; ``None`` = full batch (no shuffling).
    epochs: number of epochs of :func:`~hyperreg_jax.train.run` and
      :func:`~hyperreg_jax.train.fit`.
    eval_batch_size: chunk size of :func:`~hyperreg_jax.train.evaluate`.
    full_batch_steps: with ``batch_size=None``, the gradient steps in one "epoch" (the unit
      at which a run evaluates and logs); e.g. ``epochs=100, full_batch_steps=200``
      runs 20,000 full-batch steps with 100 evaluations. Must be 1 otherwise.
    batch_sharding: optional sharding of each training batch (data parallelism, see
      :func:`hyperreg_jax.data_parallel`); ``None`` leaves placement to the compiler.
    loss_reduction: ``"mean"`` (default) or ``"sum"``: how the per-example losses of a
      training batch are reduced into the loss that is differentiated (see
      :mod:`hyperreg_jax.train`). Logged losses are means in both cases.
    step_lr_stats: also log the effective learning rate's ``lr_min``/``lr_mean``/``lr_max``
      after every step (history keys ``step_lr_*``), not only once an epoch. Off by
      default: three more passes over beta per step (about a tenth of an MNIST MLP step
      on a CPU, see ``benchmarks/bench_train_step.py``).
    eval_train: after every epoch also evaluate the whole training set (eval mode, the
      weights at the end of the epoch, chunked as the test set): history keys
      ``eval_train_loss`` and ``eval_train_accuracy``, the reproducibility study's training
      loss (``train_loss`` is the mean of the epoch's batch losses, each before its step).
    penalty: ``penalty(params) -> scalar`` added to ``eval_train_loss`` only (the
      regularised objective, e.g. the L2 term the study reported with its loss); not
      differentiated and not part of the training loss (L2 belongs in the optimizer
      chain). Needs ``eval_train=True``.

  Example:
    >>> import optax
    >>> from hyperreg_jax import models
    >>> trainer = Trainer(models.MLP(), optax.sgd, batch_size=128, epochs=2)
    >>> trainer.steps_per_epoch(1000)
    7
  """

  model: Any
  make_tx: Callable[[Any], optax.GradientTransformation]
  loss: str = "cross_entropy"
  batch_size: int | None = 128
  epochs: int = 1
  eval_batch_size: int = 1000
  full_batch_steps: int = 1
  batch_sharding: Any = None
  loss_reduction: str = "mean"
  step_lr_stats: bool = False
  eval_train: bool = False
  penalty: Callable[[Any], Any] | None = None

  def __post_init__(self):
    from hyperreg_jax.train import _model

    object.__setattr__(self, "model", _model.as_model(self.model))
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
    for name in ("step_lr_stats", "eval_train"):
      if not isinstance(getattr(self, name), (bool, np.bool_)):
        raise TypeError(f"{name}={getattr(self, name)!r} must be True or False.")
    if self.penalty is not None and not callable(self.penalty):
      raise TypeError(f"penalty={self.penalty!r} must be None or a callable params -> scalar.")
    if self.penalty is not None and not self.eval_train:
      raise ValueError(
        f"penalty={self.penalty!r} is added to eval_train_loss only: it needs eval_train=True "
        f"(got eval_train={self.eval_train!r})."
      )
    if not callable(self.make_tx):
      raise ValueError(f"make_tx={self.make_tx!r} must be a callable init_lr -> optax tx.")

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


def describe(trainer: Trainer) -> dict:
  """The configuration as JSON-able values (no memory addresses), for fingerprints.

  The optimizer factory and the penalty are described by their code, defaults and captured
  values (:func:`hyperreg_jax.checkpoint.describe_callable`), the model by
  :func:`hyperreg_jax.train._model.describe`. Raises ``ValueError`` when ``make_tx`` or
  ``penalty`` cannot be described.
  """
  from hyperreg_jax.train import _model

  return dict(
    model=_model.describe(trainer.model),
    make_tx=checkpoint_io.describe_callable(trainer.make_tx),
    loss=trainer.loss,
    batch_size=trainer.batch_size,
    epochs=trainer.epochs,
    eval_batch_size=trainer.eval_batch_size,
    full_batch_steps=trainer.full_batch_steps,
    loss_reduction=trainer.loss_reduction,
    step_lr_stats=trainer.step_lr_stats,
    eval_train=trainer.eval_train,
    penalty=None if trainer.penalty is None else checkpoint_io.describe_callable(trainer.penalty),
  )
