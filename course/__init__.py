"""Becoming a Back-End Developer: the course's Python package.

Lessons and exercises import their helpers from here, never through paths into the repository, so they run
the same from a learner's workspace copy. Importing ``course`` is cheap: heavier modules load on first use.
"""

from importlib import import_module

__version__ = "0.1.0"

__all__ = [
    "check",
    "check_that",
    "check_raises",
    "CheckFailed",
    "manifest",
    "servers",
    "services",
    "progress",
    "grading",
    "workspace",
    "build",
    "doctor",
    "paths",
    "authoring",
    "data",
    "frameworks",
    "quiz",
    "quiz_widget",
    "certifications",
]

_LAZY_MODULES = {
    "manifest", "servers", "services", "progress", "grading", "workspace", "build", "doctor", "paths",
    "authoring", "data", "frameworks", "quiz",
    "quiz_widget", "certifications",
}
_CHECK_NAMES = {"check", "check_that", "check_raises", "CheckFailed"}


def __getattr__(name):
    # Lazy loading keeps `from course import check` fast inside a running kernel.
    if name in _CHECK_NAMES:
        return getattr(import_module("course.checks"), name)
    if name in _LAZY_MODULES:
        return import_module(f"course.{name}")
    raise AttributeError(f"module 'course' has no attribute {name!r}")
