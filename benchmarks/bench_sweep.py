"""K ILRs in one sweep call vs the same K runs one after another, in the same process.

Two measurements, both including getting the results to the host:

* cold: each sequential run is its own compiled program (as K separate trainings,
  e.g. K invocations of a script, would be) against one sweep that compiles once;
* warm: compilation excluded on both sides (the sequential side reuses one compiled
  ``train.run``, the ILR being data): the pure cost of running K runs vectorised.

Prints the ratios sequential / sweep for linear regression and the MNIST MLP, and beside
the warm ratio the goal of issue 12: at least 5x for linear regression and 1.5x for the
MLP, at K = 8. Benchmarks are never pass/fail tests: a missed goal is reported, not
raised. ``--warm-only`` skips the cold measurement (minutes for the MLP).

    python benchmarks/bench_sweep.py [--k 8] [--repeats 3] [--warm-only]
"""

import argparse
import functools
import time

import jax
import jax.numpy as jnp
import numpy as np
from timing import best_of

import hyperreg_jax as hr
from hyperreg_jax import data, make_optimizer, models, train

# Goals of issue 12 for the warm ratio sequential / sweep, at K = 8.
GOAL = {"linear regression": 5.0, "MLP": 1.5}
LINREG, MLP_NAME = "linear regression, full batch", "MNIST MLP 784-500-10, 4000 images"


def goal_of(name: str) -> float:
  return GOAL["MLP"] if "MLP" in name else GOAL["linear regression"]


def fresh_rkl1():
  """A new factory each call, so nothing compiled before is reused."""
  return lambda lr: hr.rkl1(lr)


def compare(name, model, arrays, k, repeats, cold=True, **config):
  """Prints the cold and warm timings; returns the warm ``(sequential s, sweep s)``."""
  ilrs = np.logspace(-2, 0, k)

  def sequential(run=None):
    """``run=None``: cold, a new compiled program per ILR; else reuse ``run``."""
    for ilr in ilrs:
      trainer = train.Trainer(model=model, make_tx=fresh_rkl1(), **config)
      _, history = (run or jax.jit(functools.partial(train.run, trainer)))(
        jnp.float32(ilr), jax.random.key(0), *arrays
      )
      jax.device_get(history)

  def swept(factory=None):
    hr.sweep(
      model, arrays, {"rkl1": factory or fresh_rkl1()}, ilrs, seeds=[0], progress=False, **config
    )

  if cold:
    start = time.perf_counter()
    sequential()
    t_seq_cold = time.perf_counter() - start
    start = time.perf_counter()
    swept()
    t_sweep_cold = time.perf_counter() - start
    print(
      f"{name:<34} K={k:<3} cold: sequential {t_seq_cold:7.2f} s   sweep {t_sweep_cold:7.2f} s"
      f"   ratio {t_seq_cold / t_sweep_cold:5.2f}x"
    )
  factory = make_optimizer("rkl1")
  warm_run = jax.jit(
    functools.partial(train.run, train.Trainer(model=model, make_tx=factory, **config))
  )
  t_seq = best_of(lambda: sequential(warm_run), repeats, warmup=1)
  t_sweep = best_of(lambda: swept(factory), repeats, warmup=1)
  ratio = t_seq / t_sweep
  verdict = ""
  if k == 8:
    verdict = f"   goal >= {goal_of(name):.1f}x: {'met' if ratio >= goal_of(name) else 'MISSED'}"
  print(
    f"{name if not cold else '':<34} {f'K={k}' if not cold else '':<5} warm: sequential "
    f"{t_seq:7.3f} s   sweep {t_sweep:7.3f} s   ratio {ratio:5.2f}x{verdict}"
  )
  return t_seq, t_sweep


def linear_regression_case():
  reg = data.synthetic_linear_regression(num_train=1000, num_test=200, dim=2)
  arrays = (reg.x_train, reg.y_train, reg.x_test, reg.y_test)
  config = {"loss": "mse", "batch_size": None, "epochs": 20, "full_batch_steps": 50}
  return LINREG, models.LinearRegression(), arrays, config


def mlp_case():
  mnist = data.load_mnist()
  arrays = (mnist.x_train, mnist.y_train, mnist.x_test, mnist.y_test)
  config = {"loss": "cross_entropy", "batch_size": 128, "epochs": 1}
  return MLP_NAME, models.MLP(), arrays, config


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--k", type=int, nargs="+", default=[8])
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--skip-mlp", action="store_true")
  parser.add_argument("--warm-only", action="store_true", help="skip the cold measurement")
  args = parser.parse_args()
  print(
    f"jax {jax.__version__} on {jax.default_backend()} ({jax.device_count()} device(s)); "
    "rule rkl1, one seed; ratio = sequential / sweep"
  )
  cases = [linear_regression_case()] + ([] if args.skip_mlp else [mlp_case()])
  for k in args.k:
    for name, model, arrays, config in cases:
      compare(name, model, arrays, k, args.repeats, cold=not args.warm_only, **config)


if __name__ == "__main__":
  main()
