"""Provisioning of system components the tests need but pip cannot install, only when allowed.

A few tests change the machine beyond their temporary folders: the browser test installs Debian's Chromium with
apt-get, the JupyterHub test creates three Linux users and deletes them afterwards. They do that only when
``CI`` is set (a throwaway machine) or when you opt in with ``COURSE_TEST_PROVISION=1``; otherwise they are
skipped with a reason that says what they would change (in CI a skipped service or browser test fails the run).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

VARIABLE = "COURSE_TEST_PROVISION"
_YES = {"1", "true", "yes"}


def allowed() -> bool:
    """Whether tests may change the machine: in CI, or when ``COURSE_TEST_PROVISION=1``."""
    return (os.environ.get("CI", "").lower() in _YES) or (os.environ.get(VARIABLE, "").lower() in _YES)


def require(change: str) -> None:
    """Skip the calling test unless it may change the machine; ``change`` says what it would do."""
    if not allowed():
        pytest.skip(f"not run: this test {change}; set {VARIABLE}=1 to allow that (CI always does)")


def install_debian_package(package: str, binary: Path) -> bool:
    """Install a Debian package the tests need (Chromium) when running as root with apt-get and allowed to
    (:func:`require`, which skips otherwise); True if ``binary`` exists afterwards. Elsewhere it changes
    nothing and returns False (the test then skips, or fails in CI)."""
    if binary.exists():
        return True
    if not (hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get")):
        return False
    require(f"needs {binary}, which it would install with 'apt-get install {package}'")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", package]):
        subprocess.run(command, env=env, check=False, timeout=900, capture_output=True)
    return binary.exists()
