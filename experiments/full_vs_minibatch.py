"""Experiment 6: full batch vs mini-batch (study section 4.2: no divergence in full batch).

The MNIST MLP in the study's units (loss summed over the batch, no clip, L2 as its code, no
warm-up, so that only the batch mode differs), the rules that diverged in the study (RKL2,
H2) and two that did not (RKL1, KL2), its ILR grid 1e-4 ... 10, trained for the same number of
steps with mini-batches of 128 and with the whole training subset as one batch. To keep the
full-batch steps affordable the embedded run uses the first 1,024 training digits (8
mini-batches per epoch, 8 full-batch steps per epoch). At full scale both modes get the same
number of epochs instead, as the study's full-batch mode (one full-batch step per epoch).

With a summed loss a full batch of N digits has a gradient about N/128 times larger than a
batch of 128: by 1-homogeneity the full-batch run acts like a mini-batch run at an N/128
times larger ILR, with less noise.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from experiments import common, files, study
from experiments import markdown as md

NAME = "full_vs_minibatch"
TITLE = "Full batch vs mini-batch (summed loss, no clip, the study's ILR grid)"
MODES = ("mini-batch 128", "full batch")

CLAIMS = {
  "full_batch": (
    "study section 4.2: the rules did not diverge in full-batch mode",
    "Full batch avoided the divergences seen with mini-batches.",
  ),
}


@dataclasses.dataclass(frozen=True)
class Settings:
  """Attributes: epochs; seeds; training digits used (``None``: all); whether the full-batch
  run takes as many ``"steps"`` as the mini-batch one or as many ``"epochs"``; ILRs; rules."""

  epochs: int
  seeds: tuple[int, ...]
  num_train: int | None
  equal: str = "steps"
  ilrs: tuple[float, ...] = study.ILRS
  rules: tuple[str, ...] = ("rkl1", "rkl2", "hellinger2", "kl2")
  batch_size: int = study.BATCH
  weight_decay: float = study.WEIGHT_DECAY / study.BATCH

  def summary(self) -> str:
    return (
      f"{md.plural(self.epochs, 'epoch')}, equal {self.equal} in both modes, seeds "
      f"{list(self.seeds)}"
    )

  def full_batch_steps(self, n: int) -> int:
    """Full-batch steps per epoch on ``n`` digits."""
    return n // self.batch_size if self.equal == "steps" else 1


EMBEDDED = Settings(epochs=4, seeds=(0,), num_train=1024)
FULL = Settings(epochs=10, seeds=(0,), num_train=None, equal="epochs")


def settings(cfg: common.Config) -> Settings:
  return common.scaled(EMBEDDED, FULL, cfg)


def _train(cfg, results, ds) -> list[dict]:
  s = results.settings
  n = s.num_train or ds.num_train
  data = (ds.x_train[:n], ds.y_train[:n], ds.x_test, ds.y_test)
  variants = {
    name: common.rule_variant(name, clipped=False, weight_decay=s.weight_decay) for name in s.rules
  }
  rows = []
  for mode, batch in zip(MODES, (s.batch_size, None)):
    result = common.mlp_sweep(
      cfg,
      results,
      data,
      variants,
      s.ilrs,
      batch_size=batch,
      full_batch_steps=1 if batch else s.full_batch_steps(n),
      loss_reduction="sum",
    )
    rows += common.sweep_rows(result, mode=mode)
  return rows


def run(cfg: common.Config, s: Settings) -> None:
  from experiments import figures

  ds = common.load_mnist(cfg)
  note = f", first {s.num_train} training digits" if s.num_train else ""
  results = common.Results(cfg.out / NAME, s, common.data_record(ds, note))
  rows = results.cached_csv("runs.csv", lambda: _train(cfg, results, ds))
  final = common.final_rows([dict(r, group=r["mode"]) for r in rows])
  files.write_csv(results.path("final.csv"), final)
  plt = files.pyplot()
  panels = max(1, len(s.rules))
  fig, axes = plt.subplots(1, panels, figsize=(max(9.0, 5.2 * panels), 3.8), squeeze=False)
  for ax, rule in zip(axes[0], s.rules):
    for mode, style in zip(MODES, ("-", "--")):
      sub = [dict(r, variant=mode) for r in final if r["variant"] == rule and r["mode"] == mode]
      figures.sensitivity_lines(ax, sub, [mode], "test_accuracy", {mode: {"ls": style}}, 1.0)
    ax.set_title(rule, fontsize="medium")
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("ILR (summed loss)", fontsize="small")
    ax.set_ylabel("final test accuracy (fraction)", fontsize="small")
    figures.legend_outside(ax, fontsize="x-small")
  n = s.num_train or ds.num_train
  figures.save_titled(
    fig,
    results.path("full_vs_minibatch.png"),
    f"Full batch ({n} digits, {s.epochs * s.full_batch_steps(n)} steps) vs mini-batch "
    f"{s.batch_size} ({s.epochs * (n // s.batch_size)} steps); x axis: {study.SUM_UNITS}\n"
    f"x at the top: diverged; o: {study.FAILED}",
  )


# ----------------------------------------------------------------------------- report


def section(folder, s: Settings, data: dict) -> md.Section:
  """The report's section: final accuracy per ILR in both modes, divergences counted."""
  final = files.read_csv(folder / "final.csv")
  n = s.num_train or data["num_train"]
  rows = []
  for rule in s.rules:
    for mode in MODES:
      cells = []
      for ilr in s.ilrs:
        at = [r for r in final if r["variant"] == rule and r["mode"] == mode and r["ilr"] == ilr]
        outcomes = [common.outcome(r) for r in at]
        if "diverged" in outcomes:
          cells.append("diverged")
        else:
          chance = " (failed)" if "failed" in outcomes else ""
          cells.append(md.pct(np.mean([r["test_accuracy"] for r in at])) + chance)
      rows.append([rule, mode] + cells)
  count = {m: sum(r["mode"] == m for r in final) for m in MODES}
  div = {m: sum(common.outcome(r) == "diverged" for r in final if r["mode"] == m) for m in MODES}
  chance = {m: sum(common.outcome(r) == "failed" for r in final if r["mode"] == m) for m in MODES}
  text = [
    f"Data: {data['label']}. {s.summary()} ({n // s.batch_size} mini-batch and "
    f"{s.full_batch_steps(n)} full-batch steps per epoch); loss summed "
    f"over the batch, no clip, no warm-up, weight decay {s.weight_decay:.3g} on the summed "
    "gradient.\n",
    md.figure(
      folder,
      folder / "full_vs_minibatch.png",
      f"Final test accuracy vs ILR (summed loss), per rule: solid mini-batch "
      f"{s.batch_size}, dashed full batch of {n}; x at the top: diverged; o: {study.FAILED}.",
    ),
    "Final test accuracy (%) per ILR:\n",
    md.table(["rule", "mode"] + [f"ILR {x:g}" for x in s.ilrs], rows),
    "",
    "**Findings.** Diverged runs: "
    + ", ".join(f"{m} {div[m]} of {count[m]}" for m in MODES)
    + "; failed (hr.run_outcome): "
    + ", ".join(f"{m} {chance[m]} of {count[m]}" for m in MODES)
    + ".\n",
  ]
  mini, full = div[MODES[0]], div[MODES[1]]
  claims = [
    md.Claim(
      *CLAIMS["full_batch"],
      ", ".join(f"{m}: {div[m]} diverged, {chance[m]} failed of {count[m]}" for m in MODES),
      md.HOLDS if full == 0 and mini > 0 else md.FAILS if full > 0 else md.PARTLY,
      f"{n} digits as the full batch (theirs 60,000), no warm-up; summed loss, so the full-batch "
      f"gradient is ~{n // s.batch_size}x the mini-batch one.",
    )
  ]
  findings = [
    md.Finding(f"{NAME}/{key}/{m}", f"{m}: runs {key}", counts[m])
    for key, counts in (("diverged", div), ("at_chance", chance))
    for m in MODES
  ]
  return md.Section("\n".join(text), claims, findings)
