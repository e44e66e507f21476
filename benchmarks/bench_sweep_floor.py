"""What a sweep of K lanes can gain on this machine at best, without the library.

Two hand-written measurements, the floors behind the sweep rows of issue 12:

* MNIST MLP: the first layer's forward product and weight gradient for a batch of 128
  (``x @ W`` and ``x.T @ delta``, 784 x 500), 8 lanes computed three ways: one shared
  product over all lanes' weights side by side, a batched product, 8 separate products;
  and one lane alone. A sweep does the same floating-point work as the runs one after
  another; it can only be faster if the larger products run at a higher rate.
* Linear regression (1000 examples, 2 features, full batch, as in ``bench_sweep.py``):
  the bare gradient step written by hand with explicit ``(examples, lanes)`` matrices, in
  a ``lax.scan`` of 1000 steps, for K lanes, against one whole library run (rkl1,
  ``train.run``, guard and logging included) per step. A sweep's step holds at least
  that bare gradient step for K lanes, so ``K x (library step) / (bare K-lane step)``
  bounds the sweep ratio of ``bench_sweep.py`` from above.

Prints milliseconds (or microseconds) per call and the rates; never pass/fail.

    python benchmarks/bench_sweep_floor.py [--k 8] [--repeats 20]
"""

from __future__ import annotations

import argparse
import functools

import jax
import jax.numpy as jnp
import numpy as np
from timing import best_of

BATCH, INPUTS, HIDDEN = 128, 784, 500
EXAMPLES, FEATURES, STEPS = 1000, 2, 1000


def mlp_first_layer(k: int, repeats: int) -> None:
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.standard_normal((BATCH, INPUTS)), jnp.float32)
  w = jnp.asarray(rng.standard_normal((k, INPUTS, HIDDEN)), jnp.float32)
  delta = jnp.asarray(rng.standard_normal((k, BATCH, HIDDEN)), jnp.float32)

  def shared(x, w, delta):  # all lanes' weights side by side: one product each way
    wide = jnp.moveaxis(w, 0, 1).reshape(INPUTS, k * HIDDEN)
    out = x @ wide
    grad = x.T @ jnp.moveaxis(delta, 0, 1).reshape(BATCH, k * HIDDEN)
    return out, grad

  def batched(x, w, delta):
    return jnp.einsum("bi,kio->kbo", x, w), jnp.einsum("bi,kbo->kio", x, delta)

  def separate(x, w, delta):
    return [(x @ w[i], x.T @ delta[i]) for i in range(k)]

  def one(x, w, delta):
    return x @ w[0], x.T @ delta[0]

  flop = 2 * 2 * BATCH * INPUTS * HIDDEN  # two products per lane
  print(f"MLP first layer, forward + weight gradient, batch {BATCH}, {INPUTS} x {HIDDEN}:")
  for name, fn, lanes in (
    ("one lane", one, 1),
    (f"{k} lanes, one shared product", shared, k),
    (f"{k} lanes, batched product", batched, k),
    (f"{k} lanes, {k} separate products", separate, k),
  ):
    f = jax.jit(fn)
    seconds = best_of(lambda: jax.block_until_ready(f(x, w, delta)), repeats, warmup=2)  # noqa: B023
    print(
      f"  {name:34s} {seconds * 1e3:7.2f} ms  {lanes * flop / seconds / 1e9:6.1f} GFLOP/s"
      f"  ({seconds / lanes * 1e3:.2f} ms per lane)"
    )


def library_step(repeats: int) -> float:
  """Seconds per step of one whole library run of bench_sweep.py's linear regression."""
  from hyperreg_jax import data, make_optimizer, models, train

  reg = data.synthetic_linear_regression(num_train=EXAMPLES, num_test=200, dim=FEATURES)
  arrays = (reg.x_train, reg.y_train, reg.x_test, reg.y_test)
  trainer = train.Trainer(
    models.LinearRegression(),
    make_optimizer("rkl1"),
    loss="mse",
    batch_size=None,
    epochs=20,
    full_batch_steps=50,
  )
  run = jax.jit(functools.partial(train.run, trainer))
  seconds = best_of(
    lambda: jax.device_get(run(jnp.float32(0.1), jax.random.key(0), *arrays)[1]), repeats, 1
  )
  return seconds / (20 * 50)


def linear_regression_steps(k: int, repeats: int) -> None:
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.standard_normal((EXAMPLES, FEATURES)), jnp.float32)
  y = jnp.asarray(rng.standard_normal(EXAMPLES), jnp.float32)

  def run(lanes):
    def steps(lr):
      def body(carry, _):
        w, b = carry
        r = x @ w + b - y[:, None]  # (examples, lanes)
        loss = 0.5 * jnp.mean(r * r, axis=0)
        return (w - lr * (x.T @ r) / EXAMPLES, b - lr * r.mean(0)), loss

      start = (jnp.zeros((FEATURES, lanes)), jnp.zeros(lanes))
      return jax.lax.scan(body, start, None, length=STEPS)[1]

    f = jax.jit(steps)
    return best_of(lambda: jax.block_until_ready(f(0.1)), repeats, warmup=1) / STEPS

  bare_one, bare_many, library = run(1), run(k), library_step(repeats)
  print(
    f"Linear regression, {EXAMPLES} x {FEATURES}, full batch, per step:\n"
    f"  bare gradient step by hand: 1 lane {bare_one * 1e6:6.2f} us, {k} lanes "
    f"{bare_many * 1e6:6.2f} us\n"
    f"  one library run (rkl1, guard and logging): {library * 1e6:6.2f} us\n"
    f"  so, with this step, a sweep of {k} is at most {k * library / bare_many:.2f}x faster "
    f"than {k} runs"
  )


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--k", type=int, default=8)
  parser.add_argument("--repeats", type=int, default=20)
  args = parser.parse_args()
  print(f"jax {jax.__version__} on {jax.default_backend()}; best of {args.repeats}")
  mlp_first_layer(args.k, args.repeats)
  linear_regression_steps(args.k, args.repeats)


if __name__ == "__main__":
  main()
