"""The configurations compared between a single-device and a multi-device process."""

import numpy as np

import hyperreg_jax as hr
from hyperreg_jax import data, models, train

REGRESSION = data.synthetic_linear_regression(num_train=64, num_test=16, dim=3, seed=2)
ILRS = np.array([0.05, 1e30, 0.5, 0.2, 0.01])  # 5 runs: never a multiple of 2 or 4 devices


def grid_sweep(max_parallel=None):
  return hr.sweep(
    models.LinearRegression(),
    REGRESSION,
    ["rkl1", "sgd"],
    ILRS,
    seeds=[0],
    epochs=2,
    batch_size=16,
    max_parallel=max_parallel,
    progress=False,
  )


def data_parallel_fit(devices=None):
  """A small MLP trained with its batch sharded over ``devices`` (default: all)."""
  import jax

  mnist = data.load_mnist()
  trainer = hr.data_parallel(
    hr.train.Trainer(
      model=models.MLP(hidden=32), make_tx=lambda lr: hr.rkl1(lr), batch_size=32, epochs=2
    ),
    devices=devices,
  )
  state, history = train.fit(
    trainer, 0.5, jax.random.key(0), mnist.x_train[:256], mnist.y_train[:256], progress=False
  )
  return state.params, jax.tree.map(np.asarray, history)


def data_parallel_hlo_all_reduces():
  """Number of all-reduce ops in the compiled data-parallel epoch (gradient averaging)."""
  import jax
  import jax.numpy as jnp

  mnist = data.load_mnist()
  trainer = hr.data_parallel(
    hr.train.Trainer(model=models.MLP(hidden=32), make_tx=hr.rkl1, batch_size=32, epochs=1)
  )
  state = train.init_state(trainer, jax.random.key(0), 0.5, mnist.x_train[:1])
  x, y = jnp.asarray(mnist.x_train[:256]), jnp.asarray(mnist.y_train[:256])
  epoch = jax.jit(train.train_epoch, static_argnums=0)
  lowered = epoch.lower(trainer, state, jnp.asarray(0.5), jax.random.key(1), x, y)
  return lowered.compile().as_text().count("all-reduce")
