"""The named optimizers: documented functions with keyword-only options, each computing its own
rule (checked one step at a time against the NumPy reference)."""

from __future__ import annotations

import inspect
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from alias_helpers import (
  ALIASES,
  NAMES,
  alias_params,
  default_weight_decay,
  get_beta,
  leaves_close,
  small_params,
)

import hyperreg_jax as hr


def test_paper_rules_registry():
  assert len(hr.PAPER_RULES) == 12
  assert set(hr.PAPER_RULES) == {
    f"{d}{a}" for d in ("kl", "rkl", "hellinger") for a in (1, 2, 3)
  } | {f"chi2_{a}" for a in (1, 2, 3)}
  for name, alias in hr.PAPER_RULES.items():
    assert getattr(hr, name) is alias
    assert alias.__name__ == name
  assert math.isclose(default_weight_decay("kl1"), 1e-4)


# === the optax conventions ==================================================================


def test_arguments_after_init_lr_are_keyword_only():
  for name, alias in {**ALIASES, "hyperreg": hr.hyperreg}.items():
    parameters = list(inspect.signature(alias).parameters.values())
    assert parameters[0].name == "init_lr", name
    assert parameters[0].kind == inspect.Parameter.POSITIONAL_OR_KEYWORD, name
    assert all(p.kind == inspect.Parameter.KEYWORD_ONLY for p in parameters[1:]), name
    with pytest.raises(TypeError, match="positional argument"):
      alias(0.1, 1e-4)
  with pytest.raises(TypeError, match="positional argument"):
    hr.hyperreg("rkl", 1)
  with pytest.raises(TypeError, match="positional argument"):
    hr.scale_by_hyperreg("rkl", 1, 0.1)
  params = inspect.signature(hr.scale_by_hyperreg).parameters
  assert [p for p in params if params[p].kind != inspect.Parameter.KEYWORD_ONLY] == ["init_lr"]


# === traps of an optax user ==================================================================

MISSING_INIT_LR = (
  r"needs init_lr, the rule's initial learning rate 1 / beta_0 .*learning_rate is only a "
  r"multiplier on 1 / beta"
)


@pytest.mark.parametrize("name", [*alias_params(), "hyperreg"])
def test_init_lr_is_required_and_learning_rate_is_not_it(name):
  """hr.rkl1(learning_rate=1e-3) used to mean init_lr=0.01 times 1e-3: now a TypeError."""
  alias = ALIASES.get(name, hr.hyperreg)
  rule = {"divergence": "kl", "algorithm": 2} if name == "hyperreg" else {}
  with pytest.raises(TypeError, match=rf"{name}\(\) {MISSING_INIT_LR}") as error:
    alias(learning_rate=1e-3, **rule)
  assert "got learning_rate=0.001 alone" in str(error.value)
  with pytest.raises(TypeError, match=rf"{name}\(\) {MISSING_INIT_LR}"):
    alias(**rule)
  # Given, it is the first step's learning rate; learning_rate multiplies it.
  params = jnp.ones(2)
  opt = alias(1e-3, learning_rate=0.5, weight_decay=0.0, **rule)
  updates, _ = opt.update(jnp.full(2, 1e-6), opt.init(params), params)
  np.testing.assert_allclose(updates, -0.5 * 1e-3 * 1e-6, rtol=1e-3)


def test_scale_by_hyperreg_needs_init_lr_divergence_and_algorithm():
  with pytest.raises(TypeError, match=r"scale_by_hyperreg\(\) needs init_lr, the rule's initial"):
    hr.scale_by_hyperreg(divergence="kl", algorithm=2)


@pytest.mark.parametrize("factory", [hr.hyperreg, hr.scale_by_hyperreg])
def test_divergence_and_algorithm_are_required_keywords(factory):
  """hr.hyperreg(0.1) used to be KL with Algorithm 2, silently."""
  with pytest.raises(
    TypeError, match=r"missing 2 required keyword-only arguments: 'divergence' and 'algorithm'"
  ):
    factory(0.1)
  with pytest.raises(TypeError, match=r"missing 1 required keyword-only argument: 'algorithm'"):
    factory(0.1, divergence="kl")
  with pytest.raises(TypeError, match=r"missing 1 required keyword-only argument: 'divergence'"):
    factory(0.1, algorithm=2)
  for name in ("divergence", "algorithm"):
    parameter = inspect.signature(factory).parameters[name]
    assert parameter.kind == inspect.Parameter.KEYWORD_ONLY
    assert parameter.default is inspect.Parameter.empty


