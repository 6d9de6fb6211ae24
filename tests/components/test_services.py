"""course.components.services: a real embedded PostgreSQL and Redis, environment overrides, and clean stops."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlalchemy as sa

from course.components import services

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
    monkeypatch.setenv("DATABASE_URL", "postgresql://someone@db.example/course")
    assert services.postgres_url() == "postgresql://someone@db.example/course"
    assert services.sqlalchemy_url() == "postgresql+psycopg://someone@db.example/course"
    assert services._postgres is None


def test_embedded_redis_and_its_cleanup(monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    client = services.redis_client(decode_responses=True)
    client.set("visits", 1)
    assert client.incr("visits") == 2
    directory = Path(services._redis.directory)
    assert services.status()["redis"].startswith("unix://")
    assert services.stop_all() == ["redis"]
    assert not directory.exists()


def test_redis_url_wins(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    client = services.redis_client()
    assert client.connection_pool.connection_kwargs["port"] == 1
    assert services._redis is None


def test_servers_started_by_a_process_stop_when_it_exits(tmp_path):
    """A kernel restart or a script's end must not leave a database server behind."""
    import subprocess
    import sys
    import time

    import psutil

    script = (
        "from course.components import services\n"
        "services.redis_client().set('k', 1)\n"
        "services.stop_redis()\n"  # a stop and a second start, as a lesson re-run does
        "services.redis_client().set('k', 1)\n"
        "services.postgres_url()\n"
        "print(services._redis.pid, services._postgres.server.get_pid(), services._postgres.directory)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", script], capture_output=True, text=True,
                         check=True, timeout=120, env=env).stdout.split()
    redis_pid, postgres_pid, directory = int(out[0]), int(out[1]), Path(out[2])
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and (psutil.pid_exists(redis_pid) or psutil.pid_exists(postgres_pid)):
        time.sleep(0.2)
    assert not psutil.pid_exists(redis_pid)
    assert not psutil.pid_exists(postgres_pid)
    assert not directory.exists()


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
