"""Test configuration: property tests are reproducible on CI."""

import os

from hypothesis import settings

# On CI (CI=true) hypothesis draws the same examples every run, so a red build always
# reproduces; locally it explores new examples each run.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

# Scripts run in subprocesses by the tests, not modules to import (--doctest-modules).
collect_ignore_glob = ["helpers/*"]
