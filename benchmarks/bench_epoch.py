"""Time one epoch of the MNIST MLP: the JAX engine against the NumPy reference.

One epoch = all 5,000 embedded MNIST digits (train and test concatenated), mini-batches of
128 (39 steps, the last partial batch dropped), the MLP 784-500-10, and the same optimizer
on both sides: RKL1 (hyper-regularized, exact rule), ILR 1e-2, weight decay 1e-4.

* JAX: ``train.train_epoch`` jitted (one ``lax.scan`` over the mini-batches, shuffling on
  device); compilation excluded; timed to ``block_until_ready``.
* NumPy: ``reference.numpy_mlp.train_mlp`` (manual backprop) with ``HyperRegNumpy``; the
  MLP runs in the parameters' dtype (``--numpy-dtype``, float32 by default); HyperRegNumpy
  does its own arithmetic in float64 and casts the new parameters back.
* Peers: ``optax.sgd`` in the JAX engine and ``SGDNumpy`` in the reference loop.

Each figure is the best of ``--repeats`` epochs. Run: ``python benchmarks/bench_epoch.py``.
"""

from __future__ import annotations

import argparse
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
from timing import best_of

import hyperreg_jax as hr
from hyperreg_jax import train
from hyperreg_jax.data import load_mnist
from hyperreg_jax.models import MLP
from hyperreg_jax.reference import numpy_mlp
from hyperreg_jax.reference.optimizers import HyperRegNumpy

ILR, WEIGHT_DECAY, BATCH = 1e-2, 1e-4, 128


def time_jax(make_tx, x, y, repeats: int) -> float:
  trainer = train.Trainer(MLP(), make_tx, batch_size=BATCH)
  epoch = jax.jit(functools.partial(train.train_epoch, trainer))
  state = train.init_state(trainer, jax.random.key(0), ILR, x[:1])
  key = jax.random.key(1)
  jax.block_until_ready(epoch(state, ILR, key, x, y))  # compile and warm up

  def run():
    jax.block_until_ready(epoch(state, ILR, key, x, y))

  return best_of(run, repeats)


def time_numpy(optimizer, x, y, dtype, repeats: int) -> float:
  params = numpy_mlp.init_mlp_params(seed=0, dtype=dtype)
  x = x.reshape(len(x), -1).astype(dtype)

  def run():
    numpy_mlp.train_mlp(params, x, y, optimizer, epochs=1, batch_size=BATCH, seed=0)

  return best_of(run, repeats)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--numpy-dtype", choices=("float32", "float64"), default="float32")
  args = parser.parse_args()

  ds = load_mnist()
  x_np = np.concatenate([ds.x_train, ds.x_test])
  y_np = np.concatenate([ds.y_train, ds.y_test])
  x, y = jnp.asarray(x_np), jnp.asarray(y_np)
  steps = len(x_np) // BATCH
  dtype = np.dtype(args.numpy_dtype)

  print(
    f"MNIST MLP 784-500-10, {len(x_np)} images, batch {BATCH} ({steps} steps/epoch), "
    f"best of {args.repeats}"
  )
  print(
    f"jax {jax.__version__} on {jax.devices()[0].platform} "
    f"({jax.device_count()} device(s)); numpy {np.__version__}, MLP in {dtype.name}"
  )
  rows = [
    (
      "JAX   rkl1 (hr.rkl1, train_epoch jitted)",
      time_jax(lambda lr: hr.rkl1(lr, weight_decay=WEIGHT_DECAY), x, y, args.repeats),
    ),
    (
      "NumPy rkl1 (HyperRegNumpy + numpy_mlp)",
      time_numpy(
        HyperRegNumpy("rkl", 1, init_lr=ILR, weight_decay=WEIGHT_DECAY),
        x_np,
        y_np,
        dtype,
        args.repeats,
      ),
    ),
    (
      "JAX   sgd  (optax.sgd, train_epoch jitted)",
      time_jax(
        lambda lr: optax.chain(optax.add_decayed_weights(WEIGHT_DECAY), optax.sgd(lr)),
        x,
        y,
        args.repeats,
      ),
    ),
    (
      "NumPy sgd  (SGDNumpy + numpy_mlp)",
      time_numpy(
        numpy_mlp.SGDNumpy(ILR, weight_decay=WEIGHT_DECAY), x_np, y_np, dtype, args.repeats
      ),
    ),
  ]
  for name, seconds in rows:
    print(f"{name:46s} {seconds * 1e3:9.1f} ms/epoch  {seconds / steps * 1e6:9.0f} us/step")
  jax_rkl1, np_rkl1, jax_sgd, np_sgd = (s for _, s in rows)
  print(f"NumPy / JAX, rkl1: {np_rkl1 / jax_rkl1:.2f}x")
  print(f"NumPy / JAX, sgd:  {np_sgd / jax_sgd:.2f}x")
  print(f"rkl1 / sgd,  JAX:  {jax_rkl1 / jax_sgd:.2f}x   NumPy: {np_rkl1 / np_sgd:.2f}x")


if __name__ == "__main__":
  main()
