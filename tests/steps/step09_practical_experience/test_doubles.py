"""course.steps.step09_practical_experience.doubles on real parts (the gateway over HTTP, PostgreSQL), and
exercise 09b graded on plausible answers in one kernel: each wrong answer loses marks in its part, each other
correct answer keeps every point. (The graded variants live here because four of the six parts grade test
files through this module's run_suite, and all of them need the PostgreSQL of this module's fixture.)"""

from __future__ import annotations

import time
from unittest import mock

import httpx
import pytest
from factories import assert_judged, run_variants, variant_cells

from course.steps.step09_practical_experience import doubles

INTEGRATION = '''
import pytest
import signups

def test_unconfirmed_and_confirm(db):
    signups.sign_up(db, " ann@example.org ")
    signups.sign_up(db, "bob@example.org")
    assert signups.confirm(db, "ANN@example.org")
    assert signups.unconfirmed(db) == ["bob@example.org"]

def test_taken_in_any_case(db):
    signups.sign_up(db, "ann@example.org")
    with pytest.raises(signups.EmailTaken):
        signups.sign_up(db, "Ann@Example.org")

def test_each_test_starts_empty(db):
    assert signups.unconfirmed(db) == []
'''


@pytest.mark.service
def test_the_gateway_charges_once_per_key_and_refuses_what_it_should():
    gateway = doubles.serve_gateway()
    try:
        client = doubles.PaymentClient(gateway.url)
        first = client.charge(1200, "tok_visa", idempotency_key="k1")
        assert client.charge(1200, "tok_visa", idempotency_key="k1") == first  # a retry: no second charge
        assert [c["amount_cents"] for c in gateway.charges] == [1200]
        with pytest.raises(doubles.CardDeclined):
            client.charge(5, "tok_declined", idempotency_key="k2")
        assert httpx.post(f"{gateway.url}/v1/charges", json={"amount_cents": 5}).status_code == 400  # no key
        with pytest.raises(TypeError):
            client.charge(5, "tok", "k3")  # the key is keyword-only
        receipt = doubles.checkout({"id": "o-9", "lines": [(2, 300)], "token": "t", "discount_cents": 100},
                                   client, lambda: 7.0)
        assert (receipt.amount_cents, receipt.paid_at) == (500, 7.0) and gateway.charges[-1]["key"] == "o-9"
    finally:
        gateway.stop()


def test_autospec_refuses_the_positional_key_that_a_plain_mock_accepts():
    source = doubles.checkout_source("key-passed-positionally")
    namespace = {}
    exec(compile(source, "checkout.py", "exec"), namespace)
    order = {"id": "o", "lines": [(1, 100)], "token": "t"}
    assert namespace["checkout"](order, mock.Mock(), time.time).amount_cents == 100
    with pytest.raises(TypeError):
        namespace["checkout"](order, mock.create_autospec(doubles.PaymentClient, instance=True), time.time)
    for bug in doubles.CHECKOUT_BUGS:
        assert doubles.checkout_source(bug) != doubles.CHECKOUT


@pytest.mark.slow
@pytest.mark.service
def test_each_sql_bug_passes_a_mocked_test_and_fails_on_postgresql(pg_url):
    conftest = doubles.integration_conftest(pg_url)
    assert doubles.run_suite(INTEGRATION, "signups", doubles.SIGNUPS, conftest=conftest).passed
    for bug in doubles.SIGNUPS_BUGS:
        assert doubles.signups_source(bug) != doubles.SIGNUPS
        run = doubles.run_suite(INTEGRATION, "signups", doubles.signups_source(bug), conftest=conftest)
        assert run.failed_cleanly, (bug, run.output)


# --- exercise 09b graded: plausible answers --------------------------------------------------------------
# - bisect: the last good commit reported (read from `git bisect log`), a script without 125 (the untestable
#   commit is called bad); right: a script that imports the test module itself, the id read from the log.
# - double: a plain Mock (accepts the positional key), no discount tested, the wall clock, the real client
#   (no gateway runs); right: a hand-written fake with the real signature.
# - integration: a mocked connection, lower-case addresses only; right: other tests, counting rows in SQL.
# - coverage: the lesson's three tests (a branch missed), calls with no assert; right: other tests.
# - incident: 4xx counted, minutes rounded, the first deploy of the log, the ids of every 5xx of the incident;
#   right: pandas.
# - quote: rounded to the nearest cent, the buffer twice or on the costs too, the deposit rounded down or taken
#   from the unrounded price, the balance rounded on its own (deposit + balance != price), floats, Decimal(float),
#   a task of 0 hours accepted; right: Fraction with integer ceiling division, Decimal.quantize(ROUND_CEILING),
#   floats with round(x, 6) before rounding up (what course.steps...freelance did before it took Decimals).

