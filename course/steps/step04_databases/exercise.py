"""What exercise 04's hidden tests use to grade an answer on both engines and under concurrency.

- :func:`on_each_engine` runs a part's checks on SQLite, then on the course's PostgreSQL, and reports each
  engine on its own line, so an answer that relies on SQLite-only behaviour fails with the engine named.
- :func:`slowed` and :class:`SlowRedis` pause after every SQL statement or Redis command: a race in an
  answer (read, then write what was read) shows up every time instead of now and then, while an answer that
  lets the database or Redis do the update in one step stays correct, only slower.
- :func:`concurrently` calls a function from many threads released at the same moment.
- :func:`stale_copy_on_commit` plays a reader that caches the old row while an update commits.
- :func:`prepare_postgres` starts the course's PostgreSQL in the background, so that it boots while the
  SQLite checks run.
- :func:`twins_shop` is a shop whose data catches what tidy data hides: two customers share a name, ids do not
  run in name order, and rows are not inserted sorted.
"""

from __future__ import annotations

import sys
import threading
import time
from contextlib import contextmanager, suppress

import sqlalchemy as sa

from course.grading.checks import CheckFailed, _collector_around, all_checks

__all__ = ["ENGINES", "prepare_postgres", "on_each_engine", "slowed", "SlowRedis", "concurrently", "stale_copy_on_commit",
           "TWINS_CUSTOMERS", "TWINS_ORDERS", "twins_shop"]

ENGINES = (("SQLite", "sqlite"), ("PostgreSQL", "postgres"))  # (name shown, URL for scratch_engine)


def prepare_postgres() -> threading.Thread:
    """Start the course's PostgreSQL in a background thread (a no-op once it runs); returns the thread.

    Whoever asks for its URL meanwhile waits for the start to finish; an error shows there, not here.
    """
    from course.components import services

    def start():
        with suppress(Exception):  # the first real use reports the error, with its engine named
            services.start_postgres()

    thread = threading.Thread(target=start, name="course-postgres-start", daemon=True)
    thread.start()
    return thread


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")


def on_each_engine(checks, engines=ENGINES) -> None:
    """Run ``checks(url, where)`` once per engine, print one verdict line per engine, and fail if any failed.

    Every check of an engine's run is run (they run inside an ``all_checks()`` block of their own), and each
    failing one is reported on a line of its own that names the engine (``FAIL ✘ on PostgreSQL: ...``); an
    exception from the answer is shown with its engine. Called inside a cell's ``with all_checks():`` block,
    those lines join the block's other failures and the cell's later checks still run; called outside one,
    it raises a :class:`CheckFailed` listing them. The scratch engines made during an engine's run are
    disposed when it ends, passed or failed, so that no PostgreSQL connection outlives the run.
    """
    __tracebackhide__ = True
    from course.steps.step04_databases import relational

    failed = []
    for where, url in engines:
        print(f"-- on {where}")
        why = []
        try:
            with relational.scratch_engines_disposed(), all_checks():
                checks(url, where)
        except CheckFailed as failure:
            why = [line.removeprefix("FAIL ✘ ") for line in str(failure).splitlines() if line.strip()]
        except Exception as error:  # noqa: BLE001 - the answer's own error, reported with its engine
            why = [f"your code raised {_first_line(error)}"]
        print(f"{where}: {'FAIL ✘ ' + '; '.join(why) if why else 'PASS ✔ every check'}")
        failed += [f"FAIL ✘ on {where}: {line}" for line in why]
    if not failed:
        return
    collector = _collector_around(sys._getframe(1))
    if collector is None:
        raise CheckFailed("\n".join(failed))
    collector.failures.extend(failed)


@contextmanager
def slowed(engine: sa.Engine, pause: float = 0.01):
    """Inside the block, every statement ``engine`` runs is followed by a pause of ``pause`` seconds."""

    def wait(*_args):
        time.sleep(pause)

    sa.event.listen(engine, "after_cursor_execute", wait)
    try:
        yield engine
    finally:
        sa.event.remove(engine, "after_cursor_execute", wait)


def _redis_class():
    import redis

    class SlowRedis(redis.Redis):
        """A client on the same server (and connection pool) as ``client`` that pauses after each command.

        Pipelines send their commands together, as on the real client (MULTI/EXEC stays atomic).
        """

        def __init__(self, client, pause: float = 0.005):
            super().__init__(connection_pool=client.connection_pool)
            self.pause = pause

        def execute_command(self, *args, **options):
            result = super().execute_command(*args, **options)
            time.sleep(self.pause)
            return result

    return SlowRedis


