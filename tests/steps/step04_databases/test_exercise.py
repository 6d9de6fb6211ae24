"""Exercise 04 graded as nbgrader grades it, and the helpers its hidden tests use (course.steps.step04_databases.exercise).

The hidden tests run each SQL part on SQLite and on the course's PostgreSQL. Below, VARIANTS lists the
plausible answers a learner writes from the release text: each wrong one must lose its part (``only_on``
names the engine whose checks must catch it, when SQLite alone would let it through), and each other correct
answer (another query shape, another algorithm) must keep full marks. The answers graded here, by part:

- A spend_per_customer: inner join, COUNT(*), SUM without COALESCE, GROUP BY name (two customers share one),
  ties broken by id or left unordered (ids do not run in name order); right: in Python, extra tie-breaker.
- B top_spenders: LIMIT, DENSE_RANK, inner join, GROUP BY name, ties by id; right: in Python.
- C customers_outside: NULL dropped, case-sensitive, DISTINCT names, no ORDER BY; right: COALESCE.
- D create_bank_schema: case-sensitive UNIQUE, no default, no foreign key, self-transfer allowed, SQLite-only
  DDL (COLLATE NOCASE, AUTOINCREMENT); right: raw portable DDL.
- E transfer: two transactions, unchecked target, negative amount, read-then-write without a lock (20
  concurrent transfers on PostgreSQL), ``lastrowid``; right: SELECT ... FOR UPDATE, SERIALIZABLE with retry.
- F order_report: N+1, no ORDER BY (rows stored out of id order); right: selectinload.
- G add_order_index: wrong columns or order, created_at first (a full index scan on PostgreSQL), one index
  per column, never committed; right: status first, DESC, INCLUDE.
- H search_products: SQL built from the term (also with quotes doubled: the logged statements show it),
  unescaped wildcards, case-sensitive LIKE, ILIKE; right: filter in Python.
- I product_cache: no TTL, a TTL other than 300 s, never invalidated, invalidated before the update or before
  its commit, misses cached, cache never read; right: a hash with EXPIRE; ``setex`` (through the grader).
- J allow_request: off by one, wall clock, never expires, one window forever, GET then SET (20 requests at
  once), TTL too short or too long; right: SET NX then INCR, TTL to the window's end, TTL of two windows.
- K big_orders: compared as text, any type, strictly greater, json_extract, no ORDER BY; right: in Python.
"""

from __future__ import annotations

import textwrap
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
import sqlalchemy as sa
from nbclient import NotebookClient

from course.grading.checks import CheckFailed
from course.platform import paths
from course.steps.step04_databases import exercise as grading
from course.steps.step04_databases import relational as databases

STEM = "04-databases"


# --- the helpers -----------------------------------------------------------------------------------------

def test_on_each_engine_reports_each_engine_and_fails_when_one_fails(capsys):
    seen = []

    def checks(url, where):
        seen.append((url, where))
        if where == "PostgreSQL":
            raise LookupError("no such function json_extract\nmore detail")

    with pytest.raises(CheckFailed, match="on PostgreSQL: your code raised LookupError: no such function json_extract$"):
        grading.on_each_engine(checks, engines=[("SQLite", "sqlite"), ("PostgreSQL", "postgres")])
    assert seen == [("sqlite", "SQLite"), ("postgres", "PostgreSQL")]  # the second engine runs after the first
    out = capsys.readouterr().out
    assert "SQLite: PASS ✔ every check" in out and "PostgreSQL: FAIL ✘ your code raised LookupError" in out
    grading.on_each_engine(lambda url, where: None, engines=[("SQLite", "sqlite")])  # all pass: no exception


def test_on_each_engine_keeps_a_failed_checks_own_line():
    from course import check

    def checks(url, where):
        check(f"{where}: the rows", [2, 1], [1, 2])

    with pytest.raises(CheckFailed) as failure:
        grading.on_each_engine(checks, engines=[("SQLite", "sqlite")])
    assert str(failure.value) == "FAIL ✘ on SQLite: SQLite: the rows: expected [1, 2], got [2, 1]."


def test_on_each_engine_inside_all_checks_lists_every_failure_with_its_engine_and_the_cell_runs_on():
    """Each engine's every failing check is listed, named by its engine, and the cell's later checks run."""
    from course import all_checks, check

    def checks(url, where):
        check(f"{where}: one", 1, 2)
        check(f"{where}: two", "a", "a")
        check(f"{where}: three", 3, 4)

    with pytest.raises(CheckFailed) as failure, all_checks():
        grading.on_each_engine(checks, engines=[("SQLite", "sqlite"), ("PostgreSQL", "sqlite")])
        check("after", 5, 6)
    assert str(failure.value).splitlines() == [
        "FAIL ✘ on SQLite: SQLite: one: expected 2, got 1.", "FAIL ✘ on SQLite: SQLite: three: expected 4, got 3.",
        "FAIL ✘ on PostgreSQL: PostgreSQL: one: expected 2, got 1.",
        "FAIL ✘ on PostgreSQL: PostgreSQL: three: expected 4, got 3.", "FAIL ✘ after: expected 6, got 5."]
    with pytest.raises(CheckFailed) as failure:  # outside a block: the same lines, raised at the end
        grading.on_each_engine(checks, engines=[("SQLite", "sqlite")])
    assert str(failure.value).splitlines() == ["FAIL ✘ on SQLite: SQLite: one: expected 2, got 1.",
                                               "FAIL ✘ on SQLite: SQLite: three: expected 4, got 3."]


