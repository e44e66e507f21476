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
  """``model`` as the engine keeps it in a :class:`~hyperreg_jax.train.Trainer`.

  Raises a ``TypeError`` for anything that is not a model.
  """
  if not (callable(getattr(model, "init", None)) and callable(getattr(model, "apply", None))):
    raise TypeError(
      f"model={model!r} is not a model: pass a Flax linen module (or an object with "
      "linen-style init(key, x) and apply(variables, x) methods)."
    )
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


def per_example_loss(loss: str, out, y, model=None):
  """Softmax cross-entropy with integer labels, or ``0.5 * mean((out - y)**2)`` per example.

  The shapes are checked first (:func:`check_output`), while tracing.
  """
  check_output(loss, model, out.shape, y.shape)
  if loss == "cross_entropy":
    return optax.softmax_cross_entropy_with_integer_labels(out, y)
  err = jnp.square(out - y).reshape(out.shape[0], -1)
  return 0.5 * err.mean(axis=1)


def output_shape(model, sample_x) -> tuple[int, ...]:
  """The shape of the model's output (eval mode) for the batch ``sample_x``, from shapes only
  (``jax.eval_shape``: nothing is computed or compiled)."""
  sample = jax.ShapeDtypeStruct(np.shape(sample_x), np.asarray(sample_x).dtype)

  def forward(key, x):
    variables = init_variables(model, key, x)
    return apply(model, variables["params"], variables["batch_stats"], x, train=False)[0]

  return tuple(jax.eval_shape(forward, jax.random.key(0), sample).shape)


class OutputShapeError(ValueError):
  """The model's outputs do not fit the labels (see :func:`check_output`)."""


def check_output(loss: str, model, out_shape, y_shape, labels: str = "the labels") -> None:
  """Raises a ``ValueError`` naming the loss, the shapes and the fix when the model's outputs
  (``out_shape``, for a batch) do not fit the labels (``y_shape``, the same batch)."""
  out_shape, y_shape = tuple(out_shape), tuple(y_shape)
  who = "the model" if model is None else name(model)
  batch = out_shape[0] if out_shape else "?"
  shapes = (
    f"{who} gives outputs of shape {out_shape} for a batch of {batch} and {labels} "
    f"{'have' if labels == 'the labels' else 'has'} shape {y_shape} for it"
  )
  if loss == "cross_entropy" and (len(out_shape) != 2 or y_shape != out_shape[:1]):
    raise OutputShapeError(
      "loss='cross_entropy' needs one output (a logit) per class, shape (batch, classes), "
      f"and one integer class label per example; {shapes}. Use a model with one output per "
      "class, or loss='mse' with float targets for regression."
    )
  if loss == "mse" and out_shape != y_shape:
    which = f"{labels} holds" if labels == "y_train" else f"{labels} are"
    fix = "y_train.astype(int)" if labels == "y_train" else "integers"
    raise OutputShapeError(
      "loss='mse' compares the model's outputs with the labels elementwise, but "
      f"{shapes}. If {which} class indices, pass them as integers ({fix}) with "
      "loss='cross_entropy'; for regression, give the model one output per target value "
      f"(outputs of shape {y_shape})."
    )


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
