"""Step 04b · correct under concurrency, on real PostgreSQL: what the deep-dive lesson and its exercise share.

- :func:`sqlstate` reads the SQLSTATE of a database error (SQLAlchemy's or psycopg's), and :data:`RETRYABLE`
  names the two a transaction may be retried on: ``40001`` (serialization failure) and ``40P01`` (deadlock).
- :func:`anomaly_table` plays each classic anomaly (dirty read, non-repeatable read, phantom, lost update,
  write skew) with two real sessions at each isolation level and reports what happened: measured in the
  run, never copied from a table in a book.
- :func:`theatre` and :func:`ledger` make the exercise's databases; :class:`ConflictingWork` is a unit of
  work that fails its first attempts with a real serialization failure or a real deadlock, for grading a
  retry wrapper; :func:`unanswered` lets a stub not written yet say so instead of being judged a race.

Everything runs on a PostgreSQL engine (``relational.scratch_engine("postgres")``); nothing here is a mock.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

import sqlalchemy as sa

from course.components.waits import scaled

__all__ = [
    "SERIALIZATION_FAILURE", "DEADLOCK_DETECTED", "RETRYABLE", "LEVELS", "ANOMALIES", "sqlstate", "anomaly",
    "anomaly_table", "theatre", "bookings", "seats_left", "ledger", "ConflictingWork", "unanswered",
]

SERIALIZATION_FAILURE = "40001"
DEADLOCK_DETECTED = "40P01"
RETRYABLE = frozenset({SERIALIZATION_FAILURE, DEADLOCK_DETECTED})
LEVELS = ("READ UNCOMMITTED", "READ COMMITTED", "REPEATABLE READ", "SERIALIZABLE")


def sqlstate(error: BaseException | None) -> str | None:
    """The SQLSTATE of a database error: SQLAlchemy's ``DBAPIError`` (its ``.orig``) or the driver's own
    exception; ``None`` for anything else."""
    seen = 0
    while error is not None and seen < 5:
        code = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
        if code:
            return code
        error = getattr(error, "orig", None) or error.__cause__
        seen += 1
    return None


# --- the anomaly table -----------------------------------------------------------------------------------

VALUE = sa.text("SELECT value FROM anomaly_items WHERE id = 1")
SET_VALUE = sa.text("UPDATE anomaly_items SET value = :value WHERE id = 1")
ON_CALL = sa.text("SELECT COUNT(*) FROM anomaly_doctors WHERE on_call")


def _reset(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS anomaly_items, anomaly_doctors")
        conn.exec_driver_sql("CREATE TABLE anomaly_items (id INTEGER PRIMARY KEY, value INTEGER NOT NULL)")
        conn.exec_driver_sql("INSERT INTO anomaly_items VALUES (1, 100), (2, 100)")
        conn.exec_driver_sql("CREATE TABLE anomaly_doctors (name TEXT PRIMARY KEY, on_call BOOLEAN NOT NULL)")
        conn.exec_driver_sql("INSERT INTO anomaly_doctors VALUES ('Ada', true), ('Bob', true)")


def _dirty_read(a, b, engine) -> bool:
    """B changes a row and has not committed: does A read B's uncommitted value?"""
    b.execute(SET_VALUE, {"value": 999})
    seen = a.execute(VALUE).scalar_one()
    b.rollback()
    return seen == 999


def _non_repeatable_read(a, b, engine) -> bool:
    """A reads a row twice; between the reads B changes it and commits: do A's two reads differ?"""
    first = a.execute(VALUE).scalar_one()
    b.execute(SET_VALUE, {"value": first + 1})
    b.commit()
    return a.execute(VALUE).scalar_one() != first


def _phantom(a, b, engine) -> bool:
    """A counts the rows matching a condition twice; between the counts B inserts one and commits: do the
    counts differ?"""
    count = sa.text("SELECT COUNT(*) FROM anomaly_items WHERE value >= 100")
    first = a.execute(count).scalar_one()
    b.exec_driver_sql("INSERT INTO anomaly_items VALUES (3, 150)")
    b.commit()
    return a.execute(count).scalar_one() != first


def _lost_update(a, b, engine) -> bool:
    """A and B both read a value and both write it plus 10, B first: is one of the two additions lost?"""
    seen_a, seen_b = a.execute(VALUE).scalar_one(), b.execute(VALUE).scalar_one()
    b.execute(SET_VALUE, {"value": seen_b + 10})
    b.commit()
    a.execute(SET_VALUE, {"value": seen_a + 10})
    a.commit()
    with engine.connect() as check:
        return check.execute(VALUE).scalar_one() != 120


def _write_skew(a, b, engine) -> bool:
    """The rule: at least one doctor on call. A and B each see two on call and each take one off: do both
    commit, leaving nobody on call?"""
    for session, name in ((a, "Ada"), (b, "Bob")):
        if session.execute(ON_CALL).scalar_one() >= 2:
            session.execute(sa.text("UPDATE anomaly_doctors SET on_call = false WHERE name = :n"), {"n": name})
    a.commit()
    b.commit()
    with engine.connect() as check:
        return check.execute(ON_CALL).scalar_one() == 0


