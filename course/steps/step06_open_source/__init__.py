"""Step 06 · Open source: real git in throwaway repositories, and a local forge for the contribution loop.

- :mod:`.repos`: git isolated from the learner's own config (lesson and exercise 06): repositories, clones,
  conflicts, patches, and the generated projects of exercise 06. Its names are this package's names too
  (``from course.steps import step06_open_source as gitrepo; gitrepo.init_repo()``).
- :mod:`.forge`: a forge on this machine (deep dive 06b): an upstream and a fork as bare repositories whose
  ``pre-receive`` hook runs the project's tests, an issue list, pull requests and a scripted reviewer.
"""

from course._lazy import submodules
from course.steps.step06_open_source.repos import *  # noqa: F403 - the names lesson 06 and its exercise use
from course.steps.step06_open_source.repos import DEFAULT_EMAIL, DEFAULT_NAME, START_CLOCK, TICK, __all__  # noqa: F401

__getattr__ = submodules(__name__)
