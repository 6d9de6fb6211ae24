"""The grading sandbox: one submission's kernel runs in namespaces of its own, as an identity of its own.

A submission is code a student wrote, and grading runs it. Here the kernel that runs it (the one nbclient
talks to) is started inside Linux namespaces made with util-linux (``unshare``, ``setpriv``, ``prlimit``):

- **mount namespace** with a new root (``pivot_root``): an empty tmpfs holding, read-only, the system
  (``/usr``, ``/etc``), the Python install and virtual environment, and the ``course`` package alone (not the
  checkout: no ``solutions/``); read-write, a private copy of the submission's folder only (at the path
  nbgrader grades it in, a tmpfs) and the folder with the kernel's connection file and sockets; a private ``/tmp``,
  ``/dev/shm``, a minimal ``/dev`` and a ``/proc`` showing only the sandbox. No gradebook, no other
  submission, no class folder, no ``/home`` or ``/root``;
- **pid namespace**: the sandbox's first process (a small shell, pid 1 inside) starts the kernel; when it
  exits, or is killed, the kernel kills every process left in the namespace (daemons, double forks, setsid);
- **network namespace** with only ``lo``, brought up (exercises serve on 127.0.0.1): no route off the
  machine. The kernel talks to the grader over Unix sockets (ZeroMQ's ``ipc`` transport) in the shared folder;
- **IPC and UTS namespaces**: no shared memory segments or host name with the machine;
- **an identity of its own**: as root, a grading uid no account uses (``UID_BASE`` + a number unique to
  the grading process), no supplementary groups, no capabilities, ``no_new_privs``; as a learner with
  unprivileged user namespaces, the learner's own uid with every capability dropped;
- **limits**: memory (address space per process, and the whole sandbox through a cgroup where the machine
  lets us create one), processes (RLIMIT_NPROC for the grading uid, and a pids cgroup), wall time (the
  sandbox's pid 1 kills everything after ``wall_time`` seconds).

Only the grading parent, outside, reads the results and writes the gradebook. :class:`SandboxedKernelManager`
is a jupyter_client kernel manager that launches its kernel this way; :func:`available` says whether this
machine can (probed once per process).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager

__all__ = ["Limits", "Sandbox", "SandboxedKernelManager", "available", "wanted", "limits_from", "note_once",
           "processes_of", "UID_BASE", "ENV_SWITCH"]

GiB = 1024 ** 3
UID_BASE = 1_800_000_000  # grading uids: UID_BASE + 16 * (grading pid) + n; far above any account's uid
ENV_SWITCH = "COURSE_SANDBOX"  # "off" turns the sandbox off, "on" requires it
TOOLS = ("unshare", "setpriv", "prlimit", "mount", "umount", "pivot_root", "ip")
# Kept from the grader's environment (the rest, with any password or token in it, stays outside).
# LD_LIBRARY_PATH: the class Python (course classroom hub-python) is a copied interpreter build that loads its own
# libpython through it; without it the loader finds the system's libpython of the same version, whose frozen
# ``site`` module looks for dist-packages, so the class's packages (ipykernel) were not on the kernel's path.
KEEP_ENV = re.compile(r"^(PATH|LD_LIBRARY_PATH|COURSE_CLASS_PYTHON|LANG|LANGUAGE|LC_\w+|TZ|TERM|PYTHONPATH|"
                      r"PYTHONHASHSEED|PYTHONIOENCODING|"
                      r"PYDEVD_\w+|MPLBACKEND|NBFORMAT_VALIDATOR|NBGRADER_EXECUTION|JPY_SESSION_NAME|CI)$")
CGROUP_ROOT = Path("/sys/fs/cgroup")
DEVICES = ("null", "zero", "full", "random", "urandom")
_uids = itertools.count()
_probed: dict[str, tuple[bool, str]] = {}


@dataclass(frozen=True)
class Limits:
    """What one sandbox may use; set in the class's nbgrader_config.py as ``c.Sandbox.memory`` etc."""

    memory: int = 2 * GiB   # bytes: each process's address space, and the sandbox in all (cgroup, where possible)
    processes: int = 256    # processes and threads of the grading uid at once (a fork bomb stops there)
    wall_time: int = 900    # seconds a kernel may live, whatever it does; then everything in it is killed

    def describe(self) -> str:
        return f"memory {self.memory / GiB:g} GiB, {self.processes} processes, {self.wall_time} s"


