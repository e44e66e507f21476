"""The setup of the paper and of its reproducibility study, defined once for every experiment.

The study (Saadatnejad, Bahari, Belhadj, ICLR 2019 Reproducibility Challenge) trained the
paper's MLP 784-500(sigmoid)-10 on MNIST with batches of 128, the loss summed over the
batch, L2 1e-4, and the initial learning rates 1e-4 ... 10; for ILR > 0.1 it first took 50
steps at learning rate 1e-2 (its warm-up). Every experiment imports these values from here.
"""

from __future__ import annotations

import hyperreg_jax as hr

#: Mini-batch size of the paper and the study (MNIST and CIFAR-10).
BATCH = 128

#: The study's ILR grid (its initial beta 1e4 ... 1e-1), in its units (summed loss).
ILRS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)

#: L2 regularisation of the paper and the study (both workloads): the library's default.
WEIGHT_DECAY = hr.DEFAULT_WEIGHT_DECAY

#: The study's warm-up for ILR > 0.1: this many steps at ``WARMUP_LR``, then beta = 1 / ILR.
WARMUP_STEPS = 50
WARMUP_LR = 1e-2

#: A finite run "ended at chance" when its final test accuracy is at most this: the library's
#: definition of a failed run (``hr.run_outcome``: 1.5 x chance) for MNIST's and CIFAR-10's
#: 10 classes.
NUM_CLASSES = 10
CHANCE_ACCURACY = hr.CHANCE_FACTOR / NUM_CLASSES
AT_CHANCE = f"ended at chance (test accuracy <= {100 * CHANCE_ACCURACY:.0f}%)"

#: The paper's twelve rules and AdaGrad as the Neyman chi-square rule (Algorithm 1).
RULES = (*hr.PAPER_RULES, "adagrad_diag")

#: Baselines at the same learning rates, and the learning-rate-free optimizers of optax.contrib.
BASELINES = ("sgd", "adagrad", "adam")
LR_FREE = ("prodigy", "dog", "dowg", "cocob", "dadapt_adamw")

#: The two ILR conventions, as every figure and table names them.
MEAN_UNITS = "ILR, loss averaged over the batch (this library)"
SUM_UNITS = f"ILR, loss summed over the batch of {BATCH} (the study's units)"


def scale_beside_study(epochs: int, num_train: int) -> str:
  """This run's scale beside the study's MNIST runs (40 epochs on 60,000 digits)."""
  if epochs == 40 and num_train == 60_000:
    return "the study's scale (40 epochs on 60,000 digits)"
  return f"{epochs} epochs on {num_train:,} digits, the study's 40 on 60,000"
