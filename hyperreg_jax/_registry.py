"""The variant registry: the optimizer names a sweep understands, and the hyperparameters (grid
axes) each of them takes, with their allowed values."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping

import numpy as np
import optax

from hyperreg_jax import _validate
from hyperreg_jax._aliases import PAPER_RULES, RULE_NAMES, SPECIAL
from hyperreg_jax._transform import DEFAULT_WEIGHT_DECAY

_BASELINES = {
  "sgd": optax.sgd,
  "adagrad": lambda lr: optax.adagrad(lr, initial_accumulator_value=0.0, eps=1e-10),
}


def variant_names() -> list[str]:
  """Names :func:`sweep` understands: the paper's rules, special cases, baselines."""
  return [*RULE_NAMES, *_BASELINES]


GRID_KEYS = ("init_lr", "weight_decay", "growth", "learning_rate", "warmup_lr")
_BASELINE_KEYS = ("init_lr", "weight_decay")


@functools.cache
def make_optimizer(name: str, weight_decay: float = DEFAULT_WEIGHT_DECAY) -> Callable:
  """``(init_lr, **hyperparameters) -> GradientTransformation`` for a variant name.

  Every variant, baselines included, gets the same L2 ``weight_decay`` (through
  ``optax.add_decayed_weights``), so they are compared on the same objective. The
  keyword arguments (a grid point of :func:`sweep`, possibly traced) override the
  alias's defaults and ``weight_decay``: any of :data:`GRID_KEYS` for the hyperreg
  variants, only ``weight_decay`` for the baselines ``sgd`` and ``adagrad``. Cached:
  the same name gives the same factory, so repeated sweeps reuse their programs.
  """
  if name in RULE_NAMES:
    alias = PAPER_RULES.get(name) or SPECIAL[name]
    return lambda lr, **kw: alias(lr, **{"weight_decay": weight_decay, **kw})
  if name in _BASELINES:
    base = _BASELINES[name]
    return lambda lr, weight_decay=weight_decay: optax.chain(
      optax.add_decayed_weights(weight_decay), base(lr)
    )
  raise ValueError(
    f"variant must be one of {variant_names()} or a callable "
    f"init_lr -> optax transformation, got {name!r}."
  )


def _apply_point(make_tx, point):
  """``make_tx(init_lr, **others)`` for a grid point ``{axis: value}``."""
  others = {k: v for k, v in point.items() if k != "init_lr"}
  return make_tx(point["init_lr"], **others)


@functools.cache
def point_factory(make_tx):
  """The trainer's factory when the grid has more axes than ``init_lr``: the trainer's
  "ILR" is then the grid point, a dict of scalars. Cached, so that the same variant
  gives an equal trainer and reuses its compiled program."""
  return functools.partial(_apply_point, make_tx)


def _callable_label(fn, i: int) -> str:
  """A callable variant's label: its function's name, or ``variant<i>`` for a lambda or a
  ``functools.partial`` (pass ``{label: callable}`` to name those)."""
  name = getattr(fn, "__name__", "")
  return name if name.isidentifier() else f"variant{i}"


def resolve_variants(variants, weight_decay, axes=("init_lr",)) -> dict[str, Callable]:
  if isinstance(variants, (str, Callable)):
    variants = [variants]
  if isinstance(variants, Mapping):
    items = list(variants.items())
  else:
    items = [
      (v if isinstance(v, str) else _callable_label(v, i), v) for i, v in enumerate(variants)
    ]
  if not items:
    raise ValueError("variants must name at least one optimizer.")
  out = {}
  for label, v in items:
    if label in out:
      raise ValueError(f"variants has the label {label!r} twice.")
    if isinstance(v, str) and v in _BASELINES:
      for key in axes:
        if key not in _BASELINE_KEYS:
          raise ValueError(
            f"grid: variant {label!r} ({v}) has no hyperparameter {key!r}; a baseline "
            f"sweeps only {list(_BASELINE_KEYS)} (init_lr is its learning rate)."
          )
    elif isinstance(v, str):
      for key in axes:
        if key not in GRID_KEYS:
          raise ValueError(
            f"grid: variant {label!r} ({v}) has no hyperparameter {key!r}; "
            f"a named variant sweeps {list(GRID_KEYS)}."
          )
    out[label] = make_optimizer(v, weight_decay) if isinstance(v, str) else v
    if not callable(out[label]):
      raise ValueError(f"variant {label!r} must be a name or a callable, got {v!r}.")
  return out


