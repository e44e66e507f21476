"""Independent NumPy reference of the hyper-regularized learning-rate rules.

Everything here is derived from ``docs/method.md`` only (sections 1-5) and uses NumPy alone
(no JAX, no SciPy), so that it can serve as a second opinion for the JAX implementation.
All arithmetic is done in float64.

Notation (docs/method.md, section 3): ``b = beta_t`` is the current *inverse* learning rate,
``g`` the gradient, ``c = (g / b) ** 2``.

Contents
--------
* ``DIVERGENCES``, ``divergence(name, beta, eta)``, ``divergence_grad(name, beta, eta)``:
  the five phi-divergences of docs/method.md, section 2 and ``dD/dbeta``.
* ``lambertw0(z)``: principal branch of the Lambert W function for ``z >= 0``.
* ``raw_beta(divergence, algorithm, beta, grad)``: the unclipped solution of the FOC
  (``+inf`` where Algorithm 2 has no finite root).
* ``new_beta(divergence, algorithm, beta, grad, growth=2.0)``: the rule with the
  the ``c >= 1`` handling of docs/method.md, section 3, and growth clipping.

The optimizers built on these rules are in :mod:`hyperreg_jax.reference.optimizers`.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
  "DIVERGENCES",
  "GRANULARITIES",
  "divergence",
  "divergence_grad",
  "lambertw0",
  "raw_beta",
  "new_beta",
]

#: The divergences the reference knows by name.
DIVERGENCES = ("kl", "rkl", "hellinger", "chi2", "neyman_chi2")
#: The granularities of beta (one per coordinate, per tensor, or one in all).
GRANULARITIES = ("coordinate", "tensor", "global")

_FMAX = np.finfo(np.float64).max


def _f64(x) -> np.ndarray:
  return np.asarray(x, dtype=np.float64)


def _check_divergence(name: str) -> str:
  if name not in DIVERGENCES:
    raise ValueError(f"unknown divergence {name!r}; expected one of {DIVERGENCES}")
  return name


def _check_algorithm(algorithm: int) -> int:
  if algorithm not in (1, 2, 3):
    raise ValueError(f"algorithm must be 1, 2 or 3, got {algorithm!r}")
  return int(algorithm)


# ---------------------------------------------------------------------------------------
# Divergences (docs/method.md, section 2): D(beta, eta) = eta * f(beta / eta)
# ---------------------------------------------------------------------------------------


def divergence(name: str, beta, eta) -> np.ndarray:
  """Elementwise ``D(beta, eta)`` of docs/method.md, section 2 (not summed), float64."""
  _check_divergence(name)
  beta, eta = _f64(beta), _f64(eta)
  if name == "kl":
    return beta * np.log(beta / eta) - beta + eta
  if name == "rkl":
    return eta * np.log(eta / beta) - eta + beta
  if name == "hellinger":
    return (np.sqrt(beta) - np.sqrt(eta)) ** 2
  if name == "chi2":
    return (beta - eta) ** 2 / eta
  # neyman_chi2
  return (beta - eta) ** 2 / beta


def divergence_grad(name: str, beta, eta) -> np.ndarray:
  """Elementwise ``dD/dbeta (beta, eta)`` of docs/method.md, section 2, float64."""
  _check_divergence(name)
  beta, eta = _f64(beta), _f64(eta)
  if name == "kl":
    return np.log(beta / eta)
  if name == "rkl":
    return 1.0 - eta / beta
  if name == "hellinger":
    return 1.0 - np.sqrt(eta / beta)
  if name == "chi2":
    return 2.0 * (beta / eta - 1.0)
  # neyman_chi2
  return 1.0 - (eta / beta) ** 2


# ---------------------------------------------------------------------------------------
# Lambert W (principal branch, z >= 0), NumPy only
# ---------------------------------------------------------------------------------------


def lambertw0(z) -> np.ndarray:
  """Principal branch ``W_0(z)`` of the Lambert W function for real ``z >= 0`` (float64).

  Solves ``w * exp(w) = z``. ``z < 0`` gives NaN (not needed here), ``z = +inf`` gives
  ``+inf``, NaN propagates.

  Start: ``w0 = log1p(z)`` for ``z <= e`` (exact at 0, within 0.32 of the root on the
  range), and the asymptotic ``L1 - L2 + L2 / L1`` (``L1 = log z``, ``L2 = log L1``)
  above. Refinement: Halley's iteration on ``w exp(w) - z`` for ``z <= e`` and on
  ``w + log(w) - log(z)`` (which never overflows) for ``z > e``; both converge
  cubically and the iteration stops once every element has converged to rounding.
  """
  z = _f64(z)
  out = np.full(z.shape, np.nan)
  finite = np.isfinite(z) & (z >= 0)
  out[np.isposinf(z)] = np.inf
  small = finite & (z <= math.e)
  large = finite & (z > math.e)

  if np.any(small):
    zs = z[small]
    w = np.log1p(zs)
    for _ in range(50):
      ew = np.exp(w)
      f = w * ew - zs
      wp1 = w + 1.0
      denom = ew * wp1 - (w + 2.0) * f / (2.0 * wp1)
      step = np.where(denom != 0.0, f / np.where(denom != 0.0, denom, 1.0), 0.0)
      w = w - step
      if np.all(np.abs(step) <= 4.0 * np.finfo(np.float64).eps * np.maximum(np.abs(w), 1e-300)):
        break
    out[small] = w

  if np.any(large):
    lz = np.log(z[large])
    l2 = np.log(lz)
    w = lz - l2 + l2 / lz
    for _ in range(50):
      # h(w) = w + log w - log z ; h' = 1 + 1/w ; h'' = -1/w^2
      h = w + np.log(w) - lz
      h1 = 1.0 + 1.0 / w
      h2 = -1.0 / (w * w)
      step = h / (h1 - h * h2 / (2.0 * h1))
      w = w - step
      if np.all(np.abs(step) <= 4.0 * np.finfo(np.float64).eps * np.abs(w)):
        break
    out[large] = w
  return out


# ---------------------------------------------------------------------------------------
# Polynomial roots for H1 and X2_1
# ---------------------------------------------------------------------------------------


def _solve_t_one_plus_t_pow(a: np.ndarray, k: int) -> np.ndarray:
  """Root ``t >= 0`` of ``q(t) = t (1 + t)^k - a`` for ``a >= 0`` (elementwise, float64).

  ``q`` is increasing and convex on ``t >= 0`` (``q(0) = -a <= 0``), so Newton's method
  converges from any ``t >= 0``: after at most one step it is to the right of the root
  and then decreases monotonically. The start ``min(a, a^(1/(k+1)))`` is already to the
  right of the root (``q >= 0`` there). An element stops once its step is at rounding
  level or no longer decreases it (at most 100 iterations; typically < 10).
  Working in ``t = s - 1`` avoids cancellation near ``s = 1``.
  """
  a = _f64(a)
  t = np.array(np.minimum(a, a ** (1.0 / (k + 1))), dtype=np.float64)
  eps = np.finfo(np.float64).eps
  active = np.flatnonzero(np.isfinite(t) & (t > 0))
  for _ in range(100):
    if active.size == 0:
      break
    ta, aa = t.flat[active], a.flat[active]
    opt = 1.0 + ta
    opk1 = opt ** (k - 1)
    q = ta * opk1 * opt - aa
    dq = opk1 * (opt + k * ta)  # (1+t)^k + k t (1+t)^(k-1) > 0
    t_new = np.maximum(ta - q / dq, 0.0)
    # From the right of the root the iterates decrease monotonically; once a step no
    # longer decreases t (or is at rounding level) that element has converged.
    stop = (t_new >= ta) | (ta - t_new <= 2.0 * eps * t_new)
    t.flat[active] = np.minimum(t_new, ta)
    active = active[~stop]
  return t


# ---------------------------------------------------------------------------------------
# The rules (docs/method.md, section 3)
# ---------------------------------------------------------------------------------------


def _alg1(divergence_name: str, b: np.ndarray, g: np.ndarray) -> np.ndarray:
  """Exact root ``beta >= b`` of ``dD/dbeta(beta, b) = g^2 / beta^2`` (always finite)."""
  q = g / b
  c = q * q
  if divergence_name == "kl":
    # r^2 log r = c  ->  r = sqrt(z / W(z)) = exp(W(z) / 2), z = 2c (the second form
    # is the same number, since log z = W + log W, and is exact at z = 0).
    return b * np.exp(0.5 * lambertw0(2.0 * c))
  if divergence_name == "rkl":
    # beta^2 - b beta - g^2 = 0
    return 0.5 * (b + np.hypot(b, 2.0 * g))
  if divergence_name == "hellinger":
    # s = sqrt(beta / b) = 1 + t, s^4 - s^3 = c  <=>  t (1 + t)^3 = c
    t = _solve_t_one_plus_t_pow(c, 3)
    return b * (1.0 + t) ** 2
  if divergence_name == "chi2":
    # r = beta / b = 1 + t, r^3 - r^2 = c / 2  <=>  t (1 + t)^2 = c / 2
    t = _solve_t_one_plus_t_pow(0.5 * c, 2)
    return b * (1.0 + t)
  # neyman_chi2: beta^2 = b^2 + g^2 (AdaGrad)
  return np.hypot(b, g)


def _alg2(divergence_name: str, b: np.ndarray, g: np.ndarray) -> np.ndarray:
  """Root of ``dD/dbeta(beta, b) = g^2 / b^2``; ``+inf`` where none is finite (c >= 1).

  Overflow of a finite but huge root also gives ``+inf`` here (``new_beta`` clips).
  """
  q = np.abs(g / b)
  c = q * q
  with np.errstate(over="ignore", divide="ignore"):
    if divergence_name == "kl":
      return b * np.exp(c)
    if divergence_name == "chi2":
      return b * (1.0 + 0.5 * c)
    # 1 - c computed as (1 - q)(1 + q): accurate near c = 1
    one_minus_c = (1.0 - q) * (1.0 + q)
    ok = one_minus_c > 0
    safe = np.where(ok, one_minus_c, 1.0)
    if divergence_name == "rkl":
      val = b / safe
    elif divergence_name == "hellinger":
      val = b / (safe * safe)
    else:  # neyman_chi2
      val = b / np.sqrt(safe)
    return np.where(ok, val, np.inf)


def raw_beta(divergence: str, algorithm: int, beta, grad) -> np.ndarray:
  """Unclipped solution of the FOC (float64, elementwise, broadcasting).

  Algorithm 1: the exact root of ``dD/dbeta(beta', b) = g^2 / beta'^2`` (always finite).
  Algorithm 2 (and 3): the root of ``dD/dbeta(beta', b) = g^2 / b^2``; ``+inf`` where no
  finite root exists (``c >= 1`` for rkl / hellinger / neyman_chi2) or where it overflows.
  """
  _check_divergence(divergence)
  algorithm = _check_algorithm(algorithm)
  b, g = np.broadcast_arrays(_f64(beta), _f64(grad))
  if algorithm == 1:
    return _alg1(divergence, b, g)
  return _alg2(divergence, b, g)


def new_beta(divergence: str, algorithm: int, beta, grad, growth: float | None = 2.0):
  """The next inverse learning rate ``beta_{t+1}`` (docs/method.md, sections 3-4), float64.

  Args:
    divergence: one of ``DIVERGENCES``.
    algorithm: 1 (exact FOC), 2 (one alternating step) or 3 (same beta update as 2; only
      the parameter step differs, see ``HyperRegNumpy``).
    beta: current inverse learning rate ``b > 0`` (array or scalar).
    grad: gradient ``g`` (array or scalar), broadcast against ``beta``.
    growth: clip factor. ``beta_{t+1} = clip(beta_new, b, growth * b)``; ``None`` keeps
      only the lower clip ``beta_{t+1} >= b``.

  Conventions:

  * Closed forms of docs/method.md, section 3; H1 / X2_1 by safeguarded Newton in float64, KL1 by
    a NumPy Lambert W.
  * Algorithm 2 where no finite root exists (``c = (g/b)^2 >= 1`` for rkl, hellinger,
    neyman_chi2): ``growth * b``; with ``growth=None``, the Algorithm 1 root of the same
    divergence (always finite).
  * KL2 ``b exp(c)`` is evaluated as ``b exp(min(c, log growth))`` so it never overflows;
    with ``growth=None`` an overflowing value saturates at the largest finite float64
    (likewise for any other overflow with ``growth=None``).
  * ``g == 0`` returns ``b`` exactly. The result is never below ``b``; it is finite for
    finite inputs. NaN in ``g`` or ``b`` gives NaN in that element only.

  Returns a float64 ndarray of the broadcast shape (a NumPy scalar for scalar inputs).
  """
  _check_divergence(divergence)
  algorithm = _check_algorithm(algorithm)
  if growth is not None:
    growth = float(growth)
    if not growth >= 1.0:
      raise ValueError(f"growth must be >= 1 or None, got {growth}")
  b, g = np.broadcast_arrays(_f64(beta), _f64(grad))
  b = np.array(b)
  g = np.array(g)

  if algorithm == 1:
    val = _alg1(divergence, b, g)
  elif divergence == "kl" and growth is not None:
    q = g / b
    c = q * q
    val = b * np.exp(np.minimum(c, math.log(growth)))
  else:
    val = _alg2(divergence, b, g)
    if divergence in ("rkl", "hellinger", "neyman_chi2"):
      q = np.abs(g / b)
      no_root = q >= 1.0
      if np.any(no_root):
        fallback = growth * b if growth is not None else _alg1(divergence, b, g)
        val = np.where(no_root, fallback, val)

  with np.errstate(invalid="ignore"):
    if growth is None:
      out = np.maximum(val, b)
      out = np.where(np.isposinf(out) & np.isfinite(b) & np.isfinite(g), _FMAX, out)
    else:
      out = np.minimum(np.maximum(val, b), growth * b)
  out = np.where(g == 0, b, out)
  out = np.where(np.isnan(g) | np.isnan(b), np.nan, out)  # NaN in -> NaN out, elementwise
  return out[()]
