"""Experiment 5: VGG-16-BN on CIFAR-10 (paper Fig. 3; study Fig. 4): SGD vs RKL2, H2, X2_2, KL2.

The study's settings: batch 128, SGD at learning rate 0.1 without momentum, the rules at ILR
0.1 with the growth clip 2, L2 1e-4, the loss averaged over the batch (PyTorch's default),
random crop 32 with padding 4 and horizontal flip, inputs normalised with the ImageNet mean
and standard deviation. By default a **smoke run on synthetic CIFAR-shaped images** (it
shows the pipeline works, not how the methods compare); with ``--full``, real CIFAR-10 for
100 epochs (a local ``cifar-10-batches-py`` under ``--data-dir``, else tensorflow-datasets),
every batch sharded over all devices, checkpointed after every epoch so a killed run
resumes where it stopped.

As the study's VGG code, the rules' weight decay is decoupled (``decay="decoupled"``): beta is
driven by the gradient without the decay term, and the step is ``(g + 1e-4 * params) /
beta`` (the paper's MNIST form couples them, docs/method.md section 4). Our VGG has no
dropout.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from experiments import common, files, study
from experiments import markdown as md

NAME = "vgg_cifar"
TITLE = "VGG-16-BN on CIFAR-10: SGD vs RKL2, H2, X2_2, KL2"
LR = 0.1
#: Where the report says ``--only vgg_cifar`` runs it, when it did not run.
WHERE = (
  " (with `--full`, where CIFAR-10 is: `--data-dir DIR` holding `cifar-10-batches-py`, or a "
  "prepared tensorflow-datasets copy; nothing is downloaded at run time)"
)
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)
METRICS = ("train_loss", "train_accuracy", "test_loss", "test_accuracy")

#: The study's CIFAR-10 table: method -> (train loss ep 100, test acc ep 100, best test acc).
REPORTED = {
  "sgd": (0.0407, 0.8911, 0.9047),
  "rkl2": (0.0397, 0.8953, 0.9031),
  "hellinger2": (0.0407, 0.8991, 0.9034),
  "chi2_2": (0.0384, 0.8948, 0.9043),
}

CLAIMS = {
  "table": (
    "study Fig. 4 and its logs: VGG-16-BN on CIFAR-10, 100 epochs",
    "SGD 89.11% (best 90.47), RKL2 89.53, H2 89.91, X2_2 89.48: no gain over SGD.",
  ),
  "speed": (
    "study section 4.2, Fig. 4: no speed-up over SGD on VGG-16-BN / CIFAR-10",
    "Same accuracy curves for SGD and the rules.",
  ),
}


@dataclasses.dataclass(frozen=True)
class Settings:
  """Attributes: epochs; batch size; images (``None``: the whole data set); seed; variants."""

  epochs: int
  batch_size: int
  synthetic_images: int | None
  seed: int = 0
  lr: float = LR
  variants: tuple[str, ...] = ("sgd", "rkl2", "hellinger2", "chi2_2", "kl2")
  weight_decay: float = study.WEIGHT_DECAY
  growth: float = 2.0
  decay: str = "decoupled"  # the study's: beta ignores the decay term

  def summary(self) -> str:
    return (
      f"{md.plural(self.epochs, 'epoch')}, batch {self.batch_size}, seed {self.seed}, "
      f"{self.decay} weight decay"
    )


#: The smoke run: 32 synthetic images, in one batch per step (VGG-16 on a CPU costs about a
#: GFLOP per image and step).
EMBEDDED = Settings(epochs=2, batch_size=32, synthetic_images=32)
FULL = Settings(epochs=100, batch_size=study.BATCH, synthetic_images=None)


def settings(cfg: common.Config) -> Settings:
  extra = {} if cfg.seeds is None else {"seed": int(cfg.seeds[0])}
  return common.scaled(EMBEDDED, FULL, cfg, **extra)


def load(cfg: common.Config, **sizes):
  """Synthetic CIFAR-shaped images by default; with ``--full``, CIFAR-10 from the python
  version in ``--data-dir`` or from a prepared tensorflow-datasets copy (nothing is
  downloaded). ``sizes``: ``max_train``, ``max_test``."""
  from hyperreg_jax import data

  if not cfg.full:
    n = EMBEDDED.synthetic_images
    return data.load_cifar10("synthetic", num_train=n, num_test=n, seed=0)
  if cfg.data_dir is not None and (
    (cfg.data_dir / "cifar-10-batches-py").is_dir() or (cfg.data_dir / "data_batch_1").exists()
  ):
    return data.load_cifar10("local", cfg.data_dir, **sizes)
  return data.load_cifar10("tfds", cfg.data_dir, download=False, **sizes)


def augment(key, x):
  """Random crop 32 from the 4-padded image and a random horizontal flip, per image."""
  import jax
  import jax.numpy as jnp

  n = x.shape[0]
  k_crop, k_flip = jax.random.split(key)
  padded = jnp.pad(x, ((0, 0), (4, 4), (4, 4), (0, 0)), mode="constant")
  offsets = jax.random.randint(k_crop, (n, 2), 0, 9)
  crop = jax.vmap(lambda img, o: jax.lax.dynamic_slice(img, (o[0], o[1], 0), (32, 32, 3)))
  x = crop(padded, offsets)
  flip = jax.random.bernoulli(k_flip, 0.5, (n,))
  return jnp.where(flip[:, None, None, None], x[:, :, ::-1, :], x)


def normalise(x):
  return (x - MEAN) / STD


def _make(name, decay):
  if name == "sgd":
    return common.baseline_variant("sgd")
  return common.rule_variant(name, clipped=True, decay=decay)


def augment_and_normalise(key, x):
  """A training batch as the study fed it: cropped, flipped, then normalised."""
  return normalise(augment(key, x))


def _train_one(cfg, s, ds, name) -> list[dict]:
  """Trains one variant through the engine's host loop, :func:`hyperreg_jax.train.fit`.

  The jitted step runs once per batch (on XLA's CPU backend a VGG step inside a
  ``lax.scan`` is several times slower, ``benchmarks/bench_conv_scan.py``), the crop and
  flip are drawn per batch, and an Orbax checkpoint is written after every epoch: a killed
  run resumes after its last finished epoch. Every variant starts from the same weights
  (the same seed). Per-epoch rows; ``diverged`` from the epoch whose loss is not finite.
  """
  import jax

  import hyperreg_jax as hr
  from hyperreg_jax import models, train

  trainer = train.Trainer(
    models.VGG16BN(), _make(name, s.decay), batch_size=s.batch_size, epochs=s.epochs
  )
  if len(jax.devices()) > 1 and s.batch_size % len(jax.devices()) == 0:
    trainer = hr.data_parallel(trainer)
  _, history = train.fit(
    trainer,
    s.lr,
    jax.random.key(s.seed),
    ds.x_train,
    ds.y_train,
    normalise(ds.x_test),
    ds.y_test,
    augment=jax.jit(augment_and_normalise),
    progress=cfg.progress,
    checkpoint=cfg.out / NAME / "checkpoints" / name,
  )
  return [
    {
      "variant": name,
      "epoch": e + 1,
      **{k: float(history[k][e]) for k in METRICS},
      "diverged": not np.isfinite(history["train_loss"][: e + 1]).all(),
    }
    for e in range(s.epochs)
  ]


def run(cfg: common.Config, s: Settings) -> None:
  from experiments import figures

  ds = load(cfg)
  results = common.Results(cfg.out / NAME, s, common.data_record(ds))

  def train_all():
    return [row for name in s.variants for row in _train_one(cfg, s, ds, name)]

  rows = results.cached_csv("curves.csv", train_all)
  panels = []
  for metric, label, log_y in (
    ("train_loss", "training loss (epoch mean)", True),
    ("test_accuracy", "test accuracy (fraction)", False),
  ):
    series = {}
    for variant in dict.fromkeys(r["variant"] for r in rows):
      run_rows = [r for r in rows if r["variant"] == variant]
      series[variant] = (
        np.asarray([r["epoch"] for r in run_rows]),
        np.asarray([r[metric] for r in run_rows]),
        None,
        None,
      )
    panels.append((label, label, log_y, series))
  synthetic = results.data["source"] == "synthetic"
  kind = "SYNTHETIC CIFAR-shaped images (smoke run)" if synthetic else "CIFAR-10"
  figures.curves(
    panels,
    results.path("curves.png"),
    title=f"VGG-16-BN on {kind}: SGD lr {s.lr:g} vs rules at ILR {s.lr:g} (clip 2), batch "
    f"{s.batch_size}",
    xlabel="epoch",
    notes=f"{results.data['label']}; one seed; loss averaged over the batch",
  )


# ----------------------------------------------------------------------------- report


def section(folder, s: Settings, data: dict) -> md.Section:
  """The report's section: curves and the study's table beside ours (or the smoke run's)."""
  curves = files.read_csv(folder / "curves.csv")
  synthetic = data["source"] == "synthetic"
  rows = []
  for variant in dict.fromkeys(r["variant"] for r in curves):
    run = [r for r in curves if r["variant"] == variant]
    rep = REPORTED.get(variant)
    rows.append(
      [
        variant,
        run[-1]["train_loss"],
        md.pct(run[-1]["test_accuracy"]),
        md.pct(max(r["test_accuracy"] for r in run)),
        run[-1]["diverged"],
        "; ".join(md.fmt(rep[0]) if i == 0 else md.pct(x) for i, x in enumerate(rep))
        if rep
        else "-",
      ]
    )
  label = "SYNTHETIC smoke run" if synthetic else "real CIFAR-10"
  text = [
    f"**{label}.** Data: {data['label']}. {s.summary()} (the study: 100 epochs, batch 128), "
    f"SGD lr {s.lr:g} without momentum, rules at ILR {s.lr:g} with growth clip {s.growth:g}, "
    f"L2 {s.weight_decay:g}, random crop 32 (padding 4) + horizontal flip, ImageNet "
    "normalisation.\n",
    md.figure(
      folder,
      folder / "curves.png",
      f"VGG-16-BN, {label}: training loss (log scale) and test accuracy per epoch.",
    ),
    md.table(
      [
        "method",
        "final train loss",
        "final test acc (%)",
        "best test acc (%)",
        "diverged",
        "study: loss ep 100; acc ep 100; best (%)",
      ],
      rows,
    ),
    "",
  ]
  if synthetic:
    text.append(
      "This is a smoke run on synthetic images: it shows that the pipeline "
      "(augmentation, batch norm, the rules on a convolutional network, checkpoints) "
      "works, and says nothing about how the methods compare on CIFAR-10.\n"
    )
  why = (
    "CIFAR-10 is not shipped; run with --full where it is available."
    if synthetic
    else "Decoupled weight decay as theirs; no dropout."
  )
  claims = [
    md.Claim(
      *CLAIMS["table"],
      "smoke run on synthetic images only"
      if synthetic
      else "; ".join(f"{r[0]} {r[2]}%" for r in rows),
      md.UNTESTED if synthetic else md.PARTLY,
      why,
    ),
    md.Claim(
      *CLAIMS["speed"],
      "not measured on real data" if synthetic else "see section 5",
      md.UNTESTED if synthetic else md.PARTLY,
      why,
    ),
  ]
  findings = [
    md.Finding(f"{NAME}/{r[0]}/final_train_loss", f"{r[0]}: final training loss", r[1])
    for r in rows
  ]
  return md.Section("\n".join(text), claims, findings)
