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
import tempfile
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


CHROMIUM = Path(os.environ.get("COURSE_CHROMIUM", "/usr/bin/chromium"))  # the browser test's Chromium
APT_TIMEOUT = 900  # seconds for one apt-get command (scaled when waited for in the background)


def _can_apt() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0 and bool(shutil.which("apt-get"))


def _apt_commands(package: str) -> list[list[str]]:
    return [["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", package]]


def _marker(package: str) -> Path:
    """Where the background install of ``package`` for this test session keeps its pid (conftest's tag)."""
    return Path(tempfile.gettempdir()) / f"course-test-apt-{package}-{os.environ.get('COURSE_TEST_SESSION', '')}.pid"


def start_debian_install(package: str, binary: Path) -> bool:
    """Start installing a missing package in the background, when :func:`install_debian_package` would install
    it: apt-get takes minutes (~250 s for Chromium on a fresh machine), which the other tests then use instead
    of one worker waiting. Once per session (the first xdist worker to ask); True if it started one."""
    if binary.exists() or not _can_apt() or not allowed():
        return False
    try:
        marker = os.open(_marker(package), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return False  # another worker started it
    script = " && ".join(" ".join(command) for command in _apt_commands(package))
    process = subprocess.Popen(["sh", "-c", script], env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    os.write(marker, str(process.pid).encode())
    os.close(marker)
    return True


def _wait_for_background_install(package: str) -> None:
    import psutil

    from course.components.waits import wait_until

    try:
        pid = int(_marker(package).read_text())
    except (OSError, ValueError):
        return

    def finished() -> bool:
        try:
            return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    wait_until(finished, 2 * APT_TIMEOUT, what=f"the background 'apt-get install {package}'", interval=1)


def install_debian_package(package: str, binary: Path) -> bool:
    """Install a Debian package the tests need (Chromium) when running as root with apt-get and allowed to
    (:func:`require`, which skips otherwise); True if ``binary`` exists afterwards. Elsewhere it changes
    nothing and returns False (the test then skips, or fails in CI). An install :func:`start_debian_install`
    began is waited for first."""
    if binary.exists():
        return True
    if not _can_apt():
        return False
    require(f"needs {binary}, which it would install with 'apt-get install {package}'")
    _wait_for_background_install(package)
    if binary.exists():
        return True
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in _apt_commands(package):  # no background install, or it failed: once more, here
        subprocess.run(command, env=env, check=False, timeout=APT_TIMEOUT, capture_output=True)
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
