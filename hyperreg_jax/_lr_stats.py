"""Logging: statistics of ``1 / beta`` and of the step sizes ``learning_rate / beta`` in a state.

``1 / beta`` is the rule's own learning rate; the step an alias takes is ``learning_rate``
(a number or a schedule) times that. :func:`step_size_stats` gives the step sizes;
:func:`inverse_beta_stats` the rule's part alone; :func:`lr_stats` is the latter under the
names the training logs use (``lr_min``, ...).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

# Up to this many entries, the median comes from a sort.
_SORTED_MEDIAN_MAX = 4096
_STATS = ("min", "median", "mean", "max")


def _kth_smallest(leaves, k):
  """The ``k``-th smallest (0-based) entry of positive float ``leaves``, without a sort.

  Radix selection on the bit patterns (monotone in the value for positive floats):
  16 bits per pass, a histogram of the candidates' next 16 bits each time, so two passes
  for float32 and four for float64, however many entries there are.
  """
  dtype = jnp.result_type(*leaves)
  width = jnp.finfo(dtype).bits
  int_dtype = {32: jnp.int32, 64: jnp.int64}[width]
  bits = [jax.lax.bitcast_convert_type(b.astype(dtype).ravel(), int_dtype) for b in leaves]
  prefix = jnp.zeros((), int_dtype)
  below = jnp.zeros((), jnp.int32)  # entries whose prefix is smaller than the chosen one
  for shift in range(width - 16, -1, -16):
    histogram = jnp.zeros(1 << 16, jnp.int32)
    for b in bits:
      digit = ((b >> shift) & 0xFFFF).astype(jnp.int32)
      candidate = True if shift + 16 >= width else (b >> (shift + 16)) == prefix
      histogram = histogram.at[digit].add(jnp.asarray(candidate, jnp.int32))
    counts = jnp.cumsum(histogram) + below
    digit = jnp.argmax(counts > k).astype(jnp.int32)
    below = counts[digit] - histogram[digit]
    prefix = (prefix << 16) | digit.astype(int_dtype)
  return jax.lax.bitcast_convert_type(prefix, dtype)


def _states(state):
  return [s for _, s in optax.tree.get_all_with_path(state, "HyperRegState")]


def _inverse_summary(leaves, prefix, median):
  """``{prefix + stat: value}``: min, median, mean and max of ``1 / x`` over the entries of
  the positive ``leaves`` (an empty dict of NaNs when they have no entries)."""
  leaves = [b for b in leaves if b.size]
  keys = [prefix + k for k in _STATS if median or k != "median"]
  if not leaves:
    return dict.fromkeys(keys, jnp.full((), jnp.nan, jnp.float32))
  dtype = jnp.result_type(*leaves)
  leaves = [b.astype(dtype) for b in leaves]
  n = optax.tree.size(leaves)
  # Reduce leaf by leaf (no concatenated copy); 1/x is decreasing in x.
  stats = {
    "min": 1.0 / optax.tree.max(leaves),
    "mean": optax.tree.sum(jax.tree.map(lambda b: 1.0 / b, leaves)) / n,
    "max": 1.0 / optax.tree.min(leaves),
  }
  if median and n <= _SORTED_MEDIAN_MAX:  # a short sort beats 2^16-bin histograms
    ordered = jnp.sort(jnp.concatenate([b.ravel() for b in leaves]))
    stats["median"] = 0.5 * (1.0 / ordered[(n - 1) // 2] + 1.0 / ordered[n // 2])
  elif median:
    lower, upper = _kth_smallest(leaves, (n - 1) // 2), _kth_smallest(leaves, n // 2)
    stats["median"] = 0.5 * (1.0 / lower + 1.0 / upper)
  return {prefix + k: stats[k] for k in _STATS if prefix + k in keys}


def inverse_beta_stats(state, *, median: bool = True) -> dict[str, jax.Array]:
  """Min, median, mean and max of ``1 / beta``, the rules' own learning rate, in a state.

  Finds every :class:`HyperRegState` inside ``state`` (a chain, ``inject_hyperparams``,
  ``MultiSteps``, ...) and summarises ``1 / beta`` over all entries of beta (one per
  coordinate, per tensor or a single one, as the granularity says). This is *not* the
  step size when ``learning_rate`` is not 1 (a schedule, say): :func:`step_size_stats`
  multiplies it in. The median shows what the mean hides: weights without a data gradient
  (say, on always-zero pixels) keep the initial learning rate forever. It is exact (the
  mean of the two middle entries for an even count) and costs a few passes over beta (a
  sort when it has at most 4096 entries). Returns ``{}`` when there is no such state,
  e.g. for ``optax.sgd``, and NaNs when beta has no entries. ``median=False`` leaves the
  median out, for logging at every step (min, mean and max are one pass each).

  Returns:
    ``{"inv_beta_min", "inv_beta_median", "inv_beta_mean", "inv_beta_max"}``.

  Example:
    >>> import jax.numpy as jnp, optax, hyperreg_jax as hr
    >>> state = hr.kl2(init_lr=0.1, learning_rate=optax.constant_schedule(0.0)).init(jnp.ones(3))
    >>> {k: round(float(v), 4) for k, v in hr.inverse_beta_stats(state).items()}
    {'inv_beta_min': 0.1, 'inv_beta_median': 0.1, 'inv_beta_mean': 0.1, 'inv_beta_max': 0.1}
  """
  states = _states(state)
  if not states:
    return {}
  leaves = [jnp.asarray(b) for s in states for b in jax.tree.leaves(s.beta)]
  return _inverse_summary(leaves, "inv_beta_", median)


def step_size_stats(state, learning_rate, *, median: bool = True) -> dict[str, jax.Array]:
  """Min, median, mean and max step size ``learning_rate * 1 / beta`` in a state.

  What each coordinate's gradient is multiplied by at the current step count: the
  ``learning_rate`` given to the alias (a number, or an optax schedule evaluated at the
  ``count`` of each :class:`HyperRegState` found in ``state``, as
  :func:`optax.scale_by_learning_rate` does for the next update), times ``1 / beta``. With
  Algorithms 1 and 2 the next update first grows beta (by at most ``growth``), so its
  step is at most this. During a warm-up the step is ``learning_rate * warmup_lr``
  instead. With :func:`optax.inject_hyperparams`, pass
  ``state.hyperparams["learning_rate"]``. Exact, jit-able, and as costly as
  :func:`inverse_beta_stats` (``median=False``: min, mean and max only).

  Args:
    state: an optimizer state holding one or more :class:`HyperRegState`.
    learning_rate: the ``learning_rate`` of the alias: a number >= 0 or a schedule.
    median: whether to compute the median too.

  Returns:
    ``{"step_size_min", "step_size_median", "step_size_mean", "step_size_max"}``; ``{}``
    when ``state`` holds no :class:`HyperRegState`.

  Example:
    >>> import jax.numpy as jnp, optax, hyperreg_jax as hr
    >>> schedule = optax.linear_schedule(0.0, 1.0, transition_steps=10)  # a warm-up from 0
    >>> opt = hr.kl2(init_lr=0.1, learning_rate=schedule)
    >>> state = opt.init(jnp.ones(3))
    >>> {k: float(v) for k, v in hr.step_size_stats(state, schedule, median=False).items()}
    {'step_size_min': 0.0, 'step_size_mean': 0.0, 'step_size_max': 0.0}
  """
  if not callable(learning_rate):
    dtype = getattr(learning_rate, "dtype", None) or np.asarray(learning_rate).dtype
    if jnp.shape(learning_rate) != () or dtype.kind not in "iuf" or isinstance(learning_rate, bool):
      raise ValueError(
        f"learning_rate must be a number >= 0 or an optax schedule, got {learning_rate!r}."
      )
  states = _states(state)
  if not states:
    return {}
  leaves = []
  for s in states:
    rate = learning_rate(s.count) if callable(learning_rate) else learning_rate
    # beta / rate: its inverse is the step size (beta / 0 = inf: a zero step).
    leaves += [jnp.asarray(b) / jnp.asarray(rate, b.dtype) for b in jax.tree.leaves(s.beta)]
  return _inverse_summary(leaves, "step_size_", median)


def lr_stats(state, *, median: bool = True) -> dict[str, jax.Array]:
  """:func:`inverse_beta_stats` under the names the training logs use (``lr_min``, ...).

  These are statistics of ``1 / beta``, the rules' own learning rate, *not* of the step
  size: ``learning_rate`` (a multiplier, or a schedule) is not included, so with a
  schedule at 0 they still show the initial learning rate. Log
  :func:`step_size_stats` for the steps taken.

  Returns:
    ``{"lr_min", "lr_median", "lr_mean", "lr_max"}`` (``lr_median`` only with
    ``median=True``).

  Example:
    >>> import jax.numpy as jnp, hyperreg_jax as hr
    >>> state = hr.kl2(init_lr=0.1).init({"w": jnp.ones(3)})
    >>> {k: round(float(v), 4) for k, v in hr.lr_stats(state).items()}
    {'lr_min': 0.1, 'lr_median': 0.1, 'lr_mean': 0.1, 'lr_max': 0.1}
  """
  stats = inverse_beta_stats(state, median=median)
  return {k.replace("inv_beta_", "lr_"): v for k, v in stats.items()}
