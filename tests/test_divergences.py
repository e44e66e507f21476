"""The divergences: their definitions, ``Divergence.from_f`` and custom divergences, the
generic solver against the closed forms, and the checks of bad arguments."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from rule_helpers import C_GRID, NAMES, generic

import hyperreg_jax as hr
from hyperreg_jax import divergences, rules


@pytest.fixture(autouse=True)
def x64():
  with jax.enable_x64(True):
    yield


# --- divergences -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_divergence_definitions(name):
  div = divergences.BUILTIN[name]
  beta = np.geomspace(0.1, 10, 41)
  eta = 1.7
  d = np.asarray(div.D(beta, eta))
  assert np.all(d >= -1e-15) and abs(float(div.D(eta, eta))) < 1e-15
  np.testing.assert_allclose(div.dD(beta, eta), generic(name).dD(beta, eta), rtol=1e-12, atol=1e-15)
  assert np.all(np.sign(np.asarray(div.dD(beta, eta))) == np.sign(beta - eta))


@pytest.mark.slow
def test_from_f_equals_builtin_and_custom_rules_work():
  f = {"kl": lambda u: u * jnp.log(u) - u + 1, "chi2": lambda u: (u - 1) ** 2}
  for name, fn in f.items():
    custom = hr.Divergence.from_f(fn, name="my_" + name)
    rule = jax.jit(rules.new_beta, static_argnums=(0, 1))
    beta = np.geomspace(0.1, 10, 7)
    np.testing.assert_allclose(
      custom.D(beta, 2.0), divergences.BUILTIN[name].D(beta, 2.0), rtol=1e-12
    )
    for alg in (1, 2):
      np.testing.assert_allclose(
        rule(custom, alg, 1.3, 0.9), rules.new_beta(name, alg, 1.3, 0.9), rtol=1e-12
      )


def test_bad_arguments_are_named():
  with pytest.raises(ValueError, match=r"divergence must be one of \['chi2', 'hellinger'"):
    rules.new_beta("tv", 1, 1.0, 1.0)
  for algorithm in (0, 4, "2", True, 2.5):
    with pytest.raises(ValueError, match=r"algorithm must be one of \(1, 2, 3\)"):
      rules.new_beta("kl", algorithm, 1.0, 1.0)
  for growth in (0.5, float("nan"), -2, -float("inf"), "2", [2.0, 3.0]):
    with pytest.raises(
      ValueError, match=r"growth must be None or inf \(no upper clip\) or a number >= 1"
    ):
      rules.new_beta("kl", 1, 1.0, 1.0, growth=growth)
  for iterations in (0, -3, 2.5, True):
    with pytest.raises(
      ValueError, match=r"solver_iterations must be None \(automatic\) or an integer >= 1"
    ):
      rules.new_beta("kl", 1, 1.0, 1.0, solver_iterations=iterations)
  with pytest.raises(ValueError, match="D must be callable"):
    hr.Divergence("bad", D=3.0)


@pytest.mark.parametrize(
  "f, match",
  [
    (3, r"f must be callable, got 3"),
    (lambda u: (u - 1) ** 2 + 1, r"f must have f\(1\) = 0 and f'\(1\) = 0, got f\(1\) = 1\.0"),
    (lambda u: u * u - 1, r"f must have f\(1\) = 0 and f'\(1\) = 0, got .* f'\(1\) = 2\.0"),
    (lambda u: -((u - 1) ** 2), r"f must be convex near 1"),
    (lambda u: "u" + u, r"f must map an array of ratios u elementwise"),
  ],
)
def test_from_f_validates_what_it_documents(f, match):
  with pytest.raises(ValueError, match=r"Divergence\.from_f\('mine'\): " + match):
    hr.Divergence.from_f(f, name="mine")


F_OF_BUILTIN = {  # user copies of the built-in divergences, as a user would write them
  "kl": lambda u: u * jnp.log(u) - u + 1,
  "rkl": lambda u: -jnp.log(u) + u - 1,
  "hellinger": lambda u: (jnp.sqrt(u) - 1) ** 2,
  "chi2": lambda u: (u - 1) ** 2,
  "neyman_chi2": lambda u: (u - 1) ** 2 / u,
}
C_WIDE = np.concatenate([[0.0], np.logspace(-12, 30, 127), [0.5, 0.999, 1.0, 1.001, 2.0]])
GROWTHS = (1.5, 2.0, 10.0, 1e6, None)


def solver_agreement(x64: bool) -> dict:
  """Relative error of a from_f copy of every built-in rule, and its allowance, on the grid.

  The allowance is 64 ulps times (1 + the condition number d log r / d log c): near
  the pole of RKL2/H2/NX2_2 (c -> 1) any float32 solution of the same equation, the
  closed form included, is only that precise.
  """
  out = {}
  with jax.enable_x64(x64):
    dtype = np.float64 if x64 else np.float32
    b = np.geomspace(1e-3, 1e3, C_WIDE.size).astype(dtype)
    g = (b * np.sqrt(C_WIDE)).astype(dtype)
    c = (g.astype(np.float64) / b) ** 2  # what the rule sees
    rule = jax.jit(rules.new_beta, static_argnums=(0, 1), static_argnames=("growth",))
    for name, f in F_OF_BUILTIN.items():
      copy = hr.Divergence.from_f(f, name=f"my_{name}")
      for alg in (1, 2):
        for growth in GROWTHS:
          closed = np.asarray(rule(name, alg, b, g, growth=growth), np.float64)
          solved = np.asarray(rule(copy, alg, b, g, growth=growth), np.float64)
          with np.errstate(over="ignore"):  # float32 b, float64 beta: no overflow in fact
            error = np.abs(solved - closed) / closed
            ratio = closed / b.astype(np.float64)
          with jax.enable_x64(True):
            _, slope = jax.jvp(
              lambda r: rules.foc_lhs(divergences.BUILTIN[name], alg, r, 1.0),  # noqa: B023
              (jnp.asarray(ratio),),
              (jnp.ones_like(jnp.asarray(ratio)),),
            )
          with np.errstate(all="ignore"):
            condition = np.where(ratio > 1, c / (ratio * np.asarray(slope)), 1.0)
          condition = np.where(np.isfinite(condition), condition, 0.0)
          clipped = growth is not None and np.isclose(ratio, growth)
          condition = np.where(clipped | (closed >= np.finfo(dtype).max), 0.0, condition)
          allowance = 64 * np.finfo(dtype).eps * (1 + condition)
          out[(name, alg, growth)] = (error, allowance)
  return out


@pytest.mark.parametrize("x64", [False, True], ids=["float32", "float64"])
@pytest.mark.slow
def test_from_f_copies_agree_with_the_closed_forms_everywhere(x64):
  """c from 0 to 1e30, clipped or not, including where Algorithm 2 has no finite root."""
  for key, (error, allowance) in solver_agreement(x64).items():
    assert np.all(error <= allowance), (key, C_WIDE[np.argmax(error / allowance)], error.max())


@pytest.mark.slow
def test_a_copy_of_rkl_past_the_pole_takes_the_algorithm_1_root():
  """The user-reported case: c >= 1, no clip; the copy used to walk to ~1e77."""
  with jax.enable_x64(True):
    copy = hr.Divergence.from_f(F_OF_BUILTIN["rkl"], name="my_rkl")
    for c in (1.0, 4.0, 1e6):
      exact1 = float(rules.new_beta("rkl", 1, 1.0, np.sqrt(c), growth=None))
      assert float(rules.new_beta(copy, 2, 1.0, np.sqrt(c), growth=None)) == pytest.approx(exact1)
      assert float(rules.new_beta("rkl", 2, 1.0, np.sqrt(c), growth=None)) == pytest.approx(exact1)


@pytest.mark.parametrize("divergence", ["kl", "rkl", "hellinger", "chi2", "neyman_chi2", "copy"])
@pytest.mark.parametrize("alg", [1, 2])
@pytest.mark.slow
def test_infinite_growth_equals_no_clip_traced_or_not(divergence, alg):
  if divergence == "copy":
    divergence = hr.Divergence.from_f(F_OF_BUILTIN["hellinger"], name="my_hellinger")
  b = np.geomspace(1e-3, 1e3, C_WIDE.size)
  g = b * np.sqrt(C_WIDE)
  unclipped = rules.new_beta(divergence, alg, b, g, growth=None)
  np.testing.assert_array_equal(rules.new_beta(divergence, alg, b, g, growth=np.inf), unclipped)
  # Traced: one program for clipped and unclipped runs, the same numbers up to the
  # compiler's fusion of a different program (a few ulps, times the conditioning near
  # the pole c -> 1).
  traced = jax.jit(lambda growth: rules.new_beta(divergence, alg, b, g, growth=growth))
  np.testing.assert_allclose(traced(np.inf), unclipped, rtol=1e-13)
  np.testing.assert_allclose(
    traced(2.0), rules.new_beta(divergence, alg, b, g, growth=2.0), rtol=1e-13
  )


@pytest.mark.slow
def test_solver_steps_hold_precision_for_any_growth():
  """The default step count is enough at growth 1e6 and for a traced growth."""
  div = hr.Divergence.from_f(CUSTOM["jensen_shannon"], name="jensen_shannon")
  b = np.geomspace(1e-3, 1e3, C_GRID.size)
  g = b * np.sqrt(C_GRID)
  for growth in (1e6, 1e30):
    converged = rules.new_beta(div, 1, b, g, growth=growth, solver_iterations=200)
    np.testing.assert_allclose(rules.new_beta(div, 1, b, g, growth=growth), converged, rtol=1e-12)
    traced = jax.jit(lambda growth: rules.new_beta(div, 1, b, g, growth=growth))(growth)
    np.testing.assert_allclose(traced, converged, rtol=1e-12)


CUSTOM = {
  "jensen_shannon": lambda u: u * jnp.log(2 * u / (1 + u)) + jnp.log(2 / (1 + u)),
  "cubic": lambda u: (u**3 - 1 - 3 * (u - 1)) / 6,
}


@pytest.mark.parametrize("name", sorted(CUSTOM))
@pytest.mark.parametrize("growth", [2.0, 10.0, None])
@pytest.mark.slow
def test_default_solver_steps_reach_float64_precision(name, growth):
  """The default step counts (12 for growth <= 10, 96 otherwise) suffice for custom divergences."""
  div = hr.Divergence.from_f(CUSTOM[name], name=name)
  rule = jax.jit(
    rules.new_beta, static_argnums=(0, 1), static_argnames=("growth", "solver_iterations")
  )
  b = np.geomspace(1e-3, 1e3, C_GRID.size)
  g = b * np.sqrt(C_GRID)
  for alg in (1, 2):
    converged = np.asarray(rule(div, alg, b, g, growth=growth, solver_iterations=100))
    ok = converged < 1e60 * b
    np.testing.assert_allclose(rule(div, alg, b, g, growth=growth)[ok], converged[ok], rtol=1e-12)
