"""Step 05c · operate the service: background jobs on Redis with RQ, JSON logs, Prometheus metrics, traces.

- Jobs: :func:`start_worker` runs a real RQ worker as its own process on the course's Redis (or ``REDIS_URL``),
  importing job functions from a folder; :meth:`WorkerProcess.stop` is RQ's warm shutdown (SIGTERM: the job
  under way finishes), :meth:`WorkerProcess.kill` a crash (SIGKILL to the worker and its children).
  :func:`stop_all` (the lesson's last cell) stops every worker started here. The worker is RQ's own
  ``Worker`` with one change, :data:`LEASE`: a running job's lease (RQ: its heartbeat TTL, 60 s and more)
  is a few seconds, so a job whose worker died is handed out again within the lesson, not a minute later.
  :func:`wait_for` waits until jobs are done; :func:`registries` counts RQ's registries of a queue.
- Logs: :class:`JsonFormatter` writes one JSON object per line, with the traceback of ``exc_info`` and the
  request id of :data:`REQUEST_ID` (a context variable: set once per request, seen by every line logged
  while it is handled); :func:`json_logging` installs it. A job carries the request id in ``job.meta`` and
  the worker sets it again, so one id follows a request from the API into the worker's lines.
- Metrics: :func:`scrape` reads a Prometheus ``/metrics`` page; :func:`buckets` and :func:`histogram_quantile`
  turn a histogram into percentiles the way Prometheus's ``histogram_quantile()`` does.
- Traces: :func:`tracing` sets up OpenTelemetry's SDK with an in-memory exporter; a job carries the W3C
  ``traceparent`` in ``job.meta`` and the worker continues the trace, exporting its spans as JSON lines to a
  file; :func:`span_tree` prints the spans of both processes as one tree.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import contextvars
import datetime
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from course.components.waits import wait_until

__all__ = [
    "LEASE", "redis_url", "connection", "queue", "WorkerProcess", "start_worker", "start_workers", "running", "stop_all",
    "wait_for", "registries", "REQUEST_ID", "JsonFormatter", "json_logging", "close_logging", "read_logs", "scrape", "buckets",
    "histogram_quantile", "tracing", "tracer", "inject", "read_spans", "span_seconds", "span_tree", "job_meta",
]

MODULE = __name__  # the worker process runs ``python -m`` this module (tests/conftest.py knows the name)
MONITORING = 1  # s: how often a worker renews the lease of the job it runs (RQ's job_monitoring_interval)
LEASE = MONITORING + 2  # s: a job whose worker stopped renewing for this long is handed out again
WORKER_TTL = 16  # s: RQ listens for jobs WORKER_TTL - 15 s at a time, then does its upkeep (maintenance)
DONE = {"finished", "failed", "canceled", "stopped"}

_started: list[WorkerProcess] = []
_lock = threading.Lock()


# --- jobs ----------------------------------------------------------------------------------------------


def connection():
    """A Redis client to the course's Redis (``REDIS_URL`` when set), as RQ needs it (bytes, not str)."""
    from course.components import services

    return services.redis_client()


def redis_url() -> str:
    """The URL of the course's Redis, for a worker process (starting the embedded server if needed)."""
    from course.components import services

    services.redis_client()
    return services.status()["redis"]


def queue(name: str = "default"):
    """An RQ queue on the course's Redis."""
    import rq

    return rq.Queue(name, connection=connection())


def job_meta(request_id: str | None = None) -> dict:
    """What a job should carry from the request that enqueued it: its request id and the trace context."""
    meta = {"trace": inject()}
    request_id = request_id or REQUEST_ID.get()
    if request_id:
        meta["request_id"] = request_id
    return meta


