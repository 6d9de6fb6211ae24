"""Step 01 · Programming basics: lesson 01 needs no helper of its own; its deep dive 01b (Python for real
projects) uses :mod:`.projects`: a real mypy run, a real virtual environment and package build, and the
function, mutants and pytest runs its exercise grades a learner's tests with."""

from course._lazy import submodules

__getattr__ = submodules(__name__)
