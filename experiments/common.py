"""What every experiment shares: the run's options, its folder of saved results, data, variants.

An experiment's settings are a frozen dataclass with one instance per scale (``EMBEDDED``,
``FULL``); :func:`scaled` picks one and applies the command line's overrides. Its results
live in one folder (:class:`Results`) whose ``settings.json`` records the settings and data
that made them: saved results are reused only when both match exactly, and a mismatch
stops the command with a message naming what differs, so a result never passes for one of
other settings. An experiment first saves its numbers, then draws its figures from them;
when the numbers are already there it does not train again (:meth:`Results.cached_csv`),
which is how the same command, run again, finishes only what is missing.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import platform
from collections.abc import Callable, Sequence

import numpy as np

from experiments import files, study


@dataclasses.dataclass(frozen=True)
class Config:
  """The command line of one reproduction, as data.

  Attributes:
    out: the results folder.
    full: the paper's scale (full MNIST, CIFAR-10) instead of the embedded default.
    seeds: overrides the seeds of every multi-seed experiment (``None``: each its own).
    epochs: overrides every experiment's number of epochs (``None``: each its own).
    ilrs: overrides the ILR grid of the ILR-sensitivity experiment.
    variants: restricts the rules and baselines every experiment runs (``None``: all).
    data_dir: where full MNIST / CIFAR-10 files are; ``None``: the default places.
    progress: show progress bars.
  """

  out: pathlib.Path
  full: bool = False
  seeds: tuple[int, ...] | None = None
  epochs: int | None = None
  ilrs: tuple[float, ...] | None = None
  variants: tuple[str, ...] | None = None
  data_dir: pathlib.Path | None = None
  progress: bool = True

  def describe(self) -> dict:
    return {k: _plain(v) for k, v in dataclasses.asdict(self).items() if k != "progress"}


def _plain(value):
  if isinstance(value, pathlib.Path):
    return str(value)
  if isinstance(value, tuple):
    return list(value)
  return value


#: Settings fields that ``--variants`` filters.
_NAME_LISTS = ("rules", "baselines", "lr_free", "variants")


def scaled(embedded, full, cfg: Config, **overrides):
  """The settings of ``cfg``'s scale, with the command line's overrides applied.

  ``--epochs`` and ``--seeds`` replace the fields of those names, ``--variants`` filters the
  name lists (``rules``, ``baselines``, ``lr_free``, ``variants``); ``overrides`` go last.
  """
  base = full if cfg.full else embedded
  fields = {f.name for f in dataclasses.fields(base)}
  changes = {}
  if cfg.epochs is not None and "epochs" in fields:
    changes["epochs"] = cfg.epochs
  if cfg.seeds is not None and "seeds" in fields:
    changes["seeds"] = tuple(cfg.seeds)
  if cfg.variants is not None:
    for name in _NAME_LISTS:
      if name in fields:
        changes[name] = tuple(v for v in getattr(base, name) if v in cfg.variants)
  return dataclasses.replace(base, **changes, **overrides)


def settings_json(settings) -> dict:
  """The settings as JSON-able data (tuples as lists)."""
  return {k: _plain(v) for k, v in dataclasses.asdict(settings).items()}


def settings_from_json(cls, data: dict):
  """``cls`` rebuilt from :func:`settings_json`'s output (lists back to tuples).

  Raises:
    ValueError: ``data`` was saved by a version of ``cls`` with other fields (naming them).
  """
  fields = dataclasses.fields(cls)
  required = [f.name for f in fields if f.default is f.default_factory is dataclasses.MISSING]
  unknown = [k for k in data if k not in {f.name for f in fields}]
  missing = [k for k in required if k not in data]
  if unknown or missing:
    raise ValueError(
      "settings saved by another version of this experiment ("
      + "; ".join(
        f"{what}: {', '.join(names)}"
        for what, names in (("fields it no longer has", unknown), ("fields missing", missing))
        if names
      )
      + ")"
    )
  return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


class Results:
  """One experiment's folder of saved results, keyed by the settings and data that made them.

  Args:
    folder: the experiment's folder (``OUT/<name>``).
    settings: the experiment's settings (a frozen dataclass).
    data: what it trains on (:func:`data_record`).

  Raises:
    ValueError: the folder holds results of other settings or data (the message names every
      field that differs), or results without a record of their settings.
  """

  def __init__(self, folder, settings, data: dict):
    self.folder = pathlib.Path(folder)
    self.settings = settings
    self.data = data
    if check_saved(self.folder, settings, data) is None:
      files.write_json(self.folder / "settings.json", _record(settings, data))

  def path(self, name: str) -> pathlib.Path:
    return self.folder / name

  def cached_csv(self, name: str, compute: Callable[[], Sequence[dict]]) -> list[dict]:
    """The rows saved as ``name``; when there are none yet, ``compute()`` them and save.

    Reusing saved rows is said on stdout, so a re-run that trains nothing does not pass for
    a fresh one.
    """
    path = self.path(name)
    if path.exists():
      print(f"  reusing {path} (saved earlier with these settings)")
    else:
      files.write_csv(path, compute())
    return files.read_csv(path)


def _record(settings, data) -> dict:
  return {"settings": settings_json(settings), "data": data}


def check_saved(folder, settings, data: dict | None = None) -> dict | None:
  """The settings record saved in ``folder`` (``None`` if none), checked against ``settings``
  and ``data`` (``None``: not checked).

  Raises:
    ValueError: the folder holds results of other settings or data (naming every field that
      differs), or results without a record of their settings.
  """
  folder = pathlib.Path(folder)
  saved = files.read_json(folder / "settings.json")
  if saved is None:
    if folder.exists() and any(folder.glob("*.csv")):
      raise ValueError(
        f"{folder} holds results without a record of their settings; use another --out, or "
        "delete that folder to train them again."
      )
    return None
  now = _record(settings, saved["data"] if data is None else data)
  if saved != now:
    raise ValueError(
      f"{folder} holds results of other settings ({differences(saved, now)}); use another "
      "--out, or delete that folder to train them again."
    )
  return saved


def differences(saved: dict, now: dict, names=("saved", "now")) -> str:
  """``"epochs: saved 5, now 1; seeds: saved [0, 1], now [5]"`` for two settings records."""
  old, new = dict(saved["settings"], data=saved["data"]), dict(now["settings"], data=now["data"])
  keys = [k for k in dict.fromkeys([*old, *new]) if old.get(k) != new.get(k)]
  if not keys:
    return "the record itself differs"
  return "; ".join(f"{k}: {names[0]} {old.get(k)!r}, {names[1]} {new.get(k)!r}" for k in keys)


def saved_settings(folder, cls):
  """``(settings, data)`` recorded in an experiment's folder, or ``None`` if it has none."""
  saved = files.read_json(pathlib.Path(folder) / "settings.json")
  if saved is None:
    return None
  return settings_from_json(cls, saved["settings"]), saved["data"]


