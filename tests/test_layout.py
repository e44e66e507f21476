"""The package's layout: no public name hides a submodule, and no source file is a monolith."""

import importlib
import importlib.util
import pathlib
import pkgutil
import types

import pytest

import hyperreg_jax

PACKAGE = pathlib.Path(hyperreg_jax.__file__).parent


def _packages():
  yield hyperreg_jax
  for info in pkgutil.walk_packages(hyperreg_jax.__path__, "hyperreg_jax."):
    if info.ispkg:
      yield importlib.import_module(info.name)


def test_no_public_name_shadows_a_submodule():
  for package in _packages():
    for info in pkgutil.iter_modules(package.__path__):
      submodule = importlib.import_module(f"{package.__name__}.{info.name}")
      public = getattr(package, info.name, submodule)
      assert public is submodule, f"{package.__name__}.{info.name} is {public!r}, not the module"
      if not info.name.startswith("_"):
        assert isinstance(public, types.ModuleType)


def test_implementation_modules_are_private():
  """The sweep's module is ``_sweep``: ``hyperreg_jax.sweep`` is the function, only."""
  import hyperreg_jax._sweep as module

  assert callable(hyperreg_jax.sweep) and not isinstance(hyperreg_jax.sweep, types.ModuleType)
  assert module.sweep is hyperreg_jax.sweep


ROOT = pathlib.Path(__file__).resolve().parents[1]
SOURCE_FOLDERS = ("hyperreg_jax", "experiments", "tests", "benchmarks", "notebooks/src")


def test_no_source_file_is_over_400_lines():
  """The package, the experiments, the tests, the benchmarks and the notebooks' sources."""
  files = {folder: sorted((ROOT / folder).rglob("*.py")) for folder in SOURCE_FOLDERS}
  assert all(files.values()), files  # a folder moved or renamed would be checked no more
  lengths = {
    p.relative_to(ROOT).as_posix(): len(p.read_text().splitlines())
    for paths in files.values()
    for p in paths
  }
  assert {name: n for name, n in lengths.items() if n > 400} == {}


LINTED_FOLDERS = (*SOURCE_FOLDERS, "scripts")


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=" ".join)
def test_ruff_finds_nothing(command):
  """The lint rules and the format of pyproject.toml hold over every source folder (CI runs
  the same two commands before the tests)."""
  if importlib.util.find_spec("ruff") is None:
    pytest.skip("ruff is not installed (pip install -e '.[test]')")
  import subprocess
  import sys

  args = [sys.executable, "-m", "ruff", *command, "--no-cache", *LINTED_FOLDERS]
  done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert done.returncode == 0, done.stdout + done.stderr


def test_public_names_hold_no_foreign_module():
  """``dir(hr)`` used to show ``importlib``: a module name is public only if it is one of the
  package's own submodules (``hr.rules``, ``hr.distributed``, ...)."""
  public = [name for name in dir(hyperreg_jax) if not name.startswith("_")]
  foreign = [
    name
    for name in public
    if isinstance(getattr(hyperreg_jax, name), types.ModuleType)
    and not getattr(hyperreg_jax, name).__name__.startswith("hyperreg_jax.")
  ]
  assert foreign == []
  assert "importlib" not in public
  for name in hyperreg_jax.__all__:
    value = getattr(hyperreg_jax, name)
    if isinstance(value, types.ModuleType):
      assert value.__name__ == f"hyperreg_jax.{name}", name


def test_nothing_cites_a_document_outside_the_repository():
  """Code, docs and reports cite the paper, the study or files of this repository."""
  import re
  import subprocess

  root = PACKAGE.parent
  tracked = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True).stdout
  outside = re.compile(
    "|".join(
      ["SPEC" + r"(\.md|\b section|\s\d)", "study-code" + "-facts", "reported-" + r"numbers\.md"]
    )
  )
  cited = [
    f"{name}:{i}"
    for name in tracked.split()
    if name.endswith((".py", ".md", ".ipynb", ".toml"))
    for i, line in enumerate((root / name).read_text(errors="ignore").splitlines(), 1)
    if outside.search(line)
  ]
  assert cited == []
