"""The findings of README.md and of its findings page, docs/reproduction.md, quote the
committed reference runs: every number there is theirs.

The numbers are read from the ``findings.json`` of the full-scale run
(``results/full-mnist-cpu``, written by ``python -m experiments --full``) and of the embedded
run (``results/embedded-cpu``), so regenerating either without updating the text fails
here. The text states the full-scale findings and, where a number changed, the embedded
one beside it; the README sums them up and docs/reproduction.md ("What it found") gives them
in full, so the quotes are looked for in the two joined.
"""

import json
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
FINDINGS_FILES = ("README.md", "docs/reproduction.md")
README = " ".join(" ".join((ROOT / name).read_text().split()) for name in FINDINGS_FILES)


def _load(folder):
  run = json.loads((ROOT / "results" / folder / "findings.json").read_text())
  return run, {f["key"]: f["value"] for f in run["findings"]}


FULL_RUN, FULL = _load("full-mnist-cpu")
EMBEDDED_RUN, EMBEDDED = _load("embedded-cpu")


def value(key, run=FULL):
  assert key in run, f"the reference run has no finding {key!r}"
  return run[key]


def _rule_variants(run):
  return [
    k.split("/")[1]
    for k in run
    if k.startswith("ilr_sensitivity/")
    and k.endswith("/width_1pt")
    and k.split("/")[1] not in ("sgd", "adagrad", "adam")
  ]


def _robustness():
  rules = _rule_variants(FULL)
  widths = sorted((value(f"ilr_sensitivity/{v}/width_1pt"), v) for v in rules)
  (widest, name), runner_up = widths[-1], widths[-2][0]
  assert name == "hellinger2_noclip", name
  rows = (ROOT / "results/full-mnist-cpu/ilr_sensitivity/robustness.csv").read_text()
  assert "\nhellinger2_noclip,unclipped,0.9593,0,10000,2,100-1e+04," in rows
  best_rule = max(value(f"ilr_sensitivity/{v}/best_test_accuracy") for v in rules)
  return [
    f"unclipped Hellinger-2 holds for {widest:g} decades (ILR 100 to 10^4)",
    f"every other rule for {runner_up:g} or less",
    f"SGD {value('ilr_sensitivity/sgd/width_1pt'):g}, Adam "
    f"{value('ilr_sensitivity/adam/width_1pt'):g} and AdaGrad "
    f"{value('ilr_sensitivity/adagrad/width_1pt'):g}",
    f"the best rule reaches {100 * best_rule:.1f}% against AdaGrad's "
    f"{100 * value('ilr_sensitivity/adagrad/best_test_accuracy'):.1f}%",
    f"every rule held for {value('ilr_sensitivity/rules_max_width_1pt', EMBEDDED):g} decades",
  ]


def _beta_hardly_moves():
  assert min(value("ilr_sensitivity/lr_drift_min", run) for run in (FULL, EMBEDDED)) >= 0.998
  return ["within 0.2% of the ILR, at both scales"]


def _clip():
  full = (value("ilr_sensitivity/clip_worse"), value("ilr_sensitivity/clip_better"))
  embedded = [value(f"ilr_sensitivity/clip_{k}", EMBEDDED) for k in ("worse", "better")]
  return [
    f"worse than the unclipped one in {full[0]:g} (rule, ILR) pairs and better in {full[1]:g} "
    f"(embedded: {embedded[0]:g} and {embedded[1]:g})"
  ]


def _no_divergence():
  assert value("ilr_sensitivity/diverged_variants") == 0
  assert value("ilr_sensitivity/diverged_variants", EMBEDDED) == 0
  return ["No run of the sweep went non-finite at either scale"]


def _nans():
  return [
    f"NaNs in {value('study_setting/numpy_nan_runs'):g} of {value('study_setting/numpy_runs'):g}"
    " runs",
    f"{value('study_setting/jax_nonfinite_runs'):g} of {value('study_setting/jax_runs'):g} runs "
    f"at the study's scale ({value('study_setting/jax_nonfinite_runs', EMBEDDED):g} of "
    f"{value('study_setting/jax_runs', EMBEDDED):g} embedded)",
  ]


