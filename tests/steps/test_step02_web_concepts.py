"""Step 02 (web concepts): the demo server of ``course.steps.step02_web_concepts``, and the exercise's solution, against real HTTP.

- The demo server answers real clients, and a malformed request gets a 400 while the server keeps serving.
- The solution's ``parse_request`` agrees with h11 (a real HTTP/1.1 implementation) on generated requests,
  valid and malformed; its ``build_response`` is read back by h11 and by the standard library's http.client.
- The solution's WSGI app is served by a real WSGI server on 127.0.0.1 and called with httpx.
- The test cells (hidden ones too) pass a differently written correct solution of every part, and each
  plausible wrong answer fails at least one test cell of its part.
- The lesson, executed in a real kernel, leaves no server thread, child process or listening port behind.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import re
import socket
import string
import warnings
from http import HTTPStatus

import h11
import httpx
import nbformat
import psutil
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from course.components import servers
from course.platform import paths
from course.steps import step02_web_concepts as web

STEM = "02-web-concepts"


# --------------------------------------------------------------------------- the exercise, cell by cell
def _load():
    """(setup source, {function: answer source}, {function: [(test grade_id, source)]})."""
    nb = nbformat.read(paths.solution_path(STEM), as_version=4)
    setup, answers, tests, current = "", {}, {}, None
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code":
            continue
        if meta.get("solution"):
            current = re.search(r"^def (\w+)\(", cell.source, re.MULTILINE).group(1)
            answers[current], tests[current] = cell.source, []
        elif meta.get("grade"):
            tests[current].append((meta["grade_id"], cell.source))
        elif not setup:
            setup = cell.source
    return setup, answers, tests


SETUP, ANSWERS, TESTS = _load()


@pytest.fixture(scope="module")
def base():
    """The setup cell's names (its demo server included), shared by the in-process runs of this module."""
    namespace: dict = {"__name__": "__main__"}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(SETUP, namespace)  # noqa: S102 - the course's own setup cell
    yield namespace
    namespace["server"].stop()


@pytest.fixture(scope="module")
def solution(base):
    namespace = dict(base)
    for source in ANSWERS.values():
        exec(source, namespace)  # noqa: S102 - the course's own solution cells
    return namespace


def failing_cells(base, function: str, answer_source: str) -> dict[str, str]:
    """Run ``function``'s test cells after ``answer_source``, as nbgrader would; {grade_id: error} of failures."""
    failures = {}
    for grade_id, source in TESTS[function]:
        namespace = dict(base)
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a warning in a notebook is printed, it does not fail the cell
            try:
                exec(answer_source, namespace)  # noqa: S102
                exec(compile(source, f"<{grade_id}>", "exec"), namespace)  # noqa: S102
            except Exception as error:  # noqa: BLE001 - any exception fails the cell, as under nbgrader
                failures[grade_id] = f"{type(error).__name__}: {error}"
    return failures


def test_the_exercise_has_seven_parts_and_eleven_test_cells():
    assert len(ANSWERS) == 7
    assert sum(len(cells) for cells in TESTS.values()) == 11


@pytest.mark.parametrize("function", sorted(ANSWERS))
def test_the_solution_passes_every_test_cell(base, function):
    assert failing_cells(base, function, ANSWERS[function]) == {}


@pytest.mark.parametrize("function", sorted(ANSWERS))
def test_the_stub_fails_every_test_cell(base, function):
    stub = re.sub(r"### BEGIN SOLUTION.*?### END SOLUTION", "raise NotImplementedError()", ANSWERS[function],
                  flags=re.DOTALL)
    assert set(failing_cells(base, function, stub)) == {grade_id for grade_id, _ in TESTS[function]}


