"""Step 07 · Formal education: the computer-science fundamentals, counted and measured on this machine.

- :mod:`.fundamentals`: operation counters, growth measurements and the concurrency demos of lesson 07 and its
  exercise. Its names are this package's names too (``from course.steps.step07_formal_education import
  OpCounter``).
- :mod:`.graphs`: recursion and graphs on a real dependency graph, the installed distributions' ``Requires-Dist``
  (deep dive 07b).
- :mod:`.latency`: the memory hierarchy, the page cache, fsync, loopback TCP and SQLite, measured as ratios
  (deep dive 07b).
- :mod:`.systems`: deadlock, amortised growth and space measured with tracemalloc (deep dive 07b).
- :mod:`.distributed`: timeouts, retries, idempotency keys and a lagging replica on real local servers
  (deep dive 07b).
"""

from course._lazy import submodules
from course.steps.step07_formal_education.fundamentals import *  # noqa: F403 - the names lesson 07 and its exercise use
from course.steps.step07_formal_education.fundamentals import STATE, __all__  # noqa: F401

__getattr__ = submodules(__name__)
