"""Model plumbing of the training engine: the three kinds of model it takes, called alike.

* a **Flax linen** module, or any object with linen-style ``init(key, x, [train=])`` and
  ``apply(variables, x, [train=], [mutable=["batch_stats"]])`` (``train=`` is passed when
  ``__call__`` takes it; batch statistics in the ``"batch_stats"`` collection);
* a **Flax NNX** module, kept as :class:`NNXModel`: its graph (static) and its variables,
  split with ``nnx.split(module, nnx.Param, ...)`` when the trainer is built and merged
  again inside the pure step (``nnx.merge``, then ``.train()`` or ``.eval()``); no
  ``nnx.vmap``, so a vmapped sweep treats it like any pytree of weights;
* a pair **(init, apply)** of pure functions, kept as :class:`InitApply`:
  ``init(key, x) -> params`` and ``apply(params, x) -> outputs`` (no batch statistics).

Whatever the kind, the engine sees ``params`` and ``batch_stats`` pytrees (plain nested dicts
for NNX) and calls :func:`init_variables` and :func:`apply`. Also here: describing a model
(for fingerprints), the per-example losses and the check of the outputs against the labels.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import sys
from collections.abc import Callable
from typing import NamedTuple

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


class InitApply(NamedTuple):
  """A model given as two pure functions (hashable, compared by the functions)."""

  init: Callable  # init(key, x) -> params, x a batch
  apply: Callable  # apply(params, x) -> outputs


class NNXModel:
  """A Flax NNX module as the engine keeps it: its graph and a copy of its variables.

  Taken when the trainer is built, so later changes to the module do not reach the
  trainer (nor a program compiled for it). Compared by identity.
  """

  def __init__(self, module):
    from flax import nnx

    graphdef, params, rest = nnx.split(module, nnx.Param, ...)
    self.type = type(module)
    self.graphdef = graphdef
    self._structures = (jax.tree.structure(params), jax.tree.structure(rest))
    # Plain nested dicts: what optax, Orbax and the linen models' trees look like. Their
    # leaves are in the order of the split state's leaves (both sort keys alike): checked.
    self.variables = {"params": nnx.to_pure_dict(params), "batch_stats": nnx.to_pure_dict(rest)}
    for state, pure in zip((params, rest), self.variables.values()):
      paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_leaves_with_path(pure)]
      split = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_leaves_with_path(state)]
      if len(paths) != len(split) or not all(map(str.startswith, split, paths)):
        raise TypeError(f"{self!r}: cannot flatten its variables in a stable order.")

  def apply(self, params, batch_stats, x, train: bool):
    from flax import nnx

    states = [
      jax.tree.unflatten(structure, jax.tree.leaves(tree))
      for structure, tree in zip(self._structures, (params, batch_stats))
    ]
    module = nnx.merge(self.graphdef, *states)
    if train:
      module.train()  # batch norm uses and updates the batch statistics, dropout drops
    else:
      module.eval()
    out = module(x)
    if not train:
      return out, batch_stats
    _, _, rest = nnx.split(module, nnx.Param, ...)
    return out, nnx.to_pure_dict(rest)

  def __repr__(self):
    return f"{self.type.__name__} (Flax NNX)"


def _is_nnx(model) -> bool:
  nnx = sys.modules.get("flax.nnx")  # an NNX module exists only once flax.nnx is imported
  return nnx is not None and isinstance(model, nnx.Module)


def as_model(model):
  """``model`` as the engine keeps it in a :class:`~hyperreg_jax.train.Trainer`: a linen
  module as it is, an NNX module as :class:`NNXModel`, a pair as :class:`InitApply`.

  Raises a ``TypeError`` for anything that is not a model.
  """
  if _is_nnx(model):
    return NNXModel(model)
  if isinstance(model, (tuple, list)) and len(model) == 2 and all(map(callable, model)):
    return InitApply(*model)
  if isinstance(model, NNXModel) or (
    callable(getattr(model, "init", None)) and callable(getattr(model, "apply", None))
  ):
    return model
  raise TypeError(
    f"model={model!r} is not a model: pass a Flax linen module (or an object with linen-style "
    "init(key, x) and apply(variables, x) methods), a Flax NNX module, or a pair (init, apply) "
    "of functions init(key, x) -> params and apply(params, x) -> outputs."
  )


def init_variables(model, key, sample_x) -> dict:
  """``{"params": ..., "batch_stats": ...}`` (``{}`` without batch norm), shapes from
  ``sample_x``; an NNX module's own variables (``key`` unused)."""
  if isinstance(model, NNXModel):
    return model.variables
  if isinstance(model, InitApply):
    return {"params": model.init(key, jnp.asarray(sample_x)), "batch_stats": {}}
  variables = model.init(key, jnp.asarray(sample_x), **_train_kw(model, False))
  return {"params": variables["params"], "batch_stats": variables.get("batch_stats", {})}


def apply(model, params, batch_stats, x, train: bool):
  """Model output and the (updated in train mode) batch statistics."""
  if isinstance(model, NNXModel):
    return model.apply(params, batch_stats, x, train)
  if isinstance(model, InitApply):
    return model.apply(params, x), batch_stats
  kw = _train_kw(model, train)
  variables = {"params": params}
  if batch_stats:
    variables["batch_stats"] = batch_stats
    if train:
      out, updated = model.apply(variables, x, mutable=["batch_stats"], **kw)
      return out, updated["batch_stats"]
  return model.apply(variables, x, **kw), batch_stats


def describe(model) -> dict:
  """The model as JSON-able values, for fingerprints: a linen module's repr and class code;
  an NNX module's class code, graph and a hash of its variables; a pair's two functions."""
  if isinstance(model, InitApply):
    return dict(
      init=checkpoint_io.describe_callable(model.init),
      apply=checkpoint_io.describe_callable(model.apply),
    )
  if isinstance(model, NNXModel):
    digest = hashlib.sha1(repr(model.graphdef).encode())
    for leaf in map(np.asarray, jax.tree.leaves(model.variables)):
      digest.update(f"{leaf.shape}{leaf.dtype}".encode() + leaf.tobytes())
    return dict(nnx=checkpoint_io.describe_callable(model.type), state=digest.hexdigest()[:16])
  return dict(repr=repr(model), code=checkpoint_io.describe_callable(type(model)))


def name(model) -> str:
  """A short name of the model, for a sweep's metadata."""
  if isinstance(model, InitApply):
    return (
      f"({getattr(model.init, '__name__', 'init')}, {getattr(model.apply, '__name__', 'apply')})"
    )
  if isinstance(model, NNXModel):
    return model.type.__name__
  return type(model).__name__


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
