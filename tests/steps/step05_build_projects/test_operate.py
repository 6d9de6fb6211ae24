"""course.steps.step05_build_projects.operate: JSON log lines, histogram quantiles, span trees (in-process);
real RQ workers on the course's Redis (a job carries its request id and trace, a killed worker's job is run
again, nothing is left running); and exercise 05c graded on plausible answers (wrong ones lose marks, other
correct ones keep them all)."""

from __future__ import annotations

import io
import json
import logging
import math

import psutil
import pytest
from factories import exercise_cells

from course.components import services
from course.components.waits import wait_until
from course.steps.step05_build_projects import operate

# --- in-process ------------------------------------------------------------------------------------------


def _logger(name: str) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    log = logging.getLogger(name)
    log.propagate = False
    operate.json_logging(stream, logger=name)
    return log, stream


def test_json_lines_keep_the_traceback_the_request_id_and_extra_fields():
    log, stream = _logger("test.operate.json")
    reset = operate.REQUEST_ID.set("req-1")
    try:
        try:
            {}["missing"]
        except KeyError:
            log.exception("lookup failed for %s", "order 7", extra={"order_id": 7})
    finally:
        operate.REQUEST_ID.reset(reset)
    log.info("after the request")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "lookup failed for order 7" and first["level"] == "error"
    assert first["request_id"] == "req-1" and first["order_id"] == 7
    assert first["traceback"].startswith("Traceback (most recent call last)") and "KeyError: 'missing'" in first["traceback"]
    assert first["exception"] == "KeyError: 'missing'"
    assert "request_id" not in second and "traceback" not in second
    assert operate.close_logging(logger="test.operate.json") == 1 and operate.close_logging(logger="test.operate.json") == 0


def test_json_logging_replaces_its_own_handler_and_read_logs_filters_by_request(tmp_path):
    path = tmp_path / "api.log"
    log = logging.getLogger("test.operate.file")
    log.propagate = False
    operate.json_logging(path, logger="test.operate.file")
    operate.json_logging(path, logger="test.operate.file")  # a second call must not log every line twice
    log.info("one", extra={"request_id": "a"})
    log.info("two", extra={"request_id": "b"})
    operate.close_logging(logger="test.operate.file")
    (tmp_path / "worker.log").write_text("plain text line\n" + json.dumps({"time": "9", "request_id": "a"}) + "\n")
    assert [e["message"] for e in operate.read_logs(path)] == ["one", "two"]
    assert [e.get("message") for e in operate.read_logs(path, tmp_path / "worker.log", request_id="a")] == ["one", None]
    assert {"message": "plain text line"} in operate.read_logs(tmp_path / "worker.log", tmp_path / "missing.log")


def test_histogram_quantile_interpolates_like_prometheus():
    # 10 observations: 4 in (0, 0.1], 4 in (0.1, 0.2], 2 in (0.2, +Inf)
    cumulative = [(0.1, 4.0), (0.2, 8.0), (math.inf, 10.0)]
    assert operate.histogram_quantile(0.5, cumulative) == pytest.approx(0.125)  # rank 5: 1/4 into (0.1, 0.2]
    assert operate.histogram_quantile(0.2, cumulative) == pytest.approx(0.05)
    assert operate.histogram_quantile(0.95, cumulative) == 0.2  # in the +Inf bucket: the highest finite bound
    assert math.isnan(operate.histogram_quantile(0.5, [(0.1, 0.0), (math.inf, 0.0)]))
    assert math.isnan(operate.histogram_quantile(0.5, []))


def test_buckets_sum_the_series_that_carry_the_labels():
    import prometheus_client
    from prometheus_client.parser import text_string_to_metric_families

    registry = prometheus_client.CollectorRegistry()
    latency = prometheus_client.Histogram("t_seconds", "t", ["route", "method"], buckets=(0.1, 1.0), registry=registry)
    for route, method, value in [("/a", "GET", 0.05), ("/a", "POST", 0.5), ("/b", "GET", 2.0)]:
        latency.labels(route, method).observe(value)
    family = next(iter(text_string_to_metric_families(prometheus_client.generate_latest(registry).decode())))
    assert operate.buckets(family, route="/a") == [(0.1, 1.0), (1.0, 2.0), (math.inf, 2.0)]
    assert operate.buckets(family) == [(0.1, 1.0), (1.0, 2.0), (math.inf, 3.0)]