# ------------------------------------------------------------- differently written correct solutions
ALTERNATIVES = {
    "parse_request": r'''
_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
def parse_request(raw):
    if b"\r\n\r\n" not in raw or not raw.split(b"\r\n\r\n", 1)[0].isascii():
        raise ValueError("incomplete or not ASCII")
    head, body = raw.split(b"\r\n\r\n", 1)
    first, *lines = head.decode().split("\r\n")
    line = re.fullmatch(rf"({_TOKEN}) ([\x21-\x7e]+) (HTTP/1\.[01])", first)
    if line is None:
        raise ValueError("request line")
    headers = {}
    for text in lines:
        field = re.fullmatch(rf"({_TOKEN}):[ \t]*(.*?)[ \t]*", text)
        if field is None or re.search(r"[\x00-\x08\x0a-\x1f\x7f]", field[2]):
            raise ValueError("header")
        headers.setdefault(field[1].lower(), []).append(field[2])
    hosts = len(headers.get("host", []))
    if hosts > 1 or (hosts == 0 and line[3] == "HTTP/1.1") or "transfer-encoding" in headers:
        raise ValueError("host or framing")
    sizes = headers.get("content-length", ["0"])
    if not all(re.fullmatch("[0-9]+", s) for s in sizes) or len({int(s) for s in sizes}) != 1:
        raise ValueError("content-length")
    if len(body) < int(sizes[0]):
        raise ValueError("short body")
    return dict(method=line[1], target=line[2], version=line[3], headers=headers, body=body[:int(sizes[0])])
''',
    "build_response": '''
from http.client import responses
def build_response(status, headers=(), body=b""):
    if type(status) is not int or status < 100 or status > 599:
        raise ValueError("status")
    data = body.encode() if isinstance(body, str) else bytes(body)
    empty = status < 200 or status in (204, 304)
    if empty and data:
        raise ValueError("no body allowed")
    out = [f"HTTP/1.1 {status} {responses.get(status, '')}".encode()]
    if not empty:
        out.append(b"Content-Length: %d" % len(data))
    for name, value in headers:
        if set("\\r\\n") & set(name + value):
            raise ValueError("CR/LF")
        out.append(f"{name}: {value}".encode())
    return b"\\r\\n".join(out) + b"\\r\\n\\r\\n" + data
''',
    "status_for": '''
def status_for(scenario):
    return {"created": 201, "deleted": 204, "not_modified": 304, "bad_json": 400, "no_credentials": 401,
            "not_yours": 404, "missing": 404, "wrong_method": 405, "not_acceptable": 406, "duplicate": 409,
            "wrong_media_type": 415, "invalid_fields": 400, "rate_limited": 429, "bug": 500,
            "maintenance": 503, "moved": 301}[scenario]
''',
    "method_properties": '''
SAFE = {"GET", "HEAD", "OPTIONS", "TRACE"}
IDEMPOTENT = SAFE | {"PUT", "DELETE"}
def method_properties(method):
    if method not in IDEMPOTENT | {"POST", "PATCH", "CONNECT"}:
        raise ValueError(method)
    return method in SAFE, method in IDEMPOTENT
''',
    "rest_routes": '''
def rest_routes(collection):
    if not (collection[:1].isalpha() and collection.isascii()
            and all(c.islower() or c.isdigit() or c == "-" for c in collection)):
        raise ValueError(collection)
    base = "/" + collection
    return {"list": ("GET", base, 200), "create": ("POST", base, 201), "read": ("GET", base + "/{id}", 200),
            "replace": ("PUT", base + "/{id}", 204), "update": ("PATCH", base + "/{id}", 204),
            "delete": ("DELETE", base + "/{id}", 200)}
''',
    # A Flask application is a WSGI application: Werkzeug does the ETag comparison and the 304.
    "make_books_app": '''
from flask import Flask, abort, jsonify, request
def make_books_app(books):
    app = Flask("books")
    @app.errorhandler(404)
    def not_found(error):
        return jsonify(error="not found"), 404
    @app.errorhandler(405)
    def not_allowed(error):
        return jsonify(error="method not allowed"), 405, {"Allow": ", ".join(error.valid_methods)}
    @app.get("/books")
    def every_book():
        return jsonify([{"id": i, **books[i]} for i in sorted(books)])
    @app.get("/books/<int:book_id>")
    def one_book(book_id):
        if book_id not in books:
            abort(404)
        response = jsonify({"id": book_id, **books[book_id]})
        response.add_etag()
        return response.make_conditional(request)
    return app
''',
    "request_with_retry": '''
def request_with_retry(client, method, url, *, attempts=3, base_delay=0.1, sleep=time.sleep):
    if attempts <= 0:
        raise ValueError("attempts")
    retryable, sent = method in ("GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"), 0
    while True:
        sent += 1
        last = sent >= attempts or not retryable
        try:
            response = client.request(method, url)
            if last or response.status_code not in {502, 503, 504}:
                return response
        except httpx.TransportError:
            if last:
                raise
        sleep(base_delay * (2 ** (sent - 1)))
''',
}


@pytest.mark.parametrize("function", sorted(ALTERNATIVES))
def test_a_differently_written_solution_passes(base, function):
    assert failing_cells(base, function, ALTERNATIVES[function]) == {}


def test_a_retry_catching_connect_errors_and_timeouts_passes(base):
    """Retrying after the network errors a learner names one by one (a subset of httpx.TransportError) is
    as right as the text asks: only errors that are no network error at all must not be retried."""
    source = ANSWERS["request_with_retry"]
    assert "except httpx.TransportError:" in source
    source = source.replace("except httpx.TransportError:", "except (httpx.ConnectError, httpx.TimeoutException):")
    assert failing_cells(base, "request_with_retry", source) == {}


