"""The training of experiment 2: every cell of the study's table and curves, in three columns.

* ``code``: the study's NumPy code, literally (:mod:`experiments.study_code`). Its RKL3 is its
  RKL2 (the same formula, bit for bit), so RKL3's rows repeat RKL2's runs.
* ``setup``: the library in the study's setup (:func:`experiments.study.study_variant`):
  its init, pixels, summed loss, decay on the weights, warm-up and reset step, float64.
* ``defaults``: the library's own model and rules (Flax's init, pixels in [0, 1], float32,
  decay on every parameter, the guarded RKL2/H2 and lagged RKL3, the rule from the first
  step), at the study's ILRs in its units (summed loss, no clip, its warm-up).

Every column reports the loss the study reports, measured its way: on all the training
images after each epoch, plus its L2 term (``Trainer(eval_train=True, penalty=...)``).
Rows: one per (column, rule, ILR, seed, epoch). The literal code's runs are saved one by one
(``pieces/code/``), the library's sweeps by ``hr.sweep``'s checkpoints: an interrupted run
resumes where it stopped.
"""

from __future__ import annotations

import jax
import numpy as np

from experiments import common, files, study, study_code

COLUMNS = ("code", "setup", "defaults")
#: The study's code at its NaNs: key -> (what changes, ``study_code.train``'s switches).
NAN_SWITCHES = {
  "literal": ("nothing: the study's code as written", {}),
  "guarded": ("RKL2/H2 guarded where g^2 >= beta^2 (the library's rule)", {"guarded": True}),
  "shifted": ("the gradient's softmax shifted by the largest logit", {"shifted": True}),
  "lecun": (
    "weights at the scale of Flax's init (1 / sqrt(fan-in)), zero biases",
    {"init": "lecun"},
  ),
  "adapt_reset": ("the rule adapts on the reset step too", {"reset_step": False}),
}
#: The literal code's run-level records kept beside its rows.
CODE_EVENTS = (
  "first_bad_grad",
  "first_negative_beta",
  "first_bad_beta",
  "first_bad_weights",
  "first_overflow",
  "first_bad_loss_epoch",
  "max_logit",
  "reset",
  "steps",
)


def cells(s, column: str) -> list[tuple[str, float, tuple[int, ...]]]:
  """Every (rule, ILR, seeds) a column trains: the study's table (its rules at its ILRs), its
  curves (GD and its rules at the curve ILR), more seeds where it calibrates. The study's
  code, the slowest, runs ``code_seeds`` outside the calibration cells."""
  seeds = s.code_seeds if column == "code" else s.seeds
  out = {}
  for rule in s.rules:
    for ilr in s.ilrs:
      out[(rule, ilr)] = seeds
  for rule in ("gd", *s.curve_rules):
    out[(rule, s.curve_ilr)] = seeds
  for rule in s.calibration_rules:
    out[(rule, s.curve_ilr)] = s.calibration_seeds
  return [(rule, ilr, seeds) for (rule, ilr), seeds in out.items()]


def train_code(cfg, results, ds) -> tuple[list[dict], list[dict]]:
  """The study's code, literally: per-epoch rows, and one record of events per run."""
  s = results.settings
  jobs = [(rule, ilr, seed) for rule, ilr, seeds in cells(s, "code") for seed in seeds]
  bar = common.progress_bar(cfg, len(jobs), "study's code (NumPy)")
  rows, events = [], []
  for rule, ilr, seed in jobs:
    code = study.CODE_NAMES["rkl2" if rule == "rkl3" else rule]  # its RKL3 is its RKL2
    piece = results.path(f"pieces/code/{code}_{ilr:g}_{seed}.json")
    record = files.read_json(piece)
    if record is None:
      record = study_code.train(
        code,
        ilr,
        ds.x_train,
        ds.y_train,
        epochs=s.epochs,
        seed=seed,
        x_test=ds.x_test,
        y_test=ds.y_test,
      )
      files.write_json(piece, record)
    for h in record["history"]:
      rows.append(
        dict(
          column="code",
          rule=rule,
          ilr=ilr,
          seed=seed,
          epoch=h["epoch"],
          train_loss=h["train_loss"],
          test_accuracy=h["test_accuracy"],
          diverged=record["first_bad_weights"] >= 0,
        )
      )
    events.append(dict(rule=rule, ilr=ilr, seed=seed, **{k: record[k] for k in CODE_EVENTS}))
    if bar is not None:
      bar.update(1)
  if bar is not None:
    bar.close()
  return rows, events