ANOMALIES: dict[str, Callable] = {
    "dirty read": _dirty_read,
    "non-repeatable read": _non_repeatable_read,
    "phantom read": _phantom,
    "lost update": _lost_update,
    "write skew": _write_skew,
}


def anomaly(engine: sa.Engine, name: str, level: str) -> str:
    """Play the anomaly ``name`` with two sessions at isolation ``level``; returns ``"happens"``,
    ``"prevented"`` or ``"refused (SQLSTATE)"`` (PostgreSQL stopped it by failing one transaction)."""
    if level not in LEVELS:
        raise ValueError(f"unknown isolation level {level!r}; one of {', '.join(LEVELS)}")
    _reset(engine)
    at_level = engine.execution_options(isolation_level=level)
    with at_level.connect() as a, at_level.connect() as b:
        try:
            happened = ANOMALIES[name](a, b, engine)
        except sa.exc.DBAPIError as error:
            if sqlstate(error) not in RETRYABLE:
                raise
            a.rollback()
            b.rollback()
            return f"refused ({sqlstate(error)})"
    return "happens" if happened else "prevented"


def anomaly_table(engine: sa.Engine, levels=LEVELS) -> list[dict]:
    """One row per anomaly: ``{"anomaly": name, level: outcome, ...}`` for every isolation level."""
    return [{"anomaly": name, **{level: anomaly(engine, name, level) for level in levels}} for name in ANOMALIES]


# --- the exercise's databases ----------------------------------------------------------------------------

def theatre(engine: sa.Engine, seats: dict[int, int]) -> sa.Engine:
    """Tables ``shows(id, title, seats_left >= 0)`` holding ``seats`` ({show id: seats}) and an empty
    ``bookings(id, show_id, buyer, seats > 0)``, created in ``engine``'s (scratch) database."""
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE shows (id INTEGER PRIMARY KEY, title TEXT NOT NULL, "
                             "seats_left INTEGER NOT NULL CHECK (seats_left >= 0))")
        conn.exec_driver_sql("CREATE TABLE bookings (id SERIAL PRIMARY KEY, "
                             "show_id INTEGER NOT NULL REFERENCES shows (id), buyer TEXT NOT NULL, "
                             "seats INTEGER NOT NULL CHECK (seats > 0))")
        for show, left in seats.items():
            conn.execute(sa.text("INSERT INTO shows VALUES (:id, :title, :left)"),
                         {"id": show, "title": f"Show {show}", "left": left})
    return engine


def seats_left(engine: sa.Engine) -> dict[int, int]:
    """``{show id: seats_left}`` of a :func:`theatre`."""
    with engine.connect() as conn:
        return dict(conn.execute(sa.text("SELECT id, seats_left FROM shows ORDER BY id")).all())


def bookings(engine: sa.Engine) -> list[tuple[int, str, int]]:
    """The ``(show_id, buyer, seats)`` rows of a :func:`theatre`'s bookings, in insertion order."""
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text("SELECT show_id, buyer, seats FROM bookings ORDER BY id"))]


def ledger(engine: sa.Engine, balances: list[int]) -> sa.Engine:
    """Table ``accounts(id, balance_cents >= 0)`` with accounts 1..n holding ``balances``, in ``engine``."""
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE accounts (id INTEGER PRIMARY KEY, "
                             "balance_cents INTEGER NOT NULL CHECK (balance_cents >= 0))")
        for account, balance in enumerate(balances, start=1):
            conn.execute(sa.text("INSERT INTO accounts VALUES (:id, :b)"), {"id": account, "b": balance})
    return engine


def unanswered(outcomes: list) -> list:
    """The outcomes of concurrent calls, unless one raised ``NotImplementedError``: that one is raised, so an
    answer not written yet is reported as such, not as a race it never ran."""
    for outcome in outcomes:
        if isinstance(outcome, NotImplementedError):
            raise outcome
    return outcomes


# --- a unit of work that fails for real ------------------------------------------------------------------

