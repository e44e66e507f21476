"""A VGG-16-BN training step inside ``lax.scan`` vs the same step jitted on its own.

Why the VGG experiment runs its epochs step by step from the host: on XLA's CPU backend a
convolutional network's gradient inside a loop body runs several times slower than the
same computation outside one (jax-ml/jax#12868). Both programs below do one SGD step of
``train.train_step`` on the same batch; compilation excluded, best of ``--repeats``.

Run: ``python benchmarks/bench_conv_scan.py [--images 32] [--repeats 3]``.
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import optax
from timing import best_of

from hyperreg_jax import models, train


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--images", type=int, default=32, help="images in the batch")
  parser.add_argument("--repeats", type=int, default=3)
  args = parser.parse_args()
  x = jax.random.normal(jax.random.key(1), (args.images, 32, 32, 3))
  y = jnp.zeros((args.images,), jnp.int32)
  trainer = train.Trainer(models.VGG16BN(), optax.sgd, batch_size=args.images, epochs=1)
  state = train.init_state(trainer, jax.random.key(0), 0.1, x[:1])
  step = jax.jit(lambda s: train.train_step(trainer, s, 0.1, (x, y)))
  scanned = jax.jit(
    lambda s: jax.lax.scan(
      lambda c, _: train.train_step(trainer, c, 0.1, (x, y)), s, None, length=1
    )
  )
  times = {}
  for name, fn in (("jitted step", step), ("the step in lax.scan", scanned)):
    jax.block_until_ready(fn(state))  # compile
    times[name] = best_of(lambda fn=fn: jax.block_until_ready(fn(state)), args.repeats)
    print(f"{name:22s} {times[name]:8.3f} s", flush=True)
  ratio = times["the step in lax.scan"] / times["jitted step"]
  print(f"in lax.scan / jitted: {ratio:.1f}x ({jax.default_backend()}, {args.images} images)")


if __name__ == "__main__":
  main()
