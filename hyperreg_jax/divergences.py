"""Divergences between the new and the old inverse learning rate.

A hyper-regularized step penalises moving the inverse learning rate ``beta`` away
from its previous value ``eta`` by a convex divergence ``D(beta, eta) >= 0`` that
is zero at ``beta = eta``. The built-in ones are phi-divergences,
``D(beta, eta) = eta * f(beta / eta)``, applied elementwise (docs/method.md, section 2):

===============  ======================  ==================================
name             f(u)                    dD/dbeta (beta, eta)
===============  ======================  ==================================
``kl``           u log u - u + 1         log(beta / eta)
``rkl``          -log u + u - 1          1 - eta / beta
``hellinger``    (sqrt(u) - 1)^2         1 - sqrt(eta / beta)
``chi2``         (u - 1)^2               2 (beta / eta - 1)
``neyman_chi2``  (u - 1)^2 / u           1 - eta^2 / beta^2
===============  ======================  ==================================

Custom divergences come from ``f`` (:meth:`Divergence.from_f`) or from ``D``
itself; ``dD/dbeta`` is then derived with :func:`jax.grad`.

Example:
  >>> import hyperreg_jax as hr
  >>> half_chi2 = hr.Divergence.from_f(lambda u: (u - 1) ** 2 / 2, name="half_chi2")
  >>> float(half_chi2.dD(3.0, 1.0))
  2.0
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp

#: An array (``jax.Array``).
Array = jax.Array
#: A function of ``(beta, eta)``, elementwise, such as ``D`` or ``dD/dbeta``.
BinaryFn = Callable[[Array, Array], Array]


def _elementwise_derivative(fn: Callable[[Array], Array], x: Array) -> Array:
  """``fn'(x)`` for an elementwise function ``fn``, for ``x`` of any shape."""
  return jax.grad(lambda y: jnp.sum(fn(y)))(x)


def _as_float_pair(beta, eta):
  beta = jnp.asarray(beta)
  if not jnp.issubdtype(beta.dtype, jnp.floating):
    beta = beta.astype(float)
  return jnp.broadcast_arrays(beta, jnp.asarray(eta, beta.dtype))


def _check_f(f, name):
  """``f`` is callable, ``f(1) = f'(1) = 0`` and ``f`` is convex around 1."""
  if not callable(f):
    raise ValueError(f"Divergence.from_f({name!r}): f must be callable, got {f!r}.")
  u = jnp.array([0.99, 1.0, 1.01], jnp.float32)
  try:
    value = jnp.asarray(f(u), jnp.float32)
    slope = _elementwise_derivative(f, u)
  except Exception as error:  # any failure of user code, reported
    raise ValueError(
      f"Divergence.from_f({name!r}): f must map an array of ratios u elementwise to "
      f"f(u); f(jnp.array([0.99, 1.0, 1.01])) failed with {error!r}."
    ) from error
  if isinstance(value, jax.core.Tracer) or isinstance(slope, jax.core.Tracer):
    return  # f closes over traced values: nothing concrete to check
  value, slope = value.tolist(), jnp.asarray(slope).tolist()
  if not abs(value[1]) <= 1e-6 or not abs(slope[1]) <= 1e-6:
    raise ValueError(
      f"Divergence.from_f({name!r}): f must have f(1) = 0 and f'(1) = 0, got "
      f"f(1) = {value[1]!r} and f'(1) = {slope[1]!r}."
    )
  if not (slope[0] < 0 < slope[2] and value[0] > 0 and value[2] > 0):
    raise ValueError(
      f"Divergence.from_f({name!r}): f must be convex near 1 (f' increasing through 0), got "
      f"f'(0.99) = {slope[0]!r}, f'(1.01) = {slope[2]!r}, f(0.99) = {value[0]!r}, "
      f"f(1.01) = {value[2]!r}."
    )


