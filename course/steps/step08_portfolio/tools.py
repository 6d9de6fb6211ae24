"""Tools for step 08, a back-end portfolio: a small sample project, its API docs, and a demo transcript.

- :func:`write_sample_project` writes a complete small project (a FastAPI service, its pytest tests, a
  README with the sections a reviewer looks for) into a folder: the lesson runs its tests, serves it and
  reads its OpenAPI document, as a visitor to a portfolio would.
- :func:`load_app` imports the project's application object from its file, without touching ``sys.path``.
- :func:`endpoints` lists the operations of an OpenAPI document; :func:`http_transcript` records a real
  session against a running server as Markdown, a text "recording" to put in a README.
- :func:`html_outline` reads an HTML page back into elements and the text a browser shows, and
  :func:`markdown_to_html` renders Markdown with a real CommonMark parser: the exercise checks rendered
  pages with them, so it judges what a visitor sees, not how the markup is spelled.
- :func:`markdown_headings` lists a Markdown document's headings, from the same parser.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

__all__ = [
    "SAMPLE_FILES", "HTTP_METHODS", "Element", "write_sample_project", "load_app", "endpoints",
    "http_transcript", "html_outline", "markdown_to_html", "markdown_headings",
]

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


def write_sample_project(folder: str | Path) -> Path:
    """Write the sample project into ``folder`` (created if needed) and return the folder."""
    root = Path(folder)
    for name, text in SAMPLE_FILES.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return root


def load_app(project: str | Path, module: str = "bookmarks.app", attribute: str = "app"):
    """Import ``module`` from the project folder (a fresh copy, under a private name) and return ``app``."""
    path = Path(project) / (module.replace(".", "/") + ".py")
    name = f"_portfolio_{abs(hash(str(path.resolve())))}_{module.replace('.', '_')}"
    spec = importlib.util.spec_from_file_location(name, path)
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[name] = loaded  # pydantic resolves the models' annotations through sys.modules
    spec.loader.exec_module(loaded)
    return getattr(loaded, attribute)


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


def _body_text(response) -> str:
    if not response.content:
        return ""
    try:
        return json.dumps(response.json(), indent=2)
    except ValueError:
        return response.text


def http_transcript(client, calls) -> str:
    """Make each call ``(method, path[, json body])`` with ``client`` (an ``httpx.Client`` with a
    ``base_url``) and return the exchange as Markdown: request line, status line, body."""
    blocks = []
    for call in calls:
        method, path, *rest = call
        body = rest[0] if rest else None
        response = client.request(method, path, json=body)
        request = f"{method} {path} HTTP/1.1"
        if body is not None:
            request += "\nContent-Type: application/json\n\n" + json.dumps(body)
        answer = f"HTTP/1.1 {response.status_code} {response.reason_phrase}"
        if "location" in response.headers:
            answer += f"\nLocation: {response.headers['location']}"
        if text := _body_text(response):
            answer += "\n\n" + text
        blocks.append(f"```http\n{request}\n```\n\n```http\n{answer}\n```")
    return "\n\n".join(blocks)


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


def markdown_headings(markdown: str) -> list[tuple[int, str]]:
    """The ``(level, text)`` of every heading of a Markdown document, from a real CommonMark parser."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").parse(markdown)
    return [(int(token.tag[1]), tokens[i + 1].content) for i, token in enumerate(tokens)
            if token.type == "heading_open"]