@pytest.mark.service
def test_failing_checks_on_both_engines_inside_all_checks_leave_no_postgres_connection_open(pg_url):
    """The run of a failing answer gives back every connection its scratch engines opened (issue 19)."""
    from course import all_checks, check

    def connections():
        with sa.create_engine(pg_url, poolclass=sa.pool.NullPool).connect() as conn:
            return conn.execute(sa.text("SELECT count(*) FROM pg_stat_activity "
                                        "WHERE backend_type = 'client backend'")).scalar_one() - 1  # not this one

    during = []

    def checks(url, where):
        crowd = databases.bank(url, [100, 0], pool_size=5, max_overflow=0)  # a pool that keeps its connections
        with grading.slowed(crowd, 0.05):
            grading.concurrently(databases.balances, [(crowd,)] * 5)
        during.append(connections())
        check(f"{where}: the balances", databases.balances(crowd), {1: 0})
        check(f"{where}: another", 1, 2)

    databases.scratch_engine(pg_url).dispose()  # the scratch database's own engine exists before counting
    before = connections()
    with pytest.raises(CheckFailed) as failure, all_checks():
        grading.on_each_engine(checks, engines=[("SQLite", "sqlite"), ("PostgreSQL", pg_url)])
    assert during[-1] > before  # the pool held connections while the checks ran (else this test proves nothing)
    assert connections() == before
    lines = str(failure.value).splitlines()
    assert [line.split(": ")[0] for line in lines] == ["FAIL ✘ on SQLite"] * 2 + ["FAIL ✘ on PostgreSQL"] * 2


def test_concurrently_releases_the_calls_together_and_returns_results_and_errors():
    inside, most = [0], [0]
    lock = threading.Lock()

    def call(i):
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        time.sleep(0.05)
        with lock:
            inside[0] -= 1
        if i == 3:
            raise ValueError(i)
        return i * 10

    outcomes = grading.concurrently(call, [(i,) for i in range(6)])
    assert outcomes[:3] == [0, 10, 20] and isinstance(outcomes[3], ValueError) and outcomes[4:] == [40, 50]
    assert most[0] >= 2  # they overlapped


def test_slowed_pauses_after_each_statement_only_inside_the_block(lite):
    with grading.slowed(lite, 0.05), lite.connect() as conn:
        start = time.perf_counter()
        conn.exec_driver_sql("SELECT 1")
        conn.exec_driver_sql("SELECT 2")
        inside = time.perf_counter() - start
    assert inside >= 0.1
    assert len(lite.dispatch.after_cursor_execute) == 0  # the listener is gone after the block


@pytest.mark.service
def test_a_read_then_write_loses_updates_when_slowed_and_an_atomic_update_does_not(pg_url):
    """What the transfer test relies on: with the pause, a lost update happens every time on PostgreSQL."""
    engine = databases.bank(pg_url, [0], pool_size=10, max_overflow=0)

    def naive(_):
        with engine.begin() as conn:
            value = conn.execute(sa.text("SELECT balance_cents FROM accounts WHERE id = 1")).scalar_one()
            conn.execute(sa.text("UPDATE accounts SET balance_cents = :v WHERE id = 1"), {"v": value + 1})

    def atomic(_):
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE accounts SET balance_cents = balance_cents + 1 WHERE id = 1"))

    with grading.slowed(engine, 0.01):
        grading.concurrently(naive, [(i,) for i in range(10)])
        lost = 10 - databases.balances(engine)[1]
        grading.concurrently(atomic, [(i,) for i in range(10)])
    assert lost >= 5, lost
    assert databases.balances(engine)[1] == 20 - lost
    engine.dispose()


@pytest.mark.service
def test_slow_redis_pauses_after_each_command_and_shares_the_server():
    from course.components import services

    r = services.redis_client(decode_responses=True)
    slow = grading.SlowRedis(r, 0.05)
    start = time.perf_counter()
    slow.set("course-test:slow", "1")
    assert slow.get("course-test:slow") == "1" and r.get("course-test:slow") == "1"
    assert time.perf_counter() - start >= 0.1
    with slow.pipeline() as pipe:  # a pipeline is sent at once, as on the real client
        pipe.incr("course-test:slow")
        pipe.expire("course-test:slow", 5)
        assert pipe.execute() == [2, True]
    r.delete("course-test:slow")


@pytest.mark.service
def test_stale_copy_on_commit_puts_the_old_entry_back_at_each_commit_whatever_its_type(lite):
    from course.components import services

    r = services.redis_client(decode_responses=True)
    r.delete("course-test:stale")
    r.hset("course-test:stale", mapping={"price_cents": 100})  # a hash, as one correct cache stores it
    with grading.stale_copy_on_commit(lite, r, "course-test:stale"):
        r.delete("course-test:stale")
        with lite.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        assert not r.exists("course-test:stale")  # no commit yet
        with lite.begin() as conn:
            conn.exec_driver_sql("SELECT 1")
        assert r.hgetall("course-test:stale") == {"price_cents": "100"}  # back, as it was
    r.delete("course-test:stale")
    with lite.begin() as conn:
        conn.exec_driver_sql("SELECT 1")
    assert not r.exists("course-test:stale")  # the listener is gone after the block
    with grading.stale_copy_on_commit(lite, r, "course-test:stale"), lite.begin() as conn:
        conn.exec_driver_sql("SELECT 1")  # nothing was cached: nothing to put back
    assert not r.exists("course-test:stale")


def test_twins_shop_has_shared_names_ids_out_of_name_order_and_unsorted_inserts(lite):
    names = [c["name"] for c in grading.TWINS_CUSTOMERS]
    ids = [c["id"] for c in grading.TWINS_CUSTOMERS]
    assert len(set(names)) < len(names) and ids != sorted(ids) and names != sorted(names)
    by_id = [c["name"] for c in sorted(grading.TWINS_CUSTOMERS, key=lambda c: c["id"])]
    assert by_id != sorted(by_id)
    engine = grading.twins_shop("sqlite")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM orders WHERE total_cents IS NULL")).scalar_one() == 1
    engine.dispose()


# --- answers to grade: plausible wrong ones (must fail their part) and other correct ones (must pass) -------

@dataclass(frozen=True)
class Variant:
    id: str
    part: str  # the answer cell's grade_id
    source: str  # replaces the part's function(s)
    correct: bool = False
    only_on: str | None = None  # a wrong answer that only this engine's checks can catch


def wrong(id, part, source, only_on=None):
    return Variant(id, part, source, False, only_on)


def right(id, part, source):
    return Variant(id, part, source, True)


