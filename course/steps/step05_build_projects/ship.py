"""Step 05b · ship the capstone: gunicorn with uvicorn workers behind a real nginx with TLS, drilled and checked.

- :func:`start_gunicorn` runs an ASGI app factory under gunicorn (``uvicorn_worker.UvicornWorker``) as its
  own process on 127.0.0.1 with a gunicorn config file; :func:`start_stack` adds a local CA and certificate
  and an nginx in front (:mod:`course.components.proxy`): one call starts the stack, :meth:`Stack.stop` (or
  :func:`stop_all`) stops every process of it.
- :func:`server_block` is the lesson's nginx ``server { … }``: TLS and HTTP/2 on 127.0.0.1, the forwarded
  headers *set* (never passed through from the client), a request-size limit, keep-alive to gunicorn. nginx
  connects to gunicorn from ``127.0.0.2`` (:data:`PROXY_ADDRESS`), so the app can trust that address alone.
- :func:`in_flight` sends a batch of slow requests, signals the server while they run, and counts the ones
  that got their answer and the ones dropped; :func:`load_during` keeps a load running across an action
  (a reload) and counts failed requests. Measured, never assumed.
- :func:`containerfile_problems`, :func:`parse_containerfile` and :func:`container_engine` come from
  :mod:`.containerfile`: what makes a Containerfile unsafe to ship, and whether an engine can build it here.
- :func:`junit_summary` reads a JUnit XML report (what CI dashboards read).

Linux: the second loopback address (127.0.0.2) is routed to ``lo`` there by default.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from course.components import proxy
from course.components.servers import HOST, free_port
from course.components.waits import scaled, wait_until
from course.steps.step05_build_projects import project as capstone
from course.steps.step05_build_projects.containerfile import (  # noqa: F401 - the lesson's names, here too
    container_engine,
    containerfile_problems,
    parse_containerfile,
)

__all__ = [
    "PROXY_ADDRESS", "CLIENT_ADDRESS", "WORKER_CLASS", "start_gunicorn", "Stack", "start_stack", "server_block",
    "tls_client", "in_flight", "Drill", "load_during", "containerfile_problems", "parse_containerfile",
    "container_engine", "junit_summary", "running", "stop_all", "PROCESS_NAMES", "workers_of", "kill_hard",
    "capstone_copy", "scaffold", "versions", "LESSON_STEM",
]

LESSON_STEM = "05b-ship"
PROJECT = "tasktrack-ship"  # the folder the deep dive's lesson writes its project into

PROXY_ADDRESS = "127.0.0.2"   # nginx's side of its connections to gunicorn: the one address the app trusts
CLIENT_ADDRESS = "127.0.0.3"  # where the lesson's "outside" clients come from, so they differ from the proxy
WORKER_CLASS = "uvicorn_worker.UvicornWorker"
PROCESS_NAMES = ("gunicorn", *proxy.PROCESS_NAMES)
_stacks: list[Stack] = []
_lock = threading.Lock()


# --- gunicorn --------------------------------------------------------------------------------------------


def start_gunicorn(target: str, *, project: str | os.PathLike, config: str | os.PathLike | None = None,
                   env: dict[str, str] | None = None, port: int | None = None, workers: int = 2,
                   name: str = "gunicorn", ready_path: str = "/healthz", timeout: float = 60.0,
                   worker_class: str | None = WORKER_CLASS, extra: tuple[str, ...] = ()) -> capstone.ServiceProcess:
    """``gunicorn -c config -k uvicorn_worker.UvicornWorker 'module:factory()'`` from ``project``.

    ``bind`` and ``workers`` are given on the command line (they win over the config file), and the worker
    class unless ``worker_class`` is None (then the config file's decides); everything else (timeouts,
    forwarded-allow-ips, graceful shutdown) comes from ``config``.
    Returns once ``ready_path`` answers from this process's own socket; the handle is the capstone's
    :class:`~course.steps.step05_build_projects.project.ServiceProcess` (``stop()`` sends SIGTERM: a
    graceful stop), so :func:`course.steps.step05_build_projects.stop_all` stops it too.
    """
    project = Path(project).resolve()
    port = port or free_port()
    module, _, factory = target.partition(":")
    app = f"{module}:{factory}()" if factory and not factory.endswith(")") else target
    command = [sys.executable, "-m", "gunicorn", "--bind", f"{HOST}:{port}", "--workers", str(workers),
               "--chdir", str(project), "--log-level", "warning"]
    if worker_class:
        command += ["--worker-class", worker_class]
    if config is not None:
        command += ["--config", str(Path(config).resolve())]
    command += [*extra, app]
    log_dir = Path(tempfile.mkdtemp(prefix=f"course-{name}-log-"))
    log_path = log_dir / "service.log"
    environment = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1", **(env or {})}
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(project), environment.get("PYTHONPATH")]))
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(command, cwd=project, env=environment, stdout=log_file,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   preexec_fn=capstone._parent_death_signal())
    service = capstone.ServiceProcess(name=name, port=port, process=process, log_path=log_path)
    with capstone._lock:
        capstone._started.append(service)

    def ready() -> bool:
        if not service.alive:
            service.stop()
            raise RuntimeError(f"{name} exited with code {process.returncode} before answering:\n"
                               + "\n".join(service.logs(last=25)))
        if not capstone._listens(process.pid, port):
            return False
        try:
            httpx.get(service.url + ready_path, timeout=scaled(2.0))
        except httpx.TransportError:
            return False
        return True

    try:
        wait_until(ready, timeout, what=f"{name} to answer on {service.url}{ready_path}", interval=0.2)
    except TimeoutError:
        service.stop()
        raise
    return service


def workers_of(service: capstone.ServiceProcess) -> list[int]:
    """The pids of a gunicorn master's worker processes right now."""
    import psutil

    try:
        return sorted(child.pid for child in psutil.Process(service.pid).children())
    except psutil.Error:
        return []


