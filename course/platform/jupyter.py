"""Start JupyterLab on the learner's workspace, on 127.0.0.1, opened on the course home.

:func:`run_jupyterlab` runs it in the foreground, in this order:

1. choose the port: the one asked for, or 8888 if it is free, else any free port; a port asked for that is taken
   is refused before anything is printed, so no URL ever leads to someone else's server;
2. write the course's JupyterLab settings into ``.course/jupyterlab/`` (no "Jupyter news?" prompt, no update
   check, no instructor tools of nbgrader, which also warn "No nbgrader_config.py file found" on every start);
3. start JupyterLab, which dies with this process (a parent-death signal) and is stopped on Ctrl-C, SIGTERM and
   SIGHUP, kernels included;
4. print the URL only once JupyterLab answers on it with our token.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from course.components.servers import HOST, free_port
from course.platform import manifest
from course.platform.paths import STATE_DIR

__all__ = ["DEFAULT_PORT", "PortInUse", "home_page", "choose_port", "lab_settings", "jupyter_env",
           "run_jupyterlab"]

DEFAULT_PORT = 8888

# The course's JupyterLab defaults (overrides: the learner's own settings still win over them).
LAB_OVERRIDES = {
    # The announcements plugin asks "Would you like to get notified about official Jupyter news?" until this
    # is set; the course works offline, so it is off.
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
}
# nbgrader's instructor tools: the formgrader needs a course folder and warns twice on every start without one;
# its menu and the create-assignment panel lead to it. A self-study learner grades with `course grade`.
SERVER_EXTENSIONS_OFF = ["nbgrader.server_extensions.formgrader"]
LAB_PLUGINS_OFF = ["@jupyter/nbgrader:menu", "@jupyter/nbgrader:create-assignment"]


class PortInUse(Exception):
    """The port asked for is taken; the message names ``--port``."""


def home_page(workspace: Path) -> str:
    """The notebook JupyterLab opens first: the welcome if the course has it, else the first ready lesson."""
    for step in manifest.steps(ready_only=True):
        if (workspace / "lessons" / f"{step.stem}.ipynb").is_file():
            return f"lessons/{step.stem}.ipynb"
    return ""


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds it
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def choose_port(requested: int | None = None) -> int:
    """The port to serve on: ``requested`` if free (0: any free port); by default 8888, or any free port when
    8888 is taken. A requested port that is taken raises :class:`PortInUse`."""
    if requested == 0:
        return free_port()
    if requested is None:
        return DEFAULT_PORT if _port_is_free(DEFAULT_PORT) else free_port()
    if not _port_is_free(requested):
        raise PortInUse(f"port {requested} on {HOST} is already in use by another program; choose another with "
                        "--port N, or leave --port out to get a free one")
    return requested


def _merge(base: dict, extra: dict) -> dict:
    for key, value in extra.items():
        base[key] = _merge(base.get(key, {}), value) if isinstance(value, dict) else value
    return base


def lab_settings(workspace: Path) -> Path:
    """The course's JupyterLab application-settings folder, written afresh in the workspace's ``.course``.

    It starts from JupyterLab's own (``<app dir>/settings``: page config and overrides, if any) and adds the
    course's: the news prompt off, nbgrader's instructor plugins off."""
    target = workspace / STATE_DIR / "jupyterlab" / "settings"
    shutil.rmtree(target, ignore_errors=True)
    # JupyterLab's application folder, as jupyterlab.commands.get_app_dir finds it in a virtual environment
    # (importing that module takes seconds).
    default = Path(os.environ.get("JUPYTERLAB_DIR") or Path(sys.prefix) / "share" / "jupyter" / "lab") / "settings"
    if default.is_dir():
        shutil.copytree(default, target)
    (target / "overrides.d").mkdir(parents=True, exist_ok=True)
    (target / "overrides.d" / "zz-backend-course.json").write_text(json.dumps(LAB_OVERRIDES, indent=1))
    page_config_path = target / "page_config.json"
    try:
        page_config = json.loads(page_config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        page_config = {}
    disabled = page_config.get("disabledExtensions", [])
    if isinstance(disabled, dict):
        disabled = [name for name, off in disabled.items() if off]
    page_config["disabledExtensions"] = sorted({*disabled, *LAB_PLUGINS_OFF})
    page_config_path.write_text(json.dumps(page_config, indent=1))
    return target


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def jupyter_env(workspace: Path, echo=print) -> dict[str, str]:
    """JupyterLab's environment: ``COURSE_WORKSPACE`` for its kernels and terminals, and, when the home folder
    is not writable, its runtime, settings and cache folders moved into the workspace (said in one line)."""
    from jupyter_core.paths import jupyter_runtime_dir

    env = {**os.environ, "COURSE_WORKSPACE": str(workspace)}
    runtime = Path(jupyter_runtime_dir())
    if not _writable(runtime):
        moved = workspace / STATE_DIR / "home"
        echo(f"Jupyter's runtime folder {runtime} is not writable (is your home folder {Path.home()} read-only?), "
             f"so JupyterLab keeps its runtime files, settings and caches in {moved} instead")
        env.update({
            "JUPYTER_RUNTIME_DIR": str(moved / "jupyter-runtime"),
            "JUPYTER_DATA_DIR": str(moved / "jupyter-data"),  # the course's kernel is in the environment's
            "JUPYTERLAB_SETTINGS_DIR": str(moved / "lab-user-settings"),
            "JUPYTERLAB_WORKSPACES_DIR": str(moved / "lab-workspaces"),
            "IPYTHONDIR": str(moved / "ipython"),
            "MPLCONFIGDIR": str(moved / "matplotlib"),
            "XDG_CACHE_HOME": str(moved / "cache"),
        })
    return env


def _set_parent_death_signal() -> None:
    """In the child, before exec: get SIGTERM when the parent dies, even by SIGKILL (Linux only)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class _Stop(Exception):
    def __init__(self, signum: int):
        self.signum = signum


