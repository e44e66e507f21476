"""A ``Trainer.fit`` with Orbax checkpoints that SIGKILLs its own process in the middle of an epoch.

Usage: ``python fit_killed.py CHECKPOINT_DIR KILL_AT``: the process kills itself while its
``KILL_AT``-th epoch runs (1-based), after the epochs before it were checkpointed. The tests
import :func:`case` and :class:`CountingTrainer` to resume the same run.
"""

import os
import signal
import sys

import jax

import hyperreg_jax as hr
from hyperreg_jax.data import synthetic_linear_regression
from hyperreg_jax.models import LinearRegression
from hyperreg_jax.train import Trainer

EPOCHS = 5
executed = []  # one entry per epoch this process ran
kill_at = None


def _on_epoch():
  executed.append(1)
  if kill_at is not None and len(executed) == kill_at:
    os.kill(os.getpid(), signal.SIGKILL)


class CountingTrainer(Trainer):
  """A trainer whose every executed epoch is counted on the host (``jax.debug.callback``)."""

  def epoch(self, state, init_lr, key, *data):
    jax.debug.callback(_on_epoch)
    return super().epoch(state, init_lr, key, *data)


def case(trainer_type=CountingTrainer):
  """The trainer and the arguments of ``fit``: the same in this process and in the tests."""
  ds = synthetic_linear_regression(num_train=64, num_test=16, dim=2, seed=3)
  trainer = trainer_type(
    LinearRegression(), make_tx=hr.rkl1, loss="mse", batch_size=16, epochs=EPOCHS
  )
  return trainer, (0.3, jax.random.key(5), ds.x_train, ds.y_train, ds.x_test, ds.y_test)


if __name__ == "__main__":
  kill_at = int(sys.argv[2])
  trainer, args = case()
  trainer.fit(*args, progress=False, checkpoint=sys.argv[1])
  sys.exit("fit finished: the process was not killed")
