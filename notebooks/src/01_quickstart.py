# %% [markdown]
# # Quick start: a hyper-regularized learning rate in an optax pipeline
#
# Every rule of `hyperreg_jax` keeps one *inverse* learning rate `beta` per weight and
# grows it at each step by solving a small max-min problem: the larger the gradient relative
# to `beta`, the more `beta` grows, and the step is `-g / beta`. The effective learning rate
# `1 / beta` starts at the initial learning rate (ILR) and never increases.
#
# This notebook
#
# 1. drops a rule into an ordinary optax pipeline (gradient clipping, a learning-rate
#    schedule) on a small least-squares problem;
# 2. plots the effective learning rate over the steps for every divergence and algorithm;
# 3. checks numerically that Neyman chi-square with Algorithm 1 *is* AdaGrad and that
#    chi-square with Algorithm 2 is WNGrad with half the increment;
# 4. shows what the growth clip `growth` does.
#
# It runs offline on a CPU in well under a minute.

# %%
from typing import NamedTuple

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import optax

import hyperreg_jax as hr

plt.rcParams.update({"figure.dpi": 80, "axes.grid": True, "grid.alpha": 0.3})
print("jax", jax.__version__, "| optax", optax.__version__, "| devices:", jax.devices())

# %% [markdown]
# ## A toy problem with very different scales
#
# Least squares with 20 features whose scales span two decades (0.1 to 10), so the
# curvature spans four: a single learning rate that is stable for the steepest direction
# (below `2 / 100`) is far too small for the flattest one. The loss is the *mean* squared
# error over a mini-batch of 32, with a little label noise, so the stochastic gradients
# never vanish. `train` runs 300 steps as one jitted `lax.scan` and logs the full-data loss
# and `beta` after every step (read from the optimizer state with `optax.tree.get`).

# %%
rng = np.random.default_rng(0)
n, d, batch, steps = 512, 20, 32, 300
scales = np.logspace(-1, 1, d)
A = rng.normal(size=(n, d)) * scales
x_true = rng.normal(size=d)
y = A @ x_true + 0.1 * rng.normal(size=n)
A, y = jnp.asarray(A, jnp.float32), jnp.asarray(y, jnp.float32)
batches = jnp.asarray(rng.integers(0, n, size=(steps, batch)))  # the same batches for every run


def batch_loss(w, idx):
  return 0.5 * jnp.mean((A[idx] @ w - y[idx]) ** 2)


def full_loss(w):
  return 0.5 * jnp.mean((A @ w - y) ** 2)


class Run(NamedTuple):
  w: np.ndarray  # the final weights, (d,)
  loss: np.ndarray  # the full-data loss after every step, (steps,)
  beta: np.ndarray  # beta after every step, (steps, d) (NaN for optimizers without one)
  state: optax.OptState  # the final optimizer state


def train(opt) -> Run:
  """300 steps of ``opt`` from w = 0, on the same batches for every optimizer."""

  def step(carry, idx):
    w, state = carry
    updates, state = opt.update(jax.grad(batch_loss)(w, idx), state, w)
    w = optax.apply_updates(w, updates)
    beta = optax.tree.get(state, "beta", jnp.full((), jnp.nan))  # NaN for non-hyperreg optimizers
    return (w, state), (full_loss(w), jnp.broadcast_to(beta, (d,)))

  w0 = jnp.zeros(d)
  (w, state), (loss, beta) = jax.jit(lambda: jax.lax.scan(step, (w0, opt.init(w0)), batches))()
  return Run(np.asarray(w), np.asarray(loss), np.asarray(beta), state)


print(f"loss at w = 0: {float(full_loss(jnp.zeros(d))):.1f}")

