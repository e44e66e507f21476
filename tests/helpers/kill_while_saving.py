"""Kills a process at random moments while it saves, and checks every file after each kill.

    python tests/helpers/kill_while_saving.py DIRECTORY ROUNDS SEED

Writes generation 0 of a sweep result (``.npz`` + ``.json``), its ``.csv``, a sweep piece
and a plot-like ``.png``, then ROUNDS times forks a child that rewrites all of them
with new generations in a loop, SIGKILLs it after a random delay and checks that each
file on disk is one complete generation. Prints a JSON summary; exits 1 on the first
damaged file. Forks before JAX starts a backend, so the children are cheap.
"""

import json
import os
import pathlib
import random
import signal
import sys
import time
import warnings

import numpy as np

from hyperreg_jax import SweepResult
from hyperreg_jax import checkpoint as checkpoint_io

V, K, S, E, STEPS = 2, 3, 2, 4, 40


def result(generation: int) -> SweepResult:
  full = lambda *shape: np.full(shape, generation, np.float32)
  return SweepResult(
    variants=["a", "b"],
    ilrs=np.array([0.1, 1.0, 10.0]),
    seeds=np.array([0, 1]),
    curves={"train_loss": full(V, K, S, E), "step_loss": full(V, K, S, E, STEPS)},
    diverged=np.zeros((V, K, S), bool),
    diverged_at=np.full((V, K, S), generation, np.int32),
    meta={"generation": generation, "padding": "x" * (generation % 5000)},
  )


def write(directory: pathlib.Path, generation: int, first: int = 0) -> None:
  """Writes every file once, starting with the ``first``-th writer (so each gets killed)."""
  res = result(generation)

  def png():
    with checkpoint_io.atomic_write(directory / "plot.png") as f:
      f.write(generation.to_bytes(8, "little") * (1000 + generation % 3000))

  writers = [
    lambda: res.save(directory / "result"),
    lambda: res.to_csv(directory / "result.csv"),
    lambda: checkpoint_io.save(directory / "piece.npz", generation=np.full(20_000, generation)),
    png,
  ]
  for writer in writers[first:] + writers[:first]:
    writer()


def generations(directory: pathlib.Path) -> dict[str, int]:
  """The generation each file holds; raises AssertionError when one is incomplete."""
  found = {}
  saved = checkpoint_io.load(directory / "result.npz")
  g = int(saved["diverged_at"].flat[0])
  assert (saved["curve/step_loss"] == g).all() and saved["curve/step_loss"].shape[-1] == STEPS
  assert (saved["curve/train_loss"] == g).all() and (saved["diverged_at"] == g).all()
  found["result.npz"] = g
  meta = json.loads((directory / "result.json").read_text())["meta"]
  assert meta["padding"] == "x" * (meta["generation"] % 5000)
  found["result.json"] = meta["generation"]
  lines = (directory / "result.csv").read_text().splitlines()
  assert len(lines) == 1 + V * K * S * E, len(lines)
  values = {line.rsplit(",", 2)[-2] for line in lines[1:]}  # the diverged_at column
  assert len(values) == 1, values
  found["result.csv"] = int(values.pop())
  piece = checkpoint_io.load(directory / "piece.npz")["generation"]
  assert piece.shape == (20_000,) and (piece == piece[0]).all()
  found["piece.npz"] = int(piece[0])
  blob = (directory / "plot.png").read_bytes()
  g = int.from_bytes(blob[:8], "little")
  assert blob == g.to_bytes(8, "little") * (1000 + g % 3000)
  found["plot.png"] = g
  return found


def main(directory: str, rounds: int, seed: int) -> int:
  directory = pathlib.Path(directory)
  rng = random.Random(seed)
  write(directory, 0)
  seen = {name: {g} for name, g in generations(directory).items()}
  # JAX warns about any fork; these children never use JAX, only numpy and files.
  warnings.filterwarnings("ignore", "os.fork", RuntimeWarning)
  for r in range(rounds):
    pid = os.fork()
    if pid == 0:  # the child: save new generations until killed
      generation = 1 + r * 1_000_000
      while True:
        write(directory, generation, first=r % 4)
        generation += 1
    time.sleep(rng.uniform(0.0, 0.04))
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    try:
      found = generations(directory)
    except Exception as err:  # noqa: BLE001 (report any way a file is damaged)
      print(json.dumps({"round": r, "damaged": f"{type(err).__name__}: {err}"}))
      return 1
    for name, g in found.items():
      seen[name].add(g)
  leftovers = sorted(p.name for p in directory.iterdir() if p.name.startswith("."))
  summary = {
    "rounds": rounds,
    "generations": {name: len(gs) for name, gs in seen.items()},
    "leftovers": leftovers,
  }
  print(json.dumps(summary))
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