@dataclasses.dataclass(frozen=True, eq=False)
class Divergence:
  """A divergence ``D(beta, eta)`` and its derivative in ``beta``.

  Attributes:
    name: a short name, used in reprs and error messages.
    D: ``D(beta, eta)``, elementwise; convex in ``beta``, ``>= 0``, ``0`` at
      ``beta = eta``.
    dD: ``dD/dbeta (beta, eta)``, elementwise. Derived with :func:`jax.grad`
      when omitted.
    phi: ``D(beta, eta) = eta f(beta / eta)`` for some ``f``, so ``dD/dbeta``
      depends on ``beta / eta`` only and the rules evaluate it at ``(r, 1)``.
      True for the built-ins and :meth:`from_f`.

  Instances compare and hash by identity, so they can be static arguments of
  jitted functions. The rules use the closed forms of the five built-in
  divergences and a safeguarded Newton solver for any other.
  """

  name: str
  D: BinaryFn
  dD: BinaryFn | None = None
  phi: bool = False

  def __post_init__(self):
    if not callable(self.D):
      raise ValueError(f"Divergence {self.name!r}: D must be callable, got {self.D!r}.")
    if self.dD is None:

      def dD(beta, eta):
        beta, eta = _as_float_pair(beta, eta)
        return _elementwise_derivative(lambda b: self.D(b, eta), beta)

      object.__setattr__(self, "dD", dD)

  @classmethod
  def from_f(cls, f: Callable[[Array], Array], name: str = "custom") -> Divergence:
    """The phi-divergence ``D(beta, eta) = eta * f(beta / eta)``.

    ``f`` must be convex with ``f(1) = 0`` and ``f'(1) = 0``; then
    ``dD/dbeta = f'(beta / eta)``, taken with :func:`jax.grad`. This is checked here:
    ``f`` callable, ``|f(1)|`` and ``|f'(1)|`` below ``1e-6``, and ``f'`` increasing
    through 0 near 1 (``f'(0.99) < 0 < f'(1.01)``, ``f(0.99), f(1.01) > 0``); a
    ``ValueError`` says which fails.
    """
    _check_f(f, name)

    def D(beta, eta):
      return eta * f(beta / eta)

    def dD(beta, eta):
      beta, eta = _as_float_pair(beta, eta)
      return _elementwise_derivative(f, beta / eta)

    return cls(name=name, D=D, dD=dD, phi=True)

  def __repr__(self):
    return f"Divergence({self.name!r})"


#: Kullback-Leibler, ``f(u) = u log u - u + 1``.
kl = Divergence(
  "kl",
  D=lambda beta, eta: beta * jnp.log(beta / eta) - beta + eta,
  dD=lambda beta, eta: jnp.log(beta / eta),
  phi=True,
)
#: Reverse Kullback-Leibler, ``f(u) = -log u + u - 1``.
rkl = Divergence(
  "rkl",
  D=lambda beta, eta: eta * jnp.log(eta / beta) - eta + beta,
  dD=lambda beta, eta: 1.0 - eta / beta,
  phi=True,
)
#: Squared Hellinger, ``f(u) = (sqrt(u) - 1)^2``.
hellinger = Divergence(
  "hellinger",
  D=lambda beta, eta: (jnp.sqrt(beta) - jnp.sqrt(eta)) ** 2,
  dD=lambda beta, eta: 1.0 - jnp.sqrt(eta / beta),
  phi=True,
)
#: Pearson chi-square, ``f(u) = (u - 1)^2``.
chi2 = Divergence(
  "chi2",
  D=lambda beta, eta: (beta - eta) ** 2 / eta,
  dD=lambda beta, eta: 2.0 * (beta / eta - 1.0),
  phi=True,
)
#: Neyman chi-square, ``f(u) = (u - 1)^2 / u`` (with Algorithm 1, AdaGrad).
neyman_chi2 = Divergence(
  "neyman_chi2",
  D=lambda beta, eta: (beta - eta) ** 2 / beta,
  dD=lambda beta, eta: 1.0 - (eta / beta) ** 2,
  phi=True,
)

#: The built-in divergences by name (what :func:`get` looks up).
BUILTIN: dict[str, Divergence] = {d.name: d for d in (kl, rkl, hellinger, chi2, neyman_chi2)}


def get(divergence: str | Divergence) -> Divergence:
  """Returns the :class:`Divergence` named ``divergence`` (or the one given)."""
  if isinstance(divergence, Divergence):
    return divergence
  if isinstance(divergence, str) and divergence in BUILTIN:
    return BUILTIN[divergence]
  raise ValueError(
    f"divergence must be one of {sorted(BUILTIN)} or a hyperreg_jax.Divergence, got {divergence!r}."
  )