# %% [markdown]
# ## 1. Drop it into an optax pipeline
#
# A rule is an ordinary `optax.GradientTransformation`: chain it after gradient clipping,
# and give it a learning-rate schedule. `init_lr` (required) is the rule's initial learning
# rate `1 / beta_0`; `learning_rate` only multiplies `1 / beta` (as in `optax.contrib.dog`),
# so the step is `schedule(t) * g / beta`. The alias `hr.kl2` is
# `add_decayed_weights(weight_decay)`, `scale_by_hyperreg(init_lr, divergence="kl",
# algorithm=2)` and `scale_by_learning_rate(learning_rate)` in a chain.

# %%
schedule = optax.warmup_cosine_decay_schedule(
  init_value=0.0, peak_value=1.0, warmup_steps=20, decay_steps=steps, end_value=0.1
)
opt = optax.chain(
  optax.clip_by_global_norm(10.0),
  hr.kl2(init_lr=0.1, learning_rate=schedule, weight_decay=0.0),
)
run = train(opt)
print("state:", jax.tree.map(jnp.shape, run.state))
lr = 1 / run.beta  # the rule's learning rate per coordinate, (steps, d)
t = np.arange(1, steps + 1)
fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 3.8))
ax0.semilogy(t, run.loss)
ax0.set(xlabel="step", ylabel="full-data loss (mean squared error / 2)", title="loss")
ax1.semilogy(t, np.median(lr, 1), label="median 1 / beta (the rule)")
ax1.fill_between(t, lr.min(1), lr.max(1), alpha=0.2, label="min to max over the 20 weights")
ax1.semilogy(t, schedule(t - 1) * np.median(lr, 1), "--", label="schedule(t) x median 1 / beta")
ax1.set(xlabel="step", ylabel="learning rate", title="effective learning rate")
ax1.legend(fontsize="small")
plt.tight_layout()
plt.show()
w_opt = np.linalg.lstsq(np.asarray(A), np.asarray(y), rcond=None)[0]
print(f"final loss {run.loss[-1]:.4f}; at the least-squares optimum {float(full_loss(w_opt)):.4f}")

# %% [markdown]
# The band shows the per-coordinate adaptation: the steep coordinates (scale 10) get their
# learning rate cut several-fold, the flat ones keep almost the ILR.
# The gradient clip bounds what the rule sees, `c = (g / beta)^2 <= (10 * 0.1)^2`, so
# early steps cannot blow `beta` up.
#
# `hr.step_size_stats(state, schedule)` summarises the step sizes `schedule(count) / beta`
# anywhere inside a state (chains, `inject_hyperparams`, `MultiSteps`);
# `hr.inverse_beta_stats` the rule's part `1 / beta` alone, without the schedule.

# %%
print({k: round(float(v), 5) for k, v in hr.step_size_stats(run.state, schedule).items()})
print({k: round(float(v), 5) for k, v in hr.inverse_beta_stats(run.state).items()})

# %% [markdown]
# ## 2. Every divergence, every algorithm
#
# The five divergences (`kl`, `rkl`, `hellinger`, `chi2`, `neyman_chi2`) with the three
# ways of solving the step: **1** the exact saddle point, **2** one alternating step,
# **3** the lagged step (`x` moves with the *old* `beta`, then `beta` is updated as in 2).
# ILR 0.1 is five times the largest stable learning rate of the steepest coordinate, and
# `beta` may at most double per step (the default `growth=2`), so every rule needs a few
# steps to get there. No weight decay here, no gradient clipping.

# %%
divergences = ["kl", "rkl", "hellinger", "chi2", "neyman_chi2"]
runs = {
  (div, alg): train(hr.hyperreg(0.1, divergence=div, algorithm=alg, weight_decay=0.0))
  for div in divergences
  for alg in (1, 2, 3)
}

fig, axes = plt.subplots(2, 3, figsize=(14, 7), sharex=True, sharey="row")
for col, alg in enumerate((1, 2, 3)):
  for div in divergences:
    axes[0, col].semilogy(t, np.median(1 / runs[div, alg].beta, 1), label=div)
    axes[1, col].semilogy(t, runs[div, alg].loss, label=div)
  axes[0, col].set_title(f"Algorithm {alg}")
  axes[1, col].set_xlabel("step")