def kill_hard(service: capstone.ServiceProcess) -> None:
    """``SIGKILL`` to gunicorn's master and every worker at once (what an out-of-memory killer or an expired
    stop timeout does): nothing gets to finish."""
    import psutil

    try:
        family = [psutil.Process(service.pid), *psutil.Process(service.pid).children(recursive=True)]
    except psutil.Error:
        return
    for process in family:
        with contextlib.suppress(psutil.Error):
            process.kill()
    service.process.wait(timeout=scaled(30))


def versions() -> str:
    """The versions of the shipping tools, for a lesson's setup line."""
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for package in ("gunicorn", "uvicorn", "uvicorn-worker", "trustme", "nox", "pre-commit", "mypy", "ruff"):
        try:
            found.append(f"{package} {version(package)}")
        except PackageNotFoundError:
            found.append(f"{package} (not installed)")
    return " · ".join(found)


# --- the project ------------------------------------------------------------------------------------------


def capstone_copy(folder: str | os.PathLike) -> Path:
    """Write lesson 05's finished tasktrack project into ``folder`` (its files are rewritten); returns it."""
    from course.platform import paths

    prefix = "tasktrack-project/"
    files = {path[len(prefix):]: text for path, text in
             capstone.notebook_files(paths.lesson_path(capstone.LESSON_STEM)).items() if path.startswith(prefix)}
    folder = Path(folder).resolve()
    capstone.write_files(files, folder)
    return folder


def scaffold(destination: str | os.PathLike, notebook: str | os.PathLike | None = None) -> Path:
    """The project the deep dive ships, as its lesson leaves it: lesson 05's tasktrack plus the deep dive's
    files (``deploy/``, the noxfile, the Containerfile …), under ``destination/tasktrack-ship``."""
    from course.platform import paths

    root = capstone_copy(Path(destination) / PROJECT)
    prefix = PROJECT + "/"
    files = capstone.notebook_files(notebook or paths.lesson_path(LESSON_STEM))
    capstone.write_files({p[len(prefix):]: t for p, t in files.items() if p.startswith(prefix)}, root)
    return root


# --- nginx in front ---------------------------------------------------------------------------------------


def server_block(listen_port: int, upstream_port: int, certificate: str | os.PathLike, key: str | os.PathLike,
                 *, max_body: str = "64k", http2: bool = True) -> str:
    """The lesson's nginx ``server`` block: TLS on ``HOST:listen_port`` in front of gunicorn on ``upstream_port``."""
    return f"""\
upstream tasktrack {{
    server {HOST}:{upstream_port};
    keepalive 16;                      # reuse connections to gunicorn instead of one per request
}}

server {{
    listen {HOST}:{listen_port} ssl;
    http2 {"on" if http2 else "off"};
    ssl_certificate     {certificate};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3;

    client_max_body_size {max_body};   # a bigger body is refused here with 413, before the app sees it
    keepalive_timeout 30s;

    location / {{
        proxy_pass http://tasktrack;
        proxy_http_version 1.1;
        proxy_set_header Connection "";            # keep-alive upstream (HTTP/1.1, no "close")
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $remote_addr;   # set, not appended: a client's own header is dropped
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header X-Request-ID $request_id;
        proxy_bind {PROXY_ADDRESS};                # the app trusts forwarded headers from this address only
    }}
}}
"""


