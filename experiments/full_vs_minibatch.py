"""Experiment 6: full batch vs mini-batch (the study: "the rules did not diverge in full batch").

The MNIST MLP in the study's units (loss summed over the batch, no clip, L2 as its code, no
warm-up, so that only the batch mode differs), the rules that diverged in the study (RKL2,
H2) and two that did not (RKL1, KL2), its ILR grid 1e-4 ... 10, trained for the same number of
steps with mini-batches of 128 and with the full training set as one batch. To keep the
full-batch steps affordable both modes use the first 1,024 training digits (8 mini-batches
per epoch, 8 full-batch steps per epoch).

With a summed loss a full batch of 1,024 has a gradient about 8x larger than a batch of 128:
by 1-homogeneity the full-batch run acts like a mini-batch run at an 8x larger ILR, with
less noise.
"""

from __future__ import annotations

from experiments import common

NAME = "full_vs_minibatch"
TITLE = "Full batch vs mini-batch (summed loss, no clip, the study's ILR grid)"
RULES = ("rkl1", "rkl2", "hellinger2", "kl2")
NUM_TRAIN = 1024
BATCH = 128


def settings(cfg: common.Config) -> dict:
  return {
    "epochs": cfg.pick(4, 40),
    "num_train": NUM_TRAIN,
    "ilrs": [1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0],
    "seeds": list(cfg.seeds[:1]),
    "batch_size": BATCH,
    "steps_per_epoch": NUM_TRAIN // BATCH,
    "loss_reduction": "sum",
    "weight_decay": common.WEIGHT_DECAY / BATCH,
    "rules": cfg.rules(RULES),
    "units": common.SUM_UNITS,
  }


def _train(cfg, s, ds) -> list[dict]:
  data = (ds.x_train[:NUM_TRAIN], ds.y_train[:NUM_TRAIN], ds.x_test, ds.y_test)
  variants = {
    name: common.rule_variant(name, clipped=False, weight_decay=s["weight_decay"])
    for name in s["rules"]
  }
  rows = []
  for mode, batch in (("mini-batch 128", BATCH), ("full batch", None)):
    result = common.mlp_sweep(
      cfg,
      NAME,
      s,
      data,
      variants,
      s["ilrs"],
      batch_size=batch,
      full_batch_steps=1 if batch else s["steps_per_epoch"],
      loss_reduction="sum",
    )
    rows += common.sweep_rows(result, mode=mode)
  return rows


def run(cfg: common.Config) -> dict:
  from experiments import figures

  s = settings(cfg)
  out = cfg.out / NAME
  ds = common.load_mnist(cfg)
  s["data"] = common.data_label(ds) + f", first {NUM_TRAIN} training digits"
  rows = common.cached_csv(out / "runs.csv", lambda: _train(cfg, s, ds))
  final = common.final_rows([dict(r, group=r["mode"]) for r in rows])
  common.write_csv(out / "final.csv", final)
  plt = common.pyplot()
  panels = max(1, len(s["rules"]))
  fig, axes = plt.subplots(1, panels, figsize=(max(9.0, 3.6 * panels), 3.8), squeeze=False)
  for ax, rule in zip(axes[0], s["rules"]):
    for mode, style in (("mini-batch 128", "-"), ("full batch", "--")):
      sub = [dict(r, variant=mode) for r in final if r["variant"] == rule and r["mode"] == mode]
      figures.sensitivity_lines(ax, sub, [mode], "test_accuracy", {mode: {"ls": style}}, 1.0)
    ax.set_title(rule, fontsize="medium")
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("ILR (summed loss)", fontsize="small")
    ax.set_ylabel("final test accuracy (fraction)", fontsize="small")
    ax.legend(fontsize="x-small")
  fig.suptitle(
    f"Full batch ({NUM_TRAIN} digits) vs mini-batch 128, {s['epochs'] * s['steps_per_epoch']} "
    f"steps each; x axis: {s['units']}\nx at the top: diverged; o: ended at chance (<20%)",
    fontsize="medium",
  )
  fig.tight_layout()
  common.save_figure(fig, out / "full_vs_minibatch.png")
  common.write_json(out / "settings.json", s)
  return s