def _bytes(value) -> int:
    """``2G``, ``512M``, ``1.5GiB`` or a number of bytes."""
    if isinstance(value, int | float):
        return int(value)
    match = re.fullmatch(r"\s*([\d.]+)\s*([KMGT]?)(i?B)?\s*", str(value), re.I)
    if not match:
        raise ValueError(f"not a size: {value!r} (write 2G, 512M or a number of bytes)")
    power = " KMGT".index(match.group(2).upper() or " ")
    return int(float(match.group(1)) * 1024 ** power)


def limits_from(config=None) -> Limits:
    """The limits: ``COURSE_SANDBOX_MEMORY`` / ``_PROCESSES`` / ``_WALL_TIME`` in the environment, else the
    ``Sandbox`` section of a traitlets config (``c.Sandbox.memory = "4G"``), else the defaults."""
    section = dict(config.get("Sandbox", {})) if config is not None else {}
    for name in ("memory", "processes", "wall_time"):
        if os.environ.get(f"{ENV_SWITCH}_{name.upper()}"):
            section[name] = os.environ[f"{ENV_SWITCH}_{name.upper()}"]
    limits = Limits()
    if "memory" in section:
        limits = replace(limits, memory=_bytes(section["memory"]))
    for name in ("processes", "wall_time"):
        if name in section:
            value = int(section[name])
            if value < 1:
                raise ValueError(f"the sandbox's {name} must be at least 1, not {value}")
            limits = replace(limits, **{name: value})
    return limits


def wanted(config=None, requested: bool | None = None) -> bool:
    """Whether grading should use the sandbox: ``requested`` (a command-line flag) wins over the
    ``COURSE_SANDBOX`` environment variable (``off``/``on``), which wins over ``c.Sandbox.enabled``; on unless
    one of them turns it off."""
    if requested is not None:
        return requested
    switch = os.environ.get(ENV_SWITCH, "").strip().lower()
    if switch in ("0", "off", "no", "false"):
        return False
    if switch in ("1", "on", "yes", "true"):
        return True
    section = config.get("Sandbox", {}) if config is not None else {}
    return bool(section.get("enabled", True))


_said: set[str] = set()


def note_once(message: str) -> None:
    """Print a one-line note on standard error, once per process."""
    if message not in _said:
        _said.add(message)
        print(message, file=sys.stderr)


def _tool(name: str) -> str | None:
    return shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin:/usr/bin:/bin")


def _mode() -> str:
    return "root" if os.geteuid() == 0 else "userns"


def available(cache: Path | None = None) -> tuple[bool, str]:
    """(True, how) when this machine can run the sandbox, else (False, why not); probed once per process by
    starting a real sandbox around ``python -c 'import course'``, or once per machine set-up with ``cache``
    (a JSON file: ``course grade`` is a process per grading)."""
    import json

    mode = _mode()
    if mode in _probed:
        return _probed[mode]
    key = f"{os.geteuid()} {os.uname().release} {sys.executable} {Path(__file__).resolve()}"
    if cache is not None:
        try:
            saved = json.loads(Path(cache).read_text(encoding="utf-8"))
            if saved.get("key") == key:
                _probed[mode] = (bool(saved["ok"]), str(saved["how"]))
                return _probed[mode]
        except (OSError, ValueError, KeyError):
            pass
    missing = [tool for tool in TOOLS if _tool(tool) is None]
    if not sys.platform.startswith("linux"):
        result = (False, "the grading sandbox needs Linux namespaces")
    elif missing:
        result = (False, f"the grading sandbox needs util-linux and iproute2 ({', '.join(missing)} not found)")
    else:
        with tempfile.TemporaryDirectory(prefix="course-probe-") as folder:
            box = Sandbox([], Path(folder), Limits(wall_time=60))
            try:
                box.prepare()
                done = subprocess.run(box.command([sys.executable, "-c", "import course"]), cwd=box.work,
                                      env=box.environment(os.environ), capture_output=True, text=True, timeout=120)
                lines = (done.stderr or done.stdout).strip().splitlines()
                result = (True, box.describe()) if done.returncode == 0 else (
                    False, "the grading sandbox cannot start here: " + (lines[-1] if lines else
                                                                        f"exit status {done.returncode}"))
            except (OSError, subprocess.SubprocessError) as error:
                result = (False, f"the grading sandbox cannot start here: {error}")
            finally:
                box.close()
    _probed[mode] = result
    if cache is not None:
        try:
            Path(cache).parent.mkdir(parents=True, exist_ok=True)
            Path(cache).write_text(json.dumps({"key": key, "ok": result[0], "how": result[1]}), encoding="utf-8")
        except OSError:
            pass
    return result


