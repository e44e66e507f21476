"""Bad arguments of ``scale_by_hyperreg``, ``hyperreg`` and the aliases fail at construction
(or at ``init``, for the params) with an error naming the argument, the value and what is
allowed."""

from __future__ import annotations

import functools

import jax.numpy as jnp
import pytest
from alias_helpers import (
  ALIASES,
  alias_params,
)

import hyperreg_jax as hr

NAN, INF = float("nan"), float("inf")


BAD_ARGUMENTS = [
  (
    {"divergence": "kld"},
    r"divergence must be one of \['chi2', 'hellinger', 'kl', 'neyman_chi2', 'rkl'\].*'kld'",
  ),
  ({"divergence": None}, r"divergence must be one of .*None"),
  ({"algorithm": 0}, r"algorithm must be one of \(1, 2, 3\), got 0"),
  ({"algorithm": 4}, r"algorithm must be one of \(1, 2, 3\), got 4"),
  ({"algorithm": "2"}, r"algorithm must be one of \(1, 2, 3\), got '2'"),
  ({"algorithm": True}, r"algorithm must be one of \(1, 2, 3\), got True"),
  ({"algorithm": 2.0}, r"algorithm must be one of \(1, 2, 3\), got 2\.0"),
  ({"init_lr": 0.0}, r"init_lr must be a finite number > 0, got 0\.0"),
  ({"init_lr": -1e-3}, r"init_lr must be a finite number > 0, got -0\.001"),
  ({"init_lr": NAN}, r"init_lr must be a finite number > 0, got nan"),
  ({"init_lr": INF}, r"init_lr must be a finite number > 0, got inf"),
  ({"init_lr": jnp.array([0.1, 0.2])}, r"init_lr must be a finite number > 0"),
  ({"growth": 0.5}, r"growth must be None or inf \(no upper clip\) or a number >= 1, got 0\.5"),
  ({"growth": NAN}, r"growth must be None .* >= 1, got nan"),
  ({"growth": -INF}, r"growth must be None .* >= 1, got -inf"),
  (
    {"granularity": "layer"},
    r"granularity must be one of \('coordinate', 'tensor', 'global'\), got 'layer'",
  ),
  ({"warmup_steps": 5}, r"warmup_lr must be given"),
  ({"warmup_steps": 5, "warmup_lr": -1.0}, r"warmup_lr must be a finite number > 0"),
  ({"warmup_steps": -1}, r"warmup_steps must be an integer >= 0, got warmup_steps=-1"),
  (
    {"warmup_steps": 2.5, "warmup_lr": 0.1},
    r"warmup_steps must be an integer >= 0, got warmup_steps=2\.5",
  ),
]


@pytest.mark.parametrize(
  "factory", [hr.scale_by_hyperreg, hr.hyperreg], ids=["scale_by_hyperreg", "hyperreg"]
)
@pytest.mark.parametrize("kwargs, match", BAD_ARGUMENTS, ids=[repr(kw) for kw, _ in BAD_ARGUMENTS])
def test_bad_arguments_raise(factory, kwargs, match):
  with pytest.raises(ValueError, match=match):
    factory(**{"init_lr": 1e-2, "divergence": "kl", "algorithm": 2, **kwargs})


@pytest.mark.parametrize(
  "kwargs, match",
  [
    ({"init_lr": 0.0}, r"init_lr"),
    ({"init_lr": NAN}, r"init_lr"),
    ({"growth": 0.9}, r"growth"),
    ({"granularity": "per-layer"}, r"granularity"),
    ({"warmup_steps": 2}, r"warmup_lr"),
  ],
)
def test_bad_arguments_raise_in_aliases(kwargs, match):
  with pytest.raises(ValueError, match=match):
    hr.rkl2(**{"init_lr": 1e-2, **kwargs})
  if "init_lr" in kwargs:
    with pytest.raises(ValueError, match=match):
      hr.adagrad_diag(**kwargs)
    with pytest.raises(ValueError, match=match):
      hr.wngrad(**kwargs)


@pytest.mark.parametrize("name", alias_params(["kl2", "adagrad_diag", "wngrad"]))
def test_integer_params_raise_at_init(name):
  opt = ALIASES[name](0.1)
  with pytest.raises(ValueError, match=r"floating-point.*\['count'\].*int32"):
    opt.init({"w": jnp.ones(3), "count": jnp.arange(3, dtype=jnp.int32)})


@pytest.mark.parametrize("name", alias_params(["kl2", "adagrad_diag", "wngrad"]))
def test_complex_params_raise_at_init(name):
  with pytest.raises(ValueError, match=r"real floating-point.*\['z'\].*complex64"):
    ALIASES[name](0.1).init({"w": jnp.ones(3), "z": jnp.ones(2, jnp.complex64)})


@pytest.mark.parametrize(
  "kwargs, match",
  [
    ({"weight_decay": -1e-4}, r"weight_decay must be a finite number >= 0, got -0\.0001"),
    ({"weight_decay": float("nan")}, r"weight_decay must be a finite number >= 0, got nan"),
    ({"weight_decay": float("inf")}, r"weight_decay must be a finite number >= 0, got inf"),
    ({"learning_rate": -0.5}, r"learning_rate must be a finite number >= 0, got -0\.5"),
    ({"learning_rate": float("nan")}, r"learning_rate must be a finite number >= 0"),
    ({"beta_dtype": jnp.int32}, r"beta_dtype must be None .* floating dtype"),
    ({"beta_dtype": "complex64"}, r"beta_dtype must be None .* floating dtype"),
  ],
)
def test_bad_optax_arguments_raise(kwargs, match):
  kl = functools.partial(hr.hyperreg, divergence="kl", algorithm=2)
  for factory in (kl, hr.kl2, hr.adagrad_diag, hr.wngrad):
    with pytest.raises(ValueError, match=match):
      factory(0.1, **kwargs)


@pytest.mark.parametrize("iterations", [0, -1, 2.5, True])
def test_bad_solver_iterations_raise(iterations):
  with pytest.raises(
    ValueError, match=r"solver_iterations must be None \(automatic\) or an integer"
  ):
    hr.scale_by_hyperreg(
      1e-2,
      divergence=hr.Divergence.from_f(lambda u: (u - 1) ** 2, name="q"),
      algorithm=1,
      solver_iterations=iterations,
    )
  with pytest.raises(ValueError, match=r"solver_iterations"):
    hr.hyperreg(0.1, divergence="kl", algorithm=2, solver_iterations=iterations)
