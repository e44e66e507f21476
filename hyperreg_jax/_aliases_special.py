"""The special cases among the rules: diagonal AdaGrad and WNGrad."""

from __future__ import annotations

import jax
import optax

from hyperreg_jax import divergences
from hyperreg_jax._alias_call import hyperreg_alias
from hyperreg_jax._transform import DEFAULT_WEIGHT_DECAY, Decay, Granularity, Mask
from hyperreg_jax._validate import REQUIRED

# f(u) = (u - 1)^2 / 2, written out (as the built-ins are) so that importing the package
# evaluates nothing: jax.distributed.initialize must come before any computation.
half_chi2 = divergences.Divergence(
  "half_chi2",
  D=lambda beta, eta: 0.5 * (beta - eta) ** 2 / eta,
  dD=lambda beta, eta: beta / eta - 1.0,
  phi=True,
)


def adagrad_diag(
  init_lr: jax.typing.ArrayLike = REQUIRED,
  *,
  learning_rate: optax.ScalarOrSchedule = 1.0,
  weight_decay: jax.typing.ArrayLike = DEFAULT_WEIGHT_DECAY,
  decay: Decay = "coupled",
  mask: Mask = None,
  growth: jax.typing.ArrayLike | None = None,
  warmup_steps: int = 0,
  warmup_lr: jax.typing.ArrayLike | None = None,
  granularity: Granularity = "coordinate",
  beta_dtype: jax.typing.DTypeLike | None = None,
) -> optax.GradientTransformationExtraArgs:
  r"""Diagonal AdaGrad as the Neyman chi-square rule, Algorithm 1, without clipping.

  Per coordinate, with :math:`g_t` the gradient (with the decay term, see ``decay``)
  and :math:`\eta_t` the ``learning_rate``,

  .. math::

    \beta_{t+1}^2 = \beta_t^2 + g_t^2, \qquad
    x_{t+1} = x_t - \eta_t\, g_t / \beta_{t+1},

  with :math:`\beta_0 = 1 / \mathrm{init\_lr}`: the exact saddle point of the Neyman
  chi-square divergence :math:`D(\beta, \eta) = (\beta - \eta)^2 / \beta`. With
  ``weight_decay=0`` and ``learning_rate=1`` it equals ``optax.adagrad(1.0,
  initial_accumulator_value=1 / init_lr**2, eps=0)`` (the special case the README lists).

  The keyword arguments are those of :func:`hyperreg_jax.hyperreg`, documented there in full.

  Args:
    init_lr: required: the initial learning rate ``1 / beta_0`` (> 0).
    learning_rate: a multiplier on ``1 / beta``, not the initial learning rate.
    weight_decay: L2 regularisation strength, by default the paper's ``1e-4``.
    decay: ``"coupled"`` (the paper) or ``"decoupled"`` (the study's VGG code).
    mask: which leaves get weight decay.
    growth: the growth clip factor, by default ``None``: no clip, as AdaGrad has none.
    warmup_steps: steps at the fixed rate ``warmup_lr`` before the rule starts.
    warmup_lr: the learning rate of the warm-up steps.
    granularity: ``"coordinate"`` (the paper), ``"tensor"`` or ``"global"``.
    beta_dtype: the dtype of beta (default: the params' dtype, at least float32).

  Returns:
    ``hyperreg(init_lr, divergence="neyman_chi2", algorithm=1, growth=None, ...)``: an
    :class:`optax.GradientTransformationExtraArgs`.

  References:
    Duchi, Hazan, Singer, `Adaptive Subgradient Methods for Online Learning and
    Stochastic Optimization <https://jmlr.org/papers/v12/duchi11a.html>`_, JMLR 2011.

  Example:
    >>> import jax.numpy as jnp, optax
    >>> import hyperreg_jax as hr
    >>> opt = hr.adagrad_diag(init_lr=0.1)
    >>> params = jnp.array([3.0, -2.0, 0.5])
    >>> state = opt.init(params)
    >>> updates, state = opt.update(2 * (params - 1.0), state, params)  # one step on |x - 1|^2
    >>> print(optax.tree.get(state, "beta"))  # from beta_0 = 10
    [10.77044  11.662006 10.049871]
    >>> print(updates)  # -g / beta_1
    [-0.37141472  0.51450837  0.09949879]
  """
  return hyperreg_alias("adagrad_diag", "neyman_chi2", 1, locals())


def wngrad(
  init_lr: jax.typing.ArrayLike = REQUIRED,
  *,
  learning_rate: optax.ScalarOrSchedule = 1.0,
  weight_decay: jax.typing.ArrayLike = DEFAULT_WEIGHT_DECAY,
  decay: Decay = "coupled",
  mask: Mask = None,
  growth: jax.typing.ArrayLike | None = None,
  warmup_steps: int = 0,
  warmup_lr: jax.typing.ArrayLike | None = None,
  granularity: Granularity = "global",
  beta_dtype: jax.typing.DTypeLike | None = None,
) -> optax.GradientTransformationExtraArgs:
  r"""WNGrad as a global hyper-regularized rule.

  One scalar :math:`b` for all parameters, with :math:`g_t`
  the gradient (with the decay term, see ``decay``) and :math:`\eta_t` the ``learning_rate``,

  .. math::

    b_{t+1} = b_t + \|g_t\|^2 / b_t, \qquad
    x_{t+1} = x_t - \eta_t\, g_t / b_{t+1},

  with :math:`b_0 = 1 / \mathrm{init\_lr}`: Algorithm 2 with the half chi-square
  divergence ``f(u) = (u - 1)^2 / 2``, global granularity and no clipping (the paper's
  ``chi2`` gives half the increment).

  The keyword arguments are those of :func:`hyperreg_jax.hyperreg`, documented there in full.

  Args:
    init_lr: required: the initial learning rate ``1 / beta_0`` (> 0).
    learning_rate: a multiplier on ``1 / beta``, not the initial learning rate.
    weight_decay: L2 regularisation strength, by default the paper's ``1e-4``.
    decay: ``"coupled"`` (the paper) or ``"decoupled"`` (the study's VGG code).
    mask: which leaves get weight decay.
    growth: the growth clip; ``None`` (the default here, as in WNGrad): none.
    warmup_steps: steps at the fixed rate ``warmup_lr`` before the rule starts.
    warmup_lr: the learning rate of the warm-up steps.
    granularity: ``"global"`` (WNGrad, the default here), ``"tensor"`` or ``"coordinate"``.
    beta_dtype: the dtype of beta (default: the params' dtype, at least float32).

  Returns:
    ``hyperreg(init_lr, divergence=half_chi2, algorithm=2, growth=None,
    granularity="global", ...)``: an :class:`optax.GradientTransformationExtraArgs`.

  References:
    Wu, Ward, Bottou, `WNGrad: Learn the Learning Rate in Gradient Descent
    <https://arxiv.org/abs/1803.02865>`_, 2018.

  Example:
    >>> import jax.numpy as jnp, optax
    >>> import hyperreg_jax as hr
    >>> opt = hr.wngrad(init_lr=0.1)
    >>> params = jnp.array([3.0, -2.0, 0.5])
    >>> state = opt.init(params)
    >>> updates, state = opt.update(2 * (params - 1.0), state, params)  # one step on |x - 1|^2
    >>> print(optax.tree.get(state, "beta"))  # from beta_0 = 10
    15.300469
    >>> print(updates)  # -g / beta_1
    [-0.2614495   0.39215788  0.0653542 ]
  """
  return hyperreg_alias("wngrad", half_chi2, 2, locals())
