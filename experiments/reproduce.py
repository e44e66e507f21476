"""Re-runs the paper's and the reproducibility study's experiments and writes the report.

    python -m experiments [--only NAME ...] [--seeds 0 1] [--full] [--out DIR]
                          [--epochs N] [--ilrs 1e-3 1 ...] [--variants rkl1 sgd ...]
                          [--data-dir DIR] [--reference DIR] [--no-progress]

By default everything runs offline on the MNIST digits embedded in the package (4,000 train /
1,000 test) and on synthetic data where the real data is not shipped (CIFAR-shaped images for
the VGG smoke run, a linear-regression problem), at a scale meant for a 2-core CPU, into
``results/local/<data>-<device>`` (a folder git ignores). ``--full`` is the paper's scale
where the data is available (full MNIST, CIFAR-10). ``--out results/embedded-cpu``
regenerates the committed reference run.

Writes ``OUT/config.json`` (the command, library versions, device), one folder per
experiment (CSV data, PNG figures, ``settings.json``: the settings and data that made them;
``timing.json``: the wall and CPU time of the invocations that trained it) and
``OUT/REPORT.md`` with ``OUT/findings.json``, which set this run beside the reference run.
Every file is written atomically and an experiment skips the training whose results are
already saved with the same settings: interrupted, the same command finishes only what is
missing; saved results of other settings stop the command with a message that names what
differs.
"""

from __future__ import annotations

import argparse
import contextlib
import pathlib
import sys
import threading
import time

from experiments import common, files, report, study

EXPERIMENTS = {m.NAME: m for m in report.EXPERIMENTS}
PROG = "python -m experiments"
#: The experiments that do not train on MNIST.
NOT_MNIST = ("linear_regression", "vgg_cifar")
#: How to give an experiment its data at ``--full``, beyond what the loader's error says.
DATA_HINTS = {"vgg_cifar": " (For this command: --data-dir FOLDER holding cifar-10-batches-py.)"}
MNIST_HINT = " (Or for this command: --data-dir FOLDER holding the four MNIST IDX files.)"
#: The committed reference runs, by scale.
REFERENCE = {
  False: report.ROOT / "results/embedded-cpu",
  True: report.ROOT / "results/full-mnist-cpu",
}


