"""course.steps.step05_build_projects.operate: real RQ workers on the course's Redis (a job carries its
request id and trace, a killed worker's job is run again, nothing is left running); and exercise 05c graded on
plausible answers (wrong ones lose marks, other correct ones keep them all)."""

from __future__ import annotations

import os

import psutil
import pytest
from factories import assert_judged, exercise_cells, run_variants

from course.components import services
from course.components.waits import wait_until
from course.steps.step05_build_projects import operate

# --- real workers on Redis -----------------------------------------------------------------------------

JOBS = '''
import logging, time
from course.steps.step05_build_projects import operate

def echo(value, seconds=0.0):
    with operate.tracer().start_as_current_span("inside"):
        logging.getLogger("jobs").info("echo", extra={"value": value})
        time.sleep(seconds)
    return value
'''


@pytest.fixture(scope="module")
def jobs_folder(tmp_path_factory):
    started_here = services.status()["redis"] is None
    folder = tmp_path_factory.mktemp("jobs")
    (folder / "test_jobs.py").write_text(JOBS)
    yield folder
    operate.stop_all()
    if started_here:
        services.stop_redis()


@pytest.fixture(scope="module")
def traced_worker(jobs_folder):
    """One worker for the module's tests, on two queues, its spans in a file."""
    traces = jobs_folder / "spans.jsonl"
    return operate.start_worker(jobs_folder, queues=["t-meta", "t-crash"], traces=traces), traces


@pytest.mark.service
def test_a_job_carries_its_request_id_and_trace_into_the_worker(traced_worker):
    worker, traces = traced_worker
    spans = operate.tracing(service="test")
    reset = operate.REQUEST_ID.set("req-test")
    try:
        with operate.tracer().start_as_current_span("request") as span:
            job = operate.queue("t-meta").enqueue("test_jobs.echo", 42, meta=operate.job_meta())
            parent = format(span.get_span_context().span_id, "016x")
    finally:
        operate.REQUEST_ID.reset(reset)
    assert operate.wait_for([job]) == ["finished"] and job.return_value() == 42
    lines = [line for line in worker.logs() if line.get("request_id") == "req-test"]
    assert {"job started", "echo"} <= {line["message"] for line in lines}
    assert {line["pid"] for line in lines} != {psutil.Process().pid}
    wait_until(lambda: traces.exists() and traces.read_text().count("\n") >= 2, 10, what="the worker's spans")
    everything = operate.read_spans(spans, traces)
    job_span = next(s for s in everything if s["name"] == "job test_jobs.echo")
    assert job_span["parent_id"] == "0x" + parent and job_span["resource"]["attributes"]["service.name"] == "worker"
    tree = operate.span_tree(everything, job_span["context"]["trace_id"])
    assert "request  [test]" in tree and "job test_jobs.echo  [worker]" in tree and "inside  [worker]" in tree


@pytest.mark.service
def test_the_suites_leak_check_counts_a_running_worker(traced_worker, request):
    suite = str(request.config.rootpath / "tests" / "conftest.py")  # the leak rule at the session's end
    conftest = next(p for p in request.config.pluginmanager.get_plugins() if getattr(p, "__file__", "") == suite)
    worker, _ = traced_worker
    found = {p.pid for p in conftest.session_servers(os.environ[conftest.SESSION_VARIABLE])}
    assert worker.pid in found


@pytest.mark.service
def test_kill_is_a_crash_of_the_worker_and_its_children_and_stop_all_forgets_it(traced_worker):
    # The job killed mid-way is delivered again after the lease: the lesson (section 5) and the exercise's
    # solution (credit_crash_tests, graded through nbgrader) both show it on real workers, so it runs there.
    worker, _ = traced_worker
    family = [psutil.Process(worker.pid), *psutil.Process(worker.pid).children(recursive=True)]
    assert len(family) >= 2  # the worker and the scheduler it forked
    worker.kill()
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in family)
    assert worker.log_path.exists()  # a killed worker's log can still be read
    assert worker not in operate.running() and worker.name not in operate.stop_all()
    assert not worker.log_path.parent.exists()  # stop_all removes it


# --- exercise 05c graded: plausible answers --------------------------------------------------------------
# Each wrong answer below must lose marks in its part (one of the part's test cells fails), and each other
# correct answer must keep every point. The answers, by part:
# - credit: no idempotency (credits every delivery), check-then-credit (two deliveries at once both see "not
#   yet"), the key marked before the work (a worker killed mid-job leaves "done" for a payment never
#   credited); right: a plain INSERT whose IntegrityError means "already done", in the credit's transaction.
# - submit: no retry, retries without backoff, the intervals the wrong way round; right: args= and a timeout.
# - instrument: the raw path as the route label, milliseconds, the default buckets; right: the metrics app of
#   prometheus_client mounted with werkzeug's DispatcherMiddleware, labels by keyword.
# - JsonLines: record.msg (arguments not filled in), the exception's message instead of the traceback, the
#   request id read once when the formatter is made; right: traceback.format_exception, super().format().