def test_status_for_may_answer_with_httpstatus_members(base):
    """The setup imports HTTPStatus and its members are ints: answering HTTPStatus.CREATED gets full marks."""
    members = ANSWERS["status_for"] + _wrap("status_for", "return HTTPStatus(_right(*args))")
    assert failing_cells(base, "status_for", members) == {}


# ------------------------------------------------------------------------------ plausible wrong answers
# (function, what is wrong, [(text in the solution, replacement)]); an empty "text" appends the replacement.
def _wrap(function: str, body: str) -> str:
    return f"\n_right = {function}\ndef {function}(*args, **kwargs):\n" + "\n".join(
        "    " + line for line in body.strip().splitlines())


MUTANTS = [
    ("parse_request", "case-sensitive names", [("setdefault(name.lower()", "setdefault(name")]),
    ("parse_request", "keeps one value per name",
     [("headers.setdefault(name.lower(), []).append(value)", "headers[name.lower()] = [value]")]),
    ("parse_request", "keeps trailing whitespace", [('value = value.strip(" \\t")', "value = value.lstrip()")]),
    ("parse_request", "cuts values at a colon",
     [('value = value.strip(" \\t")', 'value = value.split(":")[0].strip(" \\t")')]),
    ("parse_request", "allows space before the colon", [("if not colon or not name", "name = name.strip()\n"
                                                         "        if not colon or not name")]),
    ("parse_request", "tolerates double spaces", [('request_line.split(" ")', "request_line.split()")]),
    ("parse_request", "upper-cases the method", [('{"method": method,', '{"method": method.upper(),')]),
    ("parse_request", "accepts any version", [('version not in ("HTTP/1.0", "HTTP/1.1")',
                                               'not version.startswith("HTTP/")')]),
    ("parse_request", "no Host rule", [('len(hosts) > 1 or (version == "HTTP/1.1" and not hosts)', "False")]),
    ("parse_request", "Host required in HTTP/1.0 too",
     [('len(hosts) > 1 or (version == "HTTP/1.1" and not hosts)', "len(hosts) != 1")]),
    ("parse_request", "int() on Content-Length", [("or not all(v.isdigit() for v in lengths)", "")]),
    ("parse_request", "conflicting lengths", [("if len(lengths) > 1 or", "if")]),
    ("parse_request", "keeps the next request in the body", [('"body": rest[:length]', '"body": rest')]),
    ("parse_request", "accepts a short body", [("if len(rest) < length:", "if False:")]),
    ("parse_request", "splits at the last empty line", [("raw.partition(", "raw.rpartition(")]),
    ("parse_request", "accepts Transfer-Encoding", [('if "transfer-encoding" in headers:', "if False:")]),
    ("parse_request", "accepts NUL", [('(ord(ch) < 0x20 and ch != "\\t") or ord(ch) == 0x7F', "False")]),
    ("parse_request", "any method", [("if not method or not set(method) <= tchar:", "if not method:")]),
    ("parse_request", "control characters in the target",
     [("not all(0x21 <= ord(ch) <= 0x7E for ch in target)", "not all(ord(ch) != 0x20 for ch in target)")]),
    ("parse_request", "DEL in a value", [(" or ord(ch) == 0x7F for ch in value", " for ch in value")]),
    ("parse_request", "tab refused inside a value",
     [('(ord(ch) < 0x20 and ch != "\\t") or ord(ch) == 0x7F', "ord(ch) < 0x20 or ord(ch) == 0x7F")]),
    ("parse_request", "any header name", [("if not colon or not name or not set(name) <= tchar:",
                                           'if not colon or not name or name != name.strip():')]),
    ("parse_request", "bare LF splits lines", [('request_line, *field_lines = text.split("\\r\\n")',
                                                "request_line, *field_lines = text.splitlines()")]),
    ("parse_request", "LF LF ends the head too",
     [('head, blank_line, rest = raw.partition(b"\\r\\n\\r\\n")',
       'head, blank_line, rest = raw.partition(b"\\r\\n\\r\\n" if b"\\r\\n\\r\\n" in raw else b"\\n\\n")'),
      ('request_line, *field_lines = text.split("\\r\\n")',
       'request_line, *field_lines = text.replace("\\r\\n", "\\n").split("\\n")')]),
    ("parse_request", "Latin-1 head", [('text = head.decode("ascii")', 'text = head.decode("latin-1")')]),
    ("parse_request", "str.strip() on values", [('value = value.strip(" \\t")', "value = value.strip()")]),
    ("build_response", "counts characters", [("{len(body)}", "{len(body.decode('utf-8', 'replace'))}")]),
    ("build_response", "Content-Length on 204", [("if not bodiless:\n", "if True:\n")]),
    ("build_response", "no Content-Length when empty", [("if not bodiless:\n", "if body:\n")]),
    ("build_response", "checks CR LF only as a pair", [('for ch in "\\r\\n")', 'for ch in ["\\r\\n"])')]),
    ("build_response", "allows a body on 204", [("if bodiless and body:", "if False:")]),
    ("build_response", "allows a body on 1xx", [("if bodiless and body:", "if status in (204, 304) and body:")]),
    ("build_response", "unknown code raises", [('    except ValueError:\n        reason = ""',
                                                 '    except KeyError:\n        reason = ""')]),
    ("build_response", "always says OK", [("reason = HTTPStatus(status).phrase", 'reason = "OK"')]),
    ("build_response", "any status", [("not 100 <= status <= 599", "status < 0")]),
    ("build_response", "bare LF line ends", [('"\\r\\n".join(lines) + "\\r\\n\\r\\n"', '"\\n".join(lines) + "\\n\\n"')]),
    ("build_response", "reorders headers", [("for name, value in headers:", "for name, value in sorted(headers):")]),
]
MUTANTS += [("status_for", f"{scenario} -> {wrong}", [("", _wrap("status_for", f"""
return {wrong} if args[0] == {scenario!r} else _right(*args)"""))]) for scenario, wrong in [
    ("no_credentials", 403), ("not_yours", 401), ("wrong_method", 404), ("maintenance", 500), ("deleted", 200),
    ("not_modified", 200), ("wrong_media_type", 400), ("not_acceptable", 415), ("duplicate", 400),
    ("rate_limited", 503), ("moved", 302), ("created", 200), ("bad_json", 422), ("invalid_fields", 500),
    ("created", "'201'")]]