BISECT = r'''
import sys
import tempfile

CHECK_SCRIPT = """
import subprocess
import sys

if subprocess.run([sys.executable, "-c", "import invoice"]).returncode != 0:
    sys.exit({untestable})
sys.exit(0 if subprocess.run([sys.executable, "-m", "pytest", "-q", sys.argv[1]]).returncode == 0 else 1)
"""


def first_bad_commit(path, good, bad):
    script = Path(tempfile.mkdtemp()) / "check.py"
    script.write_text(CHECK_SCRIPT)
    try:
        gitrepo.git("bisect", "start", cwd=path)
        gitrepo.git("bisect", "bad", bad, cwd=path)
        gitrepo.git("bisect", "good", good, cwd=path)
        output = gitrepo.git("bisect", "run", sys.executable, str(script), str(REGRESSION_TEST), cwd=path)
        log = gitrepo.git("bisect", "log", cwd=path)
    finally:
        gitrepo.run_git("bisect", "reset", cwd=path)
    {answer}
'''
FROM_OUTPUT = 'return next(line.split()[0] for line in output.splitlines() if line.endswith("is the first bad commit"))'
LAST_GOOD = 'return [line.split()[-1] for line in log.splitlines() if line.startswith("git bisect good")][-1]'

DOUBLE = r'''%%writefile test_checkout.py
from unittest import mock
import time
import pytest
from checkout import checkout
from course.steps.step09_practical_experience.doubles import PaymentClient

def test_checkout():
    client = {double}
    client.charge.return_value = "ch_1"
    order = {{"id": "o-1", "lines": [(3, 200)], "token": "tok"{discount}}}
    receipt = checkout(order, client, {clock})
    client.charge.assert_called_once_with({amount}, "tok", idempotency_key="o-1")
    assert receipt.amount_cents == {amount}
    assert {paid}
'''
DOUBLE_OK = {"double": "mock.create_autospec(PaymentClient, instance=True)", "discount": ', "discount_cents": 100',
             "clock": "lambda: 99.0", "amount": 500, "paid": "receipt.paid_at == 99.0"}

INTEGRATION_MOCKED = r'''%%writefile test_signups.py
from unittest import mock
import signups

def test_unconfirmed(db):
    conn = mock.Mock()
    conn.execute.return_value.fetchall.return_value = [("ann@example.org",)]
    assert signups.unconfirmed(conn) == ["ann@example.org"]

def test_confirm(db):
    conn = mock.Mock()
    conn.execute.return_value.rowcount = 1
    assert signups.confirm(conn, "ann@example.org")
'''

SHIPPING = r'''%%writefile test_shipping.py
import pytest
from shipping import shipping_cents

{body}
'''
LINES_ONLY = '''def test_heavy_express_to_france():
    assert shipping_cents(3500, "FR", express=True) == 1400

def test_heavy_express_abroad():
    assert shipping_cents(3000, "DE", express=True) == 2000

def test_zero():
    with pytest.raises(ValueError):
        shipping_cents(0, "FR")'''

INCIDENT = r'''
import json


def find_incident(lines):
    records = [json.loads(line) for line in lines if line.strip()]
    minutes = {{}}
    for r in records:
        if r.get("logger") == "access":
            ts = r["ts"]
            minute = {minute}
            minutes.setdefault(minute, []).append(r)
    first = next(m for m in sorted(minutes) if sum({bad} for r in minutes[m]) > 0.05 * len(minutes[m]))
    failed = [r for r in {pool} if r["status"] >= 500]
    in_minute = [r for r in minutes[first] if r["status"] >= 500]
    routes = {{}}
    for r in in_minute:
        routes[r["method"] + " " + r["route"]] = routes.get(r["method"] + " " + r["route"], 0) + 1
    deploys = [r for r in records if r.get("event") == "deploy" and r["ts"][11:16] <= first]
    return {{"first_bad_minute": first, "route": max(routes, key=routes.get),
            "request_ids": sorted(r["request_id"] for r in failed), "deploy_id": deploys[{which}]["deploy_id"]}}
'''
INCIDENT_OK = {"minute": 'ts[11:16]', "bad": 'r["status"] >= 500', "pool": "minutes[first]", "which": "-1"}
ROUNDED = ('f"{int(ts[11:13]) + (int(ts[14:16]) + (ts[17:19] >= \'30\')) // 60:02d}:'
           '{(int(ts[14:16]) + (ts[17:19] >= \'30\')) % 60:02d}"')

