"""The mechanisms experiment: its measurements on tiny inputs, and its report against its CSVs."""

from __future__ import annotations

import math
import os
import pathlib
import re
import subprocess
import sys
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import common, files, mechanisms
from experiments import markdown as md
from experiments.mechanisms import ablation as mechanisms_ablation
from experiments.mechanisms import config as mechanisms_config
from experiments.mechanisms import trace
from hyperreg_jax import models, train
from hyperreg_jax.train import Trainer

ROOT = pathlib.Path(__file__).resolve().parents[1]


def tiny_data(n=64, seed=0):
  rng = np.random.default_rng(seed)
  x = rng.uniform(0, 1, (n, 28, 28, 1)).astype(np.float32) * (rng.uniform(size=(n, 1, 1, 1)) > 0)
  y = rng.integers(0, 10, n).astype(np.int32)
  return types.SimpleNamespace(x_train=x, y_train=y, x_test=x[:32], y_test=y[:32])


# ----------------------------------------------------------------------------- pure measures


def test_layer_stats_on_a_known_step():
  g, u = jnp.array([1.0, -2.0, 0.0, 4.0]), jnp.array([0.5, -1.0, 0.0, 1.0])
  old, new = jnp.ones(4), jnp.array([2.0, 1.5, 1.0, 8.0])
  out = trace.layer_stats(g, u, old, new, jnp.array([3.0, 4.0, 0.0, 0.0]))
  assert float(out["g"]) == 1.5  # median of |g| = 0, 1, 2, 4
  assert float(out["lr"]) == 0.5  # |u| / |g| = 0.5, 0.5, 0.25; the g = 0 entry left out
  assert float(out["beta"]) == 1.75 and float(out["beta_g"]) == 2.0  # 2, 0.75, 2
  assert float(out["doubled"]) == pytest.approx(2 / 3)  # of the three entries with g != 0
  assert float(out["w"]) == 5.0
  sgd = trace.layer_stats(g, u, None, None, jnp.ones(4))
  assert np.isnan(float(sgd["beta"])) and np.isnan(float(sgd["doubled"]))


def test_nanmedians_match_numpy():
  rng = np.random.default_rng(1)
  rows = rng.normal(size=(6, 9))
  rows[rng.uniform(size=rows.shape) < 0.3] = np.nan
  rows[0] = np.nan
  want = [np.nan if np.isnan(r).all() else np.nanmedian(r) for r in rows]
  np.testing.assert_allclose(trace.nanmedians(jnp.asarray(rows)), want, rtol=1e-6)


def test_held_steps_counts_the_leading_run():
  assert trace.held_steps([1.0, 0.9, 0.6, 0.2, 0.9]) == 3
  assert trace.held_steps([0.4, 1.0]) == 0
  assert trace.held_steps([1.0, 1.0]) == 2
  assert trace.held_steps([1.0, np.nan, 1.0]) == 1  # a diverged step ends it


@pytest.mark.parametrize(
  "divergence, algorithm",
  [("rkl", 1), ("hellinger", 2), ("kl", 2), ("chi2", 1), ("neyman_chi2", 1)],
)
def test_clip_steps_with_a_constant_gradient_are_the_formula(divergence, algorithm):
  c = trace.clip_ceiling(divergence, algorithm)
  for g, ilr in ((0.0173, 1.0), (0.0173, 37.0), (0.3, 1e3), (2e-4, 1e5), (1.0, 1e6)):
    excess = g * ilr / math.sqrt(c)
    want = 0 if excess < 1 else math.ceil(math.log2(excess))
    assert trace.clip_steps_predicted(g, ilr, c) == want
    assert trace.clip_steps_simulated(divergence, algorithm, g, ilr) == want


def test_clip_steps_at_an_exact_power_of_two_count_the_binding_step():
  c = trace.clip_ceiling("rkl", 1)
  assert c == 2.0  # r^2 - r at r = 2
  g = math.sqrt(2.0)  # excess g * ILR / sqrt(2) = ILR: 8 is 2^3, so steps 0, 1, 2, 3 bind
  assert trace.clip_steps_predicted(g, 8.0, c) == 4
  assert trace.clip_steps_simulated("rkl", 1, g, 8.0) == 4


def test_rule_parts_and_groups():
  assert mechanisms_config.rule_parts("chi2_1") == ("chi2", 1)
  assert mechanisms_config.rule_parts("hellinger3") == ("hellinger", 3)
  assert mechanisms_config.rule_parts("adagrad_diag") == ("neyman_chi2", 1)
  groups = {v: mechanisms_config.group(v) for v in mechanisms.EMBEDDED.traced}
  assert groups["hellinger3_noclip"] == "lagged" and groups["rkl1"] == "clipped"
  assert groups["rkl1_noclip"] == "unclipped" and mechanisms_config.group("cocob") == "lr_free"


