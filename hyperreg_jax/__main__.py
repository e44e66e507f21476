"""An ILR sweep on the embedded MNIST digits, offline, in one command.

    python -m hyperreg_jax [--variants rkl1 rkl2 kl2 sgd] [--ilrs 0.01 0.1 1 10 100]
                           [--epochs 3] [--seeds 0] [--out results/mnist_sweep]

Trains the paper's MLP 784-500(sigmoid)-10 with every variant at every initial
learning rate (one compiled, vmapped program per variant, sharded over all
devices), prints the final training loss and test accuracy per variant and ILR,
marks the runs that diverged, and saves the result (``.npz`` + ``.json``), a tidy
``.csv`` and the learning-rate sensitivity plot (``.png``). Finished pieces are
kept in ``OUT_pieces/``: run the same command again after an interruption (Ctrl-C
included) and it resumes. Every file is written atomically: a kill never leaves a
half-written result. Runs that stayed finite but ended at chance accuracy (at most
``hr.CHANCE_FACTOR`` = 1.5 times chance) or above their starting loss are flagged as
failed (``hr.run_outcome``, ``SweepResult.failures``).

Needs the ``experiments`` extra (Flax): ``pip install 'hyperreg_jax[experiments]'``.
"""

import argparse
import importlib
import os
import pathlib

import jax
import numpy as np

import hyperreg_jax as hr
from hyperreg_jax import checkpoint as checkpoint_io
from hyperreg_jax._validate import SEED_LIMIT, check_ilr

PROG = "python -m hyperreg_jax"


def _integer(text: str) -> int:
  try:
    return int(text)
  except ValueError:
    raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None


def _positive_int(text: str) -> int:
  value = _integer(text)
  if value < 1:
    raise argparse.ArgumentTypeError(f"{value} must be an integer >= 1")
  return value


def _ilr(text: str) -> float:
  """An initial learning rate, checked as ``train.fit``, ``train.run`` and ``hr.sweep`` check
  one (the same message)."""
  try:
    value = float(text)
  except ValueError:
    raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
  try:
    check_ilr(value)
  except ValueError as err:
    raise argparse.ArgumentTypeError(str(err)) from None
  return value


def _seed(text: str) -> int:
  value = _integer(text)
  if not 0 <= value < SEED_LIMIT:
    raise argparse.ArgumentTypeError(f"{value} must be an integer in [0, 2**32)")
  return value


def _out_prefix(text: str) -> str:
  if not text or text.endswith(("/", os.sep)) or os.path.isdir(text):
    raise argparse.ArgumentTypeError(
      f"{text!r} is a folder; give a path prefix such as results/mnist_sweep"
    )
  for suffix in (".npz", "_pieces/piece"):
    try:
      checkpoint_io.check_writable(text + suffix, "--out")
    except ValueError as err:
      raise argparse.ArgumentTypeError(str(err).split(": ", 1)[1]) from None
  return text


def build_parser() -> argparse.ArgumentParser:
  """The command line: every option has a help line, and ``--help`` shows its default."""
  parser = argparse.ArgumentParser(
    prog=PROG,
    description=__doc__.split("\n\n")[0],
    formatter_class=argparse.ArgumentDefaultsHelpFormatter,
  )
  parser.add_argument(
    "--variants",
    nargs="+",
    default=["rkl1", "rkl2", "kl2", "sgd"],
    choices=hr.variant_names(),
    metavar="NAME",
    help=f"optimizers, from: {' '.join(hr.variant_names())}",
  )
  parser.add_argument(
    "--ilrs",
    nargs="+",
    type=_ilr,
    default=[0.01, 0.1, 1.0, 10.0, 100.0],
    metavar="ILR",
    help="initial learning rates, finite and > 0 (the loss is a batch mean)",
  )
  parser.add_argument(
    "--seeds",
    nargs="+",
    type=_seed,
    default=[0],
    metavar="SEED",
    help="seeds in [0, 2**32): each fixes the initial weights and the data order",
  )
  parser.add_argument("--epochs", type=_positive_int, default=3, help="passes over the data")
  parser.add_argument("--batch-size", type=_positive_int, default=128, help="mini-batch size")
  parser.add_argument(
    "--num-train",
    type=_positive_int,
    default=4000,
    help="training digits to use (at most the 4000 embedded)",
  )
  parser.add_argument(
    "--out",
    type=_out_prefix,
    default=os.path.join("results", "mnist_sweep"),
    help="path prefix of the saved files: OUT.npz, OUT.json, OUT.csv, OUT.png, OUT_pieces/",
  )
  parser.add_argument(
    "--no-resume",
    action="store_true",
    help="delete the pieces saved in OUT_pieces/ (damaged or stale ones too) and train all again",
  )
  return parser


