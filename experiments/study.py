"""The setup of the paper and of its reproducibility study, defined once for every experiment.

The study (Saadatnejad, Bahari, Belhadj, ICLR 2019 Reproducibility Challenge) trained the
paper's MLP 784-500(sigmoid)-10 on MNIST with batches of 128, the loss summed over the
batch, L2 1e-4, and the initial learning rates 1e-4 ... 10; for ILR > 0.1 it first took 50
steps at learning rate 1e-2 (its warm-up). Every experiment imports these values from here.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

import hyperreg_jax as hr
from experiments import markdown as md
from hyperreg_jax import models

#: Mini-batch size of the paper and the study (MNIST and CIFAR-10).
BATCH = 128

#: The study's ILR grid (its initial beta 1e4 ... 1e-1), in its units (summed loss).
ILRS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)

#: L2 regularisation of the paper and the study (both workloads): the library's default.
WEIGHT_DECAY = hr.DEFAULT_WEIGHT_DECAY

#: The study's warm-up for ILR > 0.1: this many steps at ``WARMUP_LR``, then beta = 1 / ILR.
WARMUP_STEPS = 50
WARMUP_LR = 1e-2

#: A finite run "failed" by the library's one definition (``hr.run_outcome``): its final test
#: accuracy is at most 1.5 x chance (MNIST's and CIFAR-10's 10 classes), or its final
#: training loss is above its first step's.
NUM_CLASSES = 10
CHANCE_ACCURACY = hr.CHANCE_FACTOR / NUM_CLASSES
FAILED = (
  f"failed (test accuracy <= {100 * CHANCE_ACCURACY:.0f}% or final loss above the first "
  "step's: hr.run_outcome)"
)

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
  return f"{md.plural(epochs, 'epoch')} on {num_train:,} digits, the study's 40 on 60,000"


# ----------------------------------------------------------------------------- the study's setup
# The study's MNIST code (its ex1/nnClassification.py) as a setting of the library's public
# API: the same model and init, pixels, loss, decay, warm-up, reset step and reported loss.
# From the same weights and batches it takes the same steps as the code itself
# (tests/test_study_step_for_step.py); where the library deliberately differs (RKL2 and H2
# guarded where the study's formula has no finite root; RKL3 lagged where the study's equals
# its RKL2), it says so.

#: The study's pixel divisor: its code divides the raw 0..255 pixels by ``255 * 0.99 + 0.01``.
PIXEL_SCALE = 255 * 0.99 + 0.01

#: The rules of the study's table and curves: library name -> (divergence, algorithm).
SETUP_RULES = {
  "rkl1": ("rkl", 1),
  "rkl2": ("rkl", 2),
  "rkl3": ("rkl", 3),
  "hellinger2": ("hellinger", 2),
  "kl2": ("kl", 2),
  "chi2_2": ("chi2", 2),
}

#: The name of each rule in the study's code (:mod:`experiments.study_code`).
CODE_NAMES = {
  "gd": "gd",
  "rkl1": "rkl1",
  "rkl2": "rkl2",
  "rkl3": "rkl3",
  "hellinger2": "h2",
  "kl2": "kl2",
  "chi2_2": "x2_2",
}

#: What the library does differently on purpose, per rule, in the study's setup.
DELIBERATE = {
  "rkl2": "guarded: where g^2 >= beta^2 the study's formula turns beta negative, the library "
  "takes the RKL1 root",
  "rkl3": "lagged (Algorithm 3: the step uses the old beta); the study's RKL3 is its RKL2",
  "hellinger2": "guarded: where g^2 >= beta^2 the study's formula explodes, the library takes "
  "the Algorithm 1 root",
}


def warms_up(ilr: float) -> bool:
  """Whether the study's code warms up at this ILR (its initial beta below 10)."""
  return 1.0 / ilr < 10


def study_pixels(x):
  """Images in [0, 1] on the study's pixel scale (float64, up to 1.01), computed exactly as
  :func:`experiments.study_code.train` does."""
  x = np.asarray(x, np.float64)
  return x * 255.0 / PIXEL_SCALE


