r"""The named optimizers: the paper's twelve rules, diagonal AdaGrad and WNGrad.

Each alias is :func:`~hyperreg_jax.hyperreg` with its divergence and algorithm fixed, and a
docstring that gives its rule's formula (built here from one template, so the fourteen stay
alike).
"""

from __future__ import annotations

import jax
import optax

from hyperreg_jax import divergences
from hyperreg_jax._transform import DEFAULT_WEIGHT_DECAY, Granularity, Mask, hyperreg

_PER_COORDINATE = r"""
  Per coordinate, with :math:`g_t` the gradient (decay term included), :math:`\beta_t`
  the inverse learning rate and :math:`\eta_t` the ``learning_rate``,
"""
_CLIPPED = r"""
  with :math:`\beta_{t+1}` clipped to :math:`[\beta_t, \mathrm{growth}\,\beta_t]` and
  :math:`\beta_0 = 1 / \mathrm{init\_lr}`.
"""
_NO_ROOT = r"""
  Where :math:`g_t^2 \ge \beta_t^2` that equation has no finite root (the
  maximiser is :math:`\beta \to \infty`): beta takes the clip ceiling
  :math:`\mathrm{growth}\,\beta_t`, or the Algorithm 1 root without clipping.
"""
_LAGGED = r"""
  The step uses the beta chosen *before* seeing :math:`g_t`; beta is then
  updated by the Algorithm 2 rule.
"""
_ARGS = """
  Args:
    init_lr: the initial learning rate ``1 / beta_0`` (> 0; may be a traced array).
    learning_rate: a multiplier on ``1 / beta`` (a scalar or an optax schedule).
    weight_decay: L2 regularisation strength (``>= 0``, default {decay_default});
      the decay term is part of the gradient that drives beta.
    mask: which leaves get weight decay, as in :func:`optax.adamw`.
    {growth}
    warmup_steps: number of steps at the fixed rate ``warmup_lr`` before the rule starts.
    warmup_lr: the learning rate of the warm-up steps.
    {granularity}
    beta_dtype: the dtype of beta (default: the params' dtype, at least float32).

  Returns:
    {returns}
    :class:`optax.GradientTransformationExtraArgs`.

  Example:
    >>> import jax, jax.numpy as jnp, optax
    >>> import hyperreg_jax as hr
    >>> f = lambda x: jnp.sum((x - 1.0) ** 2)
    >>> opt = hr.{name}(init_lr=0.1)
    >>> params = jnp.array([3.0, -2.0, 0.5])
    >>> state = opt.init(params)
    >>> for _ in range(10):
    ...   updates, state = opt.update(jax.grad(f)(params), state, params)
    ...   params = optax.apply_updates(params, updates)
    >>> print(f"{{f(params):.4f}}")
    {example_value}

  References:
    {reference}
  """
_PAPER_GROWTH = (
  "growth: clip ``beta_{t+1}`` to ``[beta_t, growth * beta_t]``; ``None`` or ``inf``:\n"
  "      no upper clip."
)
_PAPER_GRANULARITY = """granularity: ``"coordinate"`` (the paper), ``"tensor"`` or ``"global"``; see
      :func:`scale_by_hyperreg`."""
_PAPER = """Xie, Jin, Lin, Zhang, `Hyper-Regularization: An Adaptive Choice for the
    Learning Rate in Gradient Descent <https://openreview.net/forum?id=S1e_ssC5F7>`_,
    ICLR 2019 submission."""

