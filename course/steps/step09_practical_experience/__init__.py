"""Step 09 · Practical experience: working in code you did not write, and the work around it on a job.

- :mod:`.workbench`: lesson and exercise 09: the colleague's modules, pytest runs, mutants, pdb transcripts,
  the review checklist and CI steps. Its names are this package's names too
  (``from course.steps import step09_practical_experience as practice; practice.run_pytest(...)``).
- :mod:`.bisect`: deep dive 09b: a real git repository whose history holds a regression, for ``git bisect run``.
- :mod:`.doubles`: deep dive 09b: a payment client, a local HTTP server on the other side, and a repository
  module whose SQL a mock cannot check, with the PostgreSQL integration-test files of the lesson.
- :mod:`.measure`: deep dive 09b: line and branch coverage with coverage.py, and mutants of the same module.
- :mod:`.incident`: deep dive 09b: a JSON-lines production log of an incident, and the reading of it.
- :mod:`.freelance`: deep dive 09b: a statement of work and a fixed-price quote from stated inputs.
"""

from course._lazy import submodules
from course.steps.step09_practical_experience.workbench import *  # noqa: F403 - the names lesson 09 and its exercise use
from course.steps.step09_practical_experience.workbench import __all__  # noqa: F401

__getattr__ = submodules(__name__)
