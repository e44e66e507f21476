"""Training: a small configuration, pure jittable functions of it, and one host loop.

As in Flax's ``examples/mnist/train.py``, the engine is module-level pure functions; their
first argument is a :class:`Trainer` (the configuration: model, optimizer factory, loss,
batch size, epochs), static under ``jax.jit``:

* :func:`init_variables`, :func:`init_state`: the model's weights, the state of a run;
* :func:`train_step`: one guarded optimizer step on a batch;
* :func:`train_epoch`: an epoch's steps as one ``lax.scan``; :func:`batch_order` its batches;
* :func:`evaluate`: mean loss (and accuracy) over a data set, in chunks;
* :func:`epoch_record`: an epoch's history record;
* :func:`run`: a whole run as one ``lax.scan`` over epochs, a pure function of
  ``(init_lr, key, data)``: what :func:`hyperreg_jax.sweep` vmaps over a grid;
* :func:`fit`: the host loop: the jitted step per batch (with an optional augmentation),
  an evaluation after every epoch, a progress bar and Orbax checkpoints (resumed bit for
  bit); :class:`FitCheckpoints` are those checkpoints;
* :func:`check_run_inputs`: the host-side checks of a run's ILR and data, before anything
  compiles, the same for every entry point; :func:`check_data` those of the data alone.

Example:
  >>> import jax, optax
  >>> from hyperreg_jax import data, models, train
  >>> ds = data.synthetic_linear_regression(num_train=64, num_test=16)
  >>> trainer = train.Trainer(models.LinearRegression(), optax.sgd, loss="mse",
  ...                         batch_size=16, epochs=2)
  >>> state, history = train.fit(trainer, 0.1, jax.random.key(0), ds.x_train, ds.y_train,
  ...                            ds.x_test, ds.y_test, progress=False)
  >>> history["test_loss"].shape, history["step_loss"].shape
  ((2,), (2, 4))
"""

from hyperreg_jax.train._config import LOSS_REDUCTIONS, LOSSES, Trainer
from hyperreg_jax.train._core import (
  TrainState,
  batch_order,
  check_data,
  check_run_inputs,
  epoch_keys,
  epoch_record,
  evaluate,
  init_state,
  init_variables,
  run,
  train_epoch,
  train_step,
)
from hyperreg_jax.train._fit import FitCheckpoints, fit, progress_bar
from hyperreg_jax.train._model import all_finite

__all__ = [
  "LOSSES",
  "LOSS_REDUCTIONS",
  "FitCheckpoints",
  "TrainState",
  "Trainer",
  "all_finite",
  "batch_order",
  "check_data",
  "check_run_inputs",
  "epoch_keys",
  "epoch_record",
  "evaluate",
  "fit",
  "init_state",
  "init_variables",
  "progress_bar",
  "run",
  "train_epoch",
  "train_step",
]
