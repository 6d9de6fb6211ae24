"""Helpers for step 05's capstone: run a project's services as real processes, load them, rebuild the project.

- :func:`start_service` runs an ASGI app factory of a project folder under uvicorn, as its own process on
  127.0.0.1, configured through environment variables (the way it would run in production), and waits until
  it answers; :func:`stop_all` stops every process started here (the lesson's last cell calls it).
- :func:`load` sends a bounded number of requests from a few concurrent clients and reports p50/p95
  latency and the error count (:class:`LoadReport`).
- :func:`notebook_files` / :func:`scaffold` rebuild the project a lesson writes with ``%%writefile`` cells,
  so the tests and the benchmark check exactly the service the lesson teaches.
- :func:`password_guidance` is OWASP's password-storage figures (scrypt and PBKDF2 parameters, with the page's
  address and the retrieval date) from ``course/data/password_storage.yaml``: the lesson prints them.
- :func:`tidy_project` removes the project folder the lesson wrote when the lesson ran inside the course's own
  ``notebooks/`` folder (a source checkout), so running it there leaves no untracked files; in a learner's
  workspace the folder stays, it is theirs.
"""

from __future__ import annotations

import atexit
import collections
import itertools
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from course.components.servers import HOST, free_port
from course.components.waits import scaled, wait_until

__all__ = [
    "ServiceProcess", "start_service", "running", "stop_all", "LoadReport", "load", "percentile",
    "notebook_files", "write_files", "scaffold", "tidy_project", "password_guidance", "LESSON_STEM",
]

LESSON_STEM = "05-build-projects"

_started: list[ServiceProcess] = []
_lock = threading.Lock()


@dataclass(eq=False)  # a handle on one process: equal only to itself
class ServiceProcess:
    """A service running as its own uvicorn process on 127.0.0.1; ``url`` is where to reach it."""

    name: str
    port: int
    process: subprocess.Popen = field(repr=False)
    log_path: Path = field(repr=False)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def logs(self, last: int | None = None) -> list[str]:
        """The lines the process wrote to stdout and stderr (its structured logs), the last ``last`` ones."""
        try:
            lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        except FileNotFoundError:
            return []
        return lines[-last:] if last else lines

    def stop(self, timeout: float = 10.0) -> int | None:
        """Stop the process (SIGTERM, then SIGKILL after ``timeout`` s); returns its exit code."""
        if self.alive:
            self.process.terminate()  # uvicorn shuts down gracefully on SIGTERM
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        with _lock:
            if self in _started:
                _started.remove(self)
        return self.process.returncode

    def __enter__(self) -> ServiceProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _parent_death_signal():
    """A pre-exec hook that makes the child get SIGTERM when its parent dies (Linux), or ``None``.

    So a kernel that is killed does not leave its services running. Linux sends the signal when the *thread*
    that started the child ends, so it is only set from the main thread; libc is loaded here, before the
    fork, because importing in the child could deadlock on a lock another thread holds.
    """
    if sys.platform != "linux" or threading.current_thread() is not threading.main_thread():
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def start_service(target: str, *, project: str | os.PathLike, env: dict[str, str] | None = None,
                  port: int | None = None, name: str | None = None, ready_path: str = "/health",
                  timeout: float = 30.0) -> ServiceProcess:
    """Run ``uvicorn --factory <target>`` (e.g. ``"tasktrack.app:create_app"``) from ``project``.

    ``env`` is added to this process's environment: services read their configuration from it. Returns once
    ``GET ready_path`` answers with any status *and* the answering socket is the new process's own (another
    server already on ``port`` is not mistaken for it); raises ``RuntimeError`` with the log's tail if the
    process exits first (e.g. because ``port`` is taken), or ``TimeoutError`` (after stopping it) if it does
    not answer within ``timeout`` s, scaled on a slow machine (:mod:`course.components.waits`).
    """
    project = Path(project).resolve()
    port = port or free_port()
    name = name or target.split(".")[0]
    log_dir = Path(tempfile.mkdtemp(prefix=f"course-{name}-log-"))
    log_path = log_dir / "service.log"
    command = [sys.executable, "-m", "uvicorn", "--factory", target, "--host", HOST, "--port", str(port),
               "--app-dir", str(project), "--log-level", "warning", "--no-access-log"]
    environment = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1", **(env or {})}
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            command, cwd=project, env=environment, stdout=log_file, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, preexec_fn=_parent_death_signal(),
        )
    service = ServiceProcess(name=name, port=port, process=process, log_path=log_path)
    with _lock:
        _started.append(service)

    def ready() -> bool:
        if not service.alive:
            service.stop()
            tail = "\n".join(service.logs(last=20))
            taken = f" (port {port} is taken by another server: start without port= to get a free one)" \
                if "address already in use" in tail.lower() else ""
            raise RuntimeError(f"{name} exited with code {process.returncode} before answering{taken}:\n{tail}")
        if not _listens(process.pid, port):
            return False  # not bound yet; whatever answers on the port now is someone else
        try:
            httpx.get(service.url + ready_path, timeout=scaled(1.0))
        except httpx.TransportError:
            return False
        return True

    try:
        wait_until(ready, timeout, what=f"{name} to answer on {service.url}{ready_path}")
    except TimeoutError:
        service.stop()
        raise
    return service


