"""``python -m experiments``: see :mod:`experiments.reproduce`."""

from experiments.reproduce import main

if __name__ == "__main__":
  main()
