"""The named optimizers, one module of plain functions (as optax's ``alias.py``): each calls
:func:`hyperreg` with its divergence and algorithm and every keyword argument by name.

The paper's twelve rules (Xie et al., 2019) take one of four divergences, each solved exactly
(Algorithm 1: ``kl1``), by one alternating step (Algorithm 2: ``kl2``) or lagged (Algorithm 3:
``kl3``):

* KL: ``D(beta, eta) = beta log(beta / eta) - beta + eta``, ``dD/dbeta = log(beta / eta)``;
* reverse KL: ``D(beta, eta) = eta log(eta / beta) - eta + beta``, ``dD/dbeta = 1 - eta / beta``;
* the squared Hellinger distance: ``D(beta, eta) = (sqrt(beta) - sqrt(eta))^2``,
  ``dD/dbeta = 1 - sqrt(eta / beta)``;
* the Pearson chi-square divergence: ``D(beta, eta) = (beta - eta)^2 / eta``,
  ``dD/dbeta = 2 (beta / eta - 1)``.

Then the special cases, diagonal AdaGrad and WNGrad. The tables at the end list the fourteen
once, for the package, the sweeps and the tests.
"""

from __future__ import annotations

import jax
import optax

from hyperreg_jax import divergences
from hyperreg_jax._transform import DEFAULT_WEIGHT_DECAY, Decay, Granularity, Mask, hyperreg
from hyperreg_jax._validate import Required

# --- KL ---------------------------------------------------------------------------------------


