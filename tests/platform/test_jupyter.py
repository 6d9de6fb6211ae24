"""course.platform.jupyter: `course start` finds a free port, prints a URL that answers, starts quietly, and
leaves nothing running when it is stopped (Ctrl-C or SIGTERM)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from contextlib import contextmanager, suppress
from pathlib import Path

import psutil
import pytest
from click.testing import CliRunner

from course import cli
from course.components.servers import HOST, free_port
from course.components.waits import scaled, wait_until
from course.platform import jupyter


@contextmanager
def occupied(port: int):
    """Hold ``port`` on 127.0.0.1 as another program would. If another test's server has it, wait (scaled) until
    it can be held here: that server may let it go at any moment, and then the port would be free after all."""
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)

    def hold() -> bool:
        try:
            holder.bind((HOST, port))
        except OSError:
            return False
        holder.listen()
        return True

    with suppress(TimeoutError):  # held by someone else the whole time: the port is taken all the same
        wait_until(hold, scaled(60), what=f"port {port} to be free to hold")
    try:
        yield port
    finally:
        holder.close()


def test_a_requested_port_that_is_taken_is_refused_naming_the_option():
    with occupied(free_port()) as port, pytest.raises(jupyter.PortInUse, match=rf"port {port} .*--port"):
        jupyter.choose_port(port)


def test_the_default_port_taken_means_another_free_port():
    with occupied(jupyter.DEFAULT_PORT):
        port = jupyter.choose_port(None)
        assert port != jupyter.DEFAULT_PORT
        assert jupyter._port_is_free(port)
    assert jupyter.choose_port(0) > 0


def test_start_on_a_taken_port_fails_before_printing_any_url(tmp_path):
    with occupied(free_port()) as port:
        result = CliRunner().invoke(cli.main, ["start", "--no-browser", "--port", str(port),
                                               "--workspace", str(tmp_path / "ws")])
    assert result.exit_code == 1
    assert "http://" not in result.output and "open:" not in result.output
    assert result.output.splitlines()[-1] == (f"course: port {port} on 127.0.0.1 is already in use by another "
                                              "program; choose another with --port N, or leave --port out to "
                                              "get a free one")


def test_lab_settings_turn_the_news_prompt_and_instructor_tools_off_and_keep_jupyterlabs_own(tmp_path,
                                                                                          monkeypatch):
    app = tmp_path / "app"
    (app / "settings").mkdir(parents=True)
    (app / "settings" / "page_config.json").write_text(json.dumps({"disabledExtensions": {"other:plugin": True}}))
    (app / "settings" / "overrides.json").write_text(json.dumps({"@jupyterlab/x:y": {"a": 1}}))
    monkeypatch.setenv("JUPYTERLAB_DIR", str(app))
    settings = jupyter.lab_settings(tmp_path / "ws")
    override = json.loads((settings / "overrides.d" / "zz-backend-course.json").read_text())
    assert override["@jupyterlab/apputils-extension:notification"]["fetchNews"] == "false"
    assert json.loads((settings / "overrides.json").read_text()) == {"@jupyterlab/x:y": {"a": 1}}
    disabled = json.loads((settings / "page_config.json").read_text())["disabledExtensions"]
    assert set(disabled) == {"other:plugin", "@jupyter/nbgrader:menu", "@jupyter/nbgrader:create-assignment"}


def test_an_unwritable_home_moves_jupyters_files_into_the_workspace_in_one_line(tmp_path, monkeypatch):
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "a-file" / "runtime"))  # cannot be created
    lines = []
    env = jupyter.jupyter_env(tmp_path / "ws", echo=lines.append)
    assert len(lines) == 1 and "is not writable" in lines[0]
    for name in ("JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR", "JUPYTERLAB_SETTINGS_DIR", "IPYTHONDIR", "MPLCONFIGDIR"):
        assert env[name].startswith(str(tmp_path / "ws" / ".course" / "home")), name
    assert env["COURSE_WORKSPACE"] == str(tmp_path / "ws")
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    lines.clear()
    assert jupyter.jupyter_env(tmp_path / "ws", echo=lines.append)["JUPYTER_RUNTIME_DIR"] == str(tmp_path / "runtime")
    assert lines == []


def start_course(workspace: Path, log: Path, *args: str) -> tuple[subprocess.Popen, str, list[str]]:
    """Run `course start --no-browser` as a learner does; returns the process, the URL it printed, its lines.

    It reads lines until the URL: `course start` prints it only once JupyterLab answers, however slow the
    machine, and exits if JupyterLab does (then the lines say why and this returns an empty URL). JupyterLab's
    per-user folders are fresh ones, so no setting of this machine's user decides what the test sees."""
    home = workspace.parent / "user"
    env = {**os.environ, "JUPYTER_NO_CONFIG": "1", "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(home / "lab-settings"), "JUPYTERLAB_WORKSPACES_DIR": str(home / "lab-ws"),
           "IPYTHONDIR": str(home / "ipython")}
    with log.open("w") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "course", "start", "--no-browser", "--workspace", str(workspace), *args],
            stdout=subprocess.PIPE, stderr=errors, text=True, env=env)
    lines = []
    for line in process.stdout:
        lines.append(line.rstrip("\n"))
        if line.startswith("open: "):
            return process, line.split("open: ", 1)[1].strip(), lines
    process.wait()
    return process, "", lines


