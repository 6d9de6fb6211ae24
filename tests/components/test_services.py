"""course.components.services: a real embedded PostgreSQL and Valkey, environment overrides, and clean stops."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
import pytest
import sqlalchemy as sa
from factories import orphans_alone

from course.components import services, waits

pytestmark = pytest.mark.service


def test_embedded_postgres_runs_real_sql_and_stop_removes_its_data(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    url = services.postgres_url()
    assert services.postgres_url() == url  # started once per process
    engine = sa.create_engine(services.sqlalchemy_url())
    with engine.connect() as connection:
        version = connection.execute(sa.text("select version()")).scalar()
    engine.dispose()
    assert version.startswith("PostgreSQL")
    directory = services._postgres.directory
    assert services.stop_postgres() is True
    assert not directory.exists()
    assert services.stop_postgres() is False


def test_database_url_wins_and_nothing_starts(monkeypatch):
    running = services._postgres  # one an earlier test in this worker started, or None: nothing new may start
    monkeypatch.setenv("DATABASE_URL", "postgresql://someone@db.example/course")
    assert services.postgres_url() == "postgresql://someone@db.example/course"
    assert services.sqlalchemy_url() == "postgresql+psycopg://someone@db.example/course"
    assert services._postgres is running


def test_embedded_redis_and_its_cleanup(monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    client = services.redis_client(decode_responses=True)
    client.set("visits", 1)
    assert client.incr("visits") == 2
    directory = Path(services._redis.directory)
    assert services.status()["redis"].startswith("unix://")
    assert services.server_version(client).startswith("Valkey 9.")  # not the compatibility field's "7.2.4"
    # Its own session: Jupyter's interrupt (SIGINT to the kernel's process group) must not reach it.
    assert os.getsid(services._redis.pid) != os.getsid(0)
    assert client.xadd("events", {"kind": "signup"}) and client.xlen("events") == 1  # streams too
    assert services.stop_all() == ["redis"]
    assert not directory.exists()


def test_redis_url_wins(monkeypatch):
    running = services._redis  # one an earlier test in this worker started, or None: nothing new may start
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    client = services.redis_client()
    assert client.connection_pool.connection_kwargs["port"] == 1
    assert services._redis is running


def _embedded_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}


def _left_of(started: dict) -> list:
    """What is still there of the servers a child reported: their processes (by pid, and any process working
    in their folders), the watchdog, and the folders."""
    pids = [started["redis"], started["postgres"], started["watchdog"]]
    running = [pid for pid in pids if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
    for process in psutil.process_iter(["cwd"]):
        cwd = process.info["cwd"] or ""
        if any(cwd.startswith(folder) for folder in started["folders"]) and process.pid not in running:
            running.append(process.pid)
    return running + [folder for folder in started["folders"] if Path(folder).exists()]


START_BOTH = """
import json, sys, time
from course.components import services
services.redis_client().set("k", 1)
services.stop_redis()  # a stop and a second start, as a lesson re-run does
services.redis_client().set("k", 1)
services.postgres_url()
print(json.dumps({"redis": services._redis.pid, "postgres": services._postgres.pid,
                  "watchdog": services._watchdog.pid,
                  "folders": [str(services._redis.directory), str(services._postgres.directory)]}), flush=True)
if sys.argv[1] == "wait":
    time.sleep(3600)
"""


def _start_both(how: str) -> tuple[subprocess.Popen, dict]:
    child = subprocess.Popen([sys.executable, "-W", "ignore", "-c", START_BOTH, how], stdout=subprocess.PIPE,
                             text=True, env=_embedded_env(), start_new_session=True)
    line = child.stdout.readline()
    assert line, f"the child exited with {child.wait()} before starting its servers"
    return child, json.loads(line)


def test_servers_started_by_a_process_stop_when_it_exits():
    """A kernel restart or a script's end must not leave a database server behind, nor its watchdog."""
    child, started = _start_both("exit")
    assert child.wait(timeout=waits.scaled(60)) == 0
    waits.wait_until(lambda: _left_of(started) == [], 15, what="the servers of a process that exited to stop")


def test_a_killed_process_leaves_no_server_and_no_folder():
    """SIGKILL to the process group, as Jupyter kills a kernel: no exit hook runs, the watchdog cleans up."""
    child, started = _start_both("wait")
    assert all(psutil.pid_exists(pid) for pid in (started["redis"], started["postgres"], started["watchdog"]))
    assert all(Path(folder).exists() for folder in started["folders"])
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    waits.wait_until(lambda: _left_of(started) == [], 10, what="the servers of a killed process to stop")


def test_orphans_are_found_and_cleaned_and_nothing_else(monkeypatch):
    """When the watchdog dies too, the servers are orphans: orphans() finds them by their folders' owner file,
    clean_orphans() stops them; a server whose owner lives, and a folder the course did not make, stay."""
    with orphans_alone():  # clean_orphans() stops every orphan on the machine, test_ci_rule's too
        _orphans_are_found_and_cleaned_and_nothing_else(monkeypatch)


