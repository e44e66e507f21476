"""A ``train.fit`` with Orbax checkpoints that SIGKILLs its own process in the middle of an epoch.

Usage: ``python fit_killed.py CHECKPOINT_DIR KILL_AT``: the process kills itself while its
``KILL_AT``-th epoch runs (1-based; at its first batch), after the epochs before it were
checkpointed. The tests import :func:`case` and :func:`epochs_run` to resume the same run.
"""

import os
import signal
import sys

import jax

import hyperreg_jax as hr
from hyperreg_jax import train
from hyperreg_jax.data import synthetic_linear_regression
from hyperreg_jax.models import LinearRegression

EPOCHS = 5
STEPS = 4  # 64 examples in batches of 16
executed = []  # one entry per batch this process trained on
kill = {"at": None}  # the epoch to die in (not a plain global: fit's fingerprint ignores it)


def count_batch(key, x):
  """The augmentation hook of the run: the identity, counting every batch on the host."""
  executed.append(1)
  if kill["at"] is not None and len(executed) == (kill["at"] - 1) * STEPS + 1:
    os.kill(os.getpid(), signal.SIGKILL)
  return x


def epochs_run() -> float:
  """Epochs this process trained since ``executed`` was last cleared."""
  return len(executed) / STEPS


def case():
  """The trainer and the arguments of ``fit``: the same in this process and in the tests."""
  ds = synthetic_linear_regression(num_train=64, num_test=16, dim=2, seed=3)
  trainer = train.Trainer(
    LinearRegression(), make_tx=hr.rkl1, loss="mse", batch_size=16, epochs=EPOCHS
  )
  return trainer, (0.3, jax.random.key(5), ds.x_train, ds.y_train, ds.x_test, ds.y_test)


if __name__ == "__main__":
  import fit_killed  # the module the tests import: the hook's name is part of the run's fingerprint

  fit_killed.kill["at"] = int(sys.argv[2])
  trainer, args = fit_killed.case()
  train.fit(trainer, *args, augment=fit_killed.count_batch, progress=False, checkpoint=sys.argv[1])
  sys.exit("fit finished: the process was not killed")