def _read_only_paths() -> list[str]:
    """What the kernel needs to run, read-only: the system, the Python install, the packages, ``course``."""
    import course

    wanted = ["/usr", "/etc", "/opt/conda" if Path("/opt/conda").is_dir() else None]
    wanted += [sys.base_prefix, sys.prefix, str(Path(sys.executable).parent)]
    wanted.append(str(Path(course.__file__).resolve().parent))  # the package, not its checkout
    for entry in sys.path:  # installed packages; never a checkout on PYTHONPATH (it holds solutions/)
        name = Path(entry).name
        if entry and (name in ("site-packages", "dist-packages", "lib-dynload") or re.fullmatch(
                r"python\d\.\d+|python\d+\.zip", name)):
            wanted.append(entry)
    for top in Path("/").iterdir():  # /bin, /lib, /lib64, /sbin: real folders on a system without usrmerge
        if top.name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32") and top.is_dir() and not top.is_symlink():
            wanted.append(str(top))
    paths: list[str] = []
    for path in sorted({os.path.realpath(p) for p in wanted if p and os.path.exists(p)} |
                       {p for p in wanted if p and os.path.exists(p)}):
        if not any(path == done or path.startswith(done.rstrip("/") + "/") for done in paths):
            paths.append(path)
    return paths


def _cgroups(name: str, limits: Limits) -> list[Path]:
    """Memory and pids cgroups (v1, or v2 at the top of the hierarchy) for one sandbox, where root may make
    them; [] elsewhere (the per-process limits still hold)."""
    made = []
    plans = [(CGROUP_ROOT / "memory", {"memory.limit_in_bytes": limits.memory, "memory.swappiness": 0}),
             (CGROUP_ROOT / "pids", {"pids.max": limits.processes})]
    if (CGROUP_ROOT / "cgroup.controllers").exists():  # cgroup v2 only
        plans = [(CGROUP_ROOT, {"memory.max": limits.memory, "memory.swap.max": 0, "pids.max": limits.processes})]
    for parent, values in plans:
        if not (parent / "cgroup.procs").exists():
            continue
        group = parent / name
        try:
            group.mkdir()
        except OSError:
            continue
        try:
            for key, value in values.items():
                if (group / key).exists():
                    try:
                        (group / key).write_text(str(value))
                    except OSError:
                        if key not in ("memory.swappiness", "memory.swap.max"):
                            raise
            made.append(group)
        except OSError:
            group.rmdir()
    return made


