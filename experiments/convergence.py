"""Experiment 3: convergence at the study's ILR (paper Fig. 2; study section 4.2, Fig. 2c/d).

The MNIST MLP in the study's units (loss summed over batches of 128, L2 ``1e-4 / 128`` on
the summed gradient, no growth clipping, as its MNIST script) at its curve ILR 1e-2, for
every paper rule and for GD at a fixed learning rate 1e-2: training loss and test accuracy
per epoch, and the number of steps until the test accuracy first reaches a target.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from experiments import common, files, study
from experiments import markdown as md

NAME = "convergence"
TITLE = "Convergence at the study's ILR 1e-2 (summed loss): GD vs the rules"

CLAIMS = {
  "speed": (
    "study section 4.2, Fig. 2c/d: no speed-up over GD with a fixed, reasonable learning rate",
    "GD at lr 1e-2 reaches loss 0.0016 / 96.66% after 40 epochs; the rules 0.0023-0.0025 / "
    "95.2-95.8%.",
  ),
  "curves": (
    "study logs: curves at ILR 1e-2 (GD, RKL1, RKL3, H2, KL2, X2_2)",
    "Loss at epochs 1/10/40 and test accuracy at 40 (table in this section).",
  ),
}

#: The study's curves at ILR 1e-2: method -> (loss ep 1, loss ep 10, loss ep 40, acc ep 40).
REPORTED = {
  "gd": (0.1937, 0.0172, 0.0016, 0.9666),
  "rkl1": (0.4198, 0.0218, 0.0024, 0.9517),
  "rkl3": (0.4282, 0.0200, 0.0023, 0.9554),
  "hellinger2": (0.3976, 0.0207, 0.0025, 0.9547),
  "kl2": (0.4211, 0.0207, 0.0025, 0.9543),
  "chi2_2": (0.6803, 0.0225, 0.0025, 0.9580),
}


@dataclasses.dataclass(frozen=True)
class Settings:
  """Attributes: epochs and seeds; the ILR; the rules; test-accuracy targets."""

  epochs: int
  seeds: tuple[int, ...]
  ilr: float = 1e-2
  rules: tuple[str, ...] = tuple(study.RULES[:-1])
  targets: tuple[float, ...] = (0.8, 0.9)
  batch_size: int = study.BATCH
  weight_decay: float = study.WEIGHT_DECAY / study.BATCH

  def summary(self) -> str:
    return f"{md.plural(self.epochs, 'epoch')}, batch {self.batch_size}, seeds {list(self.seeds)}"


EMBEDDED = Settings(epochs=5, seeds=(0, 1))
#: The study's curves at its scale: the five rules it plotted (and GD), 40 epochs.
FULL = Settings(epochs=40, seeds=(0, 1), rules=("rkl1", "rkl3", "hellinger2", "kl2", "chi2_2"))


def settings(cfg: common.Config) -> Settings:
  return common.scaled(EMBEDDED, FULL, cfg)


def _train(cfg, results, ds) -> list[dict]:
  s = results.settings
  variants = {"gd": common.baseline_variant("sgd", weight_decay=s.weight_decay)}
  for name in s.rules:
    variants[name] = common.rule_variant(name, clipped=False, weight_decay=s.weight_decay)
  result = common.mlp_sweep(
    cfg, results, ds, variants, [s.ilr], batch_size=s.batch_size, loss_reduction="sum"
  )
  return common.sweep_rows(result)


def steps_to_target(rows: list[dict], steps_per_epoch: int, targets) -> list[dict]:
  """Per variant and seed: the first step (epoch end) with test accuracy >= each target."""
  out = []
  for variant in dict.fromkeys(r["variant"] for r in rows):
    for seed in dict.fromkeys(r["seed"] for r in rows):
      run = sorted(
        (r for r in rows if r["variant"] == variant and r["seed"] == seed), key=lambda r: r["epoch"]
      )
      record = {"variant": variant, "seed": seed}
      for target in targets:
        hit = [r["epoch"] for r in run if r["test_accuracy"] >= target]
        record[f"steps_to_{int(100 * target)}pct"] = hit[0] * steps_per_epoch if hit else -1
      record["final_test_accuracy"] = run[-1]["test_accuracy"]
      record["final_train_loss"] = run[-1]["train_loss"]
      out.append(record)
  return out


def run(cfg: common.Config, s: Settings) -> None:
  from experiments import figures

  ds = common.load_mnist(cfg)
  results = common.Results(cfg.out / NAME, s, common.data_record(ds))
  steps_per_epoch = ds.num_train // s.batch_size
  rows = results.cached_csv("curves.csv", lambda: _train(cfg, results, ds))
  files.write_csv(
    results.path("steps_to_target.csv"), steps_to_target(rows, steps_per_epoch, s.targets)
  )
  panels = []
  for metric, label, log_y in (
    ("train_loss", "training loss (per example, epoch mean)", True),
    ("test_accuracy", "test accuracy (fraction)", False),
  ):
    series = {}
    epochs = sorted({r["epoch"] for r in rows})
    for variant in dict.fromkeys(r["variant"] for r in rows):
      values = np.array(
        [[r[metric] for r in rows if r["variant"] == variant and r["epoch"] == e] for e in epochs]
      )
      series[variant] = (np.asarray(epochs), *figures._stats(values))
    panels.append((label, label, log_y, series))
  figures.curves(
    panels,
    results.path("curves.png"),
    title=f"MNIST MLP at ILR {s.ilr:g} ({study.SUM_UNITS}), no clip; GD at learning rate 1e-2",
    xlabel=f"epoch ({steps_per_epoch} steps of batch {s.batch_size})",
    notes="lines: mean over seeds; bands: min-max over seeds",
  )


# ----------------------------------------------------------------------------- report


def section(folder, s: Settings, data: dict) -> md.Section:
  """The report's section: the curves, the study's table beside ours, steps to target."""
  curves = files.read_csv(folder / "curves.csv")
  steps = files.read_csv(folder / "steps_to_target.csv")
  steps_per_epoch = data["num_train"] // s.batch_size
  marks = list(dict.fromkeys(e for e in (1, min(10, s.epochs), s.epochs)))

  def at(variant, epoch, key):
    return md.mean([r for r in curves if r["variant"] == variant and r["epoch"] == epoch], key)

  rows = []
  for variant in dict.fromkeys(r["variant"] for r in curves):
    rep = REPORTED.get(variant)
    to90 = [r["steps_to_90pct"] for r in steps if r["variant"] == variant]
    rows.append(
      [variant]
      + [md.fmt(at(variant, e, "train_loss")) for e in marks]
      + [
        md.pct(at(variant, s.epochs, "test_accuracy")),
        "not reached" if min(to90) < 0 else f"{int(np.mean(to90))}",
        "; ".join(md.fmt(x) if i < 3 else md.pct(x) for i, x in enumerate(rep)) if rep else "-",
      ]
    )
  gd_to90 = [r["steps_to_90pct"] for r in steps if r["variant"] == "gd"]
  rule_to90 = {r["variant"]: r["steps_to_90pct"] for r in steps if r["variant"] != "gd"}
  faster = [v for v, x in rule_to90.items() if x > 0 and (min(gd_to90) < 0 or x < min(gd_to90))]
  agreement, agree, compared = md.agreement_table(_agreement_rows(curves, s))
  text = [
    f"Data: {data['label']}. ILR {s.ilr:g} ({study.SUM_UNITS}), {s.summary()}, no clip, weight "
    f"decay {s.weight_decay:.3g} on the summed gradient; {steps_per_epoch} steps per epoch "
    "(the study: 40 epochs of 468 steps). GD: plain SGD at learning rate 1e-2 in the same "
    "units.\n",
    md.figure(
      folder,
      folder / "curves.png",
      "Training loss per example (log scale) and test accuracy per epoch at the study's "
      "ILR 1e-2 (summed loss); line = mean over seeds, band = min-max.",
    ),
    md.table(
      ["method"]
      + [f"loss ep {e}" for e in marks]
      + [
        f"test acc ep {s.epochs} (%)",
        "steps to 90% test acc (mean)",
        "study: loss ep 1; 10; 40; acc ep 40 (%)",
      ],
      rows,
    ),
    "",
    f"The study's numbers at the epochs both ran beside ours; the rule: {md.AGREEMENT_RULE}. "
    f"{agree} of {compared} agree.\n",
    agreement,
    "",
    "**Findings.** "
    + (
      f"{len(faster)} of {len(rule_to90)} rules reach 90% test accuracy in fewer steps than "
      f"GD ({', '.join(faster) or 'none'})."
      if rule_to90
      else "No rules ran."
    ),
    "",
  ]
  total = s.epochs * steps_per_epoch
  claims = [
    md.Claim(
      *CLAIMS["speed"],
      _steps_summary(steps, total)
      + f"; {len(faster)} of {len(rule_to90)} rules reach 90% faster than GD",
      md.HOLDS if not faster else md.FAILS,
      f"{s.epochs} epochs of {steps_per_epoch} steps instead of 40 x 468; otherwise the "
      "study's units and settings.",
    ),
    md.Claim(
      *CLAIMS["curves"],
      f"side by side above ({steps_per_epoch}-step epochs)",
      md.PARTLY,
      "Shorter runs on less data; the ordering at equal epochs is what compares.",
    ),
  ]
  findings = [
    md.Finding(f"{NAME}/rules_faster_than_gd", "rules reaching 90% before GD", len(faster)),
    md.Finding(f"{NAME}/study_numbers_agreeing", "study's numbers we agree with", agree),
  ]
  for variant in dict.fromkeys(r["variant"] for r in steps):
    runs = [r for r in steps if r["variant"] == variant]
    findings.append(
      md.finding(
        f"{NAME}/{variant}/final_test_accuracy",
        f"{variant}: final test accuracy",
        [r["final_test_accuracy"] for r in runs],
      )
    )
    findings.append(
      md.finding(
        f"{NAME}/{variant}/steps_to_90pct",
        f"{variant}: steps to 90% (-1: not reached)",
        [r["steps_to_90pct"] for r in runs],
      )
    )
  return md.Section("\n".join(text), claims, findings)


def _agreement_rows(curves, s: Settings) -> list[tuple]:
  """(quantity, kind, study's number, our per-seed values, non-finite flags) per number of
  the study's curves at an epoch this run reached."""
  rows = []
  for variant, numbers in REPORTED.items():
    points = [(1, "train_loss"), (10, "train_loss"), (40, "train_loss"), (40, "test_accuracy")]
    for (epoch, key), theirs in zip(points, numbers):
      runs = [r for r in curves if r["variant"] == variant and r["epoch"] == epoch]
      if runs:
        kind = "accuracy" if key == "test_accuracy" else "loss"
        rows.append(
          (
            f"{variant} {key.replace('_', ' ')}, epoch {epoch}",
            kind,
            theirs,
            [r[key] for r in runs],
            [bool(r["diverged"]) for r in runs],
          )
        )
  return rows


def _steps_summary(steps, total) -> str:
  """Steps to 80% and 90% test accuracy: GD and the range over the rules."""
  parts = []
  for target in (80, 90):
    key = f"steps_to_{target}pct"
    gd = [r[key] for r in steps if r["variant"] == "gd"]
    rules = [r[key] for r in steps if r["variant"] != "gd"]
    text = f"steps to {target}%: GD {_within(min(gd), total) if gd else 'n/a'}"
    reached = [r for r in rules if r >= 0]
    if reached:
      text += f", rules {min(reached)}-{max(reached)}"
    if len(reached) < len(rules):
      text += f" ({len(rules) - len(reached)} rule runs not within {total})"
    parts.append(text)
  return "; ".join(parts)


def _within(steps: int, total: int) -> str:
  return f"{steps}" if steps >= 0 else f"not within {total}"
