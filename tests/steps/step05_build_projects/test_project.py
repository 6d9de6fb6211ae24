"""Step 05's capstone: the helpers in course/steps/step05_build_projects/project.py and the service the lesson
builds, checked for real.

The project is rebuilt from the lesson's ``%%writefile`` cells (:func:`course.steps.step05_build_projects.scaffold`), so these
tests check exactly the code the lesson teaches: it lints clean, its own test suite passes, schemathesis
finds no 5xx in its OpenAPI document while it runs under uvicorn on PostgreSQL and Redis, the second
service survives the first one failing, and every process the lesson starts is stopped at its end.
"""

from __future__ import annotations

import collections
import math
import os
import shutil
import subprocess
import sys
import threading
from functools import partial
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx
import nbformat
import psutil
import pytest

from course.components import servers, services
from course.platform import authoring, paths
from course.steps import step05_build_projects as capstone

LESSON = paths.lesson_path(capstone.LESSON_STEM)
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module", autouse=True)
def _stop_what_this_module_started():
    """Service processes, and PostgreSQL/Redis if this module started them, stop when its tests end.

    (Left to the worker's exit hook, they would hold their memory through the rest of its tests.)
    """
    before = services.status()
    yield
    capstone.stop_all()
    after = services.status()
    if after["redis"] and not before["redis"] and not os.environ.get("REDIS_URL"):
        services.stop_redis()
    if after["postgres"] and not before["postgres"] and not os.environ.get("DATABASE_URL"):
        services.stop_postgres()


# --- helpers of course.steps.step05_build_projects -------------------------------------------------------------------


def test_percentile_is_nearest_rank():
    values = list(range(100, 0, -1))  # 100 .. 1, unsorted on purpose
    assert capstone.percentile(values, 50) == 50
    assert capstone.percentile(values, 95) == 95
    assert capstone.percentile(values, 100) == 100
    assert capstone.percentile([7.5], 95) == 7.5
    assert math.isnan(capstone.percentile([], 50))


def test_notebook_files_takes_the_last_version_of_each_file(tmp_path):
    nb = authoring.notebook([
        authoring.code("%%writefile proj/a.py\nx = 1"),
        authoring.markdown("%%writefile proj/not-code.py\nignored"),
        authoring.code("print('not a file')"),
        authoring.code("%%writefile proj/a.py\nx = 2\n"),
        authoring.code("%%writefile proj/sub/b.txt\nhello"),
    ])
    path = tmp_path / "lesson.ipynb"
    nbformat.write(nb, path)
    assert capstone.notebook_files(path) == {"proj/a.py": "x = 2\n", "proj/sub/b.txt": "hello\n"}


def test_notebook_files_refuses_appending_cells(tmp_path):
    path = tmp_path / "lesson.ipynb"
    nbformat.write(authoring.notebook([authoring.code("%%writefile -a proj/a.py\nx = 1")]), path)
    with pytest.raises(ValueError, match="append"):
        capstone.notebook_files(path)


def test_write_files_stays_inside_its_folder(tmp_path):
    written = capstone.write_files({"pkg/mod.py": "x = 1\n"}, tmp_path)
    assert written == [(tmp_path / "pkg/mod.py").resolve()]
    with pytest.raises(ValueError, match="outside"):
        capstone.write_files({"../escape.py": "x = 1\n"}, tmp_path / "inner")
    assert not (tmp_path / "escape.py").exists()


def test_load_only_targets_loopback():
    with pytest.raises(ValueError, match="127.0.0.1"):
        capstone.load("http://example.org/", requests=1)


class _EveryThirdFails(BaseHTTPRequestHandler):
    hits = 0
    lock = threading.Lock()

    def do_GET(self):  # noqa: N802 - http.server's naming
        with self.lock:  # the server handles requests in threads
            type(self).hits += 1
            status = 500 if type(self).hits % 3 == 0 else 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def test_load_counts_every_request_and_every_error():
    _EveryThirdFails.hits = 0
    with servers.serve_handler(_EveryThirdFails, name="capstone-load-test") as server:
        report = capstone.load(server.url + "/", requests=90, concurrency=3, timeout=5, deadline=60)
    assert report.requests == 90 == _EveryThirdFails.hits
    assert report.statuses == {200: 60, 500: 30}
    assert report.errors == 30
    assert len(report.latencies_ms) == 90 and report.p50_ms <= report.p95_ms
    assert "p95" in str(report) and "errors 30" in str(report)


def test_load_reports_a_server_that_is_down():
    report = capstone.load(f"http://127.0.0.1:{servers.free_port()}/", requests=8, concurrency=2, timeout=2)
    assert report.requests == report.errors == 8
    assert report.latencies_ms == []
    assert set(report.statuses) == {"ConnectError"}


# --- the project the lesson builds ----------------------------------------------------------------


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return capstone.scaffold(tmp_path_factory.mktemp("capstone"))


def test_scaffold_rebuilds_the_whole_project(tmp_path):
    project = capstone.scaffold(tmp_path)
    expected = {
        "pyproject.toml", "README.md", "tasktrack/__init__.py", "tasktrack/app.py", "tasktrack/schemas.py",
        "tasktrack/db.py", "tasktrack/security.py", "tasktrack/cache.py", "tasktrack/settings.py", "tasktrack/clients.py",
        "migrations/env.py", "migrations/versions/0001_users_and_tasks.py",
        "migrations/versions/0002_email_case_insensitive.py", "tests/test_api.py",
        "digest/__init__.py", "digest/app.py", "digest/resilience.py",
    }
    assert {str(p.relative_to(project)) for p in project.rglob("*") if p.is_file()} == expected
    assert "def create_app(settings" in (project / "tasktrack/app.py").read_text()  # the final version


