"""Helpers for step 04 (databases): scratch databases on real engines, sample data, statement counting,
query plans and Alembic projects.

- :func:`scratch_engine` gives a SQLAlchemy engine on a fresh, empty database: a temporary SQLite file by
  default, or a new database on PostgreSQL when the URL (argument or ``COURSE_DB_URL``) names one. The word
  ``postgres`` means the course's PostgreSQL (``DATABASE_URL`` or the embedded one, see ``course.components.services``).
- :func:`count_statements` counts the SQL statements an engine sends (to measure an N+1).
- :func:`explain` runs ``EXPLAIN QUERY PLAN`` (SQLite) or ``EXPLAIN`` (PostgreSQL) and summarises the plan:
  which indexes it uses, on which conditions, whether it scans whole tables or sorts.
- :func:`alembic_config` makes a throwaway Alembic project; :func:`engine_comparison` reads the table of
  engines. The MongoDB-style document store is in ``course.steps.step04_databases.documents``.

:func:`stop_all` drops every scratch database and removes every temporary folder this module made.
"""

from __future__ import annotations

import io
import json
import os
import random
import re
import shutil
import tempfile
import time
import uuid
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

__all__ = [
    "ENV_URL", "resolve_url", "scratch_engine", "temp_dir", "stop_all", "shop_metadata", "make_shop",
    "insert_rows", "shop_with", "bank", "balances", "insert_documents", "document_table", "StatementLog", "count_statements", "Plan", "explain", "best_time",
    "alembic_config", "engine_comparison",
]

ENV_URL = "COURSE_DB_URL"
JSON_TYPE = sa.JSON().with_variant(JSONB(), "postgresql")  # JSONB on PostgreSQL, JSON text elsewhere

_scratch_databases: list[tuple[sa.Engine, sa.URL]] = []  # (engine on the scratch db, server admin URL)
_temp_dirs: list[Path] = []


# --- scratch databases -----------------------------------------------------------------------------------

