"""The local HTTP/1.1 server of the web lesson, and the HTTP helpers its lesson and exercise share.

- :func:`start_demo_server` runs a small JSON API on 127.0.0.1 in a thread of the kernel: books with ETag,
  304 and content negotiation, pagination, cookies and sessions, an echo route, a flaky route for retry
  demos and a slow route for timeouts. It reads requests with h11, a strict HTTP/1.1 implementation, so a
  malformed request gets a 400 (the connection is closed) and the server keeps serving the next one. As in
  step 03, 400 means the request cannot be read (broken HTTP, a body that is not JSON) and 422 that it reads
  but a value is not acceptable (a book without a title, ``per_page=500``, ``page=two``).
  ``course.components.servers.stop_all()`` stops it like any other course server.
- :func:`exchange` sends raw bytes over a TCP socket and returns the raw reply; :func:`show` prints bytes
  with the CR LF line ends made visible.
- :func:`parse_response` reads a raw response with h11; :func:`call_wsgi` calls a WSGI application
  in-process under the standard library's ``wsgiref.validate`` checker.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import secrets
import socket
import socketserver
import threading
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from html import escape
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import h11

from course.components import servers

__all__ = ["start_demo_server", "DemoServer", "Message", "exchange", "show", "parse_response", "call_wsgi",
           "strong_etag", "BOOKS"]

IDLE_TIMEOUT = 5.0  # seconds a keep-alive connection may stay silent before the server closes it
MAX_BODY = 1 << 20  # bytes; a larger request body gets 413
SERVER_NAME = "course-demo/1 (h11)"
JSON = "application/json"

BOOKS = (
    {"title": "Structure and Interpretation of Computer Programs", "author": "Abelson, Sussman", "year": 1985},
    {"title": "The C Programming Language", "author": "Kernighan, Ritchie", "year": 1978},
    {"title": "Designing Data-Intensive Applications", "author": "Kleppmann", "year": 2017},
    {"title": "Database System Concepts", "author": "Silberschatz, Korth, Sudarshan", "year": 1986},
    {"title": "TCP/IP Illustrated, Volume 1", "author": "Stevens", "year": 1994},
    {"title": "The Pragmatic Programmer", "author": "Hunt, Thomas", "year": 1999},
    {"title": "Introduction to Algorithms", "author": "Cormen, Leiserson, Rivest", "year": 1990},
)


# --- messages -----------------------------------------------------------------------------------------


@dataclass
class Message:
    """An HTTP response as data: status, reason, headers in order (names as sent) and the body bytes."""

    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (any case); repeated fields joined with ", "; None when absent."""
        return _header(self.headers, name)

    def all(self, name: str) -> list[str]:
        """Every value of header ``name`` (any case), in order."""
        return [v for k, v in self.headers if k.lower() == name.lower()]

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self):
        return json.loads(self.body)

    def __or__(self, extra) -> Message:
        """``reply | ("Name", "value")`` (or a list of pairs): a copy with those headers added."""
        extra = [extra] if isinstance(extra, tuple) else list(extra)
        return Message(self.status, self.reason, [*self.headers, *extra], self.body)


def _header(pairs, name: str) -> str | None:
    values = [v for k, v in pairs if k.lower() == name.lower()]
    return ", ".join(values) if values else None


def strong_etag(body: bytes) -> str:
    """A strong entity tag for a representation: a quoted digest that changes when a byte changes."""
    return '"' + hashlib.sha256(body).hexdigest()[:20] + '"'


def _etag_matches(header: str | None, etag: str) -> bool:
    """If-None-Match: does ``header`` name ``etag``? ("*" matches any; compared weakly, RFC 9110 13.1.2)"""
    if header is None:
        return False
    if header.strip() == "*":
        return True
    return any(c.strip().removeprefix("W/") == etag.removeprefix("W/") for c in header.split(","))


def _negotiate(accept: str | None, offers: list[str]) -> str | None:
    """The offer the ``Accept`` header prefers (highest q, then the server's order); None if none fits."""
    ranges = []
    for part in (accept or "*/*").split(","):
        media, _, params = part.partition(";")
        q = re.search(r"(?i)\bq=([01](?:\.\d{0,3})?)\b", params)
        ranges.append((media.strip().lower(), float(q.group(1)) if q else 1.0))
    best, best_q = None, 0.0
    for offer in offers:
        # The most specific matching range sets the offer's quality (RFC 9110, section 12.5.1).
        fits = [(m.count("*"), q) for m, q in ranges if m in (offer, offer.split("/")[0] + "/*", "*/*")]
        q = min(fits)[1] if fits else 0.0
        if q > best_q:
            best, best_q = offer, q
    return best