def _listens(pid: int, port: int) -> bool:
    """Whether the process ``pid`` (or a child of it) has a listening TCP socket on ``port``."""
    import psutil

    try:
        parent = psutil.Process(pid)
        for process in (parent, *parent.children(recursive=True)):
            for connection in process.net_connections(kind="tcp"):
                if connection.status == psutil.CONN_LISTEN and connection.laddr and connection.laddr.port == port:
                    return True
    except psutil.Error:
        pass
    return False


def running() -> list[ServiceProcess]:
    """The service processes started through this module that are still running."""
    with _lock:
        return [s for s in _started if s.alive]


def stop_all() -> list[str]:
    """Stop every service process this module started; returns their names."""
    with _lock:
        services = list(_started)
    for service in services:
        service.stop()
    for service in services:  # log folders go too: nothing of a stopped service is left behind
        _remove_tree(service.log_path.parent)
    return [s.name for s in services]


def _remove_tree(folder: Path) -> None:
    import shutil

    shutil.rmtree(folder, ignore_errors=True)


atexit.register(stop_all)  # a script or kernel that forgets still leaves nothing running


# --- load -----------------------------------------------------------------------------------------


def percentile(values, q: float) -> float:
    """The ``q``-th percentile of ``values`` by the nearest-rank method (a value that was measured)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class LoadReport:
    """What a load run measured: latencies of the requests that completed, and what went wrong."""

    name: str
    requests: int
    concurrency: int
    seconds: float
    latencies_ms: list[float] = field(repr=False)
    statuses: collections.Counter
    errors: int

    @property
    def p50_ms(self) -> float:
        return percentile(self.latencies_ms, 50)

    @property
    def p95_ms(self) -> float:
        return percentile(self.latencies_ms, 95)

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds else math.nan

    def __str__(self) -> str:
        codes = ", ".join(f"{code}: {n}" for code, n in sorted(self.statuses.items(), key=str))
        return (f"{self.name}: {self.requests} requests over {self.concurrency} clients in {self.seconds:.2f} s"
                f" ({self.throughput:.0f}/s) · p50 {self.p50_ms:.2f} ms · p95 {self.p95_ms:.2f} ms"
                f" · errors {self.errors} · statuses {{{codes}}}")


def load(url: str, *, requests: int = 2000, concurrency: int = 4, headers: dict[str, str] | None = None,
         timeout: float = 5.0, deadline: float = 120.0, name: str = "load") -> LoadReport:
    """Send ``requests`` GET requests to ``url`` from ``concurrency`` clients (threads, keep-alive).

    Bounded twice: each request times out after ``timeout`` s, and clients stop taking new requests after
    ``deadline`` s. An error is a request that failed (no response) or answered with a status >= 400.
    """
    if not url.startswith(f"http://{HOST}:"):
        raise ValueError(f"load() only sends requests to {HOST}, not to {url}")
    tickets = itertools.count()
    latencies: list[float] = []
    statuses: collections.Counter = collections.Counter()
    record = threading.Lock()
    stop_at = time.monotonic() + deadline

    def client() -> None:
        with httpx.Client(headers=headers, timeout=timeout) as session:
            while next(tickets) < requests and time.monotonic() < stop_at:
                start = time.perf_counter()
                try:
                    status = session.get(url).status_code
                except httpx.HTTPError as error:
                    status = type(error).__name__
                elapsed = (time.perf_counter() - start) * 1000
                with record:
                    statuses[status] += 1
                    if isinstance(status, int):
                        latencies.append(elapsed)

    began = time.perf_counter()
    workers = [threading.Thread(target=client, name=f"course-load-{i}", daemon=True) for i in range(concurrency)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=deadline + timeout + 5)
    seconds = time.perf_counter() - began
    errors = sum(n for code, n in statuses.items() if not isinstance(code, int) or code >= 400)
    return LoadReport(name=name, requests=sum(statuses.values()), concurrency=concurrency, seconds=seconds,
                      latencies_ms=latencies, statuses=statuses, errors=errors)


# --- the project as files ---------------------------------------------------------------------------


def notebook_files(notebook: str | os.PathLike) -> dict[str, str]:
    """The files a notebook writes with ``%%writefile PATH`` cells; a later cell for a path wins."""
    import nbformat

    files: dict[str, str] = {}
    for cell in nbformat.read(notebook, as_version=4).cells:
        first, _, body = cell.source.partition("\n")
        if cell.cell_type == "code" and first.startswith("%%writefile "):
            arguments = first.split()[1:]
            if "-a" in arguments or "--append" in arguments:
                raise ValueError(f"{notebook}: appending %%writefile cells are not supported ({first})")
            files[arguments[-1]] = body if body.endswith("\n") else body + "\n"
    return files


def write_files(files: dict[str, str], destination: str | os.PathLike) -> list[Path]:
    """Write ``files`` (relative path -> text) under ``destination``; returns the paths written."""
    destination = Path(destination)
    written = []
    for relative, text in files.items():
        target = (destination / relative).resolve()
        if destination.resolve() not in target.parents:
            raise ValueError(f"refusing to write {relative!r} outside {destination}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        written.append(target)
    return written


def scaffold(destination: str | os.PathLike, *, project: str = "tasktrack-project",
             notebook: str | os.PathLike | None = None) -> Path:
    """Write the finished capstone project of the lesson into ``destination``; returns the project folder.

    Reads the lesson from the course sources (tests and the benchmark use this; lessons never do).
    """
    from course.platform import paths

    notebook = notebook or paths.lesson_path(LESSON_STEM)
    prefix = project.rstrip("/") + "/"
    files = {path[len(prefix):]: text for path, text in notebook_files(notebook).items() if path.startswith(prefix)}
    if not files:
        raise LookupError(f"{notebook} writes no files under {prefix}")
    root = Path(destination) / project
    write_files(files, root)
    return root


def tidy_project(project: str | os.PathLike) -> bool:
    """Remove ``project`` if it sits in the course sources' ``notebooks/`` folder; True when it was removed.

    The lesson writes its project next to itself. Run from a learner's workspace, that folder is the
    learner's and stays; run from the course's own sources, it would be left as untracked files in the
    checkout, so the lesson's last cell removes it there.
    """
    from course.platform import paths

    project = Path(project).resolve()
    try:
        sources = paths.notebooks_dir().resolve()
    except FileNotFoundError:  # no course sources next to the package: the lesson cannot be running in them
        return False
    if project.parent != sources or not project.is_dir():
        return False
    shutil.rmtree(project)
    return True


def password_guidance() -> dict:
    """OWASP's password-storage parameters with their source (``course/data/password_storage.yaml``)."""
    from course import data

    return data.load("password_storage.yaml")
