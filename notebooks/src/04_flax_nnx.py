# %% [markdown]
# # A Flax NNX model with per-layer learning rates
#
# The rules are plain optax transformations, so `flax.nnx.Optimizer` takes them like any
# other. This notebook trains the paper's MNIST network (784-500 sigmoid-10) written as an
# NNX module, with reverse KL, Algorithm 1 (`hr.rkl1`), and logs at every step the
# effective learning rates `1 / beta` of each layer, read from the optimizer's state.

# %%
import time

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import optax
from flax import nnx

import hyperreg_jax as hr
from hyperreg_jax import data

plt.rcParams.update({"figure.dpi": 80, "axes.grid": True, "grid.alpha": 0.3})
mnist = data.load_mnist()  # the embedded digits: 4,000 train, 1,000 test
print(mnist)

# %% [markdown]
# ## The model and the optimizer
#
# `nnx.Optimizer(model, tx, wrt=nnx.Param)` keeps the optax state of `tx` for the model's
# parameters; `optimizer.update(model, grads)` applies one step. `hr.rkl1(init_lr)` is the
# chain `add_decayed_weights(1e-4)`, `scale_by_hyperreg(init_lr, divergence="rkl",
# algorithm=1)`, `scale_by_learning_rate(1.0)`, so the state's second part is the `HyperRegState`, whose
# `beta` has the model's parameter tree: one entry per weight.


# %%
class MLP(nnx.Module):
  def __init__(self, rngs: nnx.Rngs):
    self.hidden = nnx.Linear(784, 500, rngs=rngs)
    self.output = nnx.Linear(500, 10, rngs=rngs)

  def __call__(self, x):
    return self.output(nnx.sigmoid(self.hidden(x.reshape(x.shape[0], -1))))


model = MLP(nnx.Rngs(0))
optimizer = nnx.Optimizer(model, hr.rkl1(1.0), wrt=nnx.Param)
state = optimizer.opt_state[1]
print(type(state).__name__, "beta shapes:", jax.tree.map(jnp.shape, state.beta.to_pure_dict()))
print("all layers together:", {k: float(v) for k, v in hr.lr_stats(optimizer.opt_state).items()})

# %% [markdown]
# ## Training, with the learning rates of each layer logged
#
# `hr.lr_stats` summarises `1 / beta` (min, median, mean, max) over every `HyperRegState`
# it finds; giving it the state with `beta` restricted to one layer gives that layer's
# statistics. Both steps are jitted with `nnx.jit`.

# %%
LAYERS = ("hidden", "output")


@nnx.jit
def train_step(model, optimizer, x, y):
  def loss_fn(model):
    return optax.softmax_cross_entropy_with_integer_labels(model(x), y).mean()

  loss, grads = nnx.value_and_grad(loss_fn)(model)
  optimizer.update(model, grads)
  state = optimizer.opt_state[1]
  per_layer = {layer: hr.lr_stats(state._replace(beta=state.beta[layer])) for layer in LAYERS}
  return loss, per_layer


@nnx.jit
def test_accuracy(model, x, y):
  return jnp.mean(jnp.argmax(model(x), axis=-1) == y)


def fit(tx, epochs=5, batch_size=128, seed=0):
  """Trains a fresh MLP with ``tx``; returns the model, the optimizer and the logs."""
  model = MLP(nnx.Rngs(seed))
  optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
  rng = np.random.default_rng(seed)
  steps = mnist.num_train // batch_size
  losses, lrs, accuracies = [], [], []
  for _ in range(epochs):
    order = rng.permutation(mnist.num_train)[: steps * batch_size].reshape(steps, batch_size)
    for idx in order:
      loss, per_layer = train_step(model, optimizer, mnist.x_train[idx], mnist.y_train[idx])
      losses.append(loss)
      lrs.append(per_layer)
    accuracies.append(test_accuracy(model, mnist.x_test, mnist.y_test))
  lrs = jax.tree.map(lambda *v: np.asarray(v), *lrs)  # {layer: {stat: (steps,)}}
  return model, optimizer, np.asarray(losses), lrs, np.asarray(accuracies)


runs = {}
for ilr in (1.0, 10.0):
  start = time.perf_counter()
  runs[ilr] = fit(hr.rkl1(ilr))
  print(
    f"ILR {ilr:g}: test accuracy per epoch {np.round(runs[ilr][4], 3)}, {time.perf_counter() - start:.1f} s"
  )

# %%
fig, axes = plt.subplots(1, 3, figsize=(15, 4))
for ax, ilr in zip(axes, runs):
  lrs = runs[ilr][3]
  for layer in LAYERS:
    step = np.arange(1, len(lrs[layer]["lr_median"]) + 1)
    (line,) = ax.semilogy(step, lrs[layer]["lr_median"], label=f"{layer}: median")
    ax.fill_between(
      step,
      lrs[layer]["lr_min"],
      lrs[layer]["lr_max"],
      color=line.get_color(),
      alpha=0.15,
      label=f"{layer}: min to max",
    )
    ax.semilogy(step, lrs[layer]["lr_mean"], "--", color=line.get_color(), label=f"{layer}: mean")
  ax.set(title=f"rkl1, ILR {ilr:g}", xlabel="step", ylabel="effective learning rate 1 / beta")
  ax.legend(fontsize="small", loc="lower left")
for ilr, (_, _, losses, _, _) in runs.items():
  smooth = np.convolve(losses, np.ones(10) / 10, mode="valid")
  axes[2].semilogy(np.arange(10, len(losses) + 1), smooth, label=f"ILR {ilr:g}")
axes[2].set(title="training loss (mean of 10 steps)", xlabel="step", ylabel="cross-entropy")
axes[2].legend(fontsize="small")
plt.tight_layout()
plt.show()

# %% [markdown]
# * The output layer's gradients are larger than the hidden layer's (the sigmoid damps
#   them), so its learning rates are cut first and furthest; most hidden weights keep the
#   initial learning rate.
# * The bands show the spread within a layer. At ILR 10 some hidden weights are cut to a
#   third while the median is untouched: the weights of always-blank border pixels get no
#   data gradient and keep the ILR for good. The median says what a typical weight gets.
# * A ten times larger ILR is not undone: the learning rates fall only where the gradients
#   are large, and the run trains worse.

# %% [markdown]
# ## One learning rate per layer
#
# With `granularity="tensor"` the rule keeps one `beta` per parameter tensor, driven by that
# tensor's root-mean-square gradient: per-layer learning rates that can be read off the
# state directly.

# %%
model, optimizer, losses, _, accuracies = fit(hr.rkl1(1.0, granularity="tensor"))
beta = optimizer.opt_state[1].beta
for layer in LAYERS:
  print(
    f"{layer:7s} kernel 1/beta = {1 / float(beta[layer]['kernel'][...]):.4f}, bias 1/beta = {1 / float(beta[layer]['bias'][...]):.4f}"
  )
print(f"test accuracy after each epoch: {np.round(accuracies, 3)}")

# %% [markdown]
# ## The same NNX model in a sweep
#
# `hr.sweep` takes the NNX module as it is: it splits it into its graph and its variables
# (`nnx.split(model, nnx.Param, ...)`) and merges them inside the pure, jitted training
# step, so every ILR of a variant runs in one compiled, vmapped program. The module's
# weights start every run (a seed orders the data, but does not draw other weights).

# %%
result = hr.sweep(
  MLP(nnx.Rngs(0)), mnist, ["rkl1", "sgd"], [0.1, 1.0, 10.0], epochs=2, progress=False
)
print(result.summary("test_accuracy"))
print("compilations per variant:", result.meta["traces"])
