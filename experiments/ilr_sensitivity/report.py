"""The report's section of experiment 1 (:mod:`experiments.ilr_sensitivity`): figures, the
robustness table, findings and claims.
"""

from __future__ import annotations

import math

import numpy as np

from experiments import files, study
from experiments import markdown as md
from experiments.ilr_sensitivity.config import CLAIMS, NAME, Settings
from experiments.ilr_sensitivity.runs import score_table


def section(folder, s: Settings, data: dict) -> md.Section:
  """The report's section: figures, the robustness table, findings and claims."""
  rob = files.read_csv(folder / "robustness.csv")
  final = files.read_csv(folder / "final.csv")
  lr_free = files.read_csv(folder / "lr_free.csv") if (folder / "lr_free.csv").exists() else []
  step = math.log10(s.ilrs[1] / s.ilrs[0]) if len(s.ilrs) > 1 else 0
  text = [
    f"Data: {data['label']}. MLP 784-500(sigmoid)-10, {s.summary()} "
    f"({math.log10(s.ilrs[-1] / s.ilrs[0]):.1f} decades), L2 {s.weight_decay:g}; the study: "
    f"40 epochs on full MNIST. Units: {study.MEAN_UNITS}; the study's summed-loss ILR is this "
    f"ILR divided by {study.BATCH}.\n",
    md.figure(
      folder,
      folder / "test_accuracy_vs_ilr.png",
      "Final test accuracy vs initial learning rate, one panel per rule: solid with the "
      "paper's growth clip (beta may at most double per step), dashed without; line = "
      "mean over seeds, band = min-max, x (top) = an ILR where a seed diverged, open "
      "circle = a seed failed (hr.run_outcome). Last panels: SGD/AdaGrad/Adam at the same learning "
      "rates and the learning-rate-free optimizers (dashed horizontal lines; dotted "
      "grey in every panel: the best of them).",
    ),
    md.figure(
      folder,
      folder / "train_loss_vs_ilr.png",
      "Final training loss (mean over the last epoch's batches, log scale) vs initial "
      "learning rate; same marks as above. x at the top: diverged.",
    ),
    md.figure(
      folder,
      folder / "robustness_width.png",
      f"Robustness width per variant: the span of ILRs (decades, grid step {step:.2f} "
      "decades) over which the mean test accuracy stays within 1 point (and 5 points) "
      "of the variant's best.",
    ),
    "Robustness widths (a diverged run counts as chance, 10%)"
    + (
      ". **One seed**: each width below comes from a single run per ILR, and at large ILRs "
      "float rounding alone moves a run's accuracy by up to 10 points (the step-for-step test: "
      "two float64 implementations of one run part by half the weights' scale within 200 "
      "steps at ILR 1 in the study's units), so a width is one draw, not a property of the rule"
      if len(s.seeds) == 1
      else f" (means over {len(s.seeds)} seeds)"
    )
    + ":\n",
    md.table(
      [
        "variant",
        "best test acc (%)",
        "at ILR",
        f"width 1 pt (dec.{', 1 seed' if len(s.seeds) == 1 else ''})",
        "ILRs within 1 pt",
        f"width 5 pt (dec.{', 1 seed' if len(s.seeds) == 1 else ''})",
        "ILRs within 5 pt",
        "diverged at ILR",
        "failed at ILR",
      ],
      [
        [
          r["variant"],
          md.pct(r["best_test_accuracy"]),
          r["best_ilr"],
          r["width_1pt_decades"],
          r["ilr_range_1pt"],
          r["width_5pt_decades"],
          r["ilr_range_5pt"],
          r["diverged_at_ilrs"],
          r["chance_at_ilrs"],
        ]
        for r in sorted(rob, key=lambda r: -r["width_1pt_decades"])
      ],
    ),
    "",
  ]
  if lr_free:
    text += [
      "Learning-rate-free optimizers of `optax.contrib` at their defaults (no ILR):\n",
      md.table(
        ["optimizer", "final test acc (%)", "final train loss", "diverged"],
        [
          [
            name,
            md.pct(md.mean(rs, "test_accuracy")),
            md.mean(rs, "train_loss"),
            any(r["diverged"] for r in rs),
          ]
          for name, rs in _by_variant(lr_free).items()
        ],
      ),
      "",
    ]
  facts = _facts(rob, final, lr_free)
  text.append(_findings_text(facts))
  return md.Section("\n".join(text), _claims(s, facts), _findings(rob, lr_free, facts))


