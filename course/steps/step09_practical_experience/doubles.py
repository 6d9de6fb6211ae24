"""Test doubles and integration tests, on real parts (deep dive 09b).

- A payment gateway you do not own, as a real HTTP server on 127.0.0.1 (:func:`serve_gateway`), its client
  :class:`PaymentClient` (``httpx``), and :func:`checkout`, the code under test that charges through the
  client and reads the time from a clock it is given: where stubs, fakes, mocks and spies help.
- :data:`SIGNUPS` and its buggy versions (:data:`SIGNUPS_BUGS`): a newsletter's sign-ups on PostgreSQL, whose
  bugs live in SQL (``= NULL``, a unique index that ignores letter case): a mocked connection passes them all,
  a test against the real database does not.
- :func:`integration_conftest`: the ``conftest.py`` of an integration suite: one new database per pytest
  session, one transaction per test, rolled back after it, on the course's PostgreSQL.
- :func:`run_suite` runs a test file against a module text (correct or buggy) in a fresh folder, through
  step 09's :func:`~course.steps.step09_practical_experience.workbench.run_tests_against`.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

import httpx

from course.components import servers
from course.steps.step09_practical_experience.workbench import PytestRun, run_tests_against

__all__ = [
    "Gateway", "serve_gateway", "PaymentClient", "CardDeclined", "checkout", "SIGNUPS", "SIGNUPS_BUGS",
    "signups_source", "integration_conftest", "run_suite", "CHECKOUT_BUGS", "checkout_source",
]


# --- the payment gateway: a real HTTP server, and the client the shop wrote ------------------------------

@dataclass
class Gateway:
    """A running gateway: its URL, and every charge it accepted (``{"amount_cents", "token", "key"}``)."""

    server: servers.BackgroundServer
    charges: list[dict] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    def stop(self) -> None:
        self.server.stop()


def serve_gateway() -> Gateway:
    """Start a payment gateway on 127.0.0.1: ``POST /v1/charges`` with JSON ``{"amount_cents", "token"}`` and
    an ``Idempotency-Key`` header answers 201 and a charge id; the token ``tok_declined`` gets 402, a missing
    key or a bad amount 400, and a key seen before returns the first charge again (no second charge)."""
    charges: list[dict] = []
    by_key: dict[str, dict] = {}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format, *args):  # noqa: A002 - the base class's signature
            pass

        def _answer(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):  # noqa: N802 - http.server's naming
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            key = self.headers.get("Idempotency-Key")
            amount = body.get("amount_cents")
            if self.path != "/v1/charges":
                return self._answer(404, {"error": "not found"})
            if not key or not isinstance(amount, int) or amount < 1:
                return self._answer(400, {"error": "an Idempotency-Key and a positive amount_cents are required"})
            if body.get("token") == "tok_declined":
                return self._answer(402, {"error": "card declined"})
            with lock:
                if key not in by_key:
                    by_key[key] = {"id": f"ch_{len(charges) + 1:04d}", "amount_cents": amount,
                                   "token": body.get("token"), "key": key}
                    charges.append(by_key[key])
                return self._answer(201, by_key[key])

    return Gateway(servers.serve_handler(Handler, name="payment-gateway"), charges)


class CardDeclined(Exception):
    """The gateway declined the card (HTTP 402)."""


class PaymentClient:
    """The shop's client of the gateway: one method, one HTTP request, a timeout."""

    def __init__(self, base_url: str, *, timeout: float = 5.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def charge(self, amount_cents: int, token: str, *, idempotency_key: str) -> str:
        """Charge ``amount_cents`` to the card ``token``; the gateway's charge id. A retry with the same
        ``idempotency_key`` never charges twice. Raises :class:`CardDeclined` on a 402."""
        answer = httpx.post(f"{self.base_url}/v1/charges", json={"amount_cents": amount_cents, "token": token},
                            headers={"Idempotency-Key": idempotency_key}, timeout=self.timeout)
        if answer.status_code == 402:
            raise CardDeclined(token)
        answer.raise_for_status()
        return answer.json()["id"]


# The code under test, as a module text (so buggy versions can be run against a learner's tests too).
CHECKOUT = '''"""Checkout of the shop: charge an order through the payment client, stamp the receipt with the clock."""

from dataclasses import dataclass


@dataclass
class Receipt:
    order_id: str
    charge_id: str
    amount_cents: int
    paid_at: float


def checkout(order, client, clock):
    """Charge ``order`` (a dict: ``id``, ``lines`` of ``(quantity, unit_cents)``, ``token``, and an optional
    ``discount_cents``) through ``client.charge(amount, token, idempotency_key=...)``, with the order id as the
    idempotency key; return a Receipt stamped with ``clock()``. An empty order charges nothing: ValueError."""
    amount = sum(quantity * unit for quantity, unit in order["lines"]) - order.get("discount_cents", 0)
    if amount <= 0:
        raise ValueError("nothing to charge")
    charge_id = client.charge(amount, order["token"], idempotency_key=order["id"])
    return Receipt(order["id"], charge_id, amount, clock())
'''

# Buggy checkouts a good test of checkout() must catch, each a plausible slip.
CHECKOUT_BUGS = {
    # a positional third argument: a plain Mock accepts it; the real charge() (keyword-only key) raises
    "key-passed-positionally": ('client.charge(amount, order["token"], idempotency_key=order["id"])',
                                'client.charge(amount, order["token"], order["id"])'),
    # the discount forgotten: only a test that checks the amount charged sees it
    "discount-ignored": ('- order.get("discount_cents", 0)', ""),
    # the time read at import or not from the clock given: only a test with a controlled clock sees it
    "wall-clock": ("clock())", "__import__('time').time())"),
}


def _with_bug(text: str, bugs: dict[str, tuple[str, str]], bug: str | None) -> str:
    if bug is None:
        return text
    old, new = bugs[bug]
    assert old in text, bug
    return text.replace(old, new, 1)


def checkout_source(bug: str | None = None) -> str:
    """The checkout module's text, correct or with one of :data:`CHECKOUT_BUGS`."""
    return _with_bug(CHECKOUT, CHECKOUT_BUGS, bug)


def checkout(order: dict, client, clock):
    """:data:`CHECKOUT`'s ``checkout``, importable (the lesson calls it with doubles and the real client)."""
    namespace: dict = {}
    exec(compile(CHECKOUT, "checkout.py", "exec"), namespace)  # noqa: S102 - our own module text
    return namespace["checkout"](order, client, clock)


# --- sign-ups on PostgreSQL: bugs in SQL that a mocked connection cannot see ------------------------------

SIGNUPS = '''"""Sign-ups of the newsletter service, on PostgreSQL (psycopg 3 connections, the caller commits)."""

import psycopg

SCHEMA = """
CREATE TABLE signups (
    id serial PRIMARY KEY,
    email text NOT NULL,
    confirmed_at timestamptz
);
CREATE UNIQUE INDEX signups_email_key ON signups (lower(email));
"""


class EmailTaken(ValueError):
    """This address (in any letter case) has signed up already."""


def create_schema(conn):
    conn.execute(SCHEMA)


def sign_up(conn, email):
    """Add ``email`` (trimmed); its new id. Raises EmailTaken when it is there already, in any letter case."""
    try:
        with conn.transaction():  # a savepoint: a refused insert leaves the caller's transaction usable
            return conn.execute("INSERT INTO signups (email) VALUES (%s) RETURNING id", (email.strip(),)).fetchone()[0]
    except psycopg.errors.UniqueViolation:
        raise EmailTaken(email) from None


def confirm(conn, email):
    """Mark ``email`` (any letter case) confirmed now; True if it had signed up."""
    done = conn.execute("UPDATE signups SET confirmed_at = now() WHERE lower(email) = lower(%s)", (email.strip(),))
    return done.rowcount == 1


def unconfirmed(conn):
    """The addresses not confirmed yet, oldest sign-up first."""
    rows = conn.execute("SELECT email FROM signups WHERE confirmed_at IS NULL ORDER BY id").fetchall()
    return [email for (email,) in rows]
'''

# Each bug is one edit of SIGNUPS; every one passes a test that mocks the connection.
SIGNUPS_BUGS = {
    "equals-null": ("WHERE confirmed_at IS NULL", "WHERE confirmed_at = NULL"),
    "unique-ignores-case": ("ON signups (lower(email))", "ON signups (email)"),
    "confirm-case-sensitive": ("WHERE lower(email) = lower(%s)", "WHERE email = %s"),
}


def signups_source(bug: str | None = None) -> str:
    """The sign-ups module's text, correct or with one of :data:`SIGNUPS_BUGS`."""
    return _with_bug(SIGNUPS, SIGNUPS_BUGS, bug)


_CONFTEST = '''"""Integration fixtures: one new database per test session, one rolled-back transaction per test."""

import uuid

import psycopg
import pytest

import signups

SERVER_URL = {url!r}  # the course's PostgreSQL


@pytest.fixture(scope="session")
def database_url():
    """A database made for this session (every table created once), dropped at the end."""
    name = "it_" + uuid.uuid4().hex[:12]
    with psycopg.connect(SERVER_URL, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {{name}}")
    url = psycopg.conninfo.make_conninfo(SERVER_URL, dbname=name)
    with psycopg.connect(url) as conn:
        signups.create_schema(conn)  # committed when the block ends
    yield url
    with psycopg.connect(SERVER_URL, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE {{name}} WITH (FORCE)")


@pytest.fixture
def db(database_url):
    """A connection inside a transaction that is rolled back after the test: each test starts from empty tables."""
    with psycopg.connect(database_url) as conn, conn.transaction(force_rollback=True):
        yield conn  # the code's own conn.transaction() blocks become savepoints inside this one
'''


def integration_conftest(url: str) -> str:
    """The ``conftest.py`` of the integration tests, for the PostgreSQL server at libpq ``url``."""
    return _CONFTEST.format(url=url)


def run_suite(tests: str, module_name: str, module_source: str, *, conftest: str | None = None,
              timeout: float = 60) -> PytestRun:
    """Run the test file ``tests`` (as ``test_suite.py``) against ``module_source`` saved as ``module_name``.py,
    with ``conftest`` beside them when given, in a fresh folder (pytest plugins off, no outer config)."""
    files = {f"{module_name}.py": module_source, "test_suite.py": tests}
    if conftest is not None:
        files["conftest.py"] = conftest
    return run_tests_against(files, timeout=timeout)