# name: (title, divergence, its description, beta_{t+1}'s equation for Algorithm 1 and for
# Algorithms 2 and 3, whether Algorithm 2 can lack a finite root, the three doctest values)
_RULES = {
  "kl": (
    "KL",
    "KL divergence",
    r"\beta_{t+1}^2 \log(\beta_{t+1} / \beta_t) = g_t^2",
    r"\beta_{t+1} = \beta_t \exp(g_t^2 / \beta_t^2)",
    False,
    ("0.8058", "1.0996", "0.8147"),
  ),
  "rkl": (
    "RKL",
    "reverse KL divergence",
    r"\beta_{t+1} = \tfrac12 \bigl(\beta_t + \sqrt{\beta_t^2 + 4 g_t^2}\bigr)",
    r"\beta_{t+1} = \beta_t / (1 - g_t^2 / \beta_t^2)",
    True,
    ("0.8535", "1.2728", "0.9292"),
  ),
  "hellinger": (
    "H",
    "squared Hellinger distance",
    r"\beta_{t+1}^2 \bigl(1 - \sqrt{\beta_t / \beta_{t+1}}\bigr) = g_t^2",
    r"\beta_{t+1} = \beta_t / (1 - g_t^2 / \beta_t^2)^2",
    True,
    ("1.5051", "2.3673", "1.6069"),
  ),
  "chi2": (
    "X2_",
    "Pearson chi-square divergence",
    r"2 \beta_{t+1}^2 (\beta_{t+1} / \beta_t - 1) = g_t^2",
    r"\beta_{t+1} = \beta_t + g_t^2 / (2 \beta_t)",
    False,
    ("0.4494", "0.5138", "0.4280"),
  ),
}
_ALGORITHM_NAMES = {1: "exact saddle point", 2: "one alternating step", 3: "lagged step"}


def _paper_doc(name: str, divergence: str, algorithm: int) -> str:
  title, description, exact, alternating, no_root, values = _RULES[divergence]
  equation = exact if algorithm == 1 else alternating
  step_beta = r"\beta_t" if algorithm == 3 else r"\beta_{t+1}"
  math = f"""
  .. math::

    {equation}, \\qquad
    x_{{t+1}} = x_t - \\eta_t\\, g_t / {step_beta},
"""
  notes = (_NO_ROOT if no_root and algorithm > 1 else "") + (_LAGGED if algorithm == 3 else "")
  summary = (
    f"The paper's {title}{algorithm} rule: {description}, {_ALGORITHM_NAMES[algorithm]} "
    f"(Algorithm {algorithm})."
  )
  args = _ARGS.format(
    decay_default="the paper's ``1e-4``",
    growth=_PAPER_GROWTH,
    granularity=_PAPER_GRANULARITY,
    returns=f'``hyperreg(init_lr, divergence="{divergence}", algorithm={algorithm}, ...)``: an',
    name=name,
    example_value=values[algorithm - 1],
    reference=_PAPER,
  )
  return summary + "\n" + _PER_COORDINATE + math + _CLIPPED + notes + args


# f(u) = (u - 1)^2 / 2, written out (as the built-ins are) so that importing the package
# evaluates nothing: jax.distributed.initialize must come before any computation.
half_chi2 = divergences.Divergence(
  "half_chi2",
  D=lambda beta, eta: 0.5 * (beta - eta) ** 2 / eta,
  dD=lambda beta, eta: beta / eta - 1.0,
  phi=True,
)

_ADAGRAD_DOC = r"""Diagonal AdaGrad as the Neyman chi-square rule, Algorithm 1, without clipping.

  .. math::

    \beta_{t+1}^2 = \beta_t^2 + g_t^2, \qquad
    x_{t+1} = x_t - \eta_t\, g_t / \beta_{t+1},

  with :math:`\beta_0 = 1 / \mathrm{init\_lr}`. With ``weight_decay=0`` and
  ``learning_rate=1`` it equals ``optax.adagrad(1.0,
  initial_accumulator_value=1 / init_lr**2, eps=0)`` (SPEC section 5).
""" + _ARGS.format(
  decay_default="``1e-4``",
  growth="growth: the growth clip; ``None`` (the default here, as in AdaGrad): none.",
  granularity=_PAPER_GRANULARITY,
  returns='``hyperreg(init_lr, divergence="neyman_chi2", algorithm=1, growth=None, ...)``: an',
  name="adagrad_diag",
  example_value="0.4933",
  reference="""Duchi, Hazan, Singer, `Adaptive Subgradient Methods for Online Learning and
    Stochastic Optimization <https://jmlr.org/papers/v12/duchi11a.html>`_, JMLR 2011.""",
)