CREDIT = '''%%writefile payments.py
import sqlite3
import time


def authorise(seconds):
    time.sleep(seconds)


def credit(db, payment_id, account, cents, seconds=0.0):
{body}'''

CREDIT_NO_KEY = CREDIT.format(body='''    authorise(seconds)
    with sqlite3.connect(db, timeout=30) as conn:
        if conn.execute("SELECT 1 FROM accounts WHERE id = ?", (account,)).fetchone() is None:
            raise LookupError(account)
        conn.execute("INSERT OR REPLACE INTO payments (id, account, cents) VALUES (?, ?, ?)", (payment_id, account, cents))
        conn.execute("UPDATE accounts SET balance_cents = balance_cents + ? WHERE id = ?", (cents, account))
''')

CREDIT_CHECK_FIRST = CREDIT.format(body='''    with sqlite3.connect(db, timeout=30) as conn:
        if conn.execute("SELECT 1 FROM payments WHERE id = ?", (payment_id,)).fetchone():
            return  # already done
    authorise(seconds)
    with sqlite3.connect(db, timeout=30) as conn:
        if conn.execute("SELECT 1 FROM accounts WHERE id = ?", (account,)).fetchone() is None:
            raise LookupError(account)
        conn.execute("INSERT OR IGNORE INTO payments (id, account, cents) VALUES (?, ?, ?)", (payment_id, account, cents))
        conn.execute("UPDATE accounts SET balance_cents = balance_cents + ? WHERE id = ?", (cents, account))
''')

CREDIT_MARK_FIRST = CREDIT.format(body='''    with sqlite3.connect(db, timeout=30) as conn:
        if conn.execute("SELECT 1 FROM accounts WHERE id = ?", (account,)).fetchone() is None:
            raise LookupError(account)
        claimed = conn.execute("INSERT OR IGNORE INTO payments (id, account, cents) VALUES (?, ?, ?)",
                               (payment_id, account, cents)).rowcount
    if not claimed:
        return
    authorise(seconds)
    with sqlite3.connect(db, timeout=30) as conn:
        conn.execute("UPDATE accounts SET balance_cents = balance_cents + ? WHERE id = ?", (cents, account))
''')

CREDIT_INTEGRITY_ERROR = CREDIT.format(body='''    authorise(seconds)
    conn = sqlite3.connect(db, timeout=30)
    try:
        with conn:
            found = conn.execute("SELECT COUNT(*) FROM accounts WHERE id = ?", (account,)).fetchone()[0]
            if not found:
                raise LookupError(f"account {account}")
            conn.execute("INSERT INTO payments (id, account, cents) VALUES (?, ?, ?)", (payment_id, account, cents))
            conn.execute("UPDATE accounts SET balance_cents = balance_cents + ? WHERE id = ?", (cents, account))
    except sqlite3.IntegrityError:
        pass  # the payment's id is taken: an earlier delivery did it
    finally:
        conn.close()
''')

SUBMIT = '''
def submit(queue, db, payment_id, account, cents, seconds=0.0):
    return queue.enqueue("payments.credit", db, payment_id, account, cents, seconds{retry})
'''

INSTRUMENT = '''
def instrument(app, registry):
    from flask import g

    count = prometheus_client.Counter("http_requests", "requests", ["route", "status"], registry=registry)
    timing = prometheus_client.Histogram("http_request_duration_seconds", "time", ["route"], registry=registry{buckets})

    @app.before_request
    def start():
        g.t0 = time.perf_counter()

    @app.after_request
    def done(response):
        route = {route}
        count.labels(route, str(response.status_code)).inc()
        timing.labels(route).observe((time.perf_counter() - g.t0){scale})
        return response

    @app.get("/metrics")
    def metrics():
        return prometheus_client.generate_latest(registry), 200, {{"Content-Type": prometheus_client.CONTENT_TYPE_LATEST}}
'''
INSTRUMENT_OK = {"buckets": ", buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)",
                 "route": 'request.url_rule.rule if request.url_rule else "unmatched"', "scale": ""}

JSON_LINES = '''
class JsonLines(logging.Formatter):
    def format(self, record):
        entry = {{"level": record.levelname, "logger": record.name, "message": {message}, "request_id": REQUEST_ID.get()}}
        if record.exc_info:
            entry["traceback"] = {traceback}
        return json.dumps(entry)
'''
JSON_OK = {"message": "record.getMessage()", "traceback": "self.formatException(record.exc_info)"}

