"""Becoming a Back-End Developer: the course's Python package.

Lessons and exercises import their helpers from here, never through paths into the repository, so they run
the same from a learner's workspace copy. Importing ``course`` is cheap: subpackages load on first use, and
``from course import check, check_that, check_raises, all_checks`` loads only the check helpers.

Where things live (docs/authoring.md has the same map, kept in step by a test):

- ``course.platform``: the learner's course: manifest, workspace, progress, build, doctor, JupyterLab;
- ``course.grading``: instant checks and grading through nbgrader (``course grade``);
- ``course.classroom``: an instructor's class through nbgrader (``course classroom``);
- ``course.components``: the real servers lessons start (HTTP servers, PostgreSQL, Redis);
- ``course.steps``: one helper module (or package) per roadmap step, named after the step;
- ``course.data``: the data files (manifest, facts, quiz items) and their loader.
"""

from importlib import import_module

from course._lazy import submodules

__version__ = "0.1.0"

__all__ = [
    # instant checks, for exercise notebooks
    "check", "check_that", "check_raises", "all_checks", "CheckFailed",
    # the subpackages
    "platform", "grading", "classroom", "components", "steps", "data",
]

_CHECK_NAMES = {"check", "check_that", "check_raises", "all_checks", "CheckFailed"}
_submodule = submodules(__name__)


def __getattr__(name):
    if name in _CHECK_NAMES:
        return getattr(import_module("course.grading.checks"), name)
    return _submodule(name)
