"""The paper's three KL rules (Xie et al., 2019), solved exactly (``kl1``), by one alternating
step (``kl2``) or lagged (``kl3``): the KL divergence
``D(beta, eta) = beta log(beta / eta) - beta + eta``, whose ``dD/dbeta = log(beta / eta)``.
"""

from __future__ import annotations

import jax
import optax

from hyperreg_jax._alias_call import hyperreg_alias
from hyperreg_jax._transform import DEFAULT_WEIGHT_DECAY, Decay, Granularity, Mask
from hyperreg_jax._validate import REQUIRED


def kl1(
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
  r"""The paper's KL1 rule: KL divergence, the exact saddle point (Algorithm 1).

  The new beta is the exact maximiser of the saddle point:

  .. math::

    \beta_{t+1}^2 \log(\beta_{t+1} / \beta_t) = g_t^2, \qquad
    x_{t+1} = x_t - \eta_t\, g_t / \beta_{t+1},

  solved in closed form with the Lambert W function:
  :math:`\beta_{t+1} = \beta_t \sqrt{z / W(z)}`, :math:`z = 2 g_t^2 / \beta_t^2`.

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
    ``hyperreg(init_lr, divergence="kl", algorithm=1, ...)``: an
    :class:`optax.GradientTransformationExtraArgs`.

  References:
    Xie, Jin, Lin, Zhang, `Hyper-Regularization: An Adaptive Choice for the Learning
    Rate in Gradient Descent <https://openreview.net/forum?id=S1e_ssC5F7>`_, ICLR 2019
    submission.

  Example:
    >>> import jax.numpy as jnp, optax
    >>> import hyperreg_jax as hr
    >>> opt = hr.kl1(init_lr=0.1)
    >>> params = jnp.array([3.0, -2.0, 0.5])
    >>> state = opt.init(params)
    >>> updates, state = opt.update(2 * (params - 1.0), state, params)  # one step on |x - 1|^2
    >>> print(optax.tree.get(state, "beta"))  # from beta_0 = 10
    [11.328101 12.562475 10.098529]
    >>> print(updates)  # -g / beta_1
    [-0.35313067  0.4776288   0.09901937]
  """
  return hyperreg_alias("kl1", "kl", 1, locals())


def kl2(
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
  r"""The paper's KL2 rule: KL divergence, one alternating step (Algorithm 2).

  One step of alternating optimisation: the minimum over :math:`x` at the old
  :math:`\beta_t`, then the maximum over :math:`\beta` with that :math:`x` fixed:

  .. math::

    \beta_{t+1} = \beta_t \exp(g_t^2 / \beta_t^2), \quad x_{t+1} = x_t - \eta_t\, g_t / \beta_{t+1}.

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
    ``hyperreg(init_lr, divergence="kl", algorithm=2, ...)``: an
    :class:`optax.GradientTransformationExtraArgs`.

  References:
    Xie, Jin, Lin, Zhang, `Hyper-Regularization: An Adaptive Choice for the Learning
    Rate in Gradient Descent <https://openreview.net/forum?id=S1e_ssC5F7>`_, ICLR 2019
    submission.

  Example:
    >>> import jax.numpy as jnp, optax
    >>> import hyperreg_jax as hr
    >>> opt = hr.kl2(init_lr=0.1)
    >>> params = jnp.array([3.0, -2.0, 0.5])
    >>> state = opt.init(params)
    >>> updates, state = opt.update(2 * (params - 1.0), state, params)  # one step on |x - 1|^2
    >>> print(optax.tree.get(state, "beta"))  # from beta_0 = 10
    [11.735391 14.333638 10.100491]
    >>> print(updates)  # -g / beta_1
    [-0.34087488  0.41860968  0.09900014]
  """
  return hyperreg_alias("kl2", "kl", 2, locals())


def kl3(
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
  r"""The paper's KL3 rule: KL divergence, lagged step (Algorithm 3).

  The step uses the beta chosen *before* seeing :math:`g_t` (the online order); beta is
  then updated by the Algorithm 2 rule:

  .. math::

    \beta_{t+1} = \beta_t \exp(g_t^2 / \beta_t^2), \quad x_{t+1} = x_t - \eta_t\, g_t / \beta_t.

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
    ``hyperreg(init_lr, divergence="kl", algorithm=3, ...)``: an
    :class:`optax.GradientTransformationExtraArgs`.

  References:
    Xie, Jin, Lin, Zhang, `Hyper-Regularization: An Adaptive Choice for the Learning
    Rate in Gradient Descent <https://openreview.net/forum?id=S1e_ssC5F7>`_, ICLR 2019
    submission.

  Example:
    >>> import jax.numpy as jnp, optax
    >>> import hyperreg_jax as hr
    >>> opt = hr.kl3(init_lr=0.1)
    >>> params = jnp.array([3.0, -2.0, 0.5])
    >>> state = opt.init(params)
    >>> updates, state = opt.update(2 * (params - 1.0), state, params)  # one step on |x - 1|^2
    >>> print(optax.tree.get(state, "beta"))  # from beta_0 = 10
    [11.735391 14.333638 10.100491]
    >>> print(updates)  # -g / beta_0
    [-0.40003   0.60002   0.099995]
  """
  return hyperreg_alias("kl3", "kl", 3, locals())
