"""The finished pieces of an interrupted sweep: one ``.npz`` file per (variant, seed, chunk of
grid points), named by a fingerprint of everything that determines it, so that calling
:func:`hyperreg_jax.sweep` again trains only what is missing."""

from __future__ import annotations

import pathlib

from hyperreg_jax import checkpoint as checkpoint_io
from hyperreg_jax.train._config import describe


class Pieces:
  """Finished pieces of a sweep, one (variant, seed, chunk of grid points) a file."""

  RETRY = "delete it, or run again with resume=False (--no-resume) to train every piece afresh"

  def __init__(self, directory, tag: str):
    self.directory = checkpoint_io.check_writable(pathlib.Path(directory) / "piece", "checkpoint")
    self.directory = self.directory.parent
    self.tag = tag
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
    store = cls(directory, checkpoint_io.fingerprint(description, arrays))
    if not resume:
      store.clear()
    return store

  def _path(self, variant: int, seed: int, chunk: int) -> pathlib.Path:
    return self.directory / f"piece-{self.tag}-v{variant}-s{seed}-c{chunk}.npz"

  def clear(self) -> int:
    """Removes every saved piece in the directory (damaged and stale ones included)."""
    return checkpoint_io.remove_saved(self.directory, "piece-*.npz")

  def load(self, variant, seed, chunk):
    path = self._path(variant, seed, chunk)
    saved = checkpoint_io.load(path, ("diverged", "diverged_at"), self.RETRY)
    if saved is None:
      return None
    self.reused += 1
    return saved["diverged"], saved["diverged_at"], checkpoint_io.unprefixed("history", saved)

  def save(self, variant, seed, chunk, piece) -> None:
    diverged, diverged_at, history = piece
    checkpoint_io.save(
      self._path(variant, seed, chunk),
      diverged=diverged,
      diverged_at=diverged_at,
      **checkpoint_io.prefixed("history", history),
    )
