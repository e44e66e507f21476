"""Experiment 2's report section: every number of the study in four columns, with verdicts under
the calibrated rule, and the study's NaNs explained by measurement."""

from __future__ import annotations

import numpy as np

from experiments import files, study
from experiments import markdown as md
from experiments.study_setting import runs, verdicts
from experiments.study_setting.config import CLAIMS, COLUMN_LABELS, NAME, Settings

#: The quantities of the study's table: (rule, kind, index in ``study.TABLE``'s tuples).
TABLE_QUANTITIES = (
  ("rkl1", "loss", 0),
  ("rkl1", "accuracy", 1),
  ("rkl2", "loss", 2),
  ("rkl3", "loss", 3),
)


def numbers(s: Settings) -> list[dict]:
  """Every number of the study's table and curves this run can set beside its own: its
  label, rule, ILR, kind, epoch (the run's, the last where the study's is later) and value."""
  out = []
  for rule, kind, idx in TABLE_QUANTITIES:
    if rule not in s.rules:
      continue
    for ilr in s.ilrs:
      out.append(
        dict(
          label=f"table: {rule} {kind}, ILR {ilr:g}",
          rule=rule,
          ilr=ilr,
          kind=kind,
          study_epoch=40,
          epoch=s.epochs,
          value=study.TABLE[ilr][idx],
        )
      )
  for rule, values in study.CURVES.items():
    if rule != "gd" and rule not in s.curve_rules:
      continue
    marks = [(e, "loss", v) for e, v in zip(study.CURVE_EPOCHS, values[:3])]
    for epoch, kind, value in [*marks, (40, "accuracy", values[3])]:
      out.append(
        dict(
          label=f"curve: {rule} {kind}, epoch {epoch}",
          rule=rule,
          ilr=s.curve_ilr,
          kind=kind,
          study_epoch=epoch,
          epoch=min(epoch, s.epochs),
          value=value,
        )
      )
  return out


def cell_rows(rows, column, rule, ilr, epoch) -> list[dict]:
  """A column's rows of one cell at one epoch, one a seed, in seed order."""
  picked = [
    r
    for r in rows
    if r["column"] == column and r["rule"] == rule and r["ilr"] == ilr and r["epoch"] == epoch
  ]
  return sorted(picked, key=lambda r: r["seed"])


def per_seed(rows, column, rule, ilr, epoch, kind) -> list[float]:
  """A column's per-seed values of one number (NaN where the run went non-finite)."""
  key = "train_loss" if kind == "loss" else "test_accuracy"
  return [
    float("nan") if r["diverged"] else r[key] for r in cell_rows(rows, column, rule, ilr, epoch)
  ]


def calibration(rows, s: Settings) -> dict:
  """``{(kind, epoch): sigma_cal}``: the pooled seed spread of the calibration cells, in the
  study's code and the library in its setup (the columns that are the study's setup)."""
  out = {}
  for kind in ("loss", "accuracy"):
    for epoch in sorted({r["epoch"] for r in rows}):
      groups = [
        per_seed(rows, column, rule, s.curve_ilr, epoch, kind)
        for column in ("code", "setup")
        if column in s.columns
        for rule in s.calibration_rules
      ]
      out[(kind, epoch)] = verdicts.pooled_sd(groups, kind)
  return out


def _show(kind, values) -> str:
  v = np.asarray(values, float)
  finite = v[np.isfinite(v)]
  if finite.size == 0:
    return f"NaN ({v.size}/{v.size} non-finite)"
  show = md.pct if kind == "accuracy" else md.fmt
  text = show(float(finite.mean()))
  if finite.size > 1:
    spread = 100 * np.std(finite, ddof=1) if kind == "accuracy" else np.std(finite, ddof=1)
    text += f" ± {md.fmt(float(spread), 2)}"
  if finite.size < v.size:
    text += f" ({v.size - finite.size}/{v.size} non-finite)"
  return text


