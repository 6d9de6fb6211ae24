"""Shared fixtures; and the CI rule: a real-component test that skips fails the run when CI is set."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import factories  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
MUST_RUN = {"service", "browser"}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and MUST_RUN & {m.name for m in item.iter_markers()}:
        report.outcome = "failed"
        report.longrepr = f"{item.nodeid}: a real-component test skipped in CI ({report.longrepr})"


@pytest.fixture(scope="session")
def fixture_course_template(tmp_path_factory) -> Path:
    """A small course root (nbgrader config, one exercise source and its release), built once."""
    root = tmp_path_factory.mktemp("fixture-course")
    factories.make_course(root)
    return root


@pytest.fixture
def fixture_course(fixture_course_template, monkeypatch, tmp_path) -> Path:
    """The fixture course as the active course root; returns a fresh learner copy of its exercise."""
    monkeypatch.setenv("BACKEND_COURSE_ROOT", str(fixture_course_template))
    learner = tmp_path / "learner" / factories.FIXTURE
    shutil.copytree(fixture_course_template / "exercises" / factories.FIXTURE, learner)
    return learner / f"{factories.FIXTURE}.ipynb"


@pytest.fixture
def gradebook_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.getbasetemp() / "gradebooks"