def temp_dir(prefix: str = "course-db-") -> Path:
    """A temporary folder that :func:`stop_all` removes."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    _temp_dirs.append(folder)
    return folder


def resolve_url(url: str | None = None) -> str:
    """The SQLAlchemy URL to use: ``url``, else ``COURSE_DB_URL``, else ``sqlite`` (a temporary file)."""
    url = (url or os.environ.get(ENV_URL) or "sqlite").strip()
    if url in {"postgres", "postgresql"}:
        from course.components import services

        return services.sqlalchemy_url()
    if url == "sqlite":
        return f"sqlite:///{temp_dir('course-sqlite-') / 'course.sqlite3'}"
    from course.components import services

    return services.sqlalchemy_url(url)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # SQLite checks foreign keys only when asked, per connection; every other engine always does.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def scratch_engine(url: str | None = None, **engine_kwargs) -> sa.Engine:
    """An engine on a fresh, empty database (see the module docstring for how ``url`` is chosen)."""
    target = sa.make_url(resolve_url(url))
    if target.get_backend_name() == "sqlite":
        if target.database in (None, "", ":memory:"):
            target = target.set(database=str(temp_dir("course-sqlite-") / "course.sqlite3"))
        engine = sa.create_engine(target, **engine_kwargs)
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if target.get_backend_name() == "postgresql":
        name = f"course_{uuid.uuid4().hex[:12]}"
        admin = sa.create_engine(target, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        finally:
            admin.dispose()
        engine = sa.create_engine(target.set(database=name), **engine_kwargs)
        _scratch_databases.append((engine, target))
        return engine
    return sa.create_engine(target, **engine_kwargs)  # another server: used as it is, nothing dropped


def stop_all() -> list[str]:
    """Drop the scratch PostgreSQL databases and remove the temporary folders; returns what it removed."""
    removed = []
    while _scratch_databases:
        engine, admin_url = _scratch_databases.pop()
        name = engine.url.database
        engine.dispose()
        admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            removed.append(f"database {name}")
        except sa.exc.OperationalError:
            pass  # the server is already gone, and its data directory with it
        finally:
            admin.dispose()
    while _temp_dirs:
        folder = _temp_dirs.pop()
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(f"folder {folder}")
    return removed


# --- sample data -----------------------------------------------------------------------------------------

def shop_metadata() -> sa.MetaData:
    """The course's small shop: customers, products, orders and their lines (3NF, with constraints)."""
    md = sa.MetaData()
    sa.Table(
        "customers", md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("email", sa.String(120), nullable=False, unique=True),
        sa.Column("city", sa.String(80)),  # NULL: not known
    )
    sa.Table(
        "products", md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("price_cents", sa.Integer, sa.CheckConstraint("price_cents >= 0"), nullable=False),
    )
    sa.Table(
        "orders", md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("customer_id", sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", sa.String(19), nullable=False),  # ISO text sorts the same on every engine
        sa.Column("total_cents", sa.Integer),  # NULL: not priced yet
    )
    sa.Table(
        "order_items", md,
        sa.Column("order_id", sa.ForeignKey("orders.id"), primary_key=True),
        sa.Column("product_id", sa.ForeignKey("products.id"), primary_key=True),
        sa.Column("quantity", sa.Integer, sa.CheckConstraint("quantity > 0"), nullable=False),
    )
    return md


CITIES = ["Lyon", "Paris", "Nantes", "Lille", "Bordeaux", None]
STATUSES = ["paid", "paid", "paid", "shipped", "cancelled", "pending"]
PRODUCTS = ["Keyboard", "Mouse", "Monitor", "USB-C cable", "Laptop stand", "Webcam", "Headset", "Desk lamp"]


def make_shop(engine: sa.Engine, customers: int = 50, orders: int = 500, *, items: bool = True,
              seed: int = 4) -> dict[str, int]:
    """Create the shop tables on ``engine`` and fill them with repeatable random rows; returns row counts."""
    rng = random.Random(seed)
    md = shop_metadata()
    md.create_all(engine)
    t = md.tables
    people = [{"id": i, "name": f"Customer {i:03d}", "email": f"customer{i}@example.com",
               "city": rng.choice(CITIES)} for i in range(1, customers + 1)]
    goods = [{"id": i, "name": name, "price_cents": rng.randrange(500, 20000, 5)}
             for i, name in enumerate(PRODUCTS, start=1)]
    rows, lines = [], []
    for i in range(1, orders + 1):
        day = rng.randrange(0, 365)
        rows.append({"id": i, "customer_id": rng.randrange(1, customers + 1), "status": rng.choice(STATUSES),
                     "created_at": f"2025-{1 + day // 31 % 12:02d}-{1 + day % 28:02d}T{day % 24:02d}:00:00",
                     "total_cents": None if i % 97 == 0 else rng.randrange(500, 50000, 5)})
        if items:
            for product in rng.sample(range(1, len(goods) + 1), rng.randint(1, 3)):
                lines.append({"order_id": i, "product_id": product, "quantity": rng.randint(1, 4)})
    with engine.begin() as conn:
        for table, data in (("customers", people), ("products", goods), ("orders", rows), ("order_items", lines)):
            if data:
                conn.execute(t[table].insert(), data)
    return {"customers": len(people), "products": len(goods), "orders": len(rows), "order_items": len(lines)}


def insert_rows(engine: sa.Engine, table: str, rows: list[dict]) -> int:
    """Insert ``rows`` (dicts with the same keys) into ``table`` in one transaction; returns how many."""
    if not rows:
        return 0
    columns = list(rows[0])
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})"
    with engine.begin() as conn:
        conn.execute(sa.text(sql), rows)
    return len(rows)


def shop_with(url: str | None = None, **rows: list[dict]) -> sa.Engine:
    """A fresh database with the (empty) shop tables, then exactly these rows: ``customers=[...]`` etc."""
    engine = scratch_engine(url)
    shop_metadata().create_all(engine)
    for table in ("customers", "products", "orders", "order_items"):  # parents before children
        insert_rows(engine, table, rows.get(table, []))
    return engine


def bank(url: str | None = None, balances: list[int] = (), *, cap: int | None = None) -> sa.Engine:
    """A fresh database with ``accounts`` 1..n holding ``balances`` (cents) and an empty ``transfers`` table.

    ``cap`` adds a ceiling on every balance, so that crediting an account can fail after a debit succeeded.
    """
    engine = scratch_engine(url)
    md = sa.MetaData()
    checks = [sa.CheckConstraint("balance_cents >= 0")]
    if cap is not None:
        checks.append(sa.CheckConstraint(f"balance_cents <= {int(cap)}"))
    sa.Table("accounts", md, sa.Column("id", sa.Integer, primary_key=True),
             sa.Column("owner", sa.String(80), nullable=False),
             sa.Column("balance_cents", sa.Integer, nullable=False), *checks)
    sa.Table("transfers", md, sa.Column("id", sa.Integer, primary_key=True),
             sa.Column("source_id", sa.ForeignKey("accounts.id"), nullable=False),
             sa.Column("target_id", sa.ForeignKey("accounts.id"), nullable=False),
             sa.Column("amount_cents", sa.Integer, sa.CheckConstraint("amount_cents > 0"), nullable=False))
    md.create_all(engine)
    insert_rows(engine, "accounts", [{"id": i, "owner": f"Owner {i}", "balance_cents": b}
                                     for i, b in enumerate(balances, start=1)])
    return engine


