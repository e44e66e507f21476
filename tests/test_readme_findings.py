"""The README's findings quote the committed reference report: every number there is the report's.

The numbers are read from ``results/embedded-cpu/REPORT.md`` (written by ``python -m
experiments``), so re-running the reproduction without updating the README fails here.
"""

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = " ".join((ROOT / "README.md").read_text().split())
REPORT = (ROOT / "results" / "embedded-cpu" / "REPORT.md").read_text()


def report_numbers(pattern: str) -> tuple[str, ...]:
  """The groups of ``pattern``'s one match in the report."""
  found = re.search(pattern, REPORT)
  assert found, f"the reference report no longer says {pattern!r}"
  return found.groups()


# (what the report says, as a regex, -> what the README must then say)
QUOTES = [
  (
    r"1-point width: rules 0\.00-([\d.]+) decades.*?sgd ([\d.]+), adagrad ([\d.]+), adam ([\d.]+);",
    lambda rules, sgd, adagrad, adam: (
      f"every rule holds for {float(rules):g} decades",
      f"as does SGD, against {adagrad} for AdaGrad and Adam" if adagrad == adam else "",
    ),
  ),
  (
    r"5-point width: rules [\d.]+-([\d.]+) decades \(widest hellinger2_noclip\)",
    lambda widest: (
      f"Hellinger-2 stays within 5 points of its best over {float(widest):g} decades",
    ),
  ),
  (
    r"the clip is better in (\d+), worse in (\d+)",
    lambda better, worse: (f"in {worse} (rule, ILR) pairs and better in {better}",),
  ),
  (
    r"(\d+) clipped and (\d+) unclipped variants diverged",
    lambda a, b: ("No run of the sweep went non-finite",) if a == b == "0" else ("",),
  ),
  (
    r"is ([\d.]+)-([\d.]+)% of the ILR",
    lambda low, high: ("within 0.1% of the ILR",) if 100 - float(low) <= 0.1 else ("",),
  ),
  (r"NaNs in (\d+) of (\d+) runs", lambda n, of: (f"NaNs in {n} of {of} runs",)),
  (r"(\d+) of (\d+) runs went non-finite", lambda n, of: (f"{n} of {of} runs in the study",)),
  (
    r"(\d+) of 12 rules reach 90% faster than GD",
    lambda n: ("no rule reaches",) if n == "0" else ("",),
  ),
  (r"iterations to 0\.001: GD (\d+)", lambda gd: (f"GD converges in {gd} iterations",)),
  (
    r"Wall time:\*\* ([\d.]+) min in all \(ilr_sensitivity (\d+) s.*vgg_cifar (\d+) s",
    lambda total, ilr, vgg: (
      f"reference run took {total} minutes on an idle 2-core CPU",
      f"{int(ilr) / 60:.1f} minutes); the VGG smoke run takes {int(vgg) / 60:.1f}",
    ),
  ),
]


@pytest.mark.parametrize("pattern, readme", QUOTES, ids=[q[0][:40] for q in QUOTES])
def test_readme_findings_are_the_reference_reports(pattern, readme):
  for quote in readme(*report_numbers(pattern)):
    assert quote and quote in README, f"README should say {quote!r} (the report: {pattern!r})"
