"""Step 05c · operate the service: background jobs on Redis with RQ, with the request's id and trace.

- Jobs: :func:`start_worker` runs a real RQ worker as its own process on the course's Redis (or ``REDIS_URL``),
  importing job functions from a folder; :meth:`WorkerProcess.stop` is RQ's warm shutdown (SIGTERM: the job
  under way finishes), :meth:`WorkerProcess.kill` a crash (SIGKILL to the worker and its children).
  :func:`stop_all` (the lesson's last cell) stops every worker started here. The worker is RQ's own
  ``Worker`` with one change, :func:`lease`: a running job's lease (RQ: its heartbeat TTL, 60 s and more)
  is a few seconds (more on a busy machine, where renewals come late), so a job whose worker died is handed
  out again within the lesson, not a minute later.
  :func:`wait_for` waits until jobs are done; :func:`registries` counts RQ's registries of a queue.
- A job carries the request id and the trace context of the request that enqueued it (:func:`job_meta`);
  the worker sets both again around the job, so its log lines and spans join the request's.
- Logs, metrics and traces: :mod:`.observe`, re-exported here (the lesson calls ``operate.json_logging``).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import logging
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from course.components.waits import scaled, wait_until
from course.steps.step05_build_projects import observe
from course.steps.step05_build_projects.observe import *  # noqa: F403 - the lesson reaches them through here
from course.steps.step05_build_projects.observe import REQUEST_ID, inject, json_logging, read_logs, tracer
from course.steps.step05_build_projects.observe import tracing as tracing

__all__ = [
    "lease", "redis_url", "connection", "queue", "WorkerProcess", "start_worker", "start_workers", "running",
    "stop_all", "wait_for", "registries", "job_meta", *observe.__all__,
]

MODULE = __name__  # the worker process runs ``python -m`` this module (tests/conftest.py knows the name)
MONITORING = 1  # s: how often a worker renews the lease of the job it runs (RQ's job_monitoring_interval)
LEASE_DEFAULT = MONITORING + 2  # s: the lease on an idle machine (see lease())


def lease() -> int:
    """Seconds after which a job whose worker stopped renewing its lease is handed out again: the renewal
    interval plus 2 s, scaled on a busy machine (a renewal that comes late must not give a live job away)."""
    return MONITORING + math.ceil(scaled(2))


WORKER_TTL = 16  # s: RQ listens for jobs WORKER_TTL - 15 s at a time, then does its upkeep (maintenance)
DONE = {"finished", "failed", "canceled", "stopped"}

_started: list[WorkerProcess] = []
_log_folders: list[Path] = []  # of every worker started here, stopped or not: stop_all removes them
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
    lease: int = LEASE_DEFAULT  # s: how long a job of this worker stays its own after the last renewal

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
    workers, seconds = [], lease()
    for name in names or [f"worker-{uuid.uuid4().hex[:6]}" for _ in range(count)]:
        log_path = Path(tempfile.mkdtemp(prefix=f"course-{name}-log-")) / "worker.log"
        command = [sys.executable, "-m", MODULE, "--url", url, "--name", name, "--queues", ",".join(queues),
                   "--lease", str(seconds)]
        if traces:
            command += ["--traces", str(Path(traces).resolve())]
        with open(log_path, "wb") as log_file:
            process = subprocess.Popen(command, cwd=folder, env=env, stdout=log_file, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, preexec_fn=_parent_death_signal())
        workers.append(WorkerProcess(name, queues, process, log_path, seconds))
    with _lock:
        _started.extend(workers)
        _log_folders.extend(worker.log_path.parent for worker in workers)

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
    with _lock:  # the logs of workers stopped or killed before go too
        folders, _log_folders[:] = list(_log_folders), []
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
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
            return self.lease  # RQ: min(job timeout left, monitoring interval) + 60 s

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
    parser.add_argument("--lease", type=int, default=LEASE_DEFAULT)
    args = parser.parse_args(argv)
    json_logging(sys.stdout)
    if args.traces:
        tracing(service="worker", path=args.traces)
    worker = _worker_class()(args.queues.split(","), name=args.name, connection=redis.Redis.from_url(args.url),
                             worker_ttl=WORKER_TTL, job_monitoring_interval=MONITORING, maintenance_interval=1)
    worker.lease = args.lease
    worker.work(with_scheduler=True, logging_level="INFO")


if __name__ == "__main__":  # run as the course's module, not as a second copy named __main__
    from course.steps.step05_build_projects import operate

    operate._main()