def balances(engine: sa.Engine) -> dict[int, int]:
    """``{account id: balance_cents}`` of a :func:`bank`."""
    with engine.connect() as conn:
        return dict(conn.execute(sa.text("SELECT id, balance_cents FROM accounts ORDER BY id")).all())


def insert_documents(engine: sa.Engine, documents: list[dict], name: str = "events") -> sa.Table:
    """Create a :func:`document_table` (if needed) and store ``documents`` with ids 1..n; returns the table."""
    table = document_table(name)
    table.create(engine, checkfirst=True)
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"id": i, "body": doc} for i, doc in enumerate(documents, start=1)])
    return table


def document_table(name: str = "events", metadata: sa.MetaData | None = None) -> sa.Table:
    """A table of JSON documents: ``id`` and ``body`` (JSONB on PostgreSQL, JSON text on SQLite)."""
    return sa.Table(name, metadata or sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("body", JSON_TYPE, nullable=False))


# --- statements and plans --------------------------------------------------------------------------------

@dataclass
class StatementLog:
    """The SQL statements sent while a :func:`count_statements` block ran."""

    statements: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.statements)

    def __repr__(self) -> str:
        return f"StatementLog(count={self.count})"


def _engine_of(bind) -> sa.Engine:
    if isinstance(bind, sa.Engine):
        return bind
    if isinstance(bind, sa.Connection):
        return bind.engine
    return _engine_of(bind.get_bind())  # an ORM Session


@contextmanager
def count_statements(bind):
    """Count the statements an engine (or a session's or connection's engine) sends inside the block."""
    engine = _engine_of(bind)
    log = StatementLog()

    def record(conn, cursor, statement, parameters, context, executemany):
        log.statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield log
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


@dataclass
class Plan:
    """A query plan: its text, and what it does in a form tests can read."""

    dialect: str
    lines: list[str]
    indexes: list[str] = field(default_factory=list)  # indexes the plan reads
    conditions: list[str] = field(default_factory=list)  # the conditions looked up through an index
    full_scans: list[str] = field(default_factory=list)  # tables (or indexes) read from end to end
    sorts: bool = False  # a separate sort step (an ORDER BY the index did not answer)
    execution_ms: float | None = None  # PostgreSQL EXPLAIN ANALYZE only

    def uses_index(self, name: str | None = None) -> bool:
        return bool(self.indexes) if name is None else name.lower() in (i.lower() for i in self.indexes)

    def searches(self, column: str) -> bool:
        """Whether an index lookup uses ``column`` (not just a filter applied to every row)."""
        return any(re.search(rf"\b{re.escape(column)}\b", c, re.IGNORECASE) for c in self.conditions)

    def __str__(self) -> str:
        return "\n".join(self.lines)


_SQLITE_STEP = re.compile(
    r"^(?P<op>SEARCH|SCAN) (?P<table>\S+)(?: AS \S+)?"
    r"(?: USING (?:(?:COVERING )?INDEX (?P<index>\S+)|INTEGER PRIMARY KEY|PRIMARY KEY))?(?: \((?P<cond>.*)\))?"
)


def _run(conn, prefix: str, sql, params: dict):
    """Run ``prefix`` + ``sql``: SQL text with ``:named`` parameters, or a SQLAlchemy statement."""
    if isinstance(sql, str):
        return conn.execute(sa.text(f"{prefix} {sql}"), params)
    compiled = sql.compile(dialect=conn.dialect)
    values = {**compiled.params, **params}
    if compiled.positiontup is not None:  # qmark drivers (sqlite3) take a tuple in order
        return conn.exec_driver_sql(f"{prefix} {compiled}", tuple(values[k] for k in compiled.positiontup))
    return conn.exec_driver_sql(f"{prefix} {compiled}", values)


