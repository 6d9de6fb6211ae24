"""Step 04 · Databases: relational helpers (SQLite, PostgreSQL, plans, N+1) and a document store."""

from course._lazy import submodules

__getattr__ = submodules(__name__)
