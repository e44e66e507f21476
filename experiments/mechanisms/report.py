"""The report section of the mechanisms experiment (:mod:`.mechanisms`), from its CSVs alone.

Every hypothesis gets its figure or table, the numbers it rests on and a verdict computed
from them by the rule stated beside it: supported, partly supported or not supported.
"""

from __future__ import annotations

import numpy as np

from experiments import markdown as md
from experiments import study
from experiments.mechanisms import config as mech
from experiments.mechanisms import trace

NAME = mech.NAME
SUPPORTED, PARTLY, NOT = "supported", "partly supported", "not supported"
#: A first step whose beta moves by less than this between ILR 1e8 and the largest ILR
#: (relative) has a limit as the ILR grows.
LIMIT_TOL = 0.01


def select(rows, **where):
  """The rows whose fields equal ``where`` (floats compared with ``np.isclose``)."""
  return [
    r
    for r in rows
    if all(np.isclose(r[k], v) if isinstance(v, float) else r[k] == v for k, v in where.items())
  ]


def mean_of(rows, key, **where) -> float:
  """The mean of ``key`` over the selected rows, finite values only."""
  return md.mean(select(rows, **where), key) if select(rows, **where) else float("nan")


def accuracy(rows, variant, ilr) -> float:
  """Mean final test accuracy over seeds, a diverged run counted as chance (10%)."""
  runs = select(rows, variant=variant, ilr=ilr)
  vals = [0.1 if r["diverged"] else r["test_accuracy"] for r in runs]
  return float(np.mean(vals)) if vals else float("nan")


def spread(rows, variant, ilr) -> float:
  """Max - min of the final test accuracy over seeds (a diverged run counted as 10%)."""
  vals = [
    0.1 if r["diverged"] else r["test_accuracy"] for r in select(rows, variant=variant, ilr=ilr)
  ]
  return float(np.ptp(vals)) if vals else float("nan")


def verdict(flag) -> str:
  """``True``, ``None``, ``False`` -> supported, partly supported, not supported."""
  return {True: SUPPORTED, False: NOT, None: PARTLY}[flag]


# ----------------------------------------------------------------------------- hypothesis 1


def limits(first) -> list[dict]:
  """Per rule (Algorithms 1-2): beta_1 / |g_0| per layer at the largest ILR, and how much
  beta_1 still moves from ILR 1e8 to there (relative, the largest over the layers)."""
  top = max(r["ilr"] for r in first)
  out = []
  for rule in dict.fromkeys(r["variant"] for r in first if r["algorithm"] != 3):
    row = {"rule": rule.removesuffix("_noclip")}
    moves = []
    for layer in trace.LAYERS:
      at_top = select(first, variant=rule, layer=layer, ilr=top)[0]
      at_1e8 = select(first, variant=rule, layer=layer, ilr=1e8)
      row[layer] = at_top["beta1_over_g0"]
      if at_1e8:
        moves.append(abs(at_top["beta1"] / at_1e8[0]["beta1"] - 1))
    row["moves"] = max(moves) if moves else float("nan")
    row["limit"] = bool(moves) and row["moves"] < LIMIT_TOL
    out.append(row)
  return out