VARIANTS = [
    ("credit-no-key", "credit", False, CREDIT_NO_KEY),
    ("credit-check-first", "credit", False, CREDIT_CHECK_FIRST),
    ("credit-mark-first", "credit", False, CREDIT_MARK_FIRST),
    ("credit-integrity-error", "credit", True, CREDIT_INTEGRITY_ERROR),
    ("submit-no-retry", "submit", False, SUBMIT.format(retry="")),
    ("submit-no-backoff", "submit", False, SUBMIT.format(retry=", retry=Retry(max=2)")),
    ("submit-backoff-reversed", "submit", False, SUBMIT.format(retry=", retry=Retry(max=2, interval=[2, 1])")),
    ("submit-args-and-timeout", "submit", True, '''
def submit(queue, db, payment_id, account, cents, seconds=0.0):
    policy = Retry(max=2, interval=[1, 2])
    return queue.enqueue("payments.credit", args=(db, payment_id, account, cents), kwargs={"seconds": seconds},
                         retry=policy, job_timeout=60)
'''),
    ("metrics-raw-path", "instrument", False, INSTRUMENT.format(**{**INSTRUMENT_OK, "route": "request.path"})),
    ("metrics-milliseconds", "instrument", False, INSTRUMENT.format(**{**INSTRUMENT_OK, "scale": " * 1000"})),
    ("metrics-default-buckets", "instrument", False, INSTRUMENT.format(**{**INSTRUMENT_OK, "buckets": ""})),
    ("metrics-dispatcher-middleware", "instrument", True, '''
from werkzeug.middleware.dispatcher import DispatcherMiddleware


def instrument(app, registry):
    requests = prometheus_client.Counter("http_requests_total", "requests", labelnames=("route", "status"),
                                         registry=registry)
    seconds = prometheus_client.Histogram("http_request_duration_seconds", "latency", labelnames=("route",),
                                          buckets=[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0], registry=registry)
    started = {}

    @app.before_request
    def clock_in():
        started[id(request._get_current_object())] = time.monotonic()

    @app.after_request
    def clock_out(response):
        began = started.pop(id(request._get_current_object()), time.monotonic())
        route = getattr(request.url_rule, "rule", None) or "unmatched"
        requests.labels(route=route, status=f"{response.status_code}").inc()
        seconds.labels(route=route).observe(time.monotonic() - began)
        return response

    app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {"/metrics": prometheus_client.make_wsgi_app(registry)})
    return app
'''),
    ("json-raw-msg", "json_lines", False, JSON_LINES.format(**{**JSON_OK, "message": "record.msg"})),
    ("json-exception-message-only", "json_lines", False,
     JSON_LINES.format(**{**JSON_OK, "traceback": "repr(record.exc_info[1])"})),
    ("json-request-id-at-init", "json_lines", False, '''
class JsonLines(logging.Formatter):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.request_id = REQUEST_ID.get()

    def format(self, record):
        entry = {"level": record.levelname, "logger": record.name, "message": record.getMessage(),
                 "request_id": self.request_id}
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry)
'''),
    ("json-traceback-module", "json_lines", True, '''
import traceback


class JsonLines(logging.Formatter):
    def format(self, record):
        super().format(record)  # fills record.message
        fields = dict(level=record.levelname, logger=record.name, message=record.message,
                      request_id=REQUEST_ID.get())
        if record.exc_info and record.exc_info[0] is not None:
            fields["traceback"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return json.dumps(fields, ensure_ascii=False)
'''),
]

GUARD = "_variant_failed = globals().get('_variant_failed', False)\nif _variant_failed:\n    raise RuntimeError('not run: an earlier test cell of this wrong answer failed')\n"


def _wrapped(test: str) -> str:
    """A wrong answer's test cell that is skipped once an earlier one failed (one failure is enough)."""
    body = "\n".join("    " + line if line.strip() else line for line in test.splitlines())
    return f"{GUARD}try:\n{body}\nexcept BaseException:\n    _variant_failed = True\n    raise\n"


@pytest.fixture(scope="module")
def graded_variants(tmp_path_factory):
    """{variant id: [error name or None per test cell of its part]}: every variant run once, in one kernel."""
    import nbformat

    setup, parts, cleanup = exercise_cells("05c-operate")
    solutions = [answer for answer, _ in parts.values()]
    cells = [nbformat.v4.new_code_cell(source) for source in setup + solutions]
    positions = {}
    for variant_id, part, correct, source in VARIANTS:
        _answer, tests = parts[part]
        cells += [nbformat.v4.new_code_cell("_variant_failed = False"), nbformat.v4.new_code_cell(source.strip())]
        positions[variant_id] = list(range(len(cells), len(cells) + len(tests)))
        cells += [nbformat.v4.new_code_cell(test if correct else _wrapped(test)) for test in tests]
        cells.append(nbformat.v4.new_code_cell(parts[part][0]))  # the solution again, for the next variant
    cells.append(nbformat.v4.new_code_cell(cleanup))
    started_here = services.status()["redis"] is None
    url = operate.redis_url()
    try:
        return run_variants(cells, positions, trusted=len(setup) + len(solutions), timeout=300,
                            folder=tmp_path_factory.mktemp("variants"), env={"REDIS_URL": url})
    finally:
        if started_here:
            services.stop_redis()


@pytest.mark.slow
@pytest.mark.service
@pytest.mark.parametrize(("variant_id", "correct"), [(v[0], v[2]) for v in VARIANTS], ids=[v[0] for v in VARIANTS])
def test_hidden_tests_judge_each_variant(graded_variants, variant_id, correct):
    errors = graded_variants[variant_id]
    assert_judged(errors, correct)
    if not correct:  # and it lost them to a test, not to a stub left unwritten
        first = next(e for e in errors if e)
        assert "NotImplementedError" not in first and "not run:" not in first, first