def _get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status


@pytest.mark.slow
@pytest.mark.service
def test_start_with_8888_taken_serves_elsewhere_quietly_and_sigterm_leaves_nothing_running(tmp_path):
    """The printed URL answers (with our token, so it is our server), nbgrader does not warn, and SIGTERM stops
    JupyterLab and the kernel it started."""
    log = tmp_path / "jupyterlab.log"
    with occupied(jupyter.DEFAULT_PORT):
        process, url, lines = start_course(tmp_path / "ws", log)
    try:
        assert url, f"no URL printed: {lines}\n{log.read_text()[-3000:]}"
        port = int(url.split(":")[2].split("/")[0])
        assert port != jupyter.DEFAULT_PORT
        assert _get(url) == 200  # the lab page itself
        token = url.split("token=")[1]
        request = urllib.request.Request(f"http://{HOST}:{port}/api/kernels?token={token}", method="POST",
                                         data=b"{}", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            assert response.status == 201
        lab = psutil.Process(process.pid).children()
        assert lab, "JupyterLab is not a child of course start"
        started = [lab[0], *lab[0].children(recursive=True)]
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=120)
    assert code == 128 + signal.SIGTERM
    gone, alive = psutil.wait_procs(started, timeout=60)
    assert not alive, f"still running after SIGTERM: {alive}"
    assert "No nbgrader_config.py" not in log.read_text()
    assert not any("nbgrader_config" in line for line in lines)



@pytest.mark.slow
@pytest.mark.service
def test_jupyterlab_dies_with_course_start_even_when_that_is_killed(tmp_path):
    """SIGKILL cannot be caught: the parent-death signal is what stops JupyterLab then."""
    process, url, lines = start_course(tmp_path / "ws", tmp_path / "jupyterlab.log", "--port", "0")
    try:
        assert url, f"no URL printed: {lines}\n{(tmp_path / 'jupyterlab.log').read_text()[-3000:]}"
        lab = psutil.Process(process.pid).children()
    finally:
        process.kill()
        process.wait()
    gone, alive = psutil.wait_procs(lab, timeout=120)
    assert lab and not alive, f"JupyterLab outlived course start: {alive}"


CHROMIUM = Path(os.environ.get("COURSE_CHROMIUM", "/usr/bin/chromium"))
NEWS_PROMPT = "Would you like to get notified about official Jupyter news?"


@pytest.mark.slow
@pytest.mark.browser
def test_the_course_lab_opens_on_the_welcome_without_the_news_prompt(tmp_path):
    """In headless Chromium: `course start`'s URL opens the welcome, its kernel starts, and no "Jupyter news?"
    prompt appears; opening the lesson makes the checkpoint by which progress knows it was opened."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not CHROMIUM.is_file():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    process, url, lines = start_course(tmp_path / "ws", tmp_path / "jupyterlab.log")
    try:
        assert url, f"no URL printed: {lines}\n{(tmp_path / 'jupyterlab.log').read_text()[-3000:]}"
        with sync_api.sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=[
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"])
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.set_default_timeout(300_000)  # generous: a busy 2-core machine loads the lab slowly
                page.goto(url)
                page.locator(".jp-NotebookPanel").first.wait_for()
                # Idle: the kernel is up, long after the app was restored, when the prompt would have been shown.
                sync_api.expect(page.get_by_role("button", name=re.compile(r"\(ipykernel\) \| Idle$"))).to_be_visible(
                    timeout=300_000)
                sync_api.expect(page.locator(".jp-NotebookPanel .jp-RenderedMarkdown h1").first).to_contain_text(
                    "Welcome")
                assert page.get_by_text(NEWS_PROMPT).count() == 0
                page.keyboard.press("Control+Shift+C")  # the command palette still answers: the page is live
                page.keyboard.press("Escape")
                assert page.get_by_text(NEWS_PROMPT).count() == 0
            finally:
                browser.close()
        assert (tmp_path / "ws" / "lessons" / ".ipynb_checkpoints" / "00-welcome-checkpoint.ipynb").is_file()
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=120)
