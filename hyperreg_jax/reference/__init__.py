"""Independent NumPy reference implementation (no JAX) of the hyper-regularized rules.

Derived from the method as written in ``docs/method.md`` alone; the test-suite compares the JAX implementation against it.

* :mod:`hyperreg_jax.reference.rules`: divergences, Lambert W, ``new_beta``.
* :mod:`hyperreg_jax.reference.optimizers`: ``HyperRegNumpy``, WNGrad and AdaGrad references.
* :mod:`hyperreg_jax.reference.numpy_mlp`: the 784-500-10 MLP with a manual NumPy
  forward/backward pass and a plain mini-batch training loop.

The reproducibility study's own MNIST code, re-run literally, lives with the experiments
(``experiments/study_code.py``): it is research tooling, not part of the library.
"""

from hyperreg_jax.reference.numpy_mlp import (
  SGDNumpy,
  accuracy,
  forward,
  init_mlp_params,
  loss_and_grads,
  train_mlp,
)
from hyperreg_jax.reference.optimizers import (
  AdaGradNumpy,
  HyperRegNumpy,
  HyperRegNumpyState,
  WNGradNumpy,
  adagrad_numpy,
  tree_leaves,
  tree_map,
  wngrad_numpy,
)
from hyperreg_jax.reference.rules import (
  DIVERGENCES,
  GRANULARITIES,
  divergence,
  divergence_grad,
  lambertw0,
  new_beta,
  raw_beta,
)

__all__ = [
  "DIVERGENCES",
  "GRANULARITIES",
  "AdaGradNumpy",
  "HyperRegNumpy",
  "HyperRegNumpyState",
  "WNGradNumpy",
  "adagrad_numpy",
  "divergence",
  "divergence_grad",
  "lambertw0",
  "new_beta",
  "raw_beta",
  "tree_leaves",
  "tree_map",
  "wngrad_numpy",
  "SGDNumpy",
  "accuracy",
  "forward",
  "init_mlp_params",
  "loss_and_grads",
  "train_mlp",
]
