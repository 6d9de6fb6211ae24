"""A MongoDB-style document collection for step 04: pymongo on a real MongoDB when ``MONGODB_URL`` is set,
otherwise a PostgreSQL JSONB table queried through SQL/JSON paths (:class:`JsonbStore` says plainly what
that stand-in does not do). Both offer the same small interface, so the lesson's code runs on either.
"""

from __future__ import annotations

import json
import os

import sqlalchemy as sa

from course.steps.step04_databases.relational import Plan, document_table, explain, scratch_engine

__all__ = ["document_store", "JsonbStore", "MongoStore"]

_COMPARISONS = {"$eq": "==", "$ne": "!=", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}


class _JsonPath(sa.types.UserDefinedType):
    """PostgreSQL's ``jsonpath`` type, for a bound SQL/JSON path."""

    cache_ok = True

    def get_col_spec(self, **kw) -> str:
        return "JSONPATH"


def _jsonpath(path: str) -> str:
    return "$" + "".join("." + json.dumps(part) for part in path.split("."))


class JsonbStore:
    """A MongoDB-style collection kept in a PostgreSQL JSONB table (one ``body`` per document).

    Supported: ``insert_many``, ``find(filter, sort, limit)``, ``count``, ``delete_many``, ``create_index``
    (a GIN index that serves the filters) and ``explain``. Filters: equality on dotted paths (an array matches
    when one element does, as in MongoDB), ``$eq $ne $gt $gte $lt $lte $in $exists``, several fields ANDed.
    Each filter becomes an SQL/JSON path, so comparisons are type-aware (a number never equals a string).

    What this stand-in does NOT do, and a real MongoDB does: ``$or``/``$and``/``$regex``/``$elemMatch`` and
    the other operators, update operators (``$set``, ``$inc``), the aggregation pipeline, projections,
    ObjectIds, schema validation rules, change streams, replica sets (failover) and sharding (spreading one
    collection over machines). Sorting values of mixed types follows JSONB's order (numbers above strings),
    not MongoDB's. It is a good way to use documents *inside* PostgreSQL, not a MongoDB.
    """

    kind = "PostgreSQL JSONB"

    def __init__(self, engine: sa.Engine, name: str = "documents"):
        if engine.dialect.name != "postgresql":
            raise ValueError("JsonbStore needs PostgreSQL (JSONB and SQL/JSON paths)")
        self.engine, self.name = engine, name
        self.table = document_table(name)
        self.table.create(engine, checkfirst=True)

    def insert_many(self, documents: list[dict]) -> int:
        with self.engine.begin() as conn:
            conn.execute(self.table.insert(), [{"body": doc} for doc in documents])
        return len(documents)

    def _condition(self, path: str, test):
        if isinstance(test, dict) and test and all(key.startswith("$") for key in test):
            return sa.and_(*(self._operator(path, op, value) for op, value in test.items()))
        return self._operator(path, "$eq", test)

    def _matches(self, path: str, predicate: str | None = None):
        jsonpath = _jsonpath(path) + (f" ? ({predicate})" if predicate else "")
        # @? is the operator a GIN index answers; the path travels as a bound parameter, never pasted in SQL
        return self.table.c.body.op("@?")(sa.cast(sa.literal(jsonpath, sa.Text), _JsonPath()))

    def _operator(self, path: str, op: str, value):
        if op == "$exists":
            return self._matches(path) if value else sa.not_(self._matches(path))
        if op == "$in":
            return sa.or_(*(self._operator(path, "$eq", v) for v in value))
        if op not in _COMPARISONS:
            raise ValueError(f"operator {op} is not supported by this stand-in (see JsonbStore)")
        if value is None and op in {"$eq", "$ne"}:  # MongoDB: {field: null} also matches a missing field
            missing_or_null = sa.or_(sa.not_(self._matches(path)), self._matches(path, "@ == null"))
            return missing_or_null if op == "$eq" else sa.not_(missing_or_null)
        if op == "$ne":  # MongoDB: $ne also matches documents without the field
            return sa.not_(self._matches(path, f"@ == {json.dumps(value)}"))
        return self._matches(path, f"@ {_COMPARISONS[op]} {json.dumps(value)}")

    def _select(self, filter: dict | None):
        conditions = [self._condition(path, test) for path, test in (filter or {}).items()]
        return sa.select(self.table).where(sa.true(), *conditions)

    def find(self, filter: dict | None = None, sort: list[tuple[str, int]] | None = None,
             limit: int | None = None) -> list[dict]:
        query = self._select(filter)
        for path, direction in sort or []:
            key = self.table.c.body[tuple(path.split("."))]
            query = query.order_by(key.asc().nulls_first() if direction >= 0 else key.desc().nulls_last())
        query = query.order_by(self.table.c.id).limit(limit)
        with self.engine.connect() as conn:
            return [{"_id": row.id, **row.body} for row in conn.execute(query)]

    def count(self, filter: dict | None = None) -> int:
        query = sa.select(sa.func.count()).select_from(self._select(filter).subquery())
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one()

    def delete_many(self, filter: dict | None = None) -> int:
        ids = sa.select(self._select(filter).subquery().c.id)
        with self.engine.begin() as conn:
            return conn.execute(self.table.delete().where(self.table.c.id.in_(ids))).rowcount

    def create_index(self) -> str:
        name = f"ix_{self.name}_body"
        with self.engine.begin() as conn:
            conn.exec_driver_sql(f'CREATE INDEX IF NOT EXISTS "{name}" ON "{self.name}" '
                                 "USING GIN (body jsonb_path_ops)")
            conn.exec_driver_sql(f'ANALYZE "{self.name}"')
        return name

    def explain(self, filter: dict | None = None, **kwargs) -> Plan:
        return explain(self.engine, self._select(filter), **kwargs)

    def drop(self) -> None:
        self.table.drop(self.engine, checkfirst=True)


class MongoStore:
    """The same interface on a real MongoDB (``MONGODB_URL``), through pymongo."""

    kind = "MongoDB"

    def __init__(self, url: str, name: str = "documents"):
        try:
            import pymongo
        except ImportError as error:  # optional: only needed when MONGODB_URL is set
            raise RuntimeError("MONGODB_URL is set but pymongo is not installed: pip install pymongo") from error
        self.client = pymongo.MongoClient(url, serverSelectionTimeoutMS=3000)
        self.collection = self.client.get_default_database("course")[name]

    def insert_many(self, documents: list[dict]) -> int:
        return len(self.collection.insert_many([dict(d) for d in documents]).inserted_ids)

    def find(self, filter=None, sort=None, limit=None) -> list[dict]:
        cursor = self.collection.find(filter or {}, sort=sort or None, limit=limit or 0)
        return [{**doc, "_id": str(doc["_id"])} for doc in cursor]

    def count(self, filter=None) -> int:
        return self.collection.count_documents(filter or {})

    def delete_many(self, filter=None) -> int:
        return self.collection.delete_many(filter or {}).deleted_count

    def create_index(self) -> str:
        return self.collection.create_index("$**")  # a wildcard index over every field

    def explain(self, filter=None, **kwargs):
        return self.collection.find(filter or {}).explain()

    def drop(self) -> None:
        self.collection.drop()
        self.client.close()


def document_store(name: str = "documents", engine: sa.Engine | None = None):
    """A MongoDB collection when ``MONGODB_URL`` is set, otherwise a :class:`JsonbStore` on PostgreSQL."""
    if os.environ.get("MONGODB_URL"):
        return MongoStore(os.environ["MONGODB_URL"], name)
    return JsonbStore(engine or scratch_engine("postgres"), name)
