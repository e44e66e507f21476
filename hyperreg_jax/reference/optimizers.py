"""Independent NumPy reference optimizers built on :mod:`hyperreg_jax.reference.rules`.

* ``HyperRegNumpy``: a NumPy optimizer over (nested) dicts of arrays.
* ``WNGradNumpy`` / ``wngrad_numpy``, ``AdaGradNumpy`` / ``adagrad_numpy``: the two
  classical special cases of docs/method.md, section 5.
* ``tree_map``, ``tree_leaves``: minimal pytree helpers (nested dict / list / tuple).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import numpy as np

__all__ = [
  "HyperRegNumpy",
  "HyperRegNumpyState",
  "WNGradNumpy",
  "wngrad_numpy",
  "AdaGradNumpy",
  "adagrad_numpy",
  "tree_map",
  "tree_leaves",
]

from hyperreg_jax.reference.rules import (
  GRANULARITIES,
  _check_algorithm,
  _check_divergence,
  _f64,
  new_beta,
)

# ---------------------------------------------------------------------------------------
# Minimal pytree helpers (nested dict / list / tuple; everything else is a leaf)
# ---------------------------------------------------------------------------------------


def tree_map(fn: Callable, tree, *rest):
  """Map ``fn`` over the leaves of nested dicts/lists/tuples (structures must match)."""
  if isinstance(tree, dict):
    return {k: tree_map(fn, tree[k], *[r[k] for r in rest]) for k in tree}
  if isinstance(tree, (list, tuple)) and not hasattr(tree, "_fields"):
    return type(tree)(tree_map(fn, t, *[r[i] for r in rest]) for i, t in enumerate(tree))
  return fn(tree, *rest)


def tree_leaves(tree) -> list:
  """Leaves in a deterministic order (dict keys sorted, like JAX)."""
  if isinstance(tree, dict):
    out = []
    for k in sorted(tree):
      out.extend(tree_leaves(tree[k]))
    return out
  if isinstance(tree, (list, tuple)) and not hasattr(tree, "_fields"):
    out = []
    for t in tree:
      out.extend(tree_leaves(t))
    return out
  return [tree]


def _sq_sum(x) -> float:
  x = _f64(x)
  return float(np.sum(x * x))


# ---------------------------------------------------------------------------------------
# The optimizer
# ---------------------------------------------------------------------------------------


class HyperRegNumpyState(NamedTuple):
  """``count``: number of steps taken (int). ``beta``: inverse learning rates (float64):
  a tree like the params (granularity "coordinate"), a tree of 0-d arrays, one per leaf
  ("tensor"), or a single 0-d array ("global")."""

  count: int
  beta: Any


class HyperRegNumpy:
  """Hyper-regularized gradient descent in NumPy (reference implementation).

  ``HyperRegNumpy(divergence="rkl", algorithm=1, init_lr=1e-2, growth=2.0,
  weight_decay=0.0, warmup_steps=0, warmup_lr=None, granularity="coordinate")``

  ``state = opt.init(params)`` sets ``beta = 1 / init_lr`` (float64) and ``count = 0``;
  ``params, state = opt.step(params, grads, state)`` returns new params (same structure;
  each leaf keeps its dtype, the arithmetic is float64) and the new state.
  Params/grads are nested dicts (or lists/tuples) of arrays, or a single array.

  One step, with ``t = state.count``:

  1. Weight decay: ``g = grad + weight_decay * param`` (the decayed gradient drives both
     beta and the step; ``optax.add_decayed_weights`` before the scaling, docs/method.md, section 4).
  2. Warm-up (``t < warmup_steps``): ``x' = x - warmup_lr * g``; beta is not adapted.
     ``warmup_lr=None`` means ``warmup_lr = init_lr``. At ``t == warmup_steps > 0`` beta
     is (re)set to ``1 / init_lr`` before the rule, so the rule starts from
     ``1 / init_lr`` at step ``warmup_steps``.
  3. Otherwise, with ``b = beta`` and ``geff`` as below:

     * algorithm 1 or 2: ``beta' = new_beta(divergence, algorithm, b, geff, growth)``,
       ``x' = x - g / beta'``;
     * algorithm 3: ``x' = x - g / b`` (the old beta), then
       ``beta' = new_beta(divergence, 2, b, geff, growth)``.

  Granularity (what ``geff`` is; the step is always ``-g / beta`` elementwise with the
  beta broadcast over the coordinates it covers):

  * ``"coordinate"`` (the paper): one beta per coordinate, ``geff = g``.
  * ``"tensor"``: one scalar beta per leaf; ``geff = sqrt(mean(g**2))`` over that leaf
    (``g**2`` replaced by the leaf's MEAN square).
  * ``"global"``: one scalar beta for the whole tree; ``geff = sqrt(sum(g**2))`` over
    all coordinates of all leaves (the squared global norm, WNGrad-style). With
    ``chi2`` + algorithm 2 the increment is ``||g||^2 / (2 b)``: half WNGrad's.
  """

  def __init__(
    self,
    divergence: str = "rkl",
    algorithm: int = 1,
    init_lr: float = 1e-2,
    growth: float | None = 2.0,
    weight_decay: float = 0.0,
    warmup_steps: int = 0,
    warmup_lr: float | None = None,
    granularity: str = "coordinate",
  ):
    self.divergence = _check_divergence(divergence)
    self.algorithm = _check_algorithm(algorithm)
    if not init_lr > 0:
      raise ValueError("init_lr must be > 0")
    if granularity not in GRANULARITIES:
      raise ValueError(f"granularity must be one of {GRANULARITIES}")
    if growth is not None and not float(growth) >= 1.0:
      raise ValueError("growth must be >= 1 or None")
    if warmup_steps < 0:
      raise ValueError("warmup_steps must be >= 0")
    self.init_lr = float(init_lr)
    self.growth = None if growth is None else float(growth)
    self.weight_decay = float(weight_decay)
    self.warmup_steps = int(warmup_steps)
    self.warmup_lr = self.init_lr if warmup_lr is None else float(warmup_lr)
    self.granularity = granularity

  # -- state ---------------------------------------------------------------------
  def _fresh_beta(self, params):
    b0 = 1.0 / self.init_lr
    if self.granularity == "coordinate":
      return tree_map(lambda p: np.full(np.shape(p), b0, dtype=np.float64), params)
    if self.granularity == "tensor":
      return tree_map(lambda p: np.array(b0, dtype=np.float64), params)
    return np.array(b0, dtype=np.float64)

  def init(self, params) -> HyperRegNumpyState:
    return HyperRegNumpyState(count=0, beta=self._fresh_beta(params))

  # -- step ----------------------------------------------------------------------
  def _rule(self, algorithm, b, geff):
    return np.asarray(new_beta(self.divergence, algorithm, b, geff, self.growth))

  def step(self, params, grads, state: HyperRegNumpyState):
    count = int(state.count)
    wd = self.weight_decay
    g = tree_map(lambda gr, p: _f64(gr) + wd * _f64(p), grads, params)

    def cast_like(new, p):
      # float64 arithmetic; a floating-point leaf keeps its dtype
      dtype = np.asarray(p).dtype
      new = np.asarray(new)
      return new.astype(dtype, copy=False) if np.issubdtype(dtype, np.floating) else new

    if count < self.warmup_steps:
      lr = self.warmup_lr
      new_params = tree_map(lambda p, gg: cast_like(_f64(p) - lr * gg, p), params, g)
      return new_params, HyperRegNumpyState(count=count + 1, beta=state.beta)

    beta = state.beta
    if self.warmup_steps > 0 and count == self.warmup_steps:
      beta = self._fresh_beta(params)

    alg_rule = 2 if self.algorithm == 3 else self.algorithm

    if self.granularity == "coordinate":
      beta_new = tree_map(lambda b, gg: self._rule(alg_rule, b, gg), beta, g)
    elif self.granularity == "tensor":
      beta_new = tree_map(
        lambda b, gg: self._rule(alg_rule, b, np.sqrt(np.mean(gg * gg)) if gg.size else 0.0),
        beta,
        g,
      )
    else:
      gnorm = math.sqrt(sum(_sq_sum(leaf) for leaf in tree_leaves(g)))
      beta_new = self._rule(alg_rule, beta, gnorm)

    beta_step = beta if self.algorithm == 3 else beta_new
    if self.granularity == "global":
      new_params = tree_map(lambda p, gg: cast_like(_f64(p) - gg / beta_step, p), params, g)
    else:
      new_params = tree_map(lambda p, gg, bb: cast_like(_f64(p) - gg / bb, p), params, g, beta_step)
    return new_params, HyperRegNumpyState(count=count + 1, beta=beta_new)


# ---------------------------------------------------------------------------------------
# Classical special cases (docs/method.md, section 5)
# ---------------------------------------------------------------------------------------


class WNGradNumpy:
  """WNGrad (Wu, Ward, Bottou 2018), exactly: one scalar ``b``, ``b_0 = 1 / init_lr``,

      b_{t+1} = b_t + ||g_t||^2 / b_t ,   x_{t+1} = x_t - g_t / b_{t+1}

  with ``||g_t||`` the global Euclidean norm over all leaves. State: ``(count, b)``.
  """

  def __init__(self, init_lr: float):
    self.init_lr = float(init_lr)

  def init(self, params):
    return HyperRegNumpyState(count=0, beta=np.array(1.0 / self.init_lr))

  def step(self, params, grads, state):
    b = float(state.beta)
    sq = sum(_sq_sum(leaf) for leaf in tree_leaves(grads))
    b_new = b + sq / b
    new_params = tree_map(lambda p, gg: _f64(p) - _f64(gg) / b_new, params, grads)
    return new_params, HyperRegNumpyState(count=state.count + 1, beta=np.array(b_new))


def wngrad_numpy(params, grads_sequence: Iterable, init_lr: float):
  """Run WNGrad over a fixed sequence of gradients; returns ``(params, b)`` at the end."""
  opt = WNGradNumpy(init_lr)
  state = opt.init(params)
  for grads in grads_sequence:
    params, state = opt.step(params, grads, state)
  return params, float(state.beta)


class AdaGradNumpy:
  """Diagonal AdaGrad as in docs/method.md, section 5: ``beta_0 = 1 / init_lr`` per coordinate,

      beta_{t+1}^2 = beta_0^2 + sum_{s <= t} g_s^2 ,   x_{t+1} = x_t - g_t / beta_{t+1}

  (``optax.adagrad(learning_rate=1, initial_accumulator_value=beta_0^2, eps=0)``).
  The state holds the accumulator ``beta^2`` (a tree like the params) in ``beta``.
  """

  def __init__(self, init_lr: float):
    self.init_lr = float(init_lr)

  def init(self, params):
    b0sq = (1.0 / self.init_lr) ** 2
    return HyperRegNumpyState(
      count=0, beta=tree_map(lambda p: np.full(np.shape(p), b0sq, dtype=np.float64), params)
    )

  def step(self, params, grads, state):
    acc = tree_map(lambda a, gg: a + _f64(gg) ** 2, state.beta, grads)
    new_params = tree_map(lambda p, gg, a: _f64(p) - _f64(gg) / np.sqrt(a), params, grads, acc)
    return new_params, HyperRegNumpyState(count=state.count + 1, beta=acc)


def adagrad_numpy(params, grads_sequence: Iterable, init_lr: float):
  """Run AdaGrad over a fixed sequence of gradients; returns ``(params, beta)`` at the end
  (``beta = sqrt(beta_0^2 + sum g^2)``, a tree like the params)."""
  opt = AdaGradNumpy(init_lr)
  state = opt.init(params)
  for grads in grads_sequence:
    params, state = opt.step(params, grads, state)
  return params, tree_map(np.sqrt, state.beta)