@pytest.mark.slow
def test_one_documented_weight_decay_default_everywhere():
  assert hr.DEFAULT_WEIGHT_DECAY == 1e-4
  for name in [*NAMES, "hyperreg"]:
    alias = ALIASES.get(name, hr.hyperreg)
    assert inspect.signature(alias).parameters["weight_decay"].default == 1e-4, name
    assert "weight_decay" in alias.__doc__ and "1e-4" in alias.__doc__, name
  # The default really decays: one step from a zero gradient moves the params.
  for name in NAMES:
    params = {"w": jnp.ones(2)}
    opt = ALIASES[name](0.5)
    updates, _ = opt.update({"w": jnp.zeros(2)}, opt.init(params), params)
    assert float(updates["w"][0]) < 0, name


@pytest.mark.parametrize("name", alias_params())
def test_aliases_are_documented_functions(name):
  alias = ALIASES[name]
  assert inspect.isfunction(alias) and alias.__code__.co_name == name
  assert alias.__module__ == "hyperreg_jax._aliases"  # one module of plain functions, as optax
  doc = inspect.getdoc(alias)
  summary = doc.splitlines()[0]
  assert summary.endswith(".") and len(summary) < 100
  for section in (".. math::", "Args:", "Returns:", "Example:", "References:", ">>> "):
    assert section in doc, (name, section)
  documented = {line.split(":")[0].strip() for line in doc.split("Args:")[1].splitlines()}
  assert set(inspect.signature(alias).parameters) <= documented
  assert f"hr.{name}(" in doc


ORACLE = {
  "kl1": ("kl", 1),
  "kl2": ("kl", 2),
  "kl3": ("kl", 3),
  "rkl1": ("rkl", 1),
  "rkl2": ("rkl", 2),
  "rkl3": ("rkl", 3),
  "hellinger1": ("hellinger", 1),
  "hellinger2": ("hellinger", 2),
  "hellinger3": ("hellinger", 3),
  "chi2_1": ("chi2", 1),
  "chi2_2": ("chi2", 2),
  "chi2_3": ("chi2", 3),
}


def reference_step(name, init_lr, params, grads, weight_decay):
  """One step of the independent NumPy reference for the rule ``name``: (updates, beta)."""
  from hyperreg_jax import reference

  np_params = {k: np.asarray(v, np.float64) for k, v in params.items()}
  np_grads = {k: np.asarray(v, np.float64) for k, v in grads.items()}
  if name == "wngrad":
    assert weight_decay == 0.0
    opt = reference.WNGradNumpy(init_lr)
  elif name == "adagrad_diag":
    opt = reference.HyperRegNumpy(
      "neyman_chi2", 1, init_lr=init_lr, growth=None, weight_decay=weight_decay
    )
  else:
    divergence, algorithm = ORACLE[name]
    opt = reference.HyperRegNumpy(divergence, algorithm, init_lr=init_lr, weight_decay=weight_decay)
  new_params, state = opt.step(np_params, np_grads, opt.init(np_params))
  return {k: new_params[k] - np_params[k] for k in np_params}, state.beta


def one_step_matches_reference(make, name, init_lr=0.4, weight_decay=1e-4):
  params = small_params()
  # Gradients around beta_0 = 2.5, where the twelve rules (and clipping) all differ.
  grads = jax.tree.map(lambda p: 2.0 * p + 0.7, params)
  opt = make(init_lr)
  updates, state = opt.update(grads, opt.init(params), params)
  expected_updates, expected_beta = reference_step(name, init_lr, params, grads, weight_decay)
  leaves_close(updates, expected_updates, rtol=2e-5, atol=1e-7)
  beta = get_beta(state)
  if name == "wngrad":
    np.testing.assert_allclose(float(beta), float(expected_beta), rtol=2e-5)
  else:
    leaves_close(beta, expected_beta, rtol=2e-5, atol=0)


@pytest.mark.parametrize("name", alias_params())
def test_every_alias_computes_its_own_rule(name):
  weight_decay = 0.0 if name == "wngrad" else 1e-4
  one_step_matches_reference(
    lambda lr: ALIASES[name](lr, weight_decay=weight_decay), name, weight_decay=weight_decay
  )
