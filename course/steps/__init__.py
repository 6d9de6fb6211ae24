"""One helper module (or package) per roadmap step, named ``stepNN_<stem>`` after the step it serves.

The manifest names each step's helpers (``helpers:``); a test checks every module here is named by its step."""

from course._lazy import submodules

__getattr__ = submodules(__name__)
