"""Every ```python block of README.md runs as written.

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


BLOCKS = python_blocks((ROOT / "README.md").read_text())


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


@pytest.mark.slow
@pytest.mark.parametrize("line, code", BLOCKS, ids=[f"README.md:{line}" for line, _ in BLOCKS])
def test_readme_block_runs(line, code, tmp_path):
  env = dict(os.environ, MPLBACKEND="Agg")
  env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
  done = subprocess.run(
    [sys.executable, "-c", code], check=False, cwd=tmp_path, env=env, capture_output=True, text=True
  )
  assert done.returncode == 0, f"README.md line {line}:\n{code}\n\n{done.stderr[-3000:]}"
