"""The CI rule: with CI=true, a service or browser test that skips fails the run; elsewhere it just skips."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
SKIPPING = '''
import pytest

@pytest.mark.service
def test_needs_a_server():
    pytest.skip("no server here")

def test_plain_skip():
    pytest.skip("not relevant")
'''


@pytest.mark.parametrize(("ci", "expected"), [("true", "1 failed, 1 skipped"), ("", "2 skipped")])
def test_skipped_real_component_tests_fail_only_in_ci(tmp_path, ci, expected):
    for name in ("conftest.py", "factories.py"):
        shutil.copy(TESTS / name, tmp_path / name)
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    service: x\n    browser: x\n    slow: x\n")
    (tmp_path / "test_skipping.py").write_text(SKIPPING)
    env = {**os.environ, "CI": ci}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                             str(tmp_path)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert expected in result.stdout, result.stdout[-2000:]
