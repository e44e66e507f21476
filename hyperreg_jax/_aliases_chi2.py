"""The paper's three chi-square rules (Xie et al., 2019), solved exactly (``chi2_1``), by one
alternating step (``chi2_2``) or lagged (``chi2_3``): the Pearson chi-square divergence
``D(beta, eta) = (beta - eta)^2 / eta``, whose ``dD/dbeta = 2 (beta / eta - 1)``.
"""

from __future__ import annotations

import jax
import optax

from hyperreg_jax._alias_call import hyperreg_alias
from hyperreg_jax._transform import DEFAULT_WEIGHT_DECAY, Decay, Granularity, Mask
from hyperreg_jax._validate import REQUIRED


def chi2_1(
  init_lr: jax.typing.ArrayLike = REQUIRED,
  *,
  learning_rate: optax.ScalarOrSchedule = 1.0,
  weight_decay: jax.typing.ArrayLike = DEFAULT_WEIGHT_DECAY,
  decay: Decay = "coupled",
  mask: Mask = None,
  growth: jax.typing.ArrayLike | None = 2.0,
  warmup_steps: int = 0,
  warmup_lr: jax.typing.ArrayLike | None = None,
  granularity: Granularity = "coordinate",
  beta_dtype: jax.typing.DTypeLike | None = None,
) -> optax.GradientTransformationExtraArgs:
  r"""The paper's X2_1 rule: Pearson chi-square divergence, the exact saddle point (Algorithm 1).

  The new beta is the exact maximiser of the saddle point:

  .. math::

    2 \beta_{t+1}^2 (\beta_{t+1} / \beta_t - 1) = g_t^2, \qquad
    x_{t+1} = x_t - \eta_t\, g_t / \beta_{t+1},

  solved as the root :math:`r > 1` of :math:`r^3 - r^2 = g_t^2 / (2 \beta_t^2)`,
  :math:`\beta_{t+1} = r \beta_t`.

  Per coordinate: :math:`g_t` is the gradient (with the decay term, see ``decay``),
  :math:`\beta_t` the inverse learning rate and :math:`\eta_t` the ``learning_rate``;
  :math:`\beta_{t+1}` is clipped to :math:`[\beta_t, \mathrm{growth}\,\beta_t]` and
  :math:`\beta_0 = 1 / \mathrm{init\_lr}`.

  The keyword arguments are those of :func:`hyperreg_jax.hyperreg`, documented there in full.

  Args:
    init_lr: required: the initial learning rate ``1 / beta_0`` (> 0).
    learning_rate: a multiplier on ``1 / beta``, not the initial learning rate.
    weight_decay: L2 regularisation strength, by default the paper's ``1e-4``.
    decay: ``"coupled"`` (the paper) or ``"decoupled"`` (the study's VGG code).
    mask: which leaves get weight decay.
    growth: the growth clip factor; ``None`` or ``inf``: no upper clip.
    warmup_steps: steps at the fixed rate ``warmup_lr`` before the rule starts.
    warmup_lr: the learning rate of the warm-up steps.
    granularity: ``"coordinate"`` (the paper), ``"tensor"`` or ``"global"``.
    beta_dtype: the dtype of beta (default: the params' dtype, at least float32).

  Returns:
    ``hyperreg(init_lr, divergence="chi2", algorithm=1, ...)``: an
    :class:`optax.GradientTransformationExtraArgs`.

  References:
    Xie, Jin, Lin, Zhang, `Hyper-Regularization: An Adaptive Choice for the Learning
    Rate in Gradient Descent <https://openreview.net/forum?id=S1e_ssC5F7>`_, ICLR 2019
    submission.

  Example:
    >>> import jax.numpy as jnp, optax
    >>> import hyperreg_jax as hr
    >>> opt = hr.chi2_1(init_lr=0.1)
    >>> params = jnp.array([3.0, -2.0, 0.5])
    >>> state = opt.init(params)
    >>> updates, state = opt.update(2 * (params - 1.0), state, params)  # one step on |x - 1|^2
    >>> print(optax.tree.get(state, "beta"))  # from beta_0 = 10
    [10.698987 11.388044 10.049504]
    >>> print(updates)  # -g / beta_1
    [-0.3738952   0.52688587  0.09950242]
  """
  return hyperreg_alias("chi2_1", "chi2", 1, locals())


