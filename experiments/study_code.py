"""The reproducibility study's MNIST MLP, literally: its choices, its formulas, its floats.

A NumPy re-statement of the study's ``ex1/nnClassification.py`` (its published code:
``Archive.zip`` of github.com/SaeedSaadatnejad/ICLR_reproducibility_2019), the "study's
code" column of the report. Everything the library does differently is done here the study's
way:

* weights and biases drawn from a **standard normal** (no fan-in scaling);
* pixels divided by ``255 * 0.99 + 0.01`` (about 252.5), so they lie in [0, 1.01];
* gradients **summed** over the batch; L2 adds ``1e-4 * W / batch_size`` to the weight
  gradients (not the biases), and beta sees the gradient with the decay;
* one beta per entry, **no growth clipping**, the unguarded closed forms
  (RKL1 = ``(b + sqrt(b^2 + 4 g^2)) / 2``, RKL2 = ``b^3 / (b^2 - g^2)``,
  H2 = ``b^5 / (b^2 - g^2)^2``, KL2 = ``b exp(g^2 / b^2)``, X2_2 = ``b + g^2 / (2 b)``),
  and RKL3 identical to RKL2 (the branch meant to lag does nothing);
* "GD" keeps beta at 100 (learning rate 0.01) whatever the ILR;
* the warm-up when the initial beta is below 10 (ILR above 0.1): while the step counter is
  below 50, beta is 100 and not adapted. The study's counter is ``batch + 1000 * epoch``,
  which reaches 50 only when an epoch has at least 51 batches (full MNIST has 468);
* **the reset step**: on the step whose counter equals the warm-up length (50 with a
  warm-up, 0 without), beta is *set* to the initial beta and the rule is not applied:
  that step is a plain gradient step at learning rate ILR. The rule adapts beta from the
  next step on;
* sigmoid input clipped at -10000, softmax input at +10000 (no protection in float64);
* **the reported loss**, once per epoch after its last step, on every training image with
  the weights at that point: ``sum(-onehot * log_softmax(z)) / N + 1e-4 * 0.5 *
  (|W1|^2 + |W2|^2) / N`` with the log-softmax ``z - log(sum(exp(z)))`` *unshifted* and
  the L2 term on the weights, not the biases. Test accuracy is measured at the same point
  (argmax of the logits: NaN logits pick class 0).

Every step records whether the gradient, beta, the weights and the logits stayed finite, so
a run says which of them went wrong first.

Keyword switches of :func:`train` turn one choice at a time into the library's (their
defaults are the study's code): ``init="lecun"``, ``guarded=True`` (the library's rules
where RKL2/H2 have no finite root, docs/method.md section 3), ``shifted=True`` (the
gradient's softmax shifted by the maximum logit), ``warmup=False``, ``reset_step=False``
(the rule adapts on the reset step too) and ``literal_counter=False`` (the counter in
global steps).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = [
  "RULES",
  "PIXEL_SCALE",
  "WARMUP_STEPS",
  "init_params",
  "new_beta",
  "forward",
  "reported_loss",
  "train",
]

RULES = ("gd", "rkl1", "rkl2", "rkl3", "h2", "kl2", "x2_2")
INITS = ("normal", "lecun")
PIXEL_SCALE = 255 * 0.99 + 0.01
#: The warm-up's length (steps at beta = 100) when the initial beta is below 10.
WARMUP_STEPS = 50
WARMUP_BETA = 100.0
#: Logits above this overflow ``exp`` in float64: the unshifted log-softmax breaks there.
EXP_OVERFLOW = float(np.log(np.finfo(np.float64).max))
#: Each rule as (divergence, algorithm) of the library's guarded rules.
_GUARDED = {
  "rkl1": ("rkl", 1),
  "rkl2": ("rkl", 2),
  "rkl3": ("rkl", 2),
  "h2": ("hellinger", 2),
  "kl2": ("kl", 2),
  "x2_2": ("chi2", 2),
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
    if rule == "x2_2":
      return b + g * g / (2 * b)
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


def reported_loss(params: dict, x: np.ndarray, y: np.ndarray, weight_decay: float = 1e-4):
  """The loss the study reports: ``(sum(-log_softmax(z)[y]) + wd/2 (|W1|^2 + |W2|^2)) / N``.

  ``x`` in the study's pixel scale; the log-softmax unshifted, as its code computes it.
  Returns ``(reported, shifted, accuracy)``: the same loss with the shifted log-softmax
  (finite where only the reporting overflowed), and the argmax accuracy.
  """
  _, logits, unshifted, shifted = forward(params, x)
  n = len(x)
  rows = np.arange(n)
  with np.errstate(all="ignore"):
    l2 = weight_decay * 0.5 * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2)) / n
    reported = float(-np.sum(unshifted[rows, y]) / n + l2)
    stable = float(-np.sum(shifted[rows, y]) / n + l2)
  return reported, stable, float(np.mean(np.argmax(logits, axis=1) == y))


def _grads(params, x, y, weight_decay, shift=False):
  """The summed gradient with the L2 term, the largest |logit| of the batch and its largest
  logit (above :data:`EXP_OVERFLOW` the unshifted softmax overflows)."""
  a1, z2, _, _ = forward(params, x)
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
  return grads, float(np.max(np.abs(z2))), float(np.max(z2))


def _all_finite(tree) -> bool:
  return all(bool(np.all(np.isfinite(v))) for v in tree.values())


def _all_nan(tree) -> bool:
  return all(bool(np.all(np.isnan(v))) for v in tree.values())


def _first(record: dict, key: str, step: int, bad: bool) -> None:
  if bad and record[key] < 0:
    record[key] = step


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
  x_test: np.ndarray | None = None,
  y_test: np.ndarray | None = None,
  params: dict | None = None,
  batches: np.ndarray | None = None,
  on_step: Callable[[int, dict, dict], None] | None = None,
  init: str = "normal",
  guarded: bool = False,
  shifted: bool = False,
  warmup: bool = True,
  reset_step: bool = True,
  literal_counter: bool = True,
) -> dict:
  """Trains the study's MLP; ``x`` are images in [0, 1] (rescaled here to the study's).

  Args:
    rule: one of :data:`RULES`.
    init_lr: the ILR in the study's units (loss summed over the batch).
    x, y: training images in [0, 1] and integer labels.
    epochs, batch_size, seed, weight_decay: as in the study (``seed`` draws the weights,
      with :func:`init_params`, and the batch order).
    x_test, y_test: test data, evaluated after every epoch.
    params: initial weights (``{"W1", "b1", "W2", "b2"}``) instead of drawn ones.
    batches: the batch order instead of a drawn one: indices of shape
      ``(epochs, steps_per_epoch, batch)``; the counter's ``batch`` is the second index.
    on_step: called as ``on_step(step, params, beta)`` after every step (0-based).
    init, guarded, shifted, warmup, reset_step, literal_counter: see the module
      docstring; the defaults are the study's code.

  Returns:
    A dict: ``history`` (one dict per epoch: ``epoch``, ``train_loss`` as the study
    reports it, ``train_loss_shifted``, ``train_accuracy``, ``test_accuracy``),
    ``final_loss`` and ``test_accuracy`` (the last epoch's), the 0-based global step of
    the first non-finite gradient (``first_bad_grad``), non-positive or non-finite beta
    (``first_bad_beta``, and ``first_negative_beta``), non-finite weights
    (``first_bad_weights``) and logit above ``exp``'s float64 range (``first_overflow``: the
    unshifted softmax overflows there);
    ``first_bad_loss_epoch`` (1-based epoch of the first non-finite reported loss);
    ``max_logit`` (largest ``|logit|`` of any training batch); ``reset`` (whether the
    reset step happened) and ``steps`` (-1: never).
  """
  if rule not in RULES:
    raise ValueError(f"rule={rule!r} is not one of {RULES}.")
  x = np.asarray(x, np.float64).reshape(len(x), -1) * 255.0 / PIXEL_SCALE
  y = np.asarray(y)
  xt = None
  if x_test is not None:
    xt = np.asarray(x_test, np.float64).reshape(len(x_test), -1) * 255.0 / PIXEL_SCALE
  rng = np.random.default_rng(seed)
  params = init_params(seed, init=init) if params is None else dict(params)
  beta0 = WARMUP_BETA if rule == "gd" else 1.0 / init_lr
  warm = warmup and rule != "gd" and beta0 < 10
  reset_at = WARMUP_STEPS if warm else 0
  beta = {k: np.full(v.shape, WARMUP_BETA if warm else beta0) for k, v in params.items()}
  record = dict.fromkeys(
    (
      "first_bad_grad",
      "first_bad_beta",
      "first_negative_beta",
      "first_bad_weights",
      "first_overflow",
      "first_bad_loss_epoch",
    ),
    -1,
  )
  record.update(max_logit=0.0, reset=False, history=[])
  steps_per_epoch = len(x) // batch_size
  step = 0
  frozen = False  # every weight NaN: every later step leaves them NaN
  for epoch in range(epochs):
    order = rng.permutation(len(x)) if batches is None else None
    for batch in range(steps_per_epoch if batches is None else batches.shape[1]):
      if frozen:
        break
      if batches is None:
        idx = order[batch * batch_size : (batch + 1) * batch_size]
      else:
        idx = batches[epoch, batch]
      grads, max_logit, top = _grads(params, x[idx], y[idx], weight_decay, shifted)
      record["max_logit"] = max(record["max_logit"], max_logit)
      _first(record, "first_overflow", step, top > EXP_OVERFLOW)
      _first(record, "first_bad_grad", step, not _all_finite(grads))
      counter = batch + 1000 * epoch if literal_counter else step
      if rule != "gd" and reset_step and counter == reset_at:
        beta = {k: np.full(v.shape, beta0) for k, v in params.items()}  # no adaptation
        record["reset"] = True
      elif not (warm and counter < WARMUP_STEPS):
        if warm and not reset_step and counter == WARMUP_STEPS:
          beta = {k: np.full(v.shape, beta0) for k, v in params.items()}
          record["reset"] = True
        beta = {k: new_beta(rule, beta[k], grads[k], guarded) for k in params}
      with np.errstate(all="ignore"):
        params = {k: params[k] - grads[k] / beta[k] for k in params}
      negative = any(np.any(b <= 0) for b in beta.values())
      _first(record, "first_negative_beta", step, negative)
      _first(record, "first_bad_beta", step, negative or not _all_finite(beta))
      _first(record, "first_bad_weights", step, not _all_finite(params))
      if on_step is not None:
        on_step(step, params, beta)
      frozen = _all_nan(params)
      step += 1
    loss, stable, train_acc = reported_loss(params, x, y, weight_decay)
    row = dict(epoch=epoch + 1, train_loss=loss, train_loss_shifted=stable)
    row["train_accuracy"] = train_acc
    if xt is not None:
      _, logits, _, _ = forward(params, xt)
      row["test_accuracy"] = float(np.mean(np.argmax(logits, axis=1) == np.asarray(y_test)))
    record["history"].append(row)
    if record["first_bad_loss_epoch"] < 0 and not np.isfinite(loss):
      record["first_bad_loss_epoch"] = epoch + 1
  last = record["history"][-1]
  record["final_loss"] = last["train_loss"]
  record["test_accuracy"] = last.get("test_accuracy", float("nan"))
  record["steps"] = step
  return record
