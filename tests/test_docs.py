"""The documentation: every public name has an entry in the API reference, the table of
optimizers is ``hr.RULE_NAMES``, every page is reachable, and (slow) the site builds offline
with warnings as errors, every public name in its inventory.

The public names are ``hyperreg_jax.__all__`` and, for each public submodule, its ``__all__``
or, where it has none, the names its source assigns at the top level without a leading
underscore (functions, classes, constants and type aliases).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import io
import pathlib
import pkgutil
import posixpath
import re
import subprocess
import sys

import pytest

import hyperreg_jax as hr

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
API = DOCS / "api"
BUILD_COMMAND = ("-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html")


def read_inventory(path: pathlib.Path) -> dict[str, set[str]]:
  """The object names of a Sphinx inventory (``objects.inv``), by kind (``py:function``, ...)."""
  from sphinx.util import inventory

  raw = path.read_bytes()
  if hasattr(inventory.InventoryFile, "loads"):  # Sphinx >= 8.2
    data = inventory.InventoryFile.loads(raw, uri="").data
  else:
    data = inventory.InventoryFile.load(io.BytesIO(raw), "", posixpath.join)
  return {kind: set(entries) for kind, entries in data.items()}


def public_submodules() -> list[str]:
  """``hyperreg_jax``'s submodules without a leading underscore (``__main__`` is a command)."""
  return sorted(
    f"hyperreg_jax.{m.name}"
    for m in pkgutil.iter_modules(hr.__path__)
    if not m.name.startswith("_")
  )


def public_names(module_name: str) -> list[str]:
  """A module's ``__all__``, or the names its source assigns at the top level, public ones."""
  module = importlib.import_module(module_name)
  if hasattr(module, "__all__"):
    return list(module.__all__)
  names = []
  for node in ast.parse(inspect.getsource(module)).body:
    if isinstance(node, ast.FunctionDef | ast.ClassDef):
      names.append(node.name)
    elif isinstance(node, ast.Assign):
      names += [t.id for t in node.targets if isinstance(t, ast.Name)]
    elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
      names.append(node.target.id)
  return [n for n in names if not n.startswith("_")]


def documented() -> dict[str, set[str]]:
  """Per module (``.. automodule::`` of an API page), the names its autosummary tables list."""
  out: dict[str, set[str]] = {}
  for page in sorted(API.glob("*.rst")):
    text = page.read_text()
    (module,) = re.findall(r"^\.\. automodule:: (\S+)$", text, flags=re.M)
    names = out.setdefault(module, set())
    for table in re.findall(r"^\.\. autosummary::\n((?:(?:   .*)?\n)+)", text, flags=re.M):
      names |= {line.strip() for line in table.splitlines() if line.strip()[:1].isalpha()}
  return out


def expected() -> dict[str, set[str]]:
  """Per module, the public names the API reference must list (public submodules of
  ``hyperreg_jax`` have a page of their own instead of an entry)."""
  top = {n for n in hr.__all__ if not inspect.ismodule(getattr(hr, n))}
  return {"hyperreg_jax": top} | {m: set(public_names(m)) for m in public_submodules()}


def test_the_public_submodules_are_the_ones_the_reference_covers():
  submodules = public_submodules()
  assert {"hyperreg_jax.train", "hyperreg_jax.data", "hyperreg_jax.reference"} <= set(submodules)
  for name in hr.__all__:  # the submodules that hyperreg_jax re-exports are among them
    if inspect.ismodule(getattr(hr, name)):
      assert f"hyperreg_jax.{name}" in submodules, name


@pytest.mark.parametrize("module", sorted(expected()))
def test_every_public_name_has_an_api_entry(module):
  pages = documented()
  assert module in pages, f"docs/api has no page with '.. automodule:: {module}'"
  listed, wanted = pages[module], expected()[module]
  assert sorted(wanted - listed) == [], f"public names of {module} missing from docs/api"
  assert sorted(listed - wanted) == [], f"docs/api lists names {module} does not make public"


def test_every_api_page_is_in_the_reference_index():
  index = (API / "index.md").read_text()
  listed = re.findall(r"^(\w+)$", index.split("```{toctree}")[1], flags=re.M)
  assert sorted(listed) == sorted(p.stem for p in API.glob("*.rst"))


def test_every_page_is_in_a_table_of_contents():
  """Sphinx warns about (and -W fails on) a page no toctree reaches; this says which, fast."""
  index = (DOCS / "index.md").read_text()
  listed = set(re.findall(r"^([\w/]+)$", index, flags=re.M))
  pages = {p.stem for p in DOCS.glob("*.md")} - {"index"}
  assert sorted(pages - listed) == []


def test_the_table_of_optimizers_is_rule_names():
  page = (DOCS / "optimizers.md").read_text()
  rows = re.findall(r"^\| `hr\.(\w+)` \|", page, flags=re.M)
  assert rows == list(hr.RULE_NAMES)


@pytest.mark.slow
def test_the_site_builds_offline_and_its_inventory_holds_every_public_name(tmp_path):
  """The build of README.md and CI, warnings as errors, then every public name as an object
  of the inventory (``objects.inv``) that the build writes."""
  out = tmp_path / "html"
  done = subprocess.run(
    [sys.executable, *BUILD_COMMAND, str(DOCS), str(out)],
    cwd=ROOT,
    capture_output=True,
    text=True,
    timeout=600,
  )
  assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
  inventory = read_inventory(out / "objects.inv")
  objects = {name for kind, names in inventory.items() if kind.startswith("py:") for name in names}
  missing = [
    f"{module}.{name}"
    for module, names in expected().items()
    for name in sorted(names)
    if f"{module}.{name}" not in objects
  ]
  assert missing == []
  assert sorted(set(expected()) - inventory.get("py:module", set())) == []
