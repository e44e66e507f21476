# %% [markdown]
# # Your own divergence: Jensen-Shannon
#
# A hyper-regularized rule is defined by a divergence `D(beta, eta)` between the new and
# the old inverse learning rate. The five built-in ones have closed-form updates; any other
# goes through `hr.Divergence.from_f(f)`, the phi-divergence `D(beta, eta) = eta f(beta / eta)`,
# whose derivative comes from `jax.grad` and whose update is solved by a safeguarded Newton
# iteration with a fixed number of steps (so it jits and vmaps like the rest).
#
# Here: the Jensen-Shannon divergence, its updates checked against a closed form (Algorithm
# 2) and an independent root finder (Algorithm 1), the generic solver checked against the
# built-in closed forms, and its `beta` trajectory on MNIST.

# %%
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import optax

import hyperreg_jax as hr
from hyperreg_jax import data, rules

plt.rcParams.update({"figure.dpi": 80, "axes.grid": True, "grid.alpha": 0.3})

# %% [markdown]
# ## The divergence
#
# Jensen-Shannon as a phi-divergence (up to a factor 2):
# `f(u) = u log u - (1 + u) log((1 + u) / 2)`. It is convex with `f(1) = f'(1) = 0`, as
# `from_f` requires, and `f'(u) = log(2u / (1 + u))`. Unlike KL, its penalty grows only
# linearly for large `u` (`f(u) ~ u log 2`), so it lets `beta` jump further.


# %%
def f_js(u):
  return u * jnp.log(u) - (1 + u) * jnp.log((1 + u) / 2)


js = hr.Divergence.from_f(f_js, name="jensen_shannon")
print(js, "| f(1) =", float(f_js(1.0)), "| dD/dbeta(3, 1) =", float(js.dD(3.0, 1.0)))
print("log(2 * 3 / 4) =", float(np.log(1.5)))

u = np.logspace(-1, 1, 200)
fig, ax = plt.subplots(figsize=(6, 3.8))
for name, div in hr.divergences.BUILTIN.items():
  ax.loglog(u, div.D(u, 1.0), label=name)
ax.loglog(u, js.D(u, 1.0), "k--", lw=2, label="jensen_shannon")
ax.set(xlabel="u = beta / eta", ylabel="D(u, 1) = f(u)", title="the penalty on changing beta")
ax.legend(fontsize="small")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Checked against a closed form
#
# With `c = (g / beta_t)^2` every rule solves for the ratio `r = beta_{t+1} / beta_t`:
#
# * Algorithm 2: `f'(r) = c`. For Jensen-Shannon `log(2r / (1 + r)) = c`, so
#   `r = e^c / (2 - e^c)` while `c < log 2`; beyond, the maximiser is `beta -> infinity`
#   and the growth clip decides (`r = growth`).
# * Algorithm 1: `r^2 f'(r) = c` has no closed form; it is checked against plain bisection
#   in NumPy.
#
# In float64 (the solver works in the dtype it is given; float32 works the same, with
# float32 rounding); the notebook stops with an error if any check is off by more than
# `1e-12`:

# %%
new_beta = jax.jit(rules.new_beta, static_argnums=(0, 1), static_argnames="growth")

with jax.enable_x64(True):
  c = np.logspace(-6, 3, 400)
  g = np.sqrt(c)  # beta_t = 1
  ones = np.ones_like(c)

  # Algorithm 2, clipped at growth = 2: the closed form, capped.
  e = np.exp(np.minimum(c, np.log(2) - 1e-12))
  expected = np.where(c < np.log(2), np.minimum(e / (2 - e), 2.0), 2.0)
  r2 = np.asarray(new_beta(js, 2, ones, g, growth=2.0))
  assert np.allclose(r2, expected, rtol=1e-12, atol=0)
  print(
    f"Algorithm 2, growth=2:    max relative error vs closed form {np.max(np.abs(r2 / expected - 1)):.1e}"
  )

  # Algorithm 1, no clip: bisection on r^2 log(2r / (1 + r)) = c (in log r, 200 halvings).
  lo, hi = np.ones_like(c), np.full_like(c, 1e6)
  for _ in range(200):
    mid = np.sqrt(lo * hi)
    below = mid**2 * np.log(2 * mid / (1 + mid)) < c
    lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
  r1 = np.asarray(new_beta(js, 1, ones, g, growth=None))
  assert np.allclose(r1, lo, rtol=1e-12, atol=0)
  print(
    f"Algorithm 1, no clip:     max relative error vs bisection   {np.max(np.abs(r1 / lo - 1)):.1e}"
  )

  # The generic solver on the built-in divergences' own f, against their closed forms.
  phi = {
    "kl": lambda u: u * jnp.log(u) - u + 1,
    "rkl": lambda u: -jnp.log(u) + u - 1,
    "hellinger": lambda u: (jnp.sqrt(u) - 1) ** 2,
    "chi2": lambda u: (u - 1) ** 2,
    "neyman_chi2": lambda u: (u - 1) ** 2 / u,
  }
  print("\ngeneric solver vs closed form, max relative error of beta_{t+1}:")
  for name, f in phi.items():
    custom = hr.Divergence.from_f(f, name=f"{name}_from_f")
    errors = [
      np.max(
        np.abs(
          new_beta(custom, alg, ones, g, growth=growth)
          / new_beta(name, alg, ones, g, growth=growth)
          - 1
        )
      )
      for alg, growth in [(1, 2.0), (1, None), (2, 2.0)]
    ]
    assert max(errors) < 1e-12, (name, errors)
    print(
      f"  {name:12s} alg. 1 clipped {errors[0]:.0e}, alg. 1 unclipped {errors[1]:.0e}, alg. 2 clipped {errors[2]:.0e}"
    )