@dataclass(eq=False)  # a handle on one process: equal only to itself
class WorkerProcess:
    """An RQ worker running as its own process; ``name`` is its name in Redis."""

    name: str
    queues: tuple[str, ...]
    process: subprocess.Popen = field(repr=False)
    log_path: Path = field(repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def logs(self) -> list[dict]:
        """The worker's log lines (JSON objects; a line that is not JSON comes as ``{"message": line}``)."""
        return read_logs(self.log_path)

    def stop(self, timeout: float = 30.0) -> int | None:
        """Warm shutdown (SIGTERM): the job under way finishes, then the worker exits; SIGKILL after ``timeout``."""
        if self.alive:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._forget()
        return self.process.returncode

    def kill(self) -> None:
        """A crash: SIGKILL to the worker and its children (the work horse running a job, the scheduler)."""
        import psutil

        try:
            family = [psutil.Process(self.pid), *psutil.Process(self.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            family = []
        for process in family:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        psutil.wait_procs(family, timeout=10)
        self.process.wait(timeout=10)
        self._forget()

    def _forget(self) -> None:
        with _lock:
            if self in _started:
                _started.remove(self)

    def __enter__(self) -> WorkerProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_worker(folder: str | os.PathLike, *, queues=("default",), name: str | None = None,
                 traces: str | os.PathLike | None = None, timeout: float = 30.0) -> WorkerProcess:
    """Start an RQ worker process that imports job functions from ``folder`` and takes jobs from ``queues``.

    Its log lines (JSON) go to a file (:meth:`WorkerProcess.logs`); with ``traces``, its spans are appended to
    that file as JSON lines. Returns once the worker has registered in Redis; raises ``RuntimeError`` with
    the log if it exits first, ``TimeoutError`` if it does not register within ``timeout`` s (scaled).
    """
    return start_workers(folder, 1, queues=queues, names=[name] if name else None, traces=traces,
                         timeout=timeout)[0]


def start_workers(folder: str | os.PathLike, count: int, *, queues=("default",), names=None,
                  traces: str | os.PathLike | None = None, timeout: float = 30.0) -> list[WorkerProcess]:
    """Start ``count`` workers at once (as :func:`start_worker` does one), and wait until all have registered."""
    from course.steps.step05_build_projects.project import _parent_death_signal

    folder = Path(folder).resolve()
    queues = (queues,) if isinstance(queues, str) else tuple(queues)
    url = redis_url()
    package_root = str(Path(__file__).resolve().parents[3])
    path = os.pathsep.join(filter(None, [str(folder), package_root, os.environ.get("PYTHONPATH")]))
    # REDIS_URL: the jobs' own services.redis_client() reaches this Redis, not a new embedded one
    env = {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1",
           "REDIS_URL": url}
    workers = []
    for name in names or [f"worker-{uuid.uuid4().hex[:6]}" for _ in range(count)]:
        log_path = Path(tempfile.mkdtemp(prefix=f"course-{name}-log-")) / "worker.log"
        command = [sys.executable, "-m", MODULE, "--url", url, "--name", name, "--queues", ",".join(queues)]
        if traces:
            command += ["--traces", str(Path(traces).resolve())]
        with open(log_path, "wb") as log_file:
            process = subprocess.Popen(command, cwd=folder, env=env, stdout=log_file, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, preexec_fn=_parent_death_signal())
        workers.append(WorkerProcess(name, queues, process, log_path))
    with _lock:
        _started.extend(workers)

    def registered() -> bool:
        for worker in workers:
            if not worker.alive:
                lines = "\n".join(line.get("message", "") for line in worker.logs()[-20:])
                _stop(workers)
                raise RuntimeError(f"worker {worker.name} exited with code {worker.process.returncode}:\n{lines}")
        return {w.name for w in workers} <= {w.name for w in _rq().Worker.all(connection=connection())}

    try:
        wait_until(registered, timeout, what=f"{len(workers)} worker(s) to register in Redis", interval=0.1)
    except TimeoutError:
        for worker in workers:
            worker.kill()
        raise
    return workers


def _rq():
    import rq

    return rq


def _stop(workers: list[WorkerProcess], timeout: float = 30.0) -> None:
    """Warm shutdown of several workers at once: SIGTERM to all, then wait for each."""
    for worker in workers:
        if worker.alive:
            worker.process.send_signal(signal.SIGTERM)
    for worker in workers:
        worker.stop(timeout)


def running() -> list[WorkerProcess]:
    """The worker processes started here that are still running."""
    with _lock:
        return [w for w in _started if w.alive]


def stop_all() -> list[str]:
    """Stop every worker started here (warm shutdown) and remove their log folders; returns their names."""
    import shutil

    with _lock:
        workers = list(_started)
    _stop(workers)
    for worker in workers:
        shutil.rmtree(worker.log_path.parent, ignore_errors=True)
    return [w.name for w in workers]


atexit.register(stop_all)  # a kernel that forgets still leaves no worker running


def wait_for(jobs, timeout: float = 30.0) -> list[str]:
    """Wait until every job is done (finished, failed for good, canceled or stopped); returns their statuses.
    A job waiting for a retry is not done. ``TimeoutError`` after ``timeout`` s (scaled)."""
    jobs = list(jobs)

    def statuses():
        found = [str(getattr(job.get_status(refresh=True), "value", None)) for job in jobs]
        return found if all(status in DONE for status in found) else None

    return wait_until(statuses, timeout, what=f"{len(jobs)} job(s) to finish", interval=0.05)


def registries(q) -> dict[str, int]:
    """How many jobs of queue ``q`` are waiting, running, scheduled for a retry, finished and failed."""
    return {"queued": q.count, "started": q.started_job_registry.count, "scheduled": q.scheduled_job_registry.count,
            "finished": q.finished_job_registry.count, "failed": q.failed_job_registry.count}


def _worker_class():
    """RQ's Worker, with the course's short lease, and each job run with its request id and trace context."""
    from opentelemetry import context as otel_context
    from opentelemetry import propagate, trace

    class CourseWorker(_rq().Worker):
        def get_heartbeat_ttl(self, job, working_time: float = 0.0) -> int:
            return LEASE  # RQ: min(job timeout left, monitoring interval) + 60 s

        def perform_job(self, job, queue, execution) -> bool:  # runs in the work horse, once per delivery
            job.meta["attempts"] = job.meta.get("attempts", 0) + 1
            job.save_meta()
            request = REQUEST_ID.set(job.meta.get("request_id"))
            attached = otel_context.attach(propagate.extract(job.meta.get("trace") or {}))
            try:
                with tracer().start_as_current_span(f"job {job.func_name}", kind=trace.SpanKind.CONSUMER,
                                                    attributes={"messaging.system": "rq", "job.id": job.id,
                                                                "job.attempt": job.meta["attempts"]}) as span:
                    logging.getLogger("worker").info("job started", extra={"job": job.id, "function": job.func_name,
                                                                           "attempt": job.meta["attempts"]})
                    done = super().perform_job(job, queue, execution)
                    if not done:
                        span.set_status(trace.Status(trace.StatusCode.ERROR, "the job raised"))
                    return done
            finally:
                otel_context.detach(attached)
                REQUEST_ID.reset(request)

    return CourseWorker


def _main(argv: list[str] | None = None) -> None:
    """The worker process: ``python -m course.steps.step05_build_projects.operate --url ... --name ...``."""
    import redis

    parser = argparse.ArgumentParser(description="an RQ worker for the course's lesson 05c")
    parser.add_argument("--url", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--queues", default="default")
    parser.add_argument("--traces")
    args = parser.parse_args(argv)
    json_logging(sys.stdout)
    if args.traces:
        tracing(service="worker", path=args.traces)
    worker = _worker_class()(args.queues.split(","), name=args.name, connection=redis.Redis.from_url(args.url),
                             worker_ttl=WORKER_TTL, job_monitoring_interval=MONITORING, maintenance_interval=1)
    worker.work(with_scheduler=True, logging_level="INFO")


# --- logs ----------------------------------------------------------------------------------------------

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, pid, request_id, the fields passed with
    ``extra=``, the trace id of the current span, and for ``exc_info`` the exception and its full traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(timespec="milliseconds"),
                 "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage(),
                 "pid": record.process}
        request_id = getattr(record, "request_id", None) or REQUEST_ID.get()
        if request_id:
            entry["request_id"] = request_id
        trace_id = _current_trace_id()
        if trace_id:
            entry["trace_id"] = trace_id
        entry.update({key: value for key, value in vars(record).items() if key not in _STANDARD and key not in entry})
        if record.exc_info:
            entry["exception"] = f"{record.exc_info[0].__name__}: {record.exc_info[1]}"
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def _current_trace_id() -> str | None:
    if "opentelemetry.trace" not in sys.modules:
        return None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def json_logging(stream=None, *, logger: str | None = None, level: int = logging.INFO) -> logging.Handler:
    """Send ``logger``'s records (default: the root logger's) as JSON lines to ``stream`` (a file object, or a
    path to append to); a handler this function added before to that logger is replaced."""
    close_logging(logger=logger)
    target = logging.getLogger(logger)
    if isinstance(stream, str | os.PathLike):
        handler = logging.FileHandler(stream, encoding="utf-8")
    else:
        handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.course_json = True
    target.addHandler(handler)
    target.setLevel(level)
    return handler


def close_logging(*, logger: str | None = None) -> int:
    """Remove (and close) the handlers :func:`json_logging` added to ``logger``; returns how many."""
    target = logging.getLogger(logger)
    removed = [h for h in target.handlers if getattr(h, "course_json", False)]
    for handler in removed:
        target.removeHandler(handler)
        handler.close()
    return len(removed)


def read_logs(*paths, request_id: str | None = None) -> list[dict]:
    """The log lines of files ``paths``, in time order (with ``request_id``: only that request's lines)."""
    entries = []
    for path in paths:
        try:
            lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
        except FileNotFoundError:
            continue
        for line in filter(str.strip, lines):
            try:
                entry = json.loads(line)
            except ValueError:
                entry = {"message": line}
            entries.append(entry if isinstance(entry, dict) else {"message": line})
    if request_id:
        entries = [e for e in entries if e.get("request_id") == request_id]
    return sorted(entries, key=lambda e: e.get("time", ""))


# --- metrics -------------------------------------------------------------------------------------------


def scrape(url: str) -> dict:
    """Fetch a Prometheus text page (``/metrics``) and parse it: {family name: family}. A counter's family is
    named without ``_total`` (its samples keep it), as prometheus_client's parser names them."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    response = httpx.get(url, timeout=10)
    response.raise_for_status()
    return {family.name: family for family in text_string_to_metric_families(response.text)}


def buckets(family, **labels) -> list[tuple[float, float]]:
    """A histogram's cumulative buckets [(upper bound ``le``, count)], summed over its series that carry
    ``labels``; the last bound is ``inf``."""
    totals: dict[float, float] = {}
    for sample in family.samples:
        if sample.name.endswith("_bucket") and all(sample.labels.get(k) == str(v) for k, v in labels.items()):
            bound = float(sample.labels["le"])
            totals[bound] = totals.get(bound, 0.0) + sample.value
    return sorted(totals.items())


def histogram_quantile(q: float, cumulative: list[tuple[float, float]]) -> float:
    """The ``q`` quantile (0..1) of a histogram's cumulative buckets, as Prometheus's ``histogram_quantile``
    estimates it: find the bucket the rank falls in and interpolate linearly inside it (the lowest bucket
    starts at 0; a rank in the ``+Inf`` bucket gives the highest finite bound). NaN when it counted nothing."""
    if not cumulative or cumulative[-1][1] == 0:
        return float("nan")
    rank = q * cumulative[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in cumulative:
        if count >= rank:
            if bound == float("inf"):
                return lower_bound
            inside = count - lower_count
            return lower_bound + (bound - lower_bound) * ((rank - lower_count) / inside if inside else 0.0)
        lower_bound, lower_count = bound, count
    return lower_bound


# --- traces --------------------------------------------------------------------------------------------

_exporter = None


def tracing(service: str = "api", path: str | os.PathLike | None = None):
    """Set up OpenTelemetry's SDK in this process (once): spans of ``service`` go to an in-memory exporter,
    returned (``exporter.get_finished_spans()``); with ``path``, to that file as JSON lines instead."""
    global _exporter
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    if _exporter is not None:
        return _exporter
    if path:
        out = open(path, "a", encoding="utf-8")  # noqa: SIM115 - open for the life of the worker process
        _exporter = ConsoleSpanExporter(out=out, formatter=lambda span: span.to_json(indent=None) + "\n")
    else:
        _exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(_exporter))  # exported as each span ends, nothing batched
    trace.set_tracer_provider(provider)
    return _exporter


def tracer(name: str = "course"):
    """An OpenTelemetry tracer (a no-op one until :func:`tracing` has run)."""
    from opentelemetry import trace

    return trace.get_tracer(name)


def inject() -> dict[str, str]:
    """The current trace context as W3C headers (``traceparent``), to carry in a request or a job."""
    from opentelemetry import propagate

    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def read_spans(*sources) -> list[dict]:
    """Spans as dicts (OpenTelemetry's JSON form): from exporters (in-memory) or files of JSON lines."""
    spans = []
    for source in sources:
        if hasattr(source, "get_finished_spans"):
            spans += [json.loads(span.to_json()) for span in source.get_finished_spans()]
        else:
            path = Path(source)
            lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
            spans += [json.loads(line) for line in lines if line.strip()]
    return spans


def _seconds(stamp: str) -> float:
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def span_seconds(span: dict) -> tuple[float, float]:
    """A span's (start, end) as Unix timestamps."""
    return _seconds(span["start_time"]), _seconds(span["end_time"])


def span_tree(spans: list[dict], trace_id: str | None = None) -> str:
    """The spans of one trace (``trace_id``, default: the last span's) as an indented tree, each line with
    its service, its start after the trace's start and its duration in milliseconds."""
    if not spans:
        return "(no spans)"
    trace_id = trace_id or spans[-1]["context"]["trace_id"]
    spans = sorted((s for s in spans if s["context"]["trace_id"] == trace_id), key=lambda s: s["start_time"])
    ids = {s["context"]["span_id"] for s in spans}
    children: dict[str | None, list[dict]] = {}
    for span in spans:
        children.setdefault(span["parent_id"] if span["parent_id"] in ids else None, []).append(span)
    origin = _seconds(spans[0]["start_time"])
    lines = [f"trace {trace_id.removeprefix('0x')}"]

    def walk(parent: str | None, depth: int) -> None:
        for span in children.get(parent, []):
            start, end = span_seconds(span)
            service = span.get("resource", {}).get("attributes", {}).get("service.name", "?")
            error = "  ERROR" if span.get("status", {}).get("status_code") == "ERROR" else ""
            lines.append(f"{'  ' * depth}└─ {span['name']}  [{service}]  +{(start - origin) * 1000:.1f} ms, "
                         f"{(end - start) * 1000:.1f} ms{error}")
            walk(span["context"]["span_id"], depth + 1)

    walk(None, 0)
    return "\n".join(lines)


if __name__ == "__main__":  # run as the course's module, not as a second copy named __main__
    from course.steps.step05_build_projects import operate

    operate._main()