# --- the demo application -----------------------------------------------------------------------------


@dataclass
class _Request:
    method: str
    target: str
    version: str
    raw_headers: list[tuple[str, str]]
    body: bytes
    path: str = ""
    query: dict[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        return _header(self.raw_headers, name)


def _reply(status: int, payload=None, *, headers=(), content_type: str = JSON) -> Message:
    body = b"" if payload is None else (
        payload if isinstance(payload, bytes) else json.dumps(payload, indent=1, ensure_ascii=False).encode() + b"\n")
    heads = list(headers)
    if body:
        heads.insert(0, ("Content-Type", content_type))
    return Message(status, HTTPStatus(status).phrase, heads, body)


def _problem(status: int, detail: str, **extra) -> Message:
    """An error as data: an RFC 9457 problem document."""
    doc = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status, "detail": detail, **extra}
    return _reply(status, doc, content_type="application/problem+json")


REDIRECTS = {301, 302, 303, 307, 308}  # the flaky route's redirects: back to the same URL


class _DemoApp:
    """The routes of the demo server; state (books, sessions, hit counts) lives here, per server."""

    def __init__(self):
        self.lock = threading.Lock()
        self.books = {i: dict(book) for i, book in enumerate(BOOKS, start=1)}
        self.next_id = len(self.books) + 1
        self.sessions: dict[str, dict] = {}
        self.flaky_hits: dict[str, int] = {}
        self.routes = [
            (r"/", {"GET": self.index}),
            (r"/echo", {"*": self.echo}),
            (r"/books", {"GET": self.list_books, "POST": self.create_book}),
            (r"/books/(\d+)", {"GET": self.get_book, "PUT": self.put_book, "DELETE": self.delete_book}),
            (r"/me", {"GET": self.me, "DELETE": self.me}),
            (r"/flaky/([A-Za-z0-9_.-]{1,64})", {"*": self.flaky}),
            (r"/slow", {"GET": self.slow}),
        ]

    def respond(self, request: _Request) -> Message:
        parts = urlsplit(request.target)
        request.path, request.query = unquote(parts.path), dict(parse_qsl(parts.query))
        return self._route(request)

    def _route(self, request: _Request) -> Message:
        if request.version not in ("1.0", "1.1"):
            return _problem(505, f"this server speaks HTTP/1.0 and HTTP/1.1, not HTTP/{request.version}")
        for pattern, methods in self.routes:
            match = re.fullmatch(pattern, request.path)
            if not match:
                continue
            allowed = sorted({*methods, "HEAD", "OPTIONS"} - {"*"}) if "*" not in methods else ["*"]
            handler = methods.get(request.method) or methods.get("*")
            if handler is None and request.method == "HEAD":
                handler = methods.get("GET")  # HEAD is GET without the body; the connection drops the body
            if handler is None and request.method == "OPTIONS":
                return _reply(204, headers=[("Allow", ", ".join(allowed))])
            if handler is None:
                return _problem(405, f"{request.path} does not support {request.method}",
                                allowed=allowed) | ("Allow", ", ".join(allowed))
            return handler(request, *match.groups())
        return _problem(404, f"nothing here: {request.path}")

    # Routes. Each takes the request (and the URL's captured groups) and returns a Message.

    def index(self, request):
        links = {"books": "/books", "book": "/books/{id}", "echo": "/echo", "me": "/me",
                 "flaky": "/flaky/{key}?fail=2&status=503", "slow": "/slow?seconds=1"}
        return _reply(200, {"message": "Hello from the course's demo server", "links": links})

    def echo(self, request):
        return _reply(200, {"method": request.method, "target": request.target,
                            "http_version": request.version, "headers": request.raw_headers,
                            "body": request.body.decode("utf-8", errors="replace")})

    def list_books(self, request):
        try:
            page, per_page = int(request.query.get("page", 1)), int(request.query.get("per_page", 3))
        except ValueError:
            return _problem(422, "page and per_page must be whole numbers")
        if page < 1 or not 1 <= per_page <= 20:
            return _problem(422, "page starts at 1, and per_page is between 1 and 20")
        with self.lock:
            ids = sorted(self.books)
            items = [{"id": i, **self.books[i]} for i in ids[(page - 1) * per_page:page * per_page]]
        link = lambda p: f"/books?{urlencode({'page': p, 'per_page': per_page})}"  # noqa: E731
        nxt = link(page + 1) if page * per_page < len(ids) else None
        prev = link(page - 1) if page > 1 else None
        headers = [("Link", ", ".join(f'<{u}>; rel="{r}"' for u, r in ((nxt, "next"), (prev, "prev")) if u))]
        body = {"items": items, "page": page, "per_page": per_page, "total": len(ids), "next": nxt, "prev": prev}
        return _reply(200, body, headers=headers if nxt or prev else [])

    def _representation(self, book_id: int, book: dict, accept: str | None) -> Message | None:
        kind = _negotiate(accept, [JSON, "text/html"])
        if kind is None:
            return None
        doc = {"id": book_id, **book}
        if kind == JSON:
            body = json.dumps(doc, indent=1, ensure_ascii=False).encode() + b"\n"
        else:
            rows = "".join(f"<tr><th>{k}</th><td>{escape(str(v))}</td></tr>" for k, v in doc.items())
            body = f"<!doctype html><table>{rows}</table>\n".encode()
            kind += "; charset=utf-8"
        return _reply(200, body, content_type=kind, headers=[
            ("ETag", strong_etag(body)), ("Vary", "Accept"), ("Cache-Control", "no-cache")])

    def get_book(self, request, book_id):
        with self.lock:
            book = self.books.get(int(book_id))
        if book is None:
            return _problem(404, f"no book with id {book_id}")
        reply = self._representation(int(book_id), book, request.header("accept"))
        if reply is None:
            return _problem(406, "this resource comes as application/json or text/html")
        if _etag_matches(request.header("if-none-match"), reply.header("ETag")):
            keep = [(k, v) for k, v in reply.headers if k in ("ETag", "Vary", "Cache-Control")]
            return Message(304, "Not Modified", keep)
        return reply

    def _book_from_body(self, request):
        """A valid book from a JSON request body, or a problem reply (415, 400 or 422)."""
        media = (request.header("content-type") or "").split(";")[0].strip().lower()
        if media != JSON:
            return None, _problem(415, "send the book as application/json")
        try:
            doc = json.loads(request.body)
        except (ValueError, UnicodeDecodeError) as error:
            return None, _problem(400, f"the body is not valid JSON: {error}")
        if not isinstance(doc, dict):
            return None, _problem(422, "a book is a JSON object")
        errors = [{"field": f, "message": "must be a non-empty string"} for f in ("title", "author")
                  if not isinstance(doc.get(f), str) or not doc[f].strip()]
        year = doc.get("year")
        if year is not None and (type(year) is not int or not 0 < year < 2100):
            errors.append({"field": "year", "message": "must be a whole number between 1 and 2099"})
        if errors:
            return None, _problem(422, "the book is not valid", errors=errors)
        return {k: doc[k] for k in ("title", "author", "year") if k in doc}, None

    def create_book(self, request):
        book, problem = self._book_from_body(request)
        if problem:
            return problem
        with self.lock:
            book_id, self.next_id = self.next_id, self.next_id + 1
            self.books[book_id] = book
        reply = self._representation(book_id, book, None)
        return Message(201, "Created", [*reply.headers, ("Location", f"/books/{book_id}")], reply.body)

    def put_book(self, request, book_id):
        book, problem = self._book_from_body(request)
        if problem:
            return problem
        book_id = int(book_id)
        with self.lock:
            current, self.books[book_id] = self.books.get(book_id), book
            self.next_id = max(self.next_id, book_id + 1)  # POST never reuses an id a PUT created
        reply = self._representation(book_id, book, None)
        return reply if current is not None else Message(201, "Created", reply.headers, reply.body)

    def delete_book(self, request, book_id):
        with self.lock:
            found = self.books.pop(int(book_id), None)
        return _reply(204) if found is not None else _problem(404, f"no book with id {book_id}")

    def me(self, request):
        """A session in a cookie: the first visit gets a new session id, later visits send it back."""
        try:
            cookie = SimpleCookie(request.header("cookie") or "")
        except CookieError:
            cookie = SimpleCookie()
        token = cookie["session"].value if "session" in cookie else None
        with self.lock:
            if request.method == "DELETE":  # log out: forget the session, tell the browser to drop it
                self.sessions.pop(token, None)
                return _reply(204, headers=[("Set-Cookie", "session=; Path=/; Max-Age=0; HttpOnly")])
            headers = []
            if token not in self.sessions:
                token = secrets.token_urlsafe(16)
                self.sessions[token] = {"session": token[:6] + "…", "visits": 0}
                headers.append(("Set-Cookie", f"session={token}; Path=/; HttpOnly; SameSite=Lax"))
            self.sessions[token]["visits"] += 1
            return _reply(200, dict(self.sessions[token]), headers=headers)

    def flaky(self, request, key):
        """Fail the first ``fail`` requests for ``key`` with ``status`` (503 by default), then succeed. A
        redirect status sends the client back to the same URL: a client that follows redirects loops."""
        try:
            fail, status = int(request.query.get("fail", 2)), int(request.query.get("status", 503))
        except ValueError:
            return _problem(422, "fail and status must be whole numbers")
        if not 0 <= fail <= 100 or not (400 <= status <= 599 or status in REDIRECTS):
            return _problem(422, "fail is between 0 and 100, and status between 400 and 599 or a redirect "
                            f"({', '.join(map(str, sorted(REDIRECTS)))})")
        with self.lock:
            hits = self.flaky_hits[key] = self.flaky_hits.get(key, 0) + 1
        if hits <= fail:
            extra = [("Retry-After", "1")] if status in (429, 503) else []
            extra += [("Location", request.target)] if status in REDIRECTS else []
            return _problem(status, f"failure {hits} of {fail} for {key!r}", hits=hits) | extra
        return _reply(200, {"key": key, "hits": hits, "method": request.method})

    def slow(self, request):
        try:
            seconds = min(max(float(request.query.get("seconds", 1)), 0.0), 5.0)
        except ValueError:
            return _problem(422, "seconds must be a number")
        time.sleep(seconds)
        return _reply(200, {"slept": seconds})


