"""What every experiment shares: its configuration, atomic files, figures, data and variants.

Every file an experiment writes goes through :func:`write_csv`, :func:`write_json`,
:func:`save_figure` or :func:`save_npz`, which write a temporary file next to the target and
rename it: a killed run leaves either the old file or the new one, never half of one. An
experiment first saves its numbers, then draws its figures from the saved numbers; when the
numbers are already there it skips the training (:func:`cached_csv`), which is how the same
command, run again, finishes only what is missing.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import pathlib
import platform
from collections.abc import Callable, Sequence

import numpy as np

#: The two ILR conventions, as every figure and table names them.
MEAN_UNITS = "ILR, loss averaged over the batch (this library)"
SUM_UNITS = "ILR, loss summed over the batch of 128 (the study's units)"

#: A test accuracy below this ends "at chance" (10 classes: 10%).
CHANCE_ACCURACY = 0.2

#: L2 regularisation of the paper and the study (both experiments).
WEIGHT_DECAY = 1e-4


@dataclasses.dataclass(frozen=True)
class Config:
  """The command line of one reproduction, as data.

  Attributes:
    out: the results folder (``results/<run-name>``).
    full: the paper's scale where the data is there (full MNIST / CIFAR-10).
    seeds: the seeds of multi-seed experiments.
    epochs: overrides every experiment's number of epochs (``None``: each its own).
    ilrs: overrides the ILR grid of the ILR-sensitivity experiment.
    variants: restricts the hyper-regularized rules every experiment runs (``None``: all).
    data_dir: where full MNIST / CIFAR-10 files are (local IDX / ``cifar-10-batches-py``);
      ``None``: tensorflow-datasets' default.
    progress: show progress bars.
  """

  out: pathlib.Path
  full: bool = False
  seeds: tuple[int, ...] = (0, 1)
  epochs: int | None = None
  ilrs: tuple[float, ...] | None = None
  variants: tuple[str, ...] | None = None
  data_dir: pathlib.Path | None = None
  progress: bool = True

  def pick(self, default: int, full: int) -> int:
    """The number of epochs: the override, else ``full`` with ``--full``, else ``default``."""
    if self.epochs is not None:
      return self.epochs
    return full if self.full else default

  def rules(self, names: Sequence[str]) -> list[str]:
    """``names`` restricted to ``--variants`` (order kept)."""
    if self.variants is None:
      return list(names)
    return [n for n in names if n in self.variants]

  def describe(self) -> dict:
    return {
      "out": str(self.out),
      "full": self.full,
      "seeds": list(self.seeds),
      "epochs": self.epochs,
      "ilrs": None if self.ilrs is None else list(self.ilrs),
      "variants": None if self.variants is None else list(self.variants),
      "data_dir": None if self.data_dir is None else str(self.data_dir),
    }


# ----------------------------------------------------------------------------- sweeps


def mlp_sweep(cfg, name: str, s: dict, ds, variants, ilrs, **options):
  """``hr.sweep`` of the paper's MLP with an experiment's seeds, epochs, progress and pieces."""
  import hyperreg_jax as hr
  from hyperreg_jax import models

  return hr.sweep(
    models.MLP(),
    ds,
    variants,
    ilrs,
    seeds=s["seeds"],
    epochs=s["epochs"],
    progress=cfg.progress,
    checkpoint=cfg.out / name / "pieces",
    **options,
  )


# ----------------------------------------------------------------------------- atomic files


def _atomic_write(path: pathlib.Path, data: bytes) -> pathlib.Path:
  """The library's atomic write (temporary file, fsync, rename), for the experiments' files."""
  from hyperreg_jax import checkpoint

  with checkpoint.atomic_write(path) as f:
    f.write(data)
  return pathlib.Path(path)


def write_text(path, text: str) -> pathlib.Path:
  """Writes ``text`` to ``path`` atomically."""
  return _atomic_write(path, text.encode())


def write_json(path, obj) -> pathlib.Path:
  """Writes ``obj`` as indented JSON, atomically."""
  return write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_jsonable) + "\n")


def _jsonable(value):
  if isinstance(value, np.generic):
    return value.item()
  if isinstance(value, np.ndarray):
    return value.tolist()
  return str(value)


def write_csv(path, rows: Sequence[dict]) -> pathlib.Path:
  """Writes ``rows`` (dicts with the same keys) as CSV, atomically; floats with 6 digits."""
  if not rows:
    raise ValueError(f"write_csv({path}): no rows to write.")
  buffer = io.StringIO()
  writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
  writer.writeheader()
  for row in rows:
    writer.writerow({k: _cell(v) for k, v in row.items()})
  return write_text(path, buffer.getvalue())


def _cell(value):
  if isinstance(value, (bool, np.bool_)):
    return str(bool(value))
  if isinstance(value, (float, np.floating)):
    value = float(value)
    return "nan" if math.isnan(value) else f"{value:.6g}"
  return value


def read_csv(path) -> list[dict]:
  """The rows of a CSV written by :func:`write_csv`, numbers parsed back."""
  with open(path, newline="") as f:
    return [{k: _parse(v) for k, v in row.items()} for row in csv.DictReader(f)]


def _parse(text: str):
  if text in ("True", "False"):
    return text == "True"
  for kind in (int, float):
    try:
      return kind(text)
    except ValueError:
      pass
  return text


def cached_csv(path, compute: Callable[[], Sequence[dict]]) -> list[dict]:
  """The rows saved at ``path``; when there are none yet, ``compute()`` them and save.

  Reusing saved rows is said on stdout, so a re-run that trains nothing does not pass for
  a fresh one.
  """
  path = pathlib.Path(path)
  if path.exists():
    print(f"  reusing {path} (saved earlier; delete it, or use another --out, to train again)")
  else:
    write_csv(path, compute())
  return read_csv(path)


def save_figure(fig, path) -> pathlib.Path:
  """Saves a matplotlib figure as PNG atomically, without time stamps, and closes it."""
  import matplotlib.pyplot as plt

  buffer = io.BytesIO()
  fig.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
  plt.close(fig)
  return _atomic_write(path, buffer.getvalue())


def pyplot():
  """matplotlib.pyplot with the non-interactive backend."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  return plt


