"""Checks of arguments and data, one checker per kind of value, run before anything compiles.

Each raises a ``ValueError`` (``TypeError`` for a wrong kind of value) naming the argument, what
it holds and what is allowed; data that is probably a mistake (images in 0..255) warns.
"""

from __future__ import annotations

import math
import numbers
import warnings

import jax
import jax.numpy as jnp
import numpy as np

SEED_LIMIT = 2**32  # jax.random.key takes seeds in [0, 2**32); larger ones wrap around


def check_int(name: str, value, *, minimum: int = 1, allow_none: bool = False) -> int | None:
  """``value`` as an int: an integer (or a concrete 0-d integer array) ``>= minimum``.

  Example:
    >>> check_int("epochs", 0)
    Traceback (most recent call last):
    ...
    ValueError: epochs must be an integer >= 1, got epochs=0.
  """
  if value is None and allow_none:
    return None
  array = None if isinstance(value, (bool, np.bool_, str, bytes)) else np.asarray(value)
  if (
    array is None
    or array.shape != ()
    or not np.issubdtype(array.dtype, np.integer)
    or int(array) < minimum
  ):
    allowed = f"{'None or ' if allow_none else ''}an integer >= {minimum}"
    raise ValueError(f"{name} must be {allowed}, got {name}={value!r}.")
  return int(array)


def check_data(x_train, y_train, x_test=None, y_test=None, *, classification, num_classes=None):
  """Checks a training (and test) set once, on the host.

  Args:
    x_train, y_train, x_test, y_test: numpy arrays (``x_test``/``y_test`` together or
      not at all).
    classification: whether the labels are class indices (cross-entropy loss).
    num_classes: the model's number of outputs; labels must lie in ``[0, num_classes)``.

  Raises:
    ValueError: an empty training set, mismatched lengths, a test half without the
      other, NaN or infinity in any array, labels outside ``[0, num_classes)``, or
      class labels that are not 1-D.
    TypeError: arrays that are not numeric, or float labels with a classifier.
  """
  if (x_test is None) != (y_test is None):
    given, missing = ("x_test", "y_test") if y_test is None else ("y_test", "x_test")
    raise ValueError(f"{given} was given without {missing}: give both or neither.")
  arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
  arrays = {name: a for name, a in arrays.items() if a is not None}
  for name, a in arrays.items():
    if a.ndim == 0 or a.shape[0] == 0:
      raise ValueError(f"{name} is empty (shape {a.shape}): it needs at least one example.")
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool) or np.iscomplexobj(a):
      raise TypeError(f"{name} has dtype {a.dtype}; it must hold real numbers.")
    if np.issubdtype(a.dtype, np.inexact):
      bad = np.flatnonzero(~np.isfinite(a.reshape(a.shape[0], -1)).all(axis=1))
      if bad.size:
        raise ValueError(
          f"{name} holds NaN or infinity in {bad.size} of its {a.shape[0]} examples "
          f"(the first at index {bad[0]}); clean or drop them before training."
        )
  for split in ("train", "test"):
    x, y = arrays.get(f"x_{split}"), arrays.get(f"y_{split}")
    if x is not None and x.shape[0] != y.shape[0]:
      raise ValueError(
        f"x_{split} has {x.shape[0]} examples but y_{split} has {y.shape[0]}: they must match."
      )
    if x is not None and np.issubdtype(x.dtype, np.integer) and x.max() > 1:
      warnings.warn(
        f"x_{split} holds integers up to {x.max()} ({x.dtype}); the models expect floats "
        f"in [0, 1]: pass x_{split} / 255 for images.",
        stacklevel=3,
      )
    if classification and y is not None:
      _check_labels(f"y_{split}", y, num_classes)


def _check_labels(name: str, y: np.ndarray, num_classes) -> None:
  if not np.issubdtype(y.dtype, np.integer):
    raise TypeError(
      f"{name} has dtype {y.dtype}, but loss='cross_entropy' needs integer class labels: "
      f"use {name}.astype(int) if they are class indices, or loss='mse' for regression."
    )
  if y.ndim != 1:
    raise ValueError(f"{name} has shape {y.shape}; class labels must be 1-D, shape (N,).")
  low, high = int(y.min()), int(y.max())
  if low < 0 or (num_classes is not None and high >= num_classes):
    allowed = f"[0, {num_classes})" if num_classes is not None else ">= 0"
    raise ValueError(
      f"{name} holds labels from {low} to {high}; they must lie in {allowed}"
      + (f" (the model has {num_classes} outputs)." if num_classes is not None else ".")
    )


