"""Sphinx configuration of the hyperreg_jax documentation.

Builds offline, warnings as errors:

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The notebooks (``notebooks/*.ipynb``, committed with their outputs) live outside ``docs/``:
they are copied into ``docs/notebooks/`` (which git ignores) before the build reads its
sources, so a clean clone builds without symbolic links or a separate step. They are rendered
from their stored outputs, never executed. The reference reports (``results/*/REPORT.md``) are
linked as files of the repository, not rendered.
"""

from __future__ import annotations

import pathlib
import shutil
import sys

DOCS = pathlib.Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))

import hyperreg_jax  # noqa: E402

# --- files from outside docs/ -------------------------------------------------------------------

NOTEBOOKS = DOCS / "notebooks"  # generated: only copies of ../notebooks/*.ipynb


def _copy(source: pathlib.Path, target: pathlib.Path) -> None:
  """Copies ``source`` to ``target`` unless an identical copy is there (keeps rebuilds cheap)."""
  if target.exists() and target.read_bytes() == source.read_bytes():
    return
  target.parent.mkdir(parents=True, exist_ok=True)
  shutil.copyfile(source, target)


def copy_sources() -> None:
  """The notebooks, into ``NOTEBOOKS``; copies of removed notebooks are deleted."""
  wanted = {NOTEBOOKS / p.name: p for p in (ROOT / "notebooks").glob("[0-9]*.ipynb")}
  for target, source in wanted.items():
    _copy(source, target)
  for stale in [p for p in NOTEBOOKS.rglob("*") if p.is_file() and p not in wanted]:
    stale.unlink()


copy_sources()

# --- the project --------------------------------------------------------------------------------

project = "hyperreg_jax"
author = "The hyperreg_jax Authors"
copyright = "The hyperreg_jax Authors"
release = hyperreg_jax.__version__
version = release

extensions = [
  "myst_nb",
  "sphinx.ext.autodoc",
  "sphinx.ext.autosummary",
  "sphinx.ext.napoleon",
  "sphinx.ext.mathjax",
  "sphinx.ext.viewcode",
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints"]
templates_path = ["_templates"]

# --- Markdown and notebooks ---------------------------------------------------------------------

myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
nb_execution_mode = "off"  # rendered from the outputs stored in the notebooks

# --- API reference ------------------------------------------------------------------------------

autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
add_module_names = False

# --- HTML ---------------------------------------------------------------------------------------

html_theme = "furo"
html_title = f"hyperreg_jax {release}"
html_static_path: list[str] = []

# --- docstrings of constants --------------------------------------------------------------------


def _comment_where_defined(name: str, obj) -> list[str]:
  """The ``#:`` comment of ``name`` in whichever module of the package assigns it to ``obj``.

  A constant re-exported by ``hyperreg_jax/__init__.py`` (say ``PAPER_RULES``) has its comment
  in the private module that defines it, which autodoc does not read.
  """
  from sphinx.pycode import ModuleAnalyzer

  for modname, module in sorted(sys.modules.items()):
    if not modname.startswith("hyperreg_jax") or getattr(module, name, None) is not obj:
      continue
    try:
      analyzer = ModuleAnalyzer.for_module(modname)
      analyzer.analyze()
    except Exception:  # noqa: BLE001 (a module without source: look further)
      continue
    if comment := analyzer.attr_docs.get(("", name)):
      return list(comment)
  return []


def _data_docstring(app, what, name, obj, options, lines):
  """A constant without a ``#:`` comment in its module would show its type's docstring (a
  dict's, a tuple's, ``Divergence``'s): show the comment where it is defined instead, or none."""
  if what != "data" or type(obj).__doc__ is None or getattr(obj, "__doc__", None) is None:
    return
  from sphinx.util.docstrings import prepare_docstring

  if [line for line in lines if line.strip()] != [
    line for line in prepare_docstring(type(obj).__doc__) if line.strip()
  ]:
    return
  lines[:] = _comment_where_defined(name.rsplit(".", 1)[-1], obj)


def setup(app):
  app.connect("autodoc-process-docstring", _data_docstring, priority=100)
