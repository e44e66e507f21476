"""Time one full-MNIST epoch: the project's engine with hr.rkl1 against a Flax-style SGD loop.

One epoch = the 60,000 training digits of the full MNIST in mini-batches of 128 (468 steps,
the last partial batch dropped, a new permutation each epoch), the paper's MLP
784-500(sigmoid)-10 (``hyperreg_jax.models.MLP``), mean cross-entropy, ILR / learning rate 0.1,
the data already on the device, compilation excluded, timed to ``block_until_ready``:

* **engine, hr.rkl1**: ``hr.rkl1(0.1)`` (its default weight decay 1e-4 included) in
  ``hyperreg_jax.train.Trainer``, one jitted ``train.train_epoch`` (a ``lax.scan`` over the
  steps, shuffling on device, the divergence guard, per-step metrics, the epoch's
  ``lr_stats``): the program ``train.fit`` runs each epoch, without test data.
* **Flax loop, optax.sgd** (the peer): the same model trained with ``optax.sgd(0.1)`` by a
  host loop written as Flax's ``examples/mnist/train.py`` writes its ``train_epoch``: a
  ``flax.training.train_state.TrainState``, ``jax.random.permutation`` once an epoch, a
  Python loop over the batches that indexes the on-device arrays and calls one jitted
  ``train_step`` (forward, backward, ``apply_gradients``, loss and accuracy) per batch,
  and the epoch's mean loss and accuracy fetched at the end.
* **engine, optax.sgd** (context): ``optax.sgd(0.1)`` in the same engine, which separates
  what the engine costs from what the rule costs.

Every repeat trains one epoch from the same initial state. The epochs are timed
round-robin (``--repeats`` rounds, the starting loop rotating each round) after one
untimed epoch each; each figure is the median (and the fastest) of its repeats, and the
ratio is to the Flax loop measured in the same run.

Goal (the full-scale issue): the engine with hr.rkl1 at most 1.1x the Flax loop with
optax.sgd. Benchmarks are never pass/fail tests: a missed goal is reported, not raised.
Without the full MNIST (``python -m hyperreg_jax.data fetch mnist``) it says so and times
the 4,000 embedded digits instead.

Run: ``python benchmarks/bench_flax_loop.py [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import functools
import statistics

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax.training import train_state
from timing import round_robin

import hyperreg_jax as hr
from hyperreg_jax import data, train
from hyperreg_jax.models import MLP

LR, BATCH = 0.1, 128
GOAL = 1.1  # engine with hr.rkl1 / Flax loop with optax.sgd
FLAX = "Flax loop, optax.sgd (jitted train_step per batch)"
ENGINE_RKL1 = "engine, hr.rkl1 (train_epoch jitted)"
ENGINE_SGD = "engine, optax.sgd (train_epoch jitted)"


def load_digits():
  """``(x, y, description)``: the full MNIST's training set, or the embedded digits."""
  try:
    ds = data.load_mnist("local")
    where = f"full MNIST, {ds.info['data_dir']}"
  except FileNotFoundError:
    print(
      "NOTE: the full MNIST is not there (python -m hyperreg_jax.data fetch mnist puts it "
      "there); timing the embedded digits instead, not the paper's scale."
    )
    ds = data.load_mnist()
    where = "embedded subset"
  return jax.device_put(ds.x_train), jax.device_put(ds.y_train), where


# ----------------------------------------------------------------------------- Flax loop


@jax.jit
def train_step(state, images, labels):
  """One SGD step, as Flax's MNIST example computes it: loss, gradients, update, accuracy."""

  def loss_fn(params):
    logits = state.apply_fn({"params": params}, images)
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
    return loss, logits

  (loss, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
  accuracy = jnp.mean(jnp.argmax(logits, -1) == labels)
  return state.apply_gradients(grads=grads), loss, accuracy


def train_epoch(state, images, labels, rng):
  """One epoch of the Flax example's ``train_epoch``: permute, loop over the batches."""
  steps = len(images) // BATCH
  perms = jax.random.permutation(rng, len(images))[: steps * BATCH].reshape(steps, BATCH)
  losses, accuracies = [], []
  for perm in perms:
    state, loss, accuracy = train_step(state, images[perm, ...], labels[perm, ...])
    losses.append(loss)
    accuracies.append(accuracy)
  return state, np.mean(losses), np.mean(accuracies)


def flax_epoch(x, y):
  """A call that trains one Flax-loop epoch from a fixed initial state."""
  model = MLP()
  params = model.init(jax.random.key(0), x[:1])["params"]
  state = train_state.TrainState.create(apply_fn=model.apply, params=params, tx=optax.sgd(LR))
  rng = jax.random.key(1)
  return lambda: jax.block_until_ready(train_epoch(state, x, y, rng))


# ----------------------------------------------------------------------------- engine


def engine_epoch(make_tx, x, y):
  """A call that trains one epoch of ``train.train_epoch``, jitted, from a fixed initial
  state."""
  trainer = train.Trainer(MLP(), make_tx, batch_size=BATCH)
  state = train.init_state(trainer, jax.random.key(0), LR, x[:1])
  epoch = functools.partial(train.train_epoch, trainer)
  epoch = jax.jit(epoch).lower(state, LR, jax.random.key(1), x, y).compile()
  key = jax.random.key(1)
  return lambda: jax.block_until_ready(epoch(state, LR, key, x, y))


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--repeats", type=int, default=5, help="timed rounds")
  args = parser.parse_args()
  x, y, where = load_digits()
  calls = {
    FLAX: flax_epoch(x, y),
    ENGINE_RKL1: engine_epoch(hr.rkl1, x, y),
    ENGINE_SGD: engine_epoch(optax.sgd, x, y),
  }
  for call in calls.values():
    call()  # compile and warm up, untimed
  times = round_robin(calls, args.repeats)
  print(
    f"One MNIST epoch of the MLP 784-500-10: {len(x)} digits ({where}), batch {BATCH} "
    f"({len(x) // BATCH} steps); jax {jax.__version__} on {jax.devices()[0].platform} "
    f"({jax.device_count()} device(s)); median of {args.repeats} interleaved rounds"
  )
  flax = statistics.median(times[FLAX])
  header = f"{'loop':52s} {'s/epoch':>8s} {'fastest':>8s} {'vs Flax':>8s}"
  print(header)
  print("-" * len(header))
  for name, seconds in times.items():
    median = statistics.median(seconds)
    print(f"{name:52s} {median:8.3f} {min(seconds):8.3f} {median / flax:7.2f}x")
  ratio = statistics.median(times[ENGINE_RKL1]) / flax
  print(
    f"goal: engine with hr.rkl1 <= {GOAL:.1f}x the Flax loop with optax.sgd: "
    f"{ratio:.2f}x, {'met' if ratio <= GOAL else 'MISSED'}"
  )


if __name__ == "__main__":
  main()
