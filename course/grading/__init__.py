"""Instant checks in the notebook and grading through nbgrader's converters (``course grade``)."""

from course._lazy import submodules

__getattr__ = submodules(__name__)
