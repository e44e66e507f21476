"""K ILRs in one sweep call vs the same K runs one after another, in the same process.

Both sides are compiled before timing (the sequential side compiles ``trainer.run``
once, the ILR being data) and both include getting the results to the host. Prints
the ratio sequential / sweep for linear regression and the MNIST MLP.

    python benchmarks/bench_sweep.py [--k 8] [--repeats 3]
"""

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

import hyperreg_jax as hr
from hyperreg_jax import data, models
from hyperreg_jax.sweep import make_optimizer
from hyperreg_jax.train import Trainer


def best_time(fn, repeats):
  fn()  # compile and warm up
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return min(times)


def compare(name, model, arrays, k, repeats, **config):
  ilrs = np.logspace(-2, 0, k)
  trainer = Trainer(model=model, make_tx=make_optimizer("rkl1"), **config)
  run = jax.jit(trainer.run)

  def sequential():
    for ilr in ilrs:
      _, history = run(jnp.float32(ilr), jax.random.key(0), *arrays)
      jax.device_get(history)

  def swept():
    hr.sweep(model, arrays, ["rkl1"], ilrs, seeds=[0], progress=False, **config)

  t_seq, t_sweep = best_time(sequential, repeats), best_time(swept, repeats)
  print(f"{name:<34} K={k:<3} sequential {t_seq * 1e3:9.1f} ms   sweep {t_sweep * 1e3:9.1f} ms"
        f"   sequential / sweep = {t_seq / t_sweep:5.2f}x")
  return t_seq / t_sweep


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--k", type=int, nargs="+", default=[8])
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--skip-mlp", action="store_true")
  args = parser.parse_args()
  print(f"jax {jax.__version__} on {jax.default_backend()} ({jax.device_count()} device(s)); "
        "rule rkl1, one seed, compile excluded on both sides")
  reg = data.synthetic_linear_regression(num_train=1000, num_test=200, dim=2)
  mnist = data.load_mnist()
  for k in args.k:
    compare("linear regression, full batch", models.LinearRegression(),
            (reg.x_train, reg.y_train, reg.x_test, reg.y_test), k, args.repeats,
            loss="mse", batch_size=None, epochs=20, full_batch_steps=50)
    if not args.skip_mlp:
      compare("MNIST MLP 784-500-10, 4000 images", models.MLP(),
              (mnist.x_train, mnist.y_train, mnist.x_test, mnist.y_test), k, args.repeats,
              loss="cross_entropy", batch_size=128, epochs=1)


if __name__ == "__main__":
  main()