# ----------------------------------------------------------------------------- the loop


def make(label):
  """A rule (``_noclip``: without the growth clip) or SGD, L2 1e-4 in front."""
  if label == "sgd":
    return common.baseline_variant("sgd", 1e-4)
  rule = label.removesuffix("_noclip")
  return common.rule_variant(rule, clipped=rule == label, weight_decay=1e-4)


def first_steps(labels, ilrs, steps=1):
  makes = {lb: make(lb) for lb in labels}
  tracer = trace.Tracer(makes, 1e-4, epochs=1, batch_size=16, hidden=9, steps=steps)
  return tracer(ilrs, 0, tiny_data())


def test_beta_after_one_step_is_the_closed_form():
  ilrs = [1e-2, 1.0, 30.0, 1e12]
  out = first_steps(["rkl1_noclip", "hellinger2_noclip"], ilrs)
  for i, ilr in enumerate(ilrs):  # b1 has 9 entries: its median is one entry's
    b, g = 1 / ilr, out["rkl1_noclip"][0]["b1_g"][i, 0]
    rkl1 = (b + math.sqrt(b * b + 4 * g * g)) / 2  # docs/method.md, section 3
    assert out["rkl1_noclip"][0]["b1_beta"][i, 0] == pytest.approx(rkl1, rel=1e-5)
    c = (g / b) ** 2
    if c < 0.5:  # Algorithm 2 has a finite root: H2 = b / (1 - c)^2
      h2 = out["hellinger2_noclip"][0]["b1_beta"][i, 0]
      assert h2 == pytest.approx(b / (1 - c) ** 2, rel=1e-5)
  for label in ("rkl1_noclip", "hellinger2_noclip"):  # the limit: beta_1 = |g_0|
    for layer in trace.LAYERS:
      assert out[label][0][f"{layer}_beta_g"][-1, 0] == pytest.approx(1.0, rel=1e-3)


def test_algorithm_3_takes_the_sgd_step_first():
  ilrs = [1.0, 1e4]
  out = first_steps(["hellinger3_noclip", "hellinger2_noclip", "sgd"], ilrs, steps=2)
  lagged, sgd = out["hellinger3_noclip"][0], out["sgd"][0]
  for layer in trace.LAYERS:
    np.testing.assert_allclose(lagged[f"{layer}_lr"][:, 0], ilrs, rtol=1e-5)
  np.testing.assert_allclose(lagged["max_logit"][:, 1], sgd["max_logit"][:, 1], rtol=1e-5)
  assert out["hellinger2_noclip"][0]["W2_lr"][1, 0] < 1e4 / 2  # Algorithm 2 resets first


def test_the_loop_is_the_training_engine():
  ds, ilrs = tiny_data(), [0.1, 3.0]
  tracer = trace.Tracer({"r": make("rkl1_noclip")}, 1e-4, epochs=2, batch_size=16, hidden=9)
  rec, acc, dead = tracer(ilrs, 3, ds)["r"]
  trainer = Trainer(models.MLP(hidden=9), make("rkl1_noclip"), batch_size=16, epochs=2)
  for i, ilr in enumerate(ilrs):
    _, history = train.run(
      trainer, jnp.float32(ilr), jax.random.key(3), ds.x_train, ds.y_train, ds.x_test, ds.y_test
    )
    np.testing.assert_allclose(rec["loss"][i], np.ravel(history["step_loss"]), rtol=2e-5)
    assert acc[i] == pytest.approx(float(history["test_accuracy"][-1]))
  assert not dead.any()


def test_study_init_is_standard_normal():
  makes = {"sgd": make("sgd")}
  rec, _, _ = trace.Tracer(makes, 1e-4, epochs=1, batch_size=16, init="normal", steps=1)(
    [1e-9], 0, tiny_data()
  )["sgd"]
  assert rec["W1_w"][0, 0] == pytest.approx(math.sqrt(784 * 500), rel=0.01)


# ----------------------------------------------------------------------------- ablation


def test_ablation_names_the_change_that_moves_a_cell_most():
  rows = []
  for key, acc in (
    ("literal", 0.86),
    ("init", 0.10),
    ("guard", 0.86),
    ("shift", 0.85),
    ("counter", 0.86),
    ("warmup", 0.86),
  ):
    for rule, ilr in mechanisms_ablation.CELLS:
      rows.append({"change": key, "rule": rule, "ilr": ilr, "test_accuracy": acc})
  decided = mechanisms_ablation.deciders(rows)
  assert decided[("rkl1", 0.1)] == ("init", pytest.approx(-76.0))


