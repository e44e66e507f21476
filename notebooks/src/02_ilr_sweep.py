# %% [markdown]
# # Sweeping the initial learning rate
#
# The paper's claim is robustness to the initial learning rate (ILR). `hr.sweep` tests it
# the way DeepOBS and AlgoPerf compare optimizers: train every (optimizer, ILR, seed) and
# plot the final loss against the ILR. All ILRs of a variant run in one compiled, vmapped
# program (sharded over the devices there are).
#
# This notebook sweeps an ILR grid over seven decades on the embedded MNIST digits with
# reverse KL, Algorithm 2 (`rkl2`), with and without the growth clip, beside SGD and Adam at
# the same learning rates; reads the diverged and failed runs off the result; measures each
# variant's robustness width; and runs a two-dimensional grid (ILR x weight decay) in one
# call. To stay within a minute on a laptop CPU it uses 2,000 training digits, a 100-unit
# hidden layer and 4 epochs: the shapes of the curves, not the paper's numbers.

# %%
import matplotlib.pyplot as plt
import numpy as np
import optax

import hyperreg_jax as hr
from hyperreg_jax import data, models

plt.rcParams.update({"figure.dpi": 80, "axes.grid": True, "grid.alpha": 0.3})
mnist = data.load_mnist(max_train=2000)  # embedded: 2,000 train / 1,000 test digits
model = models.MLP(hidden=100)  # 784-100 (sigmoid)-10
settings = {"seeds": [0], "epochs": 4, "batch_size": 64, "progress": False}

# %% [markdown]
# ## One call: every variant at every ILR
#
# Variants are names (`hr.variant_names()`) or callables `init_lr -> optax transformation`;
# a dict gives them labels. Named variants get the paper's L2 weight decay `1e-4` through
# `optax.add_decayed_weights`; the callables below add the same, so every variant minimises
# the same objective. The loss is averaged over the batch (see "ILR and the loss scale" in
# docs/optimizers.md on how that shifts the ILR axis against the reproducibility study,
# which summed it).

# %%
variants = {
  "rkl2": "rkl2",  # growth=2, the paper's clip
  "rkl2 (no clip)": lambda lr: hr.rkl2(lr, growth=None),
  "sgd": "sgd",
  "adam": lambda lr: optax.chain(optax.add_decayed_weights(1e-4), optax.adam(lr)),
}
ilrs = np.logspace(-2, 5, 8)
result = hr.sweep(model, mnist, variants, ilrs, **settings)
print(result.summary("test_accuracy"))
print("\nshapes:", {k: v.shape for k, v in result.curves.items() if not k.startswith("step_")})
print("compilations per variant in this call:", result.meta["traces"])

# %% [markdown]
# ## The sensitivity plot
#
# `result.plot_sensitivity(metric)` draws the final value of a metric against the ILR, one
# line per variant (the mean over seeds, with a min-max band when there are several), and
# marks the ILRs where a run diverged with an x. Third panel: where each rule's learning
# rates end up, the final `min 1 / beta` over the weights (logged by the training engine at
# every step; SGD and Adam have none).

# %%
fig, axes = plt.subplots(1, 3, figsize=(16, 4.3))
result.plot_sensitivity("train_loss", ax=axes[0])
result.plot_sensitivity("test_accuracy", ax=axes[1])
axes[1].set_ylim(0, 1)
for v, label in enumerate(result.variants):
  lr_min = result.final("lr_min")[v, :, 0]
  if np.isfinite(lr_min).any():
    axes[2].loglog(result.ilrs, lr_min, "o-", label=label)
axes[2].loglog(result.ilrs, result.ilrs, "k:", label="no adaptation (= ILR)")
axes[2].set(
  xlabel="initial learning rate", ylabel="final min 1 / beta", title="where the rule lands"
)
axes[2].legend(fontsize="small")
plt.tight_layout()
plt.show()

# %% [markdown]
# * SGD and Adam each have a narrow good range, one or two decades apart; above it SGD's
#   loss explodes and Adam's accuracy falls to chance.
# * With the paper's clip (`beta` may at most double per step) `rkl2` holds up about a
#   decade beyond SGD, then cannot cut its learning rates fast enough. Without the clip it
#   cuts them in one step where the gradients are large (right panel) and keeps training
#   up to the largest ILR of the grid.
# * Below ILR 1 the rule never adapts (a learning rate only decreases), so it is plain SGD
#   there, too slow for 4 epochs.

