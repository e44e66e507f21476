"""``--full`` for VGG-16-BN, end to end on a small file in CIFAR-10's python format.

The test writes 256 training and 32 test images as ``cifar-10-batches-py`` and runs the
experiment at its full-scale settings (batch 128: two steps an epoch), one epoch, SGD and
RKL2: load, augment, train, checkpoint after the epoch; then, as if killed while training
RKL2, resumes SGD from its checkpoint and trains only RKL2 again, to the same numbers.
"""

from __future__ import annotations

import filecmp
import json
import pathlib
import shutil
import sys

import numpy as np
import pytest
from test_experiments import run_command, tree_mtimes

from experiments import files

sys.path.insert(0, str(pathlib.Path(__file__).parent / "helpers"))
import data_writers


@pytest.mark.slow
def test_full_vgg_trains_on_cifar_files_checkpoints_and_resumes(tmp_path):
  rng = np.random.default_rng(0)
  x = rng.integers(0, 256, (288, 32, 32, 3)).astype(np.uint8)
  y = rng.integers(0, 10, 288)
  data_writers.save_cifar10_batches(tmp_path / "data", x[:256], y[:256], x[256:], y[256:])
  out = tmp_path / "run"
  args = (
    "--full",
    "--only",
    "vgg_cifar",
    "--epochs",
    "1",
    "--variants",
    "sgd",
    "rkl2",
    "--data-dir",
    str(tmp_path / "data"),
  )
  run_command(out, *args)
  folder = out / "vgg_cifar"
  record = json.loads((folder / "settings.json").read_text())
  assert record["settings"]["batch_size"] == 128 and record["settings"]["epochs"] == 1
  assert record["settings"]["decay"] == "decoupled"
  assert record["data"]["label"] == "cifar10 (full set, 256 train / 32 test)"
  curves = files.read_csv(folder / "curves.csv")
  assert [(r["variant"], r["epoch"]) for r in curves] == [("sgd", 1), ("rkl2", 1)]
  assert all(np.isfinite(r["train_loss"]) for r in curves)
  assert curves[0]["train_loss"] != curves[1]["train_loss"]  # the rule's second step differs
  report = (out / "REPORT.md").read_text()
  assert "**real CIFAR-10.**" in report and "vgg_cifar: cifar10 (full set" in report
  # As if killed while training RKL2: its checkpoint and the curves are gone.
  shutil.copy(folder / "curves.csv", tmp_path / "curves.csv")
  sgd = tree_mtimes(folder / "checkpoints" / "sgd")
  assert sgd
  shutil.rmtree(folder / "checkpoints" / "rkl2")
  (folder / "curves.csv").unlink()
  run_command(out, *args)
  assert tree_mtimes(folder / "checkpoints" / "sgd") == sgd  # resumed, not retrained
  assert tree_mtimes(folder / "checkpoints" / "rkl2")
  assert filecmp.cmp(folder / "curves.csv", tmp_path / "curves.csv", shallow=False)


def test_the_vgg_rules_keep_the_weight_decay_out_of_beta_as_the_study_did():
  import jax.numpy as jnp
  import optax

  from experiments import vgg_cifar

  params, grads = {"w": jnp.full(3, 5.0)}, {"w": jnp.array([0.1, -0.2, 0.3])}
  betas = []
  for decay in ("decoupled", "coupled"):
    tx = vgg_cifar._make("rkl2", decay)(0.1)
    _, state = tx.update(grads, tx.init(params), params)
    betas.append(optax.tree.get(state, "beta")["w"])
  tx = vgg_cifar.common.rule_variant("rkl2", clipped=True, weight_decay=0.0)(0.1)
  _, state = tx.update(grads, tx.init(params), params)
  np.testing.assert_array_equal(betas[0], optax.tree.get(state, "beta")["w"])
  assert not np.array_equal(betas[0], betas[1])
  assert vgg_cifar.EMBEDDED.decay == vgg_cifar.FULL.decay == "decoupled"