def test_project_code_passes_ruff(project):
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff, "ruff is in the test extra: pip install -e '.[test]'"
    result = subprocess.run([ruff, "check", "--no-cache", "."], cwd=project, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def _migrate(project: Path, url: str) -> None:
    code = "import sys; from tasktrack.db import migrate; migrate(sys.argv[1])"
    subprocess.run([sys.executable, "-c", code, url], cwd=project, check=True, timeout=120)


def _redis_url(db: int) -> str:
    client = services.redis_client(db=db)
    client.flushdb()
    return services.status()["redis"] + f"?db={db}"


@pytest.mark.slow
@pytest.mark.service
def test_project_test_suite_passes_with_redis(project):
    """The project's own suite runs on PostgreSQL (as its production does) and with Redis, nothing skipped."""
    env = {**os.environ, "TASKTRACK_TEST_REDIS_URL": _redis_url(3), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
           "TASKTRACK_TEST_DATABASE_URL": services.schema_url("capstone_suite")}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "--color=no"], cwd=project, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "skipped" not in result.stdout  # the Redis tests ran


@pytest.fixture(scope="module")
def tasktrack(project):
    """The finished service as its own uvicorn process, on PostgreSQL and Redis; stopped afterwards."""
    url = services.schema_url("capstone_fuzz")
    _migrate(project, url)
    env = {"TASKTRACK_DATABASE_URL": url, "TASKTRACK_REDIS_URL": _redis_url(4),
           "TASKTRACK_SECRET_KEY": "fuzz-" + "k" * 40, "TASKTRACK_RATE_LIMIT": "1000000",
           "TASKTRACK_LOGIN_LIMIT": "1000000", "TASKTRACK_LOG_LEVEL": "WARNING"}
    # The fuzzing looks for 5xx answers, not at the hash's cost: at N=2**17 (128 MiB a hash) its hundreds of
    # sign-ups and logins would take many minutes on a busy machine, so this app hashes at N=2**10.
    (project / "cheap_hashing_app.py").write_text(
        "from tasktrack import security\n\nsecurity.SCRYPT_N = 2**10\n\n"
        "from tasktrack.app import create_app  # noqa: E402\n\n__all__ = ['create_app']\n")
    service = capstone.start_service("cheap_hashing_app:create_app", project=project, env=env,
                                     name="tasktrack-test")
    yield service
    service.stop()


@pytest.fixture(scope="module")
def auth(tasktrack) -> dict[str, str]:
    with httpx.Client(base_url=tasktrack.url, timeout=10) as client:
        assert client.post("/users", json={"email": "fuzz@example.org", "password": PASSWORD}).status_code == 201
        token = client.post("/tokens", json={"email": "fuzz@example.org", "password": PASSWORD}).json()
        client.post("/tasks", json={"title": "one task to find"},
                    headers={"Authorization": f"Bearer {token['access_token']}"})
    return {"Authorization": f"Bearer {token['access_token']}"}


@pytest.mark.slow
@pytest.mark.service
def test_openapi_fuzzing_finds_no_server_error(tasktrack, auth):
    """schemathesis generates requests from the running service's OpenAPI document: none may answer 5xx.

    Each operation gets schema-valid and schema-breaking requests, each sent with a valid token and without.
    (The operations are driven one by one with hypothesis: schemathesis' lazy pytest fixture loader does
    not work with pytest 9.)
    """
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode

    schema = schemathesis.openapi.from_url(tasktrack.url + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 8, [op.label for op in operations]
    sent = collections.Counter()
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=30, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck))
            def no_server_error(case):
                for headers in (auth, {}):
                    response = case.call(headers=headers, timeout=10)
                    sent[response.status_code // 100] += 1
                    assert response.status_code < 500, (case.as_curl_command(headers), response.text[:500])

            try:
                no_server_error()
            except Unsatisfiable:  # an operation with no parameters and no body has no invalid requests
                assert mode is GenerationMode.NEGATIVE and not list(operation.iter_parameters()) and \
                    not operation.get_request_payload_content_types(), operation.label
    assert sent[2] > 100 and sent[4] > 100, sent  # it sent both accepted and refused requests


@pytest.mark.slow
@pytest.mark.service
def test_service_answers_over_http_and_logs_json(tasktrack, auth):
    with httpx.Client(base_url=tasktrack.url, timeout=10) as client:
        assert client.get("/health").json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}
        other = {"email": "other@example.org", "password": PASSWORD}
        client.post("/users", json=other)
        other_token = client.post("/tokens", json=other).json()["access_token"]
        task = client.post("/tasks", json={"title": "private"}, headers=auth).json()
        stranger = {"Authorization": f"Bearer {other_token}"}
        assert client.get(f"/tasks/{task['id']}", headers=stranger).status_code == 404
        assert client.get(f"/tasks/{task['id']}", headers=auth).json() == task
        assert client.post("/tokens", json={**other, "password": "wrong"}).status_code == 401
    report = capstone.load(tasktrack.url + "/tasks", requests=100, concurrency=4, headers=auth, name="smoke")
    assert report.requests == 100 and report.errors == 0  # counts only: tests never assert timings


