"""An ILR sweep on the embedded MNIST digits, offline, in one command.

    python -m hyperreg_jax [--variants rkl1 rkl2 kl2 sgd] [--ilrs 0.01 0.1 1 10 100]
                           [--epochs 3] [--seeds 0] [--out results/mnist_sweep]

Trains the paper's MLP 784-500(sigmoid)-10 with every variant at every initial
learning rate (one compiled, vmapped program per variant, sharded over all
devices), prints the final training loss and test accuracy per variant and ILR,
marks the runs that diverged, and saves the result (``.npz`` + ``.json``), a tidy
``.csv`` and the learning-rate sensitivity plot (``.png``). Finished pieces are
kept in ``OUT_pieces/``: run the same command again after an interruption and it
resumes.
"""

import argparse
import os

import jax
import numpy as np

import hyperreg_jax as hr
from hyperreg_jax import data, models
from hyperreg_jax.sweep import variant_names


def parse_args(argv=None):
  parser = argparse.ArgumentParser(
    prog="python -m hyperreg_jax", description=__doc__.splitlines()[0]
  )
  parser.add_argument(
    "--variants",
    nargs="+",
    default=["rkl1", "rkl2", "kl2", "sgd"],
    choices=variant_names(),
    metavar="NAME",
    help=f"optimizers, from: {' '.join(variant_names())}",
  )
  parser.add_argument(
    "--ilrs",
    nargs="+",
    type=float,
    default=[0.01, 0.1, 1.0, 10.0, 100.0],
    help="initial learning rates (the loss is a batch mean)",
  )
  parser.add_argument("--seeds", nargs="+", type=int, default=[0])
  parser.add_argument("--epochs", type=int, default=3)
  parser.add_argument("--batch-size", type=int, default=128)
  parser.add_argument(
    "--num-train", type=int, default=4000, help="training digits to use (at most 4000 embedded)"
  )
  parser.add_argument(
    "--out", default=os.path.join("results", "mnist_sweep"), help="where to save (path prefix)"
  )
  parser.add_argument(
    "--no-resume", action="store_true", help="train everything again instead of reusing OUT_pieces/"
  )
  return parser.parse_args(argv)


def main(argv=None):
  args = parse_args(argv)
  mnist = data.load_mnist()
  n = min(args.num_train, mnist.num_train)
  print(
    f"MNIST (embedded subset): {n} training / {mnist.num_test} test digits; "
    f"MLP 784-500-10; batch {args.batch_size}; {args.epochs} epochs; "
    f"weight decay 1e-4; {jax.device_count()} {jax.default_backend()} device(s)"
  )
  try:
    result = hr.sweep(
      models.MLP(),
      (mnist.x_train[:n], mnist.y_train[:n], mnist.x_test, mnist.y_test),
      args.variants,
      args.ilrs,
      seeds=args.seeds,
      epochs=args.epochs,
      batch_size=args.batch_size,
      checkpoint=None if args.no_resume else args.out + "_pieces",
    )
  except ValueError as err:  # bad arguments: say which, without a traceback
    raise SystemExit(f"python -m hyperreg_jax: error: {err}") from None
  print("\nfinal training loss (mean over seeds):")
  print(result.summary("train_loss"))
  print("\nfinal test accuracy (mean over seeds):")
  print(result.summary("test_accuracy"))
  for v, k, s in zip(*np.nonzero(result.diverged)):
    print(
      f"  {result.variants[v]} at ILR {result.ilrs[k]:g}, seed {result.seeds[s]}: "
      f"non-finite at step {result.diverged_at[v, k, s]}, frozen there"
    )
  os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
  npz, js = result.save(args.out)
  result.to_csv(args.out + ".csv")
  saved = [npz, js, args.out + ".csv"]
  try:
    import matplotlib

    matplotlib.use("Agg")
    ax = result.plot_sensitivity()
    ax.set_title("MNIST MLP: final training loss vs initial learning rate")
    ax.figure.tight_layout()
    ax.figure.savefig(args.out + ".png", dpi=120)
    saved.append(args.out + ".png")
  except ImportError:
    print("(matplotlib not installed: no plot; pip install 'hyperreg_jax[experiments]')")
  print("\nsaved: " + ", ".join(saved))


if __name__ == "__main__":
  main()