# ----------------------------------------------------------------------------- environment


def environment() -> dict:
  """Library versions and devices, for ``config.json`` and the report."""
  import flax
  import jax
  import matplotlib
  import optax

  import hyperreg_jax

  devices = jax.devices()
  return {
    "python": platform.python_version(),
    "platform": platform.platform(terse=True),
    "jax": jax.__version__,
    "optax": optax.__version__,
    "flax": flax.__version__,
    "numpy": np.__version__,
    "matplotlib": matplotlib.__version__,
    "hyperreg_jax": hyperreg_jax.__version__,
    "backend": jax.default_backend(),
    "devices": f"{len(devices)} x {devices[0].device_kind}",
    "cpu_count": os.cpu_count(),
  }


def device_tag() -> str:
  """``cpu``, ``gpu`` or ``tpu``: the default backend, for run names."""
  import jax

  return jax.default_backend()


# ----------------------------------------------------------------------------- data


def load_mnist(cfg: Config):
  """The embedded subset by default; full MNIST with ``--full`` (local files or tfds)."""
  from hyperreg_jax import data

  if not cfg.full:
    return data.load_mnist()
  if cfg.data_dir is not None and any(cfg.data_dir.glob("*idx3-ubyte*")):
    return data.load_mnist("local", cfg.data_dir)
  return data.load_mnist("tfds", cfg.data_dir)


def data_label(ds) -> str:
  """A one-line description of a data set, e.g. ``MNIST (embedded subset, 4000/1000)``."""
  source = ds.info.get("source", "?")
  kind = {"embedded": "embedded subset", "synthetic": "synthetic", "local": "full set"}.get(
    source, "full set"
  )
  return f"{ds.name} ({kind}, {ds.num_train} train / {ds.num_test} test)"


# ----------------------------------------------------------------------------- variants


