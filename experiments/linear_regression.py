"""Experiment 4: linear regression (study Fig. 3 and its timing list).

Full-batch gradient descent on ``0.5 * mean((x w + b - y)^2)``, on synthetic data shaped
like the study's (10,000 rows; a standardised height ``x`` and a weight ``y`` in kilograms,
mean about 73, so the optimum's intercept is far from the start at 0), from the same start
with a fixed learning rate and with the rules at the same initial learning rate (no L2;
each rule with and without the growth clip): parameter trajectories, distance to the
least-squares optimum per iteration, iterations to a tolerance. Then the time per
iteration of GD, GD with the KL2 rule, SGD (one example per step) and SGD with KL2, in JAX
(a jitted ``lax.scan``, per iteration) and in plain NumPy (the study's style), measured in
the same run.
"""

from __future__ import annotations

import time

import numpy as np

from experiments import common

NAME = "linear_regression"
TITLE = "Linear regression: trajectories, iterations to tolerance, time per iteration"
LR = 0.5
TOLERANCE = 1e-3
LOOSE_TOLERANCE = 1e-2
RULES = ("kl2", "rkl1", "rkl2", "chi2_2", "adagrad_diag")
#: y in "kilograms": 73 + 10 * (a standardised synthetic target).
Y_OFFSET, Y_SCALE = 73.0, 10.0
#: The study's NumPy timings (us per iteration) and iteration counts.
REPORTED_US = {"gd_rule": 338.8, "gd": 64.9, "sgd_rule": 512.0, "sgd": 382.8}


def settings(cfg: common.Config) -> dict:
  return {
    "num_train": 10_000,
    "lr": LR,
    "tolerance": TOLERANCE,
    "loose_tolerance": LOOSE_TOLERANCE,
    "iterations": 100_000,
    "timing_iterations": 2_000,
    "rules": cfg.rules(RULES),
    "weight_decay": 0.0,
    "target": f"y = {Y_OFFSET:g} + {Y_SCALE:g} * standardised target (weight in kg)",
  }


def _optimizer(label):
  import optax

  if label == "gd":
    return optax.sgd(LR)
  name = label.removesuffix("_noclip")
  return common.rule_variant(name, clipped=name == label, weight_decay=0.0)(LR)


def load_data(num_train: int):
  """Synthetic regression data on the study's scale, with its least-squares optimum."""
  import dataclasses

  from hyperreg_jax import data

  ds = data.synthetic_linear_regression(num_train=num_train, num_test=100, dim=1, seed=0)
  info = dict(ds.info, w_opt=ds.info["w_opt"] * Y_SCALE)
  info["b_opt"] = Y_OFFSET + Y_SCALE * ds.info["b_opt"]
  return dataclasses.replace(
    ds,
    y_train=(Y_OFFSET + Y_SCALE * ds.y_train).astype(np.float32),
    y_test=(Y_OFFSET + Y_SCALE * ds.y_test).astype(np.float32),
    info=info,
  )


def _trajectories(s, ds) -> list[dict]:
  import jax
  import jax.numpy as jnp
  import optax

  x, y = jnp.asarray(ds.x_train[:, 0]), jnp.asarray(ds.y_train)
  opt = np.array([ds.info["w_opt"][0], ds.info["b_opt"]])
  start = {"w": jnp.zeros(()), "b": jnp.zeros(())}
  loss = lambda p: 0.5 * jnp.mean((x * p["w"] + p["b"] - y) ** 2)  # noqa: E731
  log_steps = np.unique(np.geomspace(1, s["iterations"], 400).astype(int))
  rows = []
  labels = ["gd"] + [f"{r}{suffix}" for r in s["rules"] for suffix in ("", "_noclip")]
  for name in labels:
    tx = _optimizer(name)

    def step(carry, _):
      params, state = carry
      updates, state = tx.update(jax.grad(loss)(params), state, params)
      params = optax.apply_updates(params, updates)
      return (params, state), jnp.stack([params["w"], params["b"]])

    _, path = jax.jit(
      lambda p: jax.lax.scan(step, (p, tx.init(p)), None, length=s["iterations"])
    )(start)
    path = np.concatenate([np.zeros((1, 2)), np.asarray(path, np.float64)])  # from (0, 0)
    dist = np.linalg.norm(path - opt, axis=1)
    reached, loose = (_iterations_within(dist, tol) for tol in (TOLERANCE, LOOSE_TOLERANCE))
    for t in np.concatenate([[0], log_steps]):
      rows.append(
        {"variant": name, "iteration": int(t), "w": path[t, 0], "b": path[t, 1],
         "distance": dist[t], "iterations_to_tolerance": reached,
         "iterations_to_loose_tolerance": loose, "final_distance": dist[-1]}
      )
  return rows


def _iterations_within(dist: np.ndarray, tolerance: float) -> int:
  """The first iteration from which ``dist`` stays within ``tolerance``; -1 if it does not."""
  outside = np.nonzero(dist > tolerance)[0]
  if outside.size and outside[-1] == dist.size - 1:
    return -1
  return int(outside[-1]) + 1 if outside.size else 0