def chi2_2(
  init_lr: jax.typing.ArrayLike = REQUIRED,
  *,
  learning_rate: optax.ScalarOrSchedule = 1.0,
  weight_decay: jax.typing.ArrayLike = DEFAULT_WEIGHT_DECAY,
  decay: Decay = "coupled",
  mask: Mask = None,
  growth: jax.typing.ArrayLike | None = 2.0,
  warmup_steps: int = 0,
  warmup_lr: jax.typing.ArrayLike | None = None,
  granularity: Granularity = "coordinate",
  beta_dtype: jax.typing.DTypeLike | None = None,
) -> optax.GradientTransformationExtraArgs:
  r"""The paper's X2_2 rule: Pearson chi-square divergence, one alternating step (Algorithm 2).

  One step of alternating optimisation: the minimum over :math:`x` at the old
  :math:`\beta_t`, then the maximum over :math:`\beta` with that :math:`x` fixed:

  .. math::

    \beta_{t+1} = \beta_t + g_t^2 / (2 \beta_t), \quad x_{t+1} = x_t - \eta_t\, g_t / \beta_{t+1}.

  Per coordinate: :math:`g_t` is the gradient (with the decay term, see ``decay``),
  :math:`\beta_t` the inverse learning rate and :math:`\eta_t` the ``learning_rate``;
  :math:`\beta_{t+1}` is clipped to :math:`[\beta_t, \mathrm{growth}\,\beta_t]` and
  :math:`\beta_0 = 1 / \mathrm{init\_lr}`.

  The keyword arguments are those of :func:`hyperreg_jax.hyperreg`, documented there in full.

  Args:
    init_lr: required: the initial learning rate ``1 / beta_0`` (> 0).
    learning_rate: a multiplier on ``1 / beta``, not the initial learning rate.
    weight_decay: L2 regularisation strength, by default the paper's ``1e-4``.
    decay: ``"coupled"`` (the paper) or ``"decoupled"`` (the study's VGG code).
    mask: which leaves get weight decay.
    growth: the growth clip factor; ``None`` or ``inf``: no upper clip.
    warmup_steps: steps at the fixed rate ``warmup_lr`` before the rule starts.
    warmup_lr: the learning rate of the warm-up steps.
    granularity: ``"coordinate"`` (the paper), ``"tensor"`` or ``"global"``.
    beta_dtype: the dtype of beta (default: the params' dtype, at least float32).

  Returns:
    ``hyperreg(init_lr, divergence="chi2", algorithm=2, ...)``: an
    :class:`optax.GradientTransformationExtraArgs`.

  References:
    Xie, Jin, Lin, Zhang, `Hyper-Regularization: An Adaptive Choice for the Learning
    Rate in Gradient Descent <https://openreview.net/forum?id=S1e_ssC5F7>`_, ICLR 2019
    submission.

  Example:
    >>> import jax.numpy as jnp, optax
    >>> import hyperreg_jax as hr
    >>> opt = hr.chi2_2(init_lr=0.1)
    >>> params = jnp.array([3.0, -2.0, 0.5])
    >>> state = opt.init(params)
    >>> updates, state = opt.update(2 * (params - 1.0), state, params)  # one step on |x - 1|^2
    >>> print(optax.tree.get(state, "beta"))  # from beta_0 = 10
    [10.800119 11.800119 10.049995]
    >>> print(updates)  # -g / beta_1
    [-0.37039405  0.5084864   0.09949756]
  """
  return hyperreg_alias("chi2_2", "chi2", 2, locals())


def chi2_3(
  init_lr: jax.typing.ArrayLike = REQUIRED,
  *,
  learning_rate: optax.ScalarOrSchedule = 1.0,
  weight_decay: jax.typing.ArrayLike = DEFAULT_WEIGHT_DECAY,
  decay: Decay = "coupled",
  mask: Mask = None,
  growth: jax.typing.ArrayLike | None = 2.0,
  warmup_steps: int = 0,
  warmup_lr: jax.typing.ArrayLike | None = None,
  granularity: Granularity = "coordinate",
  beta_dtype: jax.typing.DTypeLike | None = None,
) -> optax.GradientTransformationExtraArgs:
  r"""The paper's X2_3 rule: Pearson chi-square divergence, lagged step (Algorithm 3).

  The step uses the beta chosen *before* seeing :math:`g_t` (the online order); beta is
  then updated by the Algorithm 2 rule:

  .. math::

    \beta_{t+1} = \beta_t + g_t^2 / (2 \beta_t), \quad x_{t+1} = x_t - \eta_t\, g_t / \beta_t.

  Per coordinate: :math:`g_t` is the gradient (with the decay term, see ``decay``),
  :math:`\beta_t` the inverse learning rate and :math:`\eta_t` the ``learning_rate``;
  :math:`\beta_{t+1}` is clipped to :math:`[\beta_t, \mathrm{growth}\,\beta_t]` and
  :math:`\beta_0 = 1 / \mathrm{init\_lr}`.

  The keyword arguments are those of :func:`hyperreg_jax.hyperreg`, documented there in full.

  Args:
    init_lr: required: the initial learning rate ``1 / beta_0`` (> 0).
    learning_rate: a multiplier on ``1 / beta``, not the initial learning rate.
    weight_decay: L2 regularisation strength, by default the paper's ``1e-4``.
    decay: ``"coupled"`` (the paper) or ``"decoupled"`` (the study's VGG code).
    mask: which leaves get weight decay.
    growth: the growth clip factor; ``None`` or ``inf``: no upper clip.
    warmup_steps: steps at the fixed rate ``warmup_lr`` before the rule starts.
    warmup_lr: the learning rate of the warm-up steps.
    granularity: ``"coordinate"`` (the paper), ``"tensor"`` or ``"global"``.
    beta_dtype: the dtype of beta (default: the params' dtype, at least float32).

  Returns:
    ``hyperreg(init_lr, divergence="chi2", algorithm=3, ...)``: an
    :class:`optax.GradientTransformationExtraArgs`.

  References:
    Xie, Jin, Lin, Zhang, `Hyper-Regularization: An Adaptive Choice for the Learning
    Rate in Gradient Descent <https://openreview.net/forum?id=S1e_ssC5F7>`_, ICLR 2019
    submission.

  Example:
    >>> import jax.numpy as jnp, optax
    >>> import hyperreg_jax as hr
    >>> opt = hr.chi2_3(init_lr=0.1)
    >>> params = jnp.array([3.0, -2.0, 0.5])
    >>> state = opt.init(params)
    >>> updates, state = opt.update(2 * (params - 1.0), state, params)  # one step on |x - 1|^2
    >>> print(optax.tree.get(state, "beta"))  # from beta_0 = 10
    [10.800119 11.800119 10.049995]
    >>> print(updates)  # -g / beta_0
    [-0.40003   0.60002   0.099995]
  """
  return hyperreg_alias("chi2_3", "chi2", 3, locals())
