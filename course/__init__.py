"""Becoming a Back-End Developer: the course's Python package.

Lessons and exercises import their helpers from here, never through paths into the repository, so they run
the same from a learner's workspace copy. Importing ``course`` is cheap: heavier modules load on first use.
"""

from importlib import import_module

__version__ = "0.1.0"

__all__ = [
    # instant checks, for exercise notebooks
    "check", "check_that", "check_raises", "CheckFailed",
    # the course's machinery
    "manifest", "paths", "data", "build", "authoring", "grading", "workspace", "progress", "doctor",
    # what lessons start and use
    "servers", "services", "web", "frameworks", "databases", "capstone", "gitrepo", "fundamentals",
    "portfolio", "practice", "jobsearch", "quiz", "quiz_widget", "certifications", "classroom",
]

_CHECK_NAMES = {"check", "check_that", "check_raises", "CheckFailed"}


def __getattr__(name):
    # Lazy loading keeps `from course import check` fast inside a running kernel: a module of the package
    # is imported on first use, as `course.servers` or `from course import servers`.
    if name in _CHECK_NAMES:
        return getattr(import_module("course.checks"), name)
    try:
        return import_module(f"course.{name}")
    except ModuleNotFoundError as error:
        if error.name != f"course.{name}":
            raise  # a module of ours exists but something it needs is missing: say that, not "no attribute"
        raise AttributeError(f"module 'course' has no attribute {name!r}") from None
