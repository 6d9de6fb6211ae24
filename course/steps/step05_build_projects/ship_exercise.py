"""Step 05b's exercise, *shipit*: what its checks and hidden tests need to run a learner's configuration for real.

- :func:`serve_echo` runs a plain HTTP server in a thread that answers every request with what reached it:
  the peer's address, the headers, the body's size. Behind a learner's nginx it shows exactly what their
  server block forwards (a part graded on its own, whatever the learner's app does).
- :func:`behind_nginx` starts nginx with a server block (the learner's, or the lesson's) in front of a port,
  with a fresh local CA; :func:`edge_client` is an HTTPS client that trusts it, from the lesson's "outside"
  address (``127.0.0.3``), HTTP/2 when asked.
- :func:`start_shipit` runs the learner's ``shipit`` app under gunicorn with the learner's own config file
  (its worker class, timeouts and trusted proxies decide; only the port is the course's);
  :func:`start_reference` runs the course's :func:`reference_app` under that config instead, so the config
  is graded on its own.
- :func:`sqlite_url` and :func:`unreachable_url` give a database that answers and one that cannot.
- :func:`unwritten` reports a stub the learner has not written yet instead of judging it.

Everything runs on 127.0.0.1 and stops with :func:`stop_all` (the notebook's last cell).
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx
from fastapi import FastAPI, Request  # at module level: FastAPI resolves the routes' annotations here

from course.components import proxy, servers
from course.steps.step05_build_projects import project as capstone
from course.steps.step05_build_projects import ship

__all__ = ["serve_echo", "behind_nginx", "edge_client", "start_shipit", "sqlite_url", "unreachable_url",
           "unwritten", "stop_all", "CLIENT", "PROXY", "reference_app", "start_reference", "REFERENCE_TARGET"]

CLIENT = ship.CLIENT_ADDRESS
PROXY = ship.PROXY_ADDRESS


class _Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as nginx's upstream connections expect

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        seen = {"peer": self.client_address[0], "method": self.command, "path": self.path, "bytes": len(body),
                "headers": {name.lower(): value for name, value in self.headers.items()}}
        out = json.dumps(seen).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, *args) -> None:  # quiet: a notebook shows its own output
        pass


def serve_echo() -> servers.BackgroundServer:
    """A server on 127.0.0.1 that answers every request with JSON: ``peer``, ``headers``, ``bytes``."""
    return servers.serve_handler(_Echo, name="echo")


def behind_nginx(block, upstream_port: int) -> tuple[proxy.Nginx, proxy.Certificates]:
    """nginx with ``block(listen_port, upstream_port, certificate, key)`` in front of ``upstream_port``."""
    certs = proxy.certificates()
    port = servers.free_port()
    try:
        text = block(port, upstream_port, str(certs.certificate), str(certs.key))
        if not isinstance(text, str):
            raise TypeError(f"server_block() must return the server block as a str, not {type(text).__name__}")
        return proxy.start_nginx(text, port=port), certs
    except BaseException:
        import shutil

        shutil.rmtree(certs.folder, ignore_errors=True)
        raise


def edge_client(nginx: proxy.Nginx, certs: proxy.Certificates, *, http2: bool = False) -> httpx.Client:
    """An HTTPS client of ``nginx`` that trusts the local CA and connects from :data:`CLIENT`."""
    return ship.tls_client(certs, base_url=nginx.url, http2=http2)


def start_shipit(folder: str | os.PathLike, env: dict[str, str], *, config: str = "shipit/gunicorn.conf.py",
                 workers: int = 2, timeout: float = 40.0) -> capstone.ServiceProcess:
    """gunicorn with the learner's ``config`` running ``shipit.app:create_app()`` from ``folder``."""
    folder = Path(folder).resolve()
    return ship.start_gunicorn("shipit.app:create_app", project=folder, config=folder / config, env=env,
                               workers=workers, worker_class=None, name="shipit", timeout=timeout)


def sqlite_url(folder: str | os.PathLike | None = None) -> str:
    """A SQLite database file that answers (in ``folder``, or a new temporary one)."""
    folder = Path(folder or tempfile.mkdtemp(prefix="shipit-db-"))
    return f"sqlite:///{folder / 'shipit.db'}"


def unreachable_url() -> str:
    """A PostgreSQL URL nothing answers at (a free port on 127.0.0.1): connecting fails within a second."""
    return f"postgresql+psycopg://shipit@127.0.0.1:{servers.free_port()}/shipit?connect_timeout=1"


def unwritten(error: BaseException) -> bool:
    """Whether ``error`` (or its cause) is a stub's ``NotImplementedError``: the part is not written yet."""
    seen = 0
    while error is not None and seen < 5:
        if isinstance(error, NotImplementedError) or "NotImplementedError" in str(error):
            return True
        error, seen = error.__cause__ or error.__context__, seen + 1
    return False


def stop_all() -> dict[str, int]:
    """Stop everything the exercise started: gunicorn, nginx, the echo server."""
    return {"shipit": len(capstone.stop_all()), "nginx": proxy.stop_all(), "echo": servers.stop_all()}


REFERENCE_TARGET = "course.steps.step05_build_projects.ship_exercise:reference_app"


def reference_app():
    """A small FastAPI app the course wrote: ``/healthz``, ``/whoami`` and ``/work?ms=``. The gunicorn part
    runs it under the learner's config, so that part is judged on the config alone."""
    app = FastAPI(title="shipit reference")

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "up", "pid": os.getpid()}

    @app.get("/whoami")
    def whoami(request: Request) -> dict:
        return {"client": request.client.host if request.client else None, "scheme": request.url.scheme,
                "pid": os.getpid()}

    @app.get("/work")
    async def work(ms: int = 100) -> dict:
        await asyncio.sleep(min(max(ms, 0), 10_000) / 1000)
        return {"slept_ms": ms}

    return app


def start_reference(folder: str | os.PathLike, *, config: str = "shipit/gunicorn.conf.py",
                    workers: int = 2, timeout: float = 40.0) -> capstone.ServiceProcess:
    """gunicorn with the learner's ``config`` file (its worker class too) running :func:`reference_app`."""
    folder = Path(folder).resolve()
    return ship.start_gunicorn(REFERENCE_TARGET, project=folder, config=folder / config, workers=workers,
                               worker_class=None, name="shipit", timeout=timeout)
