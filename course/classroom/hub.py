"""JupyterHub for a class on one machine: PAM logins, one JupyterLab per OS user, nbgrader's extensions by role.

``course classroom init`` writes ``DIR/jupyterhub_config.py``, which calls :func:`configure`. The machine's
administrator copies it into a root-owned folder (``/etc/jupyterhub/``) and runs
``jupyterhub -f /etc/jupyterhub/jupyterhub_config.py`` as root: the hub never executes a file a user can
write, and it keeps its state (its database, cookie secret, the per-role Jupyter configuration) beside it.

- Logins: :class:`PAMAuthenticator` checks the machine's own accounts; only the instructors and the
  students in the class's gradebook (``course classroom roster add``) may log in, read when the hub starts.
- Servers: :class:`LocalProcessSpawner` runs each user's JupyterLab as that user, with the user's own
  ``~/.jupyter`` ignored so the role's settings hold.
- Roles: students get nbgrader's assignment list (fetch, submit, fetch feedback) with formgrader, course list
  and create-assignment turned off; instructors get formgrader on their course folder, which must sit under
  their home (formgrader only serves a course inside the server's root).
  Their server may be framed by its own pages (``frame-ancestors 'self'``): JupyterLab shows formgrader in
  an iframe, which JupyterHub's default ``frame-ancestors 'none'`` leaves blank.
- Proxy: the pure-Python ``configurable-http-proxy`` from PyPI, with its request timeouts raised above the
  spawner's: by default it cuts every proxied request at 20 s (tornado's default), and the spawn page's
  progress stream with it, so a server slower than that to start left the page hanging.
- Python: every user's server runs the class Python of :func:`shared_python` (``course classroom
  hub-python``): the course package and its release, no ``solutions/``. Instructors' servers get their own
  checkout of the course first on ``PYTHONPATH`` (``init`` records the one it ran from), so they alone see
  the solutions.
"""

from __future__ import annotations

import compileall
import json
import os
import shutil
import stat
import sys
import sysconfig
from pathlib import Path

__all__ = ["configure", "write_hub_config", "shared_python", "reachable_by_others", "roster_usernames",
           "solutions_readable_by_others", "HUB_CONFIG", "SPAWN_TIMEOUT", "PROXY_TIMEOUT"]

SPAWN_TIMEOUT = 300  # seconds a user's server may take to start, and to answer the hub, on a busy machine
PROXY_TIMEOUT = 3600  # seconds the proxy lets one request run: the spawn page's progress stream lasts the spawn
INSTRUCTOR_CSP = "frame-ancestors 'self'"  # formgrader inside JupyterLab is an iframe of the same server

HUB_CONFIG = "jupyterhub_config.py"
STUDENT_OFF = {
    "server": ["nbgrader.server_extensions.formgrader", "nbgrader.server_extensions.course_list"],
    "lab": ["@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:course-list",
            "@jupyter/nbgrader:create-assignment"],
}

HUB_TEMPLATE = '''"""JupyterHub for the class {course_id!r}, written by `course classroom init`.

Run it as root from a root-owned folder, so the hub never executes a file a user can write:
    install -d -m 711 /etc/jupyterhub && cp {source} /etc/jupyterhub/
    jupyterhub -f /etc/jupyterhub/jupyterhub_config.py
Its state is written next to this file: the hub database and cookie secret (0600) and the per-role
Jupyter settings (world-readable: the users' servers read them), hence the folder's mode 711.
Override any setting below the call, e.g. `c.JupyterHub.hub_port = 8082`.
"""

from pathlib import Path

from course.classroom.hub import configure

configure(
    c,  # noqa: F821 - injected by traitlets
    course_dir={course_dir!r},
    course_id={course_id!r},
    db_url={db_url!r},
    exchange={exchange!r},
    instructors={instructors!r},
    bind_url={bind_url!r},
    user_python={user_python!r},
    instructor_course={instructor_course!r},
    state_dir=Path(__file__).resolve().parent,
)
'''