def kl1(
  init_lr: jax.typing.ArrayLike = Required("kl1"),
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
  return hyperreg(
    init_lr,
    divergence="kl",
    algorithm=1,
    learning_rate=learning_rate,
    weight_decay=weight_decay,
    decay=decay,
    mask=mask,
    growth=growth,
    warmup_steps=warmup_steps,
    warmup_lr=warmup_lr,
    granularity=granularity,
    beta_dtype=beta_dtype,
  )


def kl2(
  init_lr: jax.typing.ArrayLike = Required("kl2"),
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
  return hyperreg(
    init_lr,
    divergence="kl",
    algorithm=2,
    learning_rate=learning_rate,
    weight_decay=weight_decay,
    decay=decay,
    mask=mask,
    growth=growth,
    warmup_steps=warmup_steps,
    warmup_lr=warmup_lr,
    granularity=granularity,
    beta_dtype=beta_dtype,
  )


def kl3(
  init_lr: jax.typing.ArrayLike = Required("kl3"),
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
  return hyperreg(
    init_lr,
    divergence="kl",
    algorithm=3,
    learning_rate=learning_rate,
    weight_decay=weight_decay,
    decay=decay,
    mask=mask,
    growth=growth,
    warmup_steps=warmup_steps,
    warmup_lr=warmup_lr,
    granularity=granularity,
    beta_dtype=beta_dtype,
  )


# --- reverse KL -------------------------------------------------------------------------------


def rkl1(
  init_lr: jax.typing.ArrayLike = Required("rkl1"),
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
  r"""The paper's RKL1 rule: reverse KL divergence, the exact saddle point (Algorithm 1).

  The new beta is the exact maximiser of the saddle point:

  .. math::

    \beta_{t+1} = \tfrac12 \bigl(\beta_t + \sqrt{\beta_t^2 + 4 g_t^2}\bigr), \qquad
    x_{t+1} = x_t - \eta_t\, g_t / \beta_{t+1},

  the positive root of :math:`\beta^2 - \beta_t \beta - g_t^2 = 0`.

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
    ``hyperreg(init_lr, divergence="rkl", algorithm=1, ...)``: an
    :class:`optax.GradientTransformationExtraArgs`.

  References:
    Xie, Jin, Lin, Zhang, `Hyper-Regularization: An Adaptive Choice for the Learning
    Rate in Gradient Descent <https://openreview.net/forum?id=S1e_ssC5F7>`_, ICLR 2019
    submission.

  Example:
    >>> import jax.numpy as jnp, optax
    >>> import hyperreg_jax as hr
    >>> opt = hr.rkl1(init_lr=0.1)
    >>> params = jnp.array([3.0, -2.0, 0.5])
    >>> state = opt.init(params)
    >>> updates, state = opt.update(2 * (params - 1.0), state, params)  # one step on |x - 1|^2
    >>> print(optax.tree.get(state, "beta"))  # from beta_0 = 10
    [11.403312 12.810403 10.09901 ]
    >>> print(updates)  # -g / beta_1
    [-0.3508016   0.46838495  0.09901465]
  """
  return hyperreg(
    init_lr,
    divergence="rkl",
    algorithm=1,
    learning_rate=learning_rate,
    weight_decay=weight_decay,
    decay=decay,
    mask=mask,
    growth=growth,
    warmup_steps=warmup_steps,
    warmup_lr=warmup_lr,
    granularity=granularity,
    beta_dtype=beta_dtype,
  )


def rkl2(
  init_lr: jax.typing.ArrayLike = Required("rkl2"),
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
  r"""The paper's RKL2 rule: reverse KL divergence, one alternating step (Algorithm 2).

  Where :math:`g_t^2 \ge \beta_t^2` the update below has no finite root (the maximiser is
  :math:`\beta \to \infty`): beta takes the clip ceiling, or unclipped the Algorithm 1 root.

  One step of alternating optimisation: the minimum over :math:`x` at the old
  :math:`\beta_t`, then the maximum over :math:`\beta` with that :math:`x` fixed:

  .. math::

    \beta_{t+1} = \beta_t / (1 - g_t^2 / \beta_t^2), \quad x_{t+1} = x_t - \eta_t\, g_t / \beta_{t+1}.

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
    ``hyperreg(init_lr, divergence="rkl", algorithm=2, ...)``: an
    :class:`optax.GradientTransformationExtraArgs`.

  References:
    Xie, Jin, Lin, Zhang, `Hyper-Regularization: An Adaptive Choice for the Learning
    Rate in Gradient Descent <https://openreview.net/forum?id=S1e_ssC5F7>`_, ICLR 2019
    submission.

  Example:
    >>> import jax.numpy as jnp, optax
    >>> import hyperreg_jax as hr
    >>> opt = hr.rkl2(init_lr=0.1)
    >>> params = jnp.array([3.0, -2.0, 0.5])
    >>> state = opt.init(params)
    >>> updates, state = opt.update(2 * (params - 1.0), state, params)  # one step on |x - 1|^2
    >>> print(optax.tree.get(state, "beta"))  # from beta_0 = 10
    [11.905102 15.625586 10.101   ]
    >>> print(updates)  # -g / beta_1
    [-0.3360156   0.3839984   0.09899515]
  """
  return hyperreg(
    init_lr,
    divergence="rkl",
    algorithm=2,
    learning_rate=learning_rate,
    weight_decay=weight_decay,
    decay=decay,
    mask=mask,
    growth=growth,
    warmup_steps=warmup_steps,
    warmup_lr=warmup_lr,
    granularity=granularity,
    beta_dtype=beta_dtype,
  )


def rkl3(
  init_lr: jax.typing.ArrayLike = Required("rkl3"),
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
  r"""The paper's RKL3 rule: reverse KL divergence, lagged step (Algorithm 3).

  Where :math:`g_t^2 \ge \beta_t^2` the update below has no finite root (the maximiser is
  :math:`\beta \to \infty`): beta takes the clip ceiling, or unclipped the Algorithm 1 root.

  The step uses the beta chosen *before* seeing :math:`g_t` (the online order); beta is
  then updated by the Algorithm 2 rule:

  .. math::

    \beta_{t+1} = \beta_t / (1 - g_t^2 / \beta_t^2), \quad x_{t+1} = x_t - \eta_t\, g_t / \beta_t.

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
    ``hyperreg(init_lr, divergence="rkl", algorithm=3, ...)``: an
    :class:`optax.GradientTransformationExtraArgs`.

  References:
    Xie, Jin, Lin, Zhang, `Hyper-Regularization: An Adaptive Choice for the Learning
    Rate in Gradient Descent <https://openreview.net/forum?id=S1e_ssC5F7>`_, ICLR 2019
    submission.

  Example:
    >>> import jax.numpy as jnp, optax
    >>> import hyperreg_jax as hr
    >>> opt = hr.rkl3(init_lr=0.1)
    >>> params = jnp.array([3.0, -2.0, 0.5])
    >>> state = opt.init(params)
    >>> updates, state = opt.update(2 * (params - 1.0), state, params)  # one step on |x - 1|^2
    >>> print(optax.tree.get(state, "beta"))  # from beta_0 = 10
    [11.905102 15.625586 10.101   ]
    >>> print(updates)  # -g / beta_0
    [-0.40003   0.60002   0.099995]
  """
  return hyperreg(
    init_lr,
    divergence="rkl",
    algorithm=3,
    learning_rate=learning_rate,
    weight_decay=weight_decay,
    decay=decay,
    mask=mask,
    growth=growth,
    warmup_steps=warmup_steps,
    warmup_lr=warmup_lr,
    granularity=granularity,
    beta_dtype=beta_dtype,
  )


# --- squared Hellinger distance ---------------------------------------------------------------


def hellinger1(
  init_lr: jax.typing.ArrayLike = Required("hellinger1"),
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
  r"""The paper's H1 rule: the squared Hellinger distance, the exact saddle point (Algorithm 1).

  The new beta is the exact maximiser of the saddle point:

  .. math::

    \beta_{t+1}^2 \bigl(1 - \sqrt{\beta_t / \beta_{t+1}}\bigr) = g_t^2, \qquad
    x_{t+1} = x_t - \eta_t\, g_t / \beta_{t+1},

  solved as the root :math:`s > 1` of :math:`s^4 - s^3 = g_t^2 / \beta_t^2`,
  :math:`\beta_{t+1} = s^2 \beta_t`.

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
    ``hyperreg(init_lr, divergence="hellinger", algorithm=1, ...)``: an
    :class:`optax.GradientTransformationExtraArgs`.

  References:
    Xie, Jin, Lin, Zhang, `Hyper-Regularization: An Adaptive Choice for the Learning
    Rate in Gradient Descent <https://openreview.net/forum?id=S1e_ssC5F7>`_, ICLR 2019
    submission.

  Example:
    >>> import jax.numpy as jnp, optax
    >>> import hyperreg_jax as hr
    >>> opt = hr.hellinger1(init_lr=0.1)
    >>> params = jnp.array([3.0, -2.0, 0.5])
    >>> state = opt.init(params)
    >>> updates, state = opt.update(2 * (params - 1.0), state, params)  # one step on |x - 1|^2
    >>> print(optax.tree.get(state, "beta"))  # from beta_0 = 10
    [12.439757 14.532438 10.195207]
    >>> print(updates)  # -g / beta_1
    [-0.3215738   0.41288322  0.0980804 ]
  """
  return hyperreg(
    init_lr,
    divergence="hellinger",
    algorithm=1,
    learning_rate=learning_rate,
    weight_decay=weight_decay,
    decay=decay,
    mask=mask,
    growth=growth,
    warmup_steps=warmup_steps,
    warmup_lr=warmup_lr,
    granularity=granularity,
    beta_dtype=beta_dtype,
  )


def hellinger2(
  init_lr: jax.typing.ArrayLike = Required("hellinger2"),
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
  r"""The paper's H2 rule: the squared Hellinger distance, one alternating step (Algorithm 2).

  Where :math:`g_t^2 \ge \beta_t^2` the update below has no finite root (the maximiser is
  :math:`\beta \to \infty`): beta takes the clip ceiling, or unclipped the Algorithm 1 root.

  One step of alternating optimisation: the minimum over :math:`x` at the old
  :math:`\beta_t`, then the maximum over :math:`\beta` with that :math:`x` fixed:

  .. math::

    \beta_{t+1} = \beta_t / (1 - g_t^2 / \beta_t^2)^2, \quad x_{t+1} = x_t - \eta_t\, g_t / \beta_{t+1}.

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
    ``hyperreg(init_lr, divergence="hellinger", algorithm=2, ...)``: an
    :class:`optax.GradientTransformationExtraArgs`.

  References:
    Xie, Jin, Lin, Zhang, `Hyper-Regularization: An Adaptive Choice for the Learning
    Rate in Gradient Descent <https://openreview.net/forum?id=S1e_ssC5F7>`_, ICLR 2019
    submission.

  Example:
    >>> import jax.numpy as jnp, optax
    >>> import hyperreg_jax as hr
    >>> opt = hr.hellinger2(init_lr=0.1)
    >>> params = jnp.array([3.0, -2.0, 0.5])
    >>> state = opt.init(params)
    >>> updates, state = opt.update(2 * (params - 1.0), state, params)  # one step on |x - 1|^2
    >>> print(optax.tree.get(state, "beta"))  # from beta_0 = 10
    [14.173144 20.       10.203019]
    >>> print(updates)  # -g / beta_1
    [-0.28224507  0.30001     0.0980053 ]
  """
  return hyperreg(
    init_lr,
    divergence="hellinger",
    algorithm=2,
    learning_rate=learning_rate,
    weight_decay=weight_decay,
    decay=decay,
    mask=mask,
    growth=growth,
    warmup_steps=warmup_steps,
    warmup_lr=warmup_lr,
    granularity=granularity,
    beta_dtype=beta_dtype,
  )


def hellinger3(
  init_lr: jax.typing.ArrayLike = Required("hellinger3"),
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
  r"""The paper's H3 rule: the squared Hellinger distance, lagged step (Algorithm 3).

  Where :math:`g_t^2 \ge \beta_t^2` the update below has no finite root (the maximiser is
  :math:`\beta \to \infty`): beta takes the clip ceiling, or unclipped the Algorithm 1 root.

  The step uses the beta chosen *before* seeing :math:`g_t` (the online order); beta is
  then updated by the Algorithm 2 rule:

  .. math::

    \beta_{t+1} = \beta_t / (1 - g_t^2 / \beta_t^2)^2, \quad x_{t+1} = x_t - \eta_t\, g_t / \beta_t.

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
    ``hyperreg(init_lr, divergence="hellinger", algorithm=3, ...)``: an
    :class:`optax.GradientTransformationExtraArgs`.

  References:
    Xie, Jin, Lin, Zhang, `Hyper-Regularization: An Adaptive Choice for the Learning
    Rate in Gradient Descent <https://openreview.net/forum?id=S1e_ssC5F7>`_, ICLR 2019
    submission.

  Example:
    >>> import jax.numpy as jnp, optax
    >>> import hyperreg_jax as hr
    >>> opt = hr.hellinger3(init_lr=0.1)
    >>> params = jnp.array([3.0, -2.0, 0.5])
    >>> state = opt.init(params)
    >>> updates, state = opt.update(2 * (params - 1.0), state, params)  # one step on |x - 1|^2
    >>> print(optax.tree.get(state, "beta"))  # from beta_0 = 10
    [14.173144 20.       10.203019]
    >>> print(updates)  # -g / beta_0
    [-0.40003   0.60002   0.099995]
  """
  return hyperreg(
    init_lr,
    divergence="hellinger",
    algorithm=3,
    learning_rate=learning_rate,
    weight_decay=weight_decay,
    decay=decay,
    mask=mask,
    growth=growth,
    warmup_steps=warmup_steps,
    warmup_lr=warmup_lr,
    granularity=granularity,
    beta_dtype=beta_dtype,
  )


# --- Pearson chi-square -----------------------------------------------------------------------


def chi2_1(
  init_lr: jax.typing.ArrayLike = Required("chi2_1"),
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
  return hyperreg(
    init_lr,
    divergence="chi2",
    algorithm=1,
    learning_rate=learning_rate,
    weight_decay=weight_decay,
    decay=decay,
    mask=mask,
    growth=growth,
    warmup_steps=warmup_steps,
    warmup_lr=warmup_lr,
    granularity=granularity,
    beta_dtype=beta_dtype,
  )


def chi2_2(
  init_lr: jax.typing.ArrayLike = Required("chi2_2"),
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
  return hyperreg(
    init_lr,
    divergence="chi2",
    algorithm=2,
    learning_rate=learning_rate,
    weight_decay=weight_decay,
    decay=decay,
    mask=mask,
    growth=growth,
    warmup_steps=warmup_steps,
    warmup_lr=warmup_lr,
    granularity=granularity,
    beta_dtype=beta_dtype,
  )


def chi2_3(
  init_lr: jax.typing.ArrayLike = Required("chi2_3"),
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
  return hyperreg(
    init_lr,
    divergence="chi2",
    algorithm=3,
    learning_rate=learning_rate,
    weight_decay=weight_decay,
    decay=decay,
    mask=mask,
    growth=growth,
    warmup_steps=warmup_steps,
    warmup_lr=warmup_lr,
    granularity=granularity,
    beta_dtype=beta_dtype,
  )


# --- the special cases: diagonal AdaGrad and WNGrad -------------------------------------------


# f(u) = (u - 1)^2 / 2, written out (as the built-ins are) so that importing the package
# evaluates nothing: jax.distributed.initialize must come before any computation.
half_chi2 = divergences.Divergence(
  "half_chi2",
  D=lambda beta, eta: 0.5 * (beta - eta) ** 2 / eta,
  dD=lambda beta, eta: beta / eta - 1.0,
  phi=True,
)


def adagrad_diag(
  init_lr: jax.typing.ArrayLike = Required("adagrad_diag"),
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
  initial_accumulator_value=1 / init_lr**2, eps=0)`` (a special case that docs/optimizers.md
  lists).

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
  return hyperreg(
    init_lr,
    divergence="neyman_chi2",
    algorithm=1,
    learning_rate=learning_rate,
    weight_decay=weight_decay,
    decay=decay,
    mask=mask,
    growth=growth,
    warmup_steps=warmup_steps,
    warmup_lr=warmup_lr,
    granularity=granularity,
    beta_dtype=beta_dtype,
  )


def wngrad(
  init_lr: jax.typing.ArrayLike = Required("wngrad"),
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
  return hyperreg(
    init_lr,
    divergence=half_chi2,
    algorithm=2,
    learning_rate=learning_rate,
    weight_decay=weight_decay,
    decay=decay,
    mask=mask,
    growth=growth,
    warmup_steps=warmup_steps,
    warmup_lr=warmup_lr,
    granularity=granularity,
    beta_dtype=beta_dtype,
  )


# --- the tables -------------------------------------------------------------------------------

#: The paper's twelve rules by name, each a divergence and an algorithm (1 exact, 2 alternating,
#: 3 lagged).
PAPER_RULES = {
  rule.__name__: rule
  for rule in (kl1, kl2, kl3, rkl1, rkl2, rkl3, hellinger1, hellinger2, hellinger3)
  + (chi2_1, chi2_2, chi2_3)
}
# The special cases: AdaGrad (Neyman chi-square, Algorithm 1) and WNGrad.
SPECIAL = {"adagrad_diag": adagrad_diag, "wngrad": wngrad}
#: The fourteen names in that order, the twelve rules then ``adagrad_diag`` and ``wngrad``.
RULE_NAMES = (*PAPER_RULES, *SPECIAL)