axes[0, 0].set_ylabel("median effective learning rate 1 / beta")
axes[1, 0].set_ylabel("full-data loss")
axes[0, 0].legend(fontsize="small")
plt.tight_layout()
plt.show()

print(f"{'':12s}" + "".join(f"  loss after 300 (alg {a})" for a in (1, 2, 3)))
for div in divergences:
  print(f"{div:12s}" + "".join(f"{runs[div, a].loss[-1]:>24.4g}" for a in (1, 2, 3)))

# %% [markdown]
# * Algorithms 1 and 2 grow `beta` *before* stepping with it. For the same gradient the
#   alternating step grows it a little more than the exact saddle point (for KL,
#   `r = exp(c)` against `r^2 log r = c`), so Algorithm 2 ends with smaller learning rates
#   and a slightly higher loss (`r^2 f'(r) >= f'(r)` for `r >= 1`, whatever the divergence).
# * Among the divergences, Hellinger penalises a change of `beta` least near `beta = eta`
#   (`dD/dbeta ~ (r - 1) / 2` for `r = beta / eta`) and grows it most; chi-square and
#   Neyman chi-square (`~ 2 (r - 1)`) penalise it most.
# * Algorithm 3 steps with the `beta` it had before seeing the gradient, so at an ILR that
#   is too large the first steps overshoot, the gradients become huge, and `beta`
#   (clipped at 2x per step) ends far larger than it needed to be: the learning rate
#   collapses and the loss is still high after 300 steps.

# %% [markdown]
# ## 3. Special cases: AdaGrad and WNGrad
#
# **Neyman chi-square, Algorithm 1** solves `beta_{t+1}^2 = beta_t^2 + g_t^2`: diagonal
# AdaGrad with accumulator `1 / ILR^2` at the start. `hr.adagrad_diag` is that rule without
# the growth clip; with no weight decay it matches `optax.adagrad` step for step.

# %%
ilr = 0.1
ours = train(hr.adagrad_diag(ilr, weight_decay=0.0))
rule = train(hr.hyperreg(ilr, divergence="neyman_chi2", algorithm=1, growth=None, weight_decay=0.0))
adagrad = train(optax.adagrad(1.0, initial_accumulator_value=1 / ilr**2, eps=0.0))
w_err = np.abs(ours.w - adagrad.w).max() / np.abs(adagrad.w).max()
assert w_err < 1e-4 and np.array_equal(rule.beta, ours.beta)
print(f"weights after 300 steps, max relative difference: {w_err:.1e}")
print(
  f"loss curves, max relative difference:             {np.max(np.abs(ours.loss / adagrad.loss - 1)):.1e}"
)
print(
  f"hyperreg(neyman_chi2, algorithm=1, growth=None) gives the same betas: {np.array_equal(rule.beta, ours.beta)}"
)

# %% [markdown]
# **Chi-square, Algorithm 2** solves `2 (beta / b - 1) = g^2 / b^2`, i.e.
# `beta_{t+1} = b + g^2 / (2 b)`. With a single global `b` driven by the gradient norm it is
# WNGrad (Wu, Ward and Bottou, 2018), `b_{t+1} = b_t + ||g_t||^2 / b_t`, with half the
# increment; `hr.wngrad` doubles it (the divergence `(u - 1)^2 / 2`). Both against the
# recursions written out in NumPy (float64) on the same batches:


# %%
def global_rule(increment):
  """b_t of x_{t+1} = x_t - g / b_{t+1}, b_{t+1} = b_t + increment * ||g||^2 / b_t (float64)."""
  A64, y64 = np.asarray(A, np.float64), np.asarray(y, np.float64)
  w, b, bs = np.zeros(d), 1 / ilr, []
  for idx in np.asarray(batches):
    g = A64[idx].T @ (A64[idx] @ w - y64[idx]) / batch
    b = b + increment * (g @ g) / b
    w = w - g / b
    bs.append(b)
  return np.array(bs)


