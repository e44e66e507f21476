"""What the optimizer tests share: the fourteen aliases, the fast loop's choice among them,
small targets and trees, and runs under ``lax.scan``."""

from __future__ import annotations

import functools
import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import hyperreg_jax as hr

ALIASES = {name: getattr(hr, name) for name in hr.RULE_NAMES}
NAMES = tuple(ALIASES)
COORDINATE_NAMES = tuple(n for n in NAMES if n != "wngrad")  # wngrad is global
# The suites over the aliases run on these alone in the fast loop (pytest -m "not slow"); the
# full suite runs them on all fourteen.
FAST_ALIASES = ("rkl2",)


def alias_params(names=NAMES):
  """``names`` as parameters of a test, each one not in :data:`FAST_ALIASES` marked slow."""
  return [
    pytest.param(name, id=name, marks=() if name in FAST_ALIASES else pytest.mark.slow)
    for name in names
  ]


def default_weight_decay(name):
  return inspect.signature(ALIASES[name]).parameters["weight_decay"].default


def leaves_close(actual, expected, **kw):
  jax.tree.map(
    lambda a, e: np.testing.assert_allclose(
      np.asarray(a, np.float64), np.asarray(e, np.float64), **kw
    ),
    actual,
    expected,
  )


def leaves_equal(actual, expected):
  jax.tree.map(
    lambda a, e: np.testing.assert_array_equal(np.asarray(a), np.asarray(e)), actual, expected
  )


def get_beta(state):
  return optax.tree.get(state, "beta")


# --- targets ------------------------------------------------------------------------------


def parabola(dtype=jnp.float32):
  x0 = jnp.array([-1.0, 10.0, 1.0], dtype)
  target = jnp.array([1.0, -1.0, 1.0], dtype)
  return x0, target, lambda x: jnp.sum(jnp.square(x - target))


def mixed(dtype=jnp.float32):
  """A dict with a matrix and a vector leaf whose targets differ by ~1000x in scale."""
  target = {
    "w": jnp.array([[12.0, -8.0], [4.0, 16.0]], dtype),
    "v": jnp.array([0.01, -0.02, 0.03], dtype),
  }
  x0 = jax.tree.map(jnp.zeros_like, target)

  def loss(p):
    return sum(jnp.sum(jnp.square(p[k] - target[k])) for k in target)

  return x0, target, loss


def descend(opt, params, loss, steps):
  """``steps`` gradient steps on ``loss`` under ``lax.scan``; returns (params, state)."""
  grad = jax.grad(loss)

  def body(carry, _):
    p, s = carry
    u, s = opt.update(grad(p), s, p)
    return (optax.apply_updates(p, u), s), None

  (params, state), _ = jax.lax.scan(body, (params, opt.init(params)), length=steps)
  return params, state


def scan_trajectory(opt, params, grads):
  """Feeds the stacked ``grads`` (leading time axis) to ``opt``; applies the updates.

  Returns the stacked updates and the stacked ``beta`` of every step.
  """

  def body(carry, g):
    p, s = carry
    u, s = opt.update(g, s, p)
    return (optax.apply_updates(p, u), s), (u, get_beta(s))

  _, (updates, betas) = jax.lax.scan(body, (params, opt.init(params)), grads)
  return updates, betas


def trajectory(opt, params, grads):
  return jax.jit(functools.partial(scan_trajectory, opt))(params, grads)


# Compiled once per alias (and input shape) and shared by the tests below, to keep
# the file fast: neither depends on a concrete init_lr.


@functools.cache
def jitted_update(name):
  """The alias's jitted ``update`` (init_lr only enters ``init``: beta is state)."""
  return jax.jit(ALIASES[name](1e-2).update)


@functools.cache
def alias_trajectory(name):
  """``(init_lr, params, grads) -> (updates, betas)`` with a traced init_lr."""
  return jax.jit(
    lambda init_lr, params, grads: scan_trajectory(ALIASES[name](init_lr), params, grads)
  )


def random_grads(steps, shapes, seed=0, dtype=np.float32):
  """Stacked random gradients whose scale varies over 4 decades across steps."""
  rng = np.random.default_rng(seed)
  scale = 10.0 ** rng.uniform(-2, 2, size=steps)
  return {
    k: jnp.asarray(rng.normal(size=(steps, *shape)) * scale.reshape(-1, *([1] * len(shape))), dtype)
    for k, shape in shapes.items()
  }


SMALL_SHAPES = {"w": (3, 4), "b": (5,)}


def small_params(dtype=jnp.float32, seed=1):
  rng = np.random.default_rng(seed)
  return {k: jnp.asarray(rng.normal(size=s), dtype) for k, s in SMALL_SHAPES.items()}
