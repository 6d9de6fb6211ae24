"""Step 04 (databases): the helpers in course.steps.step04_databases.relational and .documents on real engines,
and the lesson's last cell shown to stop every server it started and remove its data directories. (The
exercise's grading, against wrong and other correct answers, is in test_exercise.py.)

Real engines only: a PostgreSQL or Redis that cannot start skips its tests on a laptop and fails them in CI.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from datetime import UTC
from pathlib import Path

import nbformat
import psutil
import pytest
import sqlalchemy as sa
from nbclient import NotebookClient

from course.steps.step04_databases import documents
from course.steps.step04_databases import relational as databases

STEM = "04-databases"


# --- course.steps.step04_databases.relational on SQLite ---------------------------------------------------------------------------

def test_scratch_sqlite_is_empty_checks_foreign_keys_and_is_removed(lite):
    folder = Path(lite.url.database).parent
    assert folder.is_dir() and sa.inspect(lite).get_table_names() == []
    databases.shop_metadata().create_all(lite)
    with pytest.raises(sa.exc.IntegrityError):
        databases.insert_rows(lite, "orders", [{"id": 1, "customer_id": 99, "status": "paid",
                                                "created_at": "2025-01-01T00:00:00"}])
    lite.dispose()
    assert any(str(folder) in item for item in databases.stop_all())
    assert not folder.exists()


def test_course_db_url_chooses_the_engine(monkeypatch):
    monkeypatch.setenv(databases.ENV_URL, "sqlite")
    assert databases.resolve_url().startswith("sqlite:///")
    monkeypatch.setenv(databases.ENV_URL, "postgresql://u:p@127.0.0.1:5999/db")
    assert databases.resolve_url() == "postgresql+psycopg://u:p@127.0.0.1:5999/db"
    monkeypatch.delenv(databases.ENV_URL)
    assert databases.resolve_url().startswith("sqlite:///")
    databases.stop_all()


def test_make_shop_is_repeatable_and_respects_its_constraints(lite):
    counts = databases.make_shop(lite, customers=20, orders=100, seed=3)
    assert counts["customers"] == 20 and counts["orders"] == 100 and counts["order_items"] >= 100
    other = databases.scratch_engine("sqlite")
    databases.make_shop(other, customers=20, orders=100, seed=3)
    query = sa.text("SELECT * FROM orders ORDER BY id")
    with lite.connect() as a, other.connect() as b:
        assert a.execute(query).all() == b.execute(query).all()
        nulls = a.execute(sa.text("SELECT COUNT(*) FROM customers WHERE city IS NULL")).scalar_one()
    assert nulls > 0  # the sample data has unknown cities, for the NULL lessons
    other.dispose()
    with pytest.raises(sa.exc.IntegrityError):
        databases.insert_rows(lite, "products", [{"id": 99, "name": "Gift", "price_cents": -1}])


def test_count_statements_counts_only_inside_the_block(lite):
    with lite.connect() as conn:
        conn.exec_driver_sql("SELECT 0")
        with databases.count_statements(lite) as log:
            conn.exec_driver_sql("SELECT 1")
            conn.exec_driver_sql("SELECT 2")
        conn.exec_driver_sql("SELECT 3")
    assert log.count == 2 and log.statements == ["SELECT 1", "SELECT 2"]


def test_count_statements_records_the_bound_parameters_apart_from_the_sql(lite):
    with lite.connect() as conn, databases.count_statements(lite) as log:
        conn.execute(sa.text("SELECT :term"), {"term": "O'Reilly"})
    assert log.statements == ["SELECT ?"] and log.parameters == [("O'Reilly",)]


@pytest.mark.service
def test_shuffled_rows_are_stored_out_of_id_order_with_the_same_content(pg_url):
    tidy, shuffled = databases.scratch_engine(pg_url), databases.scratch_engine(pg_url)
    databases.make_shop(tidy, customers=20, orders=100, seed=5)
    databases.make_shop(shuffled, customers=20, orders=100, seed=5, shuffle=True)
    with tidy.connect() as a, shuffled.connect() as b:
        stored = b.execute(sa.text("SELECT id FROM orders")).scalars().all()  # as stored: no ORDER BY
        assert stored != sorted(stored)
        ordered = sa.text("SELECT id, customer_id, status, created_at, total_cents FROM orders ORDER BY id")
        assert a.execute(ordered).all() == b.execute(ordered).all()


@pytest.mark.service
def test_insert_documents_in_a_given_order(pg_url):
    engine = databases.scratch_engine(pg_url)
    databases.insert_documents(engine, [{"n": 1}, {"n": 2}, {"n": 3}], "docs", order=[3, 1, 2])
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT id FROM docs")).scalars().all() == [3, 1, 2]
        assert conn.execute(sa.text("SELECT body->>'n' FROM docs ORDER BY id")).scalars().all() == ["1", "2", "3"]
    with pytest.raises(ValueError, match="once each"):
        databases.insert_documents(databases.scratch_engine(pg_url), [{"n": 1}], "docs", order=[2])


@pytest.mark.service
def test_created_at_is_a_timestamp_on_postgres_and_iso_text_on_sqlite(pg_url, lite):
    pg = databases.scratch_engine(pg_url)
    for engine in (pg, lite):
        databases.make_shop(engine, customers=5, orders=20, items=False)
    with pg.connect() as conn:
        kind = conn.execute(sa.text("SELECT data_type FROM information_schema.columns WHERE table_schema = "
                                    "current_schema() AND table_name = 'orders' AND column_name = 'created_at'"))
        assert kind.scalar_one() == "timestamp with time zone"
        first_pg = conn.execute(sa.text("SELECT created_at FROM orders WHERE id = 1")).scalar_one()
    with lite.connect() as conn:
        first_lite = conn.execute(sa.text("SELECT created_at FROM orders WHERE id = 1")).scalar_one()
    assert first_pg.utcoffset() is not None and str(first_lite).startswith(first_pg.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"))


ORDERS_QUERY = ("SELECT id FROM orders WHERE customer_id = :customer_id AND status = :status "
                "ORDER BY created_at DESC")
PARAMS = {"customer_id": 3, "status": "paid"}


@pytest.mark.parametrize(("columns", "searches", "sorts"), [
    (None, set(), True),
    ("customer_id", {"customer_id"}, True),
    ("customer_id, status", {"customer_id", "status"}, True),
    ("customer_id, status, created_at", {"customer_id", "status"}, False),
    ("created_at", set(), False),
])
def test_sqlite_plan_summary(lite, columns, searches, sorts):
    databases.make_shop(lite, customers=30, orders=1000, items=False)
    if columns:
        with lite.begin() as conn:
            conn.exec_driver_sql(f"CREATE INDEX ix_test ON orders ({columns})")
    plan = databases.explain(lite, ORDERS_QUERY, PARAMS)
    assert {c for c in ("customer_id", "status") if plan.searches(c)} == searches, str(plan)
    assert plan.sorts is sorts, str(plan)
    assert plan.uses_index("ix_test") is bool(columns)
    assert ("orders" in plan.full_scans) is (not searches), str(plan)


def test_explain_accepts_a_sqlalchemy_statement(lite):
    databases.make_shop(lite, customers=5, orders=20, items=False)
    orders = databases.shop_metadata().tables["orders"]
    plan = databases.explain(lite, sa.select(orders.c.id).where(orders.c.id == 7))
    assert plan.lines and plan.dialect == "sqlite" and "orders" not in plan.full_scans


def test_bank_helpers(lite):
    bank = databases.bank(None, [100, 0], cap=150)
    assert databases.balances(bank) == {1: 100, 2: 0}
    with pytest.raises(sa.exc.IntegrityError), bank.begin() as conn:
        conn.exec_driver_sql("UPDATE accounts SET balance_cents = 151 WHERE id = 2")
    assert databases.balances(bank) == {1: 100, 2: 0}
    bank.dispose()


def test_alembic_project_runs_and_is_removed(lite, capfd):
    from alembic import command

    config = databases.alembic_config(lite.url)
    versions = Path(config.get_main_option("script_location")) / "versions"
    (versions / "0001_t.py").write_text(
        'import sqlalchemy as sa\nfrom alembic import op\nrevision, down_revision = "0001", None\n'
        'def upgrade():\n    op.create_table("t", sa.Column("id", sa.Integer, primary_key=True))\n'
        'def downgrade():\n    op.drop_table("t")\n'
    )
    command.upgrade(config, "head")
    assert "t" in sa.inspect(lite).get_table_names()
    out, err = capfd.readouterr()
    # Alembic's progress reads as output (a notebook shows stderr in red, as errors); nothing on stderr
    assert "alembic: Running upgrade  -> 0001" in out and "INFO" not in err and err == "", (out, err)
    lite.dispose()
    databases.stop_all()
    assert not versions.exists()


def test_engine_comparison_names_each_engine_and_sources_every_figure():
    engines = databases.engine_comparison()
    assert [e["name"] for e in engines] == ["PostgreSQL", "MySQL", "SQL Server", "SQLite", "MongoDB", "Redis"]
    for engine in engines:
        assert all(engine.get(k) for k in ("model", "runs_as", "good_for", "watch_out", "licence"))
    from course import data

    for survey in data.load("databases.yaml")["usage"]:
        assert survey["source"] and survey["as_of"], survey
        assert all(0 < pct < 100 for pct in survey["all_respondents_percent"].values())


# --- the same helpers on the real PostgreSQL --------------------------------------------------------------

@pytest.mark.service
def test_scratch_postgres_schemas_are_separate_hold_no_idle_connections_and_are_dropped(pg_url):
    first, second = databases.scratch_engine(pg_url), databases.scratch_engine(pg_url)
    name = first.url.database
    databases.make_shop(first, customers=10, orders=50)
    assert sa.inspect(second).get_table_names() == []  # each scratch engine is its own empty schema
    with first.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM customers")).scalar_one() == 10
    admin = sa.create_engine(pg_url)
    exists = sa.text("SELECT COUNT(*) FROM pg_database WHERE datname = :name")
    connected = sa.text("SELECT COUNT(*) FROM pg_stat_activity WHERE datname = :name")
    with admin.connect() as conn:
        assert conn.execute(exists, {"name": name}).scalar_one() == 1
        assert conn.execute(connected, {"name": name}).scalar_one() <= 1  # the schema maker's; none per engine
    databases.stop_all()
    with admin.connect() as conn:
        assert conn.execute(exists, {"name": name}).scalar_one() == 0
    admin.dispose()


@pytest.mark.service
def test_same_shop_on_sqlite_and_postgres(pg_url, lite):
    pg = databases.scratch_engine(pg_url)
    for engine in (lite, pg):
        databases.make_shop(engine, customers=25, orders=200, seed=9)
    query = sa.text("SELECT c.name, COUNT(o.id), COALESCE(SUM(o.total_cents), 0) FROM customers c "
                    "LEFT JOIN orders o ON o.customer_id = c.id GROUP BY c.id, c.name ORDER BY c.id")
    with lite.connect() as a, pg.connect() as b:
        assert [tuple(r) for r in a.execute(query)] == [tuple(r) for r in b.execute(query)]


@pytest.mark.service
@pytest.mark.parametrize(("columns", "good"), [
    ("customer_id, status, created_at", True),
    ("status, customer_id, created_at", True),
    ("customer_id, status", False),
    ("customer_id", False),
    ("created_at", False),
    ("created_at, customer_id, status", False),  # "Index Cond" on both, but the whole index is read
    ("customer_id, created_at, status", False),  # status is not in the leading run: checked, not looked up
])
def test_postgres_plan_summary_with_prefer_index(pg_url, columns, good):
    engine = databases.scratch_engine(pg_url)
    databases.make_shop(engine, customers=30, orders=1000, items=False)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE INDEX ix_test ON orders ({columns})")
    plan = databases.explain(engine, ORDERS_QUERY, PARAMS, prefer_index=True)
    assert plan.uses_index("ix_test"), str(plan)
    serves = plan.searches("customer_id") and plan.searches("status") and not plan.sorts
    assert serves is good, str(plan)
    analyzed = databases.explain(engine, ORDERS_QUERY, PARAMS, analyze=True)
    assert analyzed.execution_ms is not None and analyzed.execution_ms >= 0


SKIP_QUERY = "SELECT COUNT(*) FROM logins WHERE day = :day"


def _logins(engine, regions: int):
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE logins (id INTEGER PRIMARY KEY, region TEXT, day INTEGER)")
        conn.execute(sa.text("INSERT INTO logins VALUES (:id, :region, :day)"),
                     [{"id": i, "region": f"r{i % regions}", "day": i % 1000} for i in range(40_000)])
        conn.exec_driver_sql("CREATE INDEX ix_logins ON logins (region, day)")
        conn.exec_driver_sql("ANALYZE")


@pytest.mark.parametrize("engine_name", ["sqlite", pytest.param("postgres", marks=pytest.mark.service)])
def test_a_skip_scan_is_reported_and_is_not_a_lookup(request, engine_name):
    url = request.getfixturevalue("pg_url") if engine_name == "postgres" else "sqlite"
    engine = databases.scratch_engine(url)
    _logins(engine, regions=4)  # four distinct leading values: both engines skip-scan the index
    plan = databases.explain(engine, SKIP_QUERY, {"day": 500})
    assert plan.skip_scans == ["ix_logins"] and not plan.searches("day") and not plan.searched, str(plan)
    lookup = databases.explain(engine, "SELECT COUNT(*) FROM logins WHERE region = 'r1' AND day = 5")
    assert lookup.searches("region") and lookup.searches("day") and not lookup.skip_scans, str(lookup)
    databases.stop_all()


@pytest.mark.service
def test_lock_waiters_sees_a_session_blocked_by_an_uncommitted_update(pg_url):
    import threading

    engine = databases.bank(pg_url, [100])
    assert databases.lock_waiters(engine, timeout=0) == 0
    with engine.connect() as first:
        first.execute(sa.text("UPDATE accounts SET balance_cents = 1 WHERE id = 1"))

        def second():
            with engine.begin() as conn:
                conn.execute(sa.text("UPDATE accounts SET balance_cents = balance_cents + 1 WHERE id = 1"))

        thread = threading.Thread(target=second)
        thread.start()
        assert databases.lock_waiters(engine) == 1
        first.commit()
    thread.join(60)
    assert databases.balances(engine) == {1: 2} and databases.lock_waiters(engine, timeout=0) == 0


@pytest.mark.service
def test_jsonb_store_follows_mongodb_filter_semantics(pg_url):
    store = documents.JsonbStore(databases.scratch_engine(pg_url), "docs")
    store.insert_many([
        {"n": 1, "type": "order", "total": 9, "tags": ["a", "b"], "c": {"country": "FR"}},
        {"n": 2, "type": "order", "total": 20, "c": {"country": "DE"}},
        {"n": 3, "type": "refund", "total": "100"},
        {"n": 4, "type": "order", "total": None},
    ])

    def ns(filter, **kwargs):
        return [doc["n"] for doc in store.find(filter, **kwargs)]

    assert ns({"type": "order"}) == [1, 2, 4]
    assert ns({"tags": "a"}) == [1]  # an array matches when one element does
    assert ns({"c.country": "FR"}) == [1]
    assert ns({"total": {"$gte": 10}}) == [2]  # the string "100" is not a number
    assert ns({"total": "100"}) == [3]
    assert ns({"total": None}) == [4]  # null or missing
    assert ns({"tags": None}) == [2, 3, 4]
    assert ns({"total": {"$ne": 9}}) == [2, 3, 4]  # $ne also matches a missing field
    assert ns({"c": {"$exists": False}}) == [3, 4]
    assert ns({"type": {"$in": ["refund", "x"]}}) == [3]
    assert ns({"type": "order", "total": {"$lt": 100, "$gt": 0}}) == [1, 2]
    assert ns({"type": "order"}, sort=[("total", -1)], limit=2) == [2, 1]
    # JSONB ranks numbers above strings (MongoDB the other way round): a documented difference
    assert ns({}, sort=[("total", -1)]) == [2, 1, 3, 4]
    assert ns({"type": "order\" || true || \"", "x'); DROP TABLE docs; --": 1}) == []
    assert store.count({"type": "order"}) == 3
    with pytest.raises(ValueError, match="not supported"):
        store.find({"type": {"$regex": "^o"}})
    store.create_index()
    assert store.explain({"type": "order"}, prefer_index=True).uses_index("ix_docs_body")
    assert store.delete_many({"type": "refund"}) == 1 and store.count() == 3
    store.drop()


@pytest.mark.service
def test_document_store_choice(pg_url, monkeypatch):
    monkeypatch.delenv("MONGODB_URL", raising=False)
    assert isinstance(documents.document_store("d", engine=databases.scratch_engine(pg_url)),
                      documents.JsonbStore)
    monkeypatch.setenv("MONGODB_URL", "mongodb://127.0.0.1:1/course")
    monkeypatch.setitem(__import__("sys").modules, "pymongo", None)  # as if pymongo were not installed
    with pytest.raises(RuntimeError, match="pymongo"):
        documents.document_store("d")
    with pytest.raises(ValueError, match="PostgreSQL"):
        documents.JsonbStore(databases.scratch_engine("sqlite"))


# --- the lesson stops what it started -------------------------------------------------------------------

def _processes_under(folder: str) -> list[str]:
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        try:
            if any(folder in part for part in process.info["cmdline"] or []):
                found.append(f"{process.info['pid']}: {' '.join(process.info['cmdline'])[:120]}")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def _output_of(cells, marker: str) -> str:
    """The stdout of the one code cell whose source contains ``marker``, checking it wrote nothing to stderr."""
    (cell,) = [c for c in cells if c.cell_type == "code" and marker in c.source]
    streams = [o for o in cell.outputs if o.output_type == "stream"]
    stderr = "".join(o.text for o in streams if o.name == "stderr")
    assert not stderr, f"the cell with {marker!r} wrote to stderr (shown in red): {stderr[:300]}"
    return "".join(o.text for o in streams if o.name == "stdout")


def _check_the_lessons_claims(cells):
    """What the lesson's prose says its cells show (issue 19's 04 errata and issue 15's Alembic lines)."""
    setup = _output_of(cells, "services.server_version(r)")
    assert "| Valkey 9." in setup, setup  # the setup text names Valkey (issue 17): the server must be it
    lost = _output_of(cells, "read, then write what you computed")
    assert "2 sold (Ada, Bob), 0 left in stock" in lost, lost  # the last keyboard, sold twice
    fixed = _output_of(cells, "def take_in_one_statement")
    for fix in ("take_in_one_statement", "take_with_row_lock"):
        assert f"{fix}: Ada bought: True; sessions waiting for a lock meanwhile: 1; Bob bought: False -> 1 sold (Ada)" \
            in fixed, fixed
    serial = _output_of(cells, "serializable + retry")
    assert "SQLSTATE 40001" in serial and "1 sold (Ada), 0 left" in serial, serial
    skip = _output_of(cells, "PATH_ONLY = ")
    assert skip.count("skip-scans ix_logins_region_day") == 2 and "Index Searches:" in skip, skip
    loads = _output_of(cells, "LOADERS = ")
    assert "in   2 statements; best of 5 runs" in loads and "in   1 statements; best of 5 runs" in loads, loads
    assert "same rows every time: True" in loads, loads
    migrations = _output_of(cells, "command.upgrade(config")  # Alembic's progress, as output
    assert "alembic: Running upgrade  -> 0001, create tickets" in migrations, migrations