def parse_args(argv=None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
  parser.add_argument(
    "--only",
    nargs="+",
    metavar="NAME",
    help=f"run only these experiments, from: {' '.join(EXPERIMENTS)} (default: all)",
  )
  parser.add_argument("--seeds", nargs="+", type=int, help="seeds (default: each its own, 0 1)")
  parser.add_argument(
    "--full", action="store_true", help="the paper's scale: full MNIST and CIFAR-10"
  )
  parser.add_argument("--out", help="results folder (default results/local/<data>-<device>)")
  parser.add_argument(
    "--reference", help="run folder to compare with (default: the committed reference run)"
  )
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
  if args.seeds is not None and not args.seeds:
    _fail("--seeds needs at least one seed")
  if args.ilrs is not None and any(not (x > 0 and x < float("inf")) for x in args.ilrs):
    _fail(f"--ilrs must be finite numbers > 0, got {args.ilrs}")
  known = {*study.RULES, *study.BASELINES, *study.LR_FREE}
  bad = [v for v in args.variants or () if v not in known]
  if bad:
    _fail(f"unknown variant {bad[0]!r}; choose from {', '.join(sorted(known))}")
  data_dir = None
  if args.data_dir is not None:
    data_dir = pathlib.Path(args.data_dir).expanduser()
    if not data_dir.is_dir():
      _fail(f"--data-dir {args.data_dir!r} is not an existing folder")
  out = args.out or f"results/local/{'full' if args.full else 'embedded'}-{common.device_tag()}"
  cfg = common.Config(
    out=pathlib.Path(out),
    full=args.full,
    seeds=None if args.seeds is None else tuple(args.seeds),
    epochs=args.epochs,
    ilrs=None if args.ilrs is None else tuple(args.ilrs),
    variants=None if args.variants is None else tuple(args.variants),
    data_dir=data_dir,
    progress=not args.no_progress,
  )
  return cfg, only


def check_data(cfg: common.Config, only: list[str]) -> None:
  """With ``--full``, fails before anything trains when the data an experiment of ``only``
  needs is not here (nothing is downloaded at run time): reads one example of each."""
  if not cfg.full:
    return
  mnist = [name for name in only if name not in NOT_MNIST]
  loads = {mnist[0]: common.load_mnist} if mnist else {}  # one MNIST check serves them all
  if "vgg_cifar" in only:
    loads["vgg_cifar"] = EXPERIMENTS["vgg_cifar"].load
  for name, load in loads.items():
    try:
      load(cfg, max_train=1, max_test=1)
    except FileNotFoundError as err:
      others = " ".join(n for n in only if n != name) or "..."
      raise FileNotFoundError(
        f"{name} at --full needs data that is not here: {str(err).rstrip('.')}."
        f"{DATA_HINTS.get(name, MNIST_HINT)} Or "
        f"leave {name} out: --only {others}"
      ) from None


def reproduce(cfg: common.Config, only: list[str], reference=None) -> pathlib.Path:
  """Runs the experiments ``only`` (what is missing of them) and writes the report.

  ``reference``: the run folder the report compares with (default: the committed one of
  this scale).
  """
  settings = {name: EXPERIMENTS[name].settings(cfg) for name in only}
  for name, s in settings.items():  # before anything is written or trained
    common.check_saved(cfg.out / name, s)
  check_data(cfg, only)
  reference = pathlib.Path(reference or REFERENCE[cfg.full]).resolve()
  files.write_json(
    cfg.out / "config.json",
    {
      "command": cfg.describe(),
      "experiments": only,
      "environment": common.environment(),
      "reference": report.shown(reference),
    },
  )
  for name in only:
    print(f"== {name}: {EXPERIMENTS[name].TITLE}", flush=True)
    with timed(cfg.out / name / "timing.json"):
      EXPERIMENTS[name].run(cfg, settings[name])
  return report.write_report(cfg.out, reference)


@contextlib.contextmanager
def timed(path: pathlib.Path, every: float = 30.0):
  """Adds the wall and CPU seconds (all threads) of the block to ``path``.

  The file sums every invocation that trained the experiment: it is rewritten every
  ``every`` seconds while the block runs (``"done": false``), so an interrupted run keeps
  its time and the resumed one adds to it. Once ``"done"``, it is left as it is: a later
  invocation that only reuses saved results trained nothing.
  """
  saved = files.read_json(path)
  if saved is not None and saved.get("done", True):
    yield
    return
  saved = saved or {"wall_s": 0.0, "cpu_s": 0.0, "invocations": 0}
  start, cpu = time.perf_counter(), time.process_time()

  def write(done: bool):
    files.write_json(
      path,
      {
        **saved,  # and any note an earlier invocation left
        "wall_s": round(saved["wall_s"] + time.perf_counter() - start, 1),
        "cpu_s": round(saved["cpu_s"] + time.process_time() - cpu, 1),
        "invocations": saved.get("invocations", 1) + 1,
        "done": done,
      },
    )

  stop = threading.Event()

  def tick():
    while not stop.wait(every):
      write(done=False)

  ticker = threading.Thread(target=tick, daemon=True)
  ticker.start()
  done = False
  try:
    yield
    done = True
  finally:
    stop.set()
    ticker.join()
    write(done)


def main(argv=None):
  args = parse_args(argv)
  cfg, only = config_from_args(args)
  print(
    f"{PROG}: {', '.join(only)} into {cfg.out}; an interrupted run resumes where it stopped "
    "(loading JAX and compiling take a while before the first progress bar).",
    flush=True,
  )
  try:
    path = reproduce(cfg, only, args.reference)
  except (ValueError, FileNotFoundError) as err:
    _fail(str(err).splitlines()[0])
  except KeyboardInterrupt:
    print(
      f"\ninterrupted: the finished results are saved in {cfg.out} (every file complete or "
      "untouched); run the same command again to resume.",
      flush=True,
    )
    raise SystemExit(130) from None
  print(f"report: {path}")