def _by_variant(rows) -> dict[str, list[dict]]:
  out = {}
  for r in rows:
    out.setdefault(r["variant"], []).append(r)
  return out


def _facts(rob, final, lr_free) -> dict:
  """The numbers the findings and claims quote."""
  rules = [r for r in rob if r["group"] in ("clipped", "unclipped")]
  clip = {r["variant"]: r for r in rob if r["group"] == "clipped"}
  noclip = {r["variant"].removesuffix("_noclip"): r for r in rob if r["group"] == "unclipped"}
  both = [v for v in clip if v in noclip]
  key = "width_1pt_decades"
  ratios = [
    r["lr_mean"] / r["ilr"]
    for r in final
    if r["group"] in ("clipped", "unclipped") and r["ilr"] <= 1 and np.isfinite(r["lr_mean"])
  ]
  free = {v: md.mean(rs, "test_accuracy") for v, rs in _by_variant(lr_free).items()}
  return {
    "rules": rules,
    "base": {r["variant"]: r for r in rob if r["group"] == "baseline"},
    "wider": [v for v in both if noclip[v][key] > clip[v][key]],
    "narrower": [v for v in both if noclip[v][key] < clip[v][key]],
    "pairs": len(both),
    "diverged": (
      sum(r["diverged_at_ilrs"] != "none" for r in clip.values()),
      sum(r["diverged_at_ilrs"] != "none" for r in noclip.values()),
    ),
    "clip_effect": _clip_effect(final, clip),
    "drift": (min(ratios), max(ratios)) if ratios else None,
    "best_free": max(free.items(), key=lambda kv: kv[1]) if free else None,
  }


def _clip_effect(final, clip_rows) -> tuple[int, int, int]:
  """(better, worse, within 1 point): clipped vs unclipped above each rule's best ILR."""
  scores = score_table(final)
  counts = [0, 0, 0]
  for rule, row in clip_rows.items():
    for ilr, acc in scores[rule].items():
      if ilr > row["best_ilr"] and f"{rule}_noclip" in scores:
        diff = acc - scores[f"{rule}_noclip"].get(ilr, float("nan"))
        if np.isfinite(diff):
          counts[0 if diff > 0.01 else 1 if diff < -0.01 else 2] += 1
  return tuple(counts)


def _widths(f, points) -> str:
  key = f"width_{points}pt_decades"
  best = max(f["rules"], key=lambda r: r[key])
  text = f"{points}-point width: rules {min(r[key] for r in f['rules']):.2f}-{best[key]:.2f} "
  text += f"decades (widest {best['variant']})"
  return text + "".join(f", {name} {row[key]:.2f}" for name, row in f["base"].items())


