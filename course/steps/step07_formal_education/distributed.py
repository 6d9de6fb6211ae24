"""Distributed-systems basics on real local servers (deep dive 07b): timeouts, retries, idempotency keys,
at-least-once effects, and a lagging replica.

- :func:`serve_shop` starts one WSGI server on 127.0.0.1 (``course.components.servers``) whose routes behave like
  the services a back end calls: ``GET /slow?delay=S`` answers after S seconds; ``GET /flaky`` answers 503 to the
  first ``shop.failures`` requests, then 200; ``POST /orders`` creates an order (``shop.orders`` counts the side
  effects), honours an ``Idempotency-Key`` header (a repeat returns the first answer, the order is not created
  again, and concurrent duplicates wait for the first), and, while ``shop.lose_responses`` > 0, does the work but
  answers only after ``shop.stall`` seconds, as if the response were lost on the way back;
- :func:`request` sends one request with a timeout and returns ``(status, body)`` (a timeout raises
  ``TimeoutError``, a refused connection ``ConnectionError``);
- :func:`backoff_delays` is the "full jitter" schedule: before retry k, a random wait in
  ``[0, min(cap, base * 2**k)]``;
- :class:`Replicated` is a primary and a replica as two SQLite files, the replica applying each write ``lag``
  seconds after the primary committed it: a read from the replica can be stale; :meth:`Replicated.read_your_writes`
  reads the replica only once it has caught up with the session's last write.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable

from course.components import servers

__all__ = ["Shop", "serve_shop", "request", "backoff_delays", "Replicated", "IDEMPOTENT_METHODS"]

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})  # RFC 9110, section 9.2.2


class Shop:
    """The state behind :func:`serve_shop`'s routes (read and set by the lesson between requests)."""

    def __init__(self) -> None:
        self.failures = 0        # GET /flaky: how many more 503s before a 200
        self.flaky_calls = 0
        self.lose_responses = 0  # POST /orders: how many more answers to hold back (the order is still made)
        self.stall = 1.0
        self.orders: list[dict] = []
        self._answers: dict[str, tuple[int, bytes]] = {}
        self._in_flight: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self.server: servers.BackgroundServer | None = None

    @property
    def url(self) -> str:
        return self.server.url

    def reset(self) -> None:
        with self._lock:
            self.failures = self.flaky_calls = self.lose_responses = 0
            self.orders.clear()
            self._answers.clear()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()

    def _create_order(self, body: bytes) -> tuple[int, bytes]:
        with self._lock:
            order = {"id": len(self.orders) + 1, "item": json.loads(body or b"{}").get("item")}
            self.orders.append(order)
            stall = self.lose_responses > 0
            self.lose_responses -= stall
        if stall:
            time.sleep(self.stall)  # the work is done; the answer comes too late for the client
        return 201, json.dumps(order).encode()

    def _order(self, key: str | None, body: bytes) -> tuple[int, bytes]:
        if key is None:
            return self._create_order(body)
        with self._lock:
            if key in self._answers:
                return self._answers[key]
            event = self._in_flight.get(key)
            first = event is None
            if first:
                event = self._in_flight[key] = threading.Event()
        if not first:
            event.wait(30)
            with self._lock:
                return self._answers.get(key, (409, b'{"error": "the first request with this key failed"}'))
        try:
            answer = self._create_order(body)
            with self._lock:
                self._answers[key] = answer
            return answer
        finally:
            with self._lock:
                self._in_flight.pop(key, None)
            event.set()

    def __call__(self, environ, start_response):
        path, method = environ["PATH_INFO"], environ["REQUEST_METHOD"]
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        if path == "/slow" and method == "GET":
            time.sleep(float(query.get("delay", ["0.5"])[0]))
            status, body = 200, b'{"ok": true}'
        elif path == "/flaky" and method == "GET":
            with self._lock:
                self.flaky_calls += 1
                failing = self.failures > 0
                self.failures -= failing
            status, body = (503, b'{"error": "try later"}') if failing else (200, b'{"ok": true}')
        elif path == "/orders" and method == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            status, body = self._order(environ.get("HTTP_IDEMPOTENCY_KEY"), environ["wsgi.input"].read(length))
        else:
            status, body = 404, b'{"error": "not found"}'
        reason = {200: "OK", 201: "Created", 404: "Not Found", 409: "Conflict", 503: "Service Unavailable"}[status]
        start_response(f"{status} {reason}", [("Content-Type", "application/json"),
                                              ("Content-Length", str(len(body)))])
        return [body]


