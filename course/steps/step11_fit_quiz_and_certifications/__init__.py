"""Step 11 · the career-fit quiz (scoring, terminal and widget) and the certifications overview."""

from course._lazy import submodules

__getattr__ = submodules(__name__)
