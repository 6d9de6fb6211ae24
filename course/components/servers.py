"""Real HTTP servers on 127.0.0.1 that run in the background of a notebook kernel.

Lessons start a server with one call, talk to it with real clients, and stop every server they started in
their last cell with :func:`stop_all`. Servers run in threads of the kernel, so stopping them closes their
port at once and leaves no process behind.
"""

from __future__ import annotations

import socket
import socketserver
import threading
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from course.components.waits import wait_until

__all__ = ["BackgroundServer", "free_port", "serve_handler", "serve_wsgi", "serve_asgi", "stop_all", "running"]

HOST = "127.0.0.1"
_running: list[BackgroundServer] = []
_lock = threading.Lock()


def free_port(host: str = HOST) -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> None:
    """Wait until something accepts connections on ``host:port``; ``timeout`` is scaled on a slow machine."""
    def listening() -> bool:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return True
        except OSError:
            return False

    wait_until(listening, timeout, what=f"something to listen on {host}:{port}", interval=0.02)


@dataclass
class BackgroundServer:
    """A server running in a background thread; ``url`` is where to reach it."""

    name: str
    host: str
    port: int
    _stop: callable = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._stop()
            self._thread.join(timeout=10)
        with _lock:
            if self in _running:
                _running.remove(self)

    def __enter__(self) -> BackgroundServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _start(name: str, host: str, port: int, run, stop) -> BackgroundServer:
    thread = threading.Thread(target=run, name=f"course-server-{name}", daemon=True)
    server = BackgroundServer(name=name, host=host, port=port, _stop=stop, _thread=thread)
    thread.start()
    wait_for_port(host, port)
    with _lock:
        _running.append(server)
    return server


class _ThreadingHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default of 5 drops connections when a lesson fans out many clients


class _QuietWSGIHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - signature of the base class
        pass


class _ThreadingWSGIServer(WSGIServer):
    daemon_threads = True
    request_queue_size = 128

    def process_request(self, request, client_address):
        # One thread per connection, like ThreadingMixIn, so a slow client does not block the lesson.
        thread = threading.Thread(target=self._handle, args=(request, client_address), daemon=True)
        thread.start()

    def _handle(self, request, client_address):
        try:
            self.finish_request(request, client_address)
        except Exception:  # noqa: BLE001 - a broken connection must not stop the server
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)


def serve_handler(handler: type[socketserver.BaseRequestHandler], *, port: int = 0,
                  name: str = "http") -> BackgroundServer:
    """Serve a request handler class on a threading TCP server: a ``http.server`` handler (the standard
    library's own HTTP/1.1 server), or any ``socketserver`` handler that speaks HTTP itself (e.g. with h11)."""
    httpd = _ThreadingHTTPServer((HOST, port), handler)

    def stop():
        httpd.shutdown()
        httpd.server_close()

    return _start(name, HOST, httpd.server_address[1], httpd.serve_forever, stop)


def serve_wsgi(app, *, port: int = 0, name: str = "wsgi") -> BackgroundServer:
    """Serve a WSGI application (Flask, or a plain function) with the standard library's WSGI server."""
    httpd = make_server(HOST, port, app, server_class=_ThreadingWSGIServer, handler_class=_QuietWSGIHandler)

    def stop():
        httpd.shutdown()
        httpd.server_close()

    return _start(name, HOST, httpd.server_address[1], httpd.serve_forever, stop)


def serve_asgi(app, *, port: int = 0, name: str = "asgi") -> BackgroundServer:
    """Serve an ASGI application (FastAPI, Starlette) with uvicorn in a background thread."""
    import uvicorn

    port = port or free_port()
    config = uvicorn.Config(app, host=HOST, port=port, log_level="warning", lifespan="auto")
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # a kernel thread must not take over SIGINT

    def stop():
        server.should_exit = True

    return _start(name, HOST, port, server.run, stop)


def running() -> list[BackgroundServer]:
    """The servers started through this module that are still running."""
    with _lock:
        return [s for s in _running if s.alive]


def stop_all() -> int:
    """Stop every server this module started; returns how many were stopped."""
    with _lock:
        servers = list(_running)
    for server in servers:
        server.stop()
    return len(servers)
