"""Root finding for the beta-update rules: the generic safeguarded solver and the fitted
float32 inverse (see :mod:`hyperreg_jax.rules` for the equations they solve)."""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from hyperreg_jax.divergences import Divergence

# Unrolled when this short (fast to run), a loop when longer (fast to compile).
_UNROLL_ITERATIONS = 12


def reusable(x: jax.Array) -> jax.Array:
  """``x`` unchanged, bit for bit, marked as cheap to read more than once.

  XLA's CPU compiler does not fuse an expensive operation (a division, a logarithm, a
  square root, ...) into a consumer that reads its result more than once: it writes
  the result to memory and reads it back, one more pass over the whole array each
  time, so a rule written as one formula could run as a dozen loops. Rounding to the
  dtype's own precision is an exact identity (NaN, infinities and subnormals
  included) and counts as cheap, so the producer is fused and the rule stays one
  loop. Wrapped around each value that is used several times (a CPU tuning: the
  generic solver runs about 6x slower without it, ``python benchmarks/bench_step.py
  --tuning``).
  """
  info = jnp.finfo(x.dtype)
  return jax.lax.reduce_precision(x, exponent_bits=info.nexp, mantissa_bits=info.nmant)


# --- the generic solver ------------------------------------------------------------------


def foc_lhs(divergence: Divergence, algorithm: int, r, b) -> jax.Array:
  """Left side of the first-order condition at ``beta = r b``, as a function of ``c``.

  ``r^2 dD/dbeta(r b, b)`` for Algorithm 1, ``dD/dbeta(r b, b)`` for Algorithms 2-3;
  the new ratio solves ``foc_lhs(r) = c``.
  """
  slope = divergence.dD(r, 1.0) if divergence.phi else divergence.dD(r * b, b)
  return slope * r * r if algorithm == 1 else slope


def solve_ratio(divergence, algorithm, c, b, lo, hi, iterations: int = 30):
  """Safeguarded Newton for ``foc_lhs(r) = c`` on a bracket ``[lo, hi]``.

  Small roots start from the linearisation at ``r = 1``, exact to first order in ``c``.
  The Newton step is taken in ``log r`` (``r <- r exp(-f / (r f'))``, the plain step to
  first order, so a bracket spanning hundreds of decades is no harder than a narrow
  one) when it stays inside the current bracket and is at most half the step before
  (as in Numerical Recipes' ``rtsafe``; a converged iterate maps to itself and stays);
  otherwise the bracket is bisected geometrically (``sqrt(lo * hi)``). The
  iteration count is fixed (unrolled), so the solver is jit- and vmap-friendly.
  """

  def residual(r):
    return foc_lhs(divergence, algorithm, r, b) - c

  def step(_, carry):
    lo, hi, x, last = carry
    f, df = map(reusable, jax.jvp(residual, (x,), (jnp.ones_like(x),)))
    lo = jnp.where(f <= 0, x, lo)
    hi = jnp.where(f >= 0, x, hi)
    move = reusable(-f / (x * df))  # the Newton step in log r
    newton = reusable(x * jnp.exp(move))
    # Newton inside the bracket and at least halving its step (as in rtsafe), or bisect.
    # (A converged iterate, whose steps are rounding noise, keeps taking them.)
    halving = (2.0 * jnp.abs(move) <= last) | (jnp.abs(move) <= 8 * jnp.finfo(x.dtype).eps)
    fast = (newton >= lo) & (newton <= hi) & halving  # False for NaN
    middle = reusable(jnp.sqrt(lo) * jnp.sqrt(hi))
    x_new = jnp.where(fast, newton, middle)
    last = jnp.where(fast, jnp.abs(move), jnp.abs(jnp.log(middle / x)))
    return tuple(map(reusable, (lo, hi, x_new, last)))

  lo, hi = jnp.broadcast_arrays(lo, hi)
  # Small steps start from the linearisation at r = 1 (where foc_lhs = 0),
  # r = 1 + c / foc_lhs'(1); larger ones from the bracket's geometric middle.
  _, slope = jax.jvp(residual, (jnp.ones_like(lo),), (jnp.ones_like(lo),))
  linear = 1.0 + c / jnp.where(slope > 0, slope, jnp.inf)
  middle = jnp.sqrt(lo) * jnp.sqrt(hi)  # without overflow
  start = jnp.where((linear <= 2.0) & (linear >= lo) & (linear <= hi), linear, middle)
  width = jnp.log(hi) - jnp.log(lo)
  # Unrolled when short (fast to run), a loop when long (fast to compile).
  unroll = iterations <= _UNROLL_ITERATIONS
  _, _, x, _ = jax.lax.fori_loop(0, iterations, step, (lo, hi, start, width), unroll=unroll)
  return x


def upper_bracket(divergence, algorithm, c, b):
  """The smallest of 2, 4, 16, 256, ... (capped at the largest float) with ``foc_lhs >= c``."""
  top = jnp.finfo(c.dtype).max
  hi = jnp.full_like(c, 2.0)
  for _ in range(int(np.log2(jnp.finfo(c.dtype).maxexp))):
    hi = jnp.where(foc_lhs(divergence, algorithm, hi, b) < c, jnp.minimum(hi * hi, top), hi)
  return hi


# --- a fitted inverse: a polynomial, and a Newton step if needed (float32, narrow clip) ---

_FIT_DEGREES = (8, 12, 16, 20, 24)
_FIT_ROOTS = (2, 4)  # the fit's variable: u^(1/2) or u^(1/4)
# The largest relative error of the fitted start that Newton steps (each squares it) bring
# below float32's precision: none (a few ulps: as close as float32 evaluates the
# first-order condition itself), one or two.
_FIT_TOLERANCE = ((0, 4e-7), (1, 1e-4), (2, 3e-3))