@dataclass(eq=False)
class Stack:
    """The capstone deployed on this machine: nginx (TLS) → gunicorn (uvicorn workers) → the app."""

    app: capstone.ServiceProcess
    nginx: proxy.Nginx
    certificates: proxy.Certificates
    project: Path
    config: dict = field(default_factory=dict)

    @property
    def url(self) -> str:
        """Where clients go: nginx, over TLS."""
        return self.nginx.url

    @property
    def direct_url(self) -> str:
        """gunicorn itself, plain HTTP: what a client that bypassed the proxy would reach."""
        return self.app.url

    def client(self, **options) -> httpx.Client:
        """An HTTPS client that trusts the lesson's CA and connects from :data:`CLIENT_ADDRESS`."""
        return tls_client(self.certificates, base_url=self.url, **options)

    def reload(self) -> None:
        """Zero-downtime reload of both: ``nginx -s reload`` and ``SIGHUP`` to gunicorn's master."""
        self.nginx.reload()
        os.kill(self.app.pid, signal.SIGHUP)

    def stop(self) -> None:
        """nginx first (no new requests reach gunicorn), then gunicorn (SIGTERM: a graceful stop)."""
        self.nginx.stop()
        self.app.stop(timeout=scaled(30))
        capstone._remove_tree(self.app.log_path.parent)
        shutil.rmtree(self.certificates.folder, ignore_errors=True)
        with _lock:
            if self in _stacks:
                _stacks.remove(self)

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def tls_client(certificates: proxy.Certificates, *, http2: bool = False, source: str = CLIENT_ADDRESS,
               **options) -> httpx.Client:
    """An httpx client that verifies against the local CA, from ``source`` (HTTP/2 if asked and possible)."""
    transport = httpx.HTTPTransport(verify=str(certificates.ca), http2=http2, local_address=source)
    options.setdefault("timeout", scaled(10))
    return httpx.Client(transport=transport, http2=http2, **options)


def start_stack(project: str | os.PathLike, *, target: str = "deploy.asgi:create_app",
                config: str | os.PathLike | None = "deploy/gunicorn.conf.py", env: dict[str, str] | None = None,
                workers: int = 2, block: Callable[..., str] | None = None, max_body: str = "64k") -> Stack:
    """Start the whole stack with one call: certificates, gunicorn on a free port, nginx with TLS in front.

    ``block(listen_port, upstream_port, certificate, key)`` makes nginx's server block (default:
    :func:`server_block`); ``config`` is gunicorn's config file, relative to ``project``.
    """
    project = Path(project).resolve()
    certs = proxy.certificates()
    app = start_gunicorn(target, project=project, config=project / config if config else None, env=env,
                         workers=workers)
    try:
        port = free_port()
        text = (block or server_block)(port, app.port, certs.certificate, certs.key,
                                       **({} if block else {"max_body": max_body}))
        nginx = proxy.start_nginx(text, port=port)
    except BaseException:
        app.stop()
        shutil.rmtree(certs.folder, ignore_errors=True)
        raise
    stack = Stack(app=app, nginx=nginx, certificates=certs, project=project, config={"server_block": text})
    with _lock:
        _stacks.append(stack)
    return stack


def running() -> list[Stack]:
    with _lock:
        return list(_stacks)


def stop_all() -> int:
    """Stop every stack started here, and any gunicorn or nginx left; returns how many stacks."""
    with _lock:
        stacks = list(_stacks)
    for stack in stacks:
        stack.stop()
    proxy.stop_all()
    return len(stacks)


# --- drills: signals under load ---------------------------------------------------------------------------


@dataclass
class Drill:
    """What a drill measured: requests answered 2xx, and the ones that failed (no answer, or an error)."""

    sent: int
    answered: int
    failed: int
    outcomes: dict[str, int]
    seconds: float
    retried: int = 0  # GETs sent again once because the server had closed their idle keep-alive connection

    def __str__(self) -> str:
        kinds = ", ".join(f"{k}: {n}" for k, n in sorted(self.outcomes.items()))
        again = f", {self.retried} retried once on a new connection" if self.retried else ""
        return (f"{self.sent} requests: {self.answered} answered, {self.failed} failed ({kinds}{again}) "
                f"in {self.seconds:.2f} s")


def _outcome(send: Callable[[], httpx.Response]) -> str:
    try:
        status = send().status_code
    except httpx.HTTPError as error:
        return type(error).__name__
    return str(status)


