"""Helpers for step 04 (databases): scratch databases on real engines, sample data, statement counting,
query plans and Alembic projects.

- :func:`scratch_engine` gives a SQLAlchemy engine on a fresh, empty database: a temporary SQLite file by
  default, or a new schema in a scratch database on PostgreSQL when the URL (argument or ``COURSE_DB_URL``)
  names one. The word
  ``postgres`` means the course's PostgreSQL (``DATABASE_URL`` or the embedded one, see ``course.components.services``).
- :func:`count_statements` counts the SQL statements an engine sends (to measure an N+1).
- :func:`explain` runs ``EXPLAIN QUERY PLAN`` (SQLite) or ``EXPLAIN`` (PostgreSQL) and summarises the plan:
  which indexes it uses, on which conditions, whether it scans whole tables or sorts.
- :func:`lock_waiters` waits until a PostgreSQL session is blocked on a lock (to show one live).
- :func:`alembic_config` makes a throwaway Alembic project; :func:`engine_comparison` reads the table of
  engines. The MongoDB-style document store is in ``course.steps.step04_databases.documents``.

:func:`stop_all` drops every scratch database and removes every temporary folder this module made.
"""

from __future__ import annotations

import io
import os
import random
import shutil
import tempfile
import time
import uuid
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from course.steps.step04_databases.plans import Plan, _engine_of, explain

__all__ = [
    "ENV_URL", "resolve_url", "scratch_engine", "scratch_engines_disposed", "temp_dir", "stop_all", "shop_metadata", "make_shop",
    "insert_rows", "shop_with", "bank", "balances", "insert_documents", "document_table", "StatementLog",
    "count_statements", "Plan", "explain", "lock_waiters", "best_time",
    "alembic_config", "engine_comparison",
]

ENV_URL = "COURSE_DB_URL"
JSON_TYPE = sa.JSON().with_variant(JSONB(), "postgresql")  # JSONB on PostgreSQL, JSON text elsewhere

_scratch_databases: dict[str, tuple[sa.Engine, sa.URL]] = {}  # server -> (engine on its scratch db, server URL)
_scratch_engines: list[sa.Engine] = []  # one per scratch schema, disposed by stop_all
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
    """An engine on a fresh, empty database (see the module docstring for how ``url`` is chosen).

    On PostgreSQL each scratch engine gets its own schema (its ``search_path``) in one scratch database per
    server: a schema is created and dropped in milliseconds, where each ``CREATE``/``DROP DATABASE`` costs a
    checkpoint.
    """
    target = sa.make_url(resolve_url(url))
    if target.get_backend_name() == "sqlite":
        if target.database in (None, "", ":memory:"):
            target = target.set(database=str(temp_dir("course-sqlite-") / "course.sqlite3"))
        engine = sa.create_engine(target, **engine_kwargs)
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if target.get_backend_name() == "postgresql":
        if not {"poolclass", "pool_size", "max_overflow"} & set(engine_kwargs):
            # Each connection goes back to the server when released: a notebook that makes dozens of scratch
            # engines must not keep a pool of idle connections open for each (the server allows ~100).
            engine_kwargs["poolclass"] = sa.pool.NullPool
        schema = f"scratch_{uuid.uuid4().hex[:12]}"
        with _scratch_admin(target).begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        base = _scratch_admin(target).url
        engine = sa.create_engine(base.update_query_dict({"options": f"-csearch_path={schema}"}), **engine_kwargs)
        _scratch_engines.append(engine)
        return engine
    return sa.create_engine(target, **engine_kwargs)  # another server: used as it is, nothing dropped


@contextmanager
def scratch_engines_disposed():
    """Dispose, when the block ends however it ends, every PostgreSQL scratch engine made inside it.

    A scratch engine with a pool of its own (``pool_size=...``) keeps its idle connections open until it is
    disposed; code that makes such engines over and over (a grader running many answers in one kernel) must
    give them back, or the server runs out of connections. A disposed engine still works: it reconnects.
    """
    first = len(_scratch_engines)
    try:
        yield
    finally:
        for engine in _scratch_engines[first:]:
            engine.dispose()


def _scratch_admin(server: sa.URL) -> sa.Engine:
    """An engine on this server's scratch database, created on first use."""
    key = server.set(query={}).render_as_string(hide_password=False)
    if key not in _scratch_databases:
        name = f"course_{uuid.uuid4().hex[:12]}"
        admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        finally:
            admin.dispose()
        _scratch_databases[key] = (sa.create_engine(server.set(database=name)), server)
    return _scratch_databases[key][0]