def rule_variant(name: str, *, clipped: bool, weight_decay: float = WEIGHT_DECAY, **kw):
  """``init_lr -> optax transformation`` for a paper rule (or ``adagrad_diag``).

  ``clipped``: the paper's growth clipping ``growth=2``, else none (``growth=None``). The
  returned function is named after the variant (``rkl2``, ``rkl2_noclip``), so that sweep
  checkpoints tell the variants apart. Extra keywords (``warmup_steps``, ``warmup_lr``) go to
  the alias.
  """
  import hyperreg_jax as hr

  growth = 2.0 if clipped else None
  if name == "adagrad_diag":

    def make(init_lr):
      return hr.hyperreg(
        init_lr,
        divergence="neyman_chi2",
        algorithm=1,
        weight_decay=weight_decay,
        growth=growth,
        **kw,
      )

  else:
    alias = hr.PAPER_RULES[name]

    def make(init_lr):
      return alias(init_lr, weight_decay=weight_decay, growth=growth, **kw)

  make.__name__ = make.__qualname__ = variant_label(name, clipped, **kw)
  return make


def variant_label(name: str, clipped: bool, **kw) -> str:
  label = name if clipped else f"{name}_noclip"
  if kw.get("warmup_steps"):
    label += f"_warmup{kw['warmup_steps']}"
  return label


def baseline_variant(name: str, weight_decay: float = WEIGHT_DECAY):
  """SGD, AdaGrad or Adam at learning rate ``init_lr``, with the same L2 in front."""
  import optax

  base = {
    "sgd": optax.sgd,
    "adagrad": lambda lr: optax.adagrad(lr, initial_accumulator_value=0.0, eps=1e-10),
    "adam": optax.adam,
  }[name]

  def make(init_lr):
    return optax.chain(optax.add_decayed_weights(weight_decay), base(init_lr))

  make.__name__ = make.__qualname__ = name
  return make


def lr_free_variant(name: str, weight_decay: float = WEIGHT_DECAY):
  """A learning-rate-free optimizer of ``optax.contrib`` at its defaults (ILR ignored)."""
  import optax
  from optax import contrib

  base = {
    "prodigy": contrib.prodigy,
    "dog": contrib.dog,
    "dowg": contrib.dowg,
    "cocob": contrib.cocob,
    "dadapt_adamw": contrib.dadapt_adamw,
  }[name]

  def make(init_lr):
    del init_lr
    return optax.chain(optax.add_decayed_weights(weight_decay), base())

  make.__name__ = make.__qualname__ = name
  return make


LR_FREE = ("prodigy", "dog", "dowg", "cocob", "dadapt_adamw")
BASELINES = ("sgd", "adagrad", "adam")
RULES = (
  "kl1",
  "kl2",
  "kl3",
  "rkl1",
  "rkl2",
  "rkl3",
  "hellinger1",
  "hellinger2",
  "hellinger3",
  "chi2_1",
  "chi2_2",
  "chi2_3",
  "adagrad_diag",
)


# ----------------------------------------------------------------------------- sweeps


def sweep_rows(result, **extra) -> list[dict]:
  """One row per (variant, ILR, seed, epoch) of a :class:`hyperreg_jax.SweepResult`."""
  per_epoch = sorted(k for k in result.curves if not k.startswith("step_"))
  rows = []
  for v, label in enumerate(result.variants):
    for k, ilr in enumerate(result.ilrs):
      for s, seed in enumerate(result.seeds):
        epochs = result.curves[per_epoch[0]].shape[-1]
        for e in range(epochs):
          row = dict(extra, variant=label, ilr=float(ilr), seed=int(seed), epoch=e + 1)
          row["diverged"] = bool(result.diverged[v, k, s])
          row["diverged_at"] = int(result.diverged_at[v, k, s])
          for m in ("train_loss", "train_accuracy", "test_loss", "test_accuracy", "lr_mean"):
            if m in result.curves:
              row[m] = float(result.curves[m][v, k, s, e])
          rows.append(row)
  return rows


def final_rows(rows: Sequence[dict]) -> list[dict]:
  """The last epoch's row of every run."""
  last = {}
  for row in rows:
    key = (row.get("group"), row["variant"], row["ilr"], row["seed"])
    if key not in last or row["epoch"] > last[key]["epoch"]:
      last[key] = row
  return list(last.values())


def outcome(row: dict) -> str:
  """``diverged``, ``chance`` or ``ok`` for a final row."""
  if row["diverged"] or not np.isfinite(row.get("test_accuracy", np.nan)):
    return "diverged"
  if row["test_accuracy"] < CHANCE_ACCURACY:
    return "chance"
  return "ok"
