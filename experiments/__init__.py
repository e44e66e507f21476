"""The reproduction of "Hyper-Regularization" (ICLR 2019) and of its reproducibility study.

One module per experiment; ``python -m experiments`` runs them all and writes
``results/<run-name>/`` (figures, the data behind them, ``config.json``, ``REPORT.md``).
See :mod:`experiments.reproduce`.
"""
