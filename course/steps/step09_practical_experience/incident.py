"""A production log of a service incident, as JSON lines (deep dive 09b).

The log is **generated**, deterministically from a seed, not recorded from a running service: 40 minutes of
the ``orders-api`` service's structured logs (one access line per request, error lines, deploy and config
events) in the shape structlog or a JSON formatter writes them. What happens in it, by construction:

- Normal traffic: 55 to 75 requests a minute on four routes, a few 404s and 422s, fast answers.
- Distractors an investigation must not fall for: a deploy of the previous version early on, a burst of 404s
  from one client scanning order ids (4xx: the client's fault, not an outage), one stray 500, and a
  feature-flag change.
- The incident: a deploy (``deploy_minute``, at 37 s past the minute) whose new ``POST /orders`` code runs
  one query per order line (N+1: ``db_queries`` goes from 3 to 2 + lines) and holds its database
  connection for it. Half a minute into the next minute the pool of 10 connections is exhausted: requests
  wait 5 s for a connection and fail with ``PoolTimeout`` (HTTP 500), most on ``POST /orders``, a few on
  ``GET /orders/{id}``, which shares the pool.

:func:`generate` returns the lines and the truth (:class:`Incident`) that the exercise grades against:
the first minute in which more than 5 % of responses are 5xx, the route with the most 5xx in it, the
request ids of those 5xx responses, and the deploy that came before. :func:`load` parses the lines;
:func:`minute_of` names the minute a timestamp falls in (truncated, never rounded).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

__all__ = ["Incident", "generate", "write_log", "load", "minute_of", "BAD_SHARE", "ROUTES"]

START = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)
MINUTES = 40
BAD_SHARE = 0.05  # a minute is bad when more than this share of its responses are 5xx
POOL_SIZE = 10
# (method, route, weight, usual milliseconds)
ROUTES = [("GET", "/products", 40, 25.0), ("GET", "/orders/{id}", 30, 18.0), ("POST", "/orders", 20, 45.0),
          ("GET", "/health", 10, 1.5)]
POOL_TIMEOUT = "PoolTimeout: couldn't get a connection after 5.00 sec"


@dataclass(frozen=True)
class Incident:
    """A generated log and what is true in it."""

    lines: list[str]
    first_bad_minute: str          # "HH:MM" (UTC) of the first minute with more than 5 % 5xx
    route: str                     # "POST /orders": the route with the most 5xx in that minute
    request_ids: list[str]         # the request ids of the 5xx responses of that minute, sorted
    deploy_id: str                 # the deploy that preceded it
    version: str                   # the version that deploy shipped
    deploy_at: str                 # its timestamp


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def minute_of(ts: str) -> str:
    """``"HH:MM"`` of the minute an ISO timestamp falls in: 14:22:59.9 is in 14:22 (truncated, not rounded)."""
    return ts[11:16]


def generate(seed: int = 0, *, deploy_minute: int = 21) -> Incident:
    """The log of an incident whose bad deploy happens ``deploy_minute`` minutes into the window (between 12
    and 35: the distractors come before it), every choice drawn from ``random.Random(seed)``.

    Traffic is random, so a draw can come out ambiguous (a first failing minute with too few 5xx to cross
    5 %, two routes tied); such a draw is thrown away and the same generator draws again, until the minute
    after the deploy is the first bad one and ``POST /orders`` has the most 5xx in it."""
    if not 12 <= deploy_minute <= 35:
        raise ValueError("deploy_minute must be between 12 and 35")
    rng = random.Random(seed)
    while True:
        incident = _draw(rng, deploy_minute)
        if incident is not None:
            return incident


def _draw(rng: random.Random, deploy_minute: int) -> Incident | None:
    ids = iter(rng.sample(range(16**8), 5000))
    records: list[tuple[datetime, dict]] = []
    old, new = "v2.13.2", f"v2.14.{rng.randint(0, 3)}"
    bad_deploy = f"dep-{rng.randrange(16**6):06x}"
    early_deploy = f"dep-{rng.randrange(16**6):06x}"
    deploy_at = START + timedelta(minutes=deploy_minute, seconds=37)
    failing_from = START + timedelta(minutes=deploy_minute + 1, seconds=25 + rng.uniform(0, 3))
    flag_minute = rng.choice([m for m in range(9, 36) if abs(m - deploy_minute) > 3])
    events = [
        (START + timedelta(minutes=3, seconds=12), {"level": "info", "logger": "deploy", "event": "deploy",
                                                    "service": "orders-api", "version": old, "deploy_id": early_deploy}),
        (deploy_at, {"level": "info", "logger": "deploy", "event": "deploy", "service": "orders-api",
                     "version": new, "deploy_id": bad_deploy}),
        (START + timedelta(minutes=flag_minute, seconds=5), {"level": "info", "logger": "config", "event": "flag",
                                                             "flag": "recommendations", "value": "on"}),
    ]
    records.extend(events)
    scanner = f"10.0.{rng.randint(100, 200)}.{rng.randint(2, 250)}"
    stray_minute = rng.choice(range(8, deploy_minute - 1))
    for minute in range(MINUTES):
        base = START + timedelta(minutes=minute)
        count = rng.randint(55, 75)
        moments = sorted(base + timedelta(seconds=rng.uniform(0, 60)) for _ in range(count))
        if minute == 7:  # a client walking through order ids: a burst of 404s, not an outage
            moments += [base + timedelta(seconds=10 + i * 0.5) for i in range(40)]
        stray = rng.randrange(count) if minute == stray_minute else -1
        for index, moment in enumerate(moments):
            scanning = index >= count
            method, route, _, usual = ROUTES[1] if scanning else rng.choices(
                ROUTES, weights=[r[2] for r in ROUTES])[0]
            version = new if moment >= deploy_at else old
            request_id = f"req-{next(ids):08x}"
            line = {"level": "info", "logger": "access", "request_id": request_id, "method": method,
                    "route": route, "path": route.replace("{id}", str(rng.randint(1000, 99999))),
                    "client_ip": scanner if scanning else f"10.0.{rng.randint(0, 40)}.{rng.randint(2, 250)}",
                    "version": version}
            status = 201 if method == "POST" else 200
            duration = usual * rng.lognormvariate(0, 0.35)
            extra = {}
            if route == "/orders" and method == "POST":
                items = rng.randint(1, 12)
                extra = {"order_lines": items, "db_queries": 2 + items if version == new else 3}
                if version == new:
                    duration += 9.0 * items
            failing = moment >= failing_from and route in ("/orders", "/orders/{id}")
            if scanning or (route == "/orders/{id}" and rng.random() < 0.03):
                status = 404
            elif route == "/orders" and rng.random() < 0.02:
                status = 422
            elif failing and rng.random() < (0.9 if method == "POST" else 0.1):
                status, duration = 500, 5000.0 + rng.uniform(0, 8)
                records.append((moment + timedelta(milliseconds=duration - 1), {
                    "level": "error", "logger": "orders.db", "request_id": request_id, "msg": POOL_TIMEOUT,
                    "pool_size": POOL_SIZE, "pool_in_use": POOL_SIZE, "pool_waiting": rng.randint(8, 40)}))
            elif index == stray:
                status = 500
                records.append((moment + timedelta(milliseconds=duration), {
                    "level": "error", "logger": "products", "request_id": request_id,
                    "msg": "ConnectionResetError: [Errno 104] Connection reset by peer (image service)"}))
            elif failing or (moment >= failing_from and route == "/products"):
                duration += rng.uniform(200, 2500) if failing else rng.uniform(5, 60)
            line.update(status=status, duration_ms=round(duration, 1), **extra)
            # an access line is written when the response is sent
            records.append((moment + timedelta(milliseconds=duration), line))
    records.sort(key=lambda pair: pair[0])
    lines = [json.dumps({"ts": _stamp(moment), **fields}) for moment, fields in records]
    first_bad = (START + timedelta(minutes=deploy_minute + 1)).strftime("%H:%M")
    served: dict[str, list[int]] = {}
    for moment, fields in records:
        if fields.get("logger") == "access":
            served.setdefault(minute_of(_stamp(moment)), []).append(fields["status"])
    bad_minutes = [m for m in sorted(served) if sum(s >= 500 for s in served[m]) > BAD_SHARE * len(served[m])]
    bad = [fields for moment, fields in records if fields.get("logger") == "access" and fields["status"] >= 500
           and minute_of(_stamp(moment)) == first_bad]
    routes: dict[str, int] = {}
    for fields in bad:
        key = f"{fields['method']} {fields['route']}"
        routes[key] = routes.get(key, 0) + 1
    ranked = sorted(routes.values(), reverse=True)
    if bad_minutes[:1] != [first_bad] or max(routes, key=routes.get) != "POST /orders" or \
            (len(ranked) > 1 and ranked[0] == ranked[1]):
        return None  # an ambiguous draw
    return Incident(lines=lines, first_bad_minute=first_bad, route="POST /orders",
                    request_ids=sorted(fields["request_id"] for fields in bad), deploy_id=bad_deploy,
                    version=new, deploy_at=_stamp(deploy_at))


def write_log(path: str | Path, seed: int = 0, **kwargs) -> Incident:
    """Write the log of :func:`generate` to ``path`` (one JSON object a line) and return the incident."""
    incident = generate(seed, **kwargs)
    Path(path).write_text("\n".join(incident.lines) + "\n", encoding="utf-8")
    return incident


def load(source: str | Path | list[str]) -> list[dict]:
    """The records of a JSON-lines log: a file path, or its lines; blank lines are skipped."""
    lines = source if isinstance(source, list) else Path(source).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]
