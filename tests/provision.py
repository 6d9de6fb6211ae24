"""Provisioning of system components the tests need but pip cannot install."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def install_debian_package(package: str, binary: Path) -> bool:
    """Install a Debian package the tests need (Chromium) when running as root with apt-get; True if
    ``binary`` exists afterwards. Elsewhere it changes nothing and returns False (the test then skips, or
    fails in CI)."""
    if binary.exists():
        return True
    if not (hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get")):
        return False
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", package]):
        subprocess.run(command, env=env, check=False, timeout=900, capture_output=True)
    return binary.exists()


def need_root(what: str) -> None:
    """Skip a test that makes OS users unless it runs as root (conftest turns the skip into a failure in CI)."""
    import pytest

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
