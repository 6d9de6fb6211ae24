"""Step 05c · observe the service: JSON log lines, Prometheus metrics read back, OpenTelemetry traces.

- Logs: :class:`JsonFormatter` writes one JSON object per line, with the traceback of ``exc_info`` and the
  request id of :data:`REQUEST_ID` (a context variable: set once per request, seen by every line logged
  while it is handled); :func:`json_logging` installs it, :func:`read_logs` reads lines back. A job carries
  the request id in ``job.meta`` and the worker sets it again (:mod:`.operate`), so one id follows a request
  from the API into the worker's lines.
- Metrics: :func:`scrape` reads a Prometheus ``/metrics`` page; :func:`buckets` and :func:`histogram_quantile`
  turn a histogram into percentiles the way Prometheus's ``histogram_quantile()`` does.
- Traces: :func:`tracing` sets up OpenTelemetry's SDK with an in-memory exporter (or, in a worker, a file of
  JSON lines); :func:`inject` gives the W3C ``traceparent`` to carry in a job; :func:`span_tree` prints the
  spans of several processes as one tree.

:mod:`.operate` re-exports all of these: lesson 05c uses them as ``operate.json_logging`` and so on.
"""

from __future__ import annotations

import contextvars
import datetime
import json
import logging
import os
import sys
from pathlib import Path

__all__ = [
    "REQUEST_ID", "JsonFormatter", "json_logging", "close_logging", "read_logs", "scrape", "buckets",
    "histogram_quantile", "tracing", "tracer", "inject", "read_spans", "span_seconds", "span_tree",
]


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