@pytest.mark.slow
@pytest.mark.service
def test_lesson_shows_what_it_claims_then_its_last_cell_stops_its_servers_and_removes_their_data():
    # A short temporary folder of its own: the kernel's databases live there (a Unix socket path must stay
    # under about 100 characters), so anything the lesson leaves behind is easy to see.
    from factories import learner_lesson

    scratch = tempfile.mkdtemp(prefix="c04-", dir="/tmp")
    try:
        with pytest.MonkeyPatch.context() as patch:
            lesson = learner_lesson(STEM, Path(scratch), patch)  # as a learner runs it (tests/test_notebooks.py)
            nb = nbformat.read(lesson, as_version=4)
            last = max(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
            client = NotebookClient(nb, timeout=180, kernel_name="python3",
                                    resources={"metadata": {"path": str(lesson.parent)}})
            for name in ("TMPDIR", "TEMP", "TMP"):
                patch.setenv(name, scratch)
            for name in ("DATABASE_URL", "REDIS_URL", "MONGODB_URL"):
                patch.delenv(name, raising=False)  # the embedded servers, which the lesson must stop
            with client.setup_kernel():
                for index, cell in enumerate(nb.cells[:last]):
                    if cell.cell_type == "code":
                        client.execute_cell(cell, index)
                _check_the_lessons_claims(nb.cells[:last])
                made = sorted(p.name.rsplit("-", 1)[0] for p in Path(scratch).glob("course-*"))
                assert {"course-postgres", "course-redis", "course-sqlite", "course-alembic"} <= set(made), made
                assert _processes_under(scratch), "no server process found before the last cell"
                client.execute_cell(nb.cells[last], last)
                left = sorted(p.name for p in Path(scratch).glob("course-*"))
                assert not left, f"the lesson's last cell left these behind: {left}"
        running = _processes_under(scratch)
        for _ in range(50):  # a server may take a moment to exit after its stop command returned
            if not running:
                break
            time.sleep(0.2)
            running = _processes_under(scratch)
        assert not running, running
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