def h1(folder, s, first, runs) -> tuple[list[str], list[md.Finding], bool | None]:
  layers = {r["layer"]: r["g0"] for r in select(first, ilr=s.first_step_ilrs[0])}
  lim = limits(first)
  unclipped = [v for v in s.traced if mech.group(v) == "unclipped"]
  plateau = [x for x in s.ilrs if x >= 100]
  table = [
    [v]
    + [md.pct(accuracy(runs, v, x)) for x in plateau]
    + [
      100 * np.ptp([accuracy(runs, v, x) for x in plateau]),
      100 * max(spread(runs, v, x) for x in plateau),
    ]
    for v in unclipped
  ]
  ranges = {row[0]: (row[-2], row[-1]) for row in table}
  flat = all(rng <= spread for rng, spread in ranges.values())
  with_limit = [r["rule"] for r in lim if r["limit"]]
  text = [
    "### 1. Does the first step reset beta?\n",
    md.figure(
      folder,
      folder / "first_step.png",
      "Median beta after the first step (no clip) vs ILR, per layer; dotted: 1 / ILR "
      "(beta_0), dashed: the layer's median |g_0|.",
    ),
    "Median |g_0| per layer (the gradient that drives beta, decay included) and the ILR "
    "above which one step of RKL1 makes beta at least the gradient's scale (1 / |g_0|):\n",
    md.table(
      ["layer", "median abs(g_0)", "1 / median abs(g_0)"],
      [[k, v, 1 / v] for k, v in layers.items()],
    ),
    "",
    f"beta_1 / |g_0| (median over the layer) at ILR {max(r['ilr'] for r in first):.3g}, and "
    f"the largest relative change of beta_1 from ILR 1e8 to there (a limit: below "
    f"{100 * LIMIT_TOL:g}%):\n",
    md.table(
      ["rule", *trace.LAYERS, "change 1e8 -> top (%)", "limit"],
      [
        [r["rule"], *(r[k] for k in trace.LAYERS), 100 * r["moves"], "yes" if r["limit"] else "no"]
        for r in lim
      ],
    ),
    "",
    md.figure(
      folder,
      folder / "accuracy_vs_ilr.png",
      "Final test accuracy vs ILR of the traced optimizers (mean over seeds, band "
      "min-max); horizontal: the learning-rate-free optimizers, which take no ILR.",
    ),
    "The plateau: final test accuracy (%) at ILRs >= 100, its range over those ILRs and the "
    "largest seed spread at one of them (points):\n",
    md.table(
      ["rule", *[f"ILR {x:.3g}" for x in plateau], "range over ILRs", "largest seed spread"], table
    ),
    "",
  ]
  some = any(r["limit"] for r in lim)
  flag = True if flat and all(r["limit"] for r in lim) else (None if some else False)
  text.append(
    f"**Hypothesis 1: {verdict(flag)}** (rule: supported when every rule's first step has a "
    "limit and the plateau's range over the ILRs is within its seed spread; partly when only "
    "some rules have one). beta_1 has a limit as the ILR grows (it moves by less than "
    f"{100 * LIMIT_TOL:g}% from 1e8 on) for {', '.join(with_limit) or 'no rule'}, where "
    "beta_1 / |g_0| at the top ILR is "
    + ", ".join(f"{r['rule']} {r['W2']:.3g}" for r in lim if r["limit"])
    + " (W2): one step sets beta to the gradient's scale and the step g / beta_1 to about "
    "the gradient's sign. It has none for "
    + (", ".join(f"{r['rule']} ({r['W2']:.3g})" for r in lim if not r["limit"]) or "no rule")
    + ": their beta_1 keeps moving with the ILR. Each layer is reset from its own ILR, "
    "1 / |g_0|: "
    + ", ".join(f"{k} {1 / v:.3g}" for k, v in layers.items())
    + ". On the plateau the accuracy's range over the ILRs is "
    + ", ".join(f"{v} {a:.1f}" for v, (a, _) in ranges.items())
    + " points against largest seed spreads of "
    + ", ".join(f"{b:.1f}" for _, b in ranges.values())
    + ": within the seed spread for "
    + (", ".join(v for v, (a, b) in ranges.items() if a <= b) or "none")
    + ", wider for "
    + (", ".join(v for v, (a, b) in ranges.items() if a > b) or "none")
    + ".\n"
  )
  findings = [md.Finding(f"{NAME}/g0_{k}", f"median |g_0| of {k}", v) for k, v in layers.items()]
  findings += [
    md.Finding(f"{NAME}/h1_limit_rules", "rules whose first step has a limit", len(with_limit))
  ]
  for v in unclipped:
    findings.append(
      md.finding(
        f"{NAME}/{v}/plateau_accuracy",
        f"{v}: test accuracy, ILR >= 100",
        [accuracy(runs, v, x) for x in plateau],
      )
    )
  return text, findings, flag


# ----------------------------------------------------------------------------- hypothesis 2


def valley_ilr(s, runs) -> float:
  """The traced ILR above 1 where the unclipped rules' mean accuracy is lowest."""
  unclipped = [v for v in s.traced if mech.group(v) == "unclipped"]
  above = [x for x in s.ilrs if 1 < x < 100]
  return min(above, key=lambda x: np.mean([accuracy(runs, v, x) for v in unclipped]))