def weights_only(params):
  """The decay mask of the study's code: the kernels, not the biases."""
  return jax.tree_util.tree_map_with_path(lambda path, _: path[-1].key == "kernel", params)


def study_model(dtype=None):
  """The study's MLP: every weight and bias drawn from a standard normal, in ``dtype``
  (default float64, as its NumPy code; needs ``jax.enable_x64``)."""
  return models.MLP(init_std=1.0, param_dtype=jnp.float64 if dtype is None else dtype)


def study_penalty(num_train: int):
  """The L2 term of the loss the study reports: ``1e-4 / 2 (|W1|^2 + |W2|^2) / N``."""

  def l2_of_weights(params):
    kernels = [
      p for path, p in jax.tree_util.tree_leaves_with_path(params) if path[-1].key == "kernel"
    ]
    return WEIGHT_DECAY * 0.5 * sum(jnp.sum(k * k) for k in kernels) / num_train

  return l2_of_weights


def study_variant(rule: str, warm: bool):
  """``init_lr -> optax transformation``: the library's ``rule`` in the study's setup.

  The loss summed over the batch (pass ``loss_reduction="sum"``), L2 ``1e-4 / 128`` on the
  weights only, no growth clip, its warm-up when ``warm`` (50 steps at learning rate 1e-2;
  the study warms up at ILR > 0.1) and its reset step (one plain step at the ILR with
  beta = 1 / ILR, then the rule). ``"gd"``: SGD at 1e-2, whatever the ILR, as its "GD".
  """
  decay = WEIGHT_DECAY / BATCH
  if rule == "gd":

    def make(init_lr):
      del init_lr  # the study's GD ignores the ILR
      return optax.chain(optax.add_decayed_weights(decay, weights_only), optax.sgd(WARMUP_LR))

  else:
    divergence, algorithm = SETUP_RULES[rule]
    warmup = dict(warmup_steps=WARMUP_STEPS, warmup_lr=WARMUP_LR) if warm else {}

    def make(init_lr):
      return hr.hyperreg(
        init_lr,
        divergence=divergence,
        algorithm=algorithm,
        weight_decay=decay,
        mask=weights_only,
        growth=None,
        hold_steps=1,
        **warmup,
      )

  make.__name__ = make.__qualname__ = f"{rule}_study_setup" + ("_warmup" if warm else "")
  return make


# ----------------------------------------------------------------------------- the study's numbers

#: The study's MNIST table (its section 4.1, Fig. 2a/b, and its logs), ILR in its units:
#: ILR -> (RKL1 loss, RKL1 test accuracy, RKL2 loss, RKL3 loss); ``None``: NaN.
TABLE = {
  1e-4: (0.5853, 0.8857, 0.5853, 0.5638),
  1e-3: (0.0775, 0.9332, 0.0775, 0.0779),
  1e-2: (0.0024, 0.9559, 0.0024, 0.0024),
  1e-1: (0.0023, 0.9678, None, None),
  1.0: (0.0213, 0.9640, None, None),
  10.0: (None, 0.098, None, None),
}

#: The study's curves at ILR 1e-2 (its section 4.2, Fig. 2c/d, and its logs):
#: method -> (loss at epoch 1, 10, 40; test accuracy at epoch 40).
CURVES = {
  "gd": (0.1937, 0.0172, 0.0016, 0.9666),
  "rkl1": (0.4198, 0.0218, 0.0024, 0.9517),
  "rkl3": (0.4282, 0.0200, 0.0023, 0.9554),
  "hellinger2": (0.3976, 0.0207, 0.0025, 0.9547),
  "kl2": (0.4211, 0.0207, 0.0025, 0.9543),
  "chi2_2": (0.6803, 0.0225, 0.0025, 0.9580),
}
#: The epochs of :data:`CURVES`' losses.
CURVE_EPOCHS = (1, 10, 40)
