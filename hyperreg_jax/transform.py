r"""Hyper-regularized learning rates as Optax gradient transformations.

Each step solves, per coordinate (or per tensor, or globally), the saddle point

.. math::

  \max_{\beta > 0} \min_x \; \langle g, x - x_t \rangle
  + \tfrac12 \left( \beta \|x - x_t\|^2 - D(\beta, \beta_t) \right),

so the inverse learning rate :math:`\beta` grows with the gradient and the step is
:math:`-g / \beta`. As in optax, :func:`scale_by_hyperreg` returns the *direction*
:math:`g / \beta` (like :func:`optax.scale_by_adam`) and every alias turns it into a
step with :func:`optax.scale_by_learning_rate`, whose ``learning_rate`` (default 1)
multiplies :math:`1 / \beta`. See :mod:`hyperreg_jax.rules` for the beta updates.

References:
  Xie, Jin, Lin, Zhang, `Hyper-Regularization: An Adaptive Choice for the
  Learning Rate in Gradient Descent <https://openreview.net/forum?id=S1e_ssC5F7>`_,
  ICLR 2019 submission.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from hyperreg_jax import divergences, rules

GRANULARITIES = ("coordinate", "tensor", "global")
DEFAULT_WEIGHT_DECAY = 1e-4  # the paper's L2 regularisation, in every alias

Granularity = Literal["coordinate", "tensor", "global"]
Mask = Any | Callable[[optax.Params], Any] | None


class HyperRegState(NamedTuple):
  """State of :func:`scale_by_hyperreg`."""

  count: jax.Array  # shape=(), dtype=int32; saturates at the int32 maximum.
  beta: Any  # inverse learning rates, dtype beta_dtype (default: the params' dtype
  # promoted to at least float32): the params' tree ("coordinate"), one scalar per
  # leaf ("tensor") or a single scalar ("global").


# --- validation ------------------------------------------------------------------------------


def _concrete(value) -> bool:
  return not isinstance(value, jax.core.Tracer)


def _check_positive(value, name, hint=""):
  """A concrete ``value`` must be a finite real number > 0 (traced values pass)."""
  if not _concrete(value):
    return
  array = np.asarray(value) if not isinstance(value, (str, bytes)) else None
  if (
    array is None
    or array.shape != ()
    or not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating))
    or not (np.isfinite(array) and array > 0)
  ):
    raise ValueError(f"{name} must be a finite number > 0, got {value!r}.{hint}")


def _check_nonnegative(value, name):
  """A concrete ``value`` must be a finite real number >= 0 (traced values pass)."""
  if not _concrete(value) or callable(value):
    return
  array = np.asarray(value) if not isinstance(value, (str, bytes, bool)) else None
  if (
    array is None
    or array.shape != ()
    or not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating))
    or not (np.isfinite(array) and array >= 0)
  ):
    raise ValueError(f"{name} must be a finite number >= 0, got {value!r}.")


def _check_static(warmup_steps, warmup_lr, granularity, beta_dtype):
  if granularity not in GRANULARITIES:
    raise ValueError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}.")
  if _concrete(warmup_steps) and (
    isinstance(warmup_steps, bool)
    or np.asarray(warmup_steps).shape != ()
    or not np.issubdtype(np.asarray(warmup_steps).dtype, np.integer)
    or warmup_steps < 0
  ):
    raise ValueError(f"warmup_steps must be an integer >= 0, got {warmup_steps!r}.")
  # Concrete arrays count too: inject_hyperparams passes warmup_steps as one.
  if _concrete(warmup_steps) and warmup_steps > 0 and warmup_lr is None:
    raise ValueError("warmup_lr must be given (a finite number > 0) when warmup_steps > 0.")
  if warmup_lr is not None:
    _check_positive(warmup_lr, "warmup_lr")
  if beta_dtype is not None:
    try:
      floating = jnp.issubdtype(jnp.dtype(beta_dtype), jnp.floating)
    except TypeError:
      floating = False
    if not floating:
      raise ValueError(
        f"beta_dtype must be None (at least float32) or a floating dtype, got {beta_dtype!r}."
      )


def _check_float_params(params):
  for path, leaf in jax.tree_util.tree_leaves_with_path(params):
    dtype = jnp.asarray(leaf).dtype
    if not jnp.issubdtype(dtype, jnp.floating):
      raise ValueError(
        "scale_by_hyperreg needs real floating-point parameters; the leaf at "
        f"{jax.tree_util.keystr(path)} has dtype {dtype}."
      )


def _check_beta0(init_lr, dtype):
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


def scale_by_hyperreg(
  divergence: str | divergences.Divergence = "kl",
  algorithm: int = 1,
  init_lr: jax.typing.ArrayLike = 1e-2,
  *,
  growth: jax.typing.ArrayLike | None = 2.0,
  warmup_steps: int = 0,
  warmup_lr: jax.typing.ArrayLike | None = None,
  granularity: Granularity = "coordinate",
  solver_iterations: int | None = None,
  beta_dtype: jax.typing.DTypeLike | None = None,
) -> optax.GradientTransformationExtraArgs:
  r"""Rescale updates by hyper-regularized inverse learning rates.

  See :func:`hyperreg` and the named aliases (:func:`kl1`, ..., :func:`chi2_3`) for the
  rules. With ``b = beta_t`` and gradient ``g`` the new ``beta_{t+1}`` solves the
  first-order condition of the rule (:func:`hyperreg_jax.rules.new_beta`), clipped to
  ``[b, growth * b]``. The output is the *direction* (chain it with
  :func:`optax.scale_by_learning_rate`, as the aliases do):

  * Algorithms 1 and 2: ``g / beta_{t+1}``,
  * Algorithm 3 (lagged): ``g / beta_t``, then beta is updated by Algorithm 2.

  ``beta_0 = 1 / init_lr``. During the first ``warmup_steps`` steps the direction is
  ``warmup_lr * g`` and beta stays at ``1 / init_lr``; the rule starts after.

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
  entries keep their old value.

  Args:
    divergence: ``"kl"``, ``"rkl"``, ``"hellinger"``, ``"chi2"``,
      ``"neyman_chi2"`` or a :class:`~hyperreg_jax.Divergence`.
    algorithm: 1 (exact), 2 (alternating) or 3 (lagged).
    init_lr: the initial learning rate ``1 / beta_0``; may be a traced array.
    growth: growth clipping factor (``>= 1``, may be traced); ``None`` or ``inf``
      disables the upper clip.
    warmup_steps: number of fixed-learning-rate steps before the rule starts.
    warmup_lr: the learning rate of the warm-up steps.
    granularity: ``"coordinate"``, ``"tensor"`` or ``"global"``.
    solver_iterations: Newton steps for divergences without a closed form (default:
      enough for the dtype's precision at any growth, see
      :func:`hyperreg_jax.rules.new_beta`).
    beta_dtype: the dtype of beta (default: the params' dtype, at least float32).

  Returns:
    The corresponding :class:`optax.GradientTransformationExtraArgs`.

  Example:
    >>> import jax.numpy as jnp
    >>> import hyperreg_jax as hr
    >>> tx = hr.scale_by_hyperreg("rkl", 1, init_lr=0.5)
    >>> params = jnp.array([1.0, -2.0])
    >>> state = tx.init(params)
    >>> direction, state = tx.update(2 * params, state)  # gradient of ||x||^2
    >>> state.beta  # [2 * 1.618, 2 * 2 (the growth clip)]
    Array([3.236068, 4.      ], dtype=float32)
    >>> direction  # g / beta
    Array([ 0.618034, -1.      ], dtype=float32)
  """
  divergence = divergences.get(divergence)
  algorithm = rules.check_algorithm(algorithm)
  _check_positive(init_lr, "init_lr")
  growth = rules.check_growth(growth)
  _check_static(warmup_steps, warmup_lr, granularity, beta_dtype)
  rules.check_solver_iterations(solver_iterations, growth)
  rule_algorithm = 2 if algorithm == 3 else algorithm

  def new_beta(beta, magnitude):
    return rules.new_beta(
      divergence, rule_algorithm, beta, magnitude, growth, solver_iterations=solver_iterations
    )

  def beta0(shape, dtype):
    dtype = _state_dtype(dtype, beta_dtype)
    _check_beta0(init_lr, dtype)
    info = jnp.finfo(dtype)
    value = jnp.clip(1.0 / jnp.asarray(init_lr, dtype), info.tiny, info.max)
    return jnp.full(shape, value, dtype)

  def init_fn(params):
    _check_float_params(params)
    if granularity == "global":
      leaves = jax.tree.leaves(params)
      dtype = jnp.result_type(*leaves) if leaves else jnp.float32
      beta = beta0((), dtype)
    else:
      shape = (lambda p: p.shape) if granularity == "coordinate" else (lambda p: ())
      beta = jax.tree.map(lambda p: beta0(shape(p), jnp.asarray(p).dtype), params)
    return HyperRegState(count=jnp.zeros([], jnp.int32), beta=beta)

  def update_fn(updates, state, params=None, **extra_args):
    del params, extra_args
    magnitude = _gradient_magnitude(granularity, updates)
    proposed = jax.tree.map(new_beta, state.beta, magnitude)
    # A non-finite gradient (or result) leaves beta as it was, entry by entry.
    beta = jax.tree.map(
      lambda new, old, g: jnp.where(jnp.isfinite(new) & jnp.isfinite(g), new, old),
      proposed,
      state.beta,
      magnitude,
    )
    # Computed once and stored: otherwise XLA recomputes the rule inside every reader of
    # the new beta (the step, the state, a training loop's finiteness check and lr_stats).
    beta = jax.lax.optimization_barrier(beta)
    step_beta = state.beta if algorithm == 3 else beta
    if granularity == "global":
      step_beta = jax.tree.map(lambda _: step_beta, updates)

    def direction(g, b):
      dtype = rules.compute_dtype(g, b)
      return g.astype(dtype) / b.astype(dtype)

    directions = jax.tree.map(direction, updates, step_beta)
    # No warm-up without a warm-up rate (validated above for concrete warmup_steps;
    # inject_hyperparams turns the default warmup_steps=0 into an array).
    if warmup_lr is not None and not (isinstance(warmup_steps, int) and warmup_steps == 0):
      in_warmup = state.count < warmup_steps
      directions = jax.tree.map(
        lambda d, g: jnp.where(in_warmup, jnp.asarray(warmup_lr) * g, d), directions, updates
      )
      beta = jax.tree.map(lambda new, old: jnp.where(in_warmup, old, new), beta, state.beta)
    directions = jax.tree.map(lambda d, g: d.astype(g.dtype), directions, updates)
    beta = jax.tree.map(lambda new, old: new.astype(old.dtype), beta, state.beta)
    return directions, HyperRegState(count=optax.safe_increment(state.count), beta=beta)

  return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def hyperreg(
  init_lr: jax.typing.ArrayLike = 1e-2,
  *,
  divergence: str | divergences.Divergence = "kl",
  algorithm: int = 2,
  learning_rate: optax.ScalarOrSchedule = 1.0,
  weight_decay: jax.typing.ArrayLike = DEFAULT_WEIGHT_DECAY,
  mask: Mask = None,
  growth: jax.typing.ArrayLike | None = 2.0,
  warmup_steps: int = 0,
  warmup_lr: jax.typing.ArrayLike | None = None,
  granularity: Granularity = "coordinate",
  solver_iterations: int | None = None,
  beta_dtype: jax.typing.DTypeLike | None = None,
) -> optax.GradientTransformationExtraArgs:
  r"""Hyper-regularized gradient descent with L2 regularisation (the paper's setup).

  With :math:`g_t` the gradient plus the decay term ``weight_decay * x_t`` (it drives
  beta too, as in the paper) and :math:`\eta_t` the ``learning_rate``,

  .. math::

    \beta_{t+1} = \operatorname{clip}\bigl(\mathrm{rule}(\beta_t, g_t),\,
      \beta_t,\, \mathrm{growth}\,\beta_t\bigr), \qquad
    x_{t+1} = x_t - \eta_t\, g_t / \beta_{t+1},

  with :math:`\beta_0 = 1 / \mathrm{init\_lr}` and the rule of ``divergence`` and
  ``algorithm`` (Algorithm 3 steps with :math:`\beta_t`); see the aliases
  :func:`kl1` ... :func:`chi2_3` for each rule's formula.

  Args:
    init_lr: the initial learning rate ``1 / beta_0`` (> 0; may be a traced array).
    divergence: ``"kl"``, ``"rkl"``, ``"hellinger"``, ``"chi2"``,
      ``"neyman_chi2"`` or a :class:`~hyperreg_jax.Divergence`.
    algorithm: 1 (exact), 2 (alternating) or 3 (lagged).
    learning_rate: a multiplier on ``1 / beta`` (a scalar or an optax schedule, e.g. a
      warm-up or cosine schedule), as in :func:`optax.contrib.dog`.
    weight_decay: L2 regularisation strength (``>= 0``), applied by
      :func:`optax.add_decayed_weights` before the rule; the paper's ``1e-4`` by default.
    mask: which leaves get weight decay, as in :func:`optax.adamw`.
    growth: growth clipping factor (``>= 1``); ``None`` or ``inf``: no upper clip.
    warmup_steps: number of fixed-learning-rate steps before the rule starts.
    warmup_lr: the learning rate of the warm-up steps (also scaled by ``learning_rate``).
    granularity: ``"coordinate"``, ``"tensor"`` or ``"global"`` (see
      :func:`scale_by_hyperreg`).
    solver_iterations: Newton steps for a custom divergence (default: automatic).
    beta_dtype: the dtype of beta (default: the params' dtype, at least float32).

  Returns:
    ``optax.chain(optax.add_decayed_weights(weight_decay, mask),
    scale_by_hyperreg(...), optax.scale_by_learning_rate(learning_rate))``, an
    :class:`optax.GradientTransformationExtraArgs`. When wrapping it in
    :func:`optax.inject_hyperparams`, pass ``static_args=("algorithm",
    "warmup_steps", "solver_iterations")``.

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
  _check_positive(
    init_lr,
    "init_lr",
    hint=" (init_lr is the only positional argument; pass divergence=, algorithm=, ... by keyword)"
    if isinstance(init_lr, str)
    else "",
  )
  _check_nonnegative(weight_decay, "weight_decay")
  _check_nonnegative(learning_rate, "learning_rate")
  return optax.chain(
    optax.add_decayed_weights(weight_decay, mask),
    scale_by_hyperreg(
      divergence,
      algorithm,
      init_lr,
      growth=growth,
      warmup_steps=warmup_steps,
      warmup_lr=warmup_lr,
      granularity=granularity,
      solver_iterations=solver_iterations,
      beta_dtype=beta_dtype,
    ),
    optax.scale_by_learning_rate(learning_rate),
  )


def kl1(
  init_lr: jax.typing.ArrayLike = 1e-2,
  *,
  learning_rate: optax.ScalarOrSchedule = 1.0,
  weight_decay: jax.typing.ArrayLike = DEFAULT_WEIGHT_DECAY,
  mask: Mask = None,
  growth: jax.typing.ArrayLike | None = 2.0,
  warmup_steps: int = 0,
  warmup_lr: jax.typing.ArrayLike | None = None,
  granularity: Granularity = "coordinate",
  beta_dtype: jax.typing.DTypeLike | None = None,
) -> optax.GradientTransformationExtraArgs:
  r"""The paper's KL1 rule: KL divergence, exact saddle point (Algorithm 1).

  Per coordinate, with :math:`g_t` the gradient (decay term included), :math:`\beta_t`
  the inverse learning rate and :math:`\eta_t` the ``learning_rate``,

  .. math::

    \beta_{t+1}^2 \log(\beta_{t+1} / \beta_t) = g_t^2, \qquad
    x_{t+1} = x_t - \eta_t\, g_t / \beta_{t+1},

  with :math:`\beta_{t+1}` clipped to :math:`[\beta_t, \mathrm{growth}\,\beta_t]` and
  :math:`\beta_0 = 1 / \mathrm{init\_lr}`.

  Args:
    init_lr: the initial learning rate ``1 / beta_0`` (> 0; may be a traced array).
    learning_rate: a multiplier on ``1 / beta`` (a scalar or an optax schedule).
    weight_decay: L2 regularisation strength (``>= 0``, default the paper's ``1e-4``);
      the decay term is part of the gradient that drives beta.
    mask: which leaves get weight decay, as in :func:`optax.adamw`.
    growth: clip ``beta_{t+1}`` to ``[beta_t, growth * beta_t]``; ``None`` or ``inf``:
      no upper clip.
    warmup_steps: number of steps at the fixed rate ``warmup_lr`` before the rule starts.
    warmup_lr: the learning rate of the warm-up steps.
    granularity: ``"coordinate"`` (the paper), ``"tensor"`` or ``"global"``; see
      :func:`scale_by_hyperreg`.
    beta_dtype: the dtype of beta (default: the params' dtype, at least float32).

  Returns:
    ``hyperreg(init_lr, divergence="kl", algorithm=1, ...)``: an
    :class:`optax.GradientTransformationExtraArgs`.

  Example:
    >>> import jax, jax.numpy as jnp, optax
    >>> import hyperreg_jax as hr
    >>> f = lambda x: jnp.sum((x - 1.0) ** 2)
    >>> opt = hr.kl1(init_lr=0.1)
    >>> params = jnp.array([3.0, -2.0, 0.5])
    >>> state = opt.init(params)
    >>> for _ in range(10):
    ...   updates, state = opt.update(jax.grad(f)(params), state, params)
    ...   params = optax.apply_updates(params, updates)
    >>> print(f"{f(params):.4f}")
    0.8058

  References:
    Xie, Jin, Lin, Zhang, `Hyper-Regularization: An Adaptive Choice for the
    Learning Rate in Gradient Descent <https://openreview.net/forum?id=S1e_ssC5F7>`_,
    ICLR 2019 submission.
  """
  options = locals()
  return hyperreg(divergence="kl", algorithm=1, **options)


def kl2(
  init_lr: jax.typing.ArrayLike = 1e-2,
  *,
  learning_rate: optax.ScalarOrSchedule = 1.0,
  weight_decay: jax.typing.ArrayLike = DEFAULT_WEIGHT_DECAY,
  mask: Mask = None,
  growth: jax.typing.ArrayLike | None = 2.0,
  warmup_steps: int = 0,
  warmup_lr: jax.typing.ArrayLike | None = None,
  granularity: Granularity = "coordinate",
  beta_dtype: jax.typing.DTypeLike | None = None,
) -> optax.GradientTransformationExtraArgs:
  r"""The paper's KL2 rule: KL divergence, one alternating step (Algorithm 2).

  Per coordinate, with :math:`g_t` the gradient (decay term included), :math:`\beta_t`
  the inverse learning rate and :math:`\eta_t` the ``learning_rate``,

  .. math::

    \beta_{t+1} = \beta_t \exp(g_t^2 / \beta_t^2), \qquad
    x_{t+1} = x_t - \eta_t\, g_t / \beta_{t+1},

  with :math:`\beta_{t+1}` clipped to :math:`[\beta_t, \mathrm{growth}\,\beta_t]` and
  :math:`\beta_0 = 1 / \mathrm{init\_lr}`.

  Args:
    init_lr: the initial learning rate ``1 / beta_0`` (> 0; may be a traced array).
    learning_rate: a multiplier on ``1 / beta`` (a scalar or an optax schedule).
    weight_decay: L2 regularisation strength (``>= 0``, default the paper's ``1e-4``);
      the decay term is part of the gradient that drives beta.
    mask: which leaves get weight decay, as in :func:`optax.adamw`.
    growth: clip ``beta_{t+1}`` to ``[beta_t, growth * beta_t]``; ``None`` or ``inf``:
      no upper clip.
    warmup_steps: number of steps at the fixed rate ``warmup_lr`` before the rule starts.
    warmup_lr: the learning rate of the warm-up steps.
    granularity: ``"coordinate"`` (the paper), ``"tensor"`` or ``"global"``; see
      :func:`scale_by_hyperreg`.
    beta_dtype: the dtype of beta (default: the params' dtype, at least float32).

  Returns:
    ``hyperreg(init_lr, divergence="kl", algorithm=2, ...)``: an
    :class:`optax.GradientTransformationExtraArgs`.

  Example:
    >>> import jax, jax.numpy as jnp, optax
    >>> import hyperreg_jax as hr
    >>> f = lambda x: jnp.sum((x - 1.0) ** 2)
    >>> opt = hr.kl2(init_lr=0.1)
    >>> params = jnp.array([3.0, -2.0, 0.5])
    >>> state = opt.init(params)
    >>> for _ in range(10):
    ...   updates, state = opt.update(jax.grad(f)(params), state, params)
    ...   params = optax.apply_updates(params, updates)
    >>> print(f"{f(params):.4f}")
    1.0996

  References:
    Xie, Jin, Lin, Zhang, `Hyper-Regularization: An Adaptive Choice for the
    Learning Rate in Gradient Descent <https://openreview.net/forum?id=S1e_ssC5F7>`_,
    ICLR 2019 submission.
  """
  options = locals()
  return hyperreg(divergence="kl", algorithm=2, **options)


def kl3(
  init_lr: jax.typing.ArrayLike = 1e-2,
  *,
  learning_rate: optax.ScalarOrSchedule = 1.0,
  weight_decay: jax.typing.ArrayLike = DEFAULT_WEIGHT_DECAY,
  mask: Mask = None,
  growth: jax.typing.ArrayLike | None = 2.0,
  warmup_steps: int = 0,
  warmup_lr: jax.typing.ArrayLike | None = None,
  granularity: Granularity = "coordinate",
  beta_dtype: jax.typing.DTypeLike | None = None,
) -> optax.GradientTransformationExtraArgs:
  r"""The paper's KL3 rule: KL divergence, lagged step (Algorithm 3).

  Per coordinate, with :math:`g_t` the gradient (decay term included), :math:`\beta_t`
  the inverse learning rate and :math:`\eta_t` the ``learning_rate``,

  .. math::

    \beta_{t+1} = \beta_t \exp(g_t^2 / \beta_t^2), \qquad
    x_{t+1} = x_t - \eta_t\, g_t / \beta_t,

  with :math:`\beta_{t+1}` clipped to :math:`[\beta_t, \mathrm{growth}\,\beta_t]` and
  :math:`\beta_0 = 1 / \mathrm{init\_lr}`.

  The step uses the beta chosen *before* seeing :math:`g_t`; beta is then
  updated by the Algorithm 2 rule.

  Args:
    init_lr: the initial learning rate ``1 / beta_0`` (> 0; may be a traced array).
    learning_rate: a multiplier on ``1 / beta`` (a scalar or an optax schedule).
    weight_decay: L2 regularisation strength (``>= 0``, default the paper's ``1e-4``);
      the decay term is part of the gradient that drives beta.
    mask: which leaves get weight decay, as in :func:`optax.adamw`.
    growth: clip ``beta_{t+1}`` to ``[beta_t, growth * beta_t]``; ``None`` or ``inf``:
      no upper clip.
    warmup_steps: number of steps at the fixed rate ``warmup_lr`` before the rule starts.
    warmup_lr: the learning rate of the warm-up steps.
    granularity: ``"coordinate"`` (the paper), ``"tensor"`` or ``"global"``; see
      :func:`scale_by_hyperreg`.
    beta_dtype: the dtype of beta (default: the params' dtype, at least float32).

  Returns:
    ``hyperreg(init_lr, divergence="kl", algorithm=3, ...)``: an
    :class:`optax.GradientTransformationExtraArgs`.

  Example:
    >>> import jax, jax.numpy as jnp, optax
    >>> import hyperreg_jax as hr
    >>> f = lambda x: jnp.sum((x - 1.0) ** 2)
    >>> opt = hr.kl3(init_lr=0.1)
    >>> params = jnp.array([3.0, -2.0, 0.5])
    >>> state = opt.init(params)
    >>> for _ in range(10):
    ...   updates, state = opt.update(jax.grad(f)(params), state, params)
    ...   params = optax.apply_updates(params, updates)
    >>> print(f"{f(params):.4f}")
    0.8147

  References:
    Xie, Jin, Lin, Zhang, `Hyper-Regularization: An Adaptive Choice for the
    Learning Rate in Gradient Descent <https://openreview.net/forum?id=S1e_ssC5F7>`_,
    ICLR 2019 submission.
  """
  options = locals()
  return hyperreg(divergence="kl", algorithm=3, **options)


def rkl1(
  init_lr: jax.typing.ArrayLike = 1e-2,
  *,
  learning_rate: optax.ScalarOrSchedule = 1.0,
  weight_decay: jax.typing.ArrayLike = DEFAULT_WEIGHT_DECAY,
  mask: Mask = None,
  growth: jax.typing.ArrayLike | None = 2.0,
  warmup_steps: int = 0,
  warmup_lr: jax.typing.ArrayLike | None = None,
  granularity: Granularity = "coordinate",
  beta_dtype: jax.typing.DTypeLike | None = None,
) -> optax.GradientTransformationExtraArgs:
  r"""The paper's RKL1 rule: reverse KL divergence, exact saddle point (Algorithm 1).

  Per coordinate, with :math:`g_t` the gradient (decay term included), :math:`\beta_t`
  the inverse learning rate and :math:`\eta_t` the ``learning_rate``,

  .. math::

    \beta_{t+1} = \tfrac12 \bigl(\beta_t + \sqrt{\beta_t^2 + 4 g_t^2}\bigr), \qquad
    x_{t+1} = x_t - \eta_t\, g_t / \beta_{t+1},

  with :math:`\beta_{t+1}` clipped to :math:`[\beta_t, \mathrm{growth}\,\beta_t]` and
  :math:`\beta_0 = 1 / \mathrm{init\_lr}`.

  Args:
    init_lr: the initial learning rate ``1 / beta_0`` (> 0; may be a traced array).
    learning_rate: a multiplier on ``1 / beta`` (a scalar or an optax schedule).
    weight_decay: L2 regularisation strength (``>= 0``, default the paper's ``1e-4``);
      the decay term is part of the gradient that drives beta.
    mask: which leaves get weight decay, as in :func:`optax.adamw`.
    growth: clip ``beta_{t+1}`` to ``[beta_t, growth * beta_t]``; ``None`` or ``inf``:
      no upper clip.
    warmup_steps: number of steps at the fixed rate ``warmup_lr`` before the rule starts.
    warmup_lr: the learning rate of the warm-up steps.
    granularity: ``"coordinate"`` (the paper), ``"tensor"`` or ``"global"``; see
      :func:`scale_by_hyperreg`.
    beta_dtype: the dtype of beta (default: the params' dtype, at least float32).

  Returns:
    ``hyperreg(init_lr, divergence="rkl", algorithm=1, ...)``: an
    :class:`optax.GradientTransformationExtraArgs`.

  Example:
    >>> import jax, jax.numpy as jnp, optax
    >>> import hyperreg_jax as hr
    >>> f = lambda x: jnp.sum((x - 1.0) ** 2)
    >>> opt = hr.rkl1(init_lr=0.1)
    >>> params = jnp.array([3.0, -2.0, 0.5])
    >>> state = opt.init(params)
    >>> for _ in range(10):
    ...   updates, state = opt.update(jax.grad(f)(params), state, params)
    ...   params = optax.apply_updates(params, updates)
    >>> print(f"{f(params):.4f}")
    0.8535

  References:
    Xie, Jin, Lin, Zhang, `Hyper-Regularization: An Adaptive Choice for the
    Learning Rate in Gradient Descent <https://openreview.net/forum?id=S1e_ssC5F7>`_,
    ICLR 2019 submission.
  """
  options = locals()
  return hyperreg(divergence="rkl", algorithm=1, **options)


def rkl2(
  init_lr: jax.typing.ArrayLike = 1e-2,
  *,
  learning_rate: optax.ScalarOrSchedule = 1.0,
  weight_decay: jax.typing.ArrayLike = DEFAULT_WEIGHT_DECAY,
  mask: Mask = None,
  growth: jax.typing.ArrayLike | None = 2.0,
  warmup_steps: int = 0,
  warmup_lr: jax.typing.ArrayLike | None = None,
  granularity: Granularity = "coordinate",
  beta_dtype: jax.typing.DTypeLike | None = None,
) -> optax.GradientTransformationExtraArgs:
  r"""The paper's RKL2 rule: reverse KL divergence, one alternating step (Algorithm 2).

  Per coordinate, with :math:`g_t` the gradient (decay term included), :math:`\beta_t`
  the inverse learning rate and :math:`\eta_t` the ``learning_rate``,

  .. math::

    \beta_{t+1} = \beta_t / (1 - g_t^2 / \beta_t^2), \qquad
    x_{t+1} = x_t - \eta_t\, g_t / \beta_{t+1},

  with :math:`\beta_{t+1}` clipped to :math:`[\beta_t, \mathrm{growth}\,\beta_t]` and
  :math:`\beta_0 = 1 / \mathrm{init\_lr}`.

  Where :math:`g_t^2 \ge \beta_t^2` that equation has no finite root (the
  maximiser is :math:`\beta \to \infty`): beta takes the clip ceiling
  :math:`\mathrm{growth}\,\beta_t`, or the Algorithm 1 root without clipping.

  Args:
    init_lr: the initial learning rate ``1 / beta_0`` (> 0; may be a traced array).
    learning_rate: a multiplier on ``1 / beta`` (a scalar or an optax schedule).
    weight_decay: L2 regularisation strength (``>= 0``, default the paper's ``1e-4``);
      the decay term is part of the gradient that drives beta.
    mask: which leaves get weight decay, as in :func:`optax.adamw`.
    growth: clip ``beta_{t+1}`` to ``[beta_t, growth * beta_t]``; ``None`` or ``inf``:
      no upper clip.
    warmup_steps: number of steps at the fixed rate ``warmup_lr`` before the rule starts.
    warmup_lr: the learning rate of the warm-up steps.
    granularity: ``"coordinate"`` (the paper), ``"tensor"`` or ``"global"``; see
      :func:`scale_by_hyperreg`.
    beta_dtype: the dtype of beta (default: the params' dtype, at least float32).

  Returns:
    ``hyperreg(init_lr, divergence="rkl", algorithm=2, ...)``: an
    :class:`optax.GradientTransformationExtraArgs`.

  Example:
    >>> import jax, jax.numpy as jnp, optax
    >>> import hyperreg_jax as hr
    >>> f = lambda x: jnp.sum((x - 1.0) ** 2)
    >>> opt = hr.rkl2(init_lr=0.1)
    >>> params = jnp.array([3.0, -2.0, 0.5])
    >>> state = opt.init(params)
    >>> for _ in range(10):
    ...   updates, state = opt.update(jax.grad(f)(params), state, params)
    ...   params = optax.apply_updates(params, updates)
    >>> print(f"{f(params):.4f}")
    1.2728

  References:
    Xie, Jin, Lin, Zhang, `Hyper-Regularization: An Adaptive Choice for the
    Learning Rate in Gradient Descent <https://openreview.net/forum?id=S1e_ssC5F7>`_,
    ICLR 2019 submission.
  """
  options = locals()
  return hyperreg(divergence="rkl", algorithm=2, **options)


def rkl3(
  init_lr: jax.typing.ArrayLike = 1e-2,
  *,
  learning_rate: optax.ScalarOrSchedule = 1.0,
  weight_decay: jax.typing.ArrayLike = DEFAULT_WEIGHT_DECAY,
  mask: Mask = None,
  growth: jax.typing.ArrayLike | None = 2.0,
  warmup_steps: int = 0,
  warmup_lr: jax.typing.ArrayLike | None = None,
  granularity: Granularity = "coordinate",
  beta_dtype: jax.typing.DTypeLike | None = None,
) -> optax.GradientTransformationExtraArgs:
  r"""The paper's RKL3 rule: reverse KL divergence, lagged step (Algorithm 3).

  Per coordinate, with :math:`g_t` the gradient (decay term included), :math:`\beta_t`
  the inverse learning rate and :math:`\eta_t` the ``learning_rate``,

  .. math::

    \beta_{t+1} = \beta_t / (1 - g_t^2 / \beta_t^2), \qquad
    x_{t+1} = x_t - \eta_t\, g_t / \beta_t,

  with :math:`\beta_{t+1}` clipped to :math:`[\beta_t, \mathrm{growth}\,\beta_t]` and
  :math:`\beta_0 = 1 / \mathrm{init\_lr}`.

  Where :math:`g_t^2 \ge \beta_t^2` that equation has no finite root (the
  maximiser is :math:`\beta \to \infty`): beta takes the clip ceiling
  :math:`\mathrm{growth}\,\beta_t`, or the Algorithm 1 root without clipping.

  The step uses the beta chosen *before* seeing :math:`g_t`; beta is then
  updated by the Algorithm 2 rule.

  Args:
    init_lr: the initial learning rate ``1 / beta_0`` (> 0; may be a traced array).
    learning_rate: a multiplier on ``1 / beta`` (a scalar or an optax schedule).
    weight_decay: L2 regularisation strength (``>= 0``, default the paper's ``1e-4``);
      the decay term is part of the gradient that drives beta.
    mask: which leaves get weight decay, as in :func:`optax.adamw`.
    growth: clip ``beta_{t+1}`` to ``[beta_t, growth * beta_t]``; ``None`` or ``inf``:
      no upper clip.
    warmup_steps: number of steps at the fixed rate ``warmup_lr`` before the rule starts.
    warmup_lr: the learning rate of the warm-up steps.
    granularity: ``"coordinate"`` (the paper), ``"tensor"`` or ``"global"``; see
      :func:`scale_by_hyperreg`.
    beta_dtype: the dtype of beta (default: the params' dtype, at least float32).

  Returns:
    ``hyperreg(init_lr, divergence="rkl", algorithm=3, ...)``: an
    :class:`optax.GradientTransformationExtraArgs`.

  Example:
    >>> import jax, jax.numpy as jnp, optax
    >>> import hyperreg_jax as hr
    >>> f = lambda x: jnp.sum((x - 1.0) ** 2)
    >>> opt = hr.rkl3(init_lr=0.1)
    >>> params = jnp.array([3.0, -2.0, 0.5])
    >>> state = opt.init(params)
    >>> for _ in range(10):
    ...   updates, state = opt.update(jax.grad(f)(params), state, params)
    ...   params = optax.apply_updates(params, updates)
    >>> print(f"{f(params):.4f}")
    0.9292

  References:
    Xie, Jin, Lin, Zhang, `Hyper-Regularization: An Adaptive Choice for the
    Learning Rate in Gradient Descent <https://openreview.net/forum?id=S1e_ssC5F7>`_,
    ICLR 2019 submission.
  """
  options = locals()
  return hyperreg(divergence="rkl", algorithm=3, **options)


def hellinger1(
  init_lr: jax.typing.ArrayLike = 1e-2,
  *,
  learning_rate: optax.ScalarOrSchedule = 1.0,
  weight_decay: jax.typing.ArrayLike = DEFAULT_WEIGHT_DECAY,
  mask: Mask = None,
  growth: jax.typing.ArrayLike | None = 2.0,
  warmup_steps: int = 0,
  warmup_lr: jax.typing.ArrayLike | None = None,
  granularity: Granularity = "coordinate",
  beta_dtype: jax.typing.DTypeLike | None = None,
) -> optax.GradientTransformationExtraArgs:
  r"""The paper's H1 rule: squared Hellinger distance, exact saddle point (Algorithm 1).

  Per coordinate, with :math:`g_t` the gradient (decay term included), :math:`\beta_t`
  the inverse learning rate and :math:`\eta_t` the ``learning_rate``,

  .. math::

    \beta_{t+1}^2 \bigl(1 - \sqrt{\beta_t / \beta_{t+1}}\bigr) = g_t^2, \qquad
    x_{t+1} = x_t - \eta_t\, g_t / \beta_{t+1},

  with :math:`\beta_{t+1}` clipped to :math:`[\beta_t, \mathrm{growth}\,\beta_t]` and
  :math:`\beta_0 = 1 / \mathrm{init\_lr}`.

  Args:
    init_lr: the initial learning rate ``1 / beta_0`` (> 0; may be a traced array).
    learning_rate: a multiplier on ``1 / beta`` (a scalar or an optax schedule).
    weight_decay: L2 regularisation strength (``>= 0``, default the paper's ``1e-4``);
      the decay term is part of the gradient that drives beta.
    mask: which leaves get weight decay, as in :func:`optax.adamw`.
    growth: clip ``beta_{t+1}`` to ``[beta_t, growth * beta_t]``; ``None`` or ``inf``:
      no upper clip.
    warmup_steps: number of steps at the fixed rate ``warmup_lr`` before the rule starts.
    warmup_lr: the learning rate of the warm-up steps.
    granularity: ``"coordinate"`` (the paper), ``"tensor"`` or ``"global"``; see
      :func:`scale_by_hyperreg`.
    beta_dtype: the dtype of beta (default: the params' dtype, at least float32).

  Returns:
    ``hyperreg(init_lr, divergence="hellinger", algorithm=1, ...)``: an
    :class:`optax.GradientTransformationExtraArgs`.

  Example:
    >>> import jax, jax.numpy as jnp, optax
    >>> import hyperreg_jax as hr
    >>> f = lambda x: jnp.sum((x - 1.0) ** 2)
    >>> opt = hr.hellinger1(init_lr=0.1)
    >>> params = jnp.array([3.0, -2.0, 0.5])
    >>> state = opt.init(params)
    >>> for _ in range(10):
    ...   updates, state = opt.update(jax.grad(f)(params), state, params)
    ...   params = optax.apply_updates(params, updates)
    >>> print(f"{f(params):.4f}")
    1.5051

  References:
    Xie, Jin, Lin, Zhang, `Hyper-Regularization: An Adaptive Choice for the
    Learning Rate in Gradient Descent <https://openreview.net/forum?id=S1e_ssC5F7>`_,
    ICLR 2019 submission.
  """
  options = locals()
  return hyperreg(divergence="hellinger", algorithm=1, **options)


def hellinger2(
  init_lr: jax.typing.ArrayLike = 1e-2,
  *,
  learning_rate: optax.ScalarOrSchedule = 1.0,
  weight_decay: jax.typing.ArrayLike = DEFAULT_WEIGHT_DECAY,
  mask: Mask = None,
  growth: jax.typing.ArrayLike | None = 2.0,
  warmup_steps: int = 0,
  warmup_lr: jax.typing.ArrayLike | None = None,
  granularity: Granularity = "coordinate",
  beta_dtype: jax.typing.DTypeLike | None = None,
) -> optax.GradientTransformationExtraArgs:
  r"""The paper's H2 rule: squared Hellinger distance, one alternating step (Algorithm 2).

  Per coordinate, with :math:`g_t` the gradient (decay term included), :math:`\beta_t`
  the inverse learning rate and :math:`\eta_t` the ``learning_rate``,

  .. math::

    \beta_{t+1} = \beta_t / (1 - g_t^2 / \beta_t^2)^2, \qquad
    x_{t+1} = x_t - \eta_t\, g_t / \beta_{t+1},

  with :math:`\beta_{t+1}` clipped to :math:`[\beta_t, \mathrm{growth}\,\beta_t]` and
  :math:`\beta_0 = 1 / \mathrm{init\_lr}`.

  Where :math:`g_t^2 \ge \beta_t^2` that equation has no finite root (the
  maximiser is :math:`\beta \to \infty`): beta takes the clip ceiling
  :math:`\mathrm{growth}\,\beta_t`, or the Algorithm 1 root without clipping.

  Args:
    init_lr: the initial learning rate ``1 / beta_0`` (> 0; may be a traced array).
    learning_rate: a multiplier on ``1 / beta`` (a scalar or an optax schedule).
    weight_decay: L2 regularisation strength (``>= 0``, default the paper's ``1e-4``);
      the decay term is part of the gradient that drives beta.
    mask: which leaves get weight decay, as in :func:`optax.adamw`.
    growth: clip ``beta_{t+1}`` to ``[beta_t, growth * beta_t]``; ``None`` or ``inf``:
      no upper clip.
    warmup_steps: number of steps at the fixed rate ``warmup_lr`` before the rule starts.
    warmup_lr: the learning rate of the warm-up steps.
    granularity: ``"coordinate"`` (the paper), ``"tensor"`` or ``"global"``; see
      :func:`scale_by_hyperreg`.
    beta_dtype: the dtype of beta (default: the params' dtype, at least float32).

  Returns:
    ``hyperreg(init_lr, divergence="hellinger", algorithm=2, ...)``: an
    :class:`optax.GradientTransformationExtraArgs`.

  Example:
    >>> import jax, jax.numpy as jnp, optax
    >>> import hyperreg_jax as hr
    >>> f = lambda x: jnp.sum((x - 1.0) ** 2)
    >>> opt = hr.hellinger2(init_lr=0.1)
    >>> params = jnp.array([3.0, -2.0, 0.5])
    >>> state = opt.init(params)
    >>> for _ in range(10):
    ...   updates, state = opt.update(jax.grad(f)(params), state, params)
    ...   params = optax.apply_updates(params, updates)
    >>> print(f"{f(params):.4f}")
    2.3673

  References:
    Xie, Jin, Lin, Zhang, `Hyper-Regularization: An Adaptive Choice for the
    Learning Rate in Gradient Descent <https://openreview.net/forum?id=S1e_ssC5F7>`_,
    ICLR 2019 submission.
  """
  options = locals()
  return hyperreg(divergence="hellinger", algorithm=2, **options)


def hellinger3(
  init_lr: jax.typing.ArrayLike = 1e-2,
  *,
  learning_rate: optax.ScalarOrSchedule = 1.0,
  weight_decay: jax.typing.ArrayLike = DEFAULT_WEIGHT_DECAY,
  mask: Mask = None,
  growth: jax.typing.ArrayLike | None = 2.0,
  warmup_steps: int = 0,
  warmup_lr: jax.typing.ArrayLike | None = None,
  granularity: Granularity = "coordinate",
  beta_dtype: jax.typing.DTypeLike | None = None,
) -> optax.GradientTransformationExtraArgs:
  r"""The paper's H3 rule: squared Hellinger distance, lagged step (Algorithm 3).

  Per coordinate, with :math:`g_t` the gradient (decay term included), :math:`\beta_t`
  the inverse learning rate and :math:`\eta_t` the ``learning_rate``,

  .. math::

    \beta_{t+1} = \beta_t / (1 - g_t^2 / \beta_t^2)^2, \qquad
    x_{t+1} = x_t - \eta_t\, g_t / \beta_t,

  with :math:`\beta_{t+1}` clipped to :math:`[\beta_t, \mathrm{growth}\,\beta_t]` and
  :math:`\beta_0 = 1 / \mathrm{init\_lr}`.

  Where :math:`g_t^2 \ge \beta_t^2` that equation has no finite root (the
  maximiser is :math:`\beta \to \infty`): beta takes the clip ceiling
  :math:`\mathrm{growth}\,\beta_t`, or the Algorithm 1 root without clipping.

  The step uses the beta chosen *before* seeing :math:`g_t`; beta is then
  updated by the Algorithm 2 rule.

  Args:
    init_lr: the initial learning rate ``1 / beta_0`` (> 0; may be a traced array).
    learning_rate: a multiplier on ``1 / beta`` (a scalar or an optax schedule).
    weight_decay: L2 regularisation strength (``>= 0``, default the paper's ``1e-4``);
      the decay term is part of the gradient that drives beta.
    mask: which leaves get weight decay, as in :func:`optax.adamw`.
    growth: clip ``beta_{t+1}`` to ``[beta_t, growth * beta_t]``; ``None`` or ``inf``:
      no upper clip.
    warmup_steps: number of steps at the fixed rate ``warmup_lr`` before the rule starts.
    warmup_lr: the learning rate of the warm-up steps.
    granularity: ``"coordinate"`` (the paper), ``"tensor"`` or ``"global"``; see
      :func:`scale_by_hyperreg`.
    beta_dtype: the dtype of beta (default: the params' dtype, at least float32).

  Returns:
    ``hyperreg(init_lr, divergence="hellinger", algorithm=3, ...)``: an
    :class:`optax.GradientTransformationExtraArgs`.

  Example:
    >>> import jax, jax.numpy as jnp, optax
    >>> import hyperreg_jax as hr
    >>> f = lambda x: jnp.sum((x - 1.0) ** 2)
    >>> opt = hr.hellinger3(init_lr=0.1)
    >>> params = jnp.array([3.0, -2.0, 0.5])
    >>> state = opt.init(params)
    >>> for _ in range(10):
    ...   updates, state = opt.update(jax.grad(f)(params), state, params)
    ...   params = optax.apply_updates(params, updates)
    >>> print(f"{f(params):.4f}")
    1.6069

  References:
    Xie, Jin, Lin, Zhang, `Hyper-Regularization: An Adaptive Choice for the
    Learning Rate in Gradient Descent <https://openreview.net/forum?id=S1e_ssC5F7>`_,
    ICLR 2019 submission.
  """
  options = locals()
  return hyperreg(divergence="hellinger", algorithm=3, **options)


def chi2_1(
  init_lr: jax.typing.ArrayLike = 1e-2,
  *,
  learning_rate: optax.ScalarOrSchedule = 1.0,
  weight_decay: jax.typing.ArrayLike = DEFAULT_WEIGHT_DECAY,
  mask: Mask = None,
  growth: jax.typing.ArrayLike | None = 2.0,
  warmup_steps: int = 0,
  warmup_lr: jax.typing.ArrayLike | None = None,
  granularity: Granularity = "coordinate",
  beta_dtype: jax.typing.DTypeLike | None = None,
) -> optax.GradientTransformationExtraArgs:
  r"""The paper's X2_1 rule: Pearson chi-square divergence, exact saddle point (Algorithm 1).

  Per coordinate, with :math:`g_t` the gradient (decay term included), :math:`\beta_t`
  the inverse learning rate and :math:`\eta_t` the ``learning_rate``,

  .. math::

    2 \beta_{t+1}^2 (\beta_{t+1} / \beta_t - 1) = g_t^2, \qquad
    x_{t+1} = x_t - \eta_t\, g_t / \beta_{t+1},

  with :math:`\beta_{t+1}` clipped to :math:`[\beta_t, \mathrm{growth}\,\beta_t]` and
  :math:`\beta_0 = 1 / \mathrm{init\_lr}`.

  Args:
    init_lr: the initial learning rate ``1 / beta_0`` (> 0; may be a traced array).
    learning_rate: a multiplier on ``1 / beta`` (a scalar or an optax schedule).
    weight_decay: L2 regularisation strength (``>= 0``, default the paper's ``1e-4``);
      the decay term is part of the gradient that drives beta.
    mask: which leaves get weight decay, as in :func:`optax.adamw`.
    growth: clip ``beta_{t+1}`` to ``[beta_t, growth * beta_t]``; ``None`` or ``inf``:
      no upper clip.
    warmup_steps: number of steps at the fixed rate ``warmup_lr`` before the rule starts.
    warmup_lr: the learning rate of the warm-up steps.
    granularity: ``"coordinate"`` (the paper), ``"tensor"`` or ``"global"``; see
      :func:`scale_by_hyperreg`.
    beta_dtype: the dtype of beta (default: the params' dtype, at least float32).

  Returns:
    ``hyperreg(init_lr, divergence="chi2", algorithm=1, ...)``: an
    :class:`optax.GradientTransformationExtraArgs`.

  Example:
    >>> import jax, jax.numpy as jnp, optax
    >>> import hyperreg_jax as hr
    >>> f = lambda x: jnp.sum((x - 1.0) ** 2)
    >>> opt = hr.chi2_1(init_lr=0.1)
    >>> params = jnp.array([3.0, -2.0, 0.5])
    >>> state = opt.init(params)
    >>> for _ in range(10):
    ...   updates, state = opt.update(jax.grad(f)(params), state, params)
    ...   params = optax.apply_updates(params, updates)
    >>> print(f"{f(params):.4f}")
    0.4494

  References:
    Xie, Jin, Lin, Zhang, `Hyper-Regularization: An Adaptive Choice for the
    Learning Rate in Gradient Descent <https://openreview.net/forum?id=S1e_ssC5F7>`_,
    ICLR 2019 submission.
  """
  options = locals()
  return hyperreg(divergence="chi2", algorithm=1, **options)


def chi2_2(
  init_lr: jax.typing.ArrayLike = 1e-2,
  *,
  learning_rate: optax.ScalarOrSchedule = 1.0,
  weight_decay: jax.typing.ArrayLike = DEFAULT_WEIGHT_DECAY,
  mask: Mask = None,
  growth: jax.typing.ArrayLike | None = 2.0,
  warmup_steps: int = 0,
  warmup_lr: jax.typing.ArrayLike | None = None,
  granularity: Granularity = "coordinate",
  beta_dtype: jax.typing.DTypeLike | None = None,
) -> optax.GradientTransformationExtraArgs:
  r"""The paper's X2_2 rule: Pearson chi-square divergence, one alternating step (Algorithm 2).

  Per coordinate, with :math:`g_t` the gradient (decay term included), :math:`\beta_t`
  the inverse learning rate and :math:`\eta_t` the ``learning_rate``,

  .. math::

    \beta_{t+1} = \beta_t + g_t^2 / (2 \beta_t), \qquad
    x_{t+1} = x_t - \eta_t\, g_t / \beta_{t+1},

  with :math:`\beta_{t+1}` clipped to :math:`[\beta_t, \mathrm{growth}\,\beta_t]` and
  :math:`\beta_0 = 1 / \mathrm{init\_lr}`.

  Args:
    init_lr: the initial learning rate ``1 / beta_0`` (> 0; may be a traced array).
    learning_rate: a multiplier on ``1 / beta`` (a scalar or an optax schedule).
    weight_decay: L2 regularisation strength (``>= 0``, default the paper's ``1e-4``);
      the decay term is part of the gradient that drives beta.
    mask: which leaves get weight decay, as in :func:`optax.adamw`.
    growth: clip ``beta_{t+1}`` to ``[beta_t, growth * beta_t]``; ``None`` or ``inf``:
      no upper clip.
    warmup_steps: number of steps at the fixed rate ``warmup_lr`` before the rule starts.
    warmup_lr: the learning rate of the warm-up steps.
    granularity: ``"coordinate"`` (the paper), ``"tensor"`` or ``"global"``; see
      :func:`scale_by_hyperreg`.
    beta_dtype: the dtype of beta (default: the params' dtype, at least float32).

  Returns:
    ``hyperreg(init_lr, divergence="chi2", algorithm=2, ...)``: an
    :class:`optax.GradientTransformationExtraArgs`.

  Example:
    >>> import jax, jax.numpy as jnp, optax
    >>> import hyperreg_jax as hr
    >>> f = lambda x: jnp.sum((x - 1.0) ** 2)
    >>> opt = hr.chi2_2(init_lr=0.1)
    >>> params = jnp.array([3.0, -2.0, 0.5])
    >>> state = opt.init(params)
    >>> for _ in range(10):
    ...   updates, state = opt.update(jax.grad(f)(params), state, params)
    ...   params = optax.apply_updates(params, updates)
    >>> print(f"{f(params):.4f}")
    0.5138

  References:
    Xie, Jin, Lin, Zhang, `Hyper-Regularization: An Adaptive Choice for the
    Learning Rate in Gradient Descent <https://openreview.net/forum?id=S1e_ssC5F7>`_,
    ICLR 2019 submission.
  """
  options = locals()
  return hyperreg(divergence="chi2", algorithm=2, **options)


def chi2_3(
  init_lr: jax.typing.ArrayLike = 1e-2,
  *,
  learning_rate: optax.ScalarOrSchedule = 1.0,
  weight_decay: jax.typing.ArrayLike = DEFAULT_WEIGHT_DECAY,
  mask: Mask = None,
  growth: jax.typing.ArrayLike | None = 2.0,
  warmup_steps: int = 0,
  warmup_lr: jax.typing.ArrayLike | None = None,
  granularity: Granularity = "coordinate",
  beta_dtype: jax.typing.DTypeLike | None = None,
) -> optax.GradientTransformationExtraArgs:
  r"""The paper's X2_3 rule: Pearson chi-square divergence, lagged step (Algorithm 3).

  Per coordinate, with :math:`g_t` the gradient (decay term included), :math:`\beta_t`
  the inverse learning rate and :math:`\eta_t` the ``learning_rate``,

  .. math::

    \beta_{t+1} = \beta_t + g_t^2 / (2 \beta_t), \qquad
    x_{t+1} = x_t - \eta_t\, g_t / \beta_t,

  with :math:`\beta_{t+1}` clipped to :math:`[\beta_t, \mathrm{growth}\,\beta_t]` and
  :math:`\beta_0 = 1 / \mathrm{init\_lr}`.

  The step uses the beta chosen *before* seeing :math:`g_t`; beta is then
  updated by the Algorithm 2 rule.

  Args:
    init_lr: the initial learning rate ``1 / beta_0`` (> 0; may be a traced array).
    learning_rate: a multiplier on ``1 / beta`` (a scalar or an optax schedule).
    weight_decay: L2 regularisation strength (``>= 0``, default the paper's ``1e-4``);
      the decay term is part of the gradient that drives beta.
    mask: which leaves get weight decay, as in :func:`optax.adamw`.
    growth: clip ``beta_{t+1}`` to ``[beta_t, growth * beta_t]``; ``None`` or ``inf``:
      no upper clip.
    warmup_steps: number of steps at the fixed rate ``warmup_lr`` before the rule starts.
    warmup_lr: the learning rate of the warm-up steps.
    granularity: ``"coordinate"`` (the paper), ``"tensor"`` or ``"global"``; see
      :func:`scale_by_hyperreg`.
    beta_dtype: the dtype of beta (default: the params' dtype, at least float32).

  Returns:
    ``hyperreg(init_lr, divergence="chi2", algorithm=3, ...)``: an
    :class:`optax.GradientTransformationExtraArgs`.

  Example:
    >>> import jax, jax.numpy as jnp, optax
    >>> import hyperreg_jax as hr
    >>> f = lambda x: jnp.sum((x - 1.0) ** 2)
    >>> opt = hr.chi2_3(init_lr=0.1)
    >>> params = jnp.array([3.0, -2.0, 0.5])
    >>> state = opt.init(params)
    >>> for _ in range(10):
    ...   updates, state = opt.update(jax.grad(f)(params), state, params)
    ...   params = optax.apply_updates(params, updates)
    >>> print(f"{f(params):.4f}")
    0.4280

  References:
    Xie, Jin, Lin, Zhang, `Hyper-Regularization: An Adaptive Choice for the
    Learning Rate in Gradient Descent <https://openreview.net/forum?id=S1e_ssC5F7>`_,
    ICLR 2019 submission.
  """
  options = locals()
  return hyperreg(divergence="chi2", algorithm=3, **options)


PAPER_RULES = {
  "kl1": kl1,
  "kl2": kl2,
  "kl3": kl3,
  "rkl1": rkl1,
  "rkl2": rkl2,
  "rkl3": rkl3,
  "hellinger1": hellinger1,
  "hellinger2": hellinger2,
  "hellinger3": hellinger3,
  "chi2_1": chi2_1,
  "chi2_2": chi2_2,
  "chi2_3": chi2_3,
}


# f(u) = (u - 1)^2 / 2, written out (as the built-ins are) so that importing the package
# evaluates nothing: jax.distributed.initialize must come before any computation.
half_chi2 = divergences.Divergence(
  "half_chi2",
  D=lambda beta, eta: 0.5 * (beta - eta) ** 2 / eta,
  dD=lambda beta, eta: beta / eta - 1.0,
  phi=True,
)


def adagrad_diag(
  init_lr: jax.typing.ArrayLike = 1e-2,
  *,
  learning_rate: optax.ScalarOrSchedule = 1.0,
  weight_decay: jax.typing.ArrayLike = DEFAULT_WEIGHT_DECAY,
  mask: Mask = None,
  growth: jax.typing.ArrayLike | None = None,
  warmup_steps: int = 0,
  warmup_lr: jax.typing.ArrayLike | None = None,
  granularity: Granularity = "coordinate",
  beta_dtype: jax.typing.DTypeLike | None = None,
) -> optax.GradientTransformationExtraArgs:
  r"""Diagonal AdaGrad as the Neyman chi-square rule, Algorithm 1, without clipping.

  .. math::

    \beta_{t+1}^2 = \beta_t^2 + g_t^2, \qquad
    x_{t+1} = x_t - \eta_t\, g_t / \beta_{t+1},

  with :math:`\beta_0 = 1 / \mathrm{init\_lr}`. With ``weight_decay=0`` and
  ``learning_rate=1`` it equals ``optax.adagrad(1.0,
  initial_accumulator_value=1 / init_lr**2, eps=0)`` (SPEC section 5).

  Args:
    init_lr: the initial learning rate ``1 / beta_0`` (> 0; may be a traced array).
    learning_rate: a multiplier on ``1 / beta`` (a scalar or an optax schedule).
    weight_decay: L2 regularisation strength (``>= 0``, default ``1e-4``);
      the decay term is part of the gradient that drives beta.
    mask: which leaves get weight decay, as in :func:`optax.adamw`.
    growth: the growth clip; ``None`` (the default here, as in AdaGrad): none.
    warmup_steps: number of steps at the fixed rate ``warmup_lr`` before the rule starts.
    warmup_lr: the learning rate of the warm-up steps.
    granularity: ``"coordinate"`` (the paper), ``"tensor"`` or ``"global"``; see
      :func:`scale_by_hyperreg`.
    beta_dtype: the dtype of beta (default: the params' dtype, at least float32).

  Returns:
    ``hyperreg(init_lr, divergence="neyman_chi2", algorithm=1, growth=None, ...)``: an
    :class:`optax.GradientTransformationExtraArgs`.

  Example:
    >>> import jax, jax.numpy as jnp, optax
    >>> import hyperreg_jax as hr
    >>> f = lambda x: jnp.sum((x - 1.0) ** 2)
    >>> opt = hr.adagrad_diag(init_lr=0.1)
    >>> params = jnp.array([3.0, -2.0, 0.5])
    >>> state = opt.init(params)
    >>> for _ in range(10):
    ...   updates, state = opt.update(jax.grad(f)(params), state, params)
    ...   params = optax.apply_updates(params, updates)
    >>> print(f"{f(params):.4f}")
    0.4933

  References:
    Duchi, Hazan, Singer, `Adaptive Subgradient Methods for Online Learning and
    Stochastic Optimization <https://jmlr.org/papers/v12/duchi11a.html>`_, JMLR 2011.
  """
  options = locals()
  return hyperreg(divergence="neyman_chi2", algorithm=1, **options)


def wngrad(
  init_lr: jax.typing.ArrayLike = 1e-2,
  *,
  learning_rate: optax.ScalarOrSchedule = 1.0,
  weight_decay: jax.typing.ArrayLike = DEFAULT_WEIGHT_DECAY,
  mask: Mask = None,
  growth: jax.typing.ArrayLike | None = None,
  warmup_steps: int = 0,
  warmup_lr: jax.typing.ArrayLike | None = None,
  granularity: Granularity = "global",
  beta_dtype: jax.typing.DTypeLike | None = None,
) -> optax.GradientTransformationExtraArgs:
  r"""WNGrad as a global hyper-regularized rule.

  One scalar :math:`b` for all parameters,

  .. math::

    b_{t+1} = b_t + \|g_t\|^2 / b_t, \qquad
    x_{t+1} = x_t - \eta_t\, g_t / b_{t+1},

  with :math:`b_0 = 1 / \mathrm{init\_lr}`: Algorithm 2 with the half chi-square
  divergence ``f(u) = (u - 1)^2 / 2``, global granularity and no clipping (SPEC section
  5: ``chi2`` itself gives half the increment).

  Args:
    init_lr: the initial learning rate ``1 / beta_0`` (> 0; may be a traced array).
    learning_rate: a multiplier on ``1 / beta`` (a scalar or an optax schedule).
    weight_decay: L2 regularisation strength (``>= 0``, default ``1e-4``);
      the decay term is part of the gradient that drives beta.
    mask: which leaves get weight decay, as in :func:`optax.adamw`.
    growth: the growth clip; ``None`` (the default here, as in WNGrad): none.
    warmup_steps: number of steps at the fixed rate ``warmup_lr`` before the rule starts.
    warmup_lr: the learning rate of the warm-up steps.
    granularity: ``"global"`` (WNGrad, the default here), ``"tensor"`` or
      ``"coordinate"``; see :func:`scale_by_hyperreg`.
    beta_dtype: the dtype of beta (default: the params' dtype, at least float32).

  Returns:
    ``hyperreg(init_lr, divergence=half_chi2, algorithm=2, growth=None,
    granularity="global", ...)``: an :class:`optax.GradientTransformationExtraArgs`.

  Example:
    >>> import jax, jax.numpy as jnp, optax
    >>> import hyperreg_jax as hr
    >>> f = lambda x: jnp.sum((x - 1.0) ** 2)
    >>> opt = hr.wngrad(init_lr=0.1)
    >>> params = jnp.array([3.0, -2.0, 0.5])
    >>> state = opt.init(params)
    >>> for _ in range(10):
    ...   updates, state = opt.update(jax.grad(f)(params), state, params)
    ...   params = optax.apply_updates(params, updates)
    >>> print(f"{f(params):.4f}")
    1.7920

  References:
    Wu, Ward, Bottou, `WNGrad: Learn the Learning Rate in Gradient Descent
    <https://arxiv.org/abs/1803.02865>`_, 2018.
  """
  options = locals()
  return hyperreg(divergence=half_chi2, algorithm=2, **options)


def _hyperreg_states(state) -> list[HyperRegState]:
  is_state = lambda x: isinstance(x, HyperRegState)  # noqa: E731
  return [s for s in jax.tree.leaves(state, is_leaf=is_state) if is_state(s)]


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
  has at most 4096 entries). Returns ``{}`` when there is no such state, e.g. for
  ``optax.sgd``, and NaNs when beta has no entries. ``median=False`` leaves ``lr_median`` out, for logging at every step
  (min, mean and max are one pass each; the median costs several).

  Example:
    >>> import jax.numpy as jnp, hyperreg_jax as hr
    >>> state = hr.kl2(init_lr=0.1).init({"w": jnp.ones(3)})
    >>> {k: round(float(v), 4) for k, v in hr.lr_stats(state).items()}
    {'lr_min': 0.1, 'lr_median': 0.1, 'lr_mean': 0.1, 'lr_max': 0.1}
  """
  states = _hyperreg_states(state)
  if not states:
    return {}
  leaves = [jnp.asarray(b) for s in states for b in jax.tree.leaves(s.beta)]
  leaves = [b for b in leaves if b.size]
  keys = ("lr_min", "lr_median", "lr_mean", "lr_max") if median else ("lr_min", "lr_mean", "lr_max")
  if not leaves:
    return dict.fromkeys(keys, jnp.full((), jnp.nan, jnp.float32))
  dtype = jnp.result_type(*leaves)
  leaves = [b.astype(dtype) for b in leaves]
  n = sum(b.size for b in leaves)
  # Reduce leaf by leaf (no concatenated copy); 1/beta is decreasing in beta.
  stats = {
    "lr_min": 1.0 / jnp.max(jnp.stack([jnp.max(b) for b in leaves])),
    "lr_mean": sum(jnp.sum(1.0 / b) for b in leaves) / n,
    "lr_max": 1.0 / jnp.min(jnp.stack([jnp.min(b) for b in leaves])),
  }
  if median and n <= _SORTED_MEDIAN_MAX:  # a short sort beats 2^16-bin histograms
    ordered = jnp.sort(jnp.concatenate([b.ravel() for b in leaves]))
    stats["lr_median"] = 0.5 * (1.0 / ordered[(n - 1) // 2] + 1.0 / ordered[n // 2])
  elif median:
    lower, upper = _kth_smallest(leaves, (n - 1) // 2), _kth_smallest(leaves, n // 2)
    stats["lr_median"] = 0.5 * (1.0 / lower + 1.0 / upper)
  return {k: stats[k] for k in keys}
