"""Builds the notebooks from their Python sources and executes them.

Each notebook ``NN_name.ipynb`` is generated from ``src/NN_name.py``, a plain Python file in
the "percent" format: a line ``# %%`` starts a code cell, ``# %% [markdown]`` a markdown cell
whose lines are comments (``# `` is stripped). The generated notebook is executed top to
bottom and saved with its outputs, so the figures show on the repository page::

    python notebooks/build.py                    # all notebooks
    python notebooks/build.py 01_quickstart      # one

Edit the sources, never the ``.ipynb`` files: ``tests/test_notebooks.py`` checks that every
notebook's cells are its source's.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import nbformat

HERE = pathlib.Path(__file__).resolve().parent
SOURCES = HERE / "src"
KERNEL = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def names() -> list[str]:
  """The notebooks' names, ``NN_name``, in order."""
  return sorted(p.stem for p in SOURCES.glob("[0-9][0-9]_*.py"))


def cells(source: str) -> list[tuple[str, str]]:
  """``(cell_type, text)`` pairs of a percent-format Python source."""
  out: list[tuple[str, list[str]]] = []
  for line in source.splitlines():
    if line.startswith("# %%"):
      out.append(("markdown" if "[markdown]" in line else "code", []))
    elif out:
      kind, lines = out[-1]
      if kind == "markdown":
        line = line.removeprefix("#").removeprefix(" ")
      lines.append(line)
  return [(kind, "\n".join(lines).strip("\n")) for kind, lines in out]


def notebook(name: str) -> nbformat.NotebookNode:
  """The unexecuted notebook of ``src/<name>.py``."""
  nb = nbformat.v4.new_notebook()
  for i, (kind, text) in enumerate(cells((SOURCES / f"{name}.py").read_text())):
    make = nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
    nb.cells.append(make(text, id=f"cell-{i:02d}"))  # stable ids: clean diffs
  nb.metadata["kernelspec"] = dict(KERNEL)
  nb.metadata["language_info"] = {"name": "python"}
  return nb


def execute(nb: nbformat.NotebookNode, cwd: str | pathlib.Path, timeout: int = 600):
  """Runs every cell of ``nb`` in a fresh ``python3`` kernel started in ``cwd``.

  Raises :class:`nbclient.exceptions.CellExecutionError` at the first cell that fails.
  """
  from nbclient import NotebookClient

  client = NotebookClient(
    nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
  )
  return client.execute()


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("names", nargs="*", help="notebooks to build (default: all)")
  args = parser.parse_args(argv)
  for name in args.names or names():
    nb = notebook(name)
    start = time.perf_counter()
    execute(nb, cwd=HERE)
    for cell in nb.cells:  # no per-run ids or timestamps in the committed files
      cell.metadata.pop("execution", None)
    nbformat.write(nb, HERE / f"{name}.ipynb")
    print(f"{name}.ipynb: executed in {time.perf_counter() - start:.1f} s", file=sys.stderr)


if __name__ == "__main__":
  main()