_AXIS_RULES = {  # allowed values of each grid axis: (test, description)
  "init_lr": (lambda a: np.isfinite(a) & (a > 0), "finite numbers > 0"),
  "weight_decay": (lambda a: np.isfinite(a) & (a >= 0), "finite numbers >= 0"),
  "growth": (lambda a: ~np.isnan(a) & (a >= 1), "numbers >= 1 (inf: no clip)"),
  "learning_rate": (lambda a: np.isfinite(a) & (a > 0), "finite numbers > 0"),
  "warmup_lr": (lambda a: np.isfinite(a) & (a > 0), "finite numbers > 0"),
}


def _check_axis(name: str, key: str, values) -> np.ndarray:
  test, allowed = _AXIS_RULES.get(key, (lambda a: np.isfinite(a), "finite numbers"))
  try:
    a = np.asarray(values, np.float64).reshape(-1) if np.ndim(values) <= 1 else None
  except (TypeError, ValueError):
    a = None
  if a is not None and key == "init_lr":  # each ILR as train.fit and train.run check one
    for i, value in enumerate(a):
      _validate.check_ilr(value, where=f"{name}[{i}]")
  if a is None or a.size == 0 or not np.all(test(a)):
    raise ValueError(f"{name} must be a non-empty 1-D sequence of {allowed}, got {values!r}.")
  info = np.finfo(np.float32)  # the sweep runs its grid in float32
  outside = a[np.isfinite(a) & (a != 0) & ((np.abs(a) < info.tiny) | (np.abs(a) > info.max))]
  if outside.size:
    raise ValueError(
      f"{name} must be normal float32 numbers (between {info.tiny:.3g} and {info.max:.3g}), "
      f"got {outside.tolist()}."
    )
  return a


def check_grid(ilrs, grid) -> dict[str, np.ndarray]:
  """The grid's axes ``{name: float64 values}`` in order; ``ilrs`` is ``grid["init_lr"]``."""
  if grid is None:
    grid = {}
  if not isinstance(grid, Mapping):
    raise ValueError(f"grid must be a dict {{hyperparameter: values}}, got {grid!r}.")
  if ilrs is not None and "init_lr" in grid:
    raise ValueError("pass the initial learning rates either as ilrs or as grid['init_lr'].")
  if ilrs is None and "init_lr" not in grid:
    raise ValueError("sweep needs the initial learning rates: ilrs=[...] or grid['init_lr'].")
  axes = {"init_lr": _check_axis("ilrs", "init_lr", ilrs)} if ilrs is not None else {}
  for key, values in grid.items():
    if not isinstance(key, str) or not key.isidentifier():
      raise ValueError(f"grid keys must be keyword argument names, got {key!r}.")
    axes[key] = _check_axis(f"grid[{key!r}]", key, values)
  return axes


def grid_points(axes: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
  """The cartesian product, flattened in C order: ``{name: (P,) values}``."""
  mesh = np.meshgrid(*axes.values(), indexing="ij")
  return {k: m.reshape(-1) for k, m in zip(axes, mesh)}


def check_points(label: str, make_tx, axes: dict[str, np.ndarray]) -> None:
  """Builds the variant's optimizer for every value of every axis (the others at their first
  value), so that a value the variant rejects raises before anything compiles."""
  first = {k: float(v[0]) for k, v in axes.items()}
  for key, values in axes.items():
    for value in values if len(axes) > 1 else values[:1]:
      point = {**first, key: float(value)}
      others = {k: v for k, v in point.items() if k != "init_lr"}
      _validate.check_optimizer(
        label if len(axes) == 1 else f"{label} at {point}",
        functools.partial(make_tx, **others) if others else make_tx,
        point["init_lr"],
      )