def _speed():
  assert value("convergence/rules_faster_than_gd") == 0
  assert value("convergence/rules_faster_than_gd", EMBEDDED) == 0
  steps = (ROOT / "results/full-mnist-cpu/convergence/steps_to_target.csv").read_text()
  by_seed = {}
  for line in steps.splitlines()[1:]:
    variant, seed, _, to97 = line.split(",")[:4]
    by_seed.setdefault(variant, {})[seed] = int(to97)
  gd = by_seed.pop("gd")
  rules = {v: s for v, s in by_seed.items() if not v.endswith("_study_init")}
  sooner = [v for v, s in rules.items() if any(s[k] < gd[k] for k in gd)]
  assert len(sooner) == value("convergence/rules_sooner_in_some_seed")
  assert all(by_seed[v]["1"] == gd["1"] - 468 and by_seed[v]["0"] == gd["0"] for v in sooner)
  finals = [
    value(f"convergence/{v}/final_test_accuracy")
    for v in FULL_RUN["settings"]["convergence"]["settings"]["rules"]
  ]
  return [
    "no rule reaches 97% test accuracy in fewer steps than plain GD in every seed (embedded: "
    f"90%); {value('convergence/rules_sooner_in_some_seed'):g} did in one of the two seeds, by "
    f"one epoch, and all end at {100 * min(finals):.1f}-{100 * max(finals):.1f}% (GD "
    f"{100 * value('convergence/gd/final_test_accuracy'):.1f}%)",
    f"GD converges in {value('linear_regression/gd/iterations_to_tolerance'):g} iterations",
  ]


def _loss_at_40(variant):
  curves = (ROOT / "results/full-mnist-cpu/convergence/curves.csv").read_text().splitlines()
  columns = curves[0].split(",")
  rows = [dict(zip(columns, line.split(","))) for line in curves[1:]]
  losses = [float(r["train_loss"]) for r in rows if r["variant"] == variant and r["epoch"] == "40"]
  return sum(losses) / len(losses)


def _study_numbers():
  from experiments.study import CURVES as REPORTED

  gd, rkl1 = (value(f"convergence/{v}/final_test_accuracy") for v in ("gd", "rkl1"))
  ours = {v: f"{_loss_at_40(v):.2g}" for v in ("gd", "rkl1")}
  theirs = {v: (f"{REPORTED[v][2]:.2g}", f"{100 * REPORTED[v][3]:.1f}") for v in ("gd", "rkl1")}
  gd_init, rkl1_init = (
    value(f"convergence/{v}_study_init/final_test_accuracy") for v in ("gd", "rkl1")
  )
  return [
    f"(GD {100 * gd_init:.1f}%, RKL1 {100 * rkl1_init:.1f}%)",
    f"{value('study_setting/study_numbers_agreeing'):g} of the 24 numbers of the study's table "
    f"and {value('convergence/study_numbers_agreeing'):g} of the 24 of its curves agree",
    f"(after 40 epochs GD {ours['gd']} and {100 * gd:.1f}%, RKL1 {ours['rkl1']} and "
    f"{100 * rkl1:.1f}%; the study: GD {theirs['gd'][0]} and {theirs['gd'][1]}%, RKL1 "
    f"{theirs['rkl1'][0]} and {theirs['rkl1'][1]}%)",
    f"{value('convergence/study_numbers_agreeing_study_init'):g} of the 8 numbers of GD and "
    "RKL1 agree",
  ]


def _why():
  verdicts = {1.0: "supported", 0.5: "partly supported", 0.0: "not supported"}
  return [
    "; ".join(
      f"{'hypothesis ' if i == 1 else ''}{i} "
      + verdicts[value(f"mechanisms/h{i}_supported", EMBEDDED)]
      for i in range(1, 6)
    )
  ]


def _wall_time():
  full = FULL_RUN["timing"]
  embedded = EMBEDDED_RUN["timing"]
  return [
    f"took {sum(t['wall_s'] for t in full.values()) / 60:.0f} minutes",
    f"{sum(t['cpu_s'] for t in full.values()) / 60:.0f} CPU-minutes",
    f"reference run took {sum(t['wall_s'] for t in embedded.values()) / 60:.1f} minutes",
    f"{embedded['ilr_sensitivity']['wall_s'] / 60:.1f} minutes); the VGG smoke run takes "
    f"{embedded['vgg_cifar']['wall_s'] / 60:.1f}",
  ]


QUOTES = {
  "robustness widths": _robustness,
  "beta hardly moves": _beta_hardly_moves,
  "the clip": _clip,
  "no divergence": _no_divergence,
  "the study's code and the guarded rules": _nans,
  "no speed-up": _speed,
  "the study's numbers": _study_numbers,
  "why": _why,
  "wall times": _wall_time,
}


@pytest.mark.parametrize("name", QUOTES)
def test_readme_findings_are_the_reference_runs(name):
  for quote in QUOTES[name]():
    assert quote in README, f"README.md or docs/reproduction.md should say {quote!r} ({name})"