def h2(folder, s, runs) -> tuple[list[str], list[md.Finding], bool | None]:
  valley = valley_ilr(s, runs)
  cols = [x for x in s.ilrs if x in (valley, 100.0)]

  def m(key, x, v="rkl1_noclip"):
    return mean_of(runs, key, variant=v, ilr=x)

  rows = []
  for layer in trace.LAYERS:
    rows.append([f"{layer}: median abs(g_0) x ILR", *(m(f"{layer}_g0", x) * x for x in cols)])
    rows.append([f"{layer}: step 1 LR / ILR", *(m(f"{layer}_lr0", x) / x for x in cols)])
    rows.append([f"{layer}: step 2 LR / ILR", *(m(f"{layer}_lr1", x) / x for x in cols)])
  rows += [
    ["W1: median abs(g) at step 2 / at step 1", *(m("W1_g1", x) / m("W1_g0", x) for x in cols)],
    [
      "largest abs. logit after step 1 (rkl1; SGD)",
      *(f"{md.fmt(m('max_logit_1', x))}; {md.fmt(m('max_logit_1', x, 'sgd'))}" for x in cols),
    ],
    ["hidden units saturated after step 1 (%)", *(md.pct(m("sat_1", x)) for x in cols)],
    ["hidden units dead after step 2 (%)", *(md.pct(m("dead_2", x)) for x in cols)],
    ["hidden units dead at the end (%)", *(md.pct(m("dead_end", x)) for x in cols)],
    [
      "final test accuracy (%): rkl1; SGD",
      *(
        f"{md.pct(accuracy(runs, 'rkl1_noclip', x))}; {md.pct(accuracy(runs, 'sgd', x))}"
        for x in cols
      ),
    ],
  ]
  still = min(m(f"{layer}_lr0", valley) / valley for layer in trace.LAYERS)
  chance = max(accuracy(runs, "rkl1_noclip", valley), accuracy(runs, "sgd", valley))
  flag = still >= 0.5 and chance <= study.CHANCE_ACCURACY
  text = [
    "### 2. The valley\n",
    md.figure(
      folder,
      folder / "valley.png",
      "Per step (counted from 1, log scale), seed 0, at ILRs around the valley: the median "
      "effective learning rate per layer (RKL1, no clip; SGD's is the ILR), saturated "
      "and dead hidden units, the largest |logit|, the batch loss.",
    ),
    f"RKL1 without clip (mean over seeds) at the valley (ILR {valley:.3g}, the traced ILR "
    "above 1 where the unclipped rules do worst) and at ILR 100; steps counted from 1:\n",
    md.table(["quantity", *[f"ILR {x:.3g}" for x in cols]], rows),
    "",
    f"**Hypothesis 2: {verdict(flag)}** (rule: at the valley every layer keeps at least half "
    f"its ILR as the learning rate of step 1, and RKL1 and SGD both end at chance, at most {100 * study.CHANCE_ACCURACY:.0f}%). "
    f"There, beta hardly moves (the learning rate of step 1 is at least {100 * still:.0f}% of the "
    f"ILR in every layer; median |g_0| x ILR is at most "
    f"{max(m(f'{layer}_g0', valley) for layer in trace.LAYERS) * valley:.2g}) and the rule takes "
    f"SGD's step: the largest |logit| jumps to {md.fmt(m('max_logit_1', valley))} after step "
    f"1; at step 2 W1's gradient is {md.fmt(m('W1_g1', valley) / m('W1_g0', valley))} times "
    f"larger while its learning rate is still {100 * m('W1_lr1', valley) / valley:.0f}% of "
    f"the ILR, and {md.pct(m('dead_2', valley))}% of the hidden units end that step dead "
    "(saturated on the same side for the whole batch: constant features), so the output "
    "layer has nothing to classify with. At ILR 100 step 1 already saturates "
    f"{md.pct(m('sat_1', 100.0))}% of the hidden units (at the valley "
    f"{md.pct(m('sat_1', valley))}%), saturated units pass no gradient, and only "
    f"{md.pct(m('dead_2', 100.0))}% are dead after step 2.\n",
  ]
  findings = [
    md.Finding(f"{NAME}/valley_ilr", "valley ILR (unclipped rules' worst)", valley),
    md.finding(
      f"{NAME}/valley_dead_after_step2",
      "RKL1: dead hidden units after step 2 at the valley",
      [r["dead_2"] for r in select(runs, variant="rkl1_noclip", ilr=valley)],
    ),
  ]
  for v in ("rkl1_noclip", "sgd"):
    findings.append(
      md.finding(
        f"{NAME}/{v}/valley_accuracy",
        f"{v}: test accuracy at the valley",
        [r["test_accuracy"] for r in select(runs, variant=v, ilr=valley)],
      )
    )
  return text, findings, flag


# ----------------------------------------------------------------------------- hypothesis 3


