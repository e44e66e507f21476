"""The package's layout: no public name hides a submodule, and no module imports in a circle."""

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


#: The folders whose modules import one another: a circle among them is a layout bug.
GRAPH_FOLDERS = ("hyperreg_jax", "experiments", "benchmarks")


def _module_name(path: pathlib.Path) -> str:
  parts = list(path.relative_to(ROOT).with_suffix("").parts)
  if parts[-1] == "__init__":
    parts.pop()
  return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
  """Each module of :data:`GRAPH_FOLDERS` and the project modules it imports, anywhere in
  its file (an import inside a function counts: it runs, later). ``from package import
  name`` where ``name`` is a submodule is an edge to the submodule; a package is imported
  by its ``__init__``."""
  import ast

  paths = [p for folder in GRAPH_FOLDERS for p in sorted((ROOT / folder).rglob("*.py"))]
  modules = {_module_name(p): p for p in paths}
  graph = {}
  for name, path in modules.items():
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    edges = set()
    for node in ast.walk(ast.parse(path.read_text())):
      if isinstance(node, ast.Import):
        targets = [alias.name for alias in node.names]
      elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
          anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
          base = ".".join(anchor + ([base] if base else []))
        targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
      else:
        continue
      for target in targets:
        while target and target not in modules:
          target = target.rpartition(".")[0]
        if target and target != name:
          edges.add(target)
    graph[name] = edges
  # ``from pkg import sub`` adds both pkg and pkg.sub: keep the most specific.
  for name, edges in graph.items():
    graph[name] = {e for e in edges if not any(o.startswith(e + ".") for o in edges)}
  return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
  """One import circle of ``graph`` (its modules in order), or ``None``."""
  state, stack = {}, []

  def visit(node):
    state[node] = "open"
    stack.append(node)
    for nxt in sorted(graph.get(node, ())):
      if state.get(nxt) == "open":
        return stack[stack.index(nxt) :] + [nxt]
      if nxt not in state:
        found = visit(nxt)
        if found:
          return found
    stack.pop()
    state[node] = "done"
    return None

  for node in sorted(graph):
    if node not in state:
      found = visit(node)
      if found:
        return found
  return None


def test_find_cycle_finds_one():
  assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
  assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_no_import_circle():
  """The library, the experiments and the benchmarks import downwards only."""
  graph = import_graph()
  assert "experiments.study_setting.runs" in graph["experiments.study_setting"]
  assert "hyperreg_jax.rules" in graph["hyperreg_jax._transform"]
  assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


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


def test_the_wheel_holds_the_library_alone_and_twine_accepts_it(tmp_path):
  """``python -m build`` makes an sdist and a wheel that ``twine check`` passes; the wheel
  installs ``hyperreg_jax`` and its data, no ``experiments`` package."""
  import subprocess
  import sys
  import zipfile

  done = subprocess.run(
    [sys.executable, "-m", "build", "--outdir", str(tmp_path), str(ROOT)],
    capture_output=True,
    text=True,
    timeout=600,
  )
  assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
  (wheel,) = tmp_path.glob("*.whl")
  (sdist,) = tmp_path.glob("*.tar.gz")
  checked = subprocess.run(
    [sys.executable, "-m", "twine", "check", "--strict", str(wheel), str(sdist)],
    capture_output=True,
    text=True,
    timeout=120,
  )
  assert checked.returncode == 0, checked.stdout + checked.stderr
  names = zipfile.ZipFile(wheel).namelist()
  top = {name.split("/")[0] for name in names}
  assert {t for t in top if not t.endswith(".dist-info")} == {"hyperreg_jax"}
  assert "hyperreg_jax/_data/mnist_5k.npz" in names
  assert "hyperreg_jax/py.typed" in names  # the API is typed, and says so


def test_the_files_a_user_looks_for():
  """LICENSE (Apache-2.0, as pyproject says), a changelog and a citation file, both with the
  version written once in hyperreg_jax/_version.py."""
  from hyperreg_jax._version import __version__

  assert "Apache License" in (ROOT / "LICENSE").read_text()
  assert 'license = "Apache-2.0"' in (ROOT / "pyproject.toml").read_text()
  assert f'version: "{__version__}"' in (ROOT / "CITATION.cff").read_text()
  assert f"## {__version__}" in (ROOT / "CHANGELOG.md").read_text()
  assert (PACKAGE / "py.typed").is_file()
