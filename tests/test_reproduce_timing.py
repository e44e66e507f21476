"""``timing.json`` sums every invocation that trained an experiment (experiments/reproduce.py)."""

import json
import time

import pytest

from experiments.reproduce import timed


def _read(path):
  return json.loads(path.read_text())


def test_a_fresh_run_writes_its_time_once_done(tmp_path):
  path = tmp_path / "exp" / "timing.json"
  with timed(path):
    time.sleep(0.05)
  saved = _read(path)
  assert saved["done"] and saved["invocations"] == 1
  assert 0.0 < saved["wall_s"] < 60


def test_the_time_is_on_disk_while_it_runs(tmp_path):
  path = tmp_path / "timing.json"
  with timed(path, every=0.01):
    time.sleep(0.2)
    running = _read(path)
  assert running["done"] is False and running["invocations"] == 1
  assert _read(path)["done"]


def test_an_interrupted_run_keeps_its_time_and_the_resumed_one_adds_to_it(tmp_path):
  path = tmp_path / "timing.json"
  with pytest.raises(KeyboardInterrupt), timed(path):
    raise KeyboardInterrupt
  assert _read(path)["done"] is False
  earlier = {"wall_s": 600.0, "cpu_s": 900.0, "invocations": 2, "done": False, "note": "n"}
  path.write_text(json.dumps(earlier))
  with timed(path):
    pass
  saved = _read(path)
  assert saved["done"] and saved["invocations"] == 3 and saved["note"] == "n"
  assert 600.0 <= saved["wall_s"] < 660 and 900.0 <= saved["cpu_s"] < 960


@pytest.mark.parametrize("saved", [{"wall_s": 5.0, "cpu_s": 7.0}, {"wall_s": 5.0, "done": True}])
def test_a_finished_experiment_keeps_the_time_of_the_run_that_trained_it(tmp_path, saved):
  path = tmp_path / "timing.json"
  path.write_text(json.dumps(saved))
  with timed(path, every=0.01):
    time.sleep(0.05)
  assert _read(path) == saved


def test_the_report_says_how_many_invocations_a_time_sums_and_their_note():
  from experiments.report import _invocations

  assert _invocations({"wall_s": 1.0}) == ""
  assert _invocations({"invocations": 1, "done": True}) == ""
  assert _invocations({"invocations": 3, "note": "the first from its log"}) == (
    " (3 invocations; the first from its log)"
  )
