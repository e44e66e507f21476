"""Model plumbing of the training engine: calling a model (a Flax-linen-style one, duck-typed,
with or without ``train=`` and batch statistics), describing it, and its per-example losses."""

from __future__ import annotations

import functools
import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax

from hyperreg_jax import checkpoint as checkpoint_io


@functools.cache
def takes_train(model_type: type) -> bool:
  """Whether ``model_type.__call__`` has a ``train`` parameter."""
  try:
    return "train" in inspect.signature(model_type.__call__).parameters
  except (TypeError, ValueError):
    return False


def _train_kw(model, train: bool) -> dict:
  return {"train": train} if takes_train(type(model)) else {}


def as_model(model):
  """``model`` as the engine keeps it in a :class:`~hyperreg_jax.train.Trainer`."""
  return model


def init_variables(model, key, sample_x) -> dict:
  """``{"params": ..., "batch_stats": ...}`` (``{}`` without batch norm), shapes from
  ``sample_x``."""
  variables = model.init(key, jnp.asarray(sample_x), **_train_kw(model, False))
  return {"params": variables["params"], "batch_stats": variables.get("batch_stats", {})}


def describe(model) -> dict:
  """The model as JSON-able values, for fingerprints: its repr and its class's code."""
  return dict(repr=repr(model), code=checkpoint_io.describe_callable(type(model)))


def name(model) -> str:
  """A short name of the model, for a sweep's metadata."""
  return type(model).__name__


def apply(model, params, batch_stats, x, train: bool):
  """Model output and the (updated in train mode) batch statistics."""
  kw = _train_kw(model, train)
  variables = {"params": params}
  if batch_stats:
    variables["batch_stats"] = batch_stats
    if train:
      out, updated = model.apply(variables, x, mutable=["batch_stats"], **kw)
      return out, updated["batch_stats"]
  return model.apply(variables, x, **kw), batch_stats


def per_example_loss(classification: bool, out, y):
  """Softmax cross-entropy with integer labels, or ``0.5 * mean((out - y)**2)`` per example."""
  if classification:
    return optax.softmax_cross_entropy_with_integer_labels(out, y)
  err = jnp.square(out - y).reshape(out.shape[0], -1)
  return 0.5 * err.mean(axis=1)


def num_outputs(model, sample_x) -> int:
  """The size of the model's last output axis, from shapes only (nothing runs)."""
  kw = _train_kw(model, False)
  sample = jax.ShapeDtypeStruct(np.shape(sample_x), jnp.result_type(np.asarray(sample_x)))
  # ``train`` is bound, not passed to eval_shape, which would trace it (batch norm needs a bool).
  variables = jax.eval_shape(functools.partial(model.init, **kw), jax.random.key(0), sample)
  return int(jax.eval_shape(lambda v, x: model.apply(v, x, **kw), variables, sample).shape[-1])


def all_finite(tree) -> jax.Array:
  """True when every floating leaf of ``tree`` is finite (integer leaves are ignored).

  One fused reduction per leaf: ``x * 0`` is zero for every finite ``x`` and NaN for NaN
  and infinities, and a sum propagates NaN, so ``isfinite(sum(x * 0))`` is exact (no
  overflow, no boolean array in memory). A ``max(abs(x))`` would be as cheap, but
  XLA's CPU reductions may drop NaN from a maximum.
  """
  ok = jnp.array(True)
  for leaf in jax.tree.leaves(tree):
    if jnp.issubdtype(jnp.result_type(leaf), jnp.inexact):
      ok = ok & jnp.isfinite(jnp.sum(leaf * 0))
  return ok
