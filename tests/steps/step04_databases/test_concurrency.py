"""course.steps.step04_databases.concurrency on the course's real PostgreSQL: the anomaly table is measured,
SQLSTATEs are read from SQLAlchemy's and psycopg's errors, and ConflictingWork fails for real; and exercise
04b graded on plausible answers (wrong ones lose marks, other correct ones keep them all)."""

from __future__ import annotations

import psycopg
import pytest
import sqlalchemy as sa
from factories import assert_judged, run_variants, variant_cells

from course.components import services
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
def test_a_retry_that_starts_before_the_deadlocks_other_session_ends_is_not_refused(pg):
    """The deadlock's other session must leave no new row version behind: a retry whose snapshot was taken
    before that session ended would otherwise fail with a serialization failure (40001) it did not cause, and
    a correct wrapper with few attempts would lose marks on a busy machine (seen in a loaded run)."""
    work = cc.ConflictingWork(pg, failures=1, code="40P01")
    serializable = pg.execution_options(isolation_level="SERIALIZABLE")
    with serializable.connect() as first, serializable.connect() as retry:
        with pytest.raises(sa.exc.DBAPIError) as caught:
            work(first)
        assert cc.sqlstate(caught.value) == "40P01"
        retry.execute(sa.text("SELECT 1")).scalar_one()  # the retry's snapshot: the other session still waits
        first.rollback()
        work._other.join(30)
        assert not work._other.is_alive()
        assert work(retry) == 1
        retry.commit()
    assert work.committed() == [2] and work.counter() == 1


@pytest.mark.service
def test_the_write_skew_failure_comes_at_commit_not_before(pg):
    work = cc.ConflictingWork(pg, failures=1, code="40001-at-commit")
    with pg.execution_options(isolation_level="SERIALIZABLE").connect() as conn:
        assert work(conn) == 1  # every statement of the attempt went through
        with pytest.raises(sa.exc.DBAPIError) as caught:
            conn.commit()
    assert cc.sqlstate(caught.value) == "40001" and "during commit attempt" in str(caught.value)


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


# --- exercise 04b graded: plausible answers --------------------------------------------------------------
# Each wrong answer below must lose marks in its part (at least one of the part's test cells fails), and each
# other correct answer must keep every point. The answers, by part:
# - book: read-then-write (oversells under 30 buyers), a missing show answered False; right: FOR UPDATE,
#   SERIALIZABLE with its own retry loop.
# - pay_all: FOR UPDATE per payment in the order given (deadlocks, not retried), read-then-write without a
#   lock (lost updates), funds checked on the batch's net result instead of in order; right: SERIALIZABLE with
#   a retry on 40001/40P01, atomic UPDATEs after locking the accounts in id order.
# - run_in_transaction: retrying every exception, retrying on the same connection without a rollback, no
#   SERIALIZABLE, the commit outside the retry, retrying 40001 only, one attempt too many; right: a while loop
#   on psycopg's exception classes.

BOOK_READ_THEN_WRITE = r'''
def book(engine, show_id, buyer, seats):
    if seats < 1:
        raise ValueError(seats)
    with engine.begin() as conn:
        left = conn.execute(sa.text("SELECT seats_left FROM shows WHERE id = :id{lock}"), {{"id": show_id}}).scalar()
        if left is None:
            raise LookupError(show_id)
        if left < seats:
            return False
        conn.execute(sa.text("UPDATE shows SET seats_left = :left WHERE id = :id"), {{"left": left - seats, "id": show_id}})
        conn.execute(sa.text("INSERT INTO bookings (show_id, buyer, seats) VALUES (:id, :b, :n)"),
                     {{"id": show_id, "b": buyer, "n": seats}})
        return True
'''

PAY_IN_ORDER = r'''
def pay_all(engine, payments):
    payments = list(payments)
    if any(amount < 1 for _, _, amount in payments):
        raise ValueError("amount")
    class Short(Exception):
        pass
    try:
        with engine.begin() as conn:
            for source, target, amount in payments:
                found = conn.execute(sa.text("SELECT balance_cents FROM accounts WHERE id = :id{lock}"),
                                     {{"id": source}}).scalar()
                if found is None or conn.execute(sa.text("SELECT 1 FROM accounts WHERE id = :id"), {{"id": target}}).first() is None:
                    raise LookupError("account")
                if found < amount:
                    raise Short()
                conn.execute(sa.text("UPDATE accounts SET balance_cents = :b WHERE id = :id"), {{"b": found - amount, "id": source}})
                conn.execute(sa.text("UPDATE accounts SET balance_cents = balance_cents + :a WHERE id = :id"),
                             {{"a": amount, "id": target}})
        return True
    except Short:
        return False
'''