def write_hub_config(room, *, instructors=(), hub_url: str | None = None, user_python: str = sys.executable,
                     instructor_course: str | None = None) -> Path:
    target = room.root / HUB_CONFIG
    target.write_text(HUB_TEMPLATE.format(
        course_id=room.course_id, source=target, course_dir=str(room.root), db_url=room.db_url,
        exchange=str(room.exchange), instructors=list(instructors), bind_url=hub_url or "http://127.0.0.1:8000",
        user_python=str(user_python), instructor_course=instructor_course), encoding="utf-8")
    target.chmod(0o600)  # it names the gradebook's URL, which may hold a password
    return target


def roster_usernames(db_url: str) -> list[str]:
    """The student ids in a gradebook, read-only (the hub reads them as root: no write, no code from users)."""
    from sqlalchemy import create_engine, text

    if db_url.startswith("sqlite:///"):
        db_url = f"sqlite:///file:{db_url[len('sqlite:///'):]}?mode=ro&uri=true"
    engine = create_engine(db_url)
    try:
        with engine.connect() as connection:
            return sorted(row[0] for row in connection.execute(text("SELECT id FROM student")))
    finally:
        engine.dispose()


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    path.chmod(0o644)


def _role_configs(state_dir: Path, course_dir: str, course_id: str, exchange: str) -> dict[str, Path]:
    """Jupyter config folders for each role, root-owned and world-readable, rewritten at each hub start."""
    roles = {"student": state_dir / "roles" / "student", "instructor": state_dir / "roles" / "instructor"}
    for folder in roles.values():
        folder.mkdir(parents=True, exist_ok=True)
        for part in (state_dir / "roles", folder):
            part.chmod(0o755)
    student = roles["student"]
    _write_json(student / "nbgrader_config.json",
                {"CourseDirectory": {"course_id": course_id}, "Exchange": {"root": exchange}})
    # Where `jupyter server extension disable` writes: the single-user server reads extensions from the .d
    # folders of its config path (first folder wins), not from a jupyter_server_config.json beside them.
    _write_json(student / "jupyter_server_config.d" / "nbgrader-role.json",
                {"ServerApp": {"jpserver_extensions": {name: False for name in STUDENT_OFF["server"]}}})
    (student / "jupyter_server_config.d").chmod(0o755)
    _write_json(student / "labconfig" / "page_config.json",
                {"disabledExtensions": {name: True for name in STUDENT_OFF["lab"]}})
    (student / "labconfig").chmod(0o755)
    # The instructor's nbgrader settings are the class's own file, found through JUPYTER_CONFIG_PATH.
    _write_json(roles["instructor"] / "jupyter_server_config.d" / "nbgrader-role.json",
                {"ServerApp": {"jpserver_extensions": {"nbgrader.server_extensions.formgrader": True}}})
    # The server's other settings come from jupyter_server_config.json (the .d folders hold extensions only).
    _write_json(roles["instructor"] / "jupyter_server_config.json",
                {"ServerApp": {"tornado_settings": {"headers": {"Content-Security-Policy": INSTRUCTOR_CSP}}}})
    (roles["instructor"] / "jupyter_server_config.d").chmod(0o755)
    return roles


