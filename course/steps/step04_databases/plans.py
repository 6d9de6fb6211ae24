"""Step 04 · query plans on SQLite and PostgreSQL, read into a :class:`Plan` tests can judge: an index lookup
told from a scan of the whole index or a skip scan (``explain``). :mod:`.relational` re-exports both."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import sqlalchemy as sa

__all__ = ["Plan", "explain"]

def _engine_of(bind) -> sa.Engine:
    if isinstance(bind, sa.Engine):
        return bind
    if isinstance(bind, sa.Connection):
        return bind.engine
    return _engine_of(bind.get_bind())  # an ORM Session



@dataclass
class Plan:
    """A query plan: its text, and what it does in a form tests can read.

    An index is a *lookup* only for a leading run of its columns (an index on ``(a, b)`` finds ``a = 1`` or
    ``a = 1 AND b = 2``, but not ``b = 2`` alone). A condition on a later column whose leading column has no
    condition is checked while reading the whole index (a full index scan, listed in ``full_scans``) or, when
    the engine can jump from one leading value to the next, a *skip scan* (``skip_scans``): neither counts as
    a lookup of that column in :meth:`searches`.
    """

    dialect: str
    lines: list[str]
    indexes: list[str] = field(default_factory=list)  # indexes the plan reads
    conditions: list[str] = field(default_factory=list)  # the conditions the engine applies inside an index
    searched: list[str] = field(default_factory=list)  # columns found by an index lookup (a leading run)
    full_scans: list[str] = field(default_factory=list)  # tables (or indexes) read from end to end
    skip_scans: list[str] = field(default_factory=list)  # indexes read by skipping over their leading column
    sorts: bool = False  # a separate sort step (an ORDER BY the index did not answer)
    execution_ms: float | None = None  # PostgreSQL EXPLAIN ANALYZE only

    def uses_index(self, name: str | None = None) -> bool:
        return bool(self.indexes) if name is None else name.lower() in (i.lower() for i in self.indexes)

    def searches(self, column: str) -> bool:
        """Whether an index lookup finds rows by ``column`` (not a filter, a full index scan or a skip scan)."""
        return any(re.search(rf"\b{re.escape(column)}\b", c, re.IGNORECASE) for c in self.searched)

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
                # SQLite lists the index's leading columns it uses, in order; ANY(col) is a skip scan over col
                for term in step["cond"].split(" AND "):
                    if term.startswith("ANY("):
                        plan.skip_scans.append(step["index"] or step["table"])
                        break
                    plan.searched.append(term)
            if step["op"] == "SCAN":
                plan.full_scans.append(step["table"])
    return plan


def _walk(node: dict):
    yield node
    for child in node.get("Plans", []):
        yield from _walk(child)


def _index_columns(conn, index: str) -> list[str]:
    """The key columns (or expressions) of a PostgreSQL index, in order."""
    return list(conn.execute(sa.text(
        "SELECT pg_get_indexdef(i.indexrelid, k, true) FROM pg_index AS i "
        "CROSS JOIN LATERAL generate_series(1, i.indnkeyatts) AS k "
        "WHERE i.indexrelid = to_regclass(:name) ORDER BY k"), {"name": '"' + index.replace('"', '""') + '"'}).scalars())


def _mentions(condition: str, column: str) -> bool:
    if re.fullmatch(r"\w+", column):
        return re.search(rf"\b{column}\b", condition) is not None
    return column.replace(" ", "") in condition.replace(" ", "")  # an expression such as lower(email)


def _postgres_plan(conn, sql, params: dict, analyze: bool) -> Plan:
    def nodes(options: str):
        (document,) = _run(conn, f"EXPLAIN ({options}FORMAT JSON)", sql, params).one()
        document = json.loads(document) if isinstance(document, str) else document
        return list(_walk(document[0]["Plan"]))

    options = "ANALYZE, BUFFERS OFF" if analyze else "COSTS ON"
    text_lines = [row[0] for row in _run(conn, f"EXPLAIN ({options})", sql, params)]
    plan = Plan("postgresql", text_lines)
    found, measured = nodes(""), None
    for position, node in enumerate(found):
        kind = node["Node Type"]
        if "Index Name" in node:
            index, condition = node["Index Name"], node.get("Index Cond")
            plan.indexes.append(index)
            if condition:
                plan.conditions.append(condition)
                columns = _index_columns(conn, index)
                lead = 0
                while lead < len(columns) and _mentions(condition, columns[lead]):
                    lead += 1
                plan.searched.extend(columns[:lead])
                if lead == 0:  # no condition on the leading column: the whole index, or a skip scan
                    if measured is None:  # PostgreSQL 18 counts the descents into the index when it runs
                        measured = nodes("ANALYZE, BUFFERS OFF, ")
                    searches = measured[position].get("Index Searches", 1)
                    (plan.skip_scans if searches > 1 else plan.full_scans).append(index)
            elif kind in {"Index Scan", "Index Only Scan"}:
                plan.full_scans.append(index)
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
