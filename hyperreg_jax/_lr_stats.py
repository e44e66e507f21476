"""Logging: the min, median, mean and max effective learning rate ``1 / beta`` of a state."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

# Up to this many entries of beta, lr_stats finds the median by sorting them.
_SORTED_MEDIAN_MAX = 4096


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


def lr_stats(state, *, median: bool = True) -> dict[str, jax.Array]:
  """Min, median, mean and max effective learning rate ``1 / beta`` in an optimizer state.

  Finds every :class:`HyperRegState` inside ``state`` (a chain,
  ``inject_hyperparams``, ``MultiSteps``, ...) and summarises ``1 / beta`` over all
  entries of beta (one per coordinate, per tensor or a single one, as the granularity
  says); the ``learning_rate`` multiplier of the aliases is not included. The median
  shows what the mean hides: weights without a data gradient (say, on always-zero
  pixels) keep the initial learning rate forever. It is exact (the mean of the two
  middle entries for an even count) and costs a few passes over beta (a sort when it
  has at most 4096 entries). Returns
  ``{}`` when there is no such state, e.g. for ``optax.sgd``, and NaNs when beta has
  no entries. ``median=False`` leaves ``lr_median`` out, for logging at every step
  (min, mean and max are one pass each; the median costs several).

  Example:
    >>> import jax.numpy as jnp, hyperreg_jax as hr
    >>> state = hr.kl2(init_lr=0.1).init({"w": jnp.ones(3)})
    >>> {k: round(float(v), 4) for k, v in hr.lr_stats(state).items()}
    {'lr_min': 0.1, 'lr_median': 0.1, 'lr_mean': 0.1, 'lr_max': 0.1}
  """
  states = optax.tree.get_all_with_path(state, "HyperRegState")
  if not states:
    return {}
  leaves = [jnp.asarray(b) for _, s in states for b in jax.tree.leaves(s.beta)]
  leaves = [b for b in leaves if b.size]
  keys = ("lr_min", "lr_median", "lr_mean", "lr_max") if median else ("lr_min", "lr_mean", "lr_max")
  if not leaves:
    return dict.fromkeys(keys, jnp.full((), jnp.nan, jnp.float32))
  dtype = jnp.result_type(*leaves)
  leaves = [b.astype(dtype) for b in leaves]
  n = optax.tree.size(leaves)
  # Reduce leaf by leaf (no concatenated copy); 1/beta is decreasing in beta.
  stats = {
    "lr_min": 1.0 / optax.tree.max(leaves),
    "lr_mean": optax.tree.sum(jax.tree.map(lambda b: 1.0 / b, leaves)) / n,
    "lr_max": 1.0 / optax.tree.min(leaves),
  }
  if median and n <= _SORTED_MEDIAN_MAX:  # a short sort beats 2^16-bin histograms
    ordered = jnp.sort(jnp.concatenate([b.ravel() for b in leaves]))
    stats["lr_median"] = 0.5 * (1.0 / ordered[(n - 1) // 2] + 1.0 / ordered[n // 2])
  elif median:
    lower, upper = _kth_smallest(leaves, (n - 1) // 2), _kth_smallest(leaves, n // 2)
    stats["lr_median"] = 0.5 * (1.0 / lower + 1.0 / upper)
  return {k: stats[k] for k in keys}