# ----------------------------------------------------------------------------- end to end


def _section(report: str) -> str:
  return report.split(f"## 7. {mechanisms.TITLE}")[1].split("\n## ")[0]


def _table(text: str, heading: str) -> list[list[str]]:
  """The data rows of the first Markdown table at or after ``heading``."""
  lines = text.split(heading, 1)[1].splitlines()
  start = next(i for i, line in enumerate(lines) if line.startswith("|"))
  start += 1 if lines[start].startswith("|---") else 2  # the heading was the table's header
  rows = []
  for line in lines[start:]:
    if not line.startswith("|"):
      break
    rows.append([c.strip() for c in line.strip("|").split("|")])
  return rows


@pytest.mark.slow
def test_the_section_prints_the_numbers_of_its_csvs(tmp_path):
  out = tmp_path / "run"
  env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
  subprocess.run(
    [
      sys.executable,
      "-m",
      "experiments",
      "--only",
      "mechanisms",
      "--epochs",
      "1",
      "--seeds",
      "0",
      "--out",
      str(out),
      "--no-progress",
    ],
    cwd=ROOT,
    env=env,
    check=True,
    capture_output=True,
    timeout=1500,
  )
  check_section_against_csvs(out)


def check_section_against_csvs(out):
  """Every number the section prints that these checks read is the one in its CSVs."""
  folder = out / "mechanisms"
  report = (out / "REPORT.md").read_text()
  text = _section(report)
  for png in folder.glob("*.png"):
    assert f"](mechanisms/{png.name})" in text
  verdicts = _table(text, "| hypothesis | verdict |")
  assert len(verdicts) == 5 and all(
    v[1] in ("supported", "partly supported", "not supported") for v in verdicts
  )
  first = files.read_csv(folder / "first_step.csv")
  g0 = {r["layer"]: r["g0"] for r in first}
  for layer, shown, _ in _table(text, "Median |g_0| per layer"):
    assert shown == md.fmt(g0[layer])
  ablation = files.read_csv(folder / "ablation.csv")
  labels = {k: lb for k, lb, _ in (*mechanisms_ablation.CHANGES, *mechanisms_ablation.LIBRARY)}
  for cells in _table(text, "### 5. The study's gap"):
    key = next(k for k, lb in labels.items() if lb == cells[0])
    for (rule, ilr), cell in zip(mechanisms_ablation.CELLS, cells[1:]):
      row = next(
        r
        for r in ablation
        if r["change"] == key and r["rule"] == rule and np.isclose(r["ilr"], ilr)
      )
      assert cell == md.pct(row["test_accuracy"]) + (" (NaN)" if row["nan"] else "")
  runs = files.read_csv(folder / "runs.csv")
  valley = float(re.search(r"at the valley \(ILR ([0-9.e+]+),", text).group(1))
  accs = _table(text, "steps counted from 1:")[-1]
  rkl1 = [
    r["test_accuracy"]
    for r in runs
    if r["variant"] == "rkl1_noclip" and f"{r['ilr']:.3g}" == f"{valley:.3g}"
  ]
  assert accs[1].split(";")[0] == md.pct(np.mean(rkl1))
  for cells in _table(text, "/ measured (seed 0)"):
    run = next(r for r in runs if r["variant"] == cells[0] and f"{r['ilr']:.3g}" == cells[1])
    for layer, cell in zip(trace.LAYERS, cells[2:6]):
      predicted = trace.clip_steps_predicted(run[f"{layer}_g0"], run["ilr"], run["clip_c"])
      assert cell.split(" (")[0] == f"{predicted} / {run[f'{layer}_held']}"
  findings = {f["key"]: f for f in files.read_json(out / "findings.json")["findings"]}
  for r in ablation:
    key = f"mechanisms/ablation/{r['change']}/{r['rule']}@{r['ilr']:g}"
    assert findings[key]["value"] == pytest.approx(r["test_accuracy"])
  assert findings["mechanisms/g0_W2"]["value"] == pytest.approx(g0["W2"])


def test_norm_does_not_overflow_where_the_weights_do_not():
  big = jnp.full(4, 1e30, jnp.float32)
  assert float(trace.norm(big)) == pytest.approx(2e30, rel=1e-6)
  assert float(trace.norm(jnp.zeros(3))) == 0.0