# --- the connection: h11 reads and writes the bytes ---------------------------------------------------


class _H11Handler(socketserver.BaseRequestHandler):
    """One TCP connection: read requests with h11, answer each through the app, until either side closes."""

    app: _DemoApp  # set on the per-server subclass made by start_demo_server

    def handle(self):
        self.request.settimeout(IDLE_TIMEOUT)
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=16_384)
        while True:
            try:
                request = self._read(conn)
                if request is None:
                    return  # the client closed the connection
                try:
                    reply = self.app.respond(request)
                except Exception as error:  # noqa: BLE001 - a bug in a route is a 500, not a dead connection
                    reply = _problem(500, f"the server failed: {type(error).__name__}")
            except h11.RemoteProtocolError as error:
                # Malformed bytes: answer 400 (or h11's better hint), then close; the server keeps serving.
                status = error.error_status_hint
                if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                    self._send(conn, _problem(status, f"malformed request: {error}") | ("Connection", "close"))
                return
            except OSError:  # timeout, reset: nothing to answer
                return
            self._send(conn, reply, head=request.method == "HEAD")
            if conn.our_state is h11.MUST_CLOSE:
                return
            conn.start_next_cycle()

    def _next_event(self, conn):
        while True:
            event = conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            if conn.they_are_waiting_for_100_continue:
                self.request.sendall(conn.send(h11.InformationalResponse(status_code=100, headers=[])))
            conn.receive_data(self.request.recv(65536))

    def _read(self, conn) -> _Request | None:
        event = self._next_event(conn)
        if isinstance(event, h11.ConnectionClosed):
            return None
        body = bytearray()
        while not isinstance(part := self._next_event(conn), h11.EndOfMessage):
            body += part.data
            if len(body) > MAX_BODY:
                raise h11.RemoteProtocolError("request body too large", error_status_hint=413)
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in event.headers.raw_items()]
        return _Request(event.method.decode("ascii"), event.target.decode("ascii"),
                        event.http_version.decode("ascii"), headers, bytes(body))

    def _send(self, conn, reply: Message, *, head: bool = False) -> None:
        headers = [("Date", formatdate(usegmt=True)), ("Server", SERVER_NAME), *reply.headers]
        if reply.status not in (204, 304):
            headers.append(("Content-Length", str(len(reply.body))))
        out = conn.send(h11.Response(status_code=reply.status, reason=reply.reason, headers=headers))
        if reply.body and not head and reply.status not in (204, 304):  # a HEAD reply has headers only
            out += conn.send(h11.Data(data=reply.body))
        out += conn.send(h11.EndOfMessage())
        self.request.sendall(out)


