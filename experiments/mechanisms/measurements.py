"""Experiment 7's measurements: the first step, and the traced runs."""

from __future__ import annotations

import numpy as np

from experiments import common, files
from experiments.mechanisms import trace
from experiments.mechanisms.config import group, make, rule_parts


def _last(x) -> float:
  finite = np.asarray(x)[np.isfinite(x)]
  return float(finite[-1]) if finite.size else float("nan")


def run_row(label, ilr, seed, rec, accuracy, dead, steps_per_epoch) -> dict:
  """One traced run summarised: outcome, its first steps, its end, per layer."""
  nan = np.isnan(rec["loss"])
  loss = rec["loss"][-steps_per_epoch:]
  rule = label.removesuffix("_noclip")
  clip_c = trace.clip_ceiling(*rule_parts(rule)) if group(label) == "clipped" else float("nan")
  row = {
    "variant": label,
    "group": group(label),
    "ilr": float(ilr),
    "seed": int(seed),
    "test_accuracy": float(accuracy),
    "diverged": bool(dead),
    "diverged_at": int(np.argmax(nan)) if nan.any() else -1,
    "train_loss": float(np.mean(loss)),
    "sat_1": rec["sat"][1],
    "dead_1": rec["dead"][1],
    "dead_2": rec["dead"][2],
    "dead_end": _last(rec["dead"]),
    "max_logit_1": rec["max_logit"][1],
    "max_logit_end": _last(rec["max_logit"]),
    "clip_c": clip_c,
  }
  for layer in trace.LAYERS:
    row.update(
      {
        f"{layer}_g0": rec[f"{layer}_g"][0],
        f"{layer}_g1": rec[f"{layer}_g"][1],
        f"{layer}_lr0": rec[f"{layer}_lr"][0],
        f"{layer}_lr1": rec[f"{layer}_lr"][1],
        f"{layer}_lr_end": _last(rec[f"{layer}_lr"]),
        f"{layer}_beta_g0": rec[f"{layer}_beta_g"][0],
        f"{layer}_held": trace.held_steps(rec[f"{layer}_doubled"]),
        f"{layer}_w_max": float(np.nanmax(rec[f"{layer}_w"])),
      }
    )
  return {k: float(v) if isinstance(v, np.floating) else v for k, v in row.items()}


def step_rows(label, ilr, rec) -> list[dict]:
  """Every step of one run: the batch's numbers and, per layer, LR, norm, doubled fraction."""
  keys = ["loss", "sat", "dead", "max_logit"] + [
    f"{layer}_{k}" for layer in trace.LAYERS for k in ("lr", "w", "doubled")
  ]
  return [
    {"variant": label, "ilr": float(ilr), "step": t, **{k: float(rec[k][t]) for k in keys}}
    for t in range(rec["loss"].shape[0])
  ]


def first_step(results, ds) -> list[dict]:
  s = results.settings
  labels = [f"{r}_noclip" for r in s.first_step_rules]
  tracer = trace.Tracer(
    {lb: make(lb, s.weight_decay) for lb in labels},
    s.weight_decay,
    epochs=1,
    batch_size=s.batch_size,
    steps=1,
  )
  rows = []
  for label, (rec, _, _) in tracer(s.first_step_ilrs, s.seeds[0], ds).items():
    for i, ilr in enumerate(s.first_step_ilrs):
      for layer in trace.LAYERS:
        rows.append(
          {
            "variant": label,
            "ilr": ilr,
            "layer": layer,
            "algorithm": rule_parts(label.removesuffix("_noclip"))[1],
            "g0": rec[f"{layer}_g"][i, 0],
            "beta1": rec[f"{layer}_beta"][i, 0],
            "beta1_over_g0": rec[f"{layer}_beta_g"][i, 0],
            "lr0": rec[f"{layer}_lr"][i, 0],
          }
        )
  return [{k: float(v) if isinstance(v, np.floating) else v for k, v in r.items()} for r in rows]


def traces(cfg, results, ds) -> list[dict]:
  """Every traced run (its summary row); writes every step of the shown runs first."""
  s = results.settings
  tracer = trace.Tracer(
    {lb: make(lb, s.weight_decay) for lb in (*s.traced, *s.free)},
    s.weight_decay,
    epochs=s.epochs,
    batch_size=s.batch_size,
  )
  per_epoch = ds.num_train // s.batch_size
  shown = [x for x in s.ilrs if np.isclose(s.shown_ilrs, x).any()]
  runs, steps = [], []
  bar = common.progress_bar(cfg, len(s.seeds) * 2, "mechanisms (traced runs)")
  for seed in s.seeds:
    for labels, ilrs in ((s.traced, s.ilrs), (s.free, (1.0,))):
      for label, (rec, acc, dead) in tracer(ilrs, seed, ds, labels).items():
        for i, ilr in enumerate(ilrs):
          one = {k: v[i] for k, v in rec.items()}
          runs.append(run_row(label, ilr, seed, one, acc[i], dead[i], per_epoch))
          if seed == s.seeds[0] and ilr in shown and group(label) != "lr_free":
            steps += step_rows(label, ilr, one)
      if bar is not None:
        bar.update(1)
  if bar is not None:
    bar.close()
  files.write_csv(results.path("steps.csv"), steps)
  return runs
