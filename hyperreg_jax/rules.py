r"""Beta-update rules: one hyper-regularized step for the inverse learning rate.

For a gradient ``g`` and the current inverse learning rate ``b = beta_t`` every rule
depends only on ``c = (g / b)^2`` through the ratio ``r = beta_{t+1} / b``, which
is what makes every rule 1-homogeneous. With ``D(beta, eta) = eta f(beta / eta)``
the first-order conditions of the paper's saddle point (Xie et al., 2019) read

* Algorithm 1 (exact saddle point):      ``r^2 f'(r) = c``
* Algorithm 2 (one alternating step):    ``f'(r) = c``
* Algorithm 3 (lagged step): the beta update of Algorithm 2; only the step differs.

Both left sides grow from 0 at ``r = 1``, so there is one root ``r >= 1``. Growth
clipping keeps ``r`` in ``[1, growth]``; since the left side is increasing,
``r = growth`` exactly when ``c`` reaches the left side at ``growth``, which is
tested first. Nothing overflows: the closed forms are evaluated only on a ``c``
capped at that ceiling (or at a huge finite value when clipping is off), and
Lambert W and the polynomial roots are solved in log space.

Closed forms (``W`` is the Lambert W function):

=========  ==========================  =================================
rule       ``r`` (Algorithm 1)         ``r`` (Algorithm 2)
=========  ==========================  =================================
KL         ``exp(W(2c) / 2)``          ``exp(c)``
RKL        ``(1 + sqrt(1 + 4c)) / 2``  ``1 / (1 - c)``,   c < 1
Hellinger  ``s^2``, ``s^3 (s-1) = c``  ``1 / (1 - c)^2``, c < 1
chi2       ``r^2 (r - 1) = c / 2``     ``1 + c / 2``
Neyman     ``sqrt(1 + c)``             ``1 / sqrt(1 - c)``, c < 1
=========  ==========================  =================================

Where Algorithm 2 has no finite root (``c >= 1``) the maximiser is
``beta -> infinity``: the rule returns the clip ceiling ``growth * b``, or the
Algorithm 1 root when clipping is off. Any other divergence is solved by a
safeguarded Newton iteration with a fixed number of steps (jit-friendly).

Speed. A rule is elementwise: it reads the gradient and beta and writes beta, the memory
traffic of AdaGrad, so its cost above AdaGrad's is arithmetic. In float32 with a concrete
growth of at most 10 (the default is 2), the rules that would iterate (KL1, H1, X2_1 and
custom divergences without an explicit ``solver_iterations``) evaluate instead a fitted
inverse: ``r`` as a polynomial in ``(c / C)^(1/2)`` (or ``^(1/4)``), ``C`` the left side
at the clip, fitted once at trace time to float32 precision, or closer than ``1e-4`` and
finished by one Newton step (two for ``3e-3``); evaluated by Horner's rule where float32
keeps its accuracy that way (KL1, H1, X2_1 at the default growth), else as a Chebyshev
series. Float64, wider or traced growths, no clip and an explicit ``solver_iterations``
keep the closed forms and the solver above, to float64 precision.
``python benchmarks/bench_step.py --tuning`` times every rule with and without the fit.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from hyperreg_jax import _roots, divergences
from hyperreg_jax._roots import foc_lhs, solve_ratio

#: The algorithms (1 exact saddle point, 2 one alternating step, 3 lagged step).
ALGORITHMS = (1, 2, 3)


# Steps of the generic solver. From its first-order start, a bracket no wider than
# [1, 10] takes at most 10 steps to float64 precision. A wider one (large growth, no
# clipping, or a traced growth that may be either) takes more: geometric bisection first
# halves the bracket's logarithm, then Newton converges quadratically, except where a
# user's f' loses its second derivative to underflow (roots past 1e154), where it only
# halves the error per step; 96 steps cover that (tested on the built-in divergences,
# copies of them through from_f, Jensen-Shannon and a cubic one, c from 0 to 1e30).
_NARROW_ITERATIONS, _WIDE_ITERATIONS = 12, 96
_NARROW_GROWTH = 10.0


def check_algorithm(algorithm) -> int:
  """Validates ``algorithm``: a static integer in ``ALGORITHMS``."""
  if isinstance(algorithm, jax.core.Tracer):
    raise ValueError(
      f"algorithm must be one of {ALGORITHMS} as a static Python int, got "
      "a traced value (with optax.inject_hyperparams, pass "
      "static_args=('algorithm',))."
    )
  value = np.asarray(algorithm) if not isinstance(algorithm, (str, bool)) else None
  if (
    value is None
    or value.shape != ()
    or not np.issubdtype(value.dtype, np.integer)
    or int(value) not in ALGORITHMS
  ):
    raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}.")
  return int(value)


def check_growth(growth):
  """Validates ``growth``: ``None`` or ``inf`` (no upper clip, returned as ``None``), or a
  number >= 1. Traced values pass (a traced ``inf`` means no upper clip too)."""
  if growth is None or isinstance(growth, jax.core.Tracer):
    return growth
  value = np.asarray(growth) if not isinstance(growth, (str, bytes, bool)) else None
  if (
    value is None
    or value.shape != ()
    or not (np.issubdtype(value.dtype, np.integer) or np.issubdtype(value.dtype, np.floating))
    or np.isnan(value)
    or value < 1
  ):
    raise ValueError(
      f"growth must be None or inf (no upper clip) or a number >= 1, got {growth!r}."
    )
  return None if np.isposinf(value) else growth


def check_solver_iterations(solver_iterations, growth) -> int:
  """``solver_iterations`` (an integer >= 1), or the default for ``growth``."""
  if solver_iterations is None:
    narrow = (
      growth is not None
      and not isinstance(growth, jax.core.Tracer)
      and float(growth) <= _NARROW_GROWTH
    )
    return _NARROW_ITERATIONS if narrow else _WIDE_ITERATIONS
  if (
    isinstance(solver_iterations, bool)
    or not isinstance(solver_iterations, (int, np.integer))
    or solver_iterations < 1
  ):
    raise ValueError(
      f"solver_iterations must be None (automatic) or an integer >= 1, got {solver_iterations!r}."
    )
  return int(solver_iterations)


def compute_dtype(*arrays) -> jnp.dtype:
  """The inputs' float dtype, at least float32: bf16/f16 inputs are computed in float32."""
  dtype = jnp.result_type(*arrays)
  if not jnp.issubdtype(dtype, jnp.floating):
    return jnp.result_type(float)
  return jnp.promote_types(dtype, jnp.float32)


