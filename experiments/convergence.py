"""Experiment 3: is any rule faster than GD? (paper Fig. 2; study section 4.2, Fig. 2c/d).

The MNIST MLP in the study's units (loss summed over batches of 128, L2 ``1e-4 / 128`` on
the summed gradient, no growth clipping, as its MNIST script), every paper rule against GD at
a fixed learning rate 1e-2: training loss and test accuracy per epoch, the number of steps
until the test accuracy first reaches a target, and the rules' mean step size ``1 / beta``
beside GD's.

At the study's ILR 1e-2 a rule starts from GD's step size (beta = 100) and its beta hardly
grows, so its steps stay GD's: that setting cannot show a speed-up either way. The ILRs 3e-2
and 1e-1 start the rules at three and ten times GD's step size, on the same budget, beside
SGD at those rates. The study's own numbers are compared in experiment 2
(:mod:`experiments.study_setting`), in its setup.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from experiments import common, files, study
from experiments import markdown as md

NAME = "convergence"
TITLE = "Is any rule faster than GD? At the study's ILR 1e-2 and above it (summed loss)"

CLAIMS = {
  "speed": (
    "study section 4.2, Fig. 2c/d: no speed-up over GD with a fixed, reasonable learning rate",
    "GD at lr 1e-2 reaches loss 0.0016 / 96.66% after 40 epochs; the rules 0.0023-0.0025 / "
    "95.2-95.8%.",
  ),
}

#: GD's fixed learning rate, the study's.
GD_LR = 1e-2


@dataclasses.dataclass(frozen=True)
class Settings:
  """Attributes: epochs and seeds; the ILRs (the first is the study's); the rules;
  test-accuracy targets (the last is the headline)."""

  epochs: int
  seeds: tuple[int, ...]
  ilrs: tuple[float, ...] = (1e-2, 3e-2, 1e-1)
  rules: tuple[str, ...] = tuple(study.RULES[:-1])
  targets: tuple[float, ...] = (0.8, 0.9)
  batch_size: int = study.BATCH
  weight_decay: float = study.WEIGHT_DECAY / study.BATCH

  def summary(self) -> str:
    return (
      f"{md.plural(self.epochs, 'epoch')}, batch {self.batch_size}, seeds {list(self.seeds)}, "
      f"ILRs {list(self.ilrs)}"
    )


EMBEDDED = Settings(epochs=5, seeds=(0, 1))
#: The study's curves at its scale: the five rules it plotted (and GD), 40 epochs; every run
#: passes 90% within its first epoch there, so the headline target is 97%.
FULL = Settings(
  epochs=40,
  seeds=(0, 1),
  rules=("rkl1", "rkl3", "hellinger2", "kl2", "chi2_2"),
  targets=(0.9, 0.97),
)


def settings(cfg: common.Config) -> Settings:
  return common.scaled(EMBEDDED, FULL, cfg)


def _train(cfg, results, ds) -> list[dict]:
  """Every rule at every ILR; SGD at every ILR too: at 1e-2 the study's GD, above it the
  same step size as the rules' first step, without the rule."""
  s = results.settings
  variants = {"gd": common.baseline_variant("sgd", weight_decay=s.weight_decay)}
  for name in s.rules:
    variants[name] = common.rule_variant(name, clipped=False, weight_decay=s.weight_decay)
  options = dict(batch_size=s.batch_size, loss_reduction="sum")
  return common.sweep_rows(common.mlp_sweep(cfg, results, ds, variants, list(s.ilrs), **options))


def label(variant: str, ilr: float) -> str:
  """``rkl1 @ 0.1``; GD at its own rate is ``gd``, SGD at another ``sgd @ 0.1``."""
  if variant == "gd":
    return "gd" if ilr == GD_LR else f"sgd @ {ilr:g}"
  return f"{variant} @ {ilr:g}"


def steps_to_target(rows: list[dict], steps_per_epoch: int, targets) -> list[dict]:
  """Per (variant, ILR) and seed: the first step (epoch end) with test accuracy >= each
  target, the final numbers, and the mean step size over the run beside GD's."""
  out = []
  for variant, ilr in dict.fromkeys((r["variant"], r["ilr"]) for r in rows):
    for seed in dict.fromkeys(r["seed"] for r in rows):
      run = sorted(
        (r for r in rows if (r["variant"], r["ilr"], r["seed"]) == (variant, ilr, seed)),
        key=lambda r: r["epoch"],
      )
      record = {"variant": label(variant, ilr), "rule": variant, "ilr": ilr, "seed": seed}
      for target in targets:
        hit = [r["epoch"] for r in run if r["test_accuracy"] >= target]
        record[f"steps_to_{int(100 * target)}pct"] = hit[0] * steps_per_epoch if hit else -1
      record["final_test_accuracy"] = run[-1]["test_accuracy"]
      record["final_train_loss"] = run[-1]["train_loss"]
      sizes = [r.get("lr_mean", np.nan) for r in run]
      lr = np.asarray(sizes, float) if variant != "gd" else np.full(len(run), ilr)
      record["step_size_vs_gd"] = float(np.nanmean(lr) / GD_LR)
      record["final_step_size_vs_gd"] = float(lr[-1] / GD_LR)
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
  panels, styles = [], {}
  variants = list(dict.fromkeys(r["variant"] for r in rows))
  epochs = sorted({r["epoch"] for r in rows})
  for metric, ylabel, log_y in (
    ("train_loss", "training loss (per example, epoch mean)", True),
    ("test_accuracy", "test accuracy (fraction)", False),
  ):
    for ilr in s.ilrs:
      series = {}
      for i, variant in enumerate(variants):
        for at in [ilr, GD_LR] if variant == "gd" and ilr != GD_LR else [ilr]:
          values = np.array(
            [
              [
                r[metric]
                for r in rows
                if r["variant"] == variant and r["ilr"] == at and r["epoch"] == e
              ]
              for e in epochs
            ]
          )
          name = label(variant, at)
          series[name] = (np.asarray(epochs), *figures._stats(values))
          if name.startswith("sgd"):
            styles[name] = {"color": "0.5", "ls": "--"}
          elif variant != "gd":  # one colour per rule, in every panel
            styles[name] = {"color": f"C{i % 10}"}
      panels.append((f"ILR {ilr:g}: {ylabel}", ylabel, log_y, series))
  figures.curves(
    panels,
    results.path("curves.png"),
    title=f"MNIST MLP, the rules at each ILR ({study.SUM_UNITS}), no clip; GD at learning rate "
    f"{GD_LR:g} in every panel",
    xlabel=f"epoch ({steps_per_epoch} steps of batch {s.batch_size})",
    notes="lines: mean over seeds; bands: min-max over seeds; black dotted: GD at 1e-2; grey "
    "dashed: SGD at the panel's ILR (the rules' first step size, without the rule)",
    styles=styles,
    ncols=len(s.ilrs),
  )


# ----------------------------------------------------------------------------- report


def section(folder, s: Settings, data: dict) -> md.Section:
  """The report's section: the curves, steps to target and step sizes at each ILR."""
  steps = files.read_csv(folder / "steps_to_target.csv")
  steps_per_epoch = data["num_train"] // s.batch_size
  target = int(100 * s.targets[-1])
  key = f"steps_to_{target}pct"

  rows = []
  for name in dict.fromkeys(r["variant"] for r in steps):
    runs = [r for r in steps if r["variant"] == name]
    reached = [r[key] for r in runs]
    rows.append(
      [
        name,
        md.fmt(float(np.mean([r["final_train_loss"] for r in runs]))),
        md.pct(float(np.mean([r["final_test_accuracy"] for r in runs]))),
        "not reached" if min(reached) < 0 else f"{int(np.mean(reached))}",
        f"{np.mean([r['step_size_vs_gd'] for r in runs]):.4g}",
        f"{np.mean([r['final_step_size_vs_gd'] for r in runs]):.4g}",
      ]
    )
  by_ilr, than_sgd = {}, {}
  gd = [r for r in steps if r["variant"] == "gd"]
  for ilr in s.ilrs:
    at = [r for r in steps if r["ilr"] == ilr and r["rule"] != "gd"]
    by_ilr[ilr] = (_faster_than_gd(at + gd, key), at)
    if ilr != GD_LR:  # the same initial step size without the rule, as the peer
      sgd = [dict(r, variant="gd") for r in steps if r["ilr"] == ilr and r["rule"] == "gd"]
      than_sgd[ilr] = _faster_than_gd(at + sgd, key)[0]
  text = [
    f"Data: {data['label']}. {s.summary()} ({study.SUM_UNITS}), no clip, weight decay "
    f"{s.weight_decay:.3g} on the summed gradient; {steps_per_epoch} steps per epoch (the "
    f"study: 40 epochs of 468 steps). GD: plain SGD at learning rate {GD_LR:g} in the same "
    "units; `sgd @ ILR`: SGD at the rules' initial learning rate, without the rule. The "
    "library's model and rules (Flax's init, guarded RKL2/H2, lagged RKL3): the study's own "
    "setup is experiment 2's.\n",
    md.figure(
      folder,
      folder / "curves.png",
      "Training loss per example (log scale) and test accuracy per epoch, one column of panels "
      "per ILR (summed loss); line = mean over seeds, band = min-max; GD at 1e-2 in every "
      "panel.",
    ),
    md.table(
      [
        "method @ ILR",
        f"train loss ep {s.epochs}",
        f"test acc ep {s.epochs} (%)",
        f"steps to {target}% test acc (mean)",
        "mean step size / GD's",
        "final step size / GD's",
      ],
      rows,
    ),
    "",
    "**Findings.** "
    + " ".join(
      f"At ILR {ilr:g} the rules' mean step size over the run is "
      f"{_ratio_range(at)} GD's; {len(faster)} of {len({r['rule'] for r in at})} rules "
      f"reach {target}% in fewer steps than GD in every seed ({', '.join(faster) or 'none'}), "
      f"sooner in some seed but not all: {', '.join(sooner) or 'none'}"
      + (
        f"; faster than SGD at learning rate {ilr:g} itself in every seed: "
        f"{len(than_sgd[ilr])} ({', '.join(than_sgd[ilr]) or 'none'})."
        if ilr in than_sgd
        else "."
      )
      for ilr, ((faster, sooner), at) in by_ilr.items()
      if at
    )
    + (
      f" At ILR {s.ilrs[0]:g} a rule's steps stay GD's, so that setting cannot show a "
      "speed-up either way."
      if s.ilrs[0] == GD_LR
      else ""
    )
    + " Test accuracy is read at each epoch's end.\n",
  ]
  main = [r for r in steps if r["ilr"] == s.ilrs[0] or r["variant"] == "gd"]
  (faster0, sooner0), _ = by_ilr[s.ilrs[0]]
  faster_any = sorted({r for (f, _), _ in by_ilr.values() for r in f})
  claims = [
    md.Claim(
      *CLAIMS["speed"],
      _steps_summary(main, s.epochs * steps_per_epoch, s.targets)
      + "; faster than GD in every seed: "
      + "; ".join(f"ILR {ilr:g}: {len(f)}" for ilr, ((f, _), _) in by_ilr.items()),
      md.HOLDS if not faster_any else md.FAILS,
      f"{study.scale_beside_study(s.epochs, data['num_train']).capitalize()}; the library's "
      "model and rules, not the study's setup (Flax's init, pixels in [0, 1], float32, decay "
      "on every parameter, guarded RKL2/H2, lagged RKL3; the study's setup is experiment 2's); "
      f"test accuracy read at each epoch's end; at ILR {GD_LR:g} the rules' step sizes are "
      "GD's.",
    ),
  ]
  findings = [
    md.Finding(
      f"{NAME}/rules_faster_than_gd",
      f"rules reaching {target}% before GD in every seed, at ILR {s.ilrs[0]:g}",
      len(faster0),
    ),
    md.Finding(
      f"{NAME}/rules_sooner_in_some_seed",
      f"rules reaching {target}% before GD in some seed, at ILR {s.ilrs[0]:g}",
      len(sooner0),
    ),
  ]
  for ilr, rules_faster in than_sgd.items():
    findings.append(
      md.Finding(
        f"{NAME}/faster_than_sgd_same_lr@{ilr:g}",
        f"rules faster than SGD at their own initial rate {ilr:g}",
        len(rules_faster),
      )
    )
  for ilr, ((faster, _), at) in by_ilr.items():
    if at:
      findings.append(
        md.Finding(
          f"{NAME}/faster_than_gd@{ilr:g}", f"rules faster than GD at {ilr:g}", len(faster)
        )
      )
      findings.append(
        md.finding(
          f"{NAME}/step_size_vs_gd@{ilr:g}",
          f"rules' mean step size / GD's at ILR {ilr:g}",
          [r["step_size_vs_gd"] for r in at],
        )
      )
  for name in dict.fromkeys(r["variant"] for r in steps):
    runs = [r for r in steps if r["variant"] == name]
    key_name = name.replace(" @ ", "@")
    findings.append(
      md.finding(
        f"{NAME}/{key_name}/final_test_accuracy",
        f"{name}: final test accuracy",
        [r["final_test_accuracy"] for r in runs],
      )
    )
    findings.append(
      md.finding(
        f"{NAME}/{key_name}/steps_to_target",
        f"{name}: steps to {target}% (-1: not reached)",
        [r[key] for r in runs],
      )
    )
  return md.Section("\n".join(text), claims, findings)


def _ratio_range(rows) -> str:
  values = [r["step_size_vs_gd"] for r in rows]
  low, high = min(values), max(values)
  return (f"{low:.4g}" if f"{low:.4g}" == f"{high:.4g}" else f"{low:.4g}-{high:.4g}") + " times"


def _faster_than_gd(steps, key) -> tuple[list[str], list[str]]:
  """The rules that reach the target in fewer steps than GD in every seed (their slowest seed
  before GD's fastest), and those that do in some seed but not in every one."""

  def runs(variant):
    return [r[key] if r[key] >= 0 else math.inf for r in steps if r["variant"] == variant]

  gd = runs("gd")
  faster, sooner = [], []
  for rule in dict.fromkeys(r["variant"] for r in steps if r["variant"] != "gd"):
    mine = runs(rule)
    if max(mine) < min(gd):
      faster.append(rule)
    elif any(m < g for m, g in zip(mine, gd)):
      sooner.append(rule)
  return faster, sooner


def _steps_summary(steps, total, targets) -> str:
  """Steps to each test-accuracy target: GD and the range over the rules."""
  parts = []
  for target in (int(100 * x) for x in targets):
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