def _drill(outcomes: list[str], seconds: float) -> Drill:
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome] = counts.get(outcome, 0) + 1
    answered = sum(n for k, n in counts.items() if k.isdigit() and int(k) < 400)
    return Drill(sent=len(outcomes), answered=answered, failed=len(outcomes) - answered, outcomes=counts,
                 seconds=seconds)


def _start_clients(target: Callable[[], None], count: int, name: str) -> list[threading.Thread]:
    threads = [threading.Thread(target=target, daemon=True, name=f"course-{name}-{i}") for i in range(count)]
    for thread in threads:
        thread.start()
    return threads


def in_flight(url: str, action: Callable[[], object], *, requests: int = 16, work_ms: int = 1000,
              client: Callable[[], httpx.Client] | None = None, settle: float | None = None) -> Drill:
    """Send ``requests`` concurrent ``GET url?ms=work_ms`` (slow ones), run ``action`` while they are in flight.

    ``action`` is typically ``lambda: os.kill(pid, signal.SIGTERM)``. Each client first opens its connection
    (a ``?ms=0`` request), then all send at once; ``action`` runs ``settle`` s later (0.3 s, scaled on a
    busy machine), and ``work_ms`` is stretched to three times that, so every request is inside the server
    when the signal comes. A graceful server answers every one of them before it exits; a killed one
    answers none.
    """
    make = client or (lambda: httpx.Client(timeout=scaled(30)))
    settle = scaled(0.3) if settle is None else settle
    work_ms = max(work_ms, round(settle * 3000))
    results: list[str] = []
    record = threading.Lock()
    started = threading.Barrier(requests + 1)

    def one() -> None:
        with make() as session:
            warm = _outcome(lambda: session.get(url, params={"ms": 0}))  # the connection (and TLS) is up
            started.wait()
            outcome = _outcome(lambda: session.get(url, params={"ms": work_ms})) if warm.isdigit() else warm
        with record:
            results.append(outcome)

    began = time.perf_counter()
    threads = _start_clients(one, requests, "inflight")
    started.wait(timeout=scaled(60))
    time.sleep(settle)  # the requests travel to the server
    action()
    for thread in threads:
        thread.join(timeout=scaled(60) + work_ms / 1000)
    return _drill(results, time.perf_counter() - began)


def load_during(url: str, action: Callable[[], object], *, concurrency: int = 4, before: float = 0.5,
                after: float = 1.0, client: Callable[[], httpx.Client] | None = None) -> Drill:
    """Keep ``concurrency`` clients requesting ``url`` (keep-alive) for ``before`` s, run ``action``, go on for
    ``after`` s more, and count every request that failed. (The windows are not scaled: they are what is
    measured, not waits.) A GET whose idle keep-alive connection the server had just closed is sent once
    more on a new connection, as HTTP allows and browsers do; :attr:`Drill.retried` counts those."""
    make = client or (lambda: httpx.Client(timeout=scaled(10)))
    results: list[str] = []
    retried = []
    record = threading.Lock()
    stop = threading.Event()

    def loop() -> None:
        with make() as session:
            while not stop.is_set():
                outcome = _outcome(lambda: session.get(url))
                if outcome == "RemoteProtocolError":
                    # The server closed an idle keep-alive connection as this GET went out on it (a reload
                    # closes idle connections): HTTP lets a client send an idempotent request again on a new
                    # connection, and browsers do. Counted, and failed if the second try fails too.
                    retried.append(1)
                    outcome = _outcome(lambda: session.get(url))
                with record:
                    results.append(outcome)

    began = time.perf_counter()
    threads = _start_clients(loop, concurrency, "during")
    time.sleep(before)
    action()
    time.sleep(after)
    stop.set()
    for thread in threads:
        thread.join(timeout=scaled(30))
    drill = _drill(results, time.perf_counter() - began)
    drill.retried = len(retried)
    return drill


# --- CI's report ------------------------------------------------------------------------------------------


def junit_summary(path: str | os.PathLike) -> dict:
    """Totals of a JUnit XML report: ``tests``, ``failures``, ``errors``, ``skipped``, ``seconds``, and the
    ids of the failing test cases."""
    import xml.etree.ElementTree as ElementTree

    root = ElementTree.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    total = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0, "seconds": 0.0, "failed": []}
    for suite in suites:
        for key in ("tests", "failures", "errors", "skipped"):
            total[key] += int(suite.get(key, 0))
        total["seconds"] += float(suite.get("time", 0))
        for case in suite.iter("testcase"):
            if case.find("failure") is not None or case.find("error") is not None:
                total["failed"].append(f"{case.get('classname')}::{case.get('name')}")
    return total
