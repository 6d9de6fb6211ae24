"""Start JupyterLab on the learner's workspace, on 127.0.0.1, opened on the course home."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

from course.components.servers import free_port
from course.platform import manifest

__all__ = ["home_page", "run_jupyterlab"]


def home_page(workspace: Path) -> str:
    """The notebook JupyterLab opens first: the welcome if the course has it, else the first ready lesson."""
    for step in manifest.steps(ready_only=True):
        if (workspace / "lessons" / f"{step.stem}.ipynb").exists():
            return f"lessons/{step.stem}.ipynb"
    return ""


def run_jupyterlab(workspace: Path, *, port: int = 8888, open_browser: bool = True, echo=print) -> int:
    """Run JupyterLab in the foreground until it exits or is interrupted; returns its exit code."""
    port = port or free_port()
    token = secrets.token_hex(16)
    home = home_page(workspace)
    url = f"http://127.0.0.1:{port}/lab/tree/{home}?token={token}"
    env = {**os.environ, "COURSE_WORKSPACE": str(workspace)}
    command = [
        sys.executable, "-m", "jupyterlab",
        f"--ServerApp.root_dir={workspace}", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
        f"--ServerApp.open_browser={open_browser}", f"--LabApp.default_url=/lab/tree/{home}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # containers and CI machines often run as root
    echo(f"JupyterLab for your workspace {workspace}")
    echo(f"open: {url}")
    echo("stop with Ctrl-C")
    process = subprocess.Popen(command, env=env, cwd=workspace)
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.send_signal(signal.SIGINT)
        process.send_signal(signal.SIGINT)  # JupyterLab asks for confirmation on the first one
        try:
            return process.wait(timeout=15) and 0
        except subprocess.TimeoutExpired:
            process.kill()
            return 0
