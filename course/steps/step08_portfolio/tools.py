"""Tools for step 08, a back-end portfolio: the capstone's API docs, a database link the lesson can cut, and
the page readers of the exercise.

- :func:`endpoints` lists the operations of an OpenAPI document (the lesson reads the capstone's own).
- :class:`DatabaseLink` is a real TCP relay between a service and its PostgreSQL: :meth:`~DatabaseLink.cut`
  closes its port and every connection through it, so to the service the database is down exactly as when
  the server stops (connection refused), and :meth:`~DatabaseLink.restore` brings it back. The lesson uses it
  to show a health check that says "ok" while the database is gone, and one that tells the truth.
- :data:`SAMPLE_FILES` is a small bookmarks service with a README, and :func:`html_outline` and
  :func:`markdown_to_html` read rendered pages back (what a visitor sees, not how the markup is spelled):
  exercise 08's first version checks its answers with them.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

__all__ = ["SAMPLE_FILES", "HTTP_METHODS", "Element", "endpoints", "DatabaseLink", "html_outline",
           "markdown_to_html"]

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

SAMPLE_FILES: dict[str, str] = {
    "pyproject.toml": '''[project]
name = "bookmarks"
version = "0.1.0"
requires-python = ">=3.11"
dependencies = ["fastapi>=0.110", "uvicorn>=0.29"]

[project.optional-dependencies]
test = ["pytest>=8", "httpx>=0.27"]
''',
    "bookmarks/__init__.py": '"""A small bookmarks API: the sample project of the portfolio lesson."""\n',
    "bookmarks/app.py": '''"""Bookmarks API: save links with a title, list them, read one, delete one."""

from fastapi import FastAPI, HTTPException, Response
from pydantic import BaseModel, Field, HttpUrl

app = FastAPI(title="Bookmarks API", version="0.1.0",
              description="Save links with a title and find them again.")


class BookmarkIn(BaseModel):
    url: HttpUrl
    title: str = Field(min_length=1, max_length=120)


class Bookmark(BookmarkIn):
    id: int


_store: dict[int, Bookmark] = {}


@app.get("/health")
def health() -> dict:
    """Liveness check for the load balancer."""
    return {"status": "ok"}


@app.get("/bookmarks")
def list_bookmarks() -> list[Bookmark]:
    """Every bookmark, oldest first."""
    return list(_store.values())


@app.post("/bookmarks", status_code=201)
def create_bookmark(data: BookmarkIn, response: Response) -> Bookmark:
    """Save a bookmark; the answer carries its id and a Location header."""
    bookmark = Bookmark(id=max(_store, default=0) + 1, **data.model_dump())
    _store[bookmark.id] = bookmark
    response.headers["Location"] = f"/bookmarks/{bookmark.id}"
    return bookmark


@app.get("/bookmarks/{bookmark_id}")
def read_bookmark(bookmark_id: int) -> Bookmark:
    """One bookmark, or 404."""
    if bookmark_id not in _store:
        raise HTTPException(status_code=404, detail="no such bookmark")
    return _store[bookmark_id]


@app.delete("/bookmarks/{bookmark_id}", status_code=204)
def delete_bookmark(bookmark_id: int) -> None:
    """Delete one bookmark, or 404."""
    if _store.pop(bookmark_id, None) is None:
        raise HTTPException(status_code=404, detail="no such bookmark")
''',
    "tests/test_app.py": '''import pytest
from fastapi.testclient import TestClient

from bookmarks import app as service


@pytest.fixture
def client():
    service._store.clear()
    return TestClient(service.app)


def test_health(client):
    assert client.get("/health").json() == {"status": "ok"}


def test_create_then_read(client):
    created = client.post("/bookmarks", json={"url": "https://example.org/", "title": "Example"})
    assert created.status_code == 201
    assert created.headers["Location"] == f"/bookmarks/{created.json()['id']}"
    assert client.get(created.headers["Location"]).json()["title"] == "Example"


@pytest.mark.parametrize("body", [{"url": "not a url", "title": "x"}, {"url": "https://a.org/", "title": ""}])
def test_bad_input_is_422(client, body):
    assert client.post("/bookmarks", json=body).status_code == 422


def test_unknown_id_is_404(client):
    assert client.get("/bookmarks/99").status_code == 404
    assert client.delete("/bookmarks/99").status_code == 404
''',
    "README.md": '''# Bookmarks API

## Problem
Links saved in chat threads get lost. This service stores them with a title, behind a small JSON API
that a browser extension or a script can call.

## Design
One FastAPI application (`bookmarks/app.py`). Pydantic models validate input, so a bad URL or an empty
title is refused with 422 before any code of mine runs. Storage is an in-memory dict behind four
functions, so it can move to PostgreSQL without touching the routes.

## How to run
```bash
pip install -e ".[test]"
uvicorn bookmarks.app:app --port 8000
# then open http://127.0.0.1:8000/docs
```

## Tests
`python -m pytest` runs the API tests through FastAPI's test client (no server needed).

## API
| Method | Path | Answer |
|---|---|---|
| GET | /health | 200 `{"status": "ok"}` |
| GET | /bookmarks | 200, a list |
| POST | /bookmarks | 201 with a Location header, or 422 |
| GET | /bookmarks/{id} | 200, or 404 |
| DELETE | /bookmarks/{id} | 204, or 404 |
''',
}


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


@dataclass
class Element:
    """One element of an HTML page: its tag, its attributes (entities decoded) and all the text inside it."""

    tag: str
    attrs: dict[str, str | None]
    text: str = ""


_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
# HTML lets some end tags be left out: a new <li> closes the open one (up to its list), a block closes a <p>.
_CLOSES = {"li": ({"li"}, {"ul", "ol"}), "dt": ({"dt", "dd"}, {"dl"}), "dd": ({"dt", "dd"}, {"dl"}),
           "tr": ({"tr"}, {"table", "thead", "tbody"}), "td": ({"td", "th"}, {"tr"}), "th": ({"td", "th"}, {"tr"})}
_CLOSES_P = {"address", "article", "aside", "div", "dl", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header",
             "hr", "main", "nav", "ol", "p", "pre", "section", "table", "ul"}


class _Outliner(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self.open: list[Element] = []

    def _close_implied(self, tag):
        closes, stop = _CLOSES.get(tag, (set(), set()))
        if tag in _CLOSES_P:
            closes, stop = {"p"}, {"article", "section", "div", "li", "td", "th", "main", "body"}
        for i in range(len(self.open) - 1, -1, -1):
            if self.open[i].tag in stop:
                return
            if self.open[i].tag in closes:
                del self.open[i:]
                return

    def handle_starttag(self, tag, attrs):
        self._close_implied(tag)
        element = Element(tag, dict(attrs))
        self.elements.append(element)
        if tag not in _VOID:
            self.open.append(element)

    def handle_startendtag(self, tag, attrs):
        self.elements.append(Element(tag, dict(attrs)))

    def handle_endtag(self, tag):
        for i in range(len(self.open) - 1, -1, -1):  # close up to the matching tag, like a browser
            if self.open[i].tag == tag:
                del self.open[i:]
                break

    def handle_data(self, text):
        for element in self.open:
            element.text += text


def html_outline(page: str) -> list[Element]:
    """Every element of an HTML text in document order, parsed by the standard library's HTML parser, each
    with the decoded text it contains: what a browser would show, not what the markup spells."""
    parser = _Outliner()
    parser.feed(page)
    parser.close()
    return parser.elements


def markdown_to_html(markdown: str) -> str:
    """Render Markdown as CommonMark does (markdown-it-py, raw HTML allowed, as on many hosting sites)."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").render(markdown)