# %% [markdown]
# ## Diverged and failed runs
#
# A run whose loss or state goes non-finite is frozen at its last finite state by the
# training engine and reported: `result.diverged[v, k, s]` and `result.diverged_at[v, k, s]`
# (the 0-based step, -1 for runs that did not). Its per-epoch metrics are NaN from the epoch
# it diverged in; the other runs of the same compiled program are untouched. A run that
# stays finite *failed* when it ends at chance, a final test accuracy at most
# `hr.CHANCE_FACTOR` (1.5) times chance (chance is 10% here), or above its starting loss,
# a final training loss above its first step's. `result.outcomes()` says `"diverged"`, `"failed"` or `"ok"` for
# every run (`hr.run_outcome` is the definition) and `result.failures()` gives the reasons.

# %%
accuracy = result.final("test_accuracy")
steps_per_epoch = mnist.num_train // settings["batch_size"]
for v, k, s in zip(*np.nonzero(result.diverged)):
  step = result.diverged_at[v, k, s]
  print(
    f"diverged: {result.variants[v]:15s} ILR {result.ilrs[k]:<8g} seed {result.seeds[s]}: "
    f"non-finite at step {step} (epoch {step // steps_per_epoch + 1}); "
    f"train loss per epoch {np.round(result.curves['train_loss'][v, k, s], 3)}"
  )
for label, point, seed, reason in result.failures():
  print(f"failed:   {label:15s} ILR {point['init_lr']:<8g} seed {seed}: {reason}")

# %% [markdown]
# ## Robustness width
#
# How many decades of ILR give nearly the best result? For each variant: the mean final
# test accuracy over seeds at each ILR (a diverged run counts as chance, 10%), then the
# contiguous stretch of the grid around the best ILR where it stays within 5 points of the
# best. Its width in decades is `log10(highest ILR / lowest ILR)` of that stretch (0 when
# only the best ILR qualifies), so it is resolved to the grid's spacing, one decade here.
# `hr.robustness_width` computes it.


# %%
scores = np.where(result.diverged, 0.1, accuracy).mean(-1)  # (variants, ILRs)
fig, ax = plt.subplots(figsize=(7, 2.8))
for v, label in enumerate(result.variants):
  width, lo, hi = hr.robustness_width(result.ilrs, scores[v], points=5)
  best = result.ilrs[np.argmax(scores[v])]
  print(
    f"{label:15s} best accuracy {scores[v].max():.3f} at ILR {best:g}; width {width:.0f} decades ({lo:g} to {hi:g})"
  )
  ax.plot([lo, hi], [v, v], lw=8, solid_capstyle="butt", alpha=0.6)
  ax.plot(best, v, "k|", ms=14)
  ax.annotate(f"{width:.0f} decades", (hi, v), xytext=(8, -4), textcoords="offset points")
ax.set_xscale("log")
ax.set_xlim(result.ilrs[0] / 2, result.ilrs[-1] * 2)
ax.set_yticks(range(len(result.variants)), result.variants)
ax.set(
  xlabel="initial learning rate", title="ILRs within 5 points of the best test accuracy (| = best)"
)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## A two-dimensional grid: ILR x weight decay
#
# Any numeric hyperparameter of the rules can be an axis of the grid beside the ILR: here
# `rkl2` at four ILRs and three weight decays, twelve runs in one call and one compiled
# program (the grid is flattened into the one vmapped axis; the result keeps both axes).

# %%
decays = [0.0, 1e-4, 1e-2]
grid_ilrs = np.logspace(0, 3, 4)
grid = hr.sweep(
  model, mnist, ["rkl2"], grid={"init_lr": grid_ilrs, "weight_decay": decays}, **settings
)
print(grid.meta["traces"], grid.final("test_accuracy").shape)  # (variants, ILRs, decays, seeds)
table = grid.final("test_accuracy")[0].mean(-1).T  # (weight decays, ILRs)

fig, ax = plt.subplots(figsize=(6, 3.2))
image = ax.imshow(table, vmin=0, vmax=1, cmap="viridis", aspect="auto")
for (i, j), value in np.ndenumerate(table):
  ax.text(j, i, f"{value:.2f}", ha="center", va="center", color="w" if value < 0.6 else "k")
ax.set_xticks(range(len(grid_ilrs)), [f"{ilr:g}" for ilr in grid_ilrs])
ax.set_yticks(range(len(decays)), [f"{wd:g}" for wd in decays])
ax.set(xlabel="initial learning rate", ylabel="weight decay", title="rkl2: final test accuracy")
ax.grid(False)
fig.colorbar(image, ax=ax, label="test accuracy")
plt.tight_layout()
plt.show()

# %% [markdown]
# At ILR 1 the weight decay hardly matters; at the larger ILRs it changes the result a lot,
# so an ILR sweep at one weight decay does not tell the whole story.
