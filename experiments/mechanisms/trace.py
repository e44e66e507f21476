"""Measurements of the mechanisms experiment: a training loop that records, step by step, what
the rules do to every layer of the MNIST MLP, and the pure functions that summarise it.

The loop is the training engine's step (:class:`hyperreg_jax.train.Trainer`: same
initial weights, batches, loss and divergence guard, so a run here is a run of the sweep)
with more written down after each step, per layer ``W1, b1, W2, b2`` of the MLP
784-500(sigmoid)-10:

* ``g``: the median over the layer's entries of ``|g|``, the gradient that drives beta
  (with the weight-decay term, as the optimizer sees it);
* ``lr``: the median effective learning rate ``|update| / |g|`` of the step (for the rules
  ``1 / beta_{t+1}``, for Algorithm 3 ``1 / beta_t``, for SGD the learning rate);
* ``beta``: the median of beta after the step, ``beta_g``: the median of ``beta / |g|``;
* ``doubled``: the fraction of entries whose beta at least doubled in the step (with the
  growth clip 2: the entries held at the clip);
* ``w``, ``u``: the layer's norm after the step and the norm of its update;

and for the batch: the loss (mean over the batch, before the step), the fraction of
saturated hidden units (sigmoid input beyond +-4.6, output outside [0.01, 0.99]) and the
largest ``|logit|``. Medians of ``W1`` (392,000 entries) are taken over a fixed random sample
of ``SAMPLE`` entries, the other layers over all of theirs.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax

import hyperreg_jax as hr
from hyperreg_jax import models, train
from hyperreg_jax.train import Trainer, all_finite

#: The MLP's layers: name -> (module, parameter) in the Flax tree.
LAYERS = {
  "W1": ("hidden", "kernel"),
  "b1": ("hidden", "bias"),
  "W2": ("output", "kernel"),
  "b2": ("output", "bias"),
}
#: Per-layer quantities recorded each step.
LAYER_KEYS = ("g", "lr", "beta", "beta_g", "doubled", "w", "u")
#: Entries of W1 sampled for its medians.
SAMPLE = 8192
#: A sigmoid input beyond this is saturated: output outside [0.01, 0.99].
SATURATED = math.log(99.0)


# ----------------------------------------------------------------------------- pure measures


def nanmedians(rows) -> jax.Array:
  """The median of each row of a 2-D array, NaN entries left out (NaN for an all-NaN row).

  One sort for all rows: cheaper to compile than one ``jnp.nanmedian`` per quantity.
  """
  ordered = jnp.sort(rows, axis=-1)  # NaN sorts last
  count = jnp.sum(~jnp.isnan(rows), axis=-1, keepdims=True)
  lo = jnp.take_along_axis(ordered, jnp.maximum(count - 1, 0) // 2, axis=-1)
  hi = jnp.take_along_axis(ordered, count // 2, axis=-1)
  return jnp.where(count > 0, (lo + hi) / 2, jnp.nan)[..., 0]


def layer_stats(g, u, beta_old, beta_new, w) -> dict:
  """The per-layer record of one step from 1-D arrays of the layer's (sampled) entries.

  ``g``: the gradient that drives beta; ``u``: the update; ``beta_old``/``beta_new``: beta
  before and after (``None`` for optimizers without one); ``w``: the layer after the step
  (its norm is taken over what is passed). Entries with ``g == 0`` carry no learning rate.
  """
  ag = jnp.abs(g)
  moving = ag > 0
  per_g = lambda x: jnp.where(moving, x / jnp.where(moving, ag, 1.0), jnp.nan)
  nan = jnp.full_like(ag, jnp.nan)
  has_beta = beta_new is not None
  medians = nanmedians(
    jnp.stack(
      [ag, per_g(jnp.abs(u)), beta_new if has_beta else nan, per_g(beta_new) if has_beta else nan]
    )
  )
  doubled = jnp.nan
  if has_beta:
    at_clip = moving & (beta_new >= 2 * beta_old * (1 - 1e-6))
    doubled = at_clip.sum() / jnp.maximum(moving.sum(), 1)
  return {
    "g": medians[0],
    "lr": medians[1],
    "beta": medians[2],
    "beta_g": medians[3],
    "doubled": jnp.asarray(doubled, ag.dtype),
    "w": norm(w),
    "u": norm(u),
  }


def norm(x) -> jax.Array:
  """The Euclidean norm, scaled by the largest entry so that its squares do not overflow."""
  top = jnp.max(jnp.abs(x))
  return top * jnp.linalg.norm(x / jnp.where(top > 0, top, 1.0))


def clip_steps_predicted(g, ilr, ceiling_c, growth=2.0) -> int:
  """Steps during which the growth clip holds beta, for a constant gradient ``g``.

  From ``beta_0 = 1 / ILR`` the clip binds while ``c = (g / beta)^2 >= C`` (``C``: the
  rule's first-order left side at ``r = growth``, :func:`clip_ceiling`), and beta grows by
  ``growth`` each such step, so it binds at steps ``k = 0, 1, ...`` while ``growth^k <= E``,
  ``E = |g| ILR / sqrt(C)``: ``1 + floor(log_growth(E))`` steps (``ceil(log_growth(E))``
  unless ``E`` is a power of ``growth``), about ``log2(|g| x ILR)``; 0 when ``E < 1``.
  """
  excess = abs(g) * ilr / math.sqrt(ceiling_c)
  if not excess >= 1:
    return 0
  return 1 + math.floor(math.log(excess) / math.log(growth) + 1e-12)


def clip_ceiling(divergence: str, algorithm: int, growth: float = 2.0) -> float:
  """``C``: the value of ``c = (g / beta)^2`` above which the rule's growth is clipped."""
  return float(hr.rules.foc_lhs(hr.divergences.get(divergence), min(algorithm, 2), growth, 1.0))


def clip_steps_simulated(divergence, algorithm, g, ilr, growth=2.0, limit=1000) -> int:
  """Steps during which the clip holds beta, with the library's rule and a constant ``g``."""
  beta = jnp.asarray(1.0 / ilr, jnp.float32)
  g = jnp.asarray(g, jnp.float32)
  for step in range(limit):
    new = hr.rules.new_beta(hr.divergences.get(divergence), min(algorithm, 2), beta, g, growth)
    if not new >= growth * beta * (1 - 1e-6):
      return step
    beta = new
  return limit


def held_steps(doubled) -> int:
  """Steps from the start during which beta doubled for more than half the entries."""
  held = np.asarray(doubled, float) > 0.5
  return int(held.size if held.all() else np.argmin(held))


# ----------------------------------------------------------------------------- the loop


def _hyperreg_state(opt_state):
  states = jax.tree.leaves(opt_state, is_leaf=lambda s: isinstance(s, hr.HyperRegState))
  found = [s for s in states if isinstance(s, hr.HyperRegState)]
  return found[0] if found else None


def _layer(tree, name):
  module, param = LAYERS[name]
  return tree[module][param]


def _sample_index(params) -> dict:
  rng = np.random.default_rng(0)
  out = {}
  for name in LAYERS:
    n = _layer(params, name).size
    out[name] = np.sort(rng.choice(n, SAMPLE, replace=False)) if n > SAMPLE else np.arange(n)
  return out


def _study_init(params, key):
  """Every weight and bias drawn from a standard normal, as the study's code does."""
  leaves, tree = jax.tree.flatten(params)
  keys = jax.random.split(key, len(leaves))
  return jax.tree.unflatten(
    tree, [jax.random.normal(k, p.shape, p.dtype) for k, p in zip(keys, leaves)]
  )


class Tracer:
  """Runs optimizers from every ILR of a grid and records each step (see the module doc).

  Optimizers whose states have the same structure (every hyper-regularized rule, clipped or
  not) share one compiled program: the optimizer is picked by ``lax.switch`` on an index.

  Args:
    makes: ``{label: init_lr -> optax transformation}``, each chain adding ``weight_decay``
      first.
    weight_decay: that L2 strength (to know the gradient that drives beta).
    epochs, batch_size, loss_reduction: as :class:`hyperreg_jax.train.Trainer`.
    init: ``"flax"`` (the library's MLP, LeCun-normal kernels, zero biases) or ``"normal"``
      (the study's standard normal for every weight and bias).
    hidden: hidden units of the MLP (500; smaller in tests).
    steps: stop after this many steps (``None``: all ``epochs``), e.g. 1 for the first step.
  """

  def __init__(
    self,
    makes,
    weight_decay,
    *,
    epochs,
    batch_size=128,
    loss_reduction="mean",
    init="flax",
    hidden=500,
    steps=None,
  ):
    self.makes = dict(makes)
    self.trainer = Trainer(
      models.MLP(hidden=hidden),
      next(iter(self.makes.values())),
      batch_size=batch_size,
      epochs=epochs,
      loss_reduction=loss_reduction,
    )
    self.weight_decay, self.init, self.steps = weight_decay, init, steps
    self._runners = {}

  def _loss(self, params, x, y):
    out, inter = self.trainer.model.apply(
      {"params": params}, x, capture_intermediates=True, mutable=["intermediates"]
    )
    per = optax.softmax_cross_entropy_with_integer_labels(out, y)
    z1 = inter["intermediates"]["hidden"]["__call__"][0]
    reduced = per.sum() if self.trainer.loss_reduction == "sum" else per.mean()
    return reduced, (per.mean(), out, z1)

  def _step(self, update, index, x_all, y_all, carry, batch):
    params, opt_state, dead = carry
    x, y = jnp.take(x_all, batch, axis=0), jnp.take(y_all, batch, axis=0)
    (_, (loss, out, z1)), grads = jax.value_and_grad(self._loss, has_aux=True)(params, x, y)
    updates, new_state = update(grads, opt_state, params)
    new_params = optax.apply_updates(params, updates)
    ok = ~dead & jnp.isfinite(loss) & all_finite((new_params, new_state))
    record = {
      "loss": loss,
      "sat": jnp.mean(jnp.abs(z1) > SATURATED),
      "dead": jnp.mean(jnp.all(z1 > SATURATED, 0) | jnp.all(z1 < -SATURATED, 0)),
      "max_logit": jnp.max(jnp.abs(out)),
    }
    old, new = _hyperreg_state(opt_state), _hyperreg_state(new_state)
    for name in LAYERS:
      pick = lambda tree, name=name: _layer(tree, name).ravel()[index[name]]
      g = pick(grads) + self.weight_decay * pick(params)
      betas = (None, None) if new is None else (pick(old.beta), pick(new.beta))
      stats = layer_stats(g, pick(updates), *betas, _layer(new_params, name))
      record.update({f"{name}_{k}": v for k, v in stats.items()})
    record = {k: jnp.where(ok, v, jnp.nan) for k, v in record.items()}
    keep = optax.tree.where(ok, (new_params, new_state), (params, opt_state))
    return (*keep, dead | ~ok), record

  def _run(self, labels, which, ilr, key, x, y, x_test, y_test):
    init_key, epoch_keys = train.epoch_keys(self.trainer, key)
    params = train.init_variables(self.trainer, init_key, x[:1])["params"]
    if self.init == "normal":
      params = _study_init(params, jax.random.fold_in(init_key, 1))
    txs = [self.makes[label](ilr) for label in labels]
    updates = [tx.update for tx in txs]
    update = (
      updates[0] if len(txs) == 1 else (lambda g, s, p: jax.lax.switch(which, updates, g, s, p))
    )
    steps = self.trainer.steps_per_epoch(x.shape[0])
    size = self.trainer.batch_size
    order = jnp.concatenate(
      [jax.random.permutation(k, x.shape[0])[: steps * size] for k in epoch_keys]
    ).reshape(-1, size)[: self.steps]
    index = _sample_index(params)
    body = lambda c, b: self._step(update, index, x, y, c, b)
    state = txs[0].init(params)  # the same for every optimizer of the group
    (params, _, dead), record = jax.lax.scan(body, (params, state, jnp.array(False)), order)
    logits = self.trainer.model.apply({"params": params}, x_test)
    accuracy = jnp.mean(jnp.argmax(logits, -1) == y_test)
    return record, jnp.where(dead, jnp.nan, accuracy), dead

  def _groups(self, ds) -> list[tuple[str, ...]]:
    """Labels grouped by the structure of their optimizer's state."""
    params = train.init_variables(self.trainer, jax.random.key(0), ds.x_train[:1])["params"]
    groups = {}
    for label, make in self.makes.items():
      shape = jax.eval_shape(make(1.0).init, params)
      groups.setdefault(str(jax.tree.map(lambda a: (a.shape, a.dtype), shape)), []).append(label)
    return [tuple(g) for g in groups.values()]

  def _runner(self, labels):
    if labels not in self._runners:
      run = lambda w, i, k, *a: self._run(labels, w, i, k, *a)
      self._runners[labels] = jax.jit(
        jax.vmap(run, in_axes=(None, 0, None, None, None, None, None))
      )
    return self._runners[labels]

  def __call__(self, ilrs, seed, ds, labels=None) -> dict[str, tuple[dict, np.ndarray, np.ndarray]]:
    """``{label: (records, test accuracy, diverged)}`` for ``labels`` (default: all):
    records ``{key: (ILRs, steps)}``, the others ``(ILRs,)``; the test accuracy is NaN where
    the run diverged (the engine's convention)."""
    arrays = [jnp.asarray(a) for a in (ds.x_train, ds.y_train, ds.x_test, ds.y_test)]
    ilrs = jnp.asarray(np.asarray(ilrs, np.float32))
    out = {}
    for group in self._groups(ds):
      for which, label in enumerate(group):
        if labels is None or label in labels:
          result = self._runner(group)(jnp.int32(which), ilrs, jax.random.key(int(seed)), *arrays)
          out[label] = jax.tree.map(np.asarray, result)
    return out
