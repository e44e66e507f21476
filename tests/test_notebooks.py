"""The notebooks in notebooks/: each runs top to bottom, and is committed executed.

Every ``notebooks/NN_name.ipynb`` is generated from ``notebooks/src/NN_name.py`` and executed
by ``notebooks/build.py``. The slow tests execute each notebook again in a fresh ``python3``
kernel (this interpreter's) with ``nbclient``: any cell error fails them. The fast ones check
that the committed files are their sources, executed in order, without errors, with their
figures in the outputs (so they show on the repository page).
"""

import importlib.util
import os
import pathlib

import nbformat
import pytest
from nbclient.exceptions import CellExecutionError

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
EXPECTED = ["01_quickstart", "02_ilr_sweep", "03_custom_divergence", "04_flax_nnx"]


def _load_build():
  spec = importlib.util.spec_from_file_location("notebooks_build", NOTEBOOKS / "build.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


build = _load_build()


def _images(nb) -> int:
  return sum(
    "image/png" in output.get("data", {})
    for cell in nb.cells
    if cell.cell_type == "code"
    for output in cell.outputs
  )


def test_every_notebook_has_a_source_and_is_committed():
  assert build.names() == EXPECTED
  assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == EXPECTED


def test_cells_of_a_percent_source():
  source = "# %% [markdown]\n# # Title\n#\n# text\n\n# %%\nx = 1\n\n\n# %%\n# a comment\nprint(x)\n"
  assert build.cells(source) == [
    ("markdown", "# Title\n\ntext"),
    ("code", "x = 1"),
    ("code", "# a comment\nprint(x)"),
  ]


@pytest.mark.slow
def test_a_failing_cell_fails_the_run(tmp_path):
  nb = nbformat.v4.new_notebook()
  nb.cells = [nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("raise ValueError(x)")]
  with pytest.raises(CellExecutionError, match="ValueError"):
    build.execute(nb, cwd=tmp_path)


@pytest.mark.parametrize("name", EXPECTED)
def test_committed_notebook_is_its_source_executed(name):
  nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
  nbformat.validate(nb)
  source = build.notebook(name)
  assert [(c.cell_type, c.source) for c in nb.cells] == [
    (c.cell_type, c.source) for c in source.cells
  ], f"{name}.ipynb is out of date: run python notebooks/build.py {name}"
  code = [c for c in nb.cells if c.cell_type == "code"]
  assert [c.execution_count for c in code] == list(range(1, len(code) + 1))
  outputs = [o for c in code for o in c.outputs]
  assert not [o for o in outputs if o.output_type == "error"]
  assert _images(nb) >= 1


@pytest.mark.slow
@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_runs(name, tmp_path, monkeypatch):
  # The kernel inherits the environment: this checkout first on the path, matplotlib's
  # inline backend (not a backend chosen for the test process).
  path = [str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]
  monkeypatch.setenv("PYTHONPATH", os.pathsep.join(path))
  monkeypatch.delenv("MPLBACKEND", raising=False)
  nb = build.notebook(name)
  build.execute(nb, cwd=tmp_path)  # raises CellExecutionError on the first failing cell
  assert _images(nb) >= 1


def test_the_notebooks_extra_opens_and_converts_them(tmp_path):
  import subprocess
  import sys

  tomllib = pytest.importorskip("tomllib")  # Python 3.11+

  extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
  names = {r.split(">")[0].split("=")[0] for r in extras["notebooks"]}
  assert {"jupyterlab", "nbconvert", "ipykernel"} <= names
  proc = subprocess.run(
    [
      sys.executable,
      "-m",
      "jupyter",
      "nbconvert",
      "--to",
      "markdown",
      "--output-dir",
      str(tmp_path),
      str(NOTEBOOKS / "01_quickstart.ipynb"),
    ],
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert "hr.rkl1" in (tmp_path / "01_quickstart.md").read_text()
