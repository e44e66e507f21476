"""The report section of the mechanisms experiment (:mod:`.mechanisms`), from its CSVs alone.

Every hypothesis gets its figure or table, the numbers it rests on and a verdict computed
from them by the rule stated beside it: supported, partly supported or not supported.
"""

from __future__ import annotations

import numpy as np

from experiments import study
from experiments import markdown as md
from experiments import mechanisms as mech
from experiments import mechanisms_trace as trace

NAME = mech.NAME
SUPPORTED, PARTLY, NOT = "supported", "partly supported", "not supported"
#: A first step whose beta moves by less than this between ILR 1e8 and the largest ILR
#: (relative) has a limit as the ILR grows.
LIMIT_TOL = 0.01


def select(rows, **where):
  """The rows whose fields equal ``where`` (floats compared with ``np.isclose``)."""
  return [r for r in rows if all(np.isclose(r[k], v) if isinstance(v, float) else r[k] == v
                                 for k, v in where.items())]


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
  vals = [0.1 if r["diverged"] else r["test_accuracy"] for r in select(rows, variant=variant,
                                                                        ilr=ilr)]
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
  table = [[v] + [md.pct(accuracy(runs, v, x)) for x in plateau]
           + [100 * np.ptp([accuracy(runs, v, x) for x in plateau]),
              100 * max(spread(runs, v, x) for x in plateau)] for v in unclipped]
  ranges = {row[0]: (row[-2], row[-1]) for row in table}
  flat = all(rng <= spread for rng, spread in ranges.values())
  with_limit = [r["rule"] for r in lim if r["limit"]]
  text = [
    "### 1. Does the first step reset beta?\n",
    md.figure(folder, folder / "first_step.png",
              "Median beta after the first step (no clip) vs ILR, per layer; dotted: 1 / ILR "
              "(beta_0), dashed: the layer's median |g_0|."),
    "Median |g_0| per layer (the gradient that drives beta, decay included) and the ILR "
    "above which one step of RKL1 makes beta at least the gradient's scale (1 / |g_0|):\n",
    md.table(["layer", "median abs(g_0)", "1 / median abs(g_0)"],
             [[k, v, 1 / v] for k, v in layers.items()]),
    "",
    f"beta_1 / |g_0| (median over the layer) at ILR {max(r['ilr'] for r in first):.3g}, and "
    f"the largest relative change of beta_1 from ILR 1e8 to there (a limit: below "
    f"{100 * LIMIT_TOL:g}%):\n",
    md.table(["rule", *trace.LAYERS, "change 1e8 -> top (%)", "limit"],
             [[r["rule"], *(r[k] for k in trace.LAYERS), 100 * r["moves"],
               "yes" if r["limit"] else "no"] for r in lim]),
    "",
    md.figure(folder, folder / "accuracy_vs_ilr.png",
              "Final test accuracy vs ILR of the traced optimizers (mean over seeds, band "
              "min-max); horizontal: the learning-rate-free optimizers, which take no ILR."),
    f"The plateau: final test accuracy (%) at ILRs >= 100, its range over those ILRs and the "
    f"largest seed spread at one of them (points):\n",
    md.table(["rule", *[f"ILR {x:.3g}" for x in plateau], "range over ILRs", "largest seed spread"],
             table),
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
    + ", wider for " + (", ".join(v for v, (a, b) in ranges.items() if a > b) or "none")
    + ".\n")
  findings = [md.Finding(f"{NAME}/g0_{k}", f"median |g_0| of {k}", v) for k, v in layers.items()]
  findings += [md.Finding(f"{NAME}/h1_limit_rules", "rules whose first step has a limit",
                          len(with_limit))]
  for v in unclipped:
    findings.append(md.finding(f"{NAME}/{v}/plateau_accuracy", f"{v}: test accuracy, ILR >= 100",
                               [accuracy(runs, v, x) for x in plateau]))
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
    ["largest abs. logit after step 1 (rkl1; SGD)",
     *(f"{md.fmt(m('max_logit_1', x))}; {md.fmt(m('max_logit_1', x, 'sgd'))}" for x in cols)],
    ["hidden units saturated after step 1 (%)", *(md.pct(m("sat_1", x)) for x in cols)],
    ["hidden units dead after step 2 (%)", *(md.pct(m("dead_2", x)) for x in cols)],
    ["hidden units dead at the end (%)", *(md.pct(m("dead_end", x)) for x in cols)],
    ["final test accuracy (%): rkl1; SGD",
     *(f"{md.pct(accuracy(runs, 'rkl1_noclip', x))}; {md.pct(accuracy(runs, 'sgd', x))}"
       for x in cols)],
  ]
  still = min(m(f"{layer}_lr0", valley) / valley for layer in trace.LAYERS)
  chance = max(accuracy(runs, "rkl1_noclip", valley), accuracy(runs, "sgd", valley))
  flag = still >= 0.5 and chance < study.CHANCE_ACCURACY
  text = [
    "### 2. The valley\n",
    md.figure(folder, folder / "valley.png",
              "Per step (counted from 1, log scale), seed 0, at ILRs around the valley: the median "
              "effective learning rate per layer (RKL1, no clip; SGD's is the ILR), saturated "
              "and dead hidden units, the largest |logit|, the batch loss."),
    f"RKL1 without clip (mean over seeds) at the valley (ILR {valley:.3g}, the traced ILR "
    "above 1 where the unclipped rules do worst) and at ILR 100; steps counted from 1:\n",
    md.table(["quantity", *[f"ILR {x:.3g}" for x in cols]], rows),
    "",
    f"**Hypothesis 2: {verdict(flag)}** (rule: at the valley every layer keeps at least half "
    "its ILR as the learning rate of step 1, and RKL1 and SGD both end at chance, below 20%). "
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
  findings = [md.Finding(f"{NAME}/valley_ilr", "valley ILR (unclipped rules' worst)", valley),
              md.finding(f"{NAME}/valley_dead_after_step2", "RKL1: dead hidden units after "
                         "step 2 at the valley", [r["dead_2"] for r in select(
                           runs, variant="rkl1_noclip", ilr=valley)])]
  for v in ("rkl1_noclip", "sgd"):
    findings.append(md.finding(f"{NAME}/{v}/valley_accuracy", f"{v}: test accuracy at the valley",
                               [r["test_accuracy"] for r in select(runs, variant=v, ilr=valley)]))
  return text, findings, flag


# ----------------------------------------------------------------------------- hypothesis 3


def clip_rows(s, runs) -> list[dict]:
  """Per clipped rule, ILR >= 100 and layer: predicted and measured steps held by the clip."""
  out = []
  for v in (v for v in s.traced if mech.group(v) == "clipped"):
    for x in (x for x in s.ilrs if x >= 100):
      run = select(runs, variant=v, ilr=x, seed=s.seeds[0])[0]
      for layer in trace.LAYERS:
        out.append({"rule": v, "ilr": x, "layer": layer, "measured": run[f"{layer}_held"],
                    "predicted": trace.clip_steps_predicted(run[f"{layer}_g0"], x, run["clip_c"]),
                    "diverged_at": run["diverged_at"]})
  return out


def _held_note(row, total) -> str:
  if 0 <= row["diverged_at"] <= row["measured"]:
    return " (diverged)"
  return " (the whole run)" if row["measured"] == total else ""


def h3(folder, s, runs, total) -> tuple[list[str], list[md.Finding], bool | None]:
  """Hypothesis 3; ``total``: the steps of a run."""
  held = clip_rows(s, runs)
  near = [r for r in held if r["ilr"] <= 1e4]
  far = [r for r in held if r["ilr"] > 1e4]
  longer = sum(r["measured"] > r["predicted"] + 1 and _held_note(r, total) != " (diverged)"
               for r in far)
  diverged = {(r["rule"], r["ilr"]) for r in far if _held_note(r, total) == " (diverged)"}
  train = all(accuracy(runs, f"{r['rule']}_noclip", r["ilr"]) >= study.CHANCE_ACCURACY for r in far)
  agree = sum(abs(r["measured"] - r["predicted"]) <= 1 for r in near)
  table = []
  for v in (v for v in s.traced if mech.group(v) == "clipped"):
    for x in (x for x in s.ilrs if x >= 100):
      cells = [f"{r['predicted']} / {r['measured']}" + _held_note(r, total)
               for r in held if r["rule"] == v and r["ilr"] == x]
      table.append([v, x, *cells, mean_of(runs, "W2_w_max", variant=v, ilr=x),
                    mean_of(runs, "W2_w_max", variant=f"{v}_noclip", ilr=x),
                    md.pct(accuracy(runs, v, x)), md.pct(accuracy(runs, f"{v}_noclip", x))])
  worse = [(r[0], r[1]) for r in table if r[1] <= 1e4 and accuracy(runs, r[0], r[1])
           < accuracy(runs, f"{r[0]}_noclip", r[1]) - 0.05]
  pairs = [r for r in table if r[1] <= 1e4]
  frac = agree / len(near) if near else 0.0
  flag = frac >= 0.75 and len(worse) == len(pairs) if pairs else False
  flag = True if flag else (None if frac >= 0.5 or worse else False)
  text = [
    "### 3. Does the growth clip delay the reset?\n",
    md.figure(folder, folder / "clip.png",
              "Seed 0, RKL1 with the clip: the fraction of each layer's entries whose beta "
              "doubled in the step (the clip holds them), with the predicted end of the "
              "doubling (dotted); the norm of W2 and the largest |logit|, clipped (solid) and "
              "not (dashed), RKL1 and H2."),
    "Steps during which the clip holds the median entry of each layer (beta doubles; more "
    "than half the entries at the clip), predicted `1 + floor(log2(|g_0| ILR / sqrt(C)))` from "
    "the "
    "median |g_0| (C: the rule's c = (g / beta)^2 at which the clip starts to bind: "
    + ", ".join(f"{v} {mean_of(runs, 'clip_c', variant=v):.3g}" for v in s.traced
                if mech.group(v) == "clipped") + ") "
    f"/ measured (seed {s.seeds[0]}); the largest norm of W2 over the run and the final test "
    "accuracy (%), clipped and not:\n",
    md.table(["rule (clip 2)", "ILR", *[f"{k} pred. / meas." for k in trace.LAYERS],
              "max norm W2, clip", "max norm W2, no clip", "acc, clip", "acc, no clip"], table),
    "",
    f"**Hypothesis 3: {verdict(flag)}** (rule: the count is within one step of the "
    "prediction in at least 3/4 of the (rule, ILR <= 1e4, layer) cases, and the clipped rule "
    "ends more than 5 points below the unclipped one at each of those ILRs). Within one step "
    f"in {agree} of {len(near)} cases; the clipped rule is worse at {len(worse)} of "
    f"{len(pairs)} (rule, ILR) pairs from 100 to 1e4. Meanwhile the output layer steps at "
    "ILR / 2, ILR / 4, ...: W2's norm grows to the values above while the unclipped rule "
    f"resets it in one step. Above ILR 1e4 the count is {longer} of {len(far)} times longer "
    f"than predicted (the gradient changes while beta doubles) and {len(diverged)} clipped "
    "runs (seed 0) diverge while the clip holds; the unclipped rules end "
    + ("above" if train else "at or below") + " chance at every one of those ILRs.\n",
  ]
  findings = [md.Finding(f"{NAME}/clip_count_agrees", "clip-step counts within 1 of the "
                         "prediction (ILR <= 1e4)", agree),
              md.Finding(f"{NAME}/clip_count_cases", "clip-step cases (ILR <= 1e4)", len(near))]
  return text, findings, flag


# ----------------------------------------------------------------------------- hypothesis 4


def _stuck(runs, v, ilrs) -> str:
  """How the lagged runs end: a dead hidden layer, or a learning rate too small to move."""
  dead = [x for x in ilrs if mean_of(runs, "dead_end", variant=v, ilr=x) >= 0.9]
  frozen = [x for x in ilrs if mean_of(runs, "W2_lr_end", variant=v, ilr=x) < 1e-3]
  parts = []
  if dead:
    parts.append(f"at ILR {', '.join(f'{x:.3g}' for x in dead)} at least "
                 f"{md.pct(min(mean_of(runs, 'dead_end', variant=v, ilr=x) for x in dead))}% of "
                 "the hidden units end dead")
  if frozen:
    parts.append(f"at ILR {', '.join(f'{x:.3g}' for x in frozen)} W2's learning rate ends at "
                 f"{max(mean_of(runs, 'W2_lr_end', variant=v, ilr=x) for x in frozen):.2g} or "
                 "less, with the logits as large as SGD left them")
  text = "; ".join(parts)
  return f"{text[:1].upper()}{text[1:]}: nothing is left to move the weights back." if parts else ""


def h4(folder, s, first, runs) -> tuple[list[str], list[md.Finding], bool | None]:
  lagged = select(first, algorithm=3)
  ratios = np.asarray([r["lr0"] / r["ilr"] for r in lagged])
  worst = float(np.max(np.abs(ratios - 1))) if ratios.size else float("nan")
  v = next((v for v in s.traced if mech.group(v) == "lagged"), None)
  ilrs = [x for x in s.ilrs if x >= 100]
  same, table = [], []
  for x in ilrs if v else []:
    mine, sgd = mean_of(runs, "max_logit_1", variant=v, ilr=x), mean_of(runs, "max_logit_1",
                                                                     variant="sgd", ilr=x)
    same.append(abs(mine / sgd - 1) < 1e-3 if np.isfinite(sgd) else True)
    partner = v.replace("3_", "2_")
    table.append([x, md.fmt(mine), md.fmt(sgd), md.pct(mean_of(runs, "dead_end", variant=v, ilr=x)),
                  mean_of(runs, "W2_lr_end", variant=v, ilr=x), md.pct(accuracy(runs, v, x)),
                  md.pct(accuracy(runs, partner, x)), md.pct(accuracy(runs, "sgd", x))])
  chance = v is not None and all(accuracy(runs, v, x) < study.CHANCE_ACCURACY for x in ilrs)
  flag = bool(worst < 1e-3 and all(same) and chance)
  text = [
    "### 4. Can Algorithm 3 recover?\n",
    md.figure(folder, folder / "lagged.png",
              "Left: W2's learning rate in the first step vs ILR for every rule (Algorithm 3 "
              "in red lies on SGD's diagonal). Middle and right: seed 0 at the largest shown "
              "ILR, H3 against H2 (the same beta update, stepped after it) and SGD."),
    f"Every Algorithm 3 rule's first-step learning rate differs from the ILR by at most "
    f"{worst:.2g} (relative; all layers, all {len(set(r['ilr'] for r in lagged))} first-step "
    f"ILRs). {v} (no clip) at ILRs >= 100, mean over seeds:\n",
    md.table(["ILR", f"largest abs. logit after step 1, {v}", "same, SGD",
              "dead hidden units at the end (%)", "W2 learning rate at the end",
              f"acc {v} (%)", "acc, Algorithm 2 (%)", "acc SGD (%)"], table),
    "",
    f"**Hypothesis 4: {verdict(flag)}** (rule: first step at the ILR within 0.1%, the same "
    "logits as SGD after it, and chance, below 20%, at every ILR >= 100). The lagged rule's "
    "first step is SGD's step at the ILR, whatever beta becomes next; beta then grows with "
    f"the blown-up gradients. {_stuck(runs, v, ilrs)}\n",
  ]
  findings = [md.Finding(f"{NAME}/alg3_first_lr_error", "Algorithm 3: max |first LR / ILR - 1|",
                         worst)]
  return text, findings, flag
