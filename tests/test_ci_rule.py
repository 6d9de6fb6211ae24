"""The rules of conftest.py, run in a pytest of their own: with CI=true a service or browser test that skips fails
the run (elsewhere it just skips); a server the tests start that outlives them is named and stopped, and fails
the run in CI; and tests that would change the machine (tests/provision.py) run only in CI or when allowed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
import pytest
from factories import orphans_alone
from provision import VARIABLE, install_debian_package, require, start_debian_install

from course.components.waits import scaled, wait_until

TESTS = Path(__file__).resolve().parent
SKIPPING = '''
import pytest

@pytest.mark.service
def test_needs_a_server():
    pytest.skip("no server here")

def test_plain_skip():
    pytest.skip("not relevant")
'''
LEAKING = '''
import json, os, signal, subprocess, sys

def test_starts_servers_and_forgets_them(tmp_path):
    # A uvicorn server started and never stopped, in a session of its own (a kill of ours would not reach it).
    (tmp_path / "app.py").write_text("async def app(scope, receive, send):\\n    pass\\n")
    subprocess.Popen([sys.executable, "-m", "uvicorn", "--app-dir", str(tmp_path), "app:app", "--port", "0"],
                     start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # A Valkey server whose owner and watchdog were both killed: an orphan, as `course doctor` would find it.
    code = ("import json; from course.components import services; services.redis_client().ping(); "
            "print(json.dumps([services._watchdog.pid, services._redis.pid]), flush=True); input()")
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    watchdog, redis = json.loads(child.stdout.readline())
    os.kill(watchdog, signal.SIGKILL)
    child.kill()
    child.wait()
    print("LEAKED", redis, file=sys.stderr)
'''
CLEAN = '''
from course.components import services

def test_uses_redis_and_stops_it():
    assert services.redis_client().ping()
    services.stop_redis()

def test_uses_redis_and_leaves_it_to_the_exit_hook():
    assert services.redis_client().ping()
'''


def _pytest(tmp_path: Path, test: str, ci: str, *options: str) -> subprocess.CompletedProcess:
    for name in ("conftest.py", "factories.py"):
        shutil.copy(TESTS / name, tmp_path / name)
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    service: x\n    browser: x\n    slow: x\n")
    (tmp_path / "test_it.py").write_text(test)
    env = {**os.environ, "CI": ci, "COURSE_SLOWNESS": "1"}
    env.pop("COURSE_TEST_SESSION", None)
    # Without the plugins these small suites never use: schemathesis's alone takes ~8 s of CPU to import, in
    # every process (the run and, with -n 2, each worker).
    unused = ["-p", "no:schemathesis", "-p", "no:nbval", "-p", "no:hypothesispytest", "-p", "no:valkey"]
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *unused, *options,
                           str(tmp_path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=scaled(120))


@pytest.mark.parametrize(("ci", "expected"), [("true", "1 failed, 1 skipped"), ("", "2 skipped")])
def test_skipped_real_component_tests_fail_only_in_ci(tmp_path, ci, expected):
    result = _pytest(tmp_path, SKIPPING, ci, "-p", "no:xdist")
    assert expected in result.stdout, result.stdout[-2000:]


def _leftovers(tmp_path: Path) -> list[int]:
    found = []
    for process in psutil.process_iter(["name", "cmdline", "cwd"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if (process.info["name"] == "valkey-server" and "course-redis-" in (process.info["cwd"] or "")
                and process.pid in LEAKED) or ("uvicorn" in cmdline and str(tmp_path) in cmdline):
            found.append(process.pid)
    return found


LEAKED: set[int] = set()


@pytest.mark.service
@pytest.mark.parametrize(("ci", "code"), [("true", 1), ("", 0)])
def test_servers_that_outlive_the_tests_are_named_stopped_and_fail_ci(tmp_path, ci, code):
    with orphans_alone():  # its Redis orphan must be found by its own run, not cleaned by another test first
        result = _pytest(tmp_path, LEAKING, ci, "-p", "no:xdist", "-s", "--basetemp", str(tmp_path / "base"))
    LEAKED.update(int(line.split()[1]) for line in result.stderr.splitlines() if line.startswith("LEAKED"))
    assert result.returncode == code, result.stdout[-3000:] + result.stderr[-2000:]
    assert "server process(es) the tests started outlived them" in result.stdout, result.stdout[-3000:]
    assert "uvicorn" in result.stdout and "valkey-server" in result.stdout
    wait_until(lambda: not _leftovers(tmp_path), 10, what="the leaked servers to be stopped")


@pytest.mark.service
def test_servers_stopped_by_the_tests_or_their_exit_hooks_are_no_leak(tmp_path):
    """Two xdist workers, as the suite runs: each one's Valkey stops when it exits (or its watchdog stops it)."""
    result = _pytest(tmp_path, CLEAN, "true", "-n", "2")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "outlived" not in result.stdout


def test_changing_the_machine_needs_ci_or_the_opt_in(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv(VARIABLE, raising=False)
    with pytest.raises(pytest.skip.Exception, match=f"creates users; set {VARIABLE}=1"):
        require("creates users")
    for variable in ("CI", VARIABLE):
        monkeypatch.setenv(variable, "1")
        require("creates users")  # allowed: no skip
        monkeypatch.delenv(variable)


def test_a_missing_package_is_not_installed_without_the_opt_in(monkeypatch, tmp_path):
    """As root with apt-get, a missing Chromium used to be installed silently; now the test says why it skips."""
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv(VARIABLE, raising=False)
    ran = []
    monkeypatch.setattr(subprocess, "run", lambda command, **kwargs: ran.append(command))
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium"):
        install_debian_package("chromium", tmp_path / "no-chromium")
    assert ran == []


def test_a_package_installing_in_the_background_is_waited_for_not_installed_twice(monkeypatch, tmp_path):
    """conftest starts apt-get for a missing Chromium when the session starts; the test needing it waits for
    that install (here a stand-in that takes a moment and makes the binary) instead of running apt-get again."""
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("COURSE_TEST_SESSION", f"test-{tmp_path.name}")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    binary, started, ran = tmp_path / "chromium", [], []
    popen = subprocess.Popen

    def background(command, **kwargs):
        started.append(command[-1])
        return popen(["sh", "-c", f"sleep 1 && touch {binary}"], **kwargs)

    monkeypatch.setattr(subprocess, "Popen", background)
    monkeypatch.setattr(subprocess, "run", lambda command, **kwargs: ran.append(command))
    try:
        assert start_debian_install("fake-package", binary) is True
        assert start_debian_install("fake-package", binary) is False  # once per session, whoever asks first
        assert started == ["apt-get update -qq && apt-get install -y -qq fake-package"]
        assert not binary.exists()
        assert install_debian_package("fake-package", binary) is True
        assert ran == []  # the background install was waited for, not run again
    finally:
        (Path(tempfile.gettempdir()) / f"course-test-apt-fake-package-test-{tmp_path.name}.pid").unlink(missing_ok=True)
