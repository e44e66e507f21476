"""Every ```python block of README.md, and of the docs pages its sections moved to, runs as
written.

Each block runs on its own, as a reader would paste it: in a fresh Python process (this
interpreter, this checkout first on the path), in an empty temporary directory, with
matplotlib's non-interactive ``Agg`` backend. A block fails the test when it raises.

Blocks that are not meant to run (a signature with ``...``, a multi-host launch line) are
either fenced as something other than ``python`` (```bash, ```text) or preceded, on the line
just before the opening fence, by the marker

    <!-- readme-test: skip -->

Blocks indented inside a list item are dedented first.
"""

import os
import pathlib
import re
import subprocess
import sys
import textwrap

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SKIP_MARKER = "<!-- readme-test: skip -->"
_FENCE = re.compile(r"^(\s*)```(\S*)\s*$")


def python_blocks(markdown: str) -> list[tuple[int, str]]:
  """``(line number, code)`` of every ```python block not marked with ``SKIP_MARKER``."""
  lines = markdown.splitlines()
  blocks = []
  i = 0
  while i < len(lines):
    opening = _FENCE.match(lines[i])
    if not opening:
      i += 1
      continue
    indent, language = opening.groups()
    end = i + 1
    while end < len(lines) and lines[end].strip() != "```":
      end += 1
    skipped = i > 0 and lines[i - 1].strip() == SKIP_MARKER
    if language == "python" and not skipped:
      body = "\n".join(lines[i + 1 : end])
      blocks.append((i + 1, textwrap.dedent(body) if indent else body))
    i = end + 1
  return blocks


#: README.md, then the documentation pages that hold the README's former sections.
DOCUMENTS = (
  "README.md",
  "docs/getting_started.md",
  "docs/optimizers.md",
  "docs/sweeps.md",
  "docs/training.md",
  "docs/distributed.md",
)


def document_blocks(documents=DOCUMENTS) -> list[tuple[str, str]]:
  """``("file:line", code)`` of every block that runs, each distinct code once (a page may
  repeat one of the README's blocks)."""
  blocks, seen = [], set()
  for name in documents:
    for line, code in python_blocks((ROOT / name).read_text()):
      if code not in seen:
        seen.add(code)
        blocks.append((f"{name}:{line}", code))
  return blocks


BLOCKS = python_blocks((ROOT / "README.md").read_text())
ALL_BLOCKS = document_blocks()


def test_python_blocks_found_and_marked_ones_skipped():
  sample = textwrap.dedent(
    f"""\
    text
    ```python
    a = 1
    ```
    ```bash
    pip install x
    ```
    * item

      ```python
      b = 2
        c = 3
      ```
    {SKIP_MARKER}
    ```python
    f(...)
    ```
    """
  )
  assert python_blocks(sample) == [(2, "a = 1"), (10, "b = 2\n  c = 3")]
  # The README's quick start and sweep example are among the blocks that run.
  code = "\n".join(block for _, block in BLOCKS)
  assert "hr.rkl1(" in code and "hr.sweep(" in code
  # So are the pages' examples of training and of grids over several hyperparameters.
  code = "\n".join(block for _, block in ALL_BLOCKS)
  assert "train.fit(" in code and "grid=" in code


def test_readme_is_short_and_gives_the_test_command():
  """At most 200 lines, the rest in the docs; CI reads the test command after the marker."""
  lines = (ROOT / "README.md").read_text().splitlines()
  assert len(lines) <= 200, len(lines)
  marker = lines.index("<!-- test-command -->")
  assert lines[marker + 1 : marker + 4] == [
    "```bash",
    "python -m pytest -q -n auto --maxprocesses 4 --dist loadfile",
    "```",
  ]


def test_readme_links_to_files_that_exist():
  """Every relative link of README.md names a file of the repository (the docs pages too)."""
  readme = (ROOT / "README.md").read_text()
  targets = re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", readme)
  assert any(t.startswith("docs/") for t in targets)
  missing = [t for t in targets if not (ROOT / t).exists()]
  assert missing == []


@pytest.mark.slow
@pytest.mark.parametrize("where, code", ALL_BLOCKS, ids=[where for where, _ in ALL_BLOCKS])
def test_readme_block_runs(where, code, tmp_path):
  env = dict(os.environ, MPLBACKEND="Agg")
  env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
  done = subprocess.run(
    [sys.executable, "-c", code], check=False, cwd=tmp_path, env=env, capture_output=True, text=True
  )
  assert done.returncode == 0, f"{where}:\n{code}\n\n{done.stderr[-3000:]}"
