"""course.steps.step05_build_projects.observe, in-process: JSON log lines, histogram quantiles, span trees."""

from __future__ import annotations

import io
import json
import logging
import math

import pytest

from course.steps.step05_build_projects import observe


def _logger(name: str) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    log = logging.getLogger(name)
    log.propagate = False
    observe.json_logging(stream, logger=name)
    return log, stream


def test_json_lines_keep_the_traceback_the_request_id_and_extra_fields():
    log, stream = _logger("test.observe.json")
    reset = observe.REQUEST_ID.set("req-1")
    try:
        try:
            {}["missing"]
        except KeyError:
            log.exception("lookup failed for %s", "order 7", extra={"order_id": 7})
    finally:
        observe.REQUEST_ID.reset(reset)
    log.info("after the request")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "lookup failed for order 7" and first["level"] == "error"
    assert first["request_id"] == "req-1" and first["order_id"] == 7
    assert first["traceback"].startswith("Traceback (most recent call last)") and "KeyError: 'missing'" in first["traceback"]
    assert first["exception"] == "KeyError: 'missing'"
    assert "request_id" not in second and "traceback" not in second
    assert observe.close_logging(logger="test.observe.json") == 1 and observe.close_logging(logger="test.observe.json") == 0


def test_json_logging_replaces_its_own_handler_and_read_logs_filters_by_request(tmp_path):
    path = tmp_path / "api.log"
    log = logging.getLogger("test.observe.file")
    log.propagate = False
    observe.json_logging(path, logger="test.observe.file")
    observe.json_logging(path, logger="test.observe.file")  # a second call must not log every line twice
    log.info("one", extra={"request_id": "a"})
    log.info("two", extra={"request_id": "b"})
    observe.close_logging(logger="test.observe.file")
    (tmp_path / "worker.log").write_text("plain text line\n" + json.dumps({"time": "9", "request_id": "a"}) + "\n")
    # each line once (the order of two lines logged within the same wall-clock millisecond is the clock's)
    assert sorted(e["message"] for e in observe.read_logs(path)) == ["one", "two"]
    assert [e.get("message") for e in observe.read_logs(path, tmp_path / "worker.log", request_id="a")] == ["one", None]
    (tmp_path / "late.log").write_text("".join(json.dumps({"time": t, "message": m}) + "\n"
                                               for t, m in [("2026-01-01T00:00:02.000", "second"),
                                                            ("2026-01-01T00:00:01.000", "first")]))
    assert [e["message"] for e in observe.read_logs(tmp_path / "late.log")] == ["first", "second"]  # time order
    assert {"message": "plain text line"} in observe.read_logs(tmp_path / "worker.log", tmp_path / "missing.log")


def test_histogram_quantile_interpolates_like_prometheus():
    # 10 observations: 4 in (0, 0.1], 4 in (0.1, 0.2], 2 in (0.2, +Inf)
    cumulative = [(0.1, 4.0), (0.2, 8.0), (math.inf, 10.0)]
    assert observe.histogram_quantile(0.5, cumulative) == pytest.approx(0.125)  # rank 5: 1/4 into (0.1, 0.2]
    assert observe.histogram_quantile(0.2, cumulative) == pytest.approx(0.05)
    assert observe.histogram_quantile(0.95, cumulative) == 0.2  # in the +Inf bucket: the highest finite bound
    assert math.isnan(observe.histogram_quantile(0.5, [(0.1, 0.0), (math.inf, 0.0)]))
    assert math.isnan(observe.histogram_quantile(0.5, []))


def test_buckets_sum_the_series_that_carry_the_labels():
    import prometheus_client
    from prometheus_client.parser import text_string_to_metric_families

    registry = prometheus_client.CollectorRegistry()
    latency = prometheus_client.Histogram("t_seconds", "t", ["route", "method"], buckets=(0.1, 1.0), registry=registry)
    for route, method, value in [("/a", "GET", 0.05), ("/a", "POST", 0.5), ("/b", "GET", 2.0)]:
        latency.labels(route, method).observe(value)
    family = next(iter(text_string_to_metric_families(prometheus_client.generate_latest(registry).decode())))
    assert observe.buckets(family, route="/a") == [(0.1, 1.0), (1.0, 2.0), (math.inf, 2.0)]
    assert observe.buckets(family) == [(0.1, 1.0), (1.0, 2.0), (math.inf, 3.0)]


def _span(name, span_id, parent, start, end, service="api", trace="0xabc"):
    return {"name": name, "context": {"trace_id": trace, "span_id": span_id}, "parent_id": parent,
            "start_time": f"2026-12-02T10:00:{start:06.3f}Z", "end_time": f"2026-12-02T10:00:{end:06.3f}Z",
            "status": {"status_code": "UNSET"}, "resource": {"attributes": {"service.name": service}}}


def test_span_tree_nests_children_under_parents_across_services():
    spans = [_span("job ship", "0x3", "0x2", 1.0, 1.5, service="worker"), _span("POST /orders", "0x1", None, 0.0, 0.2),
             _span("enqueue", "0x2", "0x1", 0.1, 0.15), _span("other trace", "0x9", None, 0.0, 1.0, trace="0xdef")]
    assert observe.span_tree(spans, "0xabc").splitlines() == [
        "trace abc",
        "└─ POST /orders  [api]  +0.0 ms, 200.0 ms",
        "  └─ enqueue  [api]  +100.0 ms, 50.0 ms",
        "    └─ job ship  [worker]  +1000.0 ms, 500.0 ms",
    ]
    assert observe.span_tree([]) == "(no spans)"