def limit(s, runs) -> tuple[list[str], list[md.Finding]]:
  """The ILR -> infinity limit (ILR 1e8 ... 1e12) beside the learning-rate-free optimizers."""
  unclipped = [v for v in s.traced if mech.group(v) == "unclipped"]
  finite = [x for x in s.ilrs if x <= 1e4]
  rows, findings, changes, apart = [], [], [], {}
  for v in unclipped:
    best = max(finite, key=lambda x: accuracy(runs, v, x))
    at = [r for x in s.limit_ilrs for r in select(runs, variant=v, ilr=x)]
    accs = [0.1 if r["diverged"] else r["test_accuracy"] for r in at]
    lrs = {k: [r[f"{k}_lr0"] for r in at] for k in trace.LAYERS}
    change = max(
      np.ptp(x) / np.median(x)
      for seed in s.seeds
      for x in ([r[f"{k}_lr0"] for r in at if r["seed"] == seed] for k in trace.LAYERS)
    )
    changes.append(100 * change)
    apart[v] = max(
      np.ptp([0.1 if r["diverged"] else r["test_accuracy"] for r in at if r["seed"] == seed])
      for seed in s.seeds
    )
    rows.append(
      [
        v,
        f"{md.pct(accuracy(runs, v, best))} at {best:.3g}",
        *(md.pct(accuracy(runs, v, x)) for x in s.limit_ilrs),
        f"{md.pct(np.mean(accs))} ({md.pct(min(accs))}-{md.pct(max(accs))})",
        "; ".join(f"{k} {np.median(lrs[k]):.3g}" for k in trace.LAYERS),
        100 * change,
        md.pct(md.mean(at, "sat_1")),
        md.pct(md.mean(at, "dead_end")),
      ]
    )
    findings.append(
      md.finding(
        f"{NAME}/{v}/limit_accuracy",
        f"{v}: test accuracy at ILR {s.limit_ilrs[0]:g}-{s.limit_ilrs[-1]:g}",
        accs,
      )
    )
  for v in s.free:
    accs = [r["test_accuracy"] for r in select(runs, variant=v)]
    free = select(runs, variant=v)
    rows.append(
      [
        f"{v} (optax.contrib, no ILR)",
        "-",
        *("-" for _ in s.limit_ilrs),
        f"{md.pct(np.mean(accs))} ({md.pct(min(accs))}-{md.pct(max(accs))})",
        "-",
        "-",
        md.pct(md.mean(free, "sat_1")),
        md.pct(md.mean(free, "dead_end")),
      ]
    )
    findings.append(md.finding(f"{NAME}/{v}/test_accuracy", f"{v}: test accuracy", accs))
  sgd = max(finite, key=lambda x: accuracy(runs, "sgd", x))
  rows.append(
    [
      "sgd",
      f"{md.pct(accuracy(runs, 'sgd', sgd))} at {sgd:.3g}",
      *(md.pct(accuracy(runs, "sgd", x)) for x in s.limit_ilrs),
      *"-----",
    ]
  )
  text = [
    "### The limit ILR -> infinity, beside the learning-rate-free optimizers\n",
    f"Final test accuracy (%) after {md.plural(s.epochs, 'epoch')}, mean over seeds "
    f"{list(s.seeds)} (same initial weights and batches for every optimizer of a seed; "
    "prodigy, dog and cocob at their defaults with the same L2 in front); the median "
    "learning rate of the first step per layer at the limit ILRs (over seeds), and how much it "
    "varies across those ILRs within a seed (%, the largest over layers and seeds); hidden "
    "units saturated after the first step and dead at the end (means over the limit ILRs and "
    "seeds):\n",
    md.table(
      [
        "optimizer",
        "best traced ILR <= 1e4",
        *[f"ILR {x:g}" for x in s.limit_ilrs],
        "limit ILRs: mean (min-max)",
        "first-step LR at the limit",
        "its change (%)",
        "saturated after step 1 (%)",
        "dead at the end (%)",
      ],
      rows,
    ),
    "",
    "**What the limit is.** For the rules whose beta_1 / abs(g_0) tends to 1 (part 1), the "
    "first step at the limit is g_0 / abs(g_0): a step of size one, of the gradient's sign, in "
    "every weight (the first-step learning rates above are about 1 / abs(g_0) per layer); for "
    "adagrad_diag every later step is AdaGrad's with learning rate 1 and no initial "
    "accumulator (docs/method.md, section 5). The first step changes by at most "
    f"{max(changes, default=float('nan')):.2g}% across the limit ILRs, yet within one seed "
    "the final accuracies across them differ by up to "
    + ", ".join(f"{100 * a:.1f} points ({v})" for v, a in apart.items())
    + ": the trajectories amplify differences that small, and that spread is the limit's own "
    "noise.\n",
  ]
  return text, findings