MUTANTS += [("method_properties", what, [("", _wrap("method_properties", body))]) for what, body in [
    ("PATCH idempotent", 'return (False, True) if args[0] == "PATCH" else _right(*args)'),
    ("PUT not idempotent", 'return (False, False) if args[0] == "PUT" else _right(*args)'),
    ("DELETE safe", 'return (True, True) if args[0] == "DELETE" else _right(*args)'),
    ("OPTIONS unsafe", 'return (False, True) if args[0] == "OPTIONS" else _right(*args)'),
    ("case-insensitive", "return _right(args[0].upper())"),
    ("(1, 1) for two booleans", "return tuple(int(flag) for flag in _right(*args))"),
    ("unknown is (False, False)", "try:\n    return _right(*args)\nexcept ValueError:\n    return (False, False)"),
]]
MUTANTS += [("rest_routes", what, [("", _wrap("rest_routes", f"routes = _right(*args)\n{change}\nreturn routes"))])
            for what, change in [
    ("POST to the item", 'routes["create"] = ("POST", routes["read"][1], 201)'),
    ("create answers 200", 'routes["create"] = routes["create"][:2] + (200,)'),
    ("trailing slash", 'routes["list"] = ("GET", routes["list"][1] + "/", 200)'),
    ("verb in the path", 'routes["delete"] = ("POST", routes["read"][1] + "/delete", 200)'),
    ("update with PUT", 'routes["update"] = ("PUT",) + routes["update"][1:]'),
]]
MUTANTS += [("rest_routes", "no name check", [("if not re.fullmatch", "if False and not re.fullmatch")]),
            ("rest_routes", "'$' lets a trailing newline through",
             [('re.fullmatch(r"[a-z][a-z0-9-]*", collection)', 're.match(r"^[a-z][a-z0-9-]*$", collection)')])]
