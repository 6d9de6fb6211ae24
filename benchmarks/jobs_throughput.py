"""Benchmark: background-job throughput with one RQ worker process and with two, in the same run.

Run: python benchmarks/jobs_throughput.py [--jobs 200] [--wait 0.02] [--rounds 3]

The workers are lesson 05c's (course.steps.step05_build_projects.operate: RQ's own worker, a real process
each, forking a work horse per job) on the course's Redis (embedded, or REDIS_URL). Each job waits --wait
seconds, like a call to another service. Two workers run for the whole benchmark: the first listens on the
queues "one" and "two", the second on "two" only, so a batch sent to "one" is worked by one worker and a batch
sent to "two" by both. Each round sends --jobs jobs to each queue in turn (which goes first alternates) and
times until every job has finished. The script prints every round, the best round of each, and the ratio of
the best throughputs (two workers / one). Everything it starts is stopped at the end.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from course.components import services  # noqa: E402
from course.steps.step05_build_projects import operate  # noqa: E402

JOBS = "import time\n\n\ndef wait(seconds):\n    time.sleep(seconds)\n"


def batch(queue, jobs: int, wait: float) -> float:
    """Jobs per second for one batch on ``queue``, from the first enqueue to the last job finished."""
    began = time.perf_counter()
    sent = [queue.enqueue("bench_jobs.wait", wait) for _ in range(jobs)]
    statuses = operate.wait_for(sent, timeout=600)
    seconds = time.perf_counter() - began
    if set(statuses) != {"finished"}:
        raise RuntimeError(f"some jobs did not finish: {sorted(set(statuses))}")
    return jobs / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--wait", type=float, default=0.02)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="course-bench-jobs-"))
    (folder / "bench_jobs.py").write_text(JOBS)
    try:
        operate.start_worker(folder, queues=["bench-one", "bench-two"], name="bench-worker-1")
        operate.start_worker(folder, queues=["bench-two"], name="bench-worker-2")
        queues = {1: operate.queue("bench-one"), 2: operate.queue("bench-two")}
        results: dict[int, list[float]] = {1: [], 2: []}
        for round_number in range(args.rounds):
            order = (1, 2) if round_number % 2 == 0 else (2, 1)
            for workers in order:
                rate = batch(queues[workers], args.jobs, args.wait)
                results[workers].append(rate)
                print(f"round {round_number + 1}: {workers} worker(s): {args.jobs} jobs of {args.wait * 1000:.0f} ms "
                      f"at {rate:.1f} jobs/s", flush=True)
        best = {workers: max(rates) for workers, rates in results.items()}
        print(f"best of {args.rounds}: 1 worker {best[1]:.1f} jobs/s, 2 workers {best[2]:.1f} jobs/s, "
              f"ratio {best[2] / best[1]:.2f}x")
    finally:
        operate.stop_all()
        services.stop_all()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