_WNGRAD_DOC = r"""WNGrad as a global hyper-regularized rule.

  One scalar :math:`b` for all parameters,

  .. math::

    b_{t+1} = b_t + \|g_t\|^2 / b_t, \qquad
    x_{t+1} = x_t - \eta_t\, g_t / b_{t+1},

  with :math:`b_0 = 1 / \mathrm{init\_lr}`: Algorithm 2 with the half chi-square
  divergence ``f(u) = (u - 1)^2 / 2``, global granularity and no clipping (SPEC section
  5: ``chi2`` itself gives half the increment).
""" + _ARGS.format(
  decay_default="``1e-4``",
  growth="growth: the growth clip; ``None`` (the default here, as in WNGrad): none.",
  granularity="""granularity: ``"global"`` (WNGrad, the default here), ``"tensor"`` or
      ``"coordinate"``; see :func:`scale_by_hyperreg`.""",
  returns="""``hyperreg(init_lr, divergence=half_chi2, algorithm=2, growth=None,
    granularity="global", ...)``: an""",
  name="wngrad",
  example_value="1.7920",
  reference="""Wu, Ward, Bottou, `WNGrad: Learn the Learning Rate in Gradient Descent
    <https://arxiv.org/abs/1803.02865>`_, 2018.""",
)

# alias name: (divergence, algorithm)
_SETTINGS: dict[str, tuple] = {}


def _alias(
  name: str, divergence, algorithm: int, doc: str, *, growth=2.0, granularity="coordinate"
):
  """A documented alias ``name(init_lr, *, ...)`` of :func:`hyperreg`, with its own defaults."""
  _SETTINGS[name] = (divergence, algorithm)

  def alias(
    init_lr: jax.typing.ArrayLike = 1e-2,
    *,
    learning_rate: optax.ScalarOrSchedule = 1.0,
    weight_decay: jax.typing.ArrayLike = DEFAULT_WEIGHT_DECAY,
    mask: Mask = None,
    growth: jax.typing.ArrayLike | None = growth,
    warmup_steps: int = 0,
    warmup_lr: jax.typing.ArrayLike | None = None,
    granularity: Granularity = granularity,
    beta_dtype: jax.typing.DTypeLike | None = None,
  ) -> optax.GradientTransformationExtraArgs:
    options = dict(locals())  # the arguments, and ``name`` from the closure
    del options["name"]
    divergence, algorithm = _SETTINGS[name]
    return hyperreg(divergence=divergence, algorithm=algorithm, **options)

  alias.__code__ = alias.__code__.replace(co_name=name)  # tracebacks name the alias
  alias.__name__ = alias.__qualname__ = name
  alias.__doc__ = doc
  return alias


def _paper_rule(name: str, divergence: str, algorithm: int):
  return _alias(name, divergence, algorithm, _paper_doc(name, divergence, algorithm))


kl1, kl2, kl3 = (_paper_rule(f"kl{a}", "kl", a) for a in (1, 2, 3))
rkl1, rkl2, rkl3 = (_paper_rule(f"rkl{a}", "rkl", a) for a in (1, 2, 3))
hellinger1, hellinger2, hellinger3 = (
  _paper_rule(f"hellinger{a}", "hellinger", a) for a in (1, 2, 3)
)
chi2_1, chi2_2, chi2_3 = (_paper_rule(f"chi2_{a}", "chi2", a) for a in (1, 2, 3))
adagrad_diag = _alias("adagrad_diag", "neyman_chi2", 1, _ADAGRAD_DOC, growth=None)
wngrad = _alias("wngrad", half_chi2, 2, _WNGRAD_DOC, growth=None, granularity="global")

PAPER_RULES = {
  rule.__name__: rule
  for rule in (kl1, kl2, kl3, rkl1, rkl2, rkl3, hellinger1, hellinger2, hellinger3)
  + (chi2_1, chi2_2, chi2_3)
}
SPECIAL = {"adagrad_diag": adagrad_diag, "wngrad": wngrad}