def stop_all() -> list[str]:
    """Drop the scratch PostgreSQL databases and remove the temporary folders; returns what it removed."""
    removed = []
    while _scratch_engines:
        _scratch_engines.pop().dispose()
    while _scratch_databases:
        _key, (engine, server) = _scratch_databases.popitem()
        name = engine.url.database
        engine.dispose()
        admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
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
        # timestamptz on PostgreSQL; SQLite has no date type, so SQLAlchemy stores ISO 8601 text there
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
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
              seed: int = 4, shuffle: bool = False) -> dict[str, int]:
    """Create the shop tables on ``engine`` and fill them with repeatable random rows; returns row counts.

    ``shuffle`` inserts each table's rows in a random order, so that a query without ``ORDER BY`` does not
    return them in id order by chance (PostgreSQL returns rows as they are stored; SQLite, by rowid).
    """
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
                     "created_at": datetime(2025, 1 + day // 31 % 12, 1 + day % 28, day % 24, tzinfo=UTC),
                     "total_cents": None if i % 97 == 0 else rng.randrange(500, 50000, 5)})
        if items:
            for product in rng.sample(range(1, len(goods) + 1), rng.randint(1, 3)):
                lines.append({"order_id": i, "product_id": product, "quantity": rng.randint(1, 4)})
    if shuffle:
        for data in (people, goods, rows, lines):
            rng.shuffle(data)
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


def bank(url: str | None = None, balances: list[int] = (), *, cap: int | None = None,
         **engine_kwargs) -> sa.Engine:
    """A fresh database with ``accounts`` 1..n holding ``balances`` (cents) and an empty ``transfers`` table.

    ``cap`` adds a ceiling on every balance, so that crediting an account can fail after a debit succeeded;
    ``engine_kwargs`` go to :func:`scratch_engine` (``pool_size=20`` for many threads at once).
    """
    engine = scratch_engine(url, **engine_kwargs)
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


def insert_documents(engine: sa.Engine, documents: list[dict], name: str = "events", *,
                     order: list[int] | None = None) -> sa.Table:
    """Create a :func:`document_table` (if needed) and store ``documents`` with ids 1..n; returns the table.

    ``order`` (a permutation of 1..n) inserts the documents in that order instead, so that a table read without
    ``ORDER BY`` does not come back sorted by id by chance (PostgreSQL returns rows as they are stored).
    """
    table = document_table(name)
    table.create(engine, checkfirst=True)
    rows = {i: {"id": i, "body": doc} for i, doc in enumerate(documents, start=1)}
    order = list(order or rows)
    if sorted(order) != sorted(rows):
        raise ValueError(f"order must list the ids 1..{len(rows)} once each")
    with engine.begin() as conn:
        for i in order:  # one row at a time: the physical order is the order given
            conn.execute(table.insert(), rows[i])
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
    parameters: list = field(default_factory=list)  # the bound values sent with each statement

    @property
    def count(self) -> int:
        return len(self.statements)

    def __repr__(self) -> str:
        return f"StatementLog(count={self.count})"



@contextmanager
def count_statements(bind):
    """Count the statements an engine (or a session's or connection's engine) sends inside the block."""
    engine = _engine_of(bind)
    log = StatementLog()

    def record(conn, cursor, statement, parameters, context, executemany):
        log.statements.append(statement)
        log.parameters.append(parameters)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield log
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def lock_waiters(engine: sa.Engine, at_least: int = 1, timeout: float = 60.0) -> int:
    """How many sessions of ``engine``'s PostgreSQL database wait for a lock, once at least ``at_least`` do
    (or ``timeout`` seconds have passed): for showing one session blocked by another's uncommitted write."""
    query = sa.text("SELECT COUNT(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'")
    deadline = time.monotonic() + timeout
    with engine.connect() as conn:
        while True:
            waiting = conn.execute(query).scalar_one()
            conn.rollback()  # a fresh snapshot of pg_stat_activity on the next read
            if waiting >= at_least or time.monotonic() > deadline:
                return waiting
            time.sleep(0.01)


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
    _log_progress_to_stdout(directory / "alembic.ini", directory / "migrations" / "env.py")
    config = Config(str(directory / "alembic.ini"))
    url = url if isinstance(url, str) else url.render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _log_progress_to_stdout(ini: Path, env: Path) -> None:
    """Alembic's progress lines ("Running upgrade -> 0001") are INFO log records that its template sends to
    stderr, which a notebook shows in red as if they were errors: send them to stdout as plain output (root
    warnings stay on stderr), and keep env.py from disabling every other logger of the process."""
    text = ini.read_text()
    replacements = [
        ("[handlers]\nkeys = console\n", "[handlers]\nkeys = console,progress\n"),
        ("[formatters]\nkeys = generic\n", "[formatters]\nkeys = generic,progress\n"),
        ("[logger_alembic]\nlevel = INFO\nhandlers =\nqualname = alembic\n",
         "[logger_alembic]\nlevel = INFO\nhandlers = progress\nqualname = alembic\npropagate = 0\n"),
    ]
    for old, new in replacements:
        if old not in text:
            return  # another Alembic template: leave it as it is
        text = text.replace(old, new)
    text += ("\n[handler_progress]\nclass = StreamHandler\nargs = (sys.stdout,)\nlevel = NOTSET\n"
             "formatter = progress\n\n[formatter_progress]\nformat = alembic: %(message)s\n")
    ini.write_text(text)
    source = env.read_text()
    env.write_text(source.replace("fileConfig(config.config_file_name)",
                                  "fileConfig(config.config_file_name, disable_existing_loggers=False)"))


def engine_comparison() -> list[dict]:
    """The comparison table of database engines (``course/data/databases.yaml``)."""
    from course import data

    return data.load("databases.yaml")["engines"]