def check_seeds(seeds) -> np.ndarray:
  """``seeds`` as a 1-D int64 array; each an integer in ``[0, 2**32)``.

  Raises:
    ValueError: no seeds, or a seed that is not an integer in ``[0, 2**32)``.
  """
  values = list(np.ravel(np.asarray(seeds, dtype=object)))
  if not values:
    raise ValueError(f"seeds={seeds!r} must be a non-empty sequence of integers.")
  for seed in values:
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
      raise ValueError(f"seeds must be integers in [0, 2**32); got {seed!r}.")
    if not 0 <= int(seed) < SEED_LIMIT:
      raise ValueError(
        f"seeds must be integers in [0, 2**32); got {seed!r} "
        "(jax.random.key would wrap it onto another seed)."
      )
  return np.asarray([int(s) for s in values], np.int64)


def check_weight_decay(weight_decay) -> float:
  """``weight_decay`` as a float: a finite number ``>= 0``."""
  if isinstance(weight_decay, bool) or not isinstance(weight_decay, numbers.Real):
    raise TypeError(f"weight_decay={weight_decay!r} must be a finite number >= 0.")
  if not math.isfinite(weight_decay) or weight_decay < 0:
    raise ValueError(f"weight_decay={weight_decay!r} must be a finite number >= 0.")
  return float(weight_decay)


def check_ilr(init_lr, where: str | None = None) -> None:
  """A concrete ``init_lr`` must be one finite real number > 0; a traced one passes (the
  hyper-regularized transforms then give NaN for beta and every update, in that lane of a
  vmapped grid only: see docs/optimizers.md, what every optimizer takes).

  The one rule and message for an initial learning rate, whichever way it comes in
  (``train.fit``, ``train.run``, each ILR of ``hr.sweep``, ``--ilrs`` of the command line):
  the value shown is ``float(init_lr)``, so ``0``, ``np.float64(0)`` and ``"0"`` typed on
  the command line read alike. ``where`` (e.g. ``"ilrs[2]"``) is put in front when the
  value is one of several.

  Example:
    >>> check_ilr(-0.5)
    Traceback (most recent call last):
    ...
    ValueError: init_lr must be a finite number > 0, got -0.5.
  """
  if not _concrete(init_lr):
    return
  try:
    array = None if isinstance(init_lr, (str, bytes, bool, np.bool_)) else np.asarray(init_lr)
  except (TypeError, ValueError):
    array = None
  real = array is not None and array.shape == () and array.dtype.kind in "iuf"
  if real and np.isfinite(array) and array > 0:
    return
  shown = repr(float(array)) if real else repr(init_lr)
  message = f"init_lr must be a finite number > 0, got {shown}."
  raise ValueError(message if where is None else f"{where}: {message}")


def check_optimizer(label: str, make_tx, init_lr: float) -> None:
  """Checks that ``make_tx(init_lr)`` returns an optax transformation (``init``/``update``)."""
  try:
    tx = make_tx(float(init_lr))
  except (TypeError, ValueError) as err:
    raise type(err)(
      f"variants: {label!r} failed when called with init_lr={float(init_lr):g}: {err}"
    ) from err
  if not (callable(getattr(tx, "init", None)) and callable(getattr(tx, "update", None))):
    raise TypeError(
      f"variants: {label!r} returned {type(tx).__name__} for init_lr={float(init_lr):g}; "
      "a callable variant must map init_lr to an optax transformation "
      "(e.g. lambda lr: optax.sgd(lr))."
    )


# ----------------------------------------------------------------------------- optimizers


class Required:
  """The default of ``init_lr`` in the aliases, :func:`hyperreg` and :func:`scale_by_hyperreg`:
  there is none. Each one's placeholder names it (``Required("rkl1")``), so that the one
  :func:`check_init_lr` of a call, wherever it runs, names the function the user called."""

  __slots__ = ("function",)

  def __init__(self, function: str):
    self.function = function

  def __repr__(self):
    return "<required>"