def _raise_stop(signum, _frame):
    raise _Stop(signum)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


def _wait_until_serving(process: subprocess.Popen, status_url: str, echo) -> bool:
    """Wait as long as JupyterLab is starting (a busy machine may take long); False if it exited first."""
    started, noted = time.monotonic(), False
    while process.poll() is None:
        if _answers(status_url):
            return True
        if not noted and time.monotonic() - started > 20:
            echo("JupyterLab is still starting; its address follows as soon as it answers")
            noted = True
        time.sleep(0.2)
    return False


def _stop(process: subprocess.Popen, signum: int) -> None:
    """Stop JupyterLab and its kernels: SIGINT twice (Ctrl-C; the second skips its confirmation), or SIGTERM;
    SIGKILL only if it is still alive after a long grace, or when the learner presses Ctrl-C (or a second
    signal comes) while it shuts down."""
    if process.poll() is not None:
        return
    if signum == signal.SIGINT:
        process.send_signal(signal.SIGINT)
        process.send_signal(signal.SIGINT)
    else:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except (subprocess.TimeoutExpired, KeyboardInterrupt, _Stop):
        process.kill()
        process.wait()


def run_jupyterlab(workspace: Path, *, port: int | None = None, open_browser: bool = True, echo=print) -> int:
    """Run JupyterLab in the foreground until it exits or is stopped; returns the exit code (0 after Ctrl-C,
    128 + the signal number after SIGTERM or SIGHUP). Raises :class:`PortInUse` before printing anything."""
    workspace = Path(workspace).resolve()
    port = choose_port(port)
    token = secrets.token_hex(16)
    home = home_page(workspace)
    url = f"http://{HOST}:{port}/lab/tree/{home}?token={token}"
    env = jupyter_env(workspace, echo)
    command = [
        sys.executable, "-m", "jupyterlab",
        f"--ServerApp.root_dir={workspace}", f"--ServerApp.ip={HOST}", f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
        f"--ServerApp.open_browser={open_browser}", f"--LabApp.default_url=/lab/tree/{home}",
        f"--LabApp.app_settings_dir={lab_settings(workspace)}",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    for extension in SERVER_EXTENSIONS_OFF:
        command += ["--ServerApp.jpserver_extensions", f"{extension}=False"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # containers and CI machines often run as root
    echo(f"JupyterLab for your workspace {workspace}: starting on port {port}")
    previous = {signum: signal.signal(signum, _raise_stop) for signum in (signal.SIGTERM, signal.SIGHUP)}
    process = None
    try:
        process = subprocess.Popen(command, env=env, cwd=workspace, preexec_fn=_set_parent_death_signal)
        if not _wait_until_serving(process, f"http://{HOST}:{port}/api/status?token={token}", echo):
            code = process.wait()
            echo(f"JupyterLab stopped before it served (exit code {code}); its messages above say why")
            return code or 1
        echo(f"open: {url}")
        echo("stop with Ctrl-C")
        return process.wait()
    except KeyboardInterrupt:
        if process is not None:
            _stop(process, signal.SIGINT)
        return 0
    except _Stop as stop:
        if process is not None:
            _stop(process, stop.signum)
        return 128 + stop.signum
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

