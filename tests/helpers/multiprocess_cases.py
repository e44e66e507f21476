"""The configurations run by several processes at once and by one, for comparison."""

import functools

import jax
import numpy as np

import hyperreg_jax as hr
from hyperreg_jax import data, models, train
from hyperreg_jax.train import Trainer

REGRESSION = data.synthetic_linear_regression(num_train=64, num_test=16, dim=3, seed=2)
ILRS = np.array([0.05, 1e30, 0.5, 0.2, 0.01])  # 5 runs, never a multiple of 4 devices
SEEDS = [0, 1]
VARIANTS = ["rkl1", "sgd"]


def grid_sweep(checkpoint=None):
  """2 variants x 5 ILRs x 2 seeds; ``max_parallel=4`` makes 2 chunks: 8 pieces."""
  return hr.sweep(
    models.LinearRegression(),
    REGRESSION,
    VARIANTS,
    ILRS,
    seeds=SEEDS,
    epochs=2,
    batch_size=16,
    max_parallel=4,
    progress=False,
    checkpoint=checkpoint,
  )


def mnist_subset():
  mnist = data.load_mnist()
  return mnist.x_train[:128], mnist.y_train[:128], mnist.x_test[:64], mnist.y_test[:64]


def mlp_trainer(parallel: bool) -> Trainer:
  trainer = Trainer(model=models.MLP(hidden=16), make_tx=hr.rkl1, batch_size=32, epochs=2)
  return hr.data_parallel(trainer) if parallel else trainer


def run(trainer: Trainer):
  """``train.run`` jitted, as host arrays: (params leaves, history)."""
  state, history = jax.jit(functools.partial(train.run, trainer))(
    0.5, jax.random.key(0), *mnist_subset()
  )
  return _host(jax.tree.leaves(state.params)), _host(history)


def fit(trainer: Trainer, checkpoint=None):
  """``train.fit`` as host arrays: (params leaves, history)."""
  state, history = train.fit(
    trainer, 0.5, jax.random.key(0), *mnist_subset(), progress=False, checkpoint=checkpoint
  )
  return _host(jax.tree.leaves(state.params)), _host(history)


def _host(tree):
  """Host copies of (replicated) arrays; with several processes, this process's copy."""
  return jax.tree.map(lambda a: np.asarray(a.addressable_data(0)), tree)