def warm_up_only(s: Settings, num_train: int, ilr: float) -> bool:
  """Whether the study's warm-up lasts the whole run at this ILR (then a rule took only the
  warm-up's GD steps: its numbers are GD's)."""
  return study.warms_up(ilr) and s.epochs * (num_train // s.batch_size) <= study.WARMUP_STEPS


def verdict_rows(rows, s: Settings, num_train: int):
  """Per study number: the cells of the four-column table, and each column's verdict."""
  sigma = calibration(rows, s)
  table, verdict_of = [], []
  for n in numbers(s):
    cells = [n["label"], _study(n)]
    mine = {}
    for column in s.columns:
      values = per_seed(rows, column, n["rule"], n["ilr"], n["epoch"], n["kind"])
      if not values:
        cells += ["not run", ""]
        continue
      mine[column] = verdicts.verdict(n["kind"], n["value"], values, sigma[(n["kind"], n["epoch"])])
      cells += [_show(n["kind"], values), mine[column]]
    notes = []
    if n["epoch"] != n["study_epoch"]:
      notes.append(f"epoch {n['epoch']} here")
    if n["rule"] != "gd" and warm_up_only(s, num_train, n["ilr"]):
      notes.append("warm-up only = GD here")
    if n["rule"] in study.DELIBERATE:
      notes.append(f"library {study.DELIBERATE[n['rule']]}")
    if n["rule"] == "rkl3":
      notes.append("code column: its RKL2's runs")
    notes += [
      f"{COLUMN_LABELS[c]}: its non-finite seeds print {_study(n)}%, the study's number "
      "(NaN weights predict class 0 for every image)"
      for c in nonfinite_printing(rows, s, n)
    ]
    cells.append("; ".join(notes))
    table.append(cells)
    verdict_of.append((n, mine))
  return table, verdict_of, sigma


def nonfinite_printing(rows, s: Settings, n) -> list[str]:
  """The columns whose non-finite seeds printed the study's (finite) accuracy, to its 0.1
  point: the rule counts those seeds as NaN, but a run with NaN weights still prints one."""
  if n["kind"] != "accuracy" or n["value"] is None:
    return []
  return [
    column
    for column in s.columns
    if any(
      r["diverged"] and abs(100 * (r["test_accuracy"] - n["value"])) <= 0.05 + 1e-9
      for r in cell_rows(rows, column, n["rule"], n["ilr"], n["epoch"])
    )
  ]


def _study(n) -> str:
  if n["value"] is None:
    return "NaN"
  return md.pct(n["value"]) if n["kind"] == "accuracy" else md.fmt(n["value"])


def settings_matching(rows, s: Settings, n, sigma) -> list[str]:
  """Which (column, rule) at the number's ILR and epoch would have produced it: those whose
  spread holds it, and the columns whose non-finite seeds printed it."""
  found = [
    f"{n['rule']} ({COLUMN_LABELS[c]}, as printed by its non-finite seeds)"
    for c in nonfinite_printing(rows, s, n)
  ]
  for column in s.columns:
    for rule in sorted({r["rule"] for r in rows if r["ilr"] == n["ilr"]}):
      values = per_seed(rows, column, rule, n["ilr"], n["epoch"], n["kind"])
      if values and verdicts.verdict(n["kind"], n["value"], values, sigma) == verdicts.WITHIN:
        found.append(f"{rule} ({COLUMN_LABELS[column]})")
  return found


def _step(step: int, steps_per_epoch: int) -> str:
  """A 0-based global step, with the study's counter (``batch + 1000 * epoch``) beside it."""
  if step < 0:
    return "never"
  epoch, batch = divmod(step, steps_per_epoch)
  counter = batch + 1000 * epoch
  return f"{step}" if counter == step else f"{step} (its counter {counter})"


def broke_first(r, steps_per_epoch: int) -> str:
  """What went wrong first in a run of the study's code, and at which step."""
  events = [
    (r["first_overflow"], "a logit above exp's float64 range (~709)"),
    (r["first_bad_grad"], "a non-finite gradient"),
    (r["first_negative_beta"], "a negative beta"),
    (r["first_bad_weights"], "non-finite weights"),
  ]
  if r["first_bad_beta"] != r["first_negative_beta"]:
    events.append((r["first_bad_beta"], "a non-finite beta"))
  events = [(step, what) for step, what in events if step >= 0]
  if not events:
    if r["first_bad_loss_epoch"] > 0:
      return f"only the reported loss (epoch {r['first_bad_loss_epoch']})"
    return "nothing"
  first = min(step for step, _ in events)
  return (
    " and ".join(w for step, w in events if step == first)
    + f" at step {_step(first, steps_per_epoch)}"
  )


def _broke(r) -> bool:
  return r["first_bad_weights"] >= 0 or r["first_bad_loss_epoch"] > 0


def nan_rows(nans, steps_per_epoch: int):
  """The NaN table's rows, and per cell the changes that keep it finite."""
  table, causes = [], {}
  for r in nans:
    table.append(
      [
        f"{r['rule']} at ILR {r['ilr']:g}",
        runs.NAN_SWITCHES[r["change"]][0],
        _step(r["first_negative_beta"], steps_per_epoch),
        _step(r["first_overflow"], steps_per_epoch),
        _step(r["first_bad_weights"], steps_per_epoch),
        "never" if r["first_bad_loss_epoch"] < 0 else str(r["first_bad_loss_epoch"]),
        md.pct(r["test_accuracy"]),
        broke_first(r, steps_per_epoch),
      ]
    )
    cell = (r["rule"], r["ilr"])
    literal = next(x for x in nans if (x["rule"], x["ilr"]) == cell and x["change"] == "literal")
    if not _broke(literal):
      causes[cell] = None  # finite as written, here
    elif r["change"] != "literal" and not _broke(r):
      causes.setdefault(cell, []).append(r["change"])
    causes.setdefault(cell, [])
  return table, causes


def _cause_text(cell, changes) -> str:
  rule, ilr = cell
  if changes is None:
    return f"{rule} at ILR {ilr:g}: finite as written here"
  if not changes:
    return f"{rule} at ILR {ilr:g}: no single change"
  return f"{rule} at ILR {ilr:g}: " + ", ".join(runs.NAN_SWITCHES[c][0] for c in changes)


def section(folder, s: Settings, data: dict) -> md.Section:
  """The report's section: the four-column table with verdicts, the calibration it rests on,
  and the study's NaNs."""
  rows = files.read_csv(folder / "runs.csv")
  nans = files.read_csv(folder / "nans.csv")
  steps_per_epoch = data["num_train"] // s.batch_size
  table, verdict_of, sigma = verdict_rows(rows, s, data["num_train"])
  cal_seeds = ", ".join(str(x) for x in s.calibration_seeds)
  counts = {c: sum(m.get(c) == verdicts.WITHIN for _, m in verdict_of) for c in s.columns}
  totals = {c: sum(c in m for _, m in verdict_of) for c in s.columns}
  outside_code = [
    (n, settings_matching(rows, s, n, sigma[(n["kind"], n["epoch"])]))
    for n, m in verdict_of
    if m.get("code") == verdicts.OUTSIDE
  ]
  nan_table, causes = nan_rows(nans, steps_per_epoch)
  sigma_text = "; ".join(
    f"{kind} at epoch {epoch}: {md.fmt(value, 2)}{' (log10)' if kind == 'loss' else ' points'}"
    for (kind, epoch), value in sigma.items()
    if epoch in {1, min(10, s.epochs), s.epochs}
  )
  columns = [c for c in s.columns]
  header = ["number", "study (1 seed)"]
  for c in columns:
    header += [COLUMN_LABELS[c], "verdict"]
  header.append("note")
  text = [
    f"Data: {data['label']}. {s.summary()}. {study.scale_beside_study(s.epochs, data['num_train'])}. "
    f"ILRs in {study.SUM_UNITS}.\n",
    "Three columns, each over its seeds: **the study's code** run literally (NumPy, float64: "
    "standard-normal init, pixels / 252.46, summed gradient, L2 on the weights only, no "
    "clip, its unguarded formulas, its warm-up and reset step, its RKL3 = its RKL2); **the "
    "library in the study's setup** (the same choices through the public API: "
    "`MLP(init_std=1.0, param_dtype=float64)`, `hr.hyperreg(..., mask=weights only, "
    "growth=None, warmup_steps=50, warmup_lr=1e-2, hold_steps=1)`, float64; it takes the "
    "code's steps from the same weights and batches, tested to 1e-9 over 200 steps) and "
    "**the library's defaults** (Flax's init, pixels in [0, 1], float32, decay on every "
    "parameter, the guarded RKL2/H2 and lagged RKL3, the rule from the first step; at the "
    "study's ILRs in its units, no clip, its warm-up). Every column's loss is the study's: "
    "the loss of all training images after the epoch plus `1e-4 / 2 (|W1|^2 + |W2|^2) / N`.\n",
    md.figure(
      folder,
      folder / "study_grid.png",
      "The study's table: final training loss (log scale) and test accuracy vs ILR (summed "
      "loss) for RKL1-3 in each column (line: mean over seeds, band: min-max), the study's "
      "numbers as squares.",
    ),
    md.figure(
      folder,
      folder / "curves.png",
      f"The study's curves at ILR {s.curve_ilr:g}: training loss (log scale) and test "
      "accuracy per epoch, per column (line: mean over seeds, band: min-max).",
    ),
    f"**The rule, written before the results were read.** {verdicts.RULE[0].upper()}"
    f"{verdicts.RULE[1:]}. The calibration cells are GD and RKL1 at ILR {s.curve_ilr:g}, seeds "
    f"{cal_seeds}, in the study's code and the library in its setup; their pooled "
    f"seed-to-seed standard deviation: {sigma_text}.\n",
    "Every number of the study's table and curves (mean ± standard deviation over seeds; "
    "accuracy in %):\n",
    md.table(header, table),
    "",
    "Within the spread: "
    + "; ".join(f"{COLUMN_LABELS[c]} {counts[c]} of {totals[c]}" for c in columns)
    + ".\n",
  ]
  if outside_code:
    text.append(
      "**Study numbers outside the spread of its own code**, and the runs here whose spread "
      "holds them:\n"
    )
    text.append(
      md.table(
        ["number", "study", "runs here that would have produced it"],
        [[n["label"], _study(n), ", ".join(m) or "none"] for n, m in outside_code],
      )
    )
    text.append("")
  text += [
    f"**The study's NaNs, measured.** Each non-finite cell of its table, re-run with its code "
    f"for {md.plural(s.nan_epochs, 'epoch')} (seed {s.seeds[0]}), literally and with one of "
    "its choices at a time made the library's. Steps are 0-based global steps; the study's "
    f"counter (`batch + 1000 * epoch`) is given where it differs ({steps_per_epoch} steps per "
    "epoch here)."
    + (
      f" **With {steps_per_epoch} batches per epoch the study's counter never reaches "
      f"{study.WARMUP_STEPS}**: at ILR > 0.1 its warm-up never ends in a reset, so beta stays "
      "100 through the first epoch and the rule then adapts from 100, never from 1 / ILR; "
      "those cells do not break here as they did on the full MNIST."
      if steps_per_epoch <= study.WARMUP_STEPS
      else ""
    )
    + "\n",
    md.table(
      [
        "cell",
        "what changes",
        "first negative beta",
        "first logit > 709",
        "first non-finite weights",
        "reported loss NaN from epoch",
        "test acc (%)",
        "what went wrong first",
      ],
      nan_table,
    ),
    "",
    "What keeps each cell finite: "
    + "; ".join(_cause_text(cell, changes) for cell, changes in causes.items())
    + ". A run whose weights are NaN predicts class 0 for every image (NumPy's argmax of "
    "NaNs): the study's 9.8% at ILR 10 is the share of zeros in the MNIST test set.\n",
  ]
  claims = [
    md.Claim(
      *CLAIMS["table"],
      "within the spread of the study's code: "
      + f"{sum(m.get('code') == verdicts.WITHIN for n, m in verdict_of if n['label'].startswith('table'))}"
      f" of {sum('code' in m for n, m in verdict_of if n['label'].startswith('table'))} numbers",
      md.PARTLY,
      "Seeds: the study ran one; verdicts use the seed spread of its own setup.",
    ),
    md.Claim(
      *CLAIMS["curves"],
      "within the spread of the study's code: "
      + f"{sum(m.get('code') == verdicts.WITHIN for n, m in verdict_of if n['label'].startswith('curve'))}"
      f" of {sum('code' in m for n, m in verdict_of if n['label'].startswith('curve'))} numbers",
      md.PARTLY,
      f"{study.scale_beside_study(s.epochs, data['num_train']).capitalize()}.",
    ),
  ]
  findings = [
    md.Finding(
      f"{NAME}/within_spread/{c}",
      f"study numbers within the spread of {COLUMN_LABELS[c]}",
      counts[c],
    )
    for c in columns
  ]
  findings += [
    md.Finding(f"{NAME}/compared/{c}", f"study numbers compared with {COLUMN_LABELS[c]}", totals[c])
    for c in columns
  ]
  findings.append(
    md.Finding(
      f"{NAME}/outside_own_code", "study numbers outside its own code's spread", len(outside_code)
    )
  )
  for (rule, ilr), changes in causes.items():
    findings.append(
      md.Finding(
        f"{NAME}/nan_as_written/{rule}@{ilr:g}",
        f"{rule} at ILR {ilr:g}: the study's code non-finite as written",
        float(changes is not None),
      )
    )
    for change in runs.NAN_SWITCHES:
      if change != "literal" and changes is not None:
        findings.append(
          md.Finding(
            f"{NAME}/nan_fixed_by/{rule}@{ilr:g}/{change}",
            f"{rule} at ILR {ilr:g} finite with {change}",
            float(change in changes),
          )
        )
  return md.Section("\n".join(text), claims, findings)
