"""Re-runs the paper's and the reproducibility study's experiments and writes the report.

    python -m experiments [--only NAME ...] [--seeds 0 1] [--full] [--out results/NAME]
                          [--epochs N] [--ilrs 1e-3 1 ...] [--variants rkl1 sgd ...]
                          [--data-dir DIR] [--no-progress]

By default everything runs offline on the MNIST digits embedded in the package (4,000 train /
1,000 test) and on synthetic data where the real data is not shipped (CIFAR-shaped images for
the VGG smoke run, a linear-regression problem), at a scale meant for a 2-core CPU (each
experiment's wall time is in its ``timing.json`` and in the report). ``--full`` is the paper's scale where the data is available (full MNIST, 40
epochs; CIFAR-10, 100 epochs; through a local ``--data-dir`` or tensorflow-datasets).

Writes ``OUT/config.json`` (the configuration, library versions, device), one folder per
experiment (CSV data, PNG figures, its settings and wall time) and ``OUT/REPORT.md``. Every
file is written atomically and every experiment skips the training whose data is already
saved: interrupted, the same command finishes only what is missing.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

from experiments import (
  common,
  convergence,
  full_vs_minibatch,
  ilr_sensitivity,
  linear_regression,
  report,
  study_setting,
  vgg_cifar,
)

EXPERIMENTS = {
  m.NAME: m
  for m in (
    ilr_sensitivity,
    study_setting,
    convergence,
    linear_regression,
    vgg_cifar,
    full_vs_minibatch,
  )
}
PROG = "python -m experiments"


def parse_args(argv=None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
  parser.add_argument(
    "--only",
    nargs="+",
    metavar="NAME",
    help=f"run only these experiments, from: {' '.join(EXPERIMENTS)} (default: all)",
  )
  parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1], help="seeds (default 0 1)")
  parser.add_argument(
    "--full", action="store_true", help="the paper's scale: full MNIST and CIFAR-10"
  )
  parser.add_argument("--out", help="results folder (default results/<data>-<device>)")
  parser.add_argument("--epochs", type=int, help="epochs of every experiment (overrides)")
  parser.add_argument("--ilrs", nargs="+", type=float, help="ILR grid of ilr_sensitivity")
  parser.add_argument("--variants", nargs="+", metavar="NAME", help="rules and baselines to run")
  parser.add_argument("--data-dir", help="folder with full MNIST IDX files or cifar-10-batches-py")
  parser.add_argument("--no-progress", action="store_true", help="no progress bars")
  return parser.parse_args(argv)


def _fail(message: str):
  """Exits with status 2 and one line on stderr."""
  print(f"{PROG}: error: {message}", file=sys.stderr)
  raise SystemExit(2)


def config_from_args(args: argparse.Namespace) -> tuple[common.Config, list[str]]:
  """Validates the arguments; a bad one ends the command with a one-line message."""
  only = args.only or list(EXPERIMENTS)
  unknown = [name for name in only if name not in EXPERIMENTS]
  if unknown:
    _fail(f"unknown experiment {unknown[0]!r}; choose from {', '.join(EXPERIMENTS)}")
  if args.epochs is not None and args.epochs < 1:
    _fail(f"--epochs must be an integer >= 1, got {args.epochs}")
  if not args.seeds:
    _fail("--seeds needs at least one seed")
  if args.ilrs is not None and any(not (x > 0 and x < float("inf")) for x in args.ilrs):
    _fail(f"--ilrs must be finite numbers > 0, got {args.ilrs}")
  known = set(common.RULES) | set(common.BASELINES) | set(common.LR_FREE)
  bad = [v for v in args.variants or () if v not in known]
  if bad:
    _fail(f"unknown variant {bad[0]!r}; choose from {', '.join(sorted(known))}")
  data_dir = None
  if args.data_dir is not None:
    data_dir = pathlib.Path(args.data_dir).expanduser()
    if not data_dir.is_dir():
      _fail(f"--data-dir {args.data_dir!r} is not an existing folder")
  out = args.out or f"results/{'full' if args.full else 'embedded'}-{common.device_tag()}"
  cfg = common.Config(
    out=pathlib.Path(out),
    full=args.full,
    seeds=tuple(args.seeds),
    epochs=args.epochs,
    ilrs=None if args.ilrs is None else tuple(args.ilrs),
    variants=None if args.variants is None else tuple(args.variants),
    data_dir=data_dir,
    progress=not args.no_progress,
  )
  return cfg, only


def reproduce(cfg: common.Config, only: list[str]) -> pathlib.Path:
  """Runs the experiments ``only`` (what is missing of them) and writes the report."""
  common.write_json(
    cfg.out / "config.json",
    {"command": cfg.describe(), "experiments": only, "environment": common.environment()},
  )
  for name in only:
    timing = cfg.out / name / "timing.json"
    print(f"== {name}: {EXPERIMENTS[name].TITLE}", flush=True)
    start, cpu = time.perf_counter(), time.process_time()
    EXPERIMENTS[name].run(cfg)
    if not timing.exists():  # the times of the run that trained it (CPU: all its threads)
      common.write_json(
        timing,
        {
          "wall_s": round(time.perf_counter() - start, 1),
          "cpu_s": round(time.process_time() - cpu, 1),
        },
      )
  return report.write_report(cfg.out)


def main(argv=None):
  cfg, only = config_from_args(parse_args(argv))
  try:
    path = reproduce(cfg, only)
  except (ValueError, FileNotFoundError) as err:
    _fail(str(err).splitlines()[0])
  print(f"report: {path}")