# --- closed forms, in terms of c = (g / b)^2 -------------------------------------------


def _newton_steps(x: jax.Array, float32: int, float64: int) -> int:
  """Enough Newton steps for ``x``'s precision (the starts below are tested to it)."""
  return float64 if jnp.finfo(x.dtype).bits > 32 else float32


def lambertw(z: jax.Array) -> jax.Array:
  """Principal branch ``W(z)`` for ``z >= 0``: Halley's method on ``w e^w = z``.

  Winitzki's approximation starts within 2% everywhere on ``[0, 1e37]``; Halley's
  cubic convergence reaches float64 precision in two steps (one exp each).
  """
  l1 = jnp.log1p(z)
  w = l1 * (1.0 - jnp.log1p(l1) / (2.0 + l1))
  for _ in range(2):
    e = jnp.exp(w)
    f = w * e - z
    w = w - f / (e * (w + 1.0) - (w + 2.0) * f / (2.0 * w + 2.0))
  return w


def _cube_root_1p(a: jax.Array) -> jax.Array:
  """``(1 + a)^(1/3)`` as ``exp(log1p(a) / 3)`` (a CPU tuning): XLA's ``cbrt`` is about 5x
  slower on CPU (``python benchmarks/bench_step.py --tuning``, the unclipped chi2_1 row)."""
  return jnp.exp(jnp.log1p(a) / 3.0)


def _power_excess_root(k: int, a: jax.Array) -> jax.Array:
  """The root ``x >= 1`` of ``x^k (x - 1) = a`` for ``a >= 0`` (``k`` is 2 or 3).

  Newton on ``t = x - 1``: ``p(t) = (1 + t)^k t - a`` is convex and increasing, and
  ``t0 = u - u^(-k)`` with ``u = (1 + a)^(1 / (k + 1))`` lies above the root, so
  the iterates fall monotonically onto it; only multiply-adds and one division.
  """
  u = _cube_root_1p(a) if k == 2 else jnp.sqrt(jnp.sqrt(1.0 + a))
  t = u - 1.0 / u**k
  for _ in range(_newton_steps(t, k + 2, k + 3)):
    x = 1.0 + t
    t = t - (x**k * t - a) / (x ** (k - 1) * ((k + 1) * t + 1.0))
  return 1.0 + jnp.maximum(t, 0.0)


def _kl1_ratio(c):
  """``r`` with ``r^2 log r = c``: ``r^2 = z / W(z)`` with ``z = 2c``."""
  z = 2.0 * c
  w = lambertw(z)
  return jnp.where(z > 0, jnp.sqrt(z / jnp.where(z > 0, w, 1.0)), 1.0)