SPEND = r'''
def spend_per_customer(engine):
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text("""
            SELECT c.name, {count} AS n, {total} AS spent FROM customers c
            {join} orders o ON o.customer_id = c.id GROUP BY c.id, c.name ORDER BY spent DESC, c.name"""))]
'''
TOP = r'''
def top_spenders(engine, n):
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text("""
            SELECT name, spent FROM (
              SELECT c.name, COALESCE(SUM(o.total_cents), 0) AS spent,
                     {rank} OVER (ORDER BY COALESCE(SUM(o.total_cents), 0) DESC) AS pos
              FROM customers c {join} orders o ON o.customer_id = c.id GROUP BY c.id, c.name) AS t
            WHERE pos <= :n ORDER BY spent DESC, name"""), {{"n": n}})]
'''
OUTSIDE = r'''
def customers_outside(engine, city):
    with engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT name FROM customers WHERE {where} ORDER BY name"),
                                 {{"city": city}}).scalars())
'''
SCHEMA = r'''
def create_bank_schema(engine):
    md = sa.MetaData()
    accounts = sa.Table("accounts", md, sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("owner", sa.String(80), nullable=False),
        sa.Column("email", sa.String(120), nullable=False{email_unique}),
        sa.Column("balance_cents", sa.Integer, sa.CheckConstraint("balance_cents >= 0"), nullable=False{default}))
    {index}
    sa.Table("transfers", md, sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("source_id", {fk_source}, nullable=False),
        sa.Column("target_id", sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("amount_cents", sa.Integer, sa.CheckConstraint("amount_cents > 0"), nullable=False),
        {self_check})
    md.create_all(engine)
'''
SCHEMA_OK = dict(email_unique="", default=', server_default="0"', fk_source='sa.ForeignKey("accounts.id")',
                 index='sa.Index("ux", sa.func.lower(accounts.c.email), unique=True)',
                 self_check='sa.CheckConstraint("source_id <> target_id")')
TRANSFER = r'''
def transfer(engine, source_id, target_id, amount_cents):
    {amount_check}
    with engine.begin() as conn:
        debit = conn.execute(sa.text("UPDATE accounts SET balance_cents = balance_cents - :a "
                                     "WHERE id = :id AND balance_cents >= :a"), {{"a": amount_cents, "id": source_id}})
        if debit.rowcount != 1:
            if conn.execute(sa.text("SELECT 1 FROM accounts WHERE id = :id"), {{"id": source_id}}).first() is None:
                raise LookupError(source_id)
            raise ValueError("funds")
        credit = conn.execute(sa.text("UPDATE accounts SET balance_cents = balance_cents + :a WHERE id = :id"),
                              {{"a": amount_cents, "id": target_id}})
        {target_check}
        return conn.execute(sa.text("INSERT INTO transfers (source_id, target_id, amount_cents) "
                                    "VALUES (:s, :t, :a) RETURNING id"),
                            {{"s": source_id, "t": target_id, "a": amount_cents}}).scalar_one()
'''
TRANSFER_OK = dict(amount_check='if amount_cents <= 0: raise ValueError("amount")',
                   target_check='if credit.rowcount != 1: raise LookupError(target_id)')
INDEX = r'''
def add_order_index(engine):
    with engine.begin() as conn:
        for number, columns in enumerate({indexes!r}):
            conn.execute(sa.text(f"CREATE INDEX ix_variant_{{number}} ON orders ({{columns}})"))
'''
SEARCH = r'''
def search_products(engine, term):
    pattern = "%" + {escape} + "%"
    with engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT name FROM products WHERE {column} LIKE :p ESCAPE '!'"),
                                 {{"p": pattern}}).scalars())
'''
ESCAPED = 'term.lower().replace("!", "!!").replace("%", "!%").replace("_", "!_")'
CACHE = r'''
def get_product(r, engine, product_id):
    key = f"product:{{product_id}}"
    cached = {read}
    if cached is not None:
        return json.loads(cached)
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT id, name, price_cents FROM products WHERE id = :id"),
                           {{"id": product_id}}).mappings().first()
    product = dict(row) if row else None
    {store}
    return product


def set_price(r, engine, product_id, price_cents):
    with engine.begin() as conn:
        done = conn.execute(sa.text("UPDATE products SET price_cents = :p WHERE id = :id"),
                            {{"p": price_cents, "id": product_id}}).rowcount
    if not done:
        raise LookupError(product_id)
    {invalidate}
'''
CACHE_OK = dict(read="r.get(key)", store="if product: r.set(key, json.dumps(product), ex=300)",
                invalidate='r.delete(f"product:{product_id}")')
RATE = r'''
import time


def allow_request(r, client, limit, window, now):
    key = f"rate:{{client}}:{window_number}"
    count = r.incr(key)
    {expire}
    return count {compare} limit
'''
RATE_OK = dict(window_number="{int(now // window)}", expire="r.expire(key, int(window))", compare="<=")
ORDERS = r'''
def big_orders(engine, country, min_total):
    body = events.c.body
    query = sa.select(events.c.id).where({type_filter}
        body[("customer", "country")].as_string() == country, {total_filter}).order_by(events.c.id)
    with engine.connect() as conn:
        return list(conn.execute(query).scalars())
'''
ORDERS_OK = dict(type_filter='body["type"].as_string() == "order",', total_filter='body["total"].as_float() >= min_total')

# Read the balances, decide in Python, write the values computed: a lost update under concurrency, unless
# the database serialises the transactions (SERIALIZABLE, retried on SQLSTATE 40001).
READ_THEN_WRITE = '''
found = dict(conn.execute(sa.text("SELECT id, balance_cents FROM accounts WHERE id IN (:s, :t)"),
                          {"s": source_id, "t": target_id}).all())
if source_id not in found or target_id not in found:
    raise LookupError("account")
if found[source_id] < amount_cents:
    raise ValueError("funds")
for account, balance in ((source_id, found[source_id] - amount_cents),
                         (target_id, found[target_id] + amount_cents)):
    conn.execute(sa.text("UPDATE accounts SET balance_cents = :b WHERE id = :id"), {"b": balance, "id": account})
return conn.execute(sa.text("INSERT INTO transfers (source_id, target_id, amount_cents) "
                            "VALUES (:s, :t, :a) RETURNING id"),
                    {"s": source_id, "t": target_id, "a": amount_cents}).scalar_one()
'''.strip("\n")
TRANSFER_HEAD = '''
def transfer(engine, source_id, target_id, amount_cents):
    if amount_cents <= 0:
        raise ValueError("amount")
'''
NAIVE_TRANSFER = TRANSFER_HEAD + "    with engine.begin() as conn:\n" + textwrap.indent(READ_THEN_WRITE, " " * 8) + "\n"
SERIALIZABLE_TRANSFER = TRANSFER_HEAD + '''    for attempt in range(100):
        try:
            with engine.connect().execution_options(isolation_level="SERIALIZABLE") as conn, conn.begin():
''' + textwrap.indent(READ_THEN_WRITE, " " * 16) + '''
        except sa.exc.OperationalError as error:  # 40001: another transaction won; try again
            if getattr(error.orig, "sqlstate", None) != "40001" or attempt == 99:
                raise
'''