def check_init_lr(init_lr, learning_rate) -> None:
  """A ``TypeError`` when ``init_lr`` was not given: say what it is, and what ``learning_rate``
  (``None``: the function has none) is not; a user from optax reaches for it first."""
  if not isinstance(init_lr, Required):
    return
  message = (
    f"{init_lr.function}() needs init_lr, the rule's initial learning rate 1 / beta_0 (for "
    "example init_lr=1e-2)"
  )
  if learning_rate is not None:
    if not (isinstance(learning_rate, (int, float)) and learning_rate == 1.0):
      message += f"; got learning_rate={learning_rate!r} alone"
    message += (
      ". learning_rate is only a multiplier on 1 / beta (1.0 by default, or an optax "
      "schedule), not the initial learning rate"
    )
  raise TypeError(message + ".")


def check_decay(decay, decays) -> None:
  if decay not in decays:
    raise ValueError(
      "decay must be 'coupled' (the paper's L2: the decay term drives beta) or 'decoupled' "
      f"(beta sees the raw gradient), got {decay!r}."
    )


def _concrete(value) -> bool:
  return not isinstance(value, jax.core.Tracer)


def check_positive(value, name, hint="", *, strict=True):
  """A concrete ``value`` must be a finite real number > 0 (``>= 0`` with ``strict=False``).

  Traced values pass, and with ``strict=False`` so do callables (optax schedules).
  """
  if not _concrete(value) or (not strict and callable(value)):
    return
  array = np.asarray(value) if not isinstance(value, (str, bytes, bool)) else None
  if (
    array is None
    or array.shape != ()
    or not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating))
    or not (np.isfinite(array) and (array > 0 if strict else array >= 0))
  ):
    bound = "> 0" if strict else ">= 0"
    raise ValueError(f"{name} must be a finite number {bound}, got {value!r}.{hint}")


def check_transform_options(
  warmup_steps, warmup_lr, granularity, beta_dtype, granularities, hold_steps=0
):
  """The static options of ``scale_by_hyperreg`` and the warm-up rate they need."""
  if granularity not in granularities:
    raise ValueError(f"granularity must be one of {granularities}, got {granularity!r}.")
  for name, steps in (("warmup_steps", warmup_steps), ("hold_steps", hold_steps)):
    if _concrete(steps):
      check_int(name, steps, minimum=0)
  # Concrete arrays count too: inject_hyperparams passes warmup_steps as one.
  if _concrete(warmup_steps) and warmup_steps > 0 and warmup_lr is None:
    raise ValueError("warmup_lr must be given (a finite number > 0) when warmup_steps > 0.")
  if warmup_lr is not None:
    check_positive(warmup_lr, "warmup_lr")
  if beta_dtype is not None:
    try:
      floating = jnp.issubdtype(jnp.dtype(beta_dtype), jnp.floating)
    except TypeError:
      floating = False
    if not floating:
      raise ValueError(
        f"beta_dtype must be None (at least float32) or a floating dtype, got {beta_dtype!r}."
      )


def check_float_params(params):
  for path, leaf in jax.tree_util.tree_leaves_with_path(params):
    dtype = jnp.asarray(leaf).dtype
    if not jnp.issubdtype(dtype, jnp.floating):
      raise ValueError(
        "scale_by_hyperreg needs real floating-point parameters; the leaf at "
        f"{jax.tree_util.keystr(path)} has dtype {dtype}."
      )


def check_beta0(init_lr, dtype):
  """``1 / init_lr`` must be a finite, normal number in beta's dtype."""
  if not _concrete(init_lr):
    return
  info = jnp.finfo(dtype)
  beta0 = 1.0 / float(init_lr)
  if not float(info.tiny) <= beta0 <= float(info.max):
    raise ValueError(
      f"init_lr must give beta_0 = 1 / init_lr in the normal range of beta's dtype {dtype} "
      f"(init_lr between {1.0 / float(info.max):.3g} and {1.0 / float(info.tiny):.3g}), got "
      f"{init_lr!r}; pass a wider beta_dtype for more."
    )