MUTANTS += [("make_books_app", what, changes) for what, changes in [
    ("int() on any id", [(r'r"/books/([0-9]+)"', r'r"/books/(\w+)"')]),
    ("no Allow header", [('[("Allow", "GET, HEAD")]', "[]")]),
    ("404 for a wrong method", [("return send(405,", "return send(404,")]),
    ("405 before 404", [('        match = re.fullmatch(r"/books/([0-9]+)", path)\n',
                         '        if method not in ("GET", "HEAD"):\n'
                         '            return send(405, {"error": "no"}, [("Allow", "GET, HEAD")])\n'
                         '        match = re.fullmatch(r"/books/([0-9]+)", path)\n')]),
    ("a body for HEAD", [('[b"" if method == "HEAD" else body]', "[body]")]),
    ("ETag from the path", [("json.dumps(doc, sort_keys=True).encode()", "path.encode()")]),
    ("unquoted ETag", [("etag = '\"' + ", "etag = "), ("[:16] + '\"'", "[:16]")]),
    ("W/ not understood", [('tag.strip().removeprefix("W/")', "tag.strip()")]),
    ("one tag only", [('if_none_match.split(",")', "[if_none_match]")]),
    ("* not understood", [('"*" in tags or etag in tags', "etag in tags")]),
    ("304 with a body", [('send(304, headers=[("ETag", etag)])', 'send(304, doc, [("ETag", etag)])')]),
    ("304 with Content-Type", [("if status != 304:", "if True:")]),
    ("304 without ETag", [('send(304, headers=[("ETag", etag)])', "send(304)")]),
    ("text/plain", [('("Content-Type", "application/json")', '("Content-Type", "text/plain")')]),
    ("a snapshot of the books", [("    def app(environ", "    books = {k: dict(v) for k, v in books.items()}\n"
                                  "    def app(environ")]),
    ("status without a reason", [('f"{status} {HTTPStatus(status).phrase}"', "str(status)")]),
    ("If-None-Match before the lookup", [('environ.get("PATH_INFO", "")', 'environ.get("PATH_INFO", "")\n'
                                          '        if environ.get("HTTP_IF_NONE_MATCH") == "*":\n'
                                          '            start_response("304 Not Modified", [])\n'
                                          '            return [b""]')]),
]]
MUTANTS += [("request_with_retry", what, changes) for what, changes in [
    ("retries POST", [("tries = attempts if method in idempotent else 1", "tries = attempts")]),
    ("retries PATCH", [('"DELETE"}', '"DELETE", "PATCH"}')]),
    ("retries GET only", [('{"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"}', '{"GET"}')]),
    ("attempts counts retries", [("tries = attempts if", "tries = attempts + 1 if")]),
    ("linear backoff", [("sleep(base_delay * 2 ** (attempt - 1))", "sleep(base_delay * attempt)")]),
    ("constant delay", [("sleep(base_delay * 2 ** (attempt - 1))", "sleep(base_delay)")]),
    ("backoff starts at 2x", [("sleep(base_delay * 2 ** (attempt - 1))", "sleep(base_delay * 2 ** attempt)")]),
    ("retries any error status", [("not in (502, 503, 504)", "< 400")]),
    ("no retry on network errors", [("if attempt == tries:\n                raise", "raise")]),
    ("raises when out of attempts", [("or attempt == tries:\n                return response",
                                      "or attempt == tries:\n                response.raise_for_status()\n"
                                      "                return response")]),
    ("sleeps after the last attempt", [("or attempt == tries:\n                return response",
                                        "or attempt == tries:\n                sleep(base_delay * 2 ** (attempt - 1))\n"
                                        "                return response")]),
    ("attempts=0 allowed", [("if attempts < 1:", "if False:")]),
    ("retries every 5xx", [("not in (502, 503, 504)", "< 500")]),
    ("retries 429 like a 5xx", [("not in (502, 503, 504)", "not in (429, 502, 503, 504)")]),
    ("retries any method but POST and PATCH", [("tries = attempts if method in idempotent else 1",
                                                'tries = attempts if method not in ("POST", "PATCH") else 1')]),
    ("retries after any exception", [("except httpx.TransportError:", "except Exception:")]),
    ("retries after any httpx.RequestError", [("except httpx.TransportError:", "except httpx.RequestError:")]),
    ("retries after any httpx.HTTPError", [("except httpx.TransportError:", "except httpx.HTTPError:")]),
    ("TRACE not retried", [('"OPTIONS", "TRACE", "PUT"', '"OPTIONS", "PUT"')]),
]]


@pytest.mark.parametrize(("function", "what", "changes"), MUTANTS, ids=[f"{m[0]}: {m[1]}" for m in MUTANTS])
def test_a_plausible_wrong_answer_fails_a_test_cell(base, function, what, changes):
    source = ANSWERS[function]
    for old, new in changes:
        if old:
            assert old in source, f"the mutant no longer matches the solution: {old!r}"
            source = source.replace(old, new, 1)
        else:
            source += new
    assert failing_cells(base, function, source), f"no test cell catches: {what}"


# ------------------------------------------------------ parse_request against h11, on generated requests
TCHAR = "!#$%&'*+-.^_`|~" + string.digits + string.ascii_letters
VCHAR = "".join(map(chr, range(0x21, 0x7F)))
SPECIAL = {"host", "content-length", "transfer-encoding"}
tokens = st.text(TCHAR, min_size=1, max_size=10)
names = tokens.filter(lambda name: name.lower() not in SPECIAL)
values = st.text(VCHAR + " \t", max_size=24)


def h11_request(raw: bytes):
    """What h11, as a server, reads from ``raw`` followed by end-of-stream; None when it rejects the bytes."""
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(raw)
    conn.receive_data(b"")
    try:
        request, body = conn.next_event(), b""
        if not isinstance(request, h11.Request):
            return None
        while isinstance(event := conn.next_event(), h11.Data):
            body += event.data
        if not isinstance(event, h11.EndOfMessage):
            return None
    except h11.RemoteProtocolError:
        return None
    headers = {}
    for name, value in request.headers:
        headers.setdefault(name.decode(), []).append(value.decode())
    return {"method": request.method.decode(), "target": request.target.decode(),
            "version": "HTTP/" + request.http_version.decode(), "headers": headers, "body": body}