RAW_SCHEMA = r'''
def create_bank_schema(engine):
    serial = "SERIAL" if engine.dialect.name == "postgresql" else "INTEGER"
    with engine.begin() as conn:
        conn.exec_driver_sql("""CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT NOT NULL,
            email TEXT NOT NULL, balance_cents INTEGER NOT NULL DEFAULT 0 CHECK (balance_cents >= 0))""")
        conn.exec_driver_sql("CREATE UNIQUE INDEX accounts_email ON accounts (LOWER(email))")
        conn.exec_driver_sql(f"""CREATE TABLE transfers (id {serial} PRIMARY KEY,
            source_id INTEGER NOT NULL REFERENCES accounts (id), target_id INTEGER NOT NULL REFERENCES accounts (id),
            amount_cents INTEGER NOT NULL CHECK (amount_cents > 0), CHECK (source_id <> target_id))""")
'''

VARIANTS = [
    wrong("spend-inner-join", "spend_per_customer",
          SPEND.format(count="COUNT(o.id)", total="COALESCE(SUM(o.total_cents), 0)", join="JOIN")),
    wrong("spend-count-star", "spend_per_customer",
          SPEND.format(count="COUNT(*)", total="COALESCE(SUM(o.total_cents), 0)", join="LEFT JOIN")),
    wrong("spend-sum-null", "spend_per_customer",
          SPEND.format(count="COUNT(o.id)", total="SUM(o.total_cents)", join="LEFT JOIN")),
    right("spend-in-python", "spend_per_customer", r'''
def spend_per_customer(engine):
    with engine.connect() as conn:
        people = conn.execute(sa.text("SELECT id, name FROM customers")).all()
        orders = conn.execute(sa.text("SELECT customer_id, total_cents FROM orders")).all()
    rows = []
    for cid, name in people:
        mine = [t for c, t in orders if c == cid]
        rows.append((name, len(mine), sum(t or 0 for t in mine)))
    return sorted(rows, key=lambda row: (-row[2], row[0]))
'''),
    wrong("top-limit", "top_spenders", r'''
def top_spenders(engine, n):
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text("""
            SELECT c.name, COALESCE(SUM(o.total_cents), 0) AS spent FROM customers c
            LEFT JOIN orders o ON o.customer_id = c.id GROUP BY c.id, c.name
            ORDER BY spent DESC, c.name LIMIT :n"""), {"n": n})]
'''),
    wrong("top-dense-rank", "top_spenders", TOP.format(rank="DENSE_RANK()", join="LEFT JOIN")),
    wrong("top-without-zero-spenders", "top_spenders", TOP.format(rank="RANK()", join="JOIN")),
    right("top-in-python", "top_spenders", r'''
def top_spenders(engine, n):
    with engine.connect() as conn:
        names = dict(conn.execute(sa.text("SELECT id, name FROM customers")).all())
        spent = dict.fromkeys(names, 0)
        for customer, total in conn.execute(sa.text("SELECT customer_id, total_cents FROM orders")):
            spent[customer] += total or 0
    totals = sorted(((names[c], s) for c, s in spent.items()), key=lambda row: (-row[1], row[0]))
    return [(name, s) for name, s in totals if 1 + sum(other > s for _, other in totals) <= n]
'''),
    wrong("outside-drops-null", "customers_outside", OUTSIDE.format(where="LOWER(city) <> LOWER(:city)")),
    wrong("outside-case-sensitive", "customers_outside", OUTSIDE.format(where="city IS NULL OR city <> :city")),
    right("outside-coalesce", "customers_outside",
          OUTSIDE.format(where="COALESCE(LOWER(city), '') <> LOWER(:city)")),
    wrong("schema-unique-with-case", "create_bank_schema",
          SCHEMA.format(**{**SCHEMA_OK, "email_unique": ", unique=True", "index": ""})),
    wrong("schema-no-default-balance", "create_bank_schema", SCHEMA.format(**{**SCHEMA_OK, "default": ""})),
    wrong("schema-no-foreign-key", "create_bank_schema",
          SCHEMA.format(**{**SCHEMA_OK, "fk_source": "sa.Integer"})),
    wrong("schema-self-transfer", "create_bank_schema", SCHEMA.format(**{**SCHEMA_OK, "self_check": ""})),
    right("schema-raw-ddl", "create_bank_schema", RAW_SCHEMA),
    wrong("transfer-two-transactions", "transfer", r'''
def transfer(engine, source_id, target_id, amount_cents):
    if amount_cents <= 0:
        raise ValueError("amount")
    with engine.begin() as conn:
        debit = conn.execute(sa.text("UPDATE accounts SET balance_cents = balance_cents - :a "
                                     "WHERE id = :id AND balance_cents >= :a"), {"a": amount_cents, "id": source_id})
        if debit.rowcount != 1:
            if conn.execute(sa.text("SELECT 1 FROM accounts WHERE id = :id"), {"id": source_id}).first() is None:
                raise LookupError(source_id)
            raise ValueError("funds")
    with engine.begin() as conn:  # a second transaction: the debit is already committed
        credit = conn.execute(sa.text("UPDATE accounts SET balance_cents = balance_cents + :a WHERE id = :id"),
                              {"a": amount_cents, "id": target_id})
        if credit.rowcount != 1:
            raise LookupError(target_id)
        return conn.execute(sa.text("INSERT INTO transfers (source_id, target_id, amount_cents) "
                                    "VALUES (:s, :t, :a) RETURNING id"),
                            {"s": source_id, "t": target_id, "a": amount_cents}).scalar_one()
'''),
    wrong("transfer-unchecked-target", "transfer", TRANSFER.format(**{**TRANSFER_OK, "target_check": ""})),
    wrong("transfer-negative-amount", "transfer", TRANSFER.format(**{**TRANSFER_OK, "amount_check": ""})),
    right("transfer-read-then-write", "transfer", r'''
def transfer(engine, source_id, target_id, amount_cents):
    if not amount_cents > 0:
        raise ValueError(amount_cents)
    md = sa.MetaData()
    with engine.begin() as conn:
        accounts = sa.Table("accounts", md, autoload_with=conn)
        transfers = sa.Table("transfers", md, autoload_with=conn)
        query = sa.select(accounts.c.id, accounts.c.balance_cents).where(accounts.c.id.in_([source_id, target_id]))
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        found = dict(conn.execute(query).all())
        if source_id not in found or target_id not in found:
            raise LookupError("account")
        if found[source_id] < amount_cents:
            raise ValueError("funds")
        for account, delta in ((source_id, -amount_cents), (target_id, amount_cents)):
            conn.execute(accounts.update().where(accounts.c.id == account)
                         .values(balance_cents=accounts.c.balance_cents + delta))
        result = conn.execute(transfers.insert().values(source_id=source_id, target_id=target_id,
                                                        amount_cents=amount_cents))
        return result.inserted_primary_key[0]
'''),
    wrong("report-n-plus-one", "order_report", r'''
def order_report(session, status):
    return order_report_slow(session, status)
'''),
    right("report-selectinload", "order_report", r'''
from sqlalchemy.orm import selectinload

def order_report(session, status):
    query = sa.select(Order).options(selectinload(Order.customer)).where(Order.status == status).order_by(Order.id)
    return [(o.id, o.customer.name, o.total_cents) for o in session.scalars(query)]
'''),
    wrong("index-two-columns", "add_order_index", INDEX.format(indexes=["customer_id, status"])),
    wrong("index-customer-only", "add_order_index", INDEX.format(indexes=["customer_id"])),
    wrong("index-created-only", "add_order_index", INDEX.format(indexes=["created_at"])),
    wrong("index-one-per-column", "add_order_index", INDEX.format(indexes=["customer_id", "status", "created_at"])),
    right("index-status-first", "add_order_index", INDEX.format(indexes=["status, customer_id, created_at"])),
    right("index-descending", "add_order_index", INDEX.format(indexes=["customer_id, status, created_at DESC"])),
    wrong("search-formatted-sql", "search_products", r'''
def search_products(engine, term):
    with engine.connect() as conn:
        return list(conn.exec_driver_sql(
            f"SELECT name FROM products WHERE LOWER(name) LIKE '%%{term.lower()}%%'").scalars())
'''),
    wrong("search-wildcards-unescaped", "search_products", SEARCH.format(escape="term.lower()", column="LOWER(name)")),
    wrong("search-case-sensitive-like", "search_products", SEARCH.format(escape=ESCAPED, column="name"),
          only_on="PostgreSQL"),  # SQLite's LIKE ignores ASCII case by itself
    right("search-in-python", "search_products", r'''
def search_products(engine, term):
    with engine.connect() as conn:
        names = conn.execute(sa.text("SELECT name FROM products")).scalars().all()
    return [name for name in names if term.lower() in name.lower()]
'''),
    wrong("cache-without-ttl", "product_cache",
          CACHE.format(**{**CACHE_OK, "store": "if product: r.set(key, json.dumps(product))"})),
    wrong("cache-not-invalidated", "product_cache", CACHE.format(**{**CACHE_OK, "invalidate": "pass"})),
    wrong("cache-stores-misses", "product_cache",
          CACHE.format(**{**CACHE_OK, "store": "r.set(key, json.dumps(product), ex=300)"})),
    wrong("cache-never-read", "product_cache", CACHE.format(**{**CACHE_OK, "read": "None"})),
    right("cache-as-hash", "product_cache", r'''
def get_product(r, engine, product_id):
    key = f"product:{product_id}"
    cached = r.hgetall(key)
    if cached:
        return {"id": int(cached["id"]), "name": cached["name"], "price_cents": int(cached["price_cents"])}
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT id, name, price_cents FROM products WHERE id = :id"),
                           {"id": product_id}).first()
    if row is None:
        return None
    product = {"id": row.id, "name": row.name, "price_cents": row.price_cents}
    with r.pipeline() as pipe:
        pipe.hset(key, mapping=product)
        pipe.expire(key, 300)
        pipe.execute()
    return product


def set_price(r, engine, product_id, price_cents):
    with engine.begin() as conn:
        if conn.execute(sa.text("SELECT 1 FROM products WHERE id = :id"), {"id": product_id}).first() is None:
            raise LookupError(product_id)
        conn.execute(sa.text("UPDATE products SET price_cents = :p WHERE id = :id"),
                     {"p": price_cents, "id": product_id})
    r.unlink(f"product:{product_id}")
'''),
    wrong("rate-off-by-one", "allow_request", RATE.format(**{**RATE_OK, "compare": "<"})),
    wrong("rate-wall-clock", "allow_request",
          RATE.format(**{**RATE_OK, "window_number": "{int(time.time() // window)}"})),
    wrong("rate-never-expires", "allow_request", RATE.format(**{**RATE_OK, "expire": "pass"})),
    wrong("rate-one-window-forever", "allow_request", RATE.format(**{**RATE_OK, "window_number": "all"})),
    right("rate-set-nx", "allow_request", r'''
def allow_request(r, client, limit, window, now):
    start = now - now % window
    key = f"limiter|{client}|{start}"
    r.set(key, 0, ex=max(1, int(window)), nx=True)
    return r.incr(key) <= limit
'''),
    wrong("documents-compare-as-text", "big_orders",
          ORDERS.format(**{**ORDERS_OK, "total_filter": 'body["total"].as_string() >= str(min_total)'})),
    wrong("documents-any-type", "big_orders", ORDERS.format(**{**ORDERS_OK, "type_filter": ""})),
    wrong("documents-strictly-greater", "big_orders",
          ORDERS.format(**{**ORDERS_OK, "total_filter": 'body["total"].as_float() > min_total'})),
    right("documents-in-python", "big_orders", r'''
def big_orders(engine, country, min_total):
    with engine.connect() as conn:
        rows = conn.execute(sa.select(events.c.id, events.c.body)).all()
    def ok(doc):
        total = doc.get("total")
        return (doc.get("type") == "order" and (doc.get("customer") or {}).get("country") == country
                and isinstance(total, (int, float)) and total >= min_total)
    return sorted(i for i, doc in rows if ok(doc))
'''),
    # --- added with issue 20 and 19's 04 bullets: what tidy data and SQLite alone let through -------------
    wrong("spend-group-by-name", "spend_per_customer", r'''
def spend_per_customer(engine):
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text("""
            SELECT c.name, COUNT(o.id) AS n, COALESCE(SUM(o.total_cents), 0) AS spent FROM customers c
            LEFT JOIN orders o ON o.customer_id = c.id GROUP BY c.name ORDER BY spent DESC, c.name"""))]
'''),
    wrong("spend-ties-by-id", "spend_per_customer",
          SPEND.format(count="COUNT(o.id)", total="COALESCE(SUM(o.total_cents), 0)", join="LEFT JOIN")
          .replace("ORDER BY spent DESC, c.name", "ORDER BY spent DESC, c.id")),
    wrong("spend-ties-unordered", "spend_per_customer",
          SPEND.format(count="COUNT(o.id)", total="COALESCE(SUM(o.total_cents), 0)", join="LEFT JOIN")
          .replace("ORDER BY spent DESC, c.name", "ORDER BY spent DESC")),
    right("spend-ordered-by-count-too", "spend_per_customer",  # a name tie broken further: still the rule
          SPEND.format(count="COUNT(o.id)", total="COALESCE(SUM(o.total_cents), 0)", join="LEFT JOIN")
          .replace("ORDER BY spent DESC, c.name", "ORDER BY spent DESC, c.name, n DESC")),
    wrong("top-group-by-name", "top_spenders", r'''
def top_spenders(engine, n):
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text("""
            SELECT name, spent FROM (
              SELECT c.name, COALESCE(SUM(o.total_cents), 0) AS spent,
                     RANK() OVER (ORDER BY COALESCE(SUM(o.total_cents), 0) DESC) AS pos
              FROM customers c LEFT JOIN orders o ON o.customer_id = c.id GROUP BY c.name) AS t
            WHERE pos <= :n ORDER BY spent DESC, name"""), {"n": n})]
'''),
    wrong("top-ties-by-id", "top_spenders", TOP.format(rank="RANK()", join="LEFT JOIN")
          .replace("c.name, COALESCE", "c.id, c.name, COALESCE")
          .replace("ORDER BY spent DESC, name", "ORDER BY spent DESC, id")),
    wrong("outside-distinct", "customers_outside", r'''
def customers_outside(engine, city):
    with engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT DISTINCT name FROM customers WHERE city IS NULL "
                                         "OR LOWER(city) <> LOWER(:city) ORDER BY name"), {"city": city}).scalars())
'''),
    wrong("outside-unordered", "customers_outside", r'''
def customers_outside(engine, city):
    with engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT name FROM customers WHERE city IS NULL "
                                         "OR LOWER(city) <> LOWER(:city)"), {"city": city}).scalars())
'''),
    wrong("schema-sqlite-nocase", "create_bank_schema", RAW_SCHEMA
          .replace("email TEXT NOT NULL,", "email TEXT NOT NULL UNIQUE COLLATE NOCASE,")
          .replace('conn.exec_driver_sql("CREATE UNIQUE INDEX accounts_email ON accounts (LOWER(email))")', "pass"),
          only_on="PostgreSQL"),
    wrong("schema-sqlite-autoincrement", "create_bank_schema", RAW_SCHEMA.replace(
        'f"""CREATE TABLE transfers (id {serial} PRIMARY KEY', '"""CREATE TABLE transfers (id INTEGER PRIMARY KEY AUTOINCREMENT'),
          only_on="PostgreSQL"),
    wrong("transfer-naive-read-then-write", "transfer", NAIVE_TRANSFER, only_on="PostgreSQL"),
    wrong("transfer-lastrowid", "transfer", TRANSFER.format(**TRANSFER_OK).replace(
        '''return conn.execute(sa.text("INSERT INTO transfers (source_id, target_id, amount_cents) "
                                    "VALUES (:s, :t, :a) RETURNING id"),
                            {"s": source_id, "t": target_id, "a": amount_cents}).scalar_one()''',
        '''return conn.execute(sa.text("INSERT INTO transfers (source_id, target_id, amount_cents) "
                                    "VALUES (:s, :t, :a)"),
                            {"s": source_id, "t": target_id, "a": amount_cents}).lastrowid'''), only_on="PostgreSQL"),
    right("transfer-serializable-retry", "transfer", SERIALIZABLE_TRANSFER),
    wrong("report-unordered", "order_report", r'''
def order_report(session, status):
    query = sa.select(Order.id, Customer.name, Order.total_cents).join(Order.customer).where(Order.status == status)
    return [tuple(row) for row in session.execute(query)]
''', only_on="PostgreSQL"),
    wrong("index-created-first", "add_order_index", INDEX.format(indexes=["created_at, customer_id, status"])),
    wrong("index-never-committed", "add_order_index", r'''
def add_order_index(engine):
    with engine.connect() as conn:  # no commit: SQLite keeps DDL anyway, PostgreSQL rolls it back
        conn.execute(sa.text("CREATE INDEX ix_orders_lookup ON orders (customer_id, status, created_at)"))
''', only_on="PostgreSQL"),
    right("index-include", "add_order_index", r'''
def add_order_index(engine):
    include = " INCLUDE (total_cents)" if engine.dialect.name == "postgresql" else ""
    with engine.connect() as conn:
        conn.execute(sa.text(f"CREATE INDEX ix_lookup ON orders (customer_id, status, created_at DESC){include}"))
        conn.commit()
'''),
    wrong("search-quotes-doubled", "search_products", r'''
def search_products(engine, term):
    literal = term.lower().replace("'", "''").replace("!", "!!").replace("%", "!%").replace("_", "!_")
    with engine.connect() as conn:
        return list(conn.exec_driver_sql(
            f"SELECT name FROM products WHERE LOWER(name) LIKE '%%{literal}%%' ESCAPE '!'").scalars())
'''),
    wrong("search-ilike", "search_products", r'''
def search_products(engine, term):
    pattern = "%" + term.replace("!", "!!").replace("%", "!%").replace("_", "!_") + "%"
    with engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT name FROM products WHERE name ILIKE :p ESCAPE '!'"),
                                 {"p": pattern}).scalars())
'''),
    wrong("cache-delete-before-update", "product_cache", CACHE.format(**{**CACHE_OK, "invalidate": "pass"})
          .replace("def set_price(r, engine, product_id, price_cents):\n",
                   "def set_price(r, engine, product_id, price_cents):\n"
                   "    r.delete(f'product:{product_id}')  # too early: a reader can cache the old row again\n")),
    wrong("cache-delete-inside-transaction", "product_cache", CACHE.format(**{**CACHE_OK, "invalidate": "pass"})
          .replace('''                            {"p": price_cents, "id": product_id}).rowcount
''', '''                            {"p": price_cents, "id": product_id}).rowcount
        r.delete(f"product:{product_id}")  # before the commit: a reader can still read the old row
''')),
    wrong("cache-short-ttl", "product_cache",
          CACHE.format(**{**CACHE_OK, "store": "if product: r.set(key, json.dumps(product), ex=60)"})),
    wrong("rate-get-then-set", "allow_request", r'''
def allow_request(r, client, limit, window, now):
    key = f"rate:{client}:{int(now // window)}"
    count = int(r.get(key) or 0) + 1  # read, then write back: not atomic
    r.set(key, count, ex=int(window))
    return count <= limit
'''),
    wrong("rate-ttl-too-short", "allow_request", RATE.format(**{**RATE_OK, "expire": "r.expire(key, 1)"})),
    wrong("rate-ttl-too-long", "allow_request", RATE.format(**{**RATE_OK, "expire": "r.expire(key, 10 * int(window))"})),
    right("rate-ttl-time-left", "allow_request", r'''
import math


def allow_request(r, client, limit, window, now):
    key = f"rate:{client}:{int(now // window)}"
    with r.pipeline() as pipe:
        pipe.incr(key)
        pipe.expire(key, max(1, math.ceil(window - now % window)))  # exactly to the end of the window
        count, _ = pipe.execute()
    return count <= limit
'''),
    right("rate-ttl-two-windows", "allow_request", RATE.format(**{**RATE_OK, "expire": "r.expire(key, 2 * int(window))"})),
    wrong("documents-json-extract", "big_orders", r'''
def big_orders(engine, country, min_total):
    with engine.connect() as conn:
        return list(conn.execute(sa.text("""
            SELECT id FROM events WHERE json_extract(body, '$.type') = 'order'
            AND json_extract(body, '$.customer.country') = :c
            AND json_type(body, '$.total') IN ('integer', 'real') AND json_extract(body, '$.total') >= :m
            ORDER BY id"""), {"c": country, "m": min_total}).scalars())
''', only_on="PostgreSQL"),
    wrong("documents-unordered", "big_orders", ORDERS.format(**ORDERS_OK).replace(".order_by(events.c.id)", ""),
          only_on="PostgreSQL"),
]