class Fit(NamedTuple):
  """A fitted inverse: ``r = 1 + u q(x)``, ``x = 2 u^(1/root) - 1``, then ``steps`` Newton steps.

  ``coef`` are ``q``'s coefficients, lowest degree first: powers of ``x`` (Horner's
  rule, one multiply-add per degree) when ``power``, else Chebyshev coefficients
  (Clenshaw's recurrence, three operations per degree).
  """

  coef: tuple[float, ...]
  root: int
  steps: int
  power: bool


def _horner_float32(coef, x):
  """``sum(coef[k] x^k)`` evaluated as float32 would, by Horner's rule."""
  coef = np.asarray(coef, np.float32)
  value = np.zeros_like(x, np.float32)
  for a in coef[::-1]:
    value = value * x + a
  return value


@functools.lru_cache(maxsize=256)
def inverse_fit(divergence: Divergence, algorithm: int, growth: float) -> Fit | None:
  """The root as a function of ``c``, fitted once (a :class:`Fit`).

  On ``[1, growth]`` the root ``r`` of ``foc_lhs(r) = c`` is a smooth function of
  ``u = c / C`` on ``[0, 1]``, ``C = foc_lhs(growth)``. It is sampled densely (in ``r``,
  at trace time, in the default float precision) and fitted as
  ``r = 1 + u q(u^(1/root))`` with ``q`` a Chebyshev series (least squares, weighted to
  the error in ``r``): ``r = 1`` at ``c = 0`` exactly, and the root's steep start in
  ``c`` is resolved. Each fit is checked on points between the samples, also as a
  power series evaluated in float32 (cheaper, and as accurate where the coefficients
  stay small); the cheapest form that reaches float32 precision after the fewest
  Newton steps is kept. ``None`` when the left side cannot be evaluated ahead of time
  (``f`` closes over traced values), is not increasing, or no fit is close enough for
  two Newton steps.
  """
  if not divergence.phi:
    return None
  k = np.arange(1, 4097)
  r = 1.0 + 0.5 * (growth - 1.0) * (1.0 - np.cos(np.pi * k / 4096))
  r = np.unique(r.astype(np.float32)).astype(np.float64)  # distinct float32 ratios
  r = r[r > 1.0]
  try:
    with jax.ensure_compile_time_eval():
      lhs = np.asarray(foc_lhs(divergence, algorithm, jnp.asarray(r), 1.0), np.float64)
  except Exception:  # noqa: BLE001  (user code that cannot run ahead of time: no fit)
    return None
  # Increasing, up to rounding (neighbouring float32 ratios, one ulp apart, can swap).
  if not (np.all(np.isfinite(lhs)) and lhs[0] > 0 and np.all(np.diff(lhs) >= -1e-6 * lhs[1:])):
    return None
  u = lhs / lhs[-1]
  fit, check = slice(0, None, 2), slice(1, None, 2)
  forms = []  # (error, Fit), cheapest first at each (root, degree)
  for root in _FIT_ROOTS:
    x = 2.0 * u ** (1.0 / root) - 1.0
    for degree in _FIT_DEGREES:
      coef = np.polynomial.chebyshev.chebfit(x[fit], (r[fit] - 1) / u[fit], degree, w=u[fit])
      start = (1 + u[check] * np.polynomial.chebyshev.chebval(x[check], coef)).astype(np.float32)
      chebyshev = np.max(np.abs(start - r[check]) / r[check])
      power = np.polynomial.chebyshev.cheb2poly(coef)
      u32 = u[check].astype(np.float32)
      start = 1 + u32 * _horner_float32(power, x[check].astype(np.float32))
      horner = np.max(np.abs(start - r[check]) / r[check])
      forms.append((horner, Fit(tuple(map(float, power)), root, 0, True)))
      forms.append((chebyshev, Fit(tuple(map(float, coef)), root, 0, False)))
  for steps, tolerance in _FIT_TOLERANCE:
    for error, form in forms:
      if error <= tolerance:
        return form._replace(steps=steps)
  return None


def fitted_ratio(divergence, algorithm, c, growth, fit: Fit):
  """The root on ``[1, growth]`` for ``c`` in ``[0, foc_lhs(growth)]``: the fitted start
  and the Newton steps it needs on the first-order condition."""
  ceiling = foc_lhs(divergence, algorithm, jnp.asarray(growth, c.dtype), 1.0)
  u = jnp.clip(c * (1.0 / ceiling), 0.0, 1.0)
  x = jnp.sqrt(u) if fit.root == 2 else jnp.sqrt(jnp.sqrt(u))
  x = 2.0 * x - 1.0
  if fit.power:  # Horner's rule
    q = jnp.full_like(u, fit.coef[-1])
    for a in fit.coef[-2::-1]:
      q = q * x + a
  else:  # Clenshaw's recurrence
    b1 = b2 = jnp.zeros_like(u)
    for a in fit.coef[:0:-1]:
      b1, b2 = a + 2.0 * x * b1 - b2, b1
    q = fit.coef[0] + x * b1 - b2
  r = 1.0 + u * q
  for _ in range(fit.steps):
    r = reusable(jnp.clip(r, 1.0, growth))
    f, df = map(
      reusable,
      jax.jvp(lambda r: foc_lhs(divergence, algorithm, r, 1.0) - c, (r,), (jnp.ones_like(r),)),
    )
    r = r - f * (1.0 / df)
  return r