PAY_ATOMIC = r'''
def pay_all(engine, payments):
    payments = list(payments)
    if any(amount < 1 for _, _, amount in payments):
        raise ValueError("amount")
    ids = sorted({{a for s, t, _ in payments for a in (s, t)}})

    class Short(Exception):
        pass

    def attempt():
        with {engine}.begin() as conn:
            {prelock}
            for source, target, amount in payments:
                debit = conn.execute(sa.text("UPDATE accounts SET balance_cents = balance_cents - :a "
                                             "WHERE id = :id AND balance_cents >= :a"), {{"a": amount, "id": source}})
                if debit.rowcount != 1:
                    if conn.execute(sa.text("SELECT 1 FROM accounts WHERE id = :id"), {{"id": source}}).first() is None:
                        raise LookupError(source)
                    raise Short()
                credit = conn.execute(sa.text("UPDATE accounts SET balance_cents = balance_cents + :a WHERE id = :id"),
                                      {{"a": amount, "id": target}})
                if credit.rowcount != 1:
                    raise LookupError(target)
        return True

    for tries in range(300):
        try:
            return attempt()
        except Short:
            return False
        except sa.exc.DBAPIError as error:
            if cc.sqlstate(error) not in cc.RETRYABLE:
                raise
            time.sleep(random.uniform(0, 0.02))
    raise RuntimeError("gave up")
'''

RETRY_LOOP = r'''
def run_in_transaction(engine, work, attempts=5):
    for attempt in range({range}):
        try:
            with engine{isolation}.begin() as conn:
                return work(conn)
        except {caught} as error:
            if {give_up}:
                raise
'''
RETRY_OK = {"range": "1, attempts + 1", "isolation": '.execution_options(isolation_level="SERIALIZABLE")',
            "caught": "sa.exc.DBAPIError", "give_up": "cc.sqlstate(error) not in cc.RETRYABLE or attempt == attempts"}