assert {v.part for v in VARIANTS if not v.correct} == {v.part for v in VARIANTS if v.correct}


# --- the exercise: graded, and its hidden tests against wrong and other right answers -----------------------

def _exercise_parts():
    """{answer grade_id: (answer source, test source)} and the plain setup cells, from the solution."""
    nb = nbformat.read(paths.solution_path(STEM), as_version=4)
    parts, setup, cells = {}, [], nb.cells
    for index, cell in enumerate(cells):
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code":
            continue
        if meta.get("solution"):
            parts[meta["grade_id"]] = (cell.source, cells[index + 1].source)
        elif not meta:
            setup.append(cell.source)
    return parts, setup[:-1], setup[-1]  # the last plain cell stops everything


@pytest.fixture(scope="module")
def graded_variants(pg_url, tmp_path_factory):
    """{variant id: (error name, message) or None}: every variant's tests, run once in one kernel."""
    return _run_variants(pg_url, tmp_path_factory.mktemp("variants"))


def _run_variants(pg_url: str, folder: Path) -> dict:
    """Run every variant's answer, then its part's test cell, in one kernel; map variant id -> its error."""
    parts, setup, cleanup = _exercise_parts()
    cells = [nbformat.v4.new_code_cell(source) for source in setup]
    positions = {}
    for variant in VARIANTS:
        answer, tests = parts[variant.part]
        cells.append(nbformat.v4.new_code_cell(answer))  # the solution's constants, then the variant
        cells.append(nbformat.v4.new_code_cell(variant.source))
        cells.append(nbformat.v4.new_code_cell(tests))
        positions[variant.id] = len(cells) - 1
    cells.append(nbformat.v4.new_code_cell(cleanup))
    nb = nbformat.v4.new_notebook(cells=cells)
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(databases.ENV_URL, raising=False)  # the visible checks on SQLite, as a learner runs them
        patch.setenv("DATABASE_URL", pg_url)  # the hidden ones also on this test's PostgreSQL
        NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": str(folder)}}).execute()
    setup_errors = [o for c in nb.cells[:len(setup)] for o in c.outputs if o.output_type == "error"]
    assert not setup_errors, setup_errors
    banner = "".join(o.get("text", "") for o in nb.cells[0].outputs)
    assert "SQL: sqlite" in banner, banner
    results = {}
    for variant_id, position in positions.items():
        outputs = nb.cells[position].outputs
        errors = [o for o in outputs if o.output_type == "error"]
        # nbgrader gives zero to a test cell that wrote to stderr, and reads a number it displays as points
        stderr = [o.text for o in outputs if o.output_type == "stream" and o.name == "stderr"]
        shown = [o.data["text/plain"] for o in outputs if o.output_type == "execute_result"
                 and o.data.get("text/plain", "").replace(".", "", 1).lstrip("-").isdigit()]
        if errors:
            results[variant_id] = (errors[0].ename, errors[0].evalue)
        elif stderr or shown:
            results[variant_id] = ("output nbgrader misreads", (stderr or shown)[0])
        else:
            results[variant_id] = None
    return results


