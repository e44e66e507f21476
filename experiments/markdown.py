"""What a report section is made of: Markdown tables, figures, claims and findings.

Each experiment's ``section`` returns a :class:`Section`: its Markdown text, its rows of the
claims table (:class:`Claim`) and its headline numbers (:class:`Finding`), which the report
writes as data (``findings.json``) and compares with the committed reference run.
"""

from __future__ import annotations

import dataclasses
import math
import pathlib

import numpy as np

HOLDS, FAILS, PARTLY, UNTESTED = "holds", "does not hold", "partly", "not tested here"


@dataclasses.dataclass(frozen=True)
class Claim:
  """One row of the claims table: a claim of the paper or the study beside our measurement.

  Attributes:
    source: where the claim is made (the paper or the study, section, figure or table).
    said: what was said or reported.
    measured: what this run measured.
    verdict: ``HOLDS``, ``FAILS``, ``PARTLY`` or ``UNTESTED``.
    why: the setup differences that matter for the comparison.
  """

  source: str
  said: str
  measured: str
  verdict: str
  why: str


@dataclasses.dataclass(frozen=True)
class Finding:
  """A headline number of a run, as data.

  Attributes:
    key: a stable name, ``"<experiment>/<quantity>"``.
    label: what it is, for a table row.
    value: the number (a mean over seeds where there are several).
    spread: max - min over seeds (0 for a single seed or a deterministic number).
  """

  key: str
  label: str
  value: float
  spread: float = 0.0


@dataclasses.dataclass(frozen=True)
class Section:
  """An experiment's part of the report."""

  text: str
  claims: list[Claim]
  findings: list[Finding]


def finding(key, label, values) -> Finding:
  """A :class:`Finding` of the per-seed ``values`` (NaN ignored): their mean and range."""
  values = np.asarray(values, float).ravel()
  finite = values[np.isfinite(values)]
  if finite.size == 0:
    return Finding(key, label, float("nan"), 0.0)
  return Finding(key, label, float(finite.mean()), float(finite.max() - finite.min()))


def fmt(x, digits=3) -> str:
  if x is None or (isinstance(x, float) and math.isnan(x)):
    return "n/a"
  if isinstance(x, float):
    return f"{x:.{digits}g}"
  return str(x)


def pct(x) -> str:
  return "n/a" if x is None or not np.isfinite(x) else f"{100 * x:.1f}"


def table(header: list[str], rows: list[list]) -> str:
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  lines += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in rows]
  return "\n".join(lines)


def figure(folder: pathlib.Path, path: pathlib.Path, caption: str) -> str:
  """A figure of the report, linked relative to the run folder (``folder`` is an experiment's)."""
  rel = pathlib.Path(folder.name, path.relative_to(folder)).as_posix()
  return f"![{path.stem}]({rel})\n\n*{caption}*\n"


def mean(rows, key) -> float:
  """The mean of ``row[key]`` over ``rows``, finite values only (NaN when there are none)."""
  vals = [r[key] for r in rows if np.isfinite(r[key])]
  return float(np.mean(vals)) if vals else float("nan")


def plural(n: int, noun: str) -> str:
  """``"1 epoch"``, ``"2 epochs"``."""
  return f"{n} {noun}" + ("" if n == 1 else "s")


#: When a number of ours agrees with one the study reported: the rule is fixed here, before any
#: result is read, and every section that sets our numbers beside the study's applies it.
AGREEMENT_RULE = (
  "a test accuracy agrees when it is within 0.5 points of the study's, a training loss when "
  "it is within a factor of 1.5 of the study's, and a NaN of the study when a run went "
  "non-finite here; ours is the mean over the seeds whose runs stayed finite"
)


def agreement(kind: str, theirs, ours: list[float], nonfinite: list[bool]) -> str:
  """``"agrees"`` or ``"differs"``: our per-seed values beside the study's number (``None``:
  the study's NaN) under :data:`AGREEMENT_RULE`; ``kind`` is ``"accuracy"`` or ``"loss"``."""
  if theirs is None:
    return "agrees" if any(nonfinite) else "differs"
  finite = [v for v, bad in zip(ours, nonfinite) if not bad and np.isfinite(v)]
  if not finite:
    return "differs"
  value = float(np.mean(finite))
  if kind == "accuracy":
    ok = abs(value - theirs) <= 0.005
  else:
    ok = value > 0 and max(value / theirs, theirs / value) <= 1.5
  return "agrees" if ok else "differs"


def agreement_table(rows: list[tuple]) -> tuple[str, int, int]:
  """A table of (quantity, kind, study's number, our per-seed values, non-finite flags) with
  each verdict; how many agree; how many there are."""
  cells, agree = [], 0
  for label, kind, theirs, ours, nonfinite in rows:
    verdict = agreement(kind, theirs, ours, nonfinite)
    agree += verdict == "agrees"
    show = pct if kind == "accuracy" else fmt
    finite = [v for v, bad in zip(ours, nonfinite) if not bad]
    mine = show(float(np.mean(finite))) if finite else "n/a"
    if any(nonfinite):
      mine += f" ({sum(nonfinite)}/{len(nonfinite)} non-finite)"
    cells.append([label, "NaN" if theirs is None else show(theirs), mine, verdict])
  header = ["quantity", "study", "ours", "verdict"]
  return table(header, cells), agree, len(cells)