_ALGORITHM_1 = {
  divergences.kl: lambda c: _kl1_ratio(c),
  divergences.rkl: lambda c: 0.5 * (1.0 + jnp.sqrt(1.0 + 4.0 * c)),
  divergences.hellinger: lambda c: jnp.square(_power_excess_root(3, c)),
  divergences.chi2: lambda c: _power_excess_root(2, 0.5 * c),
  divergences.neyman_chi2: lambda c: jnp.sqrt(1.0 + c),
}
_ALGORITHM_2 = {
  divergences.kl: jnp.exp,
  divergences.rkl: lambda c: 1.0 / (1.0 - c),
  divergences.hellinger: lambda c: 1.0 / jnp.square(1.0 - c),
  divergences.chi2: lambda c: 1.0 + 0.5 * c,
  divergences.neyman_chi2: lambda c: jax.lax.rsqrt(1.0 - c),
}
# Divergences whose Algorithm 2 equation has no finite root when c >= 1.
_UNBOUNDED_2 = (divergences.rkl, divergences.hellinger, divergences.neyman_chi2)


# --- where the fitted inverse applies ---------------------------------------------------

# Divergences whose Algorithm 1 closed form runs an iteration (Lambert W, polynomial roots).
_ITERATIVE_1 = (divergences.kl, divergences.hellinger, divergences.chi2)


def _fit_for(divergence, algorithm, dtype, growth, solver_iterations):
  """The fitted inverse where it applies (a CPU tuning; ``None``: the closed form or solver).

  It applies in float32 or narrower, with a concrete growth of at most ``_NARROW_GROWTH``,
  to a rule that would otherwise iterate (a custom divergence without an explicit
  ``solver_iterations``, or KL1, H1, X2_1). ``python benchmarks/bench_step.py --tuning``
  times those rules without it.
  """
  if jnp.finfo(dtype).bits > 32 or not 1.0 < float(growth) <= _NARROW_GROWTH:
    return None
  closed = _closed_form(divergence, algorithm)
  if closed is None and solver_iterations is not None:
    return None
  if closed is not None and not (algorithm == 1 and divergence in _ITERATIVE_1):
    return None
  return _roots.inverse_fit(divergence, algorithm, float(growth))


# --- the rule ------------------------------------------------------------------------------


def _closed_form(divergence, algorithm):
  """The closed form ``c -> r`` of a built-in divergence, or ``None``."""
  return (_ALGORITHM_1 if algorithm == 1 else _ALGORITHM_2).get(divergence)


def _generic_unclipped_ratio(divergence, algorithm, c, b, iterations):
  """The generic solver without an upper clip, with the closed forms' conventions.

  The bracket grows up to the largest float. Where even that is too small (the left
  side stays below ``c``), either ``f'`` has levelled off at a finite limit, so ``c`` is
  at or past it, Algorithm 2 has no finite root and the Algorithm 1 root is used, as
  for the closed forms; or the root lies beyond the float range and the ratio is
  infinite (the rule then saturates at the largest float, as the closed forms do).
  """
  hi = _roots.upper_bracket(divergence, algorithm, c, b)
  ratio = solve_ratio(divergence, algorithm, c, b, jnp.ones_like(c), hi, iterations)
  top = jnp.finfo(c.dtype).max
  at_hi = foc_lhs(divergence, algorithm, hi, b)
  beyond = (hi >= top) & ~(at_hi > c)  # the root lies past the largest float
  if algorithm == 1:
    return jnp.where(beyond, jnp.inf, ratio)
  # Does f' level off? From max^(1/8) to max^(1/4) it grows by less than 1% (a
  # logarithm doubles there; 1 - 1/r, 1 - 1/sqrt(r) and 1 - 1/r^2 are flat to 4e-3 in
  # float32). Then a value above that level is rounding garbage of an overflow, and
  # unless the bracket found a true value above c, c is at or past the limit.
  far, farther = (
    foc_lhs(divergence, algorithm, jnp.asarray(top, c.dtype) ** p, b) for p in (1 / 8, 1 / 4)
  )
  ceiling = farther + 1e-2 * jnp.abs(farther)
  levels_off = farther - far <= 1e-2 * jnp.abs(farther)
  no_root = levels_off & ~((at_hi > c) & (at_hi <= ceiling))
  exact = _generic_unclipped_ratio(divergence, 1, c, b, iterations)
  return jnp.where(no_root, exact, jnp.where(beyond, jnp.inf, ratio))


def _unclipped_ratio(divergence, algorithm, c, b, iterations):
  closed = _closed_form(divergence, algorithm)
  if closed is None:
    return _generic_unclipped_ratio(divergence, algorithm, c, b, iterations)
  if algorithm == 2 and divergence in _UNBOUNDED_2:
    finite = c < 1
    return jnp.where(finite, closed(jnp.where(finite, c, 0.0)), _ALGORITHM_1[divergence](c))
  return closed(c)