@pytest.mark.slow
@pytest.mark.service
@pytest.mark.parametrize("variant", VARIANTS, ids=[v.id for v in VARIANTS])
def test_hidden_tests_judge_each_variant(graded_variants, variant):
    """Wrong answers fail their part's test cell (not by NotImplementedError); other correct answers pass."""
    outcome = graded_variants[variant.id]
    if variant.correct:
        assert outcome is None, f"a correct answer failed its tests: {outcome}"
        return
    assert outcome is not None, "a wrong answer passed every test"
    assert outcome[0] != "NotImplementedError", outcome
    if variant.only_on:  # SQLite lets it through: the failure must come from, and name, the other engine
        assert f"on {variant.only_on}:" in outcome[1] and "on SQLite:" not in outcome[1], outcome
    if outcome[0] == "CheckFailed":  # the feedback lists failing checks, one per line (issue 19)
        assert all(line.startswith("FAIL ✘ ") for line in outcome[1].splitlines()), outcome


@pytest.mark.slow
@pytest.mark.service
def test_a_wrong_answer_that_fails_several_checks_is_shown_every_one(graded_variants):
    """The feedback lists every failing check of the part, on each engine, not only the first (issue 19)."""
    inner = graded_variants["spend-inner-join"]
    lines = inner[1].splitlines()
    assert inner[0] == "CheckFailed" and len(lines) >= 3, inner
    assert any(line.startswith("FAIL ✘ Dee has no orders") for line in lines), inner  # the visible check
    assert any(line.startswith("FAIL ✘ every row, in order") for line in lines), inner  # then a hidden one
    assert any("on SQLite:" in line for line in lines) and any("on PostgreSQL:" in line for line in lines), inner
    naive = graded_variants["transfer-naive-read-then-write"]  # only the concurrent transfers catch it
    on_postgres = [line for line in naive[1].splitlines() if line.startswith("FAIL ✘ on PostgreSQL: ")]
    assert len(on_postgres) >= 2 and "neither create nor lose money" in on_postgres[0], naive


