"""Writes ``REPORT.md`` from the saved results of a reproduction (no training).

    python -m experiments.report results/embedded-cpu

Each experiment contributes a section (what ran, its figures with captions, its tables) and
rows of the claims table: one row per claim of SPEC.md section 7 and per table of the
study's reported numbers, with what was said, what we measured, whether it holds here, and
why the setups differ. A section whose results are missing says so.
"""

from __future__ import annotations

import json
import math
import pathlib
import sys

import numpy as np

from experiments import common

HOLDS, FAILS, PARTLY, UNTESTED = "holds", "does not hold", "partly", "not tested here"


def _load_json(path: pathlib.Path):
  return json.loads(path.read_text()) if path.exists() else None


def _fmt(x, digits=3) -> str:
  if x is None or (isinstance(x, float) and math.isnan(x)):
    return "n/a"
  if isinstance(x, float):
    return f"{x:.{digits}g}"
  return str(x)


def _pct(x) -> str:
  return "n/a" if x is None or not np.isfinite(x) else f"{100 * x:.1f}"


def _table(header: list[str], rows: list[list]) -> str:
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
  return "\n".join(lines)


def _figure(out: pathlib.Path, path: pathlib.Path, caption: str) -> str:
  rel = path.relative_to(out).as_posix()
  return f"![{path.stem}]({rel})\n\n*{caption}*\n"


class Claim:
  """One row of the claims table."""

  def __init__(self, source, said, measured, verdict, why):
    self.row = [source, said, measured, verdict, why]


# ----------------------------------------------------------------------------- experiment 1


def _ilr_sensitivity(out: pathlib.Path):
  from experiments import ilr_sensitivity as exp

  d = out / exp.NAME
  s = _load_json(d / "settings.json")
  if s is None:
    return None, []
  rob = common.read_csv(d / "robustness.csv")
  final = common.read_csv(d / "final.csv")
  lr_free = common.read_csv(d / "lr_free.csv") if (d / "lr_free.csv").exists() else []
  ilrs = s["ilrs"]
  text = [
    f"## 1. {exp.TITLE}\n",
    f"Data: {s['data']}. MLP 784-500(sigmoid)-10, batch {s['batch_size']}, L2 "
    f"{s['weight_decay']:g}, {s['epochs']} epochs (paper and study: 40 epochs on full MNIST), "
    f"seeds {s['seeds']}, {len(ilrs)} ILRs from {ilrs[0]:g} to {ilrs[-1]:g} "
    f"({math.log10(ilrs[-1] / ilrs[0]):.1f} decades). Units: {s['units']}; the study's "
    "summed-loss ILR is this ILR divided by 128.\n",
    _figure(
      out,
      d / "test_accuracy_vs_ilr.png",
      "Final test accuracy vs initial learning rate, one panel per rule: solid with the "
      "paper's growth clip (beta may at most double per step), dashed without; line = mean "
      "over seeds, band = min-max, x (top) = an ILR where a seed diverged, open circle = ended "
      "at chance. Last panels: SGD/AdaGrad/Adam at the same learning rates and the "
      "learning-rate-free optimizers (dashed horizontal lines; dotted grey in every panel: "
      "the best of them).",
    ),
    _figure(
      out,
      d / "train_loss_vs_ilr.png",
      "Final training loss (mean over the last epoch's batches, log scale) vs initial "
      "learning rate; same marks as above. x at the top: diverged.",
    ),
    _figure(
      out,
      d / "robustness_width.png",
      "Robustness width per variant: the span of ILRs (decades, grid resolution "
      f"{math.log10(ilrs[1] / ilrs[0]) if len(ilrs) > 1 else 0:.2f} decades) over which the "
      "mean test accuracy stays within 1 point (and 5 points) of the variant's best.",
    ),
    "Robustness widths (a diverged run counts as chance, 10%):\n",
    _table(
      ["variant", "best test acc (%)", "at ILR", "width 1 pt (dec.)", "ILRs within 1 pt",
       "width 5 pt (dec.)", "ILRs within 5 pt", "diverged at ILR", "at chance at ILR"],
      [
        [r["variant"], _pct(r["best_test_accuracy"]), r["best_ilr"], r["width_1pt_decades"],
         r["ilr_range_1pt"], r["width_5pt_decades"], r["ilr_range_5pt"],
         r["diverged_at_ilrs"], r["chance_at_ilrs"]]
        for r in sorted(rob, key=lambda r: -r["width_1pt_decades"])
      ],
    ),
    "",
  ]
  if lr_free:
    by = {}
    for r in lr_free:
      by.setdefault(r["variant"], []).append(r)
    text += [
      "Learning-rate-free optimizers of `optax.contrib` at their defaults (no ILR):\n",
      _table(
        ["optimizer", "final test acc (%)", "final train loss", "diverged"],
        [
          [name, _pct(np.nanmean([r["test_accuracy"] for r in rs])),
           float(np.nanmean([r["train_loss"] for r in rs])), any(r["diverged"] for r in rs)]
          for name, rs in by.items()
        ],
      ),
      "",
    ]
  rules = [r for r in rob if r["group"] in ("clipped", "unclipped")]
  clip = {r["variant"]: r for r in rob if r["group"] == "clipped"}
  noclip = {r["variant"].removesuffix("_noclip"): r for r in rob if r["group"] == "unclipped"}
  both = [v for v in clip if v in noclip]
  wider = [v for v in both if noclip[v]["width_1pt_decades"] > clip[v]["width_1pt_decades"]]
  narrower = [v for v in both if noclip[v]["width_1pt_decades"] < clip[v]["width_1pt_decades"]]
  clip_div = sum(r["diverged_at_ilrs"] != "none" for r in clip.values())
  noclip_div = sum(r["diverged_at_ilrs"] != "none" for r in noclip.values())
  base = {r["variant"]: r for r in rob if r["group"] == "baseline"}
  rule_w = [r["width_1pt_decades"] for r in rules]
  text += [
    "**Findings.** "
    + (
      f"Across the rules the 1-point robustness width ranges from {min(rule_w):.1f} to "
      f"{max(rule_w):.1f} decades (median {np.median(rule_w):.1f})"
      if rule_w
      else "No rules ran"
    )
    + (
      "; SGD's is " + f"{base['sgd']['width_1pt_decades']:.1f}" + " decades"
      if "sgd" in base
      else ""
    )
    + (
      ", AdaGrad's " + f"{base['adagrad']['width_1pt_decades']:.1f}" if "adagrad" in base else ""
    )
    + (", Adam's " + f"{base['adam']['width_1pt_decades']:.1f}" if "adam" in base else "")
    + ". "
    + f"Without the growth clip the 1-point width is larger for {len(wider)} of {len(both)} "
    f"rules ({', '.join(wider) or 'none'}) and smaller for {len(narrower)} "
    f"({', '.join(narrower) or 'none'}); {clip_div} clipped and {noclip_div} unclipped "
    "variants diverged somewhere on the grid.\n",
  ]
  claims = [
    Claim(
      "SPEC 7.1 / paper: robust to the ILR",
      "The paper claims robustness to the initial learning rate; the study found divergence "
      "at large ILRs and high loss at small ones.",
      f"1-point width of the rules {min(rule_w):.1f}-{max(rule_w):.1f} decades"
      + (f" vs SGD {base['sgd']['width_1pt_decades']:.1f}" if "sgd" in base else "")
      + f"; {clip_div + noclip_div} of {len(rules)} rule variants diverged somewhere"
      if rule_w
      else "no rules ran",
      PARTLY
      if rule_w and "sgd" in base and max(rule_w) > base["sgd"]["width_1pt_decades"]
      else FAILS,
      f"{s['epochs']} epochs on the embedded subset instead of 40 on full MNIST; mean loss "
      "(ILR x128 vs the study); the paper's clip on and off side by side.",
    )
  ]
  return "\n".join(text), claims