class ConflictingWork:
    """``work(conn)`` for a retry wrapper: each call records its attempt number in ``attempts`` and adds 1 to
    ``counter``; its first ``failures`` calls fail with a real PostgreSQL error:

    - ``"40001"``: another session updates the counter and commits after this attempt read it, so this
      attempt's update is a serialization failure (at REPEATABLE READ or SERIALIZABLE; at READ COMMITTED it
      silently succeeds, which is why the wrapper must ask for SERIALIZABLE);
    - ``"40001-at-commit"``: write skew on two rows, caught by SERIALIZABLE only when this attempt commits;
    - ``"40P01"``: another session and this one lock two rows in opposite orders, and this one is the
      deadlock's victim (its ``deadlock_timeout`` is the shorter; setting it needs a superuser, as the
      course's embedded PostgreSQL gives);
    - ``"23505"``: a duplicate primary key, an error that must not be retried.

    ``calls`` counts the calls; :meth:`committed` lists the attempts whose rows are in the database (only the
    last one, if the wrapper rolled back each failed attempt).
    """

    def __init__(self, engine: sa.Engine, failures: int = 1, code: str = SERIALIZATION_FAILURE):
        if code not in {"40001", "40001-at-commit", "40P01", "23505"}:
            raise ValueError(f"unknown failure {code!r}")
        self.engine, self.failures, self.code, self.calls = engine, failures, code, 0
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS work_attempts, work_counter, work_shifts")
            conn.exec_driver_sql("CREATE TABLE work_attempts (attempt INTEGER PRIMARY KEY)")
            conn.exec_driver_sql("CREATE TABLE work_counter (id INTEGER PRIMARY KEY, value INTEGER NOT NULL)")
            conn.exec_driver_sql("INSERT INTO work_counter VALUES (1, 0), (2, 0)")
            conn.exec_driver_sql("CREATE TABLE work_shifts (name TEXT PRIMARY KEY, on_call BOOLEAN NOT NULL)")
            conn.exec_driver_sql("INSERT INTO work_shifts VALUES ('Ada', true), ('Bob', true)")

    def __call__(self, conn: sa.Connection) -> int:
        self.calls += 1
        attempt = self.calls
        if self.code == "40001-at-commit":  # both on call again, before this attempt's snapshot is taken
            with self.engine.begin() as reset:
                reset.exec_driver_sql("UPDATE work_shifts SET on_call = true")
        conn.execute(sa.text("INSERT INTO work_attempts VALUES (:n)"), {"n": attempt})
        value = conn.execute(sa.text("SELECT value FROM work_counter WHERE id = 1")).scalar_one()
        failing = attempt <= self.failures
        if failing and self.code == "40001":
            with self.engine.begin() as other:
                other.exec_driver_sql("UPDATE work_counter SET value = value + 100 WHERE id = 1")
        elif failing and self.code == "40P01":
            self._deadlock(conn)
        elif failing and self.code == "23505":
            conn.execute(sa.text("INSERT INTO work_attempts VALUES (:n)"), {"n": attempt})
        conn.exec_driver_sql("UPDATE work_counter SET value = value + 1 WHERE id = 1")
        if failing and self.code == "40001-at-commit":
            self._write_skew(conn)  # last: no statement of this attempt follows, so only its commit can fail
        return value + 1

    def _write_skew(self, conn: sa.Connection) -> None:
        # Each transaction sees two on call and takes one off: only a serial order could refuse the second.
        serializable = self.engine.execution_options(isolation_level="SERIALIZABLE")
        conn.execute(sa.text("SELECT COUNT(*) FROM work_shifts WHERE on_call")).scalar_one()
        with serializable.connect() as other:
            other.execute(sa.text("SELECT COUNT(*) FROM work_shifts WHERE on_call")).scalar_one()
            other.exec_driver_sql("UPDATE work_shifts SET on_call = false WHERE name = 'Bob'")
            conn.exec_driver_sql("UPDATE work_shifts SET on_call = false WHERE name = 'Ada'")
            other.commit()  # the first to commit wins: this attempt's own commit is refused

    def _deadlock(self, conn: sa.Connection) -> None:
        # This session holds row 1; the other takes row 2, then waits for row 1; this one then asks for row 2.
        from course.steps.step04_databases.relational import lock_waiters

        conn.exec_driver_sql("UPDATE work_counter SET value = value WHERE id = 1")
        holding = threading.Event()

        def other_session():
            with self.engine.connect() as other:
                other.exec_driver_sql("SET LOCAL deadlock_timeout = '60s'")  # so that this one is not the victim
                other.exec_driver_sql(f"SET LOCAL lock_timeout = '{int(scaled(30) * 1000)}ms'")
                other.exec_driver_sql("UPDATE work_counter SET value = value WHERE id = 2")
                holding.set()
                # If the wrapper never rolls back, the lock timeout ends this wait.
                with contextlib.suppress(sa.exc.DBAPIError):
                    other.exec_driver_sql("UPDATE work_counter SET value = value WHERE id = 1")
                # Rolled back, never committed: a committed row version would refuse (40001) a retry whose
                # snapshot was taken before this session ended, a failure the learner's wrapper did not cause.
                other.rollback()

        thread = threading.Thread(target=other_session, daemon=True)
        thread.start()
        holding.wait(scaled(10))
        lock_waiters(self.engine, timeout=scaled(10))
        conn.exec_driver_sql("SET LOCAL deadlock_timeout = '10ms'")
        try:
            conn.exec_driver_sql("UPDATE work_counter SET value = value WHERE id = 2")
        finally:
            self._other = thread  # joined by committed(): it ends once this transaction is rolled back

    def committed(self) -> list[int]:
        """The attempts whose rows were committed, in order."""
        other = getattr(self, "_other", None)
        if other is not None:
            other.join(scaled(30))
        with self.engine.connect() as conn:
            return list(conn.execute(sa.text("SELECT attempt FROM work_attempts ORDER BY attempt")).scalars())

    def counter(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.text("SELECT value FROM work_counter WHERE id = 1")).scalar_one()