@pytest.mark.slow
@pytest.mark.service
def test_solution_scores_full_marks_with_the_visible_checks_on_postgres(pg_url, monkeypatch, gradebook_cache):
    from course.grading.grader import grade_notebook

    monkeypatch.setenv(databases.ENV_URL, pg_url)
    result = grade_notebook(STEM, paths.solution_path(STEM), cache_dir=gradebook_cache)
    failed = [f"{p.grade_id}: {p.message}" for p in result.parts if not p.passed]
    assert not failed, failed
    assert len(result.parts) >= 9 and result.score == result.max_score


SETEX = CACHE.format(**{**CACHE_OK, "store": "if product: r.setex(key, 300, json.dumps(product))"})  # redis-py 8
# warns "Call to deprecated setex" (a DeprecationWarning), though SETEX is a standard Redis command


# Depends on engineer C's change (issue 20: a library's warning must never zero a part in the graded kernel).
# Without it, redis-py 8's DeprecationWarning for setex goes to stderr and nbgrader gives the part zero, so
# this test fails on a branch that lacks C's fix. It is not marked xfail on purpose: the lead must see it.
@pytest.mark.slow
@pytest.mark.service
def test_a_setex_cache_gets_full_marks_through_the_grader(pg_url, tmp_path, monkeypatch, gradebook_cache):
    from course.grading.grader import grade_notebook

    nb = nbformat.read(paths.solution_path(STEM), as_version=4)
    answer = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "product_cache")
    answer.source = "CACHE_TTL = 300\n" + SETEX
    target = tmp_path / f"{STEM}.ipynb"
    nbformat.write(nb, target)
    monkeypatch.setenv("DATABASE_URL", pg_url)
    result = grade_notebook(STEM, target, cache_dir=gradebook_cache)
    part = next(p for p in result.parts if p.grade_id == "product_cache_tests")
    assert part.passed and part.points == part.max_points, part