@st.composite
def request_parts(draw):
    version = draw(st.sampled_from(["1.0", "1.1"]))
    fields = draw(st.lists(st.tuples(names, values), max_size=6))
    if version == "1.1" or draw(st.booleans()):
        host = (draw(st.sampled_from(["Host", "host", "HOST"])), draw(values))
        fields.insert(draw(st.integers(0, len(fields))), host)
    body = draw(st.binary(max_size=40))
    if body or draw(st.booleans()):
        length = (draw(st.sampled_from(["Content-Length", "content-length"])),
                  draw(st.sampled_from(["", " ", "\t"])) + str(len(body)))
        fields.insert(draw(st.integers(0, len(fields))), length)
    return {"line": [draw(tokens), "/" + draw(st.text(VCHAR, max_size=16)), f"HTTP/{version}"],
            "fields": fields, "body": body, "after": draw(st.binary(max_size=8))}


def assemble(parts, *, line_sep=" ", end=b"\r\n\r\n") -> bytes:
    head = line_sep.join(parts["line"]) + "".join(f"\r\n{n}:{v}" for n, v in parts["fields"])
    return head.encode("ascii") + end + parts["body"] + parts["after"]


MALFORMATIONS = {
    "space before a colon": lambda p: {**p, "fields": [*p["fields"], ("X-Bad ", "1")]},
    "no colon": lambda p: {**p, "fields": [*p["fields"], ("X-Bad", None)]},
    "space in a name": lambda p: {**p, "fields": [*p["fields"], ("X Bad", "1")]},
    "empty name": lambda p: {**p, "fields": [*p["fields"], ("", "1")]},
    "NUL in a value": lambda p: {**p, "fields": [*p["fields"], ("X-Bad", "a\x00b")]},
    "bad version": lambda p: {**p, "line": [*p["line"][:2], "http/1.1"]},
    "short version": lambda p: {**p, "line": [*p["line"][:2], "HTTP/1"]},
    "space in the target": lambda p: {**p, "line": [p["line"][0], p["line"][1] + " x", p["line"][2]]},
    "two Hosts": lambda p: {**p, "fields": [*p["fields"], ("Host", "a"), ("host", "b")]},
    "no Host in HTTP/1.1": lambda p: {**p, "line": [*p["line"][:2], "HTTP/1.1"],
                                      "fields": [f for f in p["fields"] if f[0].lower() != "host"]},
    "signed length": lambda p: {**p, "fields": [*p["fields"], ("Content-Length", "+0")]},
    "length with an underscore": lambda p: {**p, "fields": [*p["fields"], ("Content-Length", "1_0")]},
    "conflicting lengths": lambda p: {**p, "fields": [*p["fields"], ("Content-Length", str(len(p["body"]))),
                                                      ("Content-Length", str(len(p["body"]) + 1))]},
    "short body": lambda p: {**p, "after": b"", "fields": [
        *[f for f in p["fields"] if f[0].lower() != "content-length"], ("Content-Length", str(len(p["body"]) + 1))]},
}


def assemble_malformed(parts, kind: str) -> bytes:
    parts = MALFORMATIONS[kind](parts)
    fields = "".join(f"\r\n{n}" if v is None else f"\r\n{n}:{v}" for n, v in parts["fields"])
    return (" ".join(parts["line"]) + fields).encode("ascii") + b"\r\n\r\n" + parts["body"] + parts["after"]


@settings(max_examples=1500, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts=request_parts())
def test_parse_request_agrees_with_h11_on_valid_requests(solution, parts):
    raw = assemble(parts)
    expected = h11_request(raw)
    assert expected is not None, f"the generator made a request h11 rejects: {raw!r}"
    assert solution["parse_request"](raw) == expected


@settings(max_examples=1500, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts=request_parts(), kind=st.sampled_from(sorted(MALFORMATIONS)), cut=st.integers(0, 3))
def test_parse_request_rejects_what_h11_rejects(solution, parts, kind, cut):
    raw = assemble_malformed(parts, kind)
    assert h11_request(raw) is None, f"h11 accepts this {kind} request: {raw!r}"
    with pytest.raises(ValueError):
        solution["parse_request"](raw)
    incomplete = assemble({**parts, "body": b"", "after": b""}, end=b"\r\n\r\n"[:cut])  # the head never ends
    assert h11_request(incomplete) is None
    with pytest.raises(ValueError):
        solution["parse_request"](incomplete)


# --------------------------------------------- build_response read back by h11 and by http.client
class _BytesSocket:
    def __init__(self, data: bytes):
        self._file = io.BytesIO(data)

    def makefile(self, *args, **kwargs):
        return self._file


