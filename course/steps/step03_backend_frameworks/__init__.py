"""Step 03 · Back-end frameworks: the lesson's helpers (``frameworks``) and the 03b deep dive's (``security``).

The names the 03 lesson and exercise import from ``course.steps.step03_backend_frameworks`` (``MemoryStore``,
``backend_usage_note``, ...) live in :mod:`.frameworks` and are re-exported here, so those imports keep
working; :mod:`.security` (passwords, tokens, OAuth, the OWASP attacks of 03b) imports on first use.
"""

from course._lazy import submodules
from course.steps.step03_backend_frameworks.frameworks import *  # noqa: F403 - the step's public names
from course.steps.step03_backend_frameworks.frameworks import __all__ as _frameworks_all

__all__ = list(_frameworks_all)  # the submodules themselves import on first use
__getattr__ = submodules(__name__)
