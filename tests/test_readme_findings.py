"""The README's findings quote the committed reference run: every number there is its own.

The numbers are read from ``results/embedded-cpu/findings.json`` (written with the report by
``python -m experiments --out results/embedded-cpu``), so regenerating the reference run
without updating the README fails here.
"""

import json
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = " ".join((ROOT / "README.md").read_text().split())
RUN = json.loads((ROOT / "results" / "embedded-cpu" / "findings.json").read_text())
FINDINGS = {f["key"]: f["value"] for f in RUN["findings"]}
RULE_VARIANTS = [
  k.split("/")[1]
  for k in FINDINGS
  if k.startswith("ilr_sensitivity/")
  and k.endswith("/width_5pt")
  and k.split("/")[1] not in ("sgd", "adagrad", "adam")
]


def value(key):
  assert key in FINDINGS, f"the reference run has no finding {key!r}"
  return FINDINGS[key]


def _widths():
  widest = max(RULE_VARIANTS, key=lambda v: value(f"ilr_sensitivity/{v}/width_5pt"))
  adagrad, adam = (value(f"ilr_sensitivity/{v}/width_1pt") for v in ("adagrad", "adam"))
  quotes = [
    f"every rule holds for {value('ilr_sensitivity/rules_max_width_1pt'):g} decades",
    f"unclipped Hellinger-2 stays within 5 points of its best over "
    f"{value('ilr_sensitivity/rules_max_width_5pt'):g} decades",
  ]
  assert widest == "hellinger2_noclip", widest
  if value("ilr_sensitivity/sgd/width_1pt") == value("ilr_sensitivity/rules_max_width_1pt"):
    quotes.append("as does SGD")
  assert f"{adagrad:.2g}" == f"{adam:.2g}"
  return quotes + [f"against {adagrad:.2g} for AdaGrad and Adam"]


QUOTES = {
  "robustness widths": _widths,
  "the clip": lambda: [
    f"worse than the unclipped one in {value('ilr_sensitivity/clip_worse'):g} (rule, ILR) "
    f"pairs and better in {value('ilr_sensitivity/clip_better'):g}"
  ],
  "no divergence": lambda: (
    ["No run of the sweep went non-finite"]
    if value("ilr_sensitivity/diverged_variants") == 0
    else ["(the README must say which)"]
  ),
  "beta hardly moves": lambda: (
    ["within 0.2% of the ILR"]
    if value("ilr_sensitivity/lr_drift_min") >= 0.998
    else ["(the README must say how far)"]
  ),
  "the study's code": lambda: [
    f"NaNs in {value('study_setting/numpy_nan_runs'):g} of {value('study_setting/numpy_runs'):g} runs"
  ],
  "the guarded rules": lambda: [
    f"{value('study_setting/jax_nonfinite_runs'):g} of {value('study_setting/jax_runs'):g} runs "
    "in the study's own units"
  ],
  "no speed-up": lambda: (
    ["no rule reaches"]
    if value("convergence/rules_faster_than_gd") == 0
    else ["(the README must say which)"]
  ),
  "linear regression": lambda: [
    f"GD converges in {value('linear_regression/gd/iterations_to_tolerance'):g} iterations"
  ],
  "why": lambda: [
    "; ".join(
      f"{'hypothesis ' if i == 1 else ''}{i} "
      + {1.0: "supported", 0.5: "partly supported", 0.0: "not supported"}[
        value(f"mechanisms/h{i}_supported")
      ]
      for i in range(1, 6)
    )
  ],
  "wall time": lambda: [
    f"reference run took {sum(t['wall_s'] for t in RUN['timing'].values()) / 60:.1f} minutes",
    f"{RUN['timing']['ilr_sensitivity']['wall_s'] / 60:.1f} minutes); the VGG smoke run takes "
    f"{RUN['timing']['vgg_cifar']['wall_s'] / 60:.1f}",
  ],
}


@pytest.mark.parametrize("name", QUOTES)
def test_readme_findings_are_the_reference_runs(name):
  for quote in QUOTES[name]():
    assert quote in README, f"README should say {quote!r} ({name})"