class DemoServer:
    """The running demo server: ``url``, ``host``, ``port``, ``hits(key)`` of the flaky route, ``stop()``."""

    def __init__(self, background: servers.BackgroundServer, app: _DemoApp):
        self._background, self._app = background, app
        self.host, self.port, self.url = background.host, background.port, background.url

    def hits(self, key: str) -> int:
        """How many requests reached ``/flaky/<key>`` (any method)."""
        with self._app.lock:
            return self._app.flaky_hits.get(key, 0)

    @property
    def alive(self) -> bool:
        return self._background.alive

    def stop(self) -> None:
        self._background.stop()

    def __repr__(self) -> str:
        return f"DemoServer(url={self.url!r}, alive={self.alive})"


def start_demo_server(*, port: int = 0) -> DemoServer:
    """Start the demo HTTP/1.1 server on 127.0.0.1 (a free port unless ``port`` is given)."""
    app = _DemoApp()
    handler = type("DemoHandler", (_H11Handler,), {"app": app})
    return DemoServer(servers.serve_handler(handler, port=port, name="web-demo"), app)


# --- helpers for raw bytes, responses and WSGI ----------------------------------------------------------


def exchange(target, data: bytes, *, timeout: float = 5.0) -> bytes:
    """Send ``data`` over a new TCP connection to ``target`` (a server, or a port on 127.0.0.1).

    After sending, the client half-closes its side ("I have nothing more to say"), so the server answers
    what it received and closes; everything it sent back is returned, byte for byte.
    """
    chunks = []
    address = (servers.HOST, target) if isinstance(target, int) else (target.host, target.port)
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def show(raw: bytes, *, limit: int = 1200) -> None:
    """Print raw HTTP bytes: each head line ends in a visible ␍␊; the body is printed as text."""
    while raw:
        head, sep, rest = raw.partition(b"\r\n\r\n")
        for line in head.split(b"\r\n"):
            print(line.decode("latin-1") + "␍␊")
        if not sep:
            return
        print("␍␊")
        length = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
        no_body = re.match(rb"HTTP/\d\.\d (1\d\d|204|304)", head)
        size = 0 if no_body else int(length.group(1)) if length else len(rest)
        body, raw = rest[:size], rest[size:]
        if body:
            text = body[:limit].decode("utf-8", errors="replace")
            print(text + (f"… ({len(body) - limit} more bytes)" if len(body) > limit else ""))


