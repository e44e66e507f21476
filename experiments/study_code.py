"""The reproducibility study's MNIST MLP, literally: its choices, its formulas, its floats.

A NumPy re-statement of the study's ``ex1/nnClassification.py`` (its published code:
``Archive.zip`` of github.com/SaeedSaadatnejad/ICLR_reproducibility_2019), used to find out
where its NaNs came from. Everything the library does differently is done here the study's way:

* weights and biases drawn from a **standard normal** (no fan-in scaling);
* pixels divided by ``255 * 0.99 + 0.01`` (about 252.5), so they lie in [0, 1.01];
* gradients **summed** over the batch; L2 adds ``1e-4 * W / batch_size`` to the weight
  gradients (not the biases), and beta sees the gradient with the decay;
* one beta per entry, **no growth clipping**, the unguarded closed forms
  (RKL2 = ``b^3 / (b^2 - g^2)``, H2 = ``b^5 / (b^2 - g^2)^2``, KL2 = ``b exp(g^2 / b^2)``,
  RKL1 = ``(b + sqrt(b^2 + 4 g^2)) / 2``), and RKL3 identical to RKL2;
* "GD" keeps beta at 100 (learning rate 0.01) whatever the ILR;
* warm-up when the initial beta is below 10: while the step counter is below 50, beta is
  100 and not adapted; when it equals 50, beta is reset to the initial value. The study's
  counter is ``batch + 1000 * epoch``, which reaches 50 only when an epoch has at least 51
  batches (full MNIST has 468; ``literal_counter=False`` counts global steps instead);
* sigmoid input clipped at -10000, softmax input at +10000 (no protection in float64);
  the **reported** loss is ``z - log(sum(exp(z)))`` without the shift by the maximum.

Every step records whether beta, the weights and the reported loss are finite, so a run
says which of them went non-finite first.

Keyword switches of :func:`train` turn one of these choices at a time into the library's
(their defaults are the study's code): ``init="lecun"`` (the scale of Flax's default,
standard deviation ``1 / sqrt(fan_in)``, zero biases), ``guarded=True`` (the library's rules
where the study's RKL2/H2 have no finite root, docs/method.md section 3), ``shifted=True``
(the softmax of the gradient shifted by the maximum logit), ``warmup=False`` (no warm-up)
and ``literal_counter=False`` (the warm-up counted in global steps).
"""

from __future__ import annotations

import numpy as np

__all__ = ["RULES", "PIXEL_SCALE", "init_params", "new_beta", "forward", "train"]

RULES = ("gd", "rkl1", "rkl2", "rkl3", "h2", "kl2")
INITS = ("normal", "lecun")
PIXEL_SCALE = 255 * 0.99 + 0.01
#: Each rule as (divergence, algorithm) of the library's guarded rules.
_GUARDED = {
  "rkl1": ("rkl", 1),
  "rkl2": ("rkl", 2),
  "rkl3": ("rkl", 2),
  "h2": ("hellinger", 2),
  "kl2": ("kl", 2),
}


def init_params(seed: int = 0, sizes=(784, 500, 10), init: str = "normal") -> dict:
  """Standard-normal weights and biases, as ``np.random.randn`` in the study.

  ``init="lecun"``: weights with standard deviation ``1 / sqrt(fan_in)`` (the scale of
  Flax's default LeCun-normal kernels) and zero biases, as the library's MLP.
  """
  if init not in INITS:
    raise ValueError(f"init={init!r} is not one of {INITS}.")
  rng = np.random.default_rng(seed)
  n_in, n_hidden, n_out = sizes
  params = {
    "W1": rng.standard_normal((n_in, n_hidden)),
    "b1": rng.standard_normal(n_hidden),
    "W2": rng.standard_normal((n_hidden, n_out)),
    "b2": rng.standard_normal(n_out),
  }
  if init == "lecun":
    params = {
      "W1": params["W1"] / np.sqrt(n_in),
      "b1": np.zeros(n_hidden),
      "W2": params["W2"] / np.sqrt(n_hidden),
      "b2": np.zeros(n_out),
    }
  return params


def new_beta(rule: str, b: np.ndarray, g: np.ndarray, guarded: bool = False) -> np.ndarray:
  """The study's beta update, unguarded (may be negative, infinite or NaN).

  ``guarded=True``: the library's rule without a growth clip instead
  (:func:`hyperreg_jax.reference.rules.new_beta`): where RKL2/H2 have no finite root, the
  Algorithm 1 root; never below ``b``, never infinite.
  """
  if guarded and rule in _GUARDED:
    from hyperreg_jax.reference import rules

    return rules.new_beta(*_GUARDED[rule], b, g, growth=None)
  with np.errstate(all="ignore"):
    if rule == "gd":
      return b
    if rule == "rkl1":
      return (b + np.sqrt(b * b + 4 * g * g)) / 2
    if rule in ("rkl2", "rkl3"):  # the study's RKL3 branch does the same as RKL2
      return b**3 / (b * b - g * g)
    if rule == "h2":
      return b**5 / (b * b - g * g) ** 2
    if rule == "kl2":
      return b * np.exp(g * g / (b * b))
  raise ValueError(f"rule={rule!r} is not one of {RULES}.")


