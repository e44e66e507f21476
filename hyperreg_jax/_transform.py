"""The hyper-regularized transformation: :class:`HyperRegState`, :func:`scale_by_hyperreg`, and
:func:`hyperreg`, which chains it with weight decay and a learning rate (the math: :mod:`.rules`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import optax

from hyperreg_jax import divergences, rules
from hyperreg_jax._validate import (
  Required,
  check_beta0,
  check_decay,
  check_float_params,
  check_init_lr,
  check_positive,
  check_transform_options,
)

#: The granularities of beta (one per coordinate as in the paper, per tensor, or one in all).
GRANULARITIES = ("coordinate", "tensor", "global")
DECAYS = ("coupled", "decoupled")
#: The paper's L2 regularisation, the default weight decay of every alias.
DEFAULT_WEIGHT_DECAY = 1e-4

Granularity = Literal["coordinate", "tensor", "global"]
Decay = Literal["coupled", "decoupled"]
Mask = Any | Callable[[optax.Params], Any] | None


class HyperRegState(NamedTuple):
  """State of :func:`scale_by_hyperreg`."""

  count: jax.Array  # shape=(), dtype=int32; saturates at the int32 maximum.
  beta: Any  # inverse learning rates, dtype beta_dtype (default: the params' dtype
  # promoted to at least float32): the params' tree ("coordinate"), one scalar per
  # leaf ("tensor") or a single scalar ("global").


# --- magnitudes -------------------------------------------------------------------------------


def _scaled_root(x, reduce):
  """``sqrt(reduce(x^2))``, computed on ``x / 2^e`` with ``2^e`` near ``max|x|``.

  Scaling by an exact power of two (in two halves, so the factor itself is never
  subnormal) keeps gradients near the float maximum from being flushed to zero. A
  result past the float range saturates at its maximum; non-finite input gives
  non-finite output.
  """
  x = x.astype(rules.compute_dtype(x))
  if x.size == 0:
    return jnp.zeros((), x.dtype)
  scale = jnp.max(jnp.abs(x))
  _, exponent = jnp.frexp(jnp.where(jnp.isfinite(scale), scale, 1.0))
  half = exponent // 2
  scaled = jnp.ldexp(jnp.ldexp(x, -half), half - exponent)  # x / 2^exponent, |.| <= 1
  root = jnp.ldexp(jnp.ldexp(jnp.sqrt(reduce(jnp.square(scaled))), half), exponent - half)
  return jnp.where(jnp.isfinite(scale), jnp.minimum(root, jnp.finfo(x.dtype).max), scale)


def _norm(x):
  return _scaled_root(x, jnp.sum)


def _rms(x):
  return _scaled_root(x, jnp.mean)


def _global_norm(tree):
  leaves = jax.tree.leaves(tree)
  if not leaves:
    return jnp.zeros((), jnp.float32)
  return _norm(jnp.stack([_norm(leaf) for leaf in leaves]))


def _gradient_magnitude(granularity, grads):
  """What drives beta: ``g`` itself, per-leaf RMS, or the global norm."""
  if granularity == "coordinate":
    return grads
  if granularity == "tensor":
    return jax.tree.map(_rms, grads)
  return _global_norm(grads)


def _state_dtype(dtype, beta_dtype):
  return (
    jnp.dtype(beta_dtype) if beta_dtype is not None else rules.compute_dtype(jnp.zeros((), dtype))
  )


# --- the transformation ---------------------------------------------------------------------


def _as_arrays(tree):
  """Python scalars (``opt.init(1.0)``, as optax accepts them) as 0-d arrays."""
  return jax.tree.map(jnp.asarray, tree)


def scale_by_hyperreg(
  init_lr: jax.typing.ArrayLike = Required("scale_by_hyperreg"),
  *,
  divergence: str | divergences.Divergence,
  algorithm: int,
  growth: jax.typing.ArrayLike | None = 2.0,
  warmup_steps: int = 0,
  warmup_lr: jax.typing.ArrayLike | None = None,
  hold_steps: int = 0,
  granularity: Granularity = "coordinate",
  decoupled_weight_decay: jax.typing.ArrayLike | None = None,
  mask: Mask = None,
  solver_iterations: int | None = None,
  beta_dtype: jax.typing.DTypeLike | None = None,
) -> optax.GradientTransformationExtraArgs:
  r"""Rescale updates by hyper-regularized inverse learning rates.

  Returns the *direction* ``g / beta_{t+1}`` (Algorithm 3: ``g / beta_t``), as
  :func:`optax.scale_by_adam` returns Adam's. Unlike :func:`hyperreg` it adds no weight
  decay before it and no learning rate after it (chain it with
  :func:`optax.scale_by_learning_rate`, as :func:`hyperreg` does); ``decoupled_weight_decay``
  is the decay of ``hyperreg(decay="decoupled")``. See :func:`hyperreg` and the aliases
  (:func:`kl1`, ..., :func:`chi2_3`) for the rules, the warm-up, the granularities, beta's
  dtype and non-finite gradients.

  Args:
    init_lr: required: the initial learning rate ``1 / beta_0``; may be a traced array.
    divergence: ``"kl"``, ``"rkl"``, ``"hellinger"``, ``"chi2"``,
      ``"neyman_chi2"`` or a :class:`~hyperreg_jax.Divergence` (keyword-only, required).
    algorithm: 1 (exact), 2 (alternating) or 3 (lagged) (keyword-only, required).
    growth: growth clipping factor (``>= 1``, may be traced); ``None`` or ``inf``
      disables the upper clip.
    warmup_steps: number of steps with the direction ``warmup_lr * g`` before the rule starts.
    warmup_lr: the learning rate of the warm-up steps.
    hold_steps: number of steps ``g / beta_0`` (beta not adapted) after the warm-up.
    granularity: ``"coordinate"``, ``"tensor"`` or ``"global"``.
    decoupled_weight_decay: ``wd`` of a decay added to the direction's numerator,
      ``g + wd * x``, and not seen by beta (default ``None``: none).
    mask: which leaves get ``decoupled_weight_decay``, as in :func:`optax.adamw`.
    solver_iterations: Newton steps for divergences without a closed form (default:
      enough for the dtype's precision at any growth, see
      :func:`hyperreg_jax.rules.new_beta`).
    beta_dtype: the dtype of beta (default: the params' dtype, at least float32).

  Returns:
    An :class:`optax.GradientTransformationExtraArgs` whose state is a
    :class:`HyperRegState`.

  Example:
    >>> import jax.numpy as jnp
    >>> import hyperreg_jax as hr
    >>> tx = hr.scale_by_hyperreg(0.5, divergence="rkl", algorithm=1)
    >>> params = jnp.array([1.0, -2.0])
    >>> state = tx.init(params)
    >>> direction, state = tx.update(2 * params, state)  # gradient of ||x||^2
    >>> state.beta  # [2 * 1.618, 2 * 2 (the growth clip)]
    Array([3.236068, 4.      ], dtype=float32)
    >>> direction  # g / beta
    Array([ 0.618034, -1.      ], dtype=float32)
  """
  check_init_lr(init_lr, learning_rate=None)
  return _scale_by_hyperreg(
    init_lr,
    divergence=divergence,
    algorithm=algorithm,
    growth=growth,
    warmup_steps=warmup_steps,
    warmup_lr=warmup_lr,
    hold_steps=hold_steps,
    granularity=granularity,
    decoupled_weight_decay=decoupled_weight_decay,
    mask=mask,
    solver_iterations=solver_iterations,
    beta_dtype=beta_dtype,
  )


def _scale_by_hyperreg(
  init_lr,
  *,
  divergence,
  algorithm,
  growth,
  warmup_steps,
  warmup_lr,
  hold_steps,
  granularity,
  decoupled_weight_decay,
  mask,
  solver_iterations,
  beta_dtype,
):
  """:func:`scale_by_hyperreg` once its caller (it, or :func:`hyperreg`) has checked that
  ``init_lr`` was given: its value and every other argument are checked here."""
  divergence = divergences.get(divergence)
  algorithm = rules.check_algorithm(algorithm)
  check_positive(init_lr, "init_lr")
  growth = rules.check_growth(growth)
  check_transform_options(
    warmup_steps, warmup_lr, granularity, beta_dtype, GRANULARITIES, hold_steps
  )
  rules.check_solver_iterations(solver_iterations, growth)
  if decoupled_weight_decay is not None:
    check_positive(decoupled_weight_decay, "decoupled_weight_decay", strict=False)
  no_decay = decoupled_weight_decay is None or (
    isinstance(decoupled_weight_decay, (int, float)) and decoupled_weight_decay == 0
  )
  decay = None if no_decay else optax.add_decayed_weights(decoupled_weight_decay, mask)
  rule_algorithm = 2 if algorithm == 3 else algorithm

  def new_beta(beta, magnitude):
    return rules.new_beta(
      divergence, rule_algorithm, beta, magnitude, growth, solver_iterations=solver_iterations
    )

  def beta0(shape, dtype):
    dtype = _state_dtype(dtype, beta_dtype)
    check_beta0(init_lr, dtype)
    info = jnp.finfo(dtype)
    lr = jnp.asarray(init_lr, dtype)
    # A traced init_lr <= 0, NaN or inf has no beta_0: NaN makes every step NaN (visible)
    # where the clip would give a huge finite step (a concrete one raised above).
    valid = (lr > 0) & jnp.isfinite(lr)
    value = jnp.where(
      valid, jnp.clip(1.0 / jnp.where(valid, lr, 1.0), info.tiny, info.max), jnp.nan
    )
    return jnp.full(shape, value, dtype)

  def init_fn(params):
    params = _as_arrays(params)
    check_float_params(params)
    if granularity == "global":
      leaves = jax.tree.leaves(params)
      dtype = jnp.result_type(*leaves) if leaves else jnp.float32
      beta = beta0((), dtype)
    else:
      shape = (lambda p: p.shape) if granularity == "coordinate" else (lambda p: ())
      beta = jax.tree.map(lambda p: beta0(shape(p), p.dtype), params)
    return HyperRegState(count=jnp.zeros([], jnp.int32), beta=beta)

  def update_fn(updates, state, params=None, **extra_args):
    del extra_args
    updates = _as_arrays(updates)
    magnitude = _gradient_magnitude(granularity, updates)
    proposed = jax.tree.map(new_beta, state.beta, magnitude)

    def direction(g, b):
      dtype = rules.compute_dtype(g, b)
      return g.astype(dtype) / b.astype(dtype)

    def finite_input(g, old):
      # Algorithm 3 steps by g / beta_t anyway: testing that quotient (not finite when g
      # is not, or when the step overflows regardless) spares a second read of g.
      lagged = algorithm == 3 and granularity == "coordinate"
      return jnp.isfinite(direction(g, old) if lagged else g)

    # A non-finite gradient (or result) leaves beta as it was, entry by entry.
    beta = jax.tree.map(
      lambda new, old, g: jnp.where(jnp.isfinite(new) & finite_input(g, old), new, old),
      proposed,
      state.beta,
      magnitude,
    )
    step_beta = state.beta if algorithm == 3 else beta
    if granularity == "global":
      step_beta = jax.tree.map(lambda _: step_beta, updates)

    # The step's numerator: g, or g + wd * x with decoupled weight decay (beta saw g alone).
    numerator = updates
    if decay is not None:
      params = _as_arrays(params)
      numerator, _ = decay.update(updates, decay.init(params), params)
    directions = jax.tree.map(direction, numerator, step_beta)
    # No warm-up without a warm-up rate (validated above for concrete warmup_steps;
    # inject_hyperparams turns the default warmup_steps=0 into an array).
    if warmup_lr is not None and not (isinstance(warmup_steps, int) and warmup_steps == 0):
      in_warmup = state.count < warmup_steps

      def warm(d, g, b):  # a NaN beta (an invalid traced init_lr) makes this step NaN too
        return jnp.where(in_warmup, jnp.where(jnp.isnan(b), jnp.nan, warmup_lr * g), d)

      directions = jax.tree.map(warm, directions, numerator, step_beta)
      beta = jax.tree.map(lambda new, old: jnp.where(in_warmup, old, new), beta, state.beta)
    # Held steps after the warm-up: g / beta_t with beta not adapted (still beta_0; a NaN one
    # makes the step NaN). inject_hyperparams turns the default hold_steps=0 into an array.
    if not (isinstance(hold_steps, int) and hold_steps == 0):
      start = 0 if warmup_lr is None else warmup_steps
      in_hold = (state.count >= start) & (state.count - start < hold_steps)
      held = state.beta
      if granularity == "global":
        held = jax.tree.map(lambda _: state.beta, updates)
      directions = jax.tree.map(
        lambda d, g, b: jnp.where(in_hold, direction(g, b), d), directions, numerator, held
      )
      beta = jax.tree.map(lambda new, old: jnp.where(in_hold, old, new), beta, state.beta)
    directions = optax.tree.cast_like(directions, updates)
    beta = optax.tree.cast_like(beta, state.beta)
    return directions, HyperRegState(count=optax.safe_increment(state.count), beta=beta)

  return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def hyperreg(
  init_lr: jax.typing.ArrayLike = Required("hyperreg"),
  *,
  divergence: str | divergences.Divergence,
  algorithm: int,
  learning_rate: optax.ScalarOrSchedule = 1.0,
  weight_decay: jax.typing.ArrayLike = DEFAULT_WEIGHT_DECAY,
  decay: Decay = "coupled",
  mask: Mask = None,
  beta_dtype: jax.typing.DTypeLike | None = None,
  solver_iterations: int | None = None,
  growth: jax.typing.ArrayLike | None = 2.0,
  warmup_steps: int = 0,
  warmup_lr: jax.typing.ArrayLike | None = None,
  hold_steps: int = 0,
  granularity: Granularity = "coordinate",
) -> optax.GradientTransformationExtraArgs:
  r"""Hyper-regularized gradient descent with L2 regularisation (the paper's setup).

  With :math:`g_t` the gradient plus the decay term ``weight_decay * x_t`` (it drives
  beta too, as in the paper) and :math:`\eta_t` the ``learning_rate``,

  .. math::

    \beta_{t+1} = \operatorname{clip}\bigl(\mathrm{rule}(\beta_t, g_t),\,
      \beta_t,\, \mathrm{growth}\,\beta_t\bigr), \qquad
    x_{t+1} = x_t - \eta_t\, g_t / \beta_{t+1},

  with :math:`\beta_0 = 1 / \mathrm{init\_lr}` and the rule of ``divergence`` and
  ``algorithm``, the root of its first-order condition
  (:func:`hyperreg_jax.rules.new_beta`); Algorithm 3 steps with :math:`\beta_t`, then
  updates beta by Algorithm 2. See the aliases :func:`kl1` ... :func:`chi2_3` for each
  rule's formula. With ``decay="decoupled"`` the rule sees the raw gradient and the step is
  :math:`\eta_t (g_t + \mathrm{weight\_decay}\, x_t) / \beta_{t+1}` (the reproducibility
  study's VGG code, as AdamW keeps the decay out of Adam's moments).

  ``init_lr`` is the rule's own initial learning rate and must be given;
  ``learning_rate`` only multiplies ``1 / beta`` (1 by default), for a schedule, as in
  :func:`optax.contrib.dog` and :func:`optax.contrib.prodigy` (which, unlike these
  rules, need no initial learning rate).

  During the first ``warmup_steps`` steps the step is ``learning_rate * warmup_lr * g`` and
  beta stays at ``1 / init_lr``. The ``hold_steps`` steps after the warm-up are plain steps
  ``learning_rate * g / beta_0`` at the initial learning rate, beta held (the study's code
  takes one, its "reset step"); the rule adapts beta from step ``warmup_steps + hold_steps``
  on.

  Granularity (what plays the role of ``g`` in the rule):

  * ``"coordinate"``: one beta per parameter entry (the paper).
  * ``"tensor"``: one beta per leaf, driven by the leaf's root mean square
    ``sqrt(mean(g^2))``.
  * ``"global"``: a single beta, driven by the global norm ``sqrt(sum(g^2))``
    (WNGrad-style).

  beta is kept in ``beta_dtype``, by default the params' dtype promoted to at least
  float32, so that bfloat16 or float16 params neither freeze nor overflow it; the
  updates keep the params' dtype. Non-finite gradients give non-finite updates (so
  :func:`optax.apply_if_finite` can skip them) but never a non-finite beta: such
  entries keep their old value (with Algorithm 3, per coordinate, so do entries whose
  step ``g / beta_t`` overflows: that step is non-finite anyway). A concrete ``init_lr``
  that is not a finite number > 0 raises; a traced one (a vmapped grid) gives NaN for
  beta and for every update, in its lane only. Python scalars are taken as 0-d arrays.

  Args:
    init_lr: required: the initial learning rate ``1 / beta_0`` (> 0; may be a traced
      array, then a value <= 0 or not finite gives NaN updates).
    divergence: ``"kl"``, ``"rkl"``, ``"hellinger"``, ``"chi2"``,
      ``"neyman_chi2"`` or a :class:`~hyperreg_jax.Divergence` (keyword-only, required).
    algorithm: 1 (exact), 2 (alternating) or 3 (lagged) (keyword-only, required).
    learning_rate: a multiplier on ``1 / beta`` (a scalar or an optax schedule, e.g. a
      warm-up or cosine schedule), not the initial learning rate: the step is
      ``learning_rate * g / beta``.
    weight_decay: L2 regularisation strength (``>= 0``); the paper's ``1e-4`` by default
      (``hr.DEFAULT_WEIGHT_DECAY``).
    decay: ``"coupled"`` (the paper: :func:`optax.add_decayed_weights` before the rule,
      so the decay term drives beta) or ``"decoupled"`` (the study's VGG code: beta sees
      the raw gradient; the step divides ``g + weight_decay * x`` by beta).
    mask: which leaves get weight decay, as in :func:`optax.adamw`.
    growth: growth clipping factor (``>= 1``, may be traced): ``beta_{t+1}`` is clipped to
      ``[beta_t, growth * beta_t]``; ``None`` or ``inf``: no upper clip.
    warmup_steps: number of steps at the fixed rate ``warmup_lr`` before the rule starts.
    warmup_lr: the learning rate of the warm-up steps (also scaled by ``learning_rate``).
    hold_steps: number of steps at ``init_lr`` (beta held at ``1 / init_lr``) after the warm-up.
    granularity: ``"coordinate"``, ``"tensor"`` or ``"global"`` (see above).
    solver_iterations: Newton steps for a custom divergence (default: automatic).
    beta_dtype: the dtype of beta (default: the params' dtype, at least float32).

  Returns:
    ``optax.chain(optax.add_decayed_weights(weight_decay, mask),
    scale_by_hyperreg(...), optax.scale_by_learning_rate(learning_rate))``, an
    :class:`optax.GradientTransformationExtraArgs` (with ``decay="decoupled"``,
    ``optax.identity()`` first and the decay inside :func:`scale_by_hyperreg`). When
    wrapping it in :func:`optax.inject_hyperparams`, pass ``static_args=("algorithm",
    "warmup_steps", "hold_steps", "solver_iterations")``.

  Example:
    >>> import jax, jax.numpy as jnp, optax
    >>> import hyperreg_jax as hr
    >>> opt = hr.hyperreg(0.1, divergence="rkl", algorithm=1)
    >>> params = {"w": jnp.ones(3)}
    >>> state = opt.init(params)
    >>> for _ in range(100):
    ...   grads = jax.grad(lambda p: jnp.sum((p["w"] - 2.0) ** 2))(params)
    ...   updates, state = opt.update(grads, state, params)
    ...   params = optax.apply_updates(params, updates)
    >>> bool(jnp.allclose(params["w"], 2.0, atol=1e-2))
    True

  References:
    Xie, Jin, Lin, Zhang, `Hyper-Regularization: An Adaptive Choice for the
    Learning Rate in Gradient Descent <https://openreview.net/forum?id=S1e_ssC5F7>`_,
    ICLR 2019 submission.
  """
  check_init_lr(init_lr, learning_rate)
  check_positive(weight_decay, "weight_decay", strict=False)
  check_positive(learning_rate, "learning_rate", strict=False)
  check_decay(decay, DECAYS)
  decoupled = decay == "decoupled"
  return optax.chain(
    optax.identity() if decoupled else optax.add_decayed_weights(weight_decay, mask),
    _scale_by_hyperreg(
      init_lr,
      divergence=divergence,
      algorithm=algorithm,
      growth=growth,
      warmup_steps=warmup_steps,
      warmup_lr=warmup_lr,
      hold_steps=hold_steps,
      granularity=granularity,
      decoupled_weight_decay=weight_decay if decoupled else None,
      mask=mask if decoupled else None,
      solver_iterations=solver_iterations,
      beta_dtype=beta_dtype,
    ),
    optax.scale_by_learning_rate(learning_rate),
  )
