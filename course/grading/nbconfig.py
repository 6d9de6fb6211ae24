"""The course's nbgrader configuration, loaded without importing nbgrader (which is slow to import).

:func:`nbgrader_config` reads ``nbgrader_config.py`` from the course root and moves the course directory to a
scratch folder. :func:`prestart_kernel` launches the grading kernel early, with the same arguments nbgrader
would use, so it boots while nbgrader is still being imported; ``SafeExecute`` picks it up from
:data:`PRESTARTED`.
"""

from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from pathlib import Path

from traitlets.config import Config, PyFileConfigLoader

from course.platform.paths import course_root

__all__ = ["nbgrader_config", "quiet", "prestart_kernel", "unsynced_gradebook", "PRESTARTED", "KERNEL_DIED", "KERNEL_RESTARTED", "GAVE_UP",
           "STDERR_AS_OUTPUT", "stderr_as_output"]

KERNEL_DIED = "KernelDied"
KERNEL_RESTARTED = "KernelRestarted"  # SafeExecute's error for a cell that hung or died; its message says which
GAVE_UP = "the kernel could not be restarted after an earlier part hung or died, so this part was not run"
PRESTARTED: list = []
# Kernel start-up code for grading (nbgrader_config.py passes it as an IPKernelApp.exec_lines argument).
STDERR_AS_OUTPUT = "__import__('course.grading.nbconfig', fromlist=['_']).stderr_as_output()"


def stderr_as_output() -> None:
    """Run in the grading kernel at start-up: what the learner's code writes to stderr arrives as output.

    nbgrader scores zero any test cell with stderr output. Correct code writes there for reasons a test does
    not judge: a library's DeprecationWarning (redis-py's ``setex``), ``logging.warning()``, a subprocess's
    messages. The instant checks in JupyterLab pass such code, so grading must too: it grades what the tests
    assert (a failed check or an error), and the lines still show in the feedback, as plain output.

    The kernel's stderr stream (ipykernel's ``OutStream``, which also carries what subprocesses write to file
    descriptor 2) is relabelled ``stdout``; any other stream is replaced by stdout.
    """
    import sys

    stream = sys.stderr
    if hasattr(stream, "topic") and getattr(stream, "name", None) == "stderr":
        stream.flush()
        stream.name, stream.topic = "stdout", b"stream.stdout"
    else:
        sys.stderr = sys.stdout


def nbgrader_config(root: Path, *, timeout: int | None = None) -> Config:
    """The course's nbgrader config with its course directory moved to ``root`` (a scratch folder)."""
    loader = PyFileConfigLoader("nbgrader_config.py", path=str(course_root()))
    config = loader.load_config()
    config.CourseDirectory.root = str(root)
    config.CourseDirectory.db_url = f"sqlite:///{Path(root) / 'gradebook.db'}"
    config.Exchange.root = str(Path(root) / "exchange")
    if timeout is not None:
        config.Execute.timeout = timeout
    return config


@contextmanager
def quiet():
    """nbgrader's own gradebook code trips SQLAlchemy (and nbformat) warnings that tell a learner or an
    instructor nothing; silence them around calls into nbgrader."""
    from sqlalchemy.exc import SAWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)
        warnings.filterwarnings("ignore", module="nbformat")
        yield


_UNSYNCED: set[str] = set()


@contextmanager
def unsynced_gradebook(path: Path):
    """While this runs, SQLite does not wait for the disk (``PRAGMA synchronous=OFF``) on connections to the
    gradebook at ``path``: a scratch copy that grading writes, reads back in the same run and deletes with its
    folder, so a commit that a power cut could lose loses nothing (and a killed run's folder is removed as stale
    anyway). nbgrader commits several times while grading; each commit's two fsyncs were the larger part of
    saving the scores (about 40 ms of 70-90 ms on the development machine's disk). Imports SQLAlchemy: call it
    once nbgrader is imported."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    if not event.contains(Engine, "connect", _without_sync):
        event.listen(Engine, "connect", _without_sync)
    key = os.path.realpath(path)
    _UNSYNCED.add(key)
    try:
        yield
    finally:
        _UNSYNCED.discard(key)


def _without_sync(dbapi_connection, connection_record) -> None:
    """SQLAlchemy's ``connect`` event, for every engine of this process: only a gradebook of
    :func:`unsynced_gradebook` is changed."""
    import sqlite3

    if not _UNSYNCED or not isinstance(dbapi_connection, sqlite3.Connection):
        return
    for _, name, filename in dbapi_connection.execute("PRAGMA database_list").fetchall():
        if name == "main" and filename and os.path.realpath(filename) in _UNSYNCED:
            dbapi_connection.execute("PRAGMA synchronous=OFF")


# Set in every grading kernel's environment. PYTHONDONTWRITEBYTECODE: Python caches the bytecode of each module
# it imports in a __pycache__ folder beside it; a grading kernel importing the course's own modules (a checkout,
# an editable install) would make those folders, which the guard rightly reports as writes outside the
# submission's folder (and which the sandbox, where the package is read-only, refuses): every honest submission
# was flagged. A kernel caches nothing; the modules are compiled in memory (a few milliseconds).
KERNEL_ENV = {"PYTHONDONTWRITEBYTECODE": "1"}


def prestart_kernel(config: Config, cwd: Path, *, sandbox=None):
    """Launch a python3 kernel in ``cwd`` now (without waiting for it); returns its manager.

    With a :class:`course.grading.sandbox.Sandbox`, the kernel runs in it (in its private copy of the
    submission) instead, and every other kernel of this grading run too (``Execute.kernel_manager_class``)."""
    from jupyter_core.utils import run_sync

    if sandbox is not None:
        from course.grading.sandbox import SandboxedKernelManager

        config.Execute.kernel_manager_class = "course.grading.sandbox.SandboxedKernelManager"
        manager = SandboxedKernelManager(sandbox=sandbox, kernel_name="python3", config=config)
    else:
        from jupyter_client.manager import AsyncKernelManager

        manager = AsyncKernelManager(kernel_name="python3")
    arguments = list(config.Execute.get("extra_arguments", []))
    # nbclient would use the same event loop for this kernel (jupyter_core keeps one per thread).
    run_sync(manager.start_kernel)(cwd=str(cwd), extra_arguments=arguments, env={**os.environ, **KERNEL_ENV})
    PRESTARTED.append(manager)
    return manager


def stop_kernel(manager) -> None:
    """Shut a prestarted kernel down, and forget it if nbgrader never used it."""
    from jupyter_core.utils import run_sync

    if manager in PRESTARTED:
        PRESTARTED.remove(manager)
    if run_sync(manager.is_alive)():
        run_sync(manager.shutdown_kernel)(now=True)
    if getattr(manager, "sandbox", None) is not None:
        manager.sandbox.close()  # also when the kernel died first: nothing of it survives, its folders go
