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
  cells = [k.split("/")[-1] for k in EMBEDDED if k.startswith("study_setting/nan_as_written/")]
  broke = [c for c in cells if value(f"study_setting/nan_as_written/{c}", EMBEDDED)]
  assert broke == ["rkl2@0.1"] and value("study_setting/nan_fixed_by/rkl2@0.1/guarded", EMBEDDED)
  fixed_by = [
    k.split("/")[-1]
    for k in EMBEDDED
    if k.startswith("study_setting/nan_fixed_by/rkl2@0.1/") and value(k, EMBEDDED)
  ]
  assert fixed_by == ["guarded"], fixed_by
  return [
    f"goes non-finite in {len(broke)} of its {len(cells)} NaN cells as written",
    "the library's guard alone keeps it finite",
    "RKL2's at ILR 0.1 is its unguarded formula",
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
  ratio = value("convergence/step_size_vs_gd@0.01", EMBEDDED)
  assert abs(ratio - 1) < 0.005  # within 0.5% of GD's: the setting cannot show a speed-up
  return [
    f"its mean step size over the run stays at {ratio:.3f} times GD's",
    f"{value('convergence/faster_than_gd@0.03', EMBEDDED):g} of 12 rules reaches 90% sooner than "
    f"GD in every seed at 3e-2 ({value('convergence/faster_than_sgd_same_lr@0.03', EMBEDDED):g} "
    f"also sooner than SGD at 3e-2 itself) and {value('convergence/faster_than_gd@0.1', EMBEDDED):g}"
    " at 1e-1",
    "no rule reaches 97% test accuracy in fewer steps than plain GD in every seed (embedded: "
    f"90%); {value('convergence/rules_sooner_in_some_seed'):g} did in one of the two seeds, by "
    f"one epoch, and all end at {100 * min(finals):.1f}-{100 * max(finals):.1f}% (GD "
    f"{100 * value('convergence/gd/final_test_accuracy'):.1f}%)",
    f"GD converges in {value('linear_regression/gd/iterations_to_tolerance'):g} iterations",
  ]


def _study_numbers():
  within, compared = (
    value(f"study_setting/{k}/code", EMBEDDED) for k in ("within_spread", "compared")
  )
  assert compared == 48
  return [
    f"does not: {within:g} of {compared:g} lie within the spread of the study's code there",
    "the same steps as its code to 1e-9 over 200 steps, tested",
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