def SlowRedis(client, pause: float = 0.005):  # noqa: N802 - reads as the class it builds
    """A redis-py client like ``client`` that pauses ``pause`` seconds after every command it sends."""
    return _redis_class()(client, pause)


def concurrently(func, arguments: list[tuple], timeout: float = 120.0) -> list:
    """Call ``func(*args)`` for each tuple of ``arguments``, each in its own thread, all released together.

    Returns, in the same order, each call's result or the exception it raised.
    """
    barrier = threading.Barrier(len(arguments))
    outcomes: list = [None] * len(arguments)

    def run(index, args):
        try:
            barrier.wait(timeout)
            outcomes[index] = func(*args)
        except BaseException as error:  # noqa: BLE001 - the outcome of that call, returned to the caller
            outcomes[index] = error

    threads = [threading.Thread(target=run, args=(i, args), daemon=True) for i, args in enumerate(arguments)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    if any(thread.is_alive() for thread in threads):
        raise CheckFailed(f"FAIL ✘ {len(arguments)} concurrent calls did not finish within {timeout:.0f} s "
                          "(a deadlock, or a lock never released?)")
    return outcomes


@contextmanager
def stale_copy_on_commit(engine: sa.Engine, client, key: str):
    """While the block runs, each commit on ``engine`` first puts back the copy of ``key`` that Redis held
    when the block began: a reader that read the row before the update committed, and is caching that old
    copy now. An entry deleted only *before* the commit is back, stale; one deleted after the commit is gone.

    The copy is Redis's own serialisation (``DUMP``/``RESTORE``), so it works whatever type the cache uses.
    """
    saved = client.dump(key)

    def recache(_conn):
        if saved is not None:
            client.restore(key, 0, saved, replace=True)

    sa.event.listen(engine, "commit", recache)
    try:
        yield
    finally:
        sa.event.remove(engine, "commit", recache)


# Two customers named Ada (ids 2 and 4); Zoe has id 1; rows inserted in neither id nor name order. Spend:
# Max 800 (1 order), Zoe 800 (2), Ada#2 500 (1), Cy 500 (1), Ada#4 300 (2, one not priced), Bea nothing.
TWINS_CUSTOMERS = [
    {"id": 5, "name": "Bea", "email": "bea@example.com", "city": "Nantes"},
    {"id": 1, "name": "Zoe", "email": "zoe@example.com", "city": "Paris"},
    {"id": 4, "name": "Ada", "email": "ada.two@example.com", "city": "LYON"},
    {"id": 2, "name": "Ada", "email": "ada@example.com", "city": "Lyon"},
    {"id": 6, "name": "Cy", "email": "cy@example.com", "city": None},
    {"id": 3, "name": "Max", "email": "max@example.com", "city": None},
]
TWINS_ORDERS = [
    {"id": 7, "customer_id": 4, "status": "pending", "created_at": "2025-04-01T08:00:00", "total_cents": None},
    {"id": 2, "customer_id": 1, "status": "paid", "created_at": "2025-01-09T10:00:00", "total_cents": 400},
    {"id": 5, "customer_id": 3, "status": "paid", "created_at": "2025-03-01T12:00:00", "total_cents": 800},
    {"id": 1, "customer_id": 1, "status": "shipped", "created_at": "2025-01-02T09:00:00", "total_cents": 400},
    {"id": 6, "customer_id": 6, "status": "paid", "created_at": "2025-03-15T16:30:00", "total_cents": 500},
    {"id": 3, "customer_id": 2, "status": "paid", "created_at": "2025-02-01T11:00:00", "total_cents": 500},
    {"id": 4, "customer_id": 4, "status": "paid", "created_at": "2025-02-20T18:00:00", "total_cents": 300},
]


def twins_shop(url: str | None = None) -> sa.Engine:
    """A fresh shop with :data:`TWINS_CUSTOMERS` and :data:`TWINS_ORDERS`, inserted in the order listed."""
    from course.steps.step04_databases.relational import shop_with

    return shop_with(url, customers=TWINS_CUSTOMERS, orders=TWINS_ORDERS)
