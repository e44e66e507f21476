r"""Hyper-regularized learning rates as Optax gradient transformations.

Each step solves, per coordinate (or per tensor, or globally), the saddle point

.. math::

  \max_{\beta > 0} \min_x \; \langle g, x - x_t \rangle
  + \tfrac12 \left( \beta \|x - x_t\|^2 - D(\beta, \beta_t) \right),

so the inverse learning rate :math:`\beta` grows with the gradient and the step is
:math:`-g / \beta`. See :mod:`hyperreg_jax.rules` for the twelve beta updates.

References:
  Xie, Jin, Lin, Zhang, `Hyper-Regularization: An Adaptive Choice for the
  Learning Rate in Gradient Descent <https://openreview.net/forum?id=S1e_ssC5F7>`_,
  ICLR 2019 submission.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from hyperreg_jax import divergences, rules

GRANULARITIES = ("coordinate", "tensor", "global")


class HyperRegState(NamedTuple):
  """State of :func:`scale_by_hyperreg`."""

  count: jax.Array  # shape=(), dtype=int32; saturates at the int32 maximum.
  beta: Any  # inverse learning rates: the params' tree ("coordinate"), one
  # scalar per leaf ("tensor") or a single scalar ("global").


def _check_init_lr(init_lr, name="init_lr"):
  if isinstance(init_lr, jax.core.Tracer):
    return
  value = np.asarray(init_lr)
  if (
    value.shape != ()
    or not np.issubdtype(value.dtype, np.number)
    or not (np.isfinite(value) and value > 0)
  ):
    raise ValueError(f"{name} must be a finite number > 0, got {init_lr!r}.")


def _check_static(warmup_steps, warmup_lr, granularity):
  if granularity not in GRANULARITIES:
    raise ValueError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}.")
  if not isinstance(warmup_steps, jax.core.Tracer) and (
    isinstance(warmup_steps, bool)
    or np.asarray(warmup_steps).shape != ()
    or not np.issubdtype(np.asarray(warmup_steps).dtype, np.integer)
    or warmup_steps < 0
  ):
    raise ValueError(f"warmup_steps must be an integer >= 0, got {warmup_steps!r}.")
  # Concrete arrays count too: inject_hyperparams passes warmup_steps as one.
  if not isinstance(warmup_steps, jax.core.Tracer) and warmup_steps > 0:
    if warmup_lr is None:
      raise ValueError("warmup_lr must be given (a finite number > 0) when warmup_steps > 0.")
    _check_init_lr(warmup_lr, "warmup_lr")


def _check_float_params(params):
  for path, leaf in jax.tree_util.tree_leaves_with_path(params):
    if not jnp.issubdtype(jnp.asarray(leaf).dtype, jnp.inexact):
      raise ValueError(
        "scale_by_hyperreg needs floating-point parameters; the leaf at "
        f"{jax.tree_util.keystr(path)} has dtype {jnp.asarray(leaf).dtype}."
      )


def _norm(x):
  """``sqrt(sum(x^2))``, scaled by ``max|x|`` so that it cannot overflow."""
  x = x.astype(rules.compute_dtype(x))
  scale = jnp.max(jnp.abs(x))
  safe = jnp.where(scale > 0, scale, 1.0)
  return scale * jnp.sqrt(jnp.sum(jnp.square(x / safe)))


def _rms(x):
  return _norm(x) / np.sqrt(max(x.size, 1))


def _global_norm(tree):
  return _norm(jnp.stack([_norm(leaf) for leaf in jax.tree.leaves(tree)]))


def _gradient_magnitude(granularity, grads):
  """What drives beta: ``g`` itself, per-leaf RMS, or the global norm."""
  if granularity == "coordinate":
    return grads
  if granularity == "tensor":
    return jax.tree.map(_rms, grads)
  return _global_norm(grads)


def scale_by_hyperreg(
  divergence: str | divergences.Divergence = "kl",
  algorithm: int = 1,
  init_lr: jax.typing.ArrayLike = 1e-2,
  growth: jax.typing.ArrayLike | None = 2.0,
  warmup_steps: int = 0,
  warmup_lr: jax.typing.ArrayLike | None = None,
  granularity: str = "coordinate",
  solver_iterations: int | None = None,
) -> optax.GradientTransformationExtraArgs:
  r"""Scale updates by hyper-regularized inverse learning rates.

  With ``b = beta_t`` and gradient ``g`` the new ``beta_{t+1}`` solves the
  first-order condition of SPEC section 3 (:func:`hyperreg_jax.rules.new_beta`),
  clipped to ``[b, growth * b]``. The update is the descent step

  * Algorithms 1 and 2: ``-g / beta_{t+1}``,
  * Algorithm 3 (lagged): ``-g / beta_t``, then beta is updated by Algorithm 2.

  ``beta_0 = 1 / init_lr``. During the first ``warmup_steps`` steps the update is
  ``-warmup_lr * g`` and beta stays at ``1 / init_lr``; the rule starts after.

  Granularity (what plays the role of ``g`` in the rule):

  * ``"coordinate"``: one beta per parameter entry (the paper).
  * ``"tensor"``: one beta per leaf, driven by the leaf's root mean square
    ``sqrt(mean(g^2))``.
  * ``"global"``: a single beta, driven by the global norm ``sqrt(sum(g^2))``
    (WNGrad-style).

  Non-finite gradients give non-finite updates (so :func:`optax.apply_if_finite`
  can skip them) but never a non-finite beta: such entries keep their old value.

  Args:
    divergence: ``"kl"``, ``"rkl"``, ``"hellinger"``, ``"chi2"``,
      ``"neyman_chi2"`` or a :class:`~hyperreg_jax.Divergence`.
    algorithm: 1 (exact), 2 (alternating) or 3 (lagged).
    init_lr: the initial learning rate ``1 / beta_0``; may be a traced array.
    growth: growth clipping factor (``>= 1``, may be traced); ``None`` disables
      the upper clip.
    warmup_steps: number of fixed-learning-rate steps before the rule starts.
    warmup_lr: the learning rate of the warm-up steps.
    granularity: ``"coordinate"``, ``"tensor"`` or ``"global"``.
    solver_iterations: Newton steps for divergences without a closed form (default:
      12 with clipping, 30 without).

  Returns:
    The corresponding :class:`optax.GradientTransformationExtraArgs`.

  Example:
    >>> import jax.numpy as jnp, optax
    >>> import hyperreg_jax as hr
    >>> tx = hr.scale_by_hyperreg("rkl", algorithm=1, init_lr=0.5)
    >>> params = jnp.array([1.0, -2.0])
    >>> state = tx.init(params)
    >>> updates, state = tx.update(2 * params, state)  # gradient of ||x||^2
    >>> optax.apply_updates(params, updates)  # beta = [2 * 1.618, 2 * 2 (clipped)]
    Array([ 0.381966, -1.      ], dtype=float32)
  """
  divergence = divergences.get(divergence)
  algorithm = rules.check_algorithm(algorithm)
  _check_init_lr(init_lr)
  growth = rules.check_growth(growth)
  _check_static(warmup_steps, warmup_lr, granularity)
  new_beta = functools.partial(
    rules.new_beta,
    divergence,
    2 if algorithm == 3 else algorithm,
    growth=growth,
    solver_iterations=solver_iterations,
  )

  def init_fn(params):
    _check_float_params(params)
    if granularity == "global":
      dtype = optax.tree.dtype(params, "lowest")
      beta = jnp.asarray(1.0 / jnp.asarray(init_lr), dtype)
    else:
      beta = jax.tree.map(
        lambda p: jnp.full(
          p.shape if granularity == "coordinate" else (), 1.0 / jnp.asarray(init_lr), p.dtype
        ),
        params,
      )
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
    step_beta = state.beta if algorithm == 3 else beta
    if granularity == "global":
      step_beta = jax.tree.map(lambda _: step_beta, updates)

    def descent(g, b):
      dtype = rules.compute_dtype(g, b)
      return -g.astype(dtype) / b.astype(dtype)

    steps = jax.tree.map(descent, updates, step_beta)
    # No warm-up without a warm-up rate (validated above for concrete warmup_steps;
    # inject_hyperparams turns the default warmup_steps=0 into an array).
    if warmup_lr is not None and not (isinstance(warmup_steps, int) and warmup_steps == 0):
      in_warmup = state.count < warmup_steps
      steps = jax.tree.map(
        lambda s, g: jnp.where(in_warmup, -jnp.asarray(warmup_lr) * g, s), steps, updates
      )
      beta = jax.tree.map(lambda new, old: jnp.where(in_warmup, old, new), beta, state.beta)
    steps = jax.tree.map(lambda s, g: s.astype(g.dtype), steps, updates)
    beta = jax.tree.map(lambda new, old: new.astype(old.dtype), beta, state.beta)
    return steps, HyperRegState(count=optax.safe_increment(state.count), beta=beta)

  return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def hyperreg(
  init_lr: jax.typing.ArrayLike = 1e-2,
  divergence: str | divergences.Divergence = "kl",
  algorithm: int = 2,
  weight_decay: jax.typing.ArrayLike = 1e-4,
  growth: jax.typing.ArrayLike | None = 2.0,
  warmup_steps: int = 0,
  warmup_lr: jax.typing.ArrayLike | None = None,
  granularity: str = "coordinate",
  solver_iterations: int | None = None,
) -> optax.GradientTransformationExtraArgs:
  """Hyper-regularized gradient descent with L2 regularisation (the paper's setup).

  ``optax.chain(optax.add_decayed_weights(weight_decay), scale_by_hyperreg(...))``:
  the decay term is part of the gradient that drives beta, as in the paper
  (weight decay 1e-4 in both of its experiments). See :func:`scale_by_hyperreg`
  for the other arguments. When wrapping it in :func:`optax.inject_hyperparams`,
  pass ``static_args=("algorithm", "warmup_steps", "solver_iterations")``.

  Example:
    >>> import jax, jax.numpy as jnp, optax
    >>> import hyperreg_jax as hr
    >>> opt = hr.hyperreg(init_lr=0.1, divergence="rkl", algorithm=1)
    >>> params = {"w": jnp.ones(3)}
    >>> state = opt.init(params)
    >>> for _ in range(100):
    ...   grads = jax.grad(lambda p: jnp.sum((p["w"] - 2.0) ** 2))(params)
    ...   updates, state = opt.update(grads, state, params)
    ...   params = optax.apply_updates(params, updates)
    >>> bool(jnp.allclose(params["w"], 2.0, atol=1e-2))
    True
  """
  scaling = scale_by_hyperreg(
    divergence=divergence,
    algorithm=algorithm,
    init_lr=init_lr,
    growth=growth,
    warmup_steps=warmup_steps,
    warmup_lr=warmup_lr,
    granularity=granularity,
    solver_iterations=solver_iterations,
  )
  if isinstance(weight_decay, (int, float)) and weight_decay == 0:
    return scaling
  return optax.chain(optax.add_decayed_weights(weight_decay), scaling)


_PAPER_NAMES = {"kl": "KL", "rkl": "RKL", "hellinger": "H", "chi2": "X2_"}
_ALGORITHM_NAMES = {1: "exact", 2: "alternating", 3: "lagged"}


def _paper_alias(divergence: str, algorithm: int):
  """The alias for one of the paper's twelve rules, e.g. ``kl2`` or ``chi2_3``."""

  def alias(
    init_lr: jax.typing.ArrayLike = 1e-2,
    weight_decay: jax.typing.ArrayLike = 1e-4,
    growth: jax.typing.ArrayLike | None = 2.0,
    warmup_steps: int = 0,
    warmup_lr: jax.typing.ArrayLike | None = None,
    granularity: str = "coordinate",
  ) -> optax.GradientTransformationExtraArgs:
    return hyperreg(
      init_lr, divergence, algorithm, weight_decay, growth, warmup_steps, warmup_lr, granularity
    )

  name = f"{divergence}{'_' if divergence == 'chi2' else ''}{algorithm}"
  alias.__name__ = alias.__qualname__ = name
  alias.__doc__ = (
    f"The paper's {_PAPER_NAMES[divergence]}{algorithm} rule: divergence "
    f"``{divergence!r}``, Algorithm {algorithm} ({_ALGORITHM_NAMES[algorithm]}).\n\n"
    f"``hyperreg(init_lr, divergence={divergence!r}, algorithm={algorithm}, ...)``; "
    "see :func:`hyperreg` and :func:`scale_by_hyperreg`.\n\n"
    "Example:\n"
    "  >>> import hyperreg_jax as hr\n"
    f"  >>> opt = hr.{name}(init_lr=1e-2)\n"
  )
  return alias


kl1, kl2, kl3 = (_paper_alias("kl", a) for a in (1, 2, 3))
rkl1, rkl2, rkl3 = (_paper_alias("rkl", a) for a in (1, 2, 3))
hellinger1, hellinger2, hellinger3 = (_paper_alias("hellinger", a) for a in (1, 2, 3))
chi2_1, chi2_2, chi2_3 = (_paper_alias("chi2", a) for a in (1, 2, 3))

PAPER_RULES = {
  alias.__name__: alias
  for alias in (
    kl1,
    kl2,
    kl3,
    rkl1,
    rkl2,
    rkl3,
    hellinger1,
    hellinger2,
    hellinger3,
    chi2_1,
    chi2_2,
    chi2_3,
  )
}


def adagrad_diag(
  init_lr: jax.typing.ArrayLike = 1e-2,
  weight_decay: jax.typing.ArrayLike = 0.0,
) -> optax.GradientTransformationExtraArgs:
  """Diagonal AdaGrad as the Neyman chi-square rule, Algorithm 1, no clipping.

  ``beta_{t+1}^2 = beta_t^2 + g_t^2`` and ``x_{t+1} = x_t - g_t / beta_{t+1}``:
  the same as ``optax.adagrad(1.0, initial_accumulator_value=1 / init_lr**2,
  eps=0)`` (SPEC section 5).

  Example:
    >>> import hyperreg_jax as hr
    >>> opt = hr.adagrad_diag(init_lr=0.1)
  """
  return hyperreg(init_lr, "neyman_chi2", 1, weight_decay, growth=None)


half_chi2 = divergences.Divergence.from_f(lambda u: 0.5 * (u - 1.0) ** 2, name="half_chi2")


def wngrad(
  init_lr: jax.typing.ArrayLike = 1e-2,
  weight_decay: jax.typing.ArrayLike = 0.0,
) -> optax.GradientTransformationExtraArgs:
  """WNGrad (Wu, Ward, Bottou 2018) as a global hyper-regularized rule.

  One scalar ``b``: ``b_{t+1} = b_t + ||g_t||^2 / b_t`` and
  ``x_{t+1} = x_t - g_t / b_{t+1}``. It is Algorithm 2 with the half chi-square
  divergence ``f(u) = (u - 1)^2 / 2`` and global granularity, without clipping
  (SPEC section 5: ``chi2`` itself gives half the increment).

  Example:
    >>> import hyperreg_jax as hr
    >>> opt = hr.wngrad(init_lr=0.1)
  """
  return hyperreg(init_lr, half_chi2, 2, weight_decay, growth=None, granularity="global")


def _hyperreg_states(state) -> list[HyperRegState]:
  is_state = lambda x: isinstance(x, HyperRegState)  # noqa: E731
  return [s for s in jax.tree.leaves(state, is_leaf=is_state) if is_state(s)]


def lr_stats(state) -> dict[str, jax.Array]:
  """Min, mean and max effective learning rate ``1 / beta`` in an optimizer state.

  Finds every :class:`HyperRegState` inside ``state`` (a chain,
  ``inject_hyperparams``, ``MultiSteps``, ...) and summarises ``1 / beta`` over
  all entries of beta (one per coordinate, per tensor or a single one, as the
  granularity says). Returns ``{}`` when there is none, e.g. for ``optax.sgd``.

  Example:
    >>> import jax.numpy as jnp, hyperreg_jax as hr
    >>> state = hr.kl2(init_lr=0.1).init({"w": jnp.ones(3)})
    >>> {k: round(float(v), 4) for k, v in hr.lr_stats(state).items()}
    {'lr_min': 0.1, 'lr_mean': 0.1, 'lr_max': 0.1}
  """
  leaves = [b.astype(jnp.float32) for s in _hyperreg_states(state) for b in jax.tree.leaves(s.beta)]
  if not leaves:
    return {}
  # Reduce leaf by leaf (no concatenated copy); 1/beta is decreasing in beta.
  total = sum(jnp.sum(1.0 / b) for b in leaves)
  return {
    "lr_min": 1.0 / jnp.max(jnp.stack([jnp.max(b) for b in leaves])),
    "lr_mean": total / sum(b.size for b in leaves),
    "lr_max": 1.0 / jnp.min(jnp.stack([jnp.min(b) for b in leaves])),
  }
