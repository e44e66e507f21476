"""What an experiment is: the one shape every experiment of the reproduction has.

An experiment is a module, or a package whose ``__init__`` re-exports these names, that owns
its workload end to end (as a Flax example owns its config, training and logging). Data flows
one way: :func:`run` trains what is missing and saves CSV files in the experiment's folder,
then draws its figures from them; :func:`section` reads them back (nothing else does) and
writes the report's section. :mod:`experiments.reproduce` runs experiments,
:mod:`experiments.report` assembles their sections; ``tests/test_experiments.py`` checks every
experiment against :class:`Experiment`.

To add one: write the module with these names, then list it in
:data:`experiments.report.EXPERIMENTS`.
"""

from __future__ import annotations

import pathlib
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from experiments.common import Config
from experiments.markdown import Section


@runtime_checkable
class Experiment(Protocol):
  """The names an experiment module defines.

  Attributes:
    NAME: its folder's name in a run, and its ``--only`` name.
    TITLE: the report's section title.
    CLAIMS: ``{key: (source, what was said)}``: the claims of the paper or the study it tests.
    Settings: a frozen dataclass of everything that decides its results, with a
      ``summary()`` for the report's header.
    EMBEDDED: its ``Settings`` on the embedded data (the default run).
    FULL: its ``Settings`` at the paper's scale (``--full``).
  """

  NAME: str
  TITLE: str
  CLAIMS: Mapping[str, tuple[str, str]]
  Settings: type
  EMBEDDED: Any
  FULL: Any

  def settings(self, cfg: Config) -> Any:
    """The settings of ``cfg``'s scale, with the command line's overrides."""

  def run(self, cfg: Config, s: Any) -> None:
    """Trains what is missing into ``cfg.out / NAME`` (CSV files), then draws the figures."""

  def section(self, folder: pathlib.Path, s: Any, data: dict) -> Section:
    """The report's section from the saved files alone: text, claims, findings."""
