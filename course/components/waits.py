"""How long to wait for a local server or a subprocess: a timeout written for an idle machine, scaled on a slow one.

Every wait on something the course starts (a server's first answer, a test run in a subprocess, a kernel) is
written as the seconds it needs on an idle laptop and passed through :func:`scaled`, which multiplies it by
:func:`slowness`:

- ``COURSE_SLOWNESS`` (a number >= 1), when set, is the factor: e.g. ``COURSE_SLOWNESS=4`` on a slow laptop
  or a busy CI machine;
- otherwise the factor is measured: the machine's load average over the last minute per CPU core, at least 1
  and at most :data:`MOST` (a machine running four times as many busy processes as it has cores gives each
  about a quarter of a core, so everything takes about four times as long).

A wait scaled this way still ends: a server that never answers fails, just later on a busy machine.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["slowness", "scaled", "wait_until", "MOST", "VARIABLE"]

VARIABLE = "COURSE_SLOWNESS"
MOST = 10.0  # a measured factor never exceeds this, so a wait on a hung server still ends

T = TypeVar("T")


def slowness() -> float:
    """The factor waits are multiplied by: ``COURSE_SLOWNESS`` when set, else the load per core (1 to MOST)."""
    written = os.environ.get(VARIABLE, "").strip()
    if written:
        try:
            factor = float(written)
        except ValueError:
            raise ValueError(f"{VARIABLE}={written!r} is not a number (e.g. {VARIABLE}=3)") from None
        if not factor >= 1:  # also refuses nan
            raise ValueError(f"{VARIABLE}={written!r} must be at least 1 (it multiplies timeouts)")
        return factor
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # Windows has no load average
        return 1.0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return min(MOST, max(1.0, load / max(1, cores)))


def scaled(seconds: float) -> float:
    """``seconds`` (enough on an idle machine) times :func:`slowness`."""
    return seconds * slowness()


def wait_until(condition: Callable[[], T], timeout: float, *, what: str, interval: float = 0.05) -> T:
    """Call ``condition`` until it returns something true and return that; ``TimeoutError`` naming ``what``
    after ``scaled(timeout)`` seconds. Exceptions from ``condition`` propagate (catch them inside it)."""
    factor = slowness()
    limit = timeout * factor
    deadline = time.monotonic() + limit
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {limit:.0f} s waiting for {what} ({timeout:g} s times this "
                               f"machine's slowness {factor:.1f}; set {VARIABLE} to wait longer)")
        time.sleep(interval)