class Sandbox:
    """One sandbox for one kernel: ``prepare()`` makes its folders, ``command(argv)`` wraps a command so that
    it runs inside, ``close()`` kills whatever is left and removes everything.

    ``copy_from`` folders are copied, in order, into the private working folder (later ones overwrite, notebooks
    of later ones skipped: nbgrader copies the source's data files the same way), which the kernel sees at
    ``inside``, its working directory."""

    def __init__(self, copy_from: list[Path], inside: Path, limits: Limits | None = None):
        self.copy_from = [Path(p) for p in copy_from]
        self.inside = Path(inside).absolute()
        self.limits = limits or Limits()
        self.mode = _mode()
        self.uid = UID_BASE + 16 * (os.getpid() % 4_194_304) + next(_uids) % 16 if self.mode == "root" else None
        self.base: Path | None = None
        self.cgroups: list[Path] = []
        self._read_only: list[str] = []

    @property
    def run(self) -> Path:
        return self.base / "run"

    @property
    def work(self) -> Path:
        return self.base / "work"

    def describe(self) -> str:
        """How this sandbox isolates, in a few words (without its limits)."""
        kinds = "user/mount/pid/net/ipc/uts" if self.mode == "userns" else "mount/pid/net/ipc/uts"
        who = "a grading uid" if self.uid is not None else "your uid without capabilities"
        where = "per process and in a cgroup" if self.cgroups else "per process"
        return f"sandbox: {kinds} namespaces, {who}, loopback only, limits {where}"

    def prepare(self) -> None:
        """Make the sandbox's folders: the private copy, the shared run folder, and the skeleton of its root
        (every mount point made here, in Python, so that starting the sandbox runs few commands)."""
        if self.base is not None:
            return
        self.base = Path(tempfile.mkdtemp(prefix="course-sbx-"))
        for folder in (self.base / "root", self.run, self.work):
            folder.mkdir()
        for index, source in enumerate(self.copy_from):
            if source.is_dir():
                ignore = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", *(["*.ipynb"] if index else []))
                shutil.copytree(source, self.work, ignore=ignore, dirs_exist_ok=True, symlinks=True)
        root = self.base / "root"
        self._read_only = _read_only_paths()
        for path in self._read_only:
            target = root / path.lstrip("/")
            if Path(path).is_dir():
                target.mkdir(parents=True, exist_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.touch()
        for top in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
            if (Path("/") / top).is_symlink() and not (root / top).exists():
                (root / top).symlink_to(os.readlink(Path("/") / top))
        for folder in ("tmp", "proc", "dev/shm", ".host"):
            (root / folder).mkdir(parents=True, exist_ok=True)
        for device in DEVICES:
            (root / "dev" / device).touch()
        for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                             ("stderr", "/proc/self/fd/2")):
            (root / "dev" / name).symlink_to(target)
        if self.mode == "root":
            passwd = Path("/etc/passwd").read_text(encoding="utf-8", errors="replace").rstrip("\n")
            group = Path("/etc/group").read_text(encoding="utf-8", errors="replace").rstrip("\n")
            (self.base / "passwd").write_text(f"{passwd}\ngrader:x:{self.uid}:{self.uid}:grading sandbox:/tmp:"
                                              "/bin/sh\n", encoding="utf-8")
            (self.base / "group").write_text(f"{group}\ngrader:x:{self.uid}:\n", encoding="utf-8")
            for path in [self.run, self.work, *self.work.rglob("*")]:
                os.lchown(path, self.uid, self.uid)
            self.cgroups = _cgroups(f"course-sandbox-{self.uid}", self.limits)
        self.run.chmod(0o700)
        self.work.chmod(0o700)

    def own(self, path: Path | str) -> None:
        """Give a file the grader wrote (the connection file) to the sandbox's uid."""
        if self.uid is not None:
            os.chown(path, self.uid, self.uid)

    def environment(self, env) -> dict:
        """The kernel's environment: the grader's, without its secrets (database URLs, tokens), with a private
        home, and no bytecode caching (:data:`course.grading.nbconfig.KERNEL_ENV`)."""
        from course.grading.nbconfig import KERNEL_ENV

        kept = {key: value for key, value in env.items() if KEEP_ENV.match(key)}
        kept.update(HOME="/tmp", TMPDIR="/tmp", USER="grader", LOGNAME="grader", SHELL="/bin/sh",
                    PATH=env.get("PATH") or "/usr/local/bin:/usr/bin:/bin", **KERNEL_ENV)
        return kept

    def command(self, argv: list[str]) -> list[str]:
        """``argv`` wrapped in the sandbox (see the module docstring)."""
        self.prepare()
        namespaces = ["--mount", "--pid", "--net", "--ipc", "--uts", "--fork", "--kill-child=SIGKILL"]
        if self.mode == "userns":
            namespaces = ["--user", "--map-root-user", *namespaces]
        # SIGINT (an interrupt: jupyter_client signals the kernel's whole process group) must reach the kernel
        # only: unshare and the sandbox's pid 1 ignore it (ipykernel sets its own handler while it runs a cell).
        # And if the grading process dies (killed, crashed), unshare gets SIGKILL, and with it the whole sandbox.
        return ["/bin/sh", "-c", 'trap "" INT; exec "$@"', "course-sandbox", "setpriv", "--pdeathsig=KILL", "--",
                "unshare", *namespaces, "--", "/bin/sh", "-c", self._script(), "course-sandbox", *argv]

    def _script(self) -> str:
        """The sandbox's pid 1, as root in the new namespaces: mounts, new root, then the kernel as a child."""
        q = shlex.quote
        root, limits = q(str(self.base / "root")), self.limits
        tmp = f"mode=1777,nosuid,nodev,size={limits.memory}"
        work = f"mode=0700,nosuid,nodev,size={limits.memory}" + (f",uid={self.uid},gid={self.uid}" if self.uid else "")
        # ipykernel polls its parent and exits when it is pid 1 (an orphan), unless told its parent *is* pid 1.
        lines = ["set -eu", "export JPY_PARENT_PID=1"]
        lines += [f"echo 0 > {q(str(group / 'cgroup.procs'))}" for group in self.cgroups]
        ip, pivot_root = (q(_tool(name)) for name in ("ip", "pivot_root"))  # in /usr/sbin: maybe not on PATH
        lines += [f"{ip} link set lo up", f"mount --bind {root} {root}", f"cd {root}"]  # cd after: into the mount
        # A path under /tmp (a class Python built there, say) is mounted after the private /tmp, not hidden by it.
        in_tmp = [path for path in self._read_only if Path(path).is_relative_to("/tmp")]
        lines += [f"mount --bind -o ro,nosuid,nodev {q(path)} .{q(path)}" for path in self._read_only
                  if path not in in_tmp]
        if self.mode == "root":
            lines += [f"mount --bind -o ro {q(str(self.base / name))} ./etc/{name}" for name in ("passwd", "group")]
        lines += [
            f"mount -t tmpfs -o {tmp} course-tmp ./tmp",
            f"mount -t tmpfs -o {tmp} course-shm ./dev/shm",
            *[f"mkdir -p .{q(path)} && mount --bind -o ro,nosuid,nodev {q(path)} .{q(path)}" for path in in_tmp],
            "mount -t proc -o nosuid,nodev,noexec proc ./proc",
            *[f"mount --bind /dev/{device} ./dev/{device}" for device in DEVICES],
            f"mkdir -p .{q(str(self.run))} .{q(str(self.inside))}",
            f"mount --bind {q(str(self.run))} .{q(str(self.run))}",
            # The submission's folder is a tmpfs filled from the private copy: what the code writes there is in
            # memory, counted in its limits, and gone with the sandbox (nothing it writes reaches the disk).
            f"mount -t tmpfs -o {work} course-work .{q(str(self.inside))}",
            f"cp -a {q(str(self.work))}/. .{q(str(self.inside))}/",
            # The new root replaces the machine's: nothing else is mounted in this namespace afterwards.
            f"{pivot_root} . .host; cd /; umount -l /.host",
            "mount -o remount,bind,ro,nosuid,nodev /",
            f"cd {q(str(self.inside))}",
        ]
        drop = ["setpriv", "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]
        if self.uid is not None:  # (in a user namespace the groups are fixed already: setgroups is denied)
            drop[1:1] = [f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups"]
        rlimits = ["prlimit", f"--as={limits.memory}", f"--nproc={limits.processes}", "--core=0", "--"]
        lines += [
            # The kernel runs as a child of this shell (pid 1): when it ends, this shell exits and takes every
            # process of the namespace with it. After wall_time the watchdog kills everything.
            f"{' '.join(rlimits)} {' '.join(drop)} -- \"$@\" &",
            "kernel=$!",
            f"(sleep {int(limits.wall_time)}; : > {q(str(self.run / 'wall-time'))}; kill -KILL -1) &",
            "status=0; wait $kernel || status=$?",
            "exit $status",
        ]
        return "\n".join(lines)

    def wall_time_exceeded(self) -> bool:
        return self.base is not None and (self.run / "wall-time").exists()

    def close(self) -> None:
        """Kill anything of the sandbox still alive, remove its cgroups and folders."""
        if self.base is None:
            return
        if self.uid is not None:
            _kill_uid(self.uid)
        for group in self.cgroups:
            _remove_cgroup(group)
        self.cgroups = []
        shutil.rmtree(self.base, ignore_errors=True)
        self.base = None


def processes_of(uid: int) -> list[int]:
    """Pids of the processes whose real uid is ``uid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
            except OSError:
                continue
            match = re.search(r"^Uid:\s+(\d+)", status, re.M)
            if match and int(match.group(1)) == uid:
                found.append(int(entry.name))
    return found


def _kill_uid(uid: int, rounds: int = 100) -> None:
    """SIGKILL every process of ``uid`` until none is left (the pid namespace usually took them already)."""
    for _ in range(rounds):
        pids = processes_of(uid)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)


def _remove_cgroup(group: Path, rounds: int = 100) -> None:
    for _ in range(rounds):
        try:
            group.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            try:
                for pid in (group / "cgroup.procs").read_text().split():
                    os.kill(int(pid), signal.SIGKILL)
            except (OSError, ValueError):
                pass
            time.sleep(0.05)


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel runs in a :class:`Sandbox` and talks over Unix sockets in its folder.

    Given no sandbox (nbclient makes one per notebook when none was started in advance), it sandboxes a
    private copy of the folder the kernel would have started in, seen at the same path."""

    def __init__(self, sandbox: Sandbox | None = None, **kwargs):
        super().__init__(**kwargs)
        self.sandbox = sandbox
        self.transport = "ipc"

    async def _async_pre_start_kernel(self, **kw):
        if self.sandbox is None:
            cwd = Path(kw.get("cwd") or os.getcwd())
            self.sandbox = Sandbox([cwd], cwd, limits_from(self.config))
        box = self.sandbox
        box.prepare()
        self.connection_file = str(box.run / "kernel.json")
        self.ip = str(box.run / "k")
        kw["cwd"] = str(box.work)
        cmd, kw = await super()._async_pre_start_kernel(**kw)
        kw["env"] = box.environment(kw.get("env") or os.environ)
        box.own(self.connection_file)
        return box.command(cmd), kw

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if not restart and self.sandbox is not None:
            self.sandbox.close()
