"""Where the course's files are: the package data, and the course sources beside the package.

The course is installed editable (``pip install -e .``), so the folders ``notebooks/``, ``solutions/`` and
``exercises/`` sit next to the package. Lessons never use these paths: they run from the learner's workspace
and read data through :mod:`course.data`.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # course/, this file being course/platform/paths.py
STATE_DIR = ".course"  # inside a learner's workspace: progress store, shipped-file record, caches
DATA_DIR = PACKAGE_DIR / "data"


def course_root() -> Path:
    """The folder holding notebooks/, solutions/ and exercises/ (override with BACKEND_COURSE_ROOT).

    A class's students get the course without solutions/ (``course classroom hub-python``): exercises/ alone
    marks the root there."""
    override = os.environ.get("BACKEND_COURSE_ROOT")
    root = Path(override).resolve() if override else PACKAGE_DIR.parent
    if not (root / "solutions").is_dir() and not (root / "exercises").is_dir():
        raise FileNotFoundError(
            f"course sources not found next to the package ({root}); install the course with "
            "'pip install -e .' from its checkout, or set BACKEND_COURSE_ROOT"
        )
    return root


def notebooks_dir() -> Path:
    return course_root() / "notebooks"


def solutions_dir() -> Path:
    return course_root() / "solutions"


def exercises_dir() -> Path:
    return course_root() / "exercises"


def lesson_path(stem: str) -> Path:
    return notebooks_dir() / f"{stem}.ipynb"


def solution_path(stem: str) -> Path:
    return solutions_dir() / stem / f"{stem}.ipynb"


def release_path(stem: str) -> Path:
    return exercises_dir() / stem / f"{stem}.ipynb"


def find_workspace(start: Path | None = None) -> Path:
    """The learner's workspace: ``COURSE_WORKSPACE`` if set (``course start`` sets it for JupyterLab and its
    terminals and kernels), else the nearest folder at or above ``start`` (default: the current folder) holding
    ``.course/``, else ``./workspace``."""
    if os.environ.get("COURSE_WORKSPACE"):
        return Path(os.environ["COURSE_WORKSPACE"]).resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / STATE_DIR).is_dir():
            return folder
    return (Path.cwd() / "workspace").resolve()
