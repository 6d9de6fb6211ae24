"""Notebook 11 in a real browser: JupyterLab on 127.0.0.1, driven in headless Chromium through Playwright.

The test starts JupyterLab itself on a free port with a temporary workspace holding the lesson, opens it, runs
all cells from the Run menu, answers the quiz by clicking (the last answer with the keyboard alone), checks
that the result appears and was saved to the progress store, and saves screenshots to ``artifacts/``.

It needs Debian's Chromium; when it is missing and the tests run as root on Debian (a fresh CI machine), it is
installed with apt-get (begun in the background when the session starts, see conftest), so the README's test
command sets up everything. Playwright never downloads
a browser. In CI (``CI=true``) a Chromium that is still missing fails the test instead of skipping it.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from provision import CHROMIUM, install_debian_package

from course.components.servers import free_port
from course.platform.progress import ProgressStore
from course.steps.step11_fit_quiz_and_certifications import quiz

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[3]
LESSON = "11-fit-quiz-and-certifications.ipynb"
ARTIFACTS = REPO / "artifacts"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
# The person whose answers the test clicks: loves designing data models and debugging systems.
PERSONA = {"data": 1.0, "systems": 1.0, "I": 0.9, "C": 0.7, "quality": 0.6, "security": 0.6,
           "infrastructure": 0.4, "visual": 0.0, "people": 0.1, "A": 0.1}


def _missing(reason: str):
    if IN_CI:
        pytest.fail(f"{reason} (CI must run the browser test: apt-get install -y chromium)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def playwright_api():
    try:
        from playwright import sync_api
    except ImportError:
        _missing("playwright is not installed (pip install -e '.[test]')")
    if not CHROMIUM.is_file() and not install_debian_package("chromium", CHROMIUM):
        _missing(f"no Chromium at {CHROMIUM}")
    return sync_api


def _wait_for_server(url: str, process: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"JupyterLab did not answer within {timeout} s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def jupyterlab(tmp_path):
    """JupyterLab serving a temporary workspace that holds lesson 11; yields (base url, token, workspace)."""
    workspace = tmp_path / "workspace"
    (workspace / "lessons").mkdir(parents=True)
    (workspace / ".course").mkdir()
    shutil.copy(REPO / "notebooks" / LESSON, workspace / "lessons" / LESSON)
    settings = tmp_path / "lab-settings" / "@jupyterlab"
    (settings / "apputils-extension").mkdir(parents=True)
    (settings / "notebook-extension").mkdir(parents=True)
    # No "fetch Jupyter news?" prompt over the notebook, and no request to the internet.
    (settings / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false"}))
    # Render every cell, not only those in view, so the quiz is in the page wherever the notebook is scrolled.
    (settings / "notebook-extension" / "tracker.jupyterlab-settings").write_text(
        json.dumps({"windowingMode": "none"}))
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "COURSE_WORKSPACE": str(workspace), "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
           "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config"), "IPYTHONDIR": str(tmp_path / "ipython"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    log = tmp_path / "jupyterlab.log"
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={workspace}", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        f"--LabApp.user_settings_dir={tmp_path / 'lab-settings'}",
        f"--LabApp.workspaces_dir={tmp_path / 'lab-workspaces'}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # CI and these machines run as root
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=workspace, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for_server(f"{base}/api/status?token={token}", process, log)
        yield base, token, workspace
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)  # the server and the kernels it started
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def test_quiz_runs_and_answers_by_clicking_in_jupyterlab(playwright_api, jupyterlab):
    base, token, workspace = jupyterlab
    expect = playwright_api.expect
    answers = quiz.answers_for(PERSONA)
    expected = quiz.score(answers)
    labels = quiz.scale_labels()
    items = quiz.load_items()
    ARTIFACTS.mkdir(exist_ok=True)

    with playwright_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(60_000)
            page.goto(f"{base}/lab/tree/lessons/{LESSON}?token={token}")
            page.locator(".jp-NotebookPanel").first.wait_for()
            # The status bar says "Idle" once the kernel has started and the page is connected to it.
            expect(page.get_by_role("button", name=re.compile(r"\(ipykernel\) \| Idle$"))).to_be_visible(
                timeout=90_000)

            # Run all cells from the menu, as a learner would.
            page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
            page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()

            ui = page.locator(".course-quiz")
            expect(ui).to_be_visible(timeout=90_000)
            # Answer once every cell has run: while the kernel still runs the cells below the quiz, a click
            # waits in its queue, and the checks on each answer would wait on the rest of the notebook.
            expect(page.locator(".jp-InputPrompt", has_text=re.compile(r"\[\*\]"))).to_have_count(
                0, timeout=180_000)
            ui.scroll_into_view_if_needed()
            counter = ui.locator("text=/Question \\d+ of \\d+/")
            for number, item in enumerate(items[:-1], start=1):
                expect(counter).to_have_text(f"Question {number} of {len(items)}")
                ui.locator(".course-quiz-choices label").filter(
                    has_text=re.compile(f"^{labels[answers[item.id]]}$")).click()
                expect(ui.locator(".course-quiz-feedback")).to_contain_text(
                    f"Your answer: {labels[answers[item.id]]}.")
                if number == 1:
                    page.screenshot(path=str(ARTIFACTS / "quiz-question.png"))
                ui.locator("button.course-quiz-next").click()

            # The last question with the keyboard alone: choose with Space, press the button with Enter.
            expect(counter).to_have_text(f"Question {len(items)} of {len(items)}")
            last = items[-1]
            ui.locator(".course-quiz-choices input[type=radio]").nth(answers[last.id] - 1).focus()
            page.keyboard.press("Space")
            expect(ui.locator(".course-quiz-feedback")).to_contain_text(f"Your answer: {labels[answers[last.id]]}.")
            ui.locator("button.course-quiz-next").focus()
            page.keyboard.press("Enter")

            result = ui.locator(".course-quiz-result")
            expect(result).to_contain_text(f"Back-end fit: {quiz.shown(expected.backend_fit)}/100", timeout=60_000)
            expect(result).to_contain_text("Careers ranked by fit")
            expect(result.locator("tbody tr").first).to_contain_text(expected.ranking[0].title)
            expect(result.locator("img")).to_be_visible()
            result.scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "quiz-result.png"))
        finally:
            browser.close()

    with ProgressStore(workspace) as store:
        saved = store.load_result("quiz")
    assert saved is not None, "the quiz result was not saved to the progress store"
    assert saved["answers"] == answers
    assert saved["backend_fit"] == expected.backend_fit
    assert (ARTIFACTS / "quiz-result.png").stat().st_size > 10_000
