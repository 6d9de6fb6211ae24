"""Step 05 · Build projects: the capstone's helpers (:mod:`.project`), re-exported here, and its deep dives.

``from course.steps import step05_build_projects as capstone`` keeps working: ``capstone.start_service``,
``capstone.scaffold`` … are :mod:`course.steps.step05_build_projects.project`'s. The deep dives' helpers are
submodules, imported on first use (``capstone.ship``, ``capstone.operate``).
"""

from course._lazy import submodules
from course.steps.step05_build_projects.project import *  # noqa: F403 - the capstone's helpers, as before
from course.steps.step05_build_projects.project import __all__  # noqa: F401

__getattr__ = submodules(__name__)
