"""course.steps.step05_build_projects.ship, and lesson 05b run once as a learner runs it (the only run of it in
the suite: tests/test_notebooks.py leaves it to this module).

The lesson's own checks already fail it when a drill misses its goal (SIGTERM dropping an in-flight request,
a forged header believed, a body over the limit let through); here its outputs are read for the figures it
words its prose from, and the machine is searched for anything of it left running.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree

import nbformat
import psutil
import pytest
from factories import learner_lesson
from nbclient import NotebookClient

from course.components import proxy
from course.platform import paths
from course.steps.step05_build_projects import project as capstone
from course.steps.step05_build_projects import ship


@pytest.fixture(scope="module")
def lesson(tmp_path_factory):
    """(the executed lesson, its workspace folder): one run for the whole module."""
    folder = tmp_path_factory.mktemp("ship-lesson")
    with pytest.MonkeyPatch.context() as patch:
        path = learner_lesson(ship.LESSON_STEM, folder, patch)
        nb = nbformat.read(path, as_version=4)
        NotebookClient(nb, timeout=900, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    return nb, path.parent


def _text(nb) -> str:
    return "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


@pytest.mark.slow
@pytest.mark.service
def test_the_lesson_runs_without_an_error(lesson):
    nb, _ = lesson
    errors = [f"{o.ename}: {o.evalue[:400]}" for c in nb.cells if c.cell_type == "code"
              for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors


@pytest.mark.slow
@pytest.mark.service
def test_the_drills_reach_their_goals_and_the_prose_says_what_was_measured(lesson):
    text = _text(lesson[0])
    reload_line = re.search(r"(\d+) requests ran across the reload of both; (\d+) failed", text)
    assert reload_line and int(reload_line[1]) > 0 and reload_line[2] == "0", reload_line
    sigterm = re.search(r"With SIGTERM, (\d+) of (\d+) in-flight requests got their answer \((\d+) dropped\); "
                        r"with SIGKILL, (\d+) of (\d+) were dropped", text)
    assert sigterm and sigterm[1] == sigterm[2] and sigterm[3] == "0" and int(sigterm[4]) > 0
    assert re.search(r"nox exited 0 after [\d.]+ s · JUnit report: (\d+) tests, 0 failures, 0 errors", text)
    assert "HTTP/2 over TLS was negotiated (HTTP/2)" in text
    assert "TASKTRACK_SECRET_KEY must be set" in text


@pytest.mark.slow
@pytest.mark.service
def test_the_lesson_leaves_nothing_running_and_keeps_the_learners_project(lesson):
    _, folder = lesson
    workspace = str(folder.parent)  # COURSE_WORKSPACE of the lesson's kernel, inherited by what it started
    left = []
    for process in psutil.process_iter(["name", "cmdline"]):
        try:
            words = " ".join(process.info["cmdline"] or [])
            if (process.info["name"] == "nginx" or "gunicorn" in words) and \
                    process.environ().get("COURSE_WORKSPACE") == workspace:
                left.append(words[:120])
        except psutil.Error:
            continue
    assert not left
    assert (folder / "tasktrack-ship" / "Containerfile").is_file()  # the learner's copy stays in the workspace
    assert not (folder / "tasktrack-ship" / ".git").exists()


def test_the_server_block_passes_nginx_t_and_sets_what_the_lesson_says(tmp_path):
    certs = proxy.certificates(tmp_path / "tls")
    block = ship.server_block(8443, 8000, certs.certificate, certs.key, max_body="2m", http2=False)
    assert proxy.check_config(block) == (True, "")
    for line in ("proxy_set_header X-Forwarded-For $remote_addr;", "proxy_set_header X-Forwarded-Proto $scheme;",
                 f"proxy_bind {ship.PROXY_ADDRESS};", "client_max_body_size 2m;", "http2 off;", "listen 127.0.0.1:8443 ssl;"):
        assert line in block


def test_junit_summary_adds_up_suites_and_names_the_failures(tmp_path):
    report = tmp_path / "junit.xml"
    report.write_text('<testsuites><testsuite name="a" tests="3" failures="1" errors="0" skipped="1" time="1.5">'
                      '<testcase classname="t.A" name="ok"/><testcase classname="t.A" name="bad"><failure/></testcase>'
                      '<testcase classname="t.A" name="later"><skipped/></testcase></testsuite>'
                      '<testsuite name="b" tests="1" failures="0" errors="1" skipped="0" time="0.5">'
                      '<testcase classname="t.B" name="boom"><error/></testcase></testsuite></testsuites>')
    assert ship.junit_summary(report) == {"tests": 4, "failures": 1, "errors": 1, "skipped": 1, "seconds": 2.0,
                                          "failed": ["t.A::bad", "t.B::boom"]}
    single = tmp_path / "single.xml"
    ElementTree.ElementTree(ElementTree.fromstring('<testsuite tests="2" failures="0" errors="0" skipped="0" time="0.1">'
                                                   '</testsuite>')).write(single)
    assert ship.junit_summary(single)["tests"] == 2


def test_scaffold_is_lesson_05s_project_plus_the_deep_dives_files(tmp_path):
    root = ship.scaffold(tmp_path)
    assert root == (tmp_path / "tasktrack-ship").resolve()
    for relative in ("tasktrack/app.py", "migrations/env.py", "deploy/asgi.py", "deploy/gunicorn.conf.py",
                     "noxfile.py", ".pre-commit-config.yaml", "Containerfile"):
        assert (root / relative).is_file(), relative
    lesson_05 = capstone.notebook_files(paths.lesson_path(capstone.LESSON_STEM))
    assert (root / "tasktrack/app.py").read_text() == lesson_05["tasktrack-project/tasktrack/app.py"]
    assert ship.containerfile_problems((root / "Containerfile").read_text()) == []


def test_versions_name_every_shipping_tool():
    said = ship.versions()
    for tool in ("gunicorn", "uvicorn-worker", "trustme", "nox", "pre-commit", "mypy", "ruff"):
        assert tool in said and f"{tool} (not installed)" not in said