def parse_args(argv=None):
  return build_parser().parse_args(argv)


def _require_flax():
  """The Flax models, or a one-line error that names the extra to install."""
  try:
    return importlib.import_module("hyperreg_jax.models")
  except ImportError as err:
    raise SystemExit(
      f"{PROG}: error: the MNIST sweep needs Flax ({err}); "
      "install it with: pip install 'hyperreg_jax[experiments]'"
    ) from None


def _count_pieces(directory: str) -> int:
  return len(list(pathlib.Path(directory).glob("piece-*.npz")))


def main(argv=None):
  args = parse_args(argv)
  models = _require_flax()
  from hyperreg_jax import data

  mnist = data.load_mnist()
  n = min(args.num_train, mnist.num_train)
  pieces = args.out + "_pieces"
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
      checkpoint=pieces,
      resume=not args.no_resume,
    )
  except (ValueError, TypeError) as err:  # bad arguments or damaged pieces: no traceback
    raise SystemExit(f"{PROG}: error: {err}") from None
  except KeyboardInterrupt:
    print(
      f"\ninterrupted: {_count_pieces(pieces)} finished pieces are saved in {pieces}/; "
      "run the same command again to resume."
    )
    raise SystemExit(130) from None
  reused, total = result.meta["reused_pieces"], len(result.variants) * len(result.seeds)
  if reused:
    total *= result.meta["chunks"]
    print(f"resumed: reused {reused} of {total} pieces saved in {pieces}/ (--no-resume: retrain)")
  print("\n" + result.summary("train_loss"))
  print("\n" + result.summary("test_accuracy"))
  for v, k, s in zip(*np.nonzero(result.diverged)):
    print(
      f"  {result.variants[v]} at ILR {result.ilrs[k]:g}, seed {result.seeds[s]}: "
      f"diverged (non-finite at step {result.diverged_at[v, k, s]}), frozen there"
    )
  for label, point, seed, reason in result.failures():
    print(f"  {label} at ILR {point['init_lr']:g}, seed {seed}: failed ({reason})")
  try:
    saved = [*result.save(args.out), args.out + ".csv"]
    result.to_csv(args.out + ".csv")
    saved.append(_plot(result, args.out + ".png"))
  except OSError as err:
    raise SystemExit(f"{PROG}: error: cannot save to --out={args.out!r}: {err}") from None
  except KeyboardInterrupt:
    print(
      f"\ninterrupted while saving: every file is either complete or untouched, and all "
      f"pieces are in {pieces}/; run the same command again to write the results."
    )
    raise SystemExit(130) from None
  print("\nsaved: " + ", ".join(p for p in saved if p))


def _plot(result, path: str) -> str | None:
  """Writes the sensitivity plot atomically; ``None`` without matplotlib."""
  try:
    import matplotlib
  except ImportError:
    print("(matplotlib not installed: no plot; pip install 'hyperreg_jax[experiments]')")
    return None
  matplotlib.use("Agg")
  ax = result.plot_sensitivity()
  ax.set_title("MNIST MLP: final training loss vs initial learning rate")
  ax.figure.tight_layout()
  with checkpoint_io.atomic_write(path) as f:
    ax.figure.savefig(f, format="png", dpi=120)
  return path


if __name__ == "__main__":
  main()