QUOTE = r'''
import math
from decimal import Decimal


def quote(tasks, hourly_rate, *, buffer, costs, deposit_share):
    def exact(number):
        return {exact}

    if not tasks or any(exact(hours) {positive} 0 for hours in tasks.values()):
        raise ValueError("every task needs hours")
    if hourly_rate < 0 or exact(buffer) < 0 or costs < 0 or not 0 <= exact(deposit_share) <= 1:
        raise ValueError("terms that make no sense")
    hours = sum(exact(hours) for hours in tasks.values())
    price = {up}({price})
    deposit = {deposit}
    return {{"price": price, "deposit": deposit, "balance": {balance}}}
'''
QUOTE_OK = {"exact": "Decimal(str(number))", "positive": "<=", "up": "math.ceil",
            "price": "hours * (1 + exact(buffer)) * hourly_rate + costs",
            "deposit": "math.ceil(price * exact(deposit_share))", "balance": "price - deposit"}
QUOTE_FRACTIONS = r'''
from fractions import Fraction


def quote(tasks, hourly_rate, *, buffer, costs, deposit_share):
    hours = [Fraction(str(h)) for h in tasks.values()]
    share, extra = Fraction(str(deposit_share)), Fraction(str(buffer))
    if not hours or min(hours) <= 0 or hourly_rate < 0 or extra < 0 or costs < 0 or not 0 <= share <= 1:
        raise ValueError("no quote for that")
    exact = sum(hours) * (1 + extra) * hourly_rate + costs
    price = -(-exact.numerator // exact.denominator)  # ceiling division, in integers
    deposit = -(-(price * share.numerator) // share.denominator)
    return {"price": price, "deposit": deposit, "balance": price - deposit}
'''
QUOTE_QUANTIZE = r'''
from decimal import ROUND_CEILING, Decimal

CENT = Decimal(1)


def quote(tasks, hourly_rate, *, buffer, costs, deposit_share):
    if len(tasks) == 0:
        raise ValueError("nothing to quote")
    for name, hours in tasks.items():
        if Decimal(repr(hours)) <= 0:
            raise ValueError(f"{name}: no hours")
    if min(hourly_rate, costs) < 0 or Decimal(repr(buffer)) < 0:
        raise ValueError("negative")
    share = Decimal(repr(deposit_share))
    if share < 0 or share > 1:
        raise ValueError("the deposit is a share")
    total = sum(Decimal(repr(h)) for h in tasks.values()) * (1 + Decimal(repr(buffer))) * hourly_rate
    price = int((total + costs).quantize(CENT, rounding=ROUND_CEILING))
    deposit = int((price * share).quantize(CENT, rounding=ROUND_CEILING))
    return dict(price=price, deposit=deposit, balance=price - deposit)
'''


def quote_variant(**changes: str) -> str:
    """Part F's reference quote() with some of its expressions changed."""
    return QUOTE.format(**{**QUOTE_OK, **changes})