# ----------------------------------------------------------------------------- sweeps


def mlp_sweep(
  cfg: Config, results: Results, data, variants, ilrs, model=None, seeds=None, **options
):
  """``hr.sweep`` of the paper's MLP (``model``, by default ``models.MLP()``) with the
  settings' epochs and seeds (or ``seeds``), checkpointed."""
  import hyperreg_jax as hr
  from hyperreg_jax import models

  s = results.settings
  return hr.sweep(
    model or models.MLP(),
    data,
    variants,
    ilrs,
    seeds=list(s.seeds if seeds is None else seeds),
    epochs=s.epochs,
    progress=cfg.progress,
    checkpoint=results.path("pieces"),
    **options,
  )


#: The per-epoch curves :func:`sweep_rows` keeps, where a sweep recorded them.
METRICS = (
  "train_loss",
  "train_accuracy",
  "test_loss",
  "test_accuracy",
  "lr_mean",
  "eval_train_loss",
  "eval_train_accuracy",
)


def sweep_rows(result, **extra) -> list[dict]:
  """One row per (variant, ILR, seed, epoch) of a :class:`hyperreg_jax.SweepResult`."""
  epochs = result.curves["train_loss"].shape[-1]
  rows = []
  for v, label in enumerate(result.variants):
    for k, ilr in enumerate(result.ilrs):
      for s, seed in enumerate(result.seeds):
        for e in range(epochs):
          row = dict(extra, variant=label, ilr=float(ilr), seed=int(seed), epoch=e + 1)
          row["diverged"] = bool(result.diverged[v, k, s])
          if "step_loss" in result.curves:  # for hr.run_outcome's loss criterion
            row["first_train_loss"] = float(result.curves["step_loss"][v, k, s, 0, 0])
          row["diverged_at"] = int(result.diverged_at[v, k, s])
          for m in METRICS:
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
  """``diverged``, ``failed`` or ``ok`` for a final row: the library's one definition,
  :func:`hr.run_outcome`, on its test accuracy and, where the row has its first step's loss
  (``first_train_loss``, from :func:`sweep_rows`), its training loss."""
  import hyperreg_jax as hr

  accuracy = row.get("test_accuracy", np.nan)
  first = row.get("first_train_loss")
  return hr.run_outcome(
    bool(row["diverged"]) or not np.isfinite(accuracy),
    test_accuracy=accuracy,
    num_classes=study.NUM_CLASSES,
    final_train_loss=None if first is None else row["train_loss"],
    first_train_loss=first,
  )