def _orphans_are_found_and_cleaned_and_nothing_else(monkeypatch):
    child, started = _start_both("wait")
    os.kill(started["watchdog"], signal.SIGKILL)
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    foreign = Path(tempfile.mkdtemp(prefix="course-redis-"))  # no owner.json: not ours to judge
    monkeypatch.delenv("REDIS_URL", raising=False)
    services.redis_client().ping()  # this process's own: in use, never an orphan
    mine = str(services._redis.directory)
    try:
        found = {str(o.directory): o for o in services.orphans()}
        assert {started["folders"][0], started["folders"][1]} <= set(found)
        assert mine not in found and str(foreign) not in found
        assert started["redis"] in found[started["folders"][0]].pids
        assert started["postgres"] in found[started["folders"][1]].pids
        assert "postgres in" in str(found[started["folders"][1]])
        cleaned = {str(o.directory) for o in services.clean_orphans()}
        assert {started["folders"][0], started["folders"][1]} <= cleaned
        waits.wait_until(lambda: _left_of({**started, "watchdog": started["redis"]}) == [], 10,
                         what="the orphans to be cleaned")
        assert services.redis_client().ping() and Path(mine).exists() and foreign.exists()
    finally:
        foreign.rmdir()
        services.stop_redis()


def test_schema_url_gives_each_user_an_empty_schema_of_its_own(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    first = sa.create_engine(services.schema_url("course_a"))
    with first.begin() as connection:
        connection.execute(sa.text("CREATE TABLE t (x int)"))
    second = sa.create_engine(services.schema_url("course_b"))
    with second.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM pg_tables WHERE tablename = 't' "
                                          "AND schemaname = current_schema()")).scalar() == 0
    again = sa.create_engine(services.schema_url("course_a"))  # dropped and created again: empty
    with again.connect() as connection:
        assert connection.execute(sa.text("SELECT current_schema()")).scalar() == "course_a"
        assert connection.execute(sa.text("SELECT count(*) FROM pg_tables WHERE schemaname = 'course_a'"))\
            .scalar() == 0
    for engine in (first, second, again):
        engine.dispose()
    with pytest.raises(ValueError, match="not a plain schema name"):
        services.schema_url("a; DROP TABLE x")


@pytest.mark.slow
def test_a_kernel_killed_by_jupyter_leaves_no_server_and_no_folder():
    """The lesson's case: a Jupyter kernel that started both servers is killed as JupyterLab kills one."""
    from jupyter_client.manager import KernelManager

    manager = KernelManager(kernel_name="python3")
    manager.start_kernel(env=_embedded_env())
    client = manager.client()
    client.start_channels()
    printed = []
    try:
        client.wait_for_ready(timeout=waits.scaled(60))
        code = "\n".join(START_BOTH.splitlines()[:-2]).replace("print(json.dumps(", "print('STARTED', json.dumps(")
        client.execute_interactive(code, timeout=waits.scaled(120), output_hook=lambda message: printed.append(
            message["content"].get("text", "")) if message["msg_type"] == "stream" else None)
        started = json.loads("".join(printed).split("STARTED", 1)[1])
        manager.shutdown_kernel(now=True)  # SIGKILL to the kernel's process group: no exit hook runs
        waits.wait_until(lambda: _left_of(started) == [], 10, what="the servers of a killed kernel to stop")
    finally:
        client.stop_channels()
        if manager.is_alive():
            manager.shutdown_kernel(now=True)


@pytest.mark.slow
def test_an_answer_that_kills_its_grading_kernel_leaves_no_server(tmp_path):
    """`course grade 04` where an answer starts PostgreSQL (the setup cell started Redis) and kills the kernel."""
    import nbformat
    from factories import answer_with

    from course.platform import workspace

    synced = tmp_path / "ws"
    workspace.sync(synced)
    mine = workspace.exercise_copy(synced, "04-databases")
    first = next(c for c in nbformat.read(mine, as_version=4).cells if c.metadata.get("nbgrader", {}).get("solution"))
    marker = tmp_path / "started.json"
    answer_with(mine, first.metadata["nbgrader"]["grade_id"], (
        "import json, os, signal\n"
        "services.postgres_url()\n"
        f"open({str(marker)!r}, 'w').write(json.dumps([str(services._postgres.directory), "
        "str(services._redis.directory)]))\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"))
    done = subprocess.run([sys.executable, "-m", "course", "grade", "04", "--workspace", str(synced)],
                          capture_output=True, text=True, timeout=waits.scaled(300),
                          # the answer reports its servers' folders outside its own folder, which the grading
                          # sandbox forbids (and its pid namespace ends everything anyway): this is the watchdog
                          # that guards a machine where grading runs without the sandbox
                          env={**_embedded_env(), "COURSE_SANDBOX": "off"})
    assert "score: 0 /" in done.stdout, done.stdout[-2000:] + done.stderr[-2000:]
    folders = json.loads(marker.read_text())

    def nothing_left() -> bool:
        working = [p for p in psutil.process_iter(["cwd"])
                   if any((p.info["cwd"] or "").startswith(folder) for folder in folders)]
        return not working and not any(Path(folder).exists() for folder in folders)

    waits.wait_until(nothing_left, 10, what="the grading kernel's servers to stop")
