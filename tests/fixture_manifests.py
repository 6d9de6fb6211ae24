"""Fixtures for the course with a deep dive: a fixture manifest (tests/files/manifests/with_deep_dive.yaml)
and a course root on disk holding its notebooks. Import the fixtures into a test module or a conftest."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
import yaml

from course.platform import manifest

REPO = Path(__file__).resolve().parents[1]
MANIFESTS = REPO / "tests" / "files" / "manifests"


@pytest.fixture
def deep_dive_manifest(monkeypatch) -> tuple[manifest.Step, ...]:
    """The course reads the fixture manifest: 00-welcome, 01-basics with deep dive 01b-deeper, 02-later."""
    order = manifest.parse(yaml.safe_load((MANIFESTS / "with_deep_dive.yaml").read_text(encoding="utf-8")))
    monkeypatch.setattr(manifest, "load_manifest", lambda: order)
    return order


def _exercise(stem: str) -> nbformat.NotebookNode:
    """A one-part nbgrader source: a solution cell and a graded test cell."""
    solution = nbformat.v4.new_code_cell(
        "def answer():\n    ### BEGIN SOLUTION\n    return 42\n    ### END SOLUTION",
        metadata={"nbgrader": {"grade": False, "grade_id": f"{stem}-answer", "locked": False,
                               "schema_version": 3, "solution": True, "task": False}})
    test = nbformat.v4.new_code_cell(
        '"""The answer is 42."""\nassert answer() == 42',
        metadata={"nbgrader": {"grade": True, "grade_id": f"{stem}-answer-test", "locked": True, "points": 1,
                               "schema_version": 3, "solution": False, "task": False}})
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"# {stem}"), solution, test])


@pytest.fixture
def deep_dive_course(deep_dive_manifest, tmp_path, monkeypatch) -> Path:
    """A course root (BACKEND_COURSE_ROOT) with the fixture manifest's ready lessons and exercise sources."""
    root = tmp_path / "course"
    for folder in ("notebooks", "solutions", "exercises"):
        (root / folder).mkdir(parents=True)
    for step in deep_dive_manifest:
        if not step.ready:
            continue
        lesson = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"# {step.heading}")])
        nbformat.write(lesson, root / "notebooks" / f"{step.stem}.ipynb")
        if step.exercise:
            (root / "solutions" / step.stem).mkdir()
            nbformat.write(_exercise(step.stem), root / "solutions" / step.stem / f"{step.stem}.ipynb")
    shutil.copy(REPO / "nbgrader_config.py", root)  # the build reads the course's nbgrader config there
    monkeypatch.setenv("BACKEND_COURSE_ROOT", str(root))
    return root