CODES = [s.value for s in HTTPStatus if s.value >= 200 and s.value not in (204, 304)] + [299, 499, 599]


@settings(max_examples=500, deadline=None, database=None)
@given(status=st.sampled_from(CODES), body=st.binary(max_size=60) | st.text(max_size=20),
       headers=st.lists(st.tuples(names, values.map(lambda v: v.strip(" \t"))), max_size=5))
def test_build_response_is_read_back_by_h11_and_http_client(solution, status, headers, body):
    raw = solution["build_response"](status, headers, body)
    data = body.encode() if isinstance(body, str) else body
    reply = web.parse_response(raw)
    assert (reply.status, reply.body) == (status, data)
    assert [(k, v) for k, v in reply.headers if k.lower() != "content-length"] == headers
    response = http.client.HTTPResponse(_BytesSocket(raw))
    response.begin()
    assert (response.status, response.read()) == (status, data)
    assert [(k, v) for k, v in response.getheaders() if k.lower() != "content-length"] == headers


# ------------------------------------------------------ the solution's WSGI app behind a real server
@pytest.mark.service
def test_the_solution_wsgi_app_behind_a_real_server(solution):
    from wsgiref.validate import validator

    books = {1: {"title": "SICP"}, 2: {"title": "TAOCP"}}
    with servers.serve_wsgi(validator(solution["make_books_app"](books))) as real, \
            httpx.Client(base_url=real.url, timeout=10) as client:
        first = client.get("/books/1")
        assert (first.status_code, first.json(), first.headers["content-type"]) == (
            200, {"id": 1, "title": "SICP"}, "application/json")
        cached = client.get("/books/1", headers={"If-None-Match": first.headers["etag"]})
        assert (cached.status_code, cached.content, cached.headers["etag"]) == (304, b"", first.headers["etag"])
        assert [b["id"] for b in client.get("/books").json()] == [1, 2]
        refused = client.post("/books", json={"title": "x"})
        assert refused.status_code == 405 and "GET" in refused.headers["allow"]
        assert client.get("/books/abc").status_code == 404
        assert client.head("/books/2").content == b""


# ----------------------------------------------------------------------------------------- course.steps.step02_web_concepts
@pytest.fixture(scope="module")
def demo():
    server = web.start_demo_server()
    yield server
    server.stop()


MALFORMED = [
    b"GET /books/1 HTTP/1.1\r\nHost : 127.0.0.1\r\n\r\n",
    b"GET /books/1 HTTP/1.1\r\n\r\n",
    b"garbage\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    b"GET /\xff HTTP/1.1\r\nHost: a\r\n\r\n",
    b"POST /books HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nshort",
]


@pytest.mark.service
@pytest.mark.parametrize("raw", MALFORMED)
def test_a_malformed_request_gets_400_and_the_server_keeps_serving(demo, raw):
    reply = web.parse_response(web.exchange(demo, raw))
    assert reply.status == 400 and reply.header("connection") == "close"
    assert reply.json()["status"] == 400
    assert httpx.get(f"{demo.url}/books/1", timeout=5).status_code == 200


@pytest.mark.service
def test_demo_server_etag_negotiation_and_errors(demo):
    with httpx.Client(base_url=demo.url, timeout=5) as client:
        first = client.get("/books/2")
        assert first.headers["vary"] == "Accept" and first.headers["etag"] == web.strong_etag(first.content)
        for tag in (first.headers["etag"], "W/" + first.headers["etag"], '"x", ' + first.headers["etag"], "*"):
            again = client.get("/books/2", headers={"If-None-Match": tag})
            assert (again.status_code, again.content) == (304, b"")
        html = client.get("/books/2", headers={"Accept": "application/json;q=0.4, text/html"})
        assert html.headers["content-type"].startswith("text/html")
        assert client.get("/books/2", headers={"Accept": "image/png"}).status_code == 406
        missing = client.get("/books/999")
        assert missing.headers["content-type"] == "application/problem+json" and missing.json()["status"] == 404
        assert client.patch("/books/2").headers["allow"] == "DELETE, GET, HEAD, OPTIONS, PUT"
        assert client.post("/books", content=b"x", headers={"Content-Type": "text/plain"}).status_code == 415
        created = client.post("/books", json={"title": "T", "author": "A", "year": 2000})
        assert created.status_code == 201 and client.get(created.headers["location"]).json()["title"] == "T"
        head = client.head("/books/1")
        assert head.content == b"" and int(head.headers["content-length"]) > 0