def _sqlite_plan(conn, sql, params: dict) -> Plan:
    rows = _run(conn, "EXPLAIN QUERY PLAN", sql, params).all()
    depth: dict[int, int] = {0: -1}
    plan = Plan("sqlite", [])
    for node_id, parent, _unused, detail in rows:
        depth[node_id] = depth.get(parent, -1) + 1
        plan.lines.append("  " * depth[node_id] + detail)
        step = _SQLITE_STEP.match(detail)
        if "TEMP B-TREE" in detail:
            plan.sorts = True
        elif step:
            if step["index"]:
                plan.indexes.append(step["index"])
            if step["op"] == "SEARCH" and step["cond"]:
                plan.conditions.append(step["cond"])
            if step["op"] == "SCAN":
                plan.full_scans.append(step["table"])
    return plan


def _walk(node: dict):
    yield node
    for child in node.get("Plans", []):
        yield from _walk(child)


def _postgres_plan(conn, sql, params: dict, analyze: bool) -> Plan:
    (document,) = _run(conn, "EXPLAIN (FORMAT JSON)", sql, params).one()
    document = json.loads(document) if isinstance(document, str) else document
    options = "ANALYZE, BUFFERS OFF" if analyze else "COSTS ON"
    text_lines = [row[0] for row in _run(conn, f"EXPLAIN ({options})", sql, params)]
    plan = Plan("postgresql", text_lines)
    for node in _walk(document[0]["Plan"]):
        kind = node["Node Type"]
        if "Index Name" in node:
            plan.indexes.append(node["Index Name"])
            if node.get("Index Cond"):
                plan.conditions.append(node["Index Cond"])
            elif kind in {"Index Scan", "Index Only Scan"}:
                plan.full_scans.append(node["Index Name"])
        if kind == "Seq Scan":
            plan.full_scans.append(node["Relation Name"])
        if kind in {"Sort", "Incremental Sort"}:
            plan.sorts = True
    for line in text_lines:
        if line.startswith("Execution Time:"):
            plan.execution_ms = float(line.split()[2])
    return plan


def explain(bind, sql, params: dict | None = None, *, analyze: bool = False,
            prefer_index: bool = False) -> Plan:
    """The plan the engine chooses for ``sql`` (text with ``:named`` params, or a statement), as a :class:`Plan`.

    ``analyze`` runs the query (PostgreSQL ``EXPLAIN ANALYZE``) and records its execution time.
    ``prefer_index`` asks PostgreSQL to avoid sequential scans and sorts whenever an index
    can do the work: on a small table a sequential scan is cheaper, so the planner would not show whether an
    index *could* answer the query. SQLite needs no such hint. Everything runs in a rolled-back transaction.
    """
    engine = _engine_of(bind)
    params = params or {}
    with engine.connect() as conn:
        try:
            if engine.dialect.name == "sqlite":
                return _sqlite_plan(conn, sql, params)
            if engine.dialect.name == "postgresql":
                if prefer_index:
                    for setting in ("enable_seqscan", "enable_sort"):
                        conn.exec_driver_sql(f"SET LOCAL {setting} = off")
                return _postgres_plan(conn, sql, params, analyze)
            rows = _run(conn, "EXPLAIN", sql, params).all()
            return Plan(engine.dialect.name, [" | ".join(map(str, row)) for row in rows])
        finally:
            conn.rollback()


def best_time(func, *args, repeat: int = 5, number: int = 1, **kwargs) -> float:
    """The best of ``repeat`` timings of ``number`` calls, in seconds per call (for printed ratios)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            func(*args, **kwargs)
        best = min(best, (time.perf_counter() - start) / number)
    return best


# --- migrations and comparison ---------------------------------------------------------------------------

def alembic_config(url: str | sa.URL, directory: Path | None = None):
    """A fresh Alembic project (``alembic init``) in ``directory`` (default: a temporary folder) for ``url``."""
    from alembic import command
    from alembic.config import Config

    directory = Path(directory or temp_dir("course-alembic-"))
    config = Config(str(directory / "alembic.ini"))
    with redirect_stdout(io.StringIO()):  # init's chatter ("Creating directory ..."), not shown
        command.init(config, str(directory / "migrations"))
    config = Config(str(directory / "alembic.ini"))
    url = url if isinstance(url, str) else url.render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def engine_comparison() -> list[dict]:
    """The comparison table of database engines (``course/data/databases.yaml``)."""
    from course import data

    return data.load("databases.yaml")["engines"]
