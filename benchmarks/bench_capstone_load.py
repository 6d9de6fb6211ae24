"""Benchmark: the capstone's hot path, GET /tasks, under a bounded load, with its Redis cache and without.

Run: python benchmarks/bench_capstone_load.py [--requests 2000] [--concurrency 4] [--tasks 50] [--rounds 2]

The service is the one the lesson builds (rebuilt from its %%writefile cells), run under uvicorn on
127.0.0.1 against the course's PostgreSQL and Redis. Both runs happen in the same process, on the same
machine, one after the other, alternating for --rounds: the baseline is the same service with the cache
switched off (TASKTRACK_CACHE_TTL=0; Redis still counts the rate limit, set high enough never to refuse).
Each run sends a fixed number of requests from a few concurrent keep-alive clients and prints p50, p95,
throughput and the error count; the script prints the p50 and p95 ratios (baseline / cached) of the medians.
Everything it starts is stopped at the end.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from course.components import services  # noqa: E402
from course.steps import step05_build_projects as capstone  # noqa: E402

PASSWORD = "correct horse battery staple"


def prepare(project: Path, database_url: str, tasks: int) -> dict[str, str]:
    """Migrate the database, create one user with ``tasks`` tasks; return that user's auth header."""
    subprocess.run([sys.executable, "-c", "import sys; from tasktrack.db import migrate; migrate(sys.argv[1])",
                    database_url], cwd=project, check=True, timeout=120)
    env = {"TASKTRACK_DATABASE_URL": database_url, "TASKTRACK_SECRET_KEY": "bench-" + "k" * 40}
    with capstone.start_service("tasktrack.app:create_app", project=project, env=env, name="bench-setup") as svc, \
            httpx.Client(base_url=svc.url, timeout=30) as client:
        client.post("/users", json={"email": "bench@example.org", "password": PASSWORD}).raise_for_status()
        token = client.post("/tokens", json={"email": "bench@example.org", "password": PASSWORD}).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        for i in range(tasks):
            client.post("/tasks", json={"title": f"benchmark task {i}", "done": i % 3 == 0},
                        headers=headers).raise_for_status()
    return headers


def measure(project: Path, env: dict[str, str], headers: dict[str, str], name: str, args) -> capstone.LoadReport:
    with capstone.start_service("tasktrack.app:create_app", project=project, env=env, name=name) as svc:
        capstone.load(svc.url + "/tasks", requests=50, concurrency=args.concurrency, headers=headers)  # warm up
        report = capstone.load(svc.url + "/tasks", requests=args.requests, concurrency=args.concurrency,
                               headers=headers, timeout=10, deadline=300, name=name)
    print(report, flush=True)
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--tasks", type=int, default=50, help="tasks in the list each request returns")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds of each configuration")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-capstone-") as tmp:
        project = capstone.scaffold(tmp)
        try:
            database_url = services.schema_url("capstone_bench")
            redis = services.redis_client()
            redis.flushdb()
            headers = prepare(project, database_url, args.tasks)
            common = {"TASKTRACK_DATABASE_URL": database_url, "TASKTRACK_SECRET_KEY": "bench-" + "k" * 40,
                      "TASKTRACK_REDIS_URL": services.status()["redis"], "TASKTRACK_LOG_LEVEL": "WARNING",
                      "TASKTRACK_RATE_LIMIT": str(10 * args.requests * args.rounds)}
            configurations = {
                "baseline (cache off)": {**common, "TASKTRACK_CACHE_TTL": "0"},
                "cached (Redis, 30 s)": {**common, "TASKTRACK_CACHE_TTL": "30"},
            }
            print(f"GET /tasks ({args.tasks} tasks), {args.requests} requests over {args.concurrency} clients, "
                  f"{args.rounds} rounds, PostgreSQL + Redis on 127.0.0.1")
            results: dict[str, list[capstone.LoadReport]] = {name: [] for name in configurations}
            for _ in range(args.rounds):
                for name, env in configurations.items():
                    results[name].append(measure(project, env, headers, name, args))
        finally:
            capstone.stop_all()
            services.stop_all()

    base, cached = (results[name] for name in configurations)
    errors = sum(r.errors for reports in results.values() for r in reports)
    for label, attribute in (("p50", "p50_ms"), ("p95", "p95_ms")):
        b = statistics.median(getattr(r, attribute) for r in base)
        c = statistics.median(getattr(r, attribute) for r in cached)
        print(f"{label}: baseline {b:.2f} ms, cached {c:.2f} ms, ratio baseline/cached {b / c:.2f}x")
    print(f"errors: {errors}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