def _sweep_rows(result, column: str) -> list[dict]:
  rows = []
  for row in common.sweep_rows(result):
    rows.append(
      dict(
        column=column,
        rule=row["variant"],
        ilr=row["ilr"],
        seed=row["seed"],
        epoch=row["epoch"],
        train_loss=row["eval_train_loss"],
        test_accuracy=row["test_accuracy"],
        diverged=row["diverged"],
      )
    )
  return rows


def _groups(s, column: str):
  """The library's sweeps: (rule, warm-up, ILRs, seeds), one compiled program each."""
  by_key = {}
  for rule, ilr, seeds in cells(s, column):
    warm = rule != "gd" and study.warms_up(ilr)
    by_key.setdefault((rule, warm, seeds), []).append(ilr)
  return [(rule, warm, tuple(ilrs), seeds) for (rule, warm, seeds), ilrs in by_key.items()]


def train_library(cfg, results, ds, column: str) -> list[dict]:
  """The library in the study's setup (``setup``, float64) or at its defaults (``defaults``)."""
  s = results.settings
  penalty = study.study_penalty(ds.num_train)
  options = dict(batch_size=s.batch_size, loss_reduction="sum", eval_train=True, penalty=penalty)
  rows = []
  with jax.enable_x64(column == "setup"):
    if column == "setup":
      data = (
        study.study_pixels(ds.x_train),
        np.asarray(ds.y_train),
        study.study_pixels(ds.x_test),
        np.asarray(ds.y_test),
      )
      model = study.study_model()
    else:
      data, model = ds, None
    for rule, warm, ilrs, seeds in _groups(s, column):
      if column == "setup":
        make = study.study_variant(rule, warm)
      elif rule == "gd":
        make = common.baseline_variant("sgd", weight_decay=s.weight_decay)
      else:
        warmup = dict(warmup_steps=study.WARMUP_STEPS, warmup_lr=study.WARMUP_LR) if warm else {}
        make = common.rule_variant(rule, clipped=False, weight_decay=s.weight_decay, **warmup)
      result = common.mlp_sweep(
        cfg, results, data, {rule: make}, list(ilrs), model=model, seeds=seeds, **options
      )
      rows += _sweep_rows(result, column)
  return rows


def train(cfg, results, ds) -> list[dict]:
  """Every column's rows (and the code's events, saved as ``code_events.csv``)."""
  s = results.settings
  rows = []
  for column in s.columns:
    if column == "code":
      code_rows, events = train_code(cfg, results, ds)
      files.write_csv(results.path("code_events.csv"), events)
      rows += code_rows
    else:
      rows += train_library(cfg, results, ds, column)
  return rows


def explain_nans(cfg, results, ds, nan_cells) -> list[dict]:
  """The study's code at each of its non-finite cells, literally and with one of its choices
  at a time made the library's, for ``nan_epochs``: what breaks first, and what prevents it."""
  s = results.settings
  rows = []
  jobs = [(rule, ilr, key) for rule, ilr in nan_cells for key in NAN_SWITCHES]
  bar = common.progress_bar(cfg, len(jobs), "study's code at its NaNs")
  for rule, ilr, key in jobs:
    piece = results.path(f"pieces/nans/{rule}_{ilr:g}_{key}.json")
    record = files.read_json(piece)
    if record is None:
      _, switches = NAN_SWITCHES[key]
      record = study_code.train(
        study.CODE_NAMES["rkl2" if rule == "rkl3" else rule],
        ilr,
        ds.x_train,
        ds.y_train,
        epochs=s.nan_epochs,
        seed=s.seeds[0],
        x_test=ds.x_test,
        y_test=ds.y_test,
        **switches,
      )
      record.pop("history")
      files.write_json(piece, record)
    rows.append(dict(rule=rule, ilr=ilr, change=key, **record))
    if bar is not None:
      bar.update(1)
  if bar is not None:
    bar.close()
  return rows