def configure(c, *, course_dir: str, course_id: str, db_url: str, exchange: str, instructors, bind_url: str,
              user_python: str, state_dir: Path, instructor_course: str | None = None) -> None:
    """Fill a JupyterHub config object ``c`` for the class (see the module docstring)."""
    state_dir = Path(state_dir)
    if not reachable_by_others(state_dir):
        raise RuntimeError(f"{state_dir} holds the users' role settings: it must be searchable by them "
                           f"(chmod 711 {state_dir}; the hub's own files in it stay private)")
    database = state_dir / "jupyterhub.sqlite"
    database.touch(mode=0o600)  # tokens and sessions: the hub's alone
    venv = Path(sys.prefix)
    instructors = set(instructors)
    roles = _role_configs(state_dir, course_dir, course_id, exchange)
    c.JupyterHub.bind_url = bind_url
    c.JupyterHub.hub_ip = "127.0.0.1"
    c.JupyterHub.db_url = f"sqlite:///{database}"
    c.JupyterHub.cookie_secret_file = str(state_dir / "jupyterhub_cookie_secret")
    c.ConfigurableHTTPProxy.command = [str(venv / "bin" / "configurable-http-proxy"),  # timeouts in ms
                                       f"--timeout={PROXY_TIMEOUT * 1000}", f"--proxy-timeout={PROXY_TIMEOUT * 1000}"]
    c.ConfigurableHTTPProxy.pid_file = str(state_dir / "jupyterhub-proxy.pid")
    c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:8001"

    c.JupyterHub.authenticator_class = "pam"
    c.PAMAuthenticator.open_sessions = False  # no login sessions (systemd-logind) needed for a notebook server
    c.Authenticator.allowed_users = instructors | set(roster_usernames(db_url))

    c.JupyterHub.spawner_class = "localprocess"
    c.Spawner.cmd = [user_python, "-m", "jupyterhub.singleuser"]
    c.Spawner.default_url = "/lab"
    c.Spawner.notebook_dir = "~"
    c.Spawner.disable_user_config = True  # a user's ~/.jupyter must not switch formgrader back on
    c.Spawner.start_timeout = SPAWN_TIMEOUT
    c.Spawner.http_timeout = SPAWN_TIMEOUT

    shared = [str(venv / "etc" / "jupyter")]

    def config_path(spawner) -> str:
        if spawner.user.name in instructors:
            return os.pathsep.join([str(roles["instructor"]), course_dir, *shared])
        return os.pathsep.join([str(roles["student"]), *shared])

    c.Spawner.environment = {
        "JUPYTER_CONFIG_PATH": config_path,
        "JUPYTER_PATH": str(venv / "share" / "jupyter"),           # nbgrader's lab extension, kernels
        "JUPYTERLAB_DIR": str(venv / "share" / "jupyter" / "lab"),  # JupyterLab's own assets
        "PATH": os.pathsep.join([str(Path(user_python).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
        # The instructors' own checkout (with solutions/) before the class Python's copy of the course;
        # students get none (an empty PYTHONPATH is no entry).
        "PYTHONPATH": lambda spawner: instructor_course or "" if spawner.user.name in instructors else "",
    }


def reachable_by_others(path: Path | str) -> bool:
    """Whether any user may execute ``path``: every folder above it searchable and the file executable."""
    path = Path(os.path.realpath(path))
    if not path.stat().st_mode & stat.S_IXOTH:
        return False
    return all(parent.stat().st_mode & stat.S_IXOTH for parent in path.parents)


def _mirror_scripts(source: Path, target: Path, python: Path) -> None:
    """Copy the environment's commands (alembic, nbgrader, jupyter...) with ``python`` as their interpreter:
    nbgrader runs some of them by name, and the originals start an interpreter users cannot reach."""
    names = ("python", "python3", f"python{sys.version_info.major}.{sys.version_info.minor}")
    own = {f"#!{sys.executable}", *(f"#!{Path(sys.prefix) / 'bin' / name}" for name in names)}
    for script in sorted(source.iterdir()):
        if script.name.startswith(("python", "activate", "Activate")) or not script.is_file():
            continue
        with open(script, "rb") as file:
            first = file.readline().decode("utf-8", "replace").strip()
        if first in own or first.startswith(tuple(f"{o} " for o in own)):
            body = script.read_text(encoding="utf-8").split("\n", 1)[1]
            (target / script.name).write_text(f"#!{python}\n{body}", encoding="utf-8")
            (target / script.name).chmod(0o755)


RELEASE_PARTS = ("exercises", "notebooks", "nbgrader_config.py")  # what students get of the course's sources


def _environment_paths(here: str, skip: tuple[str, ...]) -> str:
    """The ``.pth`` text that puts this environment's packages on the class Python's path: the folder itself,
    then the environment's own ``.pth`` lines, except those naming the course's checkout (the editable install
    of the course, whose finder would import the instructor's copy)."""
    lines = [here]
    for pth in sorted(Path(here).glob("*.pth")):
        text = pth.read_text(encoding="utf-8", errors="replace")
        if any(word in text or word in pth.name for word in skip):
            continue
        lines += [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return "\n".join(lines) + "\n"


def _copy_course(target: Path) -> None:
    """The course as students may have it, in ``target``: the package, and beside it the release (exercises,
    lessons, the course-wide nbgrader settings); never ``solutions/``, which holds the hidden tests."""
    from course.platform import paths

    skip = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints")
    target.mkdir(parents=True)
    shutil.copytree(paths.PACKAGE_DIR, target / "course", ignore=skip)
    for name in RELEASE_PARTS:
        source = paths.course_root() / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=skip)
        elif source.is_file():
            shutil.copy2(source, target / name)
    compileall.compile_dir(target / "course", quiet=1)  # users cannot write __pycache__ here: compile once
    for path in [target, *target.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


def solutions_readable_by_others() -> Path | None:
    """The course's ``solutions/`` when any user may read it (the class Python does not need it), else None."""
    from course.platform import paths

    try:
        solutions = paths.solutions_dir()
    except FileNotFoundError:
        return None
    if not solutions.is_dir() or not reachable_by_others(solutions) or not solutions.stat().st_mode & stat.S_IROTH:
        return None
    return solutions


def shared_python(dest: Path | str) -> Path:
    """A Python for the class's users (students, and instructors with their checkout): the course package and
    its release only, no ``solutions/``; returns ``dest/bin/python``.

    It copies this very interpreter build (binary, ``libpython``, standard library; about 120 MB, a second)
    into ``dest/runtime``. Its site-packages gets a ``.pth`` file adding ``dest/course`` (a copy of the course
    package with its release beside it: ``exercises/``, the lessons, the course-wide nbgrader settings) and
    this environment's packages (Jupyter, nbgrader...), but not the editable install of the course: that one
    imports the checkout, and the checkout holds the hidden tests. ``dest/bin/python`` is a wrapper that points the loader at the copied ``libpython`` and Jupyter at this
    environment's data (nbconvert's templates, kernels): feedback works from a terminal too. The
    environment's commands (course, nbgrader, jupyter...) are mirrored in ``dest/bin`` with that interpreter.
    A system Python of the same minor version is no substitute: patch releases differ (3.11.2's ``re``
    rejects soupsieve's patterns, and feedback fails). Instructors put their own checkout first on
    ``PYTHONPATH`` (the hub does it for their servers), so they see ``solutions/`` and nobody else does.
    """
    dest = Path(dest)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    runtime, python, course = dest / "runtime", dest / "bin" / "python", dest / "course"
    if not python.exists():
        from course.platform import paths

        base = Path(sys.base_prefix)
        for folder in ("bin", "lib"):
            (runtime / folder).mkdir(parents=True, exist_ok=True)
        shutil.copy2(base / "bin" / f"python{version}", runtime / "bin" / f"python{version}")
        for library in (base / "lib").glob("libpython*"):
            shutil.copy2(library, runtime / "lib" / library.name, follow_symlinks=False)
        shutil.copytree(base / "lib" / f"python{version}", runtime / "lib" / f"python{version}", symlinks=True,
                        ignore=shutil.ignore_patterns("site-packages", "test", "idlelib", "turtledemo", "tkinter"))
        site = runtime / "lib" / f"python{version}" / "site-packages"
        site.mkdir()
        here = sysconfig.get_path("purelib")
        checkout = str(paths.PACKAGE_DIR.parent)
        _copy_course(course)
        (site / "00-course-environment.pth").write_text(
            f"{course}\n" + _environment_paths(here, skip=(checkout, "backend_course")), encoding="utf-8")
        data = Path(sys.prefix) / "share" / "jupyter"
        python.parent.mkdir(parents=True, exist_ok=True)
        python.write_text(
            "#!/bin/sh\n# The course's Python for the class's users: this interpreter build, where they can reach it,\n"
            "# with the course package and its release (no solutions).\n"
            f'LD_LIBRARY_PATH="{runtime}/lib${{LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}}"; export LD_LIBRARY_PATH\n'
            f'JUPYTER_PATH="${{JUPYTER_PATH:+$JUPYTER_PATH:}}{data}"; export JUPYTER_PATH\n'
            f'COURSE_CLASS_PYTHON="{python}"; export COURSE_CLASS_PYTHON\n'
            f'exec "{runtime}/bin/python{version}" "$@"\n', encoding="utf-8")
        python.chmod(0o755)
        _mirror_scripts(Path(sys.prefix) / "bin", dest / "bin", python)
    if not reachable_by_others(runtime / "bin" / f"python{version}"):
        raise RuntimeError(f"{dest} is not searchable by other users; {python} would be out of their reach")
    return python