# ----------------------------------------------------------------------------- variants


def rule_variant(name: str, *, clipped: bool, weight_decay: float = study.WEIGHT_DECAY, **kw):
  """``init_lr -> optax transformation`` for a rule of :data:`study.RULES`.

  ``clipped``: the paper's growth clipping ``growth=2``, else none (``growth=None``). The
  returned function is named after the variant (``rkl2``, ``rkl2_noclip``), so that sweep
  checkpoints tell the variants apart. Extra keywords (``warmup_steps``, ``warmup_lr``) go to
  the alias.
  """
  import hyperreg_jax as hr

  alias = getattr(hr, name)

  def make(init_lr):
    return alias(init_lr, weight_decay=weight_decay, growth=2.0 if clipped else None, **kw)

  make.__name__ = make.__qualname__ = variant_label(name, clipped, **kw)
  return make


def variant_label(name: str, clipped: bool, **kw) -> str:
  label = name if clipped else f"{name}_noclip"
  if kw.get("warmup_steps"):
    label += f"_warmup{kw['warmup_steps']}"
  return label


def baseline_variant(name: str, weight_decay: float = study.WEIGHT_DECAY):
  """SGD, AdaGrad (the library's registry) or Adam at learning rate ``init_lr``, with the
  same L2 in front."""
  import optax

  import hyperreg_jax as hr

  if name == "adam":

    def make(init_lr):
      return optax.chain(optax.add_decayed_weights(weight_decay), optax.adam(init_lr))

  else:
    base = hr.make_optimizer(name, weight_decay)

    def make(init_lr):
      return base(init_lr)

  make.__name__ = make.__qualname__ = name
  return make


def lr_free_variant(name: str, weight_decay: float = study.WEIGHT_DECAY):
  """A learning-rate-free optimizer of ``optax.contrib`` at its defaults (ILR ignored)."""
  import optax
  from optax import contrib

  base = getattr(contrib, name)

  def make(init_lr):
    del init_lr
    return optax.chain(optax.add_decayed_weights(weight_decay), base())

  make.__name__ = make.__qualname__ = name
  return make


# ----------------------------------------------------------------------------- data, machine


def load_mnist(cfg: Config, **sizes):
  """The embedded subset by default; with ``--full``, the full MNIST that ``python -m
  hyperreg_jax.data fetch mnist`` placed (or the IDX files in ``--data-dir``), checked
  against the originals' sha256. ``sizes``: ``max_train``, ``max_test``."""
  from hyperreg_jax import data

  if not cfg.full:
    return data.load_mnist(**sizes)
  return data.load_mnist("local", cfg.data_dir, **sizes)


def data_record(ds, note: str = "") -> dict:
  """What a run trained on: ``{"label": "MNIST (embedded subset, 4000 train / 1000 test)",
  "num_train": 4000, "num_test": 1000}``; ``note`` is added to the label."""
  source = ds.info.get("source", "?")
  kind = {"embedded": "embedded subset", "synthetic": "synthetic"}.get(source, "full set")
  label = f"{ds.name} ({kind}, {ds.num_train} train / {ds.num_test} test){note}"
  return {
    "label": label,
    "source": source,
    "num_train": int(ds.num_train),
    "num_test": int(ds.num_test),
  }


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


def progress_bar(cfg: Config, total: int, desc: str):
  """A progress bar over ``total`` runs when ``cfg.progress`` (else ``None``)."""
  from hyperreg_jax.train import progress_bar

  return progress_bar(cfg.progress, total=total, desc=desc, unit="run")
