"""Provisioning of system components the tests need but pip cannot install."""

from __future__ import annotations

import os
import shutil
import subprocess
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
