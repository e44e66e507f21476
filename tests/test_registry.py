"""The variant registry: every name computes its own rule; grid axes a variant does not take,
or values outside an axis' range, are refused before anything compiles."""

import pytest
from alias_helpers import alias_params

import hyperreg_jax as hr
from hyperreg_jax import data, models
from hyperreg_jax._registry import make_optimizer

REGRESSION = data.synthetic_linear_regression(num_train=96, num_test=32, dim=3, seed=1)


@pytest.mark.parametrize("name", alias_params(hr.RULE_NAMES))
def test_every_sweep_variant_name_computes_its_own_rule(name):
  """Checked against the reference with a hand-written oracle, not the sweep's own table."""
  from test_aliases import one_step_matches_reference

  weight_decay = 0.0 if name == "wngrad" else 1e-4
  one_step_matches_reference(make_optimizer(name, weight_decay), name, weight_decay=weight_decay)


@pytest.mark.parametrize(
  "variants, grid, match",
  [
    (["rkl1"], {"init_lr": [0.1], "momentum": [0.9]}, r"'rkl1'.*'momentum'"),
    (["sgd"], {"init_lr": [0.1], "growth": [2.0]}, r"'sgd'.*'growth'"),
    (["adagrad"], {"init_lr": [0.1], "learning_rate": [1.0]}, r"'adagrad'.*'learning_rate'"),
    (
      ["rkl1"],
      {"init_lr": [0.1], "weight_decay": []},
      r"grid\['weight_decay'\] must be a non-empty",
    ),
    (
      ["rkl1"],
      {"init_lr": [0.1], "learning_rate": [float("nan")]},
      r"grid\['learning_rate'\].*finite",
    ),
    (["rkl1"], {"init_lr": [0.1], "warmup_lr": [float("inf")]}, r"grid\['warmup_lr'\].*finite"),
    (["rkl1"], {"init_lr": [0.1], "weight_decay": [-1e-3]}, r"grid\['weight_decay'\].*>= 0"),
    (["rkl1"], {"init_lr": [0.1], "growth": [0.5]}, r"grid\['growth'\].*>= 1"),
    (["rkl1"], {"init_lr": [0.1], "growth": [float("nan")]}, r"grid\['growth'\].*>= 1"),
    (["rkl1"], {"init_lr": [0.0]}, r"grid\['init_lr'\].*> 0"),
    (["rkl1"], {"weight_decay": [0.1]}, r"ilrs=\[...\] or grid\['init_lr'\]"),
    (["rkl1"], [0.1, 0.2], "grid must be a dict"),
  ],
)
def test_bad_grids_raise(variants, grid, match):
  with pytest.raises(ValueError, match=match):
    hr.sweep(models.LinearRegression(), REGRESSION, variants, grid=grid, progress=False)


def test_ilrs_and_grid_init_lr_together_raise():
  with pytest.raises(ValueError, match="either as ilrs or as grid"):
    hr.sweep(
      models.LinearRegression(),
      REGRESSION,
      ["rkl1"],
      [0.1],
      grid={"init_lr": [0.2]},
      progress=False,
    )