VARIANTS = [
    ("bisect-last-good", "bisect", False, BISECT.format(untestable=125, answer=LAST_GOOD)),
    ("bisect-no-skip", "bisect", False, BISECT.format(untestable=1, answer=FROM_OUTPUT)),
    ("bisect-own-test-runner-and-log", "bisect", True, r'''
import sys
import tempfile

CHECK_SCRIPT = """
import importlib.util
import os
import sys

sys.path.insert(0, os.getcwd())  # the repository: git bisect runs the script there
try:
    import invoice  # noqa: F401
except Exception:
    raise SystemExit(125)
spec = importlib.util.spec_from_file_location("regression", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
try:
    module.test_tax_rounds_half_up_to_the_cent()
except AssertionError:
    raise SystemExit(1)
"""


def first_bad_commit(path, good, bad):
    folder = Path(tempfile.mkdtemp())
    (folder / "check.py").write_text(CHECK_SCRIPT)
    gitrepo.git("bisect", "start", bad, good, cwd=path)
    try:
        gitrepo.git("bisect", "run", sys.executable, str(folder / "check.py"), str(REGRESSION_TEST), cwd=path)
        log = gitrepo.git("bisect", "log", cwd=path)
    finally:
        gitrepo.git("bisect", "reset", cwd=path)
    line = next(line for line in log.splitlines() if line.startswith("# first bad commit:"))
    return line.split("[")[1].split("]")[0]
'''),
    ("double-plain-mock", "double", False, DOUBLE.format(**{**DOUBLE_OK, "double": "mock.Mock()"}).replace(
        '    client.charge.assert_called_once_with(500, "tok", idempotency_key="o-1")\n',
        '    call = client.charge.call_args\n'
        '    assert client.charge.call_count == 1 and call.args[:2] == (500, "tok")\n'
        '    assert "o-1" in [*call.args[2:], *call.kwargs.values()]  # the key, however it is passed\n')),
    ("double-no-discount", "double", False, DOUBLE.format(**{**DOUBLE_OK, "discount": "", "amount": 600})),
    ("double-wall-clock", "double", False,
     DOUBLE.format(**{**DOUBLE_OK, "clock": "time.time", "paid": "receipt.paid_at > 0"})),
    ("double-real-client", "double", False, DOUBLE.format(**{**DOUBLE_OK, "double": 'PaymentClient("http://127.0.0.1:9")'})
     .replace('    client.charge.return_value = "ch_1"\n', "").replace(
         '    client.charge.assert_called_once_with(500, "tok", idempotency_key="o-1")\n', "")),
    ("double-hand-written-fake", "double", True, r'''%%writefile test_checkout.py
import pytest
from checkout import checkout


class FakeClient:
    """A fake of PaymentClient: the same signature, charges kept in a list."""

    def __init__(self):
        self.charges = []

    def charge(self, amount_cents, token, *, idempotency_key):
        self.charges.append((amount_cents, token, idempotency_key))
        return f"ch_{len(self.charges)}"


@pytest.mark.parametrize(("lines", "discount", "amount"), [([(1, 999)], 0, 999), ([(2, 500), (1, 1)], 1, 1000)])
def test_amount_and_key(lines, discount, amount):
    client = FakeClient()
    receipt = checkout({"id": "A7", "lines": lines, "token": "tok_x", "discount_cents": discount}, client, lambda: 5.0)
    assert client.charges == [(amount, "tok_x", "A7")]
    assert (receipt.charge_id, receipt.paid_at) == ("ch_1", 5.0)
'''),
    ("integration-mocked", "integration", False, INTEGRATION_MOCKED),
    ("integration-lower-case-only", "integration", False, r'''%%writefile test_signups.py
import signups

def test_flow(db):
    signups.sign_up(db, " ann@example.org")
    signups.sign_up(db, "bob@example.org")
    assert signups.unconfirmed(db) == ["ann@example.org", "bob@example.org"]
    assert signups.confirm(db, "bob@example.org")
    assert signups.unconfirmed(db) == ["ann@example.org"]
'''),
    ("integration-sql-counts", "integration", True, r'''%%writefile test_signups.py
import pytest
import signups

@pytest.mark.parametrize("again", ["EVE@example.org", "eve@EXAMPLE.org"])
def test_taken(db, again):
    signups.sign_up(db, "eve@example.org")
    with pytest.raises(signups.EmailTaken):
        signups.sign_up(db, again)
    assert db.execute("SELECT count(*) FROM signups").fetchone()[0] == 1

def test_confirm_any_case_and_trim(db):
    signups.sign_up(db, "  Fay@example.org ")
    assert db.execute("SELECT email FROM signups").fetchone()[0] == "Fay@example.org"
    assert signups.unconfirmed(db) == ["Fay@example.org"]
    assert signups.confirm(db, "FAY@example.org")
    assert signups.unconfirmed(db) == []
'''),
    ("coverage-lines-only", "coverage", False, SHIPPING.format(body=LINES_ONLY)),
    ("coverage-calls-only", "coverage", False, SHIPPING.format(body='''def test_runs():
    for args in [(800, "FR", False), (2001, "DE", True), (3500, "FR", True)]:
        shipping_cents(*args)
    try:
        shipping_cents(0, "FR")
    except ValueError:
        pass''')),
    ("coverage-other-tests", "coverage", True, SHIPPING.format(body=LINES_ONLY + '''

def test_light_france():
    assert shipping_cents(1, "FR") == 500

def test_just_over_two_kilos_abroad():
    assert shipping_cents(2001, "US") == 1000''')),
    ("incident-counts-4xx", "incident", False, INCIDENT.format(**{**INCIDENT_OK, "bad": 'r["status"] >= 400'})),
    ("incident-rounds-minutes", "incident", False, INCIDENT.format(**{**INCIDENT_OK, "minute": ROUNDED})),
    ("incident-first-deploy", "incident", False, INCIDENT.format(**{**INCIDENT_OK, "which": "0"})),
    ("incident-every-5xx", "incident", False, INCIDENT.format(**{**INCIDENT_OK, "pool": "records[:0] + [r for r in records if r.get('logger') == 'access']"})),
    ("incident-pandas", "incident", True, r'''
import io

import pandas as pd


def find_incident(lines):
    frame = pd.read_json(io.StringIO("\n".join(lines)), lines=True, convert_dates=False)
    frame["minute"] = frame.ts.str.slice(11, 16)
    access = frame[frame.logger == "access"].copy()
    access["failed"] = access.status >= 500
    share = access.groupby("minute").failed.mean()
    first = share[share > 0.05].index.min()
    failed = access[(access.minute == first) & access.failed]
    route = (failed.method + " " + failed.route).value_counts().idxmax()
    deploys = frame[(frame.get("event") == "deploy") & (frame.minute <= first)].sort_values("ts")
    return {"first_bad_minute": first, "route": route, "request_ids": sorted(failed.request_id),
            "deploy_id": deploys.deploy_id.iloc[-1]}
'''),
    ("quote-nearest-cent", "quote", False, quote_variant(up="round", deposit="round(price * exact(deposit_share))")),
    ("quote-buffer-twice", "quote", False,
     quote_variant(price="hours * (1 + exact(buffer)) * hourly_rate * (1 + exact(buffer)) + costs")),
    ("quote-buffer-on-costs", "quote", False, quote_variant(price="(hours * hourly_rate + costs) * (1 + exact(buffer))")),
    ("quote-deposit-rounded-down", "quote", False, quote_variant(deposit="int(price * exact(deposit_share))")),
    ("quote-deposit-of-unrounded-price", "quote", False, quote_variant(
        deposit="math.ceil((hours * (1 + exact(buffer)) * hourly_rate + costs) * exact(deposit_share))")),
    ("quote-balance-rounded-apart", "quote", False,
     quote_variant(balance="math.ceil(price * (1 - exact(deposit_share)))")),
    ("quote-floats", "quote", False, quote_variant(exact="number")),
    ("quote-decimal-of-float", "quote", False, quote_variant(exact="Decimal(number)")),
    ("quote-accepts-zero-hours", "quote", False, quote_variant(positive="<")),
    ("quote-lesson-rounding", "quote", True, quote_variant(
        exact="number", price="round(hours * (1 + buffer) * hourly_rate + costs, 6)",
        deposit="math.ceil(round(price * deposit_share, 6))")),
    ("quote-fractions", "quote", True, QUOTE_FRACTIONS),
    ("quote-quantize", "quote", True, QUOTE_QUANTIZE),
]


@pytest.fixture(scope="module")
def graded_variants(pg_url, tmp_path_factory):
    """{variant id: [error or None per test cell of its part]}: every variant run once, in one kernel."""
    cells, positions, trusted = variant_cells("09b-on-the-job", VARIANTS)
    return run_variants(cells, positions, trusted=trusted, folder=tmp_path_factory.mktemp("variants"),
                        env={"DATABASE_URL": pg_url})


@pytest.mark.slow
@pytest.mark.service
@pytest.mark.parametrize(("variant_id", "correct"), [(v[0], v[2]) for v in VARIANTS], ids=[v[0] for v in VARIANTS])
def test_hidden_tests_judge_each_variant(graded_variants, variant_id, correct):
    assert_judged(graded_variants[variant_id], correct)
