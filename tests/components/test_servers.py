"""course.components.servers: real servers on 127.0.0.1 in background threads, and nothing left after stop_all."""

from __future__ import annotations

import socket
from http.server import BaseHTTPRequestHandler

import httpx
import pytest
from fastapi import FastAPI
from flask import Flask

from course.components import servers

pytestmark = pytest.mark.service


def _refused(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


class Hello(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's naming
        body = b"hello"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_three_kinds_of_server_answer_and_all_stop():
    flask_app = Flask("t")
    flask_app.get("/")(lambda: {"framework": "flask"})
    fastapi_app = FastAPI()
    fastapi_app.get("/")(lambda: {"framework": "fastapi"})

    started = [servers.serve_wsgi(flask_app), servers.serve_asgi(fastapi_app), servers.serve_handler(Hello)]
    assert httpx.get(started[0].url).json() == {"framework": "flask"}
    assert httpx.get(started[1].url).json() == {"framework": "fastapi"}
    assert httpx.get(started[2].url).text == "hello"
    assert all(s.host == "127.0.0.1" for s in started)
    assert all(s in servers.running() for s in started)

    assert servers.stop_all() >= 3
    assert servers.running() == []
    assert all(_refused(s.port) for s in started)


def test_context_manager_stops_and_free_port_is_free():
    port = servers.free_port()
    assert _refused(port)
    with servers.serve_handler(Hello, port=port) as server:
        assert server.port == port and server.alive
    assert not server.alive and _refused(port)