fig, ax = plt.subplots(figsize=(6, 3.8))
ax.loglog(c, r1 - 1, label="Algorithm 1 (no clip)")
ax.loglog(c, r2 - 1, label="Algorithm 2 (growth = 2)")
ax.loglog(c[::20], lo[::20] - 1, "o", mfc="none", label="bisection (NumPy)")
ax.loglog(c[::20], expected[::20] - 1, "s", mfc="none", label="closed form")
ax.set(
  xlabel="c = (g / beta_t)^2", ylabel="r - 1 = beta_{t+1} / beta_t - 1", title="Jensen-Shannon"
)
ax.legend(fontsize="small")
plt.tight_layout()
plt.show()

# %% [markdown]
# A divergence that is not of the form `eta f(beta / eta)` can be given as `D` itself,
# `hr.Divergence(name, D=...)`: then `dD/dbeta` is taken with `jax.grad` of `D` in `beta`.
# Written that way, Jensen-Shannon gives the same updates:

# %%
js_from_D = hr.Divergence("jensen_shannon_D", D=lambda beta, eta: eta * f_js(beta / eta))
gs = jnp.array([0.01, 0.3, 1.0, 5.0])
print("from D:", new_beta(js_from_D, 1, jnp.ones(4), gs, growth=2.0))
print("from f:", new_beta(js, 1, jnp.ones(4), gs, growth=2.0))

# %% [markdown]
# ## Training with it
#
# A softmax regression on 2,000 embedded MNIST digits, mini-batches of 100, 300 steps; the
# custom divergence is passed to `hr.hyperreg` like a name. Each rule's run is jitted and
# vmapped over a grid of ILRs, so one compiled program serves them all. Logged every step:
# the batch's training loss and the median and minimum of `1 / beta` over the 7,840 weights
# of the kernel (the minimum belongs to the weight with the largest gradients).

# %%
mnist = data.load_mnist(max_train=2000)
x = jnp.asarray(mnist.x_train.reshape(len(mnist.x_train), -1))
labels = jnp.asarray(mnist.y_train)
steps, batch = 300, 100
order = jax.random.permutation(jax.random.key(0), jnp.tile(jnp.arange(len(x)), 15))
batches = order[: steps * batch].reshape(steps, batch)
params0 = {"w": jnp.zeros((784, 10)), "b": jnp.zeros(10)}


def batch_loss(params, idx):
  logits = x[idx] @ params["w"] + params["b"]
  return optax.softmax_cross_entropy_with_integer_labels(logits, labels[idx]).mean()


def train(make_opt, ilrs):
  """Loss, median and min of 1 / beta per step, each (len(ilrs), steps); vmapped over ILRs."""

  def one(ilr):
    opt = make_opt(ilr)

    def step(carry, idx):
      params, state = carry
      loss, grads = jax.value_and_grad(batch_loss)(params, idx)
      updates, state = opt.update(grads, state, params)
      lr = 1 / optax.tree.get(state, "beta")["w"]
      return (optax.apply_updates(params, updates), state), (loss, jnp.median(lr), jnp.min(lr))

    return jax.lax.scan(step, (params0, opt.init(params0)), batches)[1]

  return [np.asarray(a) for a in jax.jit(jax.vmap(one))(jnp.asarray(ilrs, jnp.float32))]


ilrs = [1.0, 10.0, 100.0]
rules_to_compare = {
  "JS, alg. 1": lambda ilr: hr.hyperreg(ilr, divergence=js, algorithm=1),
  "JS, alg. 2": lambda ilr: hr.hyperreg(ilr, divergence=js, algorithm=2),
  "kl1 (built in)": hr.kl1,
}
results = {label: train(make, ilrs) for label, make in rules_to_compare.items()}

print(
  f"{'after 300 steps:':16s}"
  + "".join(f"{f'ILR {ilr:g}: loss  lr med  lr min':>34s}" for ilr in ilrs)
)
for label, (loss, median, minimum) in results.items():
  cells = [
    f"{loss[k, -50:].mean():13.3f}{median[k, -1]:9.3g}{minimum[k, -1]:9.3g}"
    for k in range(len(ilrs))
  ]
  print(f"{label:16s}" + "".join(f"{c:>34s}" for c in cells))
print("(loss: mean batch loss of the last 50 steps)")

# %%
t = np.arange(1, steps + 1)
fig, axes = plt.subplots(1, len(ilrs), figsize=(15, 4), sharey=True)
for k, ilr in enumerate(ilrs):
  for label, (_, median, minimum) in results.items():
    (line,) = axes[k].semilogy(t, median[k], label=f"{label}: median")
    axes[k].semilogy(t, minimum[k], ":", color=line.get_color(), label=f"{label}: min")
  axes[k].set(title=f"ILR {ilr:g}", xlabel="step")
axes[0].set_ylabel("effective learning rate 1 / beta")
axes[-1].legend(fontsize="small", ncol=2)
plt.tight_layout()
plt.show()

# %% [markdown]
# * At ILR 1 the gradients are small next to `beta` (`c = (g / beta)^2` is tiny) and the
#   learning rates barely move: every rule is plain SGD there.
# * At ILR 10 and 100 the weights with the largest gradients get their learning rate cut
#   by one to two orders of magnitude within the first steps, while the median weight keeps
#   a large one.
# * Jensen-Shannon's penalty grows only linearly for large ratios, so it cuts the learning
#   rates further than KL does; at ILR 100
#   that costs it some training loss.