# --- one rule for a rate-limit counter's expiry, in exercise 04 (Part J) and exercise 05 (Part G) ----------

EXPIRY_RULES = {  # the expiry an answer sets -> whether the rule both exercises state accepts it
    "int(window)": True,  # a whole window (the simplest)
    "2 * int(window)": True,  # two windows (05's solution)
    "max(1, math.ceil(window - now % window))": True,  # exactly to the end of the window
    "1": False,  # a count can vanish while its window is still open
    "10 * int(window)": False,  # old counts pile up
    None: False,  # never expires
}


def _graded_rate_rules(stem: str, setup_cells: int, test_id: str, answer: str, folder: Path) -> dict:
    """Run ``stem``'s first plain cells, then each rule's answer and the part's test cell; rule -> passed."""
    nb = nbformat.read(paths.solution_path(stem), as_version=4)
    setup = [c.source for c in nb.cells if c.cell_type == "code"][:setup_cells]
    tests = next(c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == test_id)
    cells, positions = [nbformat.v4.new_code_cell(s) for s in setup], {}
    for rule in EXPIRY_RULES:
        expire = f"r.expire(key, {rule})" if rule else "pass"
        cells += [nbformat.v4.new_code_cell("import math\n" + answer.format(expire=expire)),
                  nbformat.v4.new_code_cell(tests)]
        positions[rule] = len(cells) - 1
    cells.append(nbformat.v4.new_code_cell("from course.components import services\nservices.stop_all()"))
    nb = nbformat.v4.new_notebook(cells=cells)
    NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(folder)}}).execute()
    assert not [o for c in nb.cells[:len(setup)] for o in c.outputs if o.output_type == "error"]
    return {rule: not any(o.output_type == "error" for o in nb.cells[i].outputs) for rule, i in positions.items()}


@pytest.mark.slow
@pytest.mark.service
def test_04_and_05_judge_a_counters_expiry_by_the_same_rule(pg_url, tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", pg_url)
    in_04 = _graded_rate_rules(STEM, 1, "allow_request_tests", '''
def allow_request(r, client, limit, window, now):
    key = f"rate:{{client}}:{{int(now // window)}}"
    count = r.incr(key)
    {expire}
    return count <= limit
''', tmp_path)
    in_05 = _graded_rate_rules("05-build-projects", 1, "rate_limit_tests", '''
def allow(r, key, *, limit, window, now):
    key = f"markit:rate:{{key}}:{{int(now // window)}}"
    count = r.incr(key)
    {expire}
    return count <= limit
''', tmp_path)
    assert in_04 == EXPIRY_RULES and in_05 == EXPIRY_RULES, (in_04, in_05)
