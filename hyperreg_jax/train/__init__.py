"""Training: the pure, jittable engine (a step, an evaluation, a whole run as one ``lax.scan``)
and, apart from it, the host-side ``fit`` loop (progress bar, Orbax checkpoints).

* :class:`Trainer`, :class:`TrainState`: the engine (``hyperreg_jax/train/_core.py``).
* :meth:`Trainer.fit`, :class:`FitCheckpoints` (its Orbax checkpoints), :func:`progress_bar`:
  the host loop (``hyperreg_jax/train/_fit.py``).
"""

from hyperreg_jax.train._core import LOSS_REDUCTIONS, LOSSES, Trainer, TrainState
from hyperreg_jax.train._fit import FitCheckpoints, progress_bar

__all__ = ["LOSSES", "LOSS_REDUCTIONS", "FitCheckpoints", "TrainState", "Trainer", "progress_bar"]
