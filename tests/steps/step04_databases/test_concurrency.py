"""course.steps.step04_databases.concurrency on the course's real PostgreSQL: the anomaly table is measured,
SQLSTATEs are read from SQLAlchemy's and psycopg's errors, and ConflictingWork fails for real."""

from __future__ import annotations

import psycopg
import pytest
import sqlalchemy as sa

from course.steps.step04_databases import concurrency as cc
from course.steps.step04_databases import relational as databases


@pytest.fixture
def pg(pg_url):
    return databases.scratch_engine(pg_url)


@pytest.mark.service
def test_sqlstate_reads_sqlalchemy_and_driver_errors_and_nothing_else(pg):
    with pytest.raises(sa.exc.IntegrityError) as caught, pg.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        conn.exec_driver_sql("INSERT INTO t VALUES (1), (1)")
    assert cc.sqlstate(caught.value) == "23505"
    assert cc.sqlstate(caught.value.orig) == "23505" and isinstance(caught.value.orig, psycopg.Error)
    assert cc.sqlstate(ValueError("40001")) is None and cc.sqlstate(None) is None


@pytest.mark.service
def test_the_anomaly_table_is_what_postgresql_does(pg):
    table = {row["anomaly"]: row for row in cc.anomaly_table(pg)}
    assert list(table) == list(cc.ANOMALIES)
    # PostgreSQL's documented behaviour (chapter "Transaction Isolation"): READ UNCOMMITTED acts as READ
    # COMMITTED, REPEATABLE READ allows no phantoms but allows write skew, SERIALIZABLE allows none.
    assert [table["dirty read"][level] for level in cc.LEVELS] == ["prevented"] * 4
    for name in ("non-repeatable read", "phantom read"):
        assert [table[name][level] for level in cc.LEVELS] == ["happens", "happens", "prevented", "prevented"]
    assert [table["lost update"][level] for level in cc.LEVELS] == [
        "happens", "happens", "refused (40001)", "refused (40001)"]
    assert [table["write skew"][level] for level in cc.LEVELS] == ["happens"] * 3 + ["refused (40001)"]


@pytest.mark.service
def test_an_unknown_level_is_refused(pg):
    with pytest.raises(ValueError, match="unknown isolation level 'CHAOS'"):
        cc.anomaly(pg, "lost update", "CHAOS")


def _retry(engine, work, attempts=5):
    serializable = engine.execution_options(isolation_level="SERIALIZABLE")
    for attempt in range(1, attempts + 1):
        try:
            with serializable.begin() as conn:
                return work(conn)
        except sa.exc.DBAPIError as error:
            if cc.sqlstate(error) not in cc.RETRYABLE or attempt == attempts:
                raise


@pytest.mark.service
@pytest.mark.parametrize("code", ["40001", "40001-at-commit", "40P01"])
def test_conflicting_work_fails_for_real_then_succeeds(pg, code):
    work = cc.ConflictingWork(pg, failures=2, code=code)
    _retry(pg, work)
    assert work.calls == 3 and work.committed() == [3]
    work = cc.ConflictingWork(pg, failures=9, code=code)
    with pytest.raises(sa.exc.DBAPIError) as caught:
        _retry(pg, work, attempts=2)
    assert cc.sqlstate(caught.value) == code[:5] and work.calls == 2 and work.committed() == []


@pytest.mark.service
def test_conflicting_work_at_read_committed_does_not_fail(pg):
    # why a retry wrapper must ask for SERIALIZABLE: the default level lets the lost update through
    work = cc.ConflictingWork(pg, failures=1, code="40001")
    with pg.begin() as conn:
        assert work(conn) == 1
    assert work.counter() == 101


@pytest.mark.service
def test_a_duplicate_key_is_a_real_error_that_is_not_retryable(pg):
    work = cc.ConflictingWork(pg, failures=1, code="23505")
    with pytest.raises(sa.exc.IntegrityError):
        _retry(pg, work)
    assert work.calls == 1 and work.committed() == []
    with pytest.raises(ValueError, match="unknown failure"):
        cc.ConflictingWork(pg, code="42")


@pytest.mark.service
def test_theatre_and_ledger_hold_what_they_were_given(pg):
    cc.theatre(pg, {1: 10, 2: 0})
    assert cc.seats_left(pg) == {1: 10, 2: 0} and cc.bookings(pg) == []
    with pytest.raises(sa.exc.IntegrityError), pg.begin() as conn:
        conn.exec_driver_sql("UPDATE shows SET seats_left = -1 WHERE id = 1")
    other = databases.scratch_engine("postgres")
    cc.ledger(other, [500, 0])
    assert databases.balances(other) == {1: 500, 2: 0}


def test_unanswered_raises_a_stubs_error_and_passes_other_outcomes_through():
    outcomes = [True, ValueError("short"), False]
    assert cc.unanswered(outcomes) is outcomes
    with pytest.raises(NotImplementedError):
        cc.unanswered([True, NotImplementedError()])
