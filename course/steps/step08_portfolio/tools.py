"""Tools for step 08, a back-end portfolio: the capstone's API docs and a database link the lesson and the
exercise can cut.

- :func:`endpoints` lists the operations of an OpenAPI document (the lesson reads the capstone's own).
- :class:`DatabaseLink` is a real TCP relay between a service and its PostgreSQL: :meth:`~DatabaseLink.cut`
  closes its port and every connection through it, so to the service the database is down exactly as when
  the server stops (connection refused), and :meth:`~DatabaseLink.restore` brings it back. The lesson uses it
  to show a health check that says "ok" while the database is gone, and one that tells the truth.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from pathlib import Path

__all__ = ["HTTP_METHODS", "endpoints", "DatabaseLink"]

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def endpoints(openapi: dict) -> list[dict]:
    """One row per operation of an OpenAPI document: method, path, summary and the documented statuses."""
    rows = []
    for route, item in openapi.get("paths", {}).items():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue  # a path item may also hold "parameters", "summary", "servers"
            rows.append({
                "method": method.upper(),
                "path": route,
                "summary": operation.get("summary", ""),
                "statuses": ", ".join(sorted(operation.get("responses", {}))),
            })
    return rows


class DatabaseLink:
    """A TCP relay on 127.0.0.1 in front of a PostgreSQL server, for a service to connect through.

    ``DatabaseLink(url)`` takes a SQLAlchemy URL (TCP host and port, or a Unix socket folder in the ``host``
    query, as the course's embedded PostgreSQL gives); :attr:`url` is the same URL through the relay. Bytes
    pass through unchanged, so authentication, TLS settings and the search path are the server's own.
    """

    def __init__(self, url: str):
        import sqlalchemy

        from course.components.servers import HOST, free_port

        self._target = sqlalchemy.make_url(url)
        self.port = free_port()
        self.url = self._target.set(host=HOST, port=self.port).difference_update_query(["host"]) \
            .render_as_string(hide_password=False)
        self._host = HOST
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self.restore()

    @property
    def up(self) -> bool:
        return self._listener is not None

    def _upstream(self) -> socket.socket:
        folder = self._target.query.get("host")
        port = self._target.port or 5432
        if folder and str(folder).startswith("/"):  # a Unix socket: <folder>/.s.PGSQL.<port>
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(str(Path(str(folder)) / f".s.PGSQL.{port}"))
            return upstream
        return socket.create_connection((self._target.host or "127.0.0.1", port), timeout=10)

    def restore(self) -> None:
        """Listen again (on the same port): the database is back."""
        with self._lock:
            if self._listener is not None:
                return
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((self._host, self.port))
            listener.listen(64)
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), name="course-database-link", daemon=True).start()

    def cut(self) -> None:
        """Stop listening and close every connection through the link: the database is down."""
        with self._lock:
            listener, self._listener = self._listener, None
            open_sockets, self._sockets = list(self._sockets), set()
        for sock in ([listener] if listener else []) + open_sockets:
            _close(sock)

    close = cut  # the lesson's clean-up

    def __enter__(self) -> DatabaseLink:
        return self

    def __exit__(self, *exc) -> None:
        self.cut()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut: the listener is closed
            try:
                upstream = self._upstream()
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                if self._listener is not listener:  # cut while connecting
                    client.close()
                    upstream.close()
                    return
                self._sockets |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass  # the other side, or cut(), closed the connection
        finally:
            for sock in (source, sink):
                with self._lock:
                    self._sockets.discard(sock)
                _close(sock)


def _close(sock: socket.socket) -> None:
    """Shut a socket down (waking a thread blocked in ``recv`` on it) and close it."""
    with contextlib.suppress(OSError):  # a listening or already closed socket
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