def serve_shop() -> Shop:
    """Start the shop on a free port of 127.0.0.1; ``course.components.servers.stop_all()`` stops it."""
    shop = Shop()
    shop.server = servers.serve_wsgi(shop, name="shop")
    return shop


def request(method: str, url: str, *, timeout: float = 5.0, body: dict | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """Send one request; ``(status, body)`` for any HTTP answer (4xx and 5xx included). Raises
    ``TimeoutError`` when no answer came within ``timeout`` seconds, ``ConnectionError`` when refused."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except urllib.error.URLError as error:
        if isinstance(error.reason, TimeoutError):
            raise TimeoutError(f"{method} {url}: no answer within {timeout} s") from None
        if isinstance(error.reason, ConnectionError):
            raise error.reason from None
        raise
    except TimeoutError:
        raise TimeoutError(f"{method} {url}: no answer within {timeout} s") from None


def backoff_delays(retries: int, *, base: float = 0.1, cap: float = 2.0,
                   rand: Callable[[], float] = random.random) -> list[float]:
    """The waits before retries 0, 1, ...: each uniform in ``[0, min(cap, base * 2**k)]`` ("full jitter"), so
    clients that failed together do not all come back at the same moment."""
    return [rand() * min(cap, base * 2 ** k) for k in range(retries)]


class Replicated:
    """A key-value table on a primary SQLite file and a replica file that applies each write ``lag`` seconds
    after the primary committed it (asynchronous replication, as a read replica does)."""

    def __init__(self, lag: float = 0.3) -> None:
        self.lag = lag
        self._folder = tempfile.mkdtemp(prefix="course-replica-")
        self._paths = {name: os.path.join(self._folder, f"{name}.db") for name in ("primary", "replica")}
        for path in self._paths.values():
            with sqlite3.connect(path) as db:
                db.execute("CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT, version INTEGER)")
                db.execute("CREATE TABLE applied (version INTEGER)")
                db.execute("INSERT INTO applied VALUES (0)")
        self._version = 0
        self._lock = threading.Lock()
        self._timers: list[threading.Timer] = []

    def write(self, key: str, value: str) -> int:
        """Commit on the primary now; the replica gets it ``lag`` seconds later. Returns the write's version."""
        with self._lock:
            self._version += 1
            version = self._version
            with sqlite3.connect(self._paths["primary"]) as db:
                db.execute("INSERT OR REPLACE INTO kv VALUES (?, ?, ?)", (key, value, version))
                db.execute("UPDATE applied SET version = ?", (version,))
        timer = threading.Timer(self.lag, self._apply, (key, value, version))
        timer.daemon = True
        self._timers.append(timer)
        timer.start()
        return version

    def _apply(self, key: str, value: str, version: int) -> None:
        with self._lock, sqlite3.connect(self._paths["replica"]) as db:
            db.execute("INSERT OR REPLACE INTO kv VALUES (?, ?, ?)", (key, value, version))
            db.execute("UPDATE applied SET version = MAX(version, ?)", (version,))

    def read(self, key: str, *, node: str = "replica") -> str | None:
        """The value of ``key`` as ``node`` ("primary" or "replica") has it now."""
        with sqlite3.connect(self._paths[node]) as db:
            row = db.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def applied(self, node: str = "replica") -> int:
        """The version of the last write ``node`` has applied."""
        with sqlite3.connect(self._paths[node]) as db:
            return db.execute("SELECT version FROM applied").fetchone()[0]

    def read_your_writes(self, key: str, after: int) -> tuple[str | None, str]:
        """Read ``key`` from the replica if it has applied version ``after`` (the session's last write), else
        from the primary; returns ``(value, node read)``."""
        node = "replica" if self.applied("replica") >= after else "primary"
        return self.read(key, node=node), node

    def close(self) -> None:
        """Cancel pending replication and remove both files."""
        import shutil

        for timer in self._timers:
            timer.cancel()
            timer.join(timeout=5)
        shutil.rmtree(self._folder, ignore_errors=True)