b_wn = global_rule(1.0)
b_half = global_rule(0.5)
beta_lib_wn = train(hr.wngrad(ilr, weight_decay=0.0)).beta
beta_chi2 = train(
  hr.hyperreg(
    ilr, divergence="chi2", algorithm=2, granularity="global", growth=None, weight_decay=0.0
  )
).beta
for label, b_lib, b_ref in [
  ("hr.wngrad vs WNGrad", beta_lib_wn[:, 0], b_wn),
  ("chi2 alg. 2 (global) vs WNGrad with half increment", beta_chi2[:, 0], b_half),
  ("chi2 alg. 2 (global) vs WNGrad", beta_chi2[:, 0], b_wn),
]:
  print(f"{label:52s} max relative difference of b: {np.max(np.abs(b_lib / b_ref - 1)):.1e}")
assert np.allclose(beta_lib_wn[:, 0], b_wn, rtol=1e-4) and np.allclose(
  beta_chi2[:, 0], b_half, rtol=1e-4
)

fig, ax = plt.subplots(figsize=(6, 3.8))
ax.plot(t, 1 / b_wn, label="WNGrad (NumPy)")
ax.plot(t[::15], 1 / beta_lib_wn[::15, 0], "o", label="hr.wngrad")
ax.plot(t, 1 / b_half, label="half increment (NumPy)")
ax.plot(t[::15], 1 / beta_chi2[::15, 0], "s", label="chi2, Algorithm 2, global")
ax.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
ax.set(xlabel="step", ylabel="learning rate 1 / b", title="one global learning rate")
ax.legend(fontsize="small")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 4. What growth clipping does
#
# The paper clips every update to `beta_t <= beta_{t+1} <= growth * beta_t` (default
# `growth=2`; `growth=None` turns the upper clip off). Below: `kl2`, whose unclipped update
# `beta * exp((g / beta)^2)` reacts exponentially to a large gradient, and `rkl1`, which
# grows only about linearly in `|g|`, both at ILR 1, fifty times the stable learning rate
# of the steepest coordinate.

# %%
growths = [1.5, 2.0, 10.0, None]
fig, axes = plt.subplots(2, 2, figsize=(12, 7), sharex=True)
for col, rule in enumerate([hr.kl2, hr.rkl1]):
  for growth in growths:
    run = train(rule(1.0, growth=growth, weight_decay=0.0))
    label = f"growth={growth}" if growth else "growth=None (no clip)"
    lr = np.median(1 / run.beta, 1)
    axes[0, col].semilogy(t, lr, label=label)
    axes[1, col].semilogy(t, run.loss, label=label)
    print(
      f"{rule.__name__:5s} {label:22s} loss after 300 steps {run.loss[-1]:9.3g}, median 1 / beta {lr[-1]:.2e}"
    )
  axes[0, col].set(title=f"{rule.__name__}, ILR 1", ylabel="median 1 / beta")
  axes[1, col].set(xlabel="step", ylabel="full-data loss")
axes[0, 0].legend(fontsize="small")
plt.tight_layout()
plt.show()

# %% [markdown]
# * **A tight clip is slow to react.** With `growth=1.5` or `2` the learning rate can only
#   shrink by that factor per step; from ILR 1 it takes several steps to reach a stable
#   value, the iterates overshoot meanwhile, the gradients explode, and `beta` ends up
#   orders of magnitude too large: the run is stuck at a huge loss.
# * **No clip, exponential rule:** `kl2` answers the first large gradient with a huge `beta`
#   for the steep coordinates: their learning rate is practically zero from then on, and
#   the loss stays close to where it started.
# * **No clip, gentle rule:** `rkl1` adapts in one step and converges. A loose clip
#   (`growth=10`) is a middle ground for both.
# * Clipping the *gradient* in the pipeline (section 1) is the other safeguard: it bounds
#   `(g / beta)^2` itself, whatever the rule.