def parse_response(raw: bytes, *, request_method: str = "GET") -> Message:
    """Read one HTTP/1.x response from ``raw`` with h11; ValueError if it is malformed or has extra bytes."""
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method=request_method, target="/", headers=[("Host", "127.0.0.1")]))
    conn.send(h11.EndOfMessage())
    conn.receive_data(raw)
    conn.receive_data(b"")  # the end of the bytes: a body "until close" ends here
    body = bytearray()
    try:
        while not isinstance(head := conn.next_event(), h11.Response):
            if isinstance(head, h11.ConnectionClosed) or head is h11.NEED_DATA:
                raise ValueError("no complete response in these bytes")
        while not isinstance(event := conn.next_event(), h11.EndOfMessage):
            if not isinstance(event, h11.Data):
                raise ValueError("the response ended before its body did")
            body += event.data
    except h11.RemoteProtocolError as error:
        raise ValueError(f"not a valid HTTP/1.1 response: {error}") from None
    extra, _closed = conn.trailing_data
    if extra:
        raise ValueError(f"{len(extra)} byte(s) after the end of the response (is Content-Length right?)")
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in head.headers.raw_items()]
    return Message(head.status_code, head.reason.decode("latin-1"), headers, bytes(body))


def call_wsgi(app, method: str = "GET", path: str = "/", *, headers=None, body: bytes = b"",
              validate: bool = True) -> Message:
    """Call a WSGI application in-process, as a WSGI server would, and return its response.

    With ``validate`` the app runs under ``wsgiref.validate.validator``, which raises AssertionError when
    the app breaks the WSGI protocol (PEP 3333), e.g. a status without a reason or headers that are not str.
    """
    from wsgiref.util import setup_testing_defaults
    from wsgiref.validate import validator

    path, _, query = path.partition("?")
    environ = {"REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": unquote(path), "QUERY_STRING": query,
               "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}
    for name, value in (headers or {}).items():
        key = name.upper().replace("-", "_")
        environ[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"] = value
    setup_testing_defaults(environ)
    started = {}

    def start_response(status, response_headers, exc_info=None):
        started["status"], started["headers"] = status, response_headers
        return lambda data: started.setdefault("written", []).append(data)

    result = (validator(app) if validate else app)(environ, start_response)
    try:
        chunks = [*started.get("written", []), *result]
    finally:
        if hasattr(result, "close"):
            result.close()
    code, _, reason = started["status"].partition(" ")
    return Message(int(code), reason, list(started["headers"]), b"".join(chunks))