def _time(fn, repeats=3) -> float:
  best = float("inf")
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    best = min(best, time.perf_counter() - start)
  return best


def _timings(s, ds) -> list[dict]:
  import jax
  import jax.numpy as jnp
  import optax

  n_iter = s["timing_iterations"]
  x64, y64 = ds.x_train[:, 0].astype(np.float64), ds.y_train.astype(np.float64)
  idx = np.random.default_rng(0).integers(0, len(x64), n_iter)
  rows = []

  # NumPy, the study's style: a Python loop, the KL2 rule written out.
  def numpy_loop(stochastic, rule):
    w = b = 0.0
    beta = np.full(2, 1 / LR)
    for t in range(n_iter):
      xs, ys = (x64[idx[t] : idx[t] + 1], y64[idx[t] : idx[t] + 1]) if stochastic else (x64, y64)
      r = xs * w + b - ys
      g = np.array([np.mean(r * xs), np.mean(r)])
      if rule:
        beta = beta * np.exp(g**2 / beta**2)
        w, b = w - g[0] / beta[0], b - g[1] / beta[1]
      else:
        w, b = w - LR * g[0], b - LR * g[1]

  # JAX: the same iterations inside one jitted lax.scan.
  x, y, jidx = jnp.asarray(x64, jnp.float32), jnp.asarray(y64, jnp.float32), jnp.asarray(idx)

  def jax_loop(stochastic, rule):
    tx = _optimizer("kl2") if rule else optax.sgd(LR)

    def step(carry, i):
      params, state = carry
      xs, ys = (x[i][None], y[i][None]) if stochastic else (x, y)
      grads = jax.grad(lambda p: 0.5 * jnp.mean((xs * p["w"] + p["b"] - ys) ** 2))(params)
      updates, state = tx.update(grads, state, params)
      return (optax.apply_updates(params, updates), state), None

    p0 = {"w": jnp.zeros(()), "b": jnp.zeros(())}
    run = jax.jit(lambda: jax.lax.scan(step, (p0, tx.init(p0)), jidx)[0])
    jax.block_until_ready(run())  # compile
    return lambda: jax.block_until_ready(run())

  for key, stochastic, rule in (
    ("gd", False, False),
    ("gd_rule", False, True),
    ("sgd", True, False),
    ("sgd_rule", True, True),
  ):
    with np.errstate(over="ignore"):  # the study's KL2 overflows at the far start
      numpy_s = _time(lambda: numpy_loop(stochastic, rule), repeats=3)
    jax_s = _time(jax_loop(stochastic, rule), repeats=7)
    rows.append(
      {"method": key, "numpy_us": 1e6 * numpy_s / n_iter, "jax_us": 1e6 * jax_s / n_iter,
       "study_numpy_us": REPORTED_US[key], "iterations": n_iter}
    )
  return rows


def run(cfg: common.Config) -> dict:
  s = settings(cfg)
  out = cfg.out / NAME
  ds = load_data(s["num_train"])
  s["data"] = common.data_label(ds)
  s["optimum"] = [float(ds.info["w_opt"][0]), float(ds.info["b_opt"])]
  rows = common.cached_csv(out / "trajectories.csv", lambda: _trajectories(s, ds))
  common.cached_csv(out / "timing.csv", lambda: _timings(s, ds))
  plt = common.pyplot()
  fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
  for variant in dict.fromkeys(r["variant"] for r in rows):
    run_rows = [r for r in rows if r["variant"] == variant]
    reached = run_rows[0]["iterations_to_tolerance"]
    label = f"{variant} ({reached if reached > 0 else 'not within ' + str(s['iterations'])} it.)"
    style = {"ls": "--"} if variant.endswith("_noclip") else {}
    (line,) = left.plot(
      [r["w"] for r in run_rows], [r["b"] for r in run_rows], label=label, **style
    )
    right.plot(
      [max(r["iteration"], 1) for r in run_rows],
      [r["distance"] for r in run_rows],
      color=line.get_color(),
      label=variant,
      **style,
    )
  left.plot(*s["optimum"], "k*", ms=12, label="least-squares optimum")
  left.set_xlabel("weight w")
  left.set_ylabel("bias b")
  left.set_title(
    f"trajectories from (0, 0); legend: iterations to distance {TOLERANCE:g}", fontsize="medium"
  )
  left.legend(fontsize="x-small")
  right.axhline(TOLERANCE, color="0.5", ls=":", label=f"tolerance {TOLERANCE:g}")
  right.set_xscale("log")
  right.set_yscale("log")
  right.set_xlabel("iteration (full batch; the start is drawn at 1)")
  right.set_ylabel("distance to the optimum ||(w, b) - (w*, b*)||")
  right.set_title("distance to the optimum", fontsize="medium")
  right.legend(fontsize="x-small")
  fig.suptitle(
    f"Linear regression, {s['num_train']} rows: GD at learning rate {LR:g} vs the rules at "
    f"ILR {LR:g} (loss averaged over the data, no L2); solid: growth clip 2, dashed: no clip",
    fontsize="medium",
  )
  fig.tight_layout()
  common.save_figure(fig, out / "trajectories.png")
  common.write_json(out / "settings.json", s)
  return s