def _clipped_ratio(divergence, algorithm, c, b, growth, iterations):
  closed = _closed_form(divergence, algorithm)
  if closed is None:
    return solve_ratio(
      divergence, algorithm, c, b, jnp.ones_like(c), jnp.broadcast_to(growth, c.shape), iterations
    )
  return closed(c)


def _unclipped(divergence, algorithm, b, c, iterations):
  huge = jnp.finfo(b.dtype).max
  c = jnp.minimum(c, huge / 16)  # keeps 1 + 4c and friends finite
  ratio = _unclipped_ratio(divergence, algorithm, c, b, iterations)
  return jnp.clip(b * ratio, b, huge)


def _clipped(divergence, algorithm, b, c, growth, iterations, fit=None):
  ceiling = foc_lhs(divergence, algorithm, growth, b)
  capped = jnp.minimum(c, ceiling)
  if fit is None:
    ratio = _clipped_ratio(divergence, algorithm, capped, b, growth, iterations)
  else:
    ratio = _roots.fitted_ratio(divergence, algorithm, capped, growth, fit)
  ratio = jnp.where(c >= ceiling, growth, jnp.clip(ratio, 1.0, growth))
  return jnp.minimum(b * ratio, jnp.finfo(b.dtype).max)


def new_beta(
  divergence, algorithm, beta, grad, growth=2.0, *, solver_iterations: int | None = None
) -> jax.Array:
  """The next inverse learning rate ``beta_{t+1}``, elementwise.

  Args:
    divergence: a name in ``hyperreg_jax.divergences.BUILTIN`` or a
      :class:`~hyperreg_jax.Divergence`.
    algorithm: 1 (exact), 2 (alternating) or 3 (lagged: same beta update as 2).
    beta: the current inverse learning rate ``b > 0``.
    grad: the gradient (or, per tensor / globally, its root-mean-square or norm).
    growth: clip ``beta_{t+1}`` to ``[b, growth * b]``; ``None`` or ``inf``: only
      ``>= b``. May be traced (then ``inf`` still means no clip).
    solver_iterations: Newton steps for divergences without a closed form; by
      default 12 for a concrete ``growth <= 10`` and 96 otherwise (a wider bracket, no
      clip, or a traced growth), enough for float64 precision. In float32 with a
      concrete ``growth <= 10`` the default is the fitted inverse of the module
      docstring (to float32 precision, no iteration); an explicit count runs the solver.

  Returns:
    ``beta_{t+1}``, in ``beta``'s dtype promoted to at least float32. Finite
    input gives a finite result with ``b <= beta_{t+1} <= growth * b`` (without
    clipping it saturates at the largest finite float). Where Algorithm 2 has no
    finite root (``c`` at or past the limit of ``f'``) and there is no clip, it is the
    Algorithm 1 root, for the closed forms and the generic solver alike.

  Example:
    >>> import hyperreg_jax as hr
    >>> round(float(hr.rules.new_beta("rkl", 1, 1.0, 2.0, growth=None)), 5)
    2.56155
  """
  divergence = divergences.get(divergence)
  algorithm = 2 if check_algorithm(algorithm) == 3 else algorithm
  growth = check_growth(growth)
  iterations = check_solver_iterations(solver_iterations, growth)
  dtype = compute_dtype(beta, grad)
  b = jnp.asarray(beta, dtype)
  c = _roots.reusable(jnp.square(jnp.asarray(grad, dtype) / b))
  # NaN in, NaN out: the generic solver would otherwise return a finite ratio.
  nan = jnp.where(jnp.isnan(c), jnp.nan, 1.0).astype(dtype)
  if growth is None:
    return _unclipped(divergence, algorithm, b, c, iterations) * nan
  # Whether growth is traced is decided on the value given: under jit, jnp.asarray
  # of a Python number is a tracer too, and the traced path computes both branches.
  if not isinstance(growth, jax.core.Tracer):
    fit = _fit_for(divergence, algorithm, dtype, growth, solver_iterations)
    growth = jnp.asarray(growth, dtype)
    return _clipped(divergence, algorithm, b, c, growth, iterations, fit) * nan
  growth = jnp.asarray(growth, dtype)
  # A traced growth may be inf: both paths, one chosen per entry (same numbers as None).
  finite = jnp.isfinite(growth)
  clipped = _clipped(divergence, algorithm, b, c, jnp.where(finite, growth, 2.0), iterations)
  return jnp.where(finite, clipped, _unclipped(divergence, algorithm, b, c, iterations)) * nan