@pytest.mark.service
def test_demo_server_keep_alive_cookies_flaky_and_pagination(demo):
    two = b"GET /books/1 HTTP/1.1\r\nHost: a\r\n\r\nGET /books/2 HTTP/1.1\r\nHost: a\r\n\r\n"
    assert web.exchange(demo, two).count(b"HTTP/1.1 200 OK\r\n") == 2  # one connection, two responses
    with httpx.Client(base_url=demo.url, timeout=5) as browser:
        assert [browser.get("/me").json()["visits"] for _ in range(3)] == [1, 2, 3]
        assert "Max-Age=0" in browser.delete("/me").headers["set-cookie"]
        assert browser.get("/me").json()["visits"] == 1
        statuses = [browser.get("/flaky/t1?fail=2").status_code for _ in range(3)]
        assert statuses == [503, 503, 200] and demo.hits("t1") == 3
        pages, url = [], "/books?per_page=2"
        while url:
            page = browser.get(url).json()
            pages.append(len(page["items"]))
            url = page["next"]
        assert sum(pages) == browser.get("/books").json()["total"] and max(pages) == 2



@pytest.mark.service
def test_demo_server_answers_400_for_what_it_cannot_read_and_422_for_values_it_refuses(demo):
    """Step 03's convention: 400 when the request cannot be read, 422 when it reads but a value is refused."""
    with httpx.Client(base_url=demo.url, timeout=5) as client:
        unreadable = client.post("/books", content=b"{oops", headers={"Content-Type": "application/json"})
        assert unreadable.status_code == 400
        refused = [client.post("/books", json={"author": "Me"}),
                   client.get("/books", params={"per_page": 500}), client.get("/books", params={"per_page": 0}),
                   client.get("/books", params={"page": 0}), client.get("/books", params={"page": "two"}),
                   client.get("/flaky/c422", params={"status": 200}), client.get("/slow", params={"seconds": "x"})]
        assert [r.status_code for r in refused] == [422] * len(refused)
        assert all(r.headers["content-type"] == "application/problem+json" for r in refused)


def test_helpers_show_parse_and_call_wsgi(capsys):
    web.show(b"HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n")
    assert capsys.readouterr().out == "HTTP/1.1 204 No Content␍␊\nX-A: 1␍␊\n␍␊\n"
    with pytest.raises(ValueError, match="after the end"):
        web.parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nab")

    def bad_app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return ["text, not bytes"]

    with pytest.raises(AssertionError):
        web.call_wsgi(bad_app)


# ----------------------------------------------------------------------- the lesson leaves nothing behind
@pytest.mark.slow
@pytest.mark.service
def test_the_lesson_leaves_no_thread_process_or_port_behind(tmp_path, monkeypatch):
    from factories import learner_lesson
    from nbclient import NotebookClient

    lesson = learner_lesson(STEM, tmp_path, monkeypatch)  # as a learner runs it (tests/test_notebooks.py)
    nb = nbformat.read(lesson, as_version=4)
    client = NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(lesson.parent)}})
    with client.setup_kernel():
        kernel = psutil.Process(client.km.provisioner.pid)

        def listening() -> set[int]:
            return {c.laddr.port for c in kernel.net_connections("inet") if c.status == psutil.CONN_LISTEN}

        before, opened = listening(), set()  # the kernel's own ports (ZMQ channels and the like)
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
            opened |= listening() - before
        left_open, children = listening() - before, kernel.children(recursive=True)
        probe = nbformat.v4.new_code_cell("import threading; print(sorted(t.name for t in threading.enumerate()))")
        nb.cells.append(probe)
        client.execute_cell(probe, len(nb.cells) - 1)
        threads = probe.outputs[0]["text"]
    assert opened, "the lesson opened no port: this test no longer sees its server"
    assert left_open == set() and children == []
    assert "course-server" not in threads
    for port in opened:  # and from outside the kernel, every port it used now refuses connections
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            pass


def test_the_lesson_prose_states_http_facts_that_are_true():
    """The errata of issue 19: framing, 429, server push, and 422's Python name computed in the run."""
    nb = nbformat.read(paths.lesson_path(STEM), as_version=4)
    prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "only ever answers" not in prose and "WebSocket" in prose and "Server-Sent Events" in prose
    assert "applies to them unchanged" not in prose and ":authority" in prose and "Content-Length" in prose
    four_xx = next(line for line in prose.splitlines() if line.startswith("| 4xx"))
    assert "do not repeat it unchanged" not in four_xx and "Retry-After" in four_xx
    assert "still calls" not in prose  # a claim about Python's name for 422 that 3.13 made false
    cell = next(c.source for c in nb.cells if c.cell_type == "code" and "HTTPStatus(422)" in c.source)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(cell, {"sys": __import__("sys")})
    assert f"HTTPStatus.{HTTPStatus(422).name}" in out.getvalue()
    assert HTTPStatus(422).phrase in out.getvalue()
