"""The finished pieces of an interrupted sweep: one ``.npz`` file per (variant, seed, chunk of
grid points), named by a fingerprint of everything that determines it, so that calling
:func:`hyperreg_jax.sweep` again trains only what is missing. Each file also records which
run it belongs to (the sweep's fingerprint, the variant, the seed, the chunk), so a piece
copied over another one's name is refused instead of resumed."""

from __future__ import annotations

import json
import pathlib

import numpy as np

from hyperreg_jax import checkpoint as checkpoint_io
from hyperreg_jax.train._config import describe


class Pieces:
  """Finished pieces of a sweep, one (variant, seed, chunk of grid points) a file."""

  RETRY = "delete it, or run again with resume=False (--no-resume) to train every piece afresh"

  def __init__(self, directory, tag: str, labels=(), seeds=()):
    self.directory = checkpoint_io.check_writable(pathlib.Path(directory) / "piece", "checkpoint")
    self.directory = self.directory.parent
    self.tag = tag
    self.labels, self.seeds = list(labels), [int(s) for s in seeds]
    self.reused = 0

  @classmethod
  def open(cls, directory, resume, trainers, weight_decay, plan, seeds, arrays) -> Pieces:
    """The pieces of this sweep in ``directory``, named by a fingerprint of everything
    that determines them; with ``resume=False`` every saved piece is deleted first."""
    description = dict(
      variants={label: describe(trainer) for label, trainer in trainers.items()},
      weight_decay=weight_decay,
      seeds=seeds.tolist(),
      **plan.describe(),
    )
    tag = checkpoint_io.fingerprint(description, arrays)
    store = cls(directory, tag, labels=list(trainers), seeds=seeds)
    if not resume:
      store.clear()
    return store

  def _path(self, variant: int, seed: int, chunk: int) -> pathlib.Path:
    return self.directory / f"piece-{self.tag}-v{variant}-s{seed}-c{chunk}.npz"

  def clear(self) -> int:
    """Removes every saved piece in the directory (damaged and stale ones included)."""
    return checkpoint_io.remove_saved(self.directory, "piece-*.npz")

  def _identity(self, variant: int, seed: int, chunk: int) -> dict:
    """The run a piece belongs to, as recorded in its file."""
    return dict(
      sweep=self.tag, variant=self.labels[variant], seed=self.seeds[seed], chunk=int(chunk)
    )

  def load(self, variant, seed, chunk):
    path = self._path(variant, seed, chunk)
    saved = checkpoint_io.load(path, ("diverged", "diverged_at"), self.RETRY)
    if saved is None:
      return None
    expected = self._identity(variant, seed, chunk)
    try:
      recorded = json.loads(str(saved["identity"]))
    except (KeyError, ValueError):
      recorded = None
    if recorded != expected:
      raise ValueError(
        f"{path} belongs to another run: it holds {_describe(recorded)}, but its name is that "
        f"of {_describe(expected)} (a piece copied or renamed from elsewhere); {self.RETRY}."
      )
    self.reused += 1
    return saved["diverged"], saved["diverged_at"], checkpoint_io.unprefixed("history", saved)

  def save(self, variant, seed, chunk, piece) -> None:
    diverged, diverged_at, history = piece
    checkpoint_io.save(
      self._path(variant, seed, chunk),
      identity=np.asarray(json.dumps(self._identity(variant, seed, chunk), sort_keys=True)),
      diverged=diverged,
      diverged_at=diverged_at,
      **checkpoint_io.prefixed("history", history),
    )


def _describe(identity) -> str:
  if not isinstance(identity, dict):
    return "no record of its run"
  return (
    f"variant {identity.get('variant')!r}, seed {identity.get('seed')}, chunk "
    f"{identity.get('chunk')} of sweep {identity.get('sweep')}"
  )
