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
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
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


def need_root(what: str) -> None:
    """Skip a test that makes OS users unless it runs as root and may change the machine (:func:`require`);
    conftest turns the skip into a failure in CI."""
    require(f"({what}) creates Linux users (useradd) and deletes them with their homes afterwards")
    if not (hasattr(os, "geteuid") and os.geteuid() == 0):
        pytest.skip(f"{what} creates OS users and must run as root")
    for tool in ("useradd", "userdel", "runuser"):
        assert shutil.which(tool), f"{tool} is needed to create the test's accounts"


@contextmanager
def os_users(*roles: str) -> Iterator[dict[str, str]]:
    """Real accounts for a test, one per role ({role: login name}), with private homes (0700); on the way
    out every process they run is killed and the accounts are deleted with their homes."""
    import psutil

    suffix = uuid.uuid4().hex[:5]
    names = {role: f"t{role[:6]}{suffix}".lower() for role in roles}
    try:
        for name in names.values():
            subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", "-K", "HOME_MODE=0700", name],
                           check=True, capture_output=True, timeout=60)
        yield names
    finally:
        uids = set()
        for name in names.values():
            found = subprocess.run(["id", "-u", name], capture_output=True, text=True, check=False)
            if found.returncode == 0:
                uids.add(int(found.stdout))
        for process in psutil.process_iter(["uids"]):
            try:
                if process.info["uids"] and process.info["uids"].real in uids:
                    process.kill()
            except psutil.Error:
                pass
        for name in names.values():
            subprocess.run(["userdel", "-r", "-f", name], capture_output=True, check=False, timeout=60)