VARIANTS = [
    ("book-read-then-write", "book", False, BOOK_READ_THEN_WRITE.format(lock="")),
    ("book-missing-show-is-false", "book", False, r'''
def book(engine, show_id, buyer, seats):
    if seats < 1:
        raise ValueError(seats)
    with engine.begin() as conn:
        taken = conn.execute(sa.text("UPDATE shows SET seats_left = seats_left - :n WHERE id = :id AND seats_left >= :n"),
                             {"n": seats, "id": show_id}).rowcount
        if taken:
            conn.execute(sa.text("INSERT INTO bookings (show_id, buyer, seats) VALUES (:id, :b, :n)"),
                         {"id": show_id, "b": buyer, "n": seats})
        return bool(taken)
'''),
    ("book-for-update", "book", True, BOOK_READ_THEN_WRITE.format(lock=" FOR UPDATE")),
    ("book-serializable-retry", "book", True, r'''
def book(engine, show_id, buyer, seats):
    if seats < 1:
        raise ValueError(seats)
    serializable = engine.execution_options(isolation_level="SERIALIZABLE")
    for _ in range(200):
        try:
            with serializable.begin() as conn:
                left = conn.execute(sa.text("SELECT seats_left FROM shows WHERE id = :id"), {"id": show_id}).scalar()
                if left is None:
                    raise LookupError(show_id)
                if left < seats:
                    return False
                conn.execute(sa.text("UPDATE shows SET seats_left = :l WHERE id = :id"), {"l": left - seats, "id": show_id})
                conn.execute(sa.text("INSERT INTO bookings (show_id, buyer, seats) VALUES (:id, :b, :n)"),
                             {"id": show_id, "b": buyer, "n": seats})
                return True
        except sa.exc.OperationalError as error:
            if error.orig.sqlstate != "40001":
                raise
            time.sleep(random.uniform(0, 0.02))
    raise RuntimeError("too busy")
'''),
    ("pay-unordered-for-update", "pay_all", False, PAY_IN_ORDER.format(lock=" FOR UPDATE")),
    ("pay-read-then-write", "pay_all", False, PAY_IN_ORDER.format(lock="")),
    ("pay-net-at-end", "pay_all", False, r'''
def pay_all(engine, payments):
    payments = list(payments)
    if any(amount < 1 for _, _, amount in payments):
        raise ValueError("amount")
    if not payments:
        return True
    ids = sorted({a for s, t, _ in payments for a in (s, t)})
    with engine.begin() as conn:
        balances = dict(conn.execute(sa.text("SELECT id, balance_cents FROM accounts WHERE id = ANY(:ids) ORDER BY id FOR UPDATE"),
                                     {"ids": ids}).all())
        if set(ids) - set(balances):
            raise LookupError("account")
        for source, target, amount in payments:
            balances[source] -= amount
            balances[target] += amount
        if min(balances.values()) < 0:  # the batch's end result only
            return False
        for account in ids:
            conn.execute(sa.text("UPDATE accounts SET balance_cents = :b WHERE id = :id"), {"b": balances[account], "id": account})
        return True
'''),
    ("pay-serializable-retry", "pay_all", True,
     PAY_ATOMIC.format(engine='engine.execution_options(isolation_level="SERIALIZABLE")', prelock="pass")),
    ("pay-locked-in-order-then-atomic", "pay_all", True, PAY_ATOMIC.format(
        engine="engine", prelock='conn.execute(sa.text("SELECT id FROM accounts WHERE id = ANY(:ids) ORDER BY id FOR UPDATE"), '
                                 '{"ids": ids})')),
    ("retry-every-exception", "run_in_transaction", False,
     RETRY_LOOP.format(**{**RETRY_OK, "caught": "Exception", "give_up": "attempt == attempts"})),
    ("retry-read-committed", "run_in_transaction", False, RETRY_LOOP.format(**{**RETRY_OK, "isolation": ""})),
    ("retry-40001-only", "run_in_transaction", False,
     RETRY_LOOP.format(**{**RETRY_OK, "give_up": 'cc.sqlstate(error) != "40001" or attempt == attempts'})),
    ("retry-one-attempt-too-many", "run_in_transaction", False,
     RETRY_LOOP.format(**{**RETRY_OK, "range": "1, attempts + 2",
                          "give_up": "cc.sqlstate(error) not in cc.RETRYABLE or attempt == attempts + 1"})),
    ("retry-without-rollback", "run_in_transaction", False, r'''
def run_in_transaction(engine, work, attempts=5):
    with engine.execution_options(isolation_level="SERIALIZABLE").connect() as conn:
        for attempt in range(1, attempts + 1):
            try:
                result = work(conn)
                conn.commit()
                return result
            except sa.exc.DBAPIError as error:  # no rollback: the next attempt runs in the failed transaction
                if cc.sqlstate(error) not in cc.RETRYABLE or attempt == attempts:
                    raise
'''),
    ("retry-commit-outside", "run_in_transaction", False, r'''
def run_in_transaction(engine, work, attempts=5):
    with engine.execution_options(isolation_level="SERIALIZABLE").connect() as conn:
        for attempt in range(1, attempts + 1):
            try:
                result = work(conn)
                break
            except sa.exc.DBAPIError as error:
                conn.rollback()
                if cc.sqlstate(error) not in cc.RETRYABLE or attempt == attempts:
                    raise
        conn.commit()  # outside the retry: a failure here is not retried
        return result
'''),
    ("retry-while-loop-on-psycopg-classes", "run_in_transaction", True, r'''
import psycopg


def run_in_transaction(engine, work, attempts=5):
    left = attempts
    while True:
        left -= 1
        conn = engine.connect().execution_options(isolation_level="SERIALIZABLE")
        try:
            result = work(conn)
            conn.commit()
            return result
        except sa.exc.DBAPIError as error:
            conn.rollback()
            retryable = isinstance(error.orig, (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected))
            if not retryable or left == 0:
                raise
        except BaseException:
            conn.rollback()
            raise
        finally:
            conn.close()
'''),
]


@pytest.fixture(scope="module")
def graded_variants(pg_url, tmp_path_factory):
    """{variant id: [error name or None per test cell of its part]}: every variant run once, in one kernel."""
    cells, positions, trusted = variant_cells("04b-concurrency", VARIANTS)
    return run_variants(cells, positions, trusted=trusted, folder=tmp_path_factory.mktemp("variants"),
                        env={"DATABASE_URL": services.postgres_url()})


@pytest.mark.slow
@pytest.mark.service
@pytest.mark.parametrize(("variant_id", "correct"), [(v[0], v[2]) for v in VARIANTS], ids=[v[0] for v in VARIANTS])
def test_hidden_tests_judge_each_variant(graded_variants, variant_id, correct):
    errors = graded_variants[variant_id]
    assert_judged(errors, correct)
