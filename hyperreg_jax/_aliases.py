"""The named optimizers, one table: the paper's twelve rules, then diagonal AdaGrad and WNGrad.

Each alias is a plain function in the module of its divergence (``_aliases_kl``,
``_aliases_rkl``, ``_aliases_hellinger``, ``_aliases_chi2``) or of the special cases
(``_aliases_special``); this module lists them once, for the package, the sweeps and the tests.
"""

from __future__ import annotations

from hyperreg_jax._aliases_chi2 import chi2_1, chi2_2, chi2_3
from hyperreg_jax._aliases_hellinger import hellinger1, hellinger2, hellinger3
from hyperreg_jax._aliases_kl import kl1, kl2, kl3
from hyperreg_jax._aliases_rkl import rkl1, rkl2, rkl3
from hyperreg_jax._aliases_special import adagrad_diag, wngrad

# The paper's twelve rules by name: the divergence, then the algorithm (1 exact, 2 alternating,
# 3 lagged).
PAPER_RULES = {
  rule.__name__: rule
  for rule in (kl1, kl2, kl3, rkl1, rkl2, rkl3, hellinger1, hellinger2, hellinger3)
  + (chi2_1, chi2_2, chi2_3)
}
# The special cases: AdaGrad (Neyman chi-square, Algorithm 1) and WNGrad.
SPECIAL = {"adagrad_diag": adagrad_diag, "wngrad": wngrad}
# The fourteen names, in that order.
RULE_NAMES = (*PAPER_RULES, *SPECIAL)