class _FlakyUpstream(BaseHTTPRequestHandler):
    """Answers 503 to the first ``failures`` requests, then a task list."""

    failures = 2
    hits = 0

    def do_GET(self):  # noqa: N802 - http.server's naming
        type(self).hits += 1
        ok = type(self).hits > type(self).failures
        body = b'[{"id": 1, "title": "a", "done": false}, {"id": 2, "title": "b", "done": true}]' if ok \
            else b'{"detail": "busy"}'
        self.send_response(200 if ok else 503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.mark.service
def test_digest_retries_then_opens_its_circuit(project):
    _FlakyUpstream.hits, _FlakyUpstream.failures = 0, 2
    upstream = servers.serve_handler(_FlakyUpstream, name="capstone-flaky-upstream")
    env = {"DIGEST_UPSTREAM_URL": upstream.url, "DIGEST_RESET_AFTER": "600"}
    with capstone.start_service("digest.app:create_app", project=project, env=env, name="digest-test") as digest:
        headers = {"Authorization": "Bearer x"}
        first = httpx.get(digest.url + "/digest", headers=headers, timeout=10)
        assert first.status_code == 200 and first.json() == {"open": 1, "done": 1, "next": ["a"]}
        assert _FlakyUpstream.hits == 3  # two 503s, retried, then the answer
        upstream.stop()  # now the upstream is down: refused connections
        answers = [httpx.get(digest.url + "/digest", headers=headers, timeout=10) for _ in range(4)]
        assert [a.status_code for a in answers] == [503] * 4
        assert "circuit open" in answers[-1].json()["detail"]
        assert httpx.get(digest.url + "/health").json()["upstream_circuit"] == "open"


@pytest.mark.slow
@pytest.mark.service
def test_load_benchmark_runs_and_reports_both_configurations():
    """A tiny run of benchmarks/bench_capstone_load.py: it works and reports; its timings are not judged."""
    script = Path(__file__).resolve().parents[3] / "benchmarks" / "bench_capstone_load.py"
    result = subprocess.run([sys.executable, str(script), "--requests", "40", "--rounds", "1", "--tasks", "3"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    for expected in ("baseline (cache off): 40 requests", "cached (Redis, 30 s): 40 requests",
                     "p50: baseline", "p95: baseline", "ratio baseline/cached", "errors: 0"):
        assert expected in result.stdout, result.stdout


# --- processes are stopped ------------------------------------------------------------------------


@pytest.mark.service
def test_stop_all_leaves_no_process_and_no_log_folder(project):
    env = {"TASKTRACK_DATABASE_URL": f"sqlite:///{project / 'stop-test.db'}", "TASKTRACK_SECRET_KEY": "s" * 40}
    started = [capstone.start_service("tasktrack.app:create_app", project=project, env=env, name=f"stop-{i}")
               for i in range(2)]
    assert all(s.alive for s in started) and set(capstone.running()) >= set(started)
    # stop_all stops every service of this process; the tests above that share the module's service
    # run before this one (pytest and pytest-xdist keep a module's order on each worker).
    assert {"stop-0", "stop-1"} <= set(capstone.stop_all())
    for service in started:
        assert not service.alive and not psutil.pid_exists(service.pid) or \
            psutil.Process(service.pid).status() == psutil.STATUS_ZOMBIE
        assert not service.log_path.parent.exists()
        with pytest.raises(httpx.TransportError):
            httpx.get(service.url + "/health", timeout=2)
    assert capstone.running() == []


@pytest.mark.service
def test_a_service_that_cannot_start_says_why_and_is_gone(project):
    with pytest.raises(RuntimeError, match="TASKTRACK_SECRET_KEY"):
        capstone.start_service("tasktrack.app:create_app", project=project, env={"TASKTRACK_SECRET_KEY": ""},
                               name="no-secret", timeout=60)
    assert [s for s in capstone.running() if s.name == "no-secret"] == []


WATCH = """\
import os as _os

import psutil as _psutil
from course.steps import step05_build_projects as _capstone
from course.components import services as _services
_status = _services.status()
_watch = {
    "pids": [s.pid for s in _capstone.running()] + [c.pid for c in _psutil.Process().children(recursive=True)],
    "markers": [u.split("host=")[-1] for u in [_status["postgres"]] if u and "host=/" in u]
               + [u.replace("unix://", "") for u in [_status["redis"]] if u and u.startswith("unix://")],
}
_embedded = (not _os.environ.get("DATABASE_URL")) + (not _os.environ.get("REDIS_URL"))
assert len(_watch["pids"]) >= 2 and len(_watch["markers"]) == _embedded, _watch  # all were running
"""

VERIFY = """\
import time as _time
_deadline = _time.monotonic() + 20
def _left():
    pids = [p for p in _watch["pids"] if _psutil.pid_exists(p)
            and _psutil.Process(p).status() != _psutil.STATUS_ZOMBIE]
    procs = [p.pid for p in _psutil.process_iter(["cmdline"])
             if any(m in " ".join(p.info["cmdline"] or []) for m in _watch["markers"])]
    return pids + procs
while _left() and _time.monotonic() < _deadline:
    _time.sleep(0.2)
assert _left() == [], f"still running after the last cell: {_left()}"
print("NOTHING LEFT RUNNING")
"""


@pytest.mark.slow
@pytest.mark.service
def test_lesson_stops_every_process_it_starts(tmp_path, monkeypatch):
    """Run the lesson with a watch cell before its last cell and a check after it."""
    from factories import learner_lesson
    from nbclient import NotebookClient

    lesson = learner_lesson(capstone.LESSON_STEM, tmp_path, monkeypatch)  # as a learner runs it (test_notebooks)
    nb = nbformat.read(lesson, as_version=4)
    nb.cells.insert(len(nb.cells) - 1, nbformat.v4.new_code_cell(WATCH))
    nb.cells.append(nbformat.v4.new_code_cell(VERIFY))
    NotebookClient(nb, timeout=180, kernel_name="python3",
                   resources={"metadata": {"path": str(lesson.parent)}}).execute()
    outputs = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    assert "NOTHING LEFT RUNNING" in outputs
    assert (lesson.parent / "tasktrack-project" / "README.md").exists()  # the learner keeps the project


# --- start_service: the server that answers is the one started, and its wait scales ---------------


class _Impostor(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's naming
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.mark.service
def test_a_taken_port_is_not_mistaken_for_the_service(project):
    """Another server answering /health on the port must not make start_service return "ready"."""
    env = {"TASKTRACK_DATABASE_URL": f"sqlite:///{project / 'taken.db'}", "TASKTRACK_SECRET_KEY": "s" * 40}
    with servers.serve_handler(_Impostor) as impostor:
        with pytest.raises(RuntimeError, match=rf"port {impostor.port} is taken by another server"):
            capstone.start_service("tasktrack.app:create_app", project=project, env=env, port=impostor.port,
                                   name="taken")
        assert httpx.get(impostor.url + "/health", timeout=5).status_code == 200  # left alone
    assert [s for s in capstone.running() if s.name == "taken"] == []


@pytest.mark.service
def test_the_start_wait_scales_with_the_machines_slowness(project, monkeypatch):
    """A start that takes longer than `timeout` on this machine succeeds when COURSE_SLOWNESS says it is slow."""
    env = {"TASKTRACK_DATABASE_URL": f"sqlite:///{project / 'slow.db'}", "TASKTRACK_SECRET_KEY": "s" * 40}
    monkeypatch.setenv("COURSE_SLOWNESS", "1")
    with pytest.raises(TimeoutError, match="COURSE_SLOWNESS"):
        capstone.start_service("tasktrack.app:create_app", project=project, env=env, name="slow", timeout=0.01)
    monkeypatch.setenv("COURSE_SLOWNESS", "10000")  # 0.01 s becomes 100 s: ample for uvicorn to start
    with capstone.start_service("tasktrack.app:create_app", project=project, env=env, name="slow",
                                timeout=0.01) as service:
        assert httpx.get(service.url + "/health", timeout=10).status_code == 200


# --- issue 19's errata: the log keeps tracebacks, one half-open trial call, no leftovers, prose measured ----


def test_json_log_lines_keep_the_traceback_of_log_exception(project):
    """A 500 logged with log.exception keeps its traceback in the JSON line (JsonLines once dropped exc_info)."""
    code = (
        "import json, logging\n"
        "from tasktrack.app import JsonLines\n"
        "try:\n"
        "    1 / 0\n"
        "except ZeroDivisionError:\n"
        "    record = logging.LogRecord('tasktrack', logging.ERROR, 'app.py', 1, 'request failed', None,\n"
        "                               __import__('sys').exc_info())\n"
        "record.fields = {'request_id': 'r1'}\n"
        "print(JsonLines().format(record))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=project, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip()
    assert "\n" not in line  # still one line per record
    entry = __import__("json").loads(line)
    assert entry["event"] == "request failed" and entry["request_id"] == "r1"
    assert "ZeroDivisionError: division by zero" in entry["traceback"] and "Traceback" in entry["traceback"]


def _resilience(project):
    import importlib.util

    spec = importlib.util.spec_from_file_location("capstone_resilience", project / "digest" / "resilience.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fail():
    raise OSError("down")


def _opened_breaker(project, *, failures):
    """(the resilience module, a breaker on a fake clock opened by ``failures`` failures, the clock's list)."""
    resilience = _resilience(project)
    now = [0.0]
    breaker = resilience.CircuitBreaker(failures=failures, reset_after=5, clock=lambda: now[0])
    for _ in range(failures):
        with pytest.raises(OSError):
            breaker.call(_fail)
    return resilience, breaker, now


def test_a_half_open_breaker_lets_exactly_one_trial_call_through_from_many_threads(project):
    """Ten threads calling a half-open breaker: one trial call runs, the nine others get CircuitOpen."""
    from course.components.waits import wait_until

    resilience, breaker, now = _opened_breaker(project, failures=1)
    assert breaker.state == "open"
    now[0] = 10.0
    assert breaker.state == "half-open"
    entered, refused, release, lock = [], [], threading.Event(), threading.Lock()

    def trial():
        with lock:
            entered.append(threading.get_ident())
        release.wait(60)
        return "ok"

    def caller():
        try:
            breaker.call(trial)
        except resilience.CircuitOpen:
            with lock:
                refused.append(threading.get_ident())

    threads = [threading.Thread(target=caller) for _ in range(10)]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: len(entered) + len(refused) == 10 or len(entered) > 1, 10,
                   what="every caller to enter the trial or be refused")
    finally:
        release.set()
        for thread in threads:
            thread.join(30)
    assert (len(entered), len(refused)) == (1, 9)
    assert breaker.state == "closed"  # the trial succeeded
    assert breaker.call(lambda: "again") == "again"


def test_a_failed_trial_reopens_the_breaker_and_a_later_trial_may_run(project):
    resilience, breaker, now = _opened_breaker(project, failures=3)
    now[0] = 6.0
    with pytest.raises(OSError):  # the one trial call, and it fails
        breaker.call(_fail)
    assert breaker.state == "open"
    with pytest.raises(resilience.CircuitOpen):
        breaker.call(lambda: "no")
    now[0] = 12.0
    assert breaker.call(lambda: "yes") == "yes" and breaker.state == "closed"


def test_tidy_project_removes_the_project_only_inside_the_course_sources(tmp_path, monkeypatch):
    root = tmp_path / "checkout"
    (root / "solutions").mkdir(parents=True)
    in_sources = root / "notebooks" / "tasktrack-project"
    (in_sources / "tasktrack").mkdir(parents=True)
    (in_sources / "tasktrack" / "app.py").write_text("x = 1\n")
    in_workspace = tmp_path / "workspace" / "tasktrack-project"
    in_workspace.mkdir(parents=True)
    (in_workspace / "README.md").write_text("mine\n")
    monkeypatch.setenv("BACKEND_COURSE_ROOT", str(root))
    assert capstone.tidy_project(in_workspace) is False and (in_workspace / "README.md").exists()
    assert capstone.tidy_project(in_sources) is True and not in_sources.exists()
    assert capstone.tidy_project(in_sources) is False  # already gone: nothing to do, no error
    cells = nbformat.read(LESSON, as_version=4).cells
    assert "capstone.tidy_project(PROJECT)" in cells[-1].source  # the lesson's last cell calls it


def test_lesson_prose_states_no_unmeasured_time_and_the_breaker_pause_scales():
    cells = nbformat.read(LESSON, as_version=4).cells
    prose = "\n".join(c.source for c in cells if c.cell_type == "markdown")
    assert "about 0.6 s" not in prose
    start = next(c.source for c in cells if "digest = capstone.start_service(" in c.source)
    assert "waits.scaled(" in start and '"DIGEST_RESET_AFTER": str(RESET_AFTER)' in start
    failures = next(c.source for c in cells if c.cell_type == "code" and "tasktrack.stop()" in c.source)
    assert "min(seconds[:3])" in failures  # the time of the retried answers is printed from the run


# --- issue 19, step 05 items: OWASP's password parameters, failed-login limits, PostgreSQL tests, PATCH null --


def _run_in(project: Path, code: str, env: dict[str, str] | None = None, timeout: int = 300) -> str:
    """Run ``code`` with the scaffolded project importable; returns its stdout (fails on a non-zero exit)."""
    result = subprocess.run([sys.executable, "-c", code], cwd=project, capture_output=True, text=True,
                            timeout=timeout, env={**os.environ, **(env or {})})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def test_password_guidance_names_its_source_and_retrieval_date():
    guidance = capstone.password_guidance()
    assert guidance["url"] == "https://cheatsheetseries.owasp.org/cheatsheets/Password_Storage_Cheat_Sheet.html"
    assert str(guidance["retrieved"]) == "2026-12-02" and "source_date" in guidance
    assert guidance["scrypt"] == {"n": 2**17, "r": 8, "p": 1}
    assert guidance["pbkdf2_hmac_sha256"] == {"iterations": 600_000}


def test_capstone_hashes_with_the_guidance_parameters_and_passes_maxmem(project):
    """security.py uses OWASP's scrypt parameters (N=2**17 needs maxmem: without it OpenSSL refuses)."""
    scrypt = capstone.password_guidance()["scrypt"]
    out = _run_in(project, (
        "from tasktrack import security as s\n"
        "stored = s.hash_password('pw')\n"
        "print(s.SCRYPT_N, s.SCRYPT_R, s.SCRYPT_P, stored.split('$')[1:4], s.verify_password('pw', stored),\n"
        "      s.verify_password('pW', stored), s.verify_password('pw', 'scrypt$1073741824$8$1$00$00'))\n"))
    n, r, p = scrypt["n"], scrypt["r"], scrypt["p"]
    assert out.split() == [str(n), str(r), str(p), f"['{n}',", f"'{r}',", f"'{p}']", "True", "False", "False"]
    assert "maxmem=" in (project / "tasktrack" / "security.py").read_text()


def test_lesson_states_no_unsourced_guessing_rate_and_explains_maxmem():
    cells = nbformat.read(LESSON, as_version=4).cells
    prose = "\n".join(c.source for c in cells if c.cell_type == "markdown")
    assert "billions" not in prose
    assert "maxmem" in prose and "memory limit exceeded" in prose and "Password_Storage_Cheat_Sheet" in prose
    timing = next(c.source for c in cells if c.cell_type == "code" and "scrypt_s = best_of(" in c.source)
    assert "password_guidance()" in timing and "n=2**15" in timing  # the figures and the failure are shown


def test_patch_with_null_is_refused_in_both_versions_of_the_app(project, tmp_path):
    """PATCH {"title": null} answers 422, as lesson 03 teaches, in milestone 1's app and in the final one."""
    files = capstone.notebook_files(LESSON)
    milestone_1 = next(c.source for c in nbformat.read(LESSON, as_version=4).cells
                       if c.source.startswith("%%writefile tasktrack-project/tasktrack/app.py")
                       and "kept in memory" in c.source).partition("\n")[2]
    assert "exclude_none" not in milestone_1 + files["tasktrack-project/tasktrack/app.py"]
    (tmp_path / "tasktrack").mkdir()
    (tmp_path / "tasktrack" / "__init__.py").write_text("")
    (tmp_path / "tasktrack" / "schemas.py").write_text(files["tasktrack-project/tasktrack/schemas.py"])
    (tmp_path / "tasktrack" / "app.py").write_text(milestone_1)
    out = _run_in(tmp_path, (
        "from fastapi.testclient import TestClient\n"
        "from tasktrack.app import create_app\n"
        "c = TestClient(create_app())\n"
        "i = c.post('/tasks', json={'title': 'keep'}).json()['id']\n"
        "print([c.patch(f'/tasks/{i}', json=b).status_code for b in ({'title': None}, {'done': None}, {'done': True})],\n"
        "      c.get(f'/tasks/{i}').json())\n"))
    assert out.strip() == "[422, 422, 200] {'id': 1, 'title': 'keep', 'done': True}"


def test_client_address_trusts_forwarded_for_only_from_a_configured_proxy(project):
    out = _run_in(project, (
        "from tasktrack.clients import client_address as a\n"
        "t = ('10.0.0.0/8',)\n"
        "print(a('198.51.100.1', ['6.6.6.6'], t), a('10.0.0.2', ['6.6.6.6, 203.0.113.5'], t),\n"
        "      a('10.0.0.2', ['6.6.6.6, 203.0.113.5, 10.1.1.1'], t), a('10.0.0.2', [], t), a('10.0.0.2', ['x'], ()))\n"))
    assert out.split() == ["198.51.100.1", "203.0.113.5", "203.0.113.5", "10.0.0.2", "10.0.0.2"]


LOGIN_LIMITS = """\
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from fastapi.testclient import TestClient
from tasktrack import security
from tasktrack.app import create_app
from tasktrack.db import migrate
from tasktrack.settings import Settings

security.SCRYPT_N = 2**10  # the limits are under test here, not the hash's cost
url, redis_url = sys.argv[1], sys.argv[2]
migrate(url)
app = create_app(Settings(database_url=url, secret_key="s" * 40, redis_url=redis_url, login_limit=3,
                          trusted_proxies=("10.0.0.0/8",)), clock=lambda: 1_800_000_000.0)
def at(address):
    return TestClient(app, client=(address, 50000))
def login(client, email, password, forwarded=None):
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    return client.post("/tokens", json={"email": email, "password": password}, headers=headers).status_code
bob = at("198.51.100.1")
bob.post("/users", json={"email": "bob@example.org", "password": "right password"})
print("right", [login(bob, "bob@example.org", "right password") for _ in range(5)])
print("account", [login(at(f"198.51.100.{i}"), "bob@example.org", "guess") for i in range(10, 14)])
print("address", [login(at("198.51.100.50"), f"u{i}@example.org", "guess") for i in range(4)])
proxy = at("10.0.0.7")
print("proxied", [login(proxy, f"p{i}@example.org", "guess", f"203.0.113.{i}") for i in range(4)])
print("forged", [login(proxy, f"q{i}@example.org", "guess", f"6.6.6.{i}, 203.0.113.99") for i in range(4)])
# Eight guesses at one account at the same moment, from eight addresses: the code counts each attempt before
# it checks the password (its comment says so), so no more than the limit can get a 401.
at("198.51.100.2").post("/users", json={"email": "carol@example.org", "password": "right password"})
start = threading.Barrier(8)
def guess(i):
    client = at(f"198.51.100.{60 + i}")
    start.wait()
    return login(client, "carol@example.org", f"guess {i}")
with ThreadPoolExecutor(8) as pool:
    print("concurrent", sorted(pool.map(guess, range(8))))
"""


@pytest.mark.service
def test_only_failed_logins_count_per_account_and_per_client_address(project, tmp_path):
    """Bob's right logins never count; guesses count per account and per address, also when they arrive at
    the same moment; X-Forwarded-For only via a proxy."""
    script = tmp_path / "limits.py"
    script.write_text(LOGIN_LIMITS)
    result = subprocess.run([sys.executable, str(script), f"sqlite:///{tmp_path / 'limits.db'}", _redis_url(6)],
                            cwd=project, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONPATH": str(project)})
    assert result.returncode == 0, result.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in result.stdout.strip().splitlines())
    assert lines["right"] == "[200, 200, 200, 200, 200]"  # not cut off after 2 (the old per-IP count of every login)
    assert lines["account"] == "[401, 401, 401, 429]"  # four addresses, one account
    assert lines["address"] == "[401, 401, 401, 429]"  # one address, four accounts
    assert lines["proxied"] == "[401, 401, 401, 401]"  # four clients behind one proxy: not one global limit
    assert lines["forged"] == "[401, 401, 401, 429]"  # a forged left-most hop does not make a new client
    assert lines["concurrent"] == "[401, 401, 401, 429, 429, 429, 429, 429]"  # 8 guesses at once: still 3


def test_project_tests_run_on_postgresql_not_sqlite(project):
    suite = (project / "tests" / "test_api.py").read_text()
    assert "sqlite:" not in suite and "TASKTRACK_TEST_DATABASE_URL" in suite
    assert 'engine.dialect.name == "postgresql"' in suite
    cells = nbformat.read(LESSON, as_version=4).cells
    run = next(c.source for c in cells if c.cell_type == "code" and "milestone 5: the project's tests" in c.source)
    assert "TASKTRACK_TEST_DATABASE_URL=" in run and "services.schema_url(" in run


# --- exercise 05 (markit): the hidden tests judge plausible wrong answers and other correct ones ----------
#
# Plausible answers a learner writes from the release text, by part; each wrong one must fail its part's test
# cell, each other correct one must pass it. (The reference answer is varied by a replacement, so a variant
# differs from it in exactly the mistake named.)
# - A clean_bookmark: scheme checked with startswith("http://"), so HTTPS:// in capitals is refused.
# - B users table: address stored as typed (not lowercased), so "Ada@" and "ada@" are two accounts.
# - C bookmarks: one query per bookmark for its tags (N+1); an inner join (untagged bookmarks vanish);
#   right: one LEFT JOIN query grouped in Python.
# - D passwords: scrypt at the old n=2**14; PBKDF2 at 100,000 iterations; PBKDF2-HMAC-SHA256 at OWASP's
#   superseded 310,000; scrypt without maxmem at n=2**17 (fails to run); `==` instead of compare_digest;
#   right: PBKDF2-HMAC-SHA256 at 600,000 iterations (positional arguments, `from hashlib import`).
# - E tokens: valid at the expiry second itself (`now > exp`).
# - F cache: the decoded list tested for truth (a cached empty list counts as a miss).
# - G rate limit: no EXPIRE; an EXPIRE of 1 s; right: EXPIRE until the window's end, rounded up.
# - H settings: 0 accepted as a whole number > 0.
# - I accounts: a taken address 400; login held to the sign-up rules (a pair the sign-up would refuse
#   answered 422, not 401); a wrong password 403; extra fields accepted; expires_in fixed at 3600; the
#   sign-up answer carrying the hash. Right: 401 without WWW-Authenticate; the body checked by a strict
#   pydantic model (its own 422 detail).
# - J bookmarks: another user's bookmark 403; DELETE answered 200 with a body; no forget_list after a DELETE;
#   the cached (untagged) list served for ?tag=; a tagged list cached under the list's key; one rate-limit
#   counter for everyone. Right: DELETE returning None (FastAPI sends the 204); ?tag= filtered from the
#   cached list.
# - K retries: a 500 retried like a 503.
# - L circuit breaker: a success does not reset the count of failures in a row.

STEM_05 = "05-build-projects"
ANSWERS_05 = ["setup", "clean_bookmark", "users_table", "bookmarks_table", "passwords", "tokens", "cache",
              "rate_limit", "settings", "http_api", "api_test_helpers", "retries", "circuit_breaker"]


def _reference(grade_id: str) -> str:
    from factories import graded_cells, without_solution_markers

    return without_solution_markers(graded_cells(STEM_05)[grade_id])


def _varied(grade_id: str, old: str, new: str) -> str:
    source = _reference(grade_id)
    assert source.count(old) == 1, (grade_id, old)
    return source.replace(old, new)


LIST_N_PLUS_ONE = '''
def list_bookmarks(engine, owner_id, tag=None):
    query = sa.select(bookmarks.c.id).where(bookmarks.c.owner_id == owner_id).order_by(bookmarks.c.id)
    if tag is not None:
        query = query.where(bookmarks.c.id.in_(sa.select(tags.c.bookmark_id).where(tags.c.name == tag.lower())))
    with engine.connect() as connection:
        ids = connection.execute(query).scalars().all()
    return [get_bookmark(engine, owner_id, bookmark_id) for bookmark_id in ids]
'''
LIST_LEFT_JOIN = '''
def list_bookmarks(engine, owner_id, tag=None):
    query = (sa.select(bookmarks, tags.c.name).outerjoin(tags, tags.c.bookmark_id == bookmarks.c.id)
             .where(bookmarks.c.owner_id == owner_id).order_by(bookmarks.c.id, tags.c.name))
    found = {}
    with engine.connect() as connection:
        for row in connection.execute(query):
            entry = found.setdefault(row.id, {"id": row.id, "url": row.url, "title": row.title, "tags": []})
            if row.name is not None:
                entry["tags"].append(row.name)
    listed = list(found.values())
    return [b for b in listed if tag.strip().lower() in b["tags"]] if tag is not None else listed
'''
LIST_INNER_JOIN = LIST_LEFT_JOIN.replace(".outerjoin(", ".join(")  # untagged bookmarks vanish
PBKDF2 = '''
from hashlib import pbkdf2_hmac


def hash_password(password):
    salt = secrets.token_bytes(16)
    return "pbkdf2${iterations}$" + salt.hex() + "$" + pbkdf2_hmac("{name}", password.encode(), salt, {iterations}).hex()


def verify_password(password, stored):
    try:
        scheme, iterations, salt, digest = stored.split("$")
        candidate = pbkdf2_hmac("{name}", password.encode(), bytes.fromhex(salt), int(iterations))
        return scheme == "pbkdf2" and {compare}(candidate, bytes.fromhex(digest))
    except (ValueError, AttributeError):
        return False
'''


def _pbkdf2(iterations: int, name: str = "sha256", compare: str = "hmac.compare_digest") -> str:
    return PBKDF2.replace("{iterations}", str(iterations)).replace("{name}", name).replace("{compare}", compare)


def _varied_all(grade_id: str, changes: list[tuple[str, str]]) -> str:
    source = _reference(grade_id)
    for old, new in changes:
        assert source.count(old) == 1, (grade_id, old)
        source = source.replace(old, new)
    return source


CREDENTIALS_BY_HAND = """    def credentials(body, *, strict):
        if not isinstance(body, dict) or set(body) != {"email", "password"} or \\
                not all(isinstance(body[k], str) for k in body):
            raise HTTPException(422, "send exactly an email and a password, as strings")
"""
CREDENTIALS_BY_MODEL = """    from pydantic import BaseModel, ConfigDict, ValidationError

    class Credentials(BaseModel):
        model_config = ConfigDict(extra="forbid", strict=True)
        email: str
        password: str

    def credentials(body, *, strict):
        try:
            Credentials.model_validate(body)
        except ValidationError as error:
            raise HTTPException(422, "; ".join(problem["msg"] for problem in error.errors())) from None
"""


EXERCISE_05_VARIANTS = [
    ("clean_bookmark_tests", "clean_bookmark", "scheme-case-sensitive",
     lambda: _varied("clean_bookmark", 'parts.scheme.lower() not in {"http", "https"}',
                     'not url.startswith(("http://", "https://"))'), False),
    ("users_table_tests", "users_table", "address-not-lowercased",
     lambda: _varied("users_table", "email=email.strip().lower()", "email=email.strip()"), False),
    ("bookmarks_table_tests", "bookmarks_table", "list-n-plus-one",
     lambda: _reference("bookmarks_table") + LIST_N_PLUS_ONE, False),
    ("bookmarks_table_tests", "bookmarks_table", "list-inner-join",
     lambda: _reference("bookmarks_table") + LIST_INNER_JOIN, False),
    ("bookmarks_table_tests", "bookmarks_table", "list-left-join-one-query",
     lambda: _reference("bookmarks_table") + LIST_LEFT_JOIN, True),
    ("passwords_tests", "passwords", "scrypt-old-n-2-14",
     lambda: _reference("passwords").replace("2**17", "2**14"), False),
    ("passwords_tests", "passwords", "scrypt-2-17-without-maxmem",
     lambda: _reference("passwords").replace(", maxmem=128 * r * (n + p + 2))", ")"), False),
    ("passwords_tests", "passwords", "pbkdf2-100k", lambda: _pbkdf2(100_000), False),
    ("passwords_tests", "passwords", "pbkdf2-superseded-310k", lambda: _pbkdf2(310_000), False),
    ("passwords_tests", "passwords", "pbkdf2-sha1-600k", lambda: _pbkdf2(600_000, "sha1"), False),
    ("passwords_tests", "passwords", "pbkdf2-600k-compared-with-eq",
     lambda: _pbkdf2(600_000, compare="(lambda a, b: a == b)"), False),
    ("passwords_tests", "passwords", "pbkdf2-sha256-600k", lambda: _pbkdf2(600_000), True),
    ("tokens_tests", "tokens", "valid-at-the-expiry-second",
     lambda: _varied("tokens", "if now >= expires:", "if now > expires:"), False),
    ("cache_tests", "cache", "empty-list-is-a-miss",
     lambda: _varied("cache", "if cached is not None:", "if cached is not None and json.loads(cached):"), False),
    ("rate_limit_tests", "rate_limit", "never-expires",
     lambda: _varied("rate_limit", "    pipe.expire(counter, window * 2)\n", ""), False),
    ("rate_limit_tests", "rate_limit", "expires-after-one-second",
     lambda: _varied("rate_limit", "pipe.expire(counter, window * 2)", "pipe.expire(counter, 1)"), False),
    ("rate_limit_tests", "rate_limit", "expires-at-the-window-end",
     lambda: _varied("rate_limit", "pipe.expire(counter, window * 2)",
                     "pipe.expire(counter, math.ceil(window - now % window))").replace(
                         "def allow(", "import math\n\n\ndef allow(", 1), True),
    ("settings_tests", "settings", "zero-accepted",
     lambda: _varied("settings", "if not raw.isdigit() or int(raw) <= 0:", "if not raw.isdigit():"), False),
    *[("http_accounts_tests", "http_api", name, partial(_varied_all, "http_api", changes), passes)
      for name, changes, passes in [
          ("taken-address-400", [("HTTPException(409,", "HTTPException(400,")], False),
          ("login-held-to-sign-up-rules", [("strict=False)", "strict=True)")], False),
          ("wrong-password-403", [('HTTPException(401, "wrong e-mail', 'HTTPException(403, "wrong e-mail')], False),
          ("extra-fields-accepted", [('set(body) != {"email", "password"}', 'not {"email", "password"} <= set(body)')],
           False),
          ("expires-in-fixed", [('"expires_in": settings.token_ttl}', '"expires_in": 3600}')], False),
          ("sign-up-answer-carries-the-hash", [('return {"id": user_id, "email": email.strip().lower()}',
                                                 'return {"id": user_id, "email": email.strip().lower(), '
                                                 '"password_hash": find_user(engine, email)[1]}')], False),
          ("401-without-www-authenticate", [('"wrong e-mail or password", headers={"WWW-Authenticate": "Bearer"})',
                                             '"wrong e-mail or password")')], True),
          ("credentials-by-a-strict-pydantic-model", [(CREDENTIALS_BY_HAND, CREDENTIALS_BY_MODEL)], True),
      ]],
    *[("http_bookmarks_tests", "http_api", name, partial(_varied_all, "http_api", changes), passes)
      for name, changes, passes in [
          ("another-users-bookmark-403", [('raise HTTPException(404, "no such bookmark")\n        return found',
                                           'raise HTTPException(403, "not yours")\n        return found')], False),
          ("delete-answers-200", [('@app.delete("/bookmarks/{bookmark_id}", status_code=204)',
                                   '@app.delete("/bookmarks/{bookmark_id}")'),
                                  ("return Response(status_code=204)", 'return {"deleted": bookmark_id}')], False),
          ("no-forget-after-delete", [("        if store is not None:\n            forget_list(store, user_id)\n"
                                       "        return Response(status_code=204)", "        return Response(status_code=204)")],
           False),
          ("cached-list-for-a-tag", [("if tag is not None or store is None:", "if store is None:")], False),
          ("tagged-list-cached-as-the-list", [("if tag is not None or store is None:", "if store is None:"),
                                              ("lambda: list_bookmarks(engine, user_id))",
                                               "lambda: list_bookmarks(engine, user_id, tag))")], False),
          ("one-counter-for-everyone", [('f"user:{user_id}"', '"everyone"')], False),
          ("delete-returns-none", [("return Response(status_code=204)", "return None")], True),
          ("tag-filtered-from-the-cached-list", [(
              "        return cached_list(store, user_id, lambda: list_bookmarks(engine, user_id))",
              "        listed = cached_list(store, user_id, lambda: list_bookmarks(engine, user_id))\n"
              '        return [b for b in listed if tag.strip().lower() in b["tags"]] if tag is not None else listed'),
              ("if tag is not None or store is None:", "if store is None:")], True),
      ]],
    ("retries_tests", "retries", "500-retried",
     lambda: _varied("retries", "not in {502, 503, 504}", "not in {500, 502, 503, 504}"), False),
    ("circuit_breaker_tests", "circuit_breaker", "success-keeps-the-count",
     lambda: _varied("circuit_breaker", "self.count, self.opened_at = 0, None", "self.opened_at = None"), False),
]


@pytest.fixture(scope="module")
def exercise_05():
    """Run the setup cell, the answers and one test cell in a fresh IPython namespace; True if it passed."""
    from factories import part_runner

    with part_runner(STEM_05, ANSWERS_05) as run:
        yield run


@pytest.mark.slow
@pytest.mark.service
@pytest.mark.parametrize("test_id, answer_id, name, answer, passes", EXERCISE_05_VARIANTS,
                         ids=[v[2] for v in EXERCISE_05_VARIANTS])
def test_exercise_05_hidden_tests_judge_other_answers(exercise_05, test_id, answer_id, name, answer, passes):
    assert exercise_05(test_id, **{answer_id: answer()}) is passes, name


def test_exercise_05_grades_passwords_against_the_cited_figures():
    """Part D states and grades OWASP's figures, the ones course/data/password_storage.yaml cites."""
    from factories import graded_cells

    guidance = capstone.password_guidance()
    nb = nbformat.read(paths.solution_path(STEM_05), as_version=4)
    instructions = next(c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id")
                        == "passwords_instructions")
    tests = graded_cells(STEM_05)["passwords_tests"]
    assert guidance["scrypt"]["n"] == 2**17 and "`n` at least `2**17`, `r` at least 8" in instructions
    assert guidance["pbkdf2_hmac_sha256"]["iterations"] == 600_000 and "600,000 iterations" in instructions
    assert guidance["url"] in instructions and str(guidance["retrieved"]) in instructions
    assert "n >= 2**17 and r >= 8" in tests and "iterations >= 600_000" in tests and "maxmem=" in instructions
    bookmarks = next(c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id")
                     == "bookmarks_table_instructions")
    assert "at most 3 SQL statements" in bookmarks and "len(sent) <= 3" in graded_cells(STEM_05)["bookmarks_table_tests"]


def test_rate_limit_expiry_rule_is_the_same_in_exercises_04_and_05():
    """04 Part J and 05 Part G state one rule for a counter's expiry, and their hidden tests grade that rule."""
    rule = "**at least the time left in its window** (a whole `window` is simplest) **and at most two windows**"
    sources = {stem: nbformat.read(paths.solution_path(stem), as_version=4).cells for stem in ("04-databases", STEM_05)}
    for stem, cells in sources.items():
        text = "\n".join(c.source for c in cells)
        assert rule in " ".join(text.split()), stem
        assert "left - 5 <= ttls[0] <= 120" in text, stem


@pytest.mark.slow
@pytest.mark.service
@pytest.mark.parametrize("test_id", ["passwords_tests", "http_accounts_tests", "http_bookmarks_tests"])
def test_exercise_05_reference_passes_the_hashing_parts(exercise_05, test_id):
    """Parts D, I and J hash inside low_cost_kdf() (a 30 s cell limit and OWASP-strength hashing)."""
    source = nbformat.read(paths.solution_path(STEM_05), as_version=4)
    test_cell = next(c.source for c in source.cells if c.metadata.get("nbgrader", {}).get("grade_id") == test_id)
    assert test_cell.splitlines()[1].startswith("with all_checks(), low_cost_kdf():")  # every failing check listed
    assert exercise_05(test_id)


def test_low_cost_kdf_keeps_openssl_memory_rule_and_restores_hashlib():
    import hashlib

    namespace: dict = {}
    exec(_reference("setup"), namespace)  # noqa: S102 - the exercise's own setup cell
    real, salt = hashlib.scrypt, b"s" * 16
    try:
        with namespace["low_cost_kdf"]():
            assert hashlib.scrypt is not real
            with pytest.raises(ValueError, match="memory limit exceeded"):  # n=2**15 without maxmem, as OpenSSL
                hashlib.scrypt(b"x", salt=salt, n=2**15, r=8, p=1)
            cheap = hashlib.scrypt(b"x", salt=salt, n=2**17, r=8, p=1, maxmem=128 * 8 * (2**17 + 3), dklen=32)
            pbkdf2 = hashlib.pbkdf2_hmac("sha256", b"x", salt, 600_000)
        assert hashlib.scrypt is real and pbkdf2 == hashlib.pbkdf2_hmac("sha256", b"x", salt, 1000)
        assert cheap == real(b"x", salt=salt, n=2**10, r=8, p=1, dklen=32)
    finally:
        shutil.rmtree(namespace["WORK"], ignore_errors=True)