def _findings_text(f) -> str:
  if not f["rules"]:
    return "**Findings.** No rules ran.\n"
  better, worse, same = f["clip_effect"]
  text = f"**Findings.** {_widths(f, 1)}; {_widths(f, 5)}. "
  text += (
    f"Without the growth clip the 1-point width is larger for {len(f['wider'])} of "
    f"{f['pairs']} rules ({', '.join(f['wider']) or 'none'}) and smaller for "
    f"{len(f['narrower'])} ({', '.join(f['narrower']) or 'none'}); {f['diverged'][0]} "
    f"clipped and {f['diverged'][1]} unclipped variants diverged somewhere on the grid. "
  )
  if f["drift"]:
    low, high = f["drift"]
    text += (
      f"At every ILR up to 1 the rules' mean effective learning rate (mean of 1/beta) at "
      f"the end is {100 * low:.1f}-{100 * high:.1f}% of the ILR: with the loss averaged, "
      "beta hardly moves there and every rule trains like SGD at learning rate = ILR. "
    )
  best = max(f["rules"], key=lambda r: r["best_test_accuracy"])
  text += (
    f"The best rule reaches {md.pct(best['best_test_accuracy'])}% ({best['variant']} at "
    f"ILR {best['best_ilr']:.3g})"
  )
  text += "".join(
    f", {name} {md.pct(row['best_test_accuracy'])}% at its best learning rate"
    for name, row in f["base"].items()
  )
  if f["best_free"]:
    text += f", and {f['best_free'][0]} {md.pct(f['best_free'][1])}% with no learning rate at all"
  return text + (
    f". **Does the clip help at large ILRs?** Above each rule's best ILR (clipped), "
    f"the clipped variant ends with a higher mean test accuracy than the unclipped "
    f"one in {better} (rule, ILR) pairs, a lower one in {worse}, and within 1 point "
    f"in {same}.\n"
  )


def _claims(s: Settings, f) -> list[md.Claim]:
  if not f["rules"]:
    return []
  better, worse, same = f["clip_effect"]
  sgd5 = f["base"].get("sgd", {}).get("width_5pt_decades", math.inf)
  robust = max(r["width_5pt_decades"] for r in f["rules"]) > sgd5
  return [
    md.Claim(
      *CLAIMS["robust"],
      f"{_widths(f, 1)}; {_widths(f, 5)}; {sum(f['diverged'])} of {len(f['rules'])} rule "
      "variants diverged somewhere",
      md.PARTLY if robust else md.FAILS,
      f"{s.epochs} epochs here (the study: 40 on full MNIST); loss averaged over the batch "
      f"(the study's ILR x {study.BATCH}); the paper's clip on and off side by side.",
    ),
    md.Claim(
      *CLAIMS["clip"],
      f"above the best ILR the clip is better in {better}, worse in {worse}, equal in "
      f"{same} (rule, ILR) pairs",
      md.HOLDS if better > worse else md.FAILS if worse > better else md.PARTLY,
      "Same grid, seeds and data for both; only the clip differs.",
    ),
  ]


def _findings(rob, lr_free, f) -> list[md.Finding]:
  out = []
  for r in rob:
    v = r["variant"]
    out.append(
      md.Finding(
        f"{NAME}/{v}/best_test_accuracy",
        f"{v}: best test accuracy",
        r["best_test_accuracy"],
        r["best_seed_spread"],
      )
    )
    for points in (1, 5):
      out.append(
        md.Finding(
          f"{NAME}/{v}/width_{points}pt",
          f"{v}: {points}-point width (decades)",
          r[f"width_{points}pt_decades"],
        )
      )
  for v, rs in _by_variant(lr_free).items():
    out.append(
      md.finding(
        f"{NAME}/{v}/test_accuracy", f"{v}: test accuracy", [r["test_accuracy"] for r in rs]
      )
    )
  if f["rules"]:
    better, worse, same = f["clip_effect"]
    for points in (1, 5):
      key = f"width_{points}pt_decades"
      out.append(
        md.Finding(
          f"{NAME}/rules_max_width_{points}pt",
          f"widest rule, {points}-point width (decades)",
          max(r[key] for r in f["rules"]),
        )
      )
    out += [
      md.Finding(f"{NAME}/clip_better", "(rule, ILR) pairs where the clip helps", better),
      md.Finding(f"{NAME}/clip_worse", "(rule, ILR) pairs where the clip hurts", worse),
      md.Finding(
        f"{NAME}/diverged_variants", "rule variants that diverged somewhere", sum(f["diverged"])
      ),
    ]
    if f["drift"]:
      out.append(
        md.Finding(f"{NAME}/lr_drift_min", "lowest final mean LR / ILR, ILR <= 1", f["drift"][0])
      )
  return out