def forward(params: dict, x: np.ndarray):
  """Hidden activations, logits, the study's (unshifted) log-softmax and a shifted one."""
  with np.errstate(all="ignore"):
    z1 = x @ params["W1"] + params["b1"]
    a1 = 1.0 / (1.0 + np.exp(-np.maximum(z1, -10000.0)))
    z2 = a1 @ params["W2"] + params["b2"]
    clipped = np.minimum(z2, 10000.0)
    unshifted = clipped - np.log(np.sum(np.exp(clipped), axis=1, keepdims=True))
    top = np.max(z2, axis=1, keepdims=True)
    shifted = z2 - top - np.log(np.sum(np.exp(z2 - top), axis=1, keepdims=True))
  return a1, z2, unshifted, shifted


def _grads(params, x, y, weight_decay, shift=False):
  a1, z2, unshifted, shifted = forward(params, x)
  n = x.shape[0]
  with np.errstate(all="ignore"):
    top = np.max(z2, axis=1, keepdims=True) if shift else 0.0
    e = np.exp(np.minimum(z2 - top, 10000.0))
    delta2 = e / e.sum(axis=1, keepdims=True)
    delta2[np.arange(n), y] -= 1.0
    delta1 = (delta2 @ params["W2"].T) * a1 * (1.0 - a1)
    grads = {
      "W1": x.T @ delta1 + weight_decay * params["W1"] / n,
      "b1": delta1.sum(0),
      "W2": a1.T @ delta2 + weight_decay * params["W2"] / n,
      "b2": delta2.sum(0),
    }
  losses = {
    "reported": float(-np.mean(unshifted[np.arange(n), y])),
    "shifted": float(-np.mean(shifted[np.arange(n), y])),
    "max_logit": float(np.max(np.abs(z2))),
  }
  return grads, losses


def _finite(tree) -> bool:
  return all(bool(np.all(np.isfinite(v))) for v in tree.values())


def train(
  rule: str,
  init_lr: float,
  x: np.ndarray,
  y: np.ndarray,
  *,
  epochs: int = 1,
  batch_size: int = 128,
  seed: int = 0,
  weight_decay: float = 1e-4,
  literal_counter: bool = True,
  x_test: np.ndarray | None = None,
  y_test: np.ndarray | None = None,
  init: str = "normal",
  guarded: bool = False,
  shifted: bool = False,
  warmup: bool = True,
) -> dict:
  """Trains the study's MLP; ``x`` are images in [0, 1] (rescaled here to the study's).

  The switches ``init``, ``guarded``, ``shifted``, ``warmup`` and ``literal_counter`` (see
  the module docstring) default to the study's code.

  Returns a dict: ``first_bad_beta``, ``first_bad_weights``, ``first_bad_loss`` (0-based
  step of the first non-finite or non-positive beta, non-finite weight, non-finite reported
  loss; -1 if never), ``shifted_loss_at_first_bad_loss`` (the max-shifted loss at that step:
  finite when only the reporting overflowed), ``max_logit`` (largest ``|logit|`` seen),
  ``reset`` (whether the warm-up reset to the initial beta happened), ``final_loss`` (mean
  reported loss of the last epoch), ``test_accuracy`` (argmax of the logits; NaN logits
  pick class 0), ``steps``.
  """
  if rule not in RULES:
    raise ValueError(f"rule={rule!r} is not one of {RULES}.")
  x = np.asarray(x, np.float64).reshape(len(x), -1) * 255.0 / PIXEL_SCALE
  y = np.asarray(y)
  rng = np.random.default_rng(seed)
  params = init_params(seed, init=init)
  beta0 = 100.0 if rule == "gd" else 1.0 / init_lr
  warm = warmup and rule != "gd" and beta0 < 10
  beta = {k: np.full(v.shape, 100.0 if warm else beta0) for k, v in params.items()}
  record = {
    "first_bad_beta": -1,
    "first_bad_weights": -1,
    "first_bad_loss": -1,
    "shifted_loss_at_first_bad_loss": float("nan"),
    "max_logit": 0.0,
    "reset": False,
  }
  steps_per_epoch = len(x) // batch_size
  step = 0
  losses = []
  for epoch in range(epochs):
    order = rng.permutation(len(x))
    losses = []
    for batch in range(steps_per_epoch):
      idx = order[batch * batch_size : (batch + 1) * batch_size]
      grads, loss = _grads(params, x[idx], y[idx], weight_decay, shifted)
      losses.append(loss["reported"])
      record["max_logit"] = max(record["max_logit"], loss["max_logit"])
      if record["first_bad_loss"] < 0 and not np.isfinite(loss["reported"]):
        record["first_bad_loss"] = step
        record["shifted_loss_at_first_bad_loss"] = loss["shifted"]
      counter = batch + 1000 * epoch if literal_counter else step
      if warm and counter == 50:
        beta = {k: np.full(v.shape, beta0) for k, v in params.items()}
        record["reset"] = True
      if not (warm and counter < 50):
        beta = {k: new_beta(rule, beta[k], grads[k], guarded) for k in params}
      with np.errstate(all="ignore"):
        params = {k: params[k] - grads[k] / beta[k] for k in params}
      bad_beta = not all(np.all(np.isfinite(b) & (b > 0)) for b in beta.values())
      if record["first_bad_beta"] < 0 and bad_beta:
        record["first_bad_beta"] = step
      if record["first_bad_weights"] < 0 and not _finite(params):
        record["first_bad_weights"] = step
      step += 1
  record["final_loss"] = float(np.mean(losses))
  record["steps"] = step
  if x_test is not None:
    xt = np.asarray(x_test, np.float64).reshape(len(x_test), -1) * 255.0 / PIXEL_SCALE
    _, logits, _, _ = forward(params, xt)
    record["test_accuracy"] = float(np.mean(np.argmax(logits, axis=1) == np.asarray(y_test)))
  return record
