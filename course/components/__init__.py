"""The real components lessons start on 127.0.0.1: HTTP servers in threads, PostgreSQL and Valkey (Redis protocol)."""

from course._lazy import submodules

__getattr__ = submodules(__name__)