SECTIONS = [_ilr_sensitivity]


# ----------------------------------------------------------------------------- the report


def _header(out: pathlib.Path) -> str:
  cfg = _load_json(out / "config.json") or {}
  env = cfg.get("environment", {})
  command = cfg.get("command", {})
  times = {}
  for name in cfg.get("experiments", []):
    t = _load_json(out / name / "timing.json")
    if t is not None:
      times[name] = t["wall_s"]
  total = sum(times.values())
  data = (
    "full MNIST / CIFAR-10 where available (--full)"
    if command.get("full")
    else "the embedded MNIST subset (4,000 train / 1,000 test real digits shipped with the "
    "package), synthetic linear-regression data, and synthetic CIFAR-shaped images for the "
    "VGG smoke run"
  )
  return "\n".join(
    [
      "# Reproduction report: Hyper-Regularization (ICLR 2019) and its reproducibility study\n",
      f"Generated by `python -m experiments` into `{command.get('out', out)}`.\n",
      f"* **Data actually used:** {data}.",
      f"* **Configuration:** seeds {command.get('seeds')}, epochs override "
      f"{command.get('epochs')}, ILR override {command.get('ilrs')}, variants "
      f"{command.get('variants') or 'all'}; the exact settings of each experiment are in its "
      "`settings.json`, the command in `config.json`.",
      f"* **Versions:** Python {env.get('python')}, JAX {env.get('jax')}, Optax "
      f"{env.get('optax')}, Flax {env.get('flax')}, NumPy {env.get('numpy')}, hyperreg_jax "
      f"{env.get('hyperreg_jax')}.",
      f"* **Device:** {env.get('devices')} ({env.get('backend')}), {env.get('cpu_count')} CPU "
      f"cores visible, {env.get('platform')}.",
      f"* **Wall time:** {total / 60:.1f} min in all ("
      + ", ".join(f"{k} {v:.0f} s" for k, v in times.items())
      + "; each the run that trained it).",
      "* **ILR conventions:** this library averages the loss over the batch; the study summed "
      "it over batches of 128. Every rule is 1-homogeneous, so the study's ILR x 128 is ours. "
      "Every figure names its convention.\n",
    ]
  )


def write_report(out) -> pathlib.Path:
  """Writes ``out/REPORT.md`` from the saved results and returns its path."""
  out = pathlib.Path(out)
  sections, claims = [], []
  for section in SECTIONS:
    text, rows = section(out)
    if text is not None:
      sections.append(text)
    claims += rows
  table = _table(
    ["claim (source)", "what was said", "what we measured", "verdict", "why the setups differ"],
    [c.row for c in claims],
  )
  body = [_header(out), "## Claims and numbers, side by side\n", table, "", *sections]
  return common.write_text(out / "REPORT.md", "\n".join(body))


if __name__ == "__main__":
  print(write_report(sys.argv[1] if len(sys.argv) > 1 else "results/embedded-cpu"))