def _span(name, span_id, parent, start, end, service="api", trace="0xabc"):
    return {"name": name, "context": {"trace_id": trace, "span_id": span_id}, "parent_id": parent,
            "start_time": f"2026-12-02T10:00:{start:06.3f}Z", "end_time": f"2026-12-02T10:00:{end:06.3f}Z",
            "status": {"status_code": "UNSET"}, "resource": {"attributes": {"service.name": service}}}


def test_span_tree_nests_children_under_parents_across_services():
    spans = [_span("job ship", "0x3", "0x2", 1.0, 1.5, service="worker"), _span("POST /orders", "0x1", None, 0.0, 0.2),
             _span("enqueue", "0x2", "0x1", 0.1, 0.15), _span("other trace", "0x9", None, 0.0, 1.0, trace="0xdef")]
    assert operate.span_tree(spans, "0xabc").splitlines() == [
        "trace abc",
        "└─ POST /orders  [api]  +0.0 ms, 200.0 ms",
        "  └─ enqueue  [api]  +100.0 ms, 50.0 ms",
        "    └─ job ship  [worker]  +1000.0 ms, 500.0 ms",
    ]
    assert operate.span_tree([]) == "(no spans)"


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
def test_a_killed_workers_job_is_delivered_again_after_the_lease(jobs_folder, traced_worker):
    from rq import Retry

    pool = [traced_worker[0], operate.start_worker(jobs_folder, queues=["t-crash"])]
    job = operate.queue("t-crash").enqueue("test_jobs.echo", "again", 30.0, retry=Retry(max=1))
    wait_until(lambda: job.refresh() or (job.get_status() == "started" and job.worker_name), 20, what="the job to start")
    victim, rescuer = sorted(pool, key=lambda w: w.name != job.worker_name)
    family = [psutil.Process(victim.pid), *psutil.Process(victim.pid).children(recursive=True)]
    assert len(family) >= 2  # the worker and the work horse running the job
    victim.kill()
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in family)
    assert job.get_status(refresh=True) == "started"  # nobody finishes it, nobody says it failed
    # the job sleeps 30 s: the test sees its second delivery start, long before a first run could have ended
    wait_until(lambda: job.refresh() or job.meta.get("attempts") == 2, 30, what="the second delivery")
    assert job.worker_name == rescuer.name
    rescuer_family = [psutil.Process(rescuer.pid), *psutil.Process(rescuer.pid).children(recursive=True)]
    rescuer.kill()
    assert victim not in operate.running() and rescuer not in operate.running()
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in rescuer_family)


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
    from nbclient import NotebookClient

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
    nb = nbformat.v4.new_notebook(cells=cells)
    started_here = services.status()["redis"] is None
    url = operate.redis_url()
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("REDIS_URL", url)  # this test's server, not a second one
            NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                           resources={"metadata": {"path": str(tmp_path_factory.mktemp("variants"))}}).execute()
    finally:
        if started_here:
            services.stop_redis()
    setup_errors = [o for c in nb.cells[:len(setup) + len(solutions)] for o in c.outputs if o.output_type == "error"]
    assert not setup_errors, setup_errors
    return {variant_id: [next((f"{o.ename}: {o.evalue[:300]}" for o in nb.cells[i].outputs
                               if o.output_type == "error"), None)
                         for i in indexes] for variant_id, indexes in positions.items()}


@pytest.mark.slow
@pytest.mark.service
@pytest.mark.parametrize(("variant_id", "correct"), [(v[0], v[2]) for v in VARIANTS], ids=[v[0] for v in VARIANTS])
def test_hidden_tests_judge_each_variant(graded_variants, variant_id, correct):
    errors = graded_variants[variant_id]
    if correct:
        assert errors == [None] * len(errors), f"a correct answer lost marks: {errors}"
    else:
        assert any(errors), "a wrong answer kept every point"
        first = next(e for e in errors if e)
        assert "NotImplementedError" not in first and "not run:" not in first, first
