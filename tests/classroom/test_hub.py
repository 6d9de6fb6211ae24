"""A class on JupyterHub, for real: OS users, PAM logins over HTTP, one JupyterLab per user, nbgrader.

The hub (JupyterHub with the pure-Python configurable-http-proxy, PAMAuthenticator, LocalProcessSpawner)
runs on 127.0.0.1 with the config ``course classroom init`` wrote. An instructor and two students are real
accounts made here (CI runs as root). The instructor releases step 01 and later collects, autogrades (two at a
time), generates feedback and exports, all through a kernel of their own server; the students fetch, answer
(one right, one wrong) and submit through nbgrader's assignment-list REST API on theirs. Then: right scores,
each student gets only their own feedback, no student can read another's submission or the gradebook, and
formgrader exists for the instructor only (and JupyterLab may frame it). Everything started is stopped and the
accounts are deleted.

Then, with real accounts but no hub: collect refuses a submission made in another student's name; the class
Python shows a student the course and its release but no solutions, and serves an instructor's checkout from
a terminal; and the hub's settings: formgrader's frame per role, timeouts, a proxy that outwaits 20 s.
"""

from __future__ import annotations

import csv
import html
import io
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import nbformat
import psutil
import pytest
from click.testing import CliRunner
from provision import need_root, os_users, require

from course.classroom.hub import shared_python
from course.classroom.samples import make_submission
from course.components.servers import free_port
from course.components.waits import scaled

pytestmark = [pytest.mark.slow, pytest.mark.service]

STEP = "01-programming-basics"
COURSE_ID = "backend-course"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
VENV_BIN = Path(sys.executable).parent
WAIT = 120  # seconds: the longest any one wait may take on an idle machine (every wait is scaled)


def _run(*command, timeout=60, check=True, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=scaled(timeout), check=check, **kwargs)


def _as_user(user: str, python: Path, code: str, *, pythonpath: Path | None = None) -> subprocess.CompletedProcess:
    """Run Python code as an OS user (the way a student could poke at the machine from a terminal)."""
    extra = [f"PYTHONPATH={pythonpath}"] if pythonpath else []
    return _run("runuser", "-u", user, "--", "env", f"HOME=/home/{user}", f"PATH={python.parent}:/usr/bin:/bin",
                *extra, str(python), "-c", code, check=False, timeout=WAIT)


def _instructor_checkout(teacher: str) -> Path:
    """The instructor's own checkout of the course (solutions included) in their private home."""
    from course.platform import paths

    checkout = Path(f"/home/{teacher}/backend-course")
    skip = shutil.ignore_patterns(".ipynb_checkpoints")
    for name in ("course", "solutions", "exercises", "notebooks"):
        shutil.copytree(paths.course_root() / name, checkout / name, ignore=skip)
    shutil.copy2(paths.course_root() / "nbgrader_config.py", checkout / "nbgrader_config.py")
    _run("chown", "-R", f"{teacher}:{teacher}", str(checkout))
    return checkout


def _wait_for(what: str, condition, timeout: float = WAIT, hub=None):
    timeout = scaled(timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if hub is not None and hub.poll() is not None:
            pytest.fail(f"JupyterHub exited while waiting for {what}")
        result = condition()
        if result:
            return result
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


class HubUser:
    """One person's browser-like session: log in over HTTP with a password, then use an API token."""

    def __init__(self, hub_url: str, name: str, password: str):
        self.name = name
        self.http = httpx.Client(base_url=hub_url, timeout=scaled(60))
        self.http.get("/hub/login")
        xsrf = self.http.cookies.get("_xsrf")
        response = self.http.post("/hub/login", data={"username": name, "password": password, "_xsrf": xsrf})
        assert response.status_code == 302, f"login of {name} failed: {response.status_code}"
        xsrf = [cookie.value for cookie in self.http.cookies.jar if cookie.name == "_xsrf"][-1]  # new after login
        response = self.http.post(f"/hub/api/users/{name}/tokens", headers={"X-XSRFToken": xsrf},
                                  json={"note": "end-to-end test", "expires_in": 900})
        assert response.status_code == 201, response.text
        self.token = response.json()["token"]
        self.headers = {"Authorization": f"token {self.token}"}
        self.kernel = None  # one kernel of this user's server runs all their code (see run_code)

    def request_server(self) -> None:
        """Ask the hub to spawn this user's server (it answers at once; wait_for_server waits for it)."""
        response = self.http.post(f"/hub/api/users/{self.name}/server", headers=self.headers)
        assert response.status_code in (201, 202), response.text

    def wait_for_server(self, hub=None) -> None:
        def ready():
            model = self.http.get(f"/hub/api/users/{self.name}", headers=self.headers).json()
            return model.get("servers", {}).get("", {}).get("ready")

        _wait_for(f"{self.name}'s server", ready, hub=hub)

    def server(self, method: str, path: str, **kwargs) -> httpx.Response:
        return self.http.request(method, f"/user/{self.name}/{path.lstrip('/')}", headers=self.headers, **kwargs)

    def assignments(self, action: str | None = None) -> dict:
        params = {"course_id": COURSE_ID, "assignment_id": STEP}
        if action is None:
            response = self.server("GET", "assignments", params={"course_id": COURSE_ID})
        else:
            response = self.server("POST", f"assignments/{action}", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["success"], body.get("value")
        return {a["assignment_id"]: a for a in body["value"]}

    def run_code(self, code: str, timeout: float = 300) -> str:
        """Execute code in a kernel of this user's server over its WebSocket; return what it printed. The kernel
        is started on the first call and serves the later ones (the code runs the course's commands as
        subprocesses, so nothing carries over but the time a kernel takes to start and stop)."""
        import websocket

        timeout = scaled(timeout)
        if self.kernel is None:
            self.kernel = self.server("POST", "api/kernels", json={"name": "python3"}).json()["id"]
        url = f"{str(self.http.base_url).replace('http', 'ws', 1).rstrip('/')}/user/{self.name}/api/kernels/" \
              f"{self.kernel}/channels"
        socket = websocket.create_connection(url, header=[f"Authorization: token {self.token}"], timeout=timeout)
        message_id = uuid.uuid4().hex
        socket.send(json.dumps({
            "header": {"msg_id": message_id, "username": self.name, "session": uuid.uuid4().hex,
                       "msg_type": "execute_request", "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True}}))
        printed, deadline = [], time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                reply = json.loads(socket.recv())
                if reply.get("parent_header", {}).get("msg_id") != message_id:
                    continue
                kind, content = reply["msg_type"], reply["content"]
                if kind == "stream":
                    printed.append(content["text"])
                elif kind == "error":
                    printed.append(f"{content['ename']}: {content['evalue']}")
                elif kind == "status" and content["execution_state"] == "idle":
                    return "".join(printed)
            pytest.fail(f"code in {self.name}'s kernel did not finish in {timeout} s")
        finally:
            socket.close()

    def close(self) -> None:
        self.http.close()  # the hub's stop ends the user's server and its kernel


def _course_command(course_dir: Path, *args: str) -> str:
    """Code that runs `course classroom ARGS --course-dir DIR` from a kernel and prints what it said."""
    return (
        "import subprocess, sys\n"
        f"done = subprocess.run([sys.executable, '-m', 'course', 'classroom', *{list(args)!r}, "
        f"'--course-dir', {str(course_dir)!r}], capture_output=True, text=True, timeout={scaled(280):.0f})\n"
        "print(done.stdout, done.stderr, 'exit', done.returncode)\n"
    )


def _answer(user: HubUser, kind: str, scratch: Path) -> None:
    """Fill in the fetched notebook in the user's own home, through the Contents API."""
    path = f"api/contents/{STEP}/{STEP}.ipynb"
    fetched = user.server("GET", path).json()["content"]
    release = scratch / f"{user.name}-release.ipynb"
    nbformat.write(nbformat.from_dict(fetched), release)
    answered = make_submission(scratch, user.name, STEP, kind, seed=3, release=release)
    body = {"type": "notebook", "format": "json", "content": json.loads(answered.read_text())}
    assert user.server("PUT", path, json=body).status_code == 200


def _stop_everything(hub, users: list[str]) -> None:
    if hub is not None and hub.poll() is None:
        os.killpg(hub.pid, signal.SIGTERM)  # the hub stops the single-user servers and its proxy on the way out
        try:
            hub.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(hub.pid, signal.SIGKILL)
            hub.wait(timeout=10)
    uids = set()
    for user in users:
        found = _run("id", "-u", user, check=False)
        if found.returncode == 0:
            uids.add(int(found.stdout))
    for process in psutil.process_iter(["uids"]):  # anything still running as the test's own accounts
        try:
            if process.info["uids"] and process.info["uids"].real in uids:
                process.kill()
        except psutil.Error:
            pass
    for user in users:
        _run("userdel", "-r", "-f", user, check=False)


def test_a_class_on_jupyterhub_end_to_end():
    if os.geteuid() != 0:
        message = "the JupyterHub test creates OS users and must run as root"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    require("creates three Linux users (useradd) and deletes them with their homes afterwards (userdel -r)")
    for tool in ("useradd", "chpasswd", "userdel", "runuser"):
        assert shutil.which(tool), f"{tool} is needed to create the class's accounts"

    suffix = uuid.uuid4().hex[:5]
    names = {"teacher": f"t10i{suffix}", "ann": f"t10a{suffix}", "bob": f"t10b{suffix}"}
    passwords = {name: secrets.token_urlsafe(12) for name in names.values()}
    base = Path(tempfile.mkdtemp(prefix="course-hub-", dir="/tmp"))
    base.chmod(0o755)
    hub, sessions = None, []
    try:
        python = shared_python(base / "python")  # a Python the accounts can run, seeing the course's packages
        for name in names.values():
            _run("useradd", "--create-home", "--shell", "/bin/bash", "-K", "HOME_MODE=0700", name)
        _run("chpasswd", input="".join(f"{n}:{p}\n" for n, p in passwords.items()))
        exchange = base / "exchange"
        exchange.mkdir(mode=0o1777)
        exchange.chmod(0o1777)  # the administrator's step: install -d -m 1777 /srv/nbgrader/exchange
        teacher, ann, bob = names["teacher"], names["ann"], names["bob"]
        course_dir = Path(f"/home/{teacher}/class")  # under the instructor's home, for formgrader
        ports = {"public": free_port(), "hub": free_port(), "proxy": free_port()}
        hub_url = f"http://127.0.0.1:{ports['public']}"

        # The instructor makes the class folder and the roster, as themselves, with their own checkout.
        checkout = _instructor_checkout(teacher)
        roster = base / "roster.csv"
        roster.write_text(f"id,first_name,last_name\n{ann},Ann,Example\n{bob},Bob,Example\n", encoding="utf-8")
        code = (  # one process for both steps: each would pay the start-up of the course and nbgrader again
            f"from course.classroom.core import init; init({str(course_dir)!r}, exchange={str(exchange)!r}, "
            f"instructors=[{teacher!r}], hub_url={hub_url!r}, user_python={str(python)!r})\n"
            f"from course.classroom.core import Classroom, add_roster; "
            f"print(add_roster(Classroom.open({str(course_dir)!r}), {str(roster)!r}))\n"
        )
        done = _as_user(teacher, python, code, pythonpath=checkout)
        assert done.returncode == 0, done.stderr[-3000:]

        # The administrator runs the hub as root from a root-owned copy of its config.
        hub_dir = base / "hub"
        hub_dir.mkdir()
        hub_dir.chmod(0o711)  # users pass through to their role's settings; they cannot list the folder
        config = hub_dir / "jupyterhub_config.py"
        shutil.copyfile(course_dir / "jupyterhub_config.py", config)
        with config.open("a", encoding="utf-8") as file:
            file.write(f"\nc.JupyterHub.hub_port = {ports['hub']}\n"
                       f"c.ConfigurableHTTPProxy.api_url = 'http://127.0.0.1:{ports['proxy']}'\n")
        log = (hub_dir / "hub.log").open("w")
        hub = subprocess.Popen([str(VENV_BIN / "jupyterhub"), "-f", str(config)], cwd=hub_dir, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True,
                               env={**os.environ, "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}"})

        def hub_up():
            try:
                return httpx.get(f"{hub_url}/hub/api", timeout=5).status_code == 200
            except httpx.HTTPError:
                return False

        _wait_for("JupyterHub", hub_up, hub=hub)

        # PAM checks the real password.
        with httpx.Client(base_url=hub_url, timeout=30) as stranger:
            stranger.get("/hub/login")
            refused = stranger.post("/hub/login", data={"username": ann, "password": "not-the-password",
                                                        "_xsrf": stranger.cookies.get("_xsrf")})
            assert refused.status_code != 302

        sessions = [HubUser(hub_url, name, passwords[name]) for name in (teacher, ann, bob)]
        instructor, first, second = sessions
        for session in sessions:  # the three spawns run at once; then each is waited for
            session.request_server()
        for session in sessions:
            session.wait_for_server(hub)

        # JupyterLab for everyone; formgrader for the instructor only.
        for session, formgrader in ((instructor, True), (first, False)):
            page = session.server("GET", "lab")
            assert page.status_code == 200
            config_data = json.loads(html.unescape(re.search(
                r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', page.text, re.S)[1]))
            assert ("@jupyter/nbgrader:formgrader" in config_data.get("disabledExtensions", [])) is not formgrader
        assert first.server("GET", "formgrader/api/assignments").status_code == 404
        # JupyterLab frames formgrader: the instructor's server allows its own pages as frame parents.
        framed = instructor.server("GET", "formgrader", follow_redirects=True)
        assert framed.status_code == 200 and "frame-ancestors 'self'" in framed.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in first.server("GET", "lab").headers["content-security-policy"]

        said = instructor.run_code(_course_command(course_dir, "release", "01"))
        assert "exit 0" in said, said
        assert first.assignments()[STEP]["status"] == "released"

        scratch = base / "scratch"
        scratch.mkdir()
        for session, kind in ((first, "correct"), (second, "wrong")):
            assert session.assignments("fetch")[STEP]["status"] == "fetched"
            _answer(session, kind, scratch)
            assert session.assignments("submit")[STEP]["status"] == "submitted"

        # A student cannot read another's submission, the class folder, or the feedback folder's listing.
        inbound = exchange / COURSE_ID / "inbound"
        poke = _as_user(bob, python, "import glob, os\n"
                        f"print(glob.glob({str(inbound)!r} + '/{ann}+*'))\n"
                        f"for path in ({str(inbound)!r}, {str(course_dir)!r}):\n"
                        "    try:\n        os.listdir(path)\n        print('READ', path)\n"
                        "    except PermissionError:\n        print('denied')\n"
                        f"try:\n    open({str(course_dir / 'gradebook.db')!r}, 'rb').read(1)\n    print('READ')\n"
                        "except PermissionError:\n    print('denied')\n")
        assert poke.returncode == 0, poke.stderr
        assert poke.stdout.split() == ["[]", "denied", "denied", "denied"]

        said = {}
        # Autograde runs each submission in the grading sandbox, as this non-root instructor (user namespaces),
        # with the class Python.
        for command in (("collect", "01"), ("autograde", "01", "--jobs", "2"), ("feedback", "01"), ("export",)):
            said[command[0]] = instructor.run_code(_course_command(course_dir, *command))
            assert "exit 0" in said[command[0]], said[command[0]]
        assert re.search(rf"{ann}\s+20/20\s+graded", said["autograde"]), said["autograde"]
        assert "sandbox: user/mount/pid/net" in said["autograde"], said["autograde"]
        bob_score = float(re.search(rf"{bob}\s+([\d.]+)/20\s+graded", said["autograde"])[1])
        assert 0 < bob_score < 20

        grades = instructor.run_code(f"print(open({str(course_dir / 'exports' / 'grades-lms.csv')!r}).read())")
        rows = {row["student_id"]: row for row in csv.DictReader(io.StringIO(grades))}
        assert (float(rows[ann][f"{STEP} (20)"]), float(rows[bob][f"{STEP} (20)"])) == (20.0, bob_score)

        listing = instructor.server("GET", "formgrader/api/assignments")
        assert listing.status_code == 200
        (assignment,) = [a for a in listing.json() if a["name"] == STEP]
        assert assignment["num_submissions"] == 2

        for session, score in ((first, 20.0), (second, bob_score)):
            assert session.assignments("fetch_feedback")[STEP]["status"] == "submitted"
            folder = session.server("GET", f"api/contents/{STEP}/feedback").json()["content"]
            (stamp,) = folder
            (page,) = session.server("GET", f"api/contents/{stamp['path']}").json()["content"]
            text = session.server("GET", f"api/contents/{page['path']}").json()["content"]
            assert f"{score} / 20.0" in html.unescape(text), f"{session.name}'s feedback shows another score"
        feedback_dir = exchange / COURSE_ID / "feedback"
        peek = _as_user(bob, python, f"import os\ntry:\n    os.listdir({str(feedback_dir)!r})\n"
                                     "except PermissionError:\n    print('denied')\n")
        assert peek.stdout.strip() == "denied"
    finally:
        for session in sessions:
            session.close()
        _stop_everything(hub, list(names.values()))
        hub_log = base / "hub" / "hub.log"
        if hub_log.exists():  # shown by pytest when the test fails
            print("".join(hub_log.read_text(errors="replace").splitlines(keepends=True)[-80:]))
        shutil.rmtree(base, ignore_errors=True)
    assert not [p for p in psutil.process_iter(["cmdline"])
                if str(base) in " ".join(p.info["cmdline"] or [])], "a process of the test is still running"


# -- real accounts without a hub: who owns a submission, what the class Python shows a student ----------------

@pytest.fixture(scope="module")
def class_python():
    """The class Python (``course classroom hub-python``) in a world-searchable folder, made once."""
    need_root("the class Python test")
    base = Path(tempfile.mkdtemp(prefix="course-class-python-", dir="/tmp"))
    base.chmod(0o755)
    try:
        yield shared_python(base / "python")
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _run_as(user: str, python: Path, *command: str, env: dict | None = None, cwd: str | None = None):
    """A command as an OS user from a bare terminal: the class Python's commands first on PATH, no JUPYTER_PATH."""
    variables = {"HOME": f"/home/{user}", "PATH": f"{python.parent}:/usr/bin:/bin", **(env or {})}
    return _run("runuser", "-u", user, "--", "env", "-i", *(f"{k}={v}" for k, v in variables.items()), *command,
                check=False, timeout=600, cwd=cwd or f"/home/{user}")


@pytest.fixture
def public_tmp():
    folder = Path(tempfile.mkdtemp(prefix="course-os-users-", dir="/tmp"))
    folder.chmod(0o755)  # pytest's tmp_path is closed to other users
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_collect_refuses_a_submission_made_by_someone_else(class_python, public_tmp):
    from course.classroom import core as classroom
    from course.classroom.cli import classroom as classroom_cli

    exchange = public_tmp / "exchange"
    exchange.mkdir(mode=0o1777)
    exchange.chmod(0o1777)
    room = classroom.init(public_tmp / "class", exchange=exchange)
    classroom.release(room, STEP)
    nbgrader = ["nbgrader", "--course", COURSE_ID, f"--Exchange.root={exchange}"]
    with os_users("ann", "bob") as users:
        ann, bob = users["ann"], users["bob"]
        answers = {}
        # ann submits a correct notebook; then bob a wrong one of his own, and a blank one in ann's name (newest)
        for user, kind, pose_as in ((ann, "correct", None), (bob, "wrong", None), (bob, "blank", ann)):
            fetched = Path(f"/home/{user}/{STEP}/{STEP}.ipynb")
            if not fetched.exists():
                done = _run_as(user, class_python, nbgrader[0], "fetch_assignment", STEP, *nbgrader[1:])
                assert done.returncode == 0, done.stderr[-2000:]
            answered = make_submission(public_tmp / "scratch", f"{user}-{kind}", STEP, kind, seed=5)
            shutil.copyfile(answered, fetched)
            shutil.chown(fetched, user, user)
            answers[(user, kind)] = fetched.read_text(encoding="utf-8")
            extra = ["--student", pose_as] if pose_as else []
            done = _run_as(user, class_python, nbgrader[0], "submit", STEP, *nbgrader[1:], *extra)
            assert done.returncode == 0, done.stderr[-2000:]
            time.sleep(0.01)  # distinct submission timestamps

        students, refused = classroom.collect(room, STEP)
        assert students == sorted([ann, bob])
        (refusal,) = refused
        assert f"claims to be {ann}'s submission but was made by {bob}" in refusal
        submitted = room.root / "submitted"
        assert sorted(p.name for p in submitted.iterdir()) == sorted([ann, bob])  # the forgery went nowhere
        assert (submitted / ann / STEP / f"{STEP}.ipynb").read_text(encoding="utf-8") == answers[(ann, "correct")]
        assert (submitted / bob / STEP / f"{STEP}.ipynb").read_text(encoding="utf-8") == answers[(bob, "wrong")]

        result = CliRunner().invoke(classroom_cli, ["collect", "01", "--course-dir", str(room.root)])
        assert result.exit_code == 1, result.output
        assert re.search(rf"WARNING: refused {ann}\+{STEP}\+.+?: it claims to be {ann}'s submission but was "
                         rf"made by {bob}", result.output), result.output
        assert "1 submission(s) refused" in result.output


def test_the_class_python_gives_students_no_solutions_and_works_for_instructors(class_python, public_tmp):
    course = class_python.parent.parent / "course"
    assert not (course / "solutions").exists()
    hidden = [p for p in class_python.parent.parent.rglob("*.ipynb") if "BEGIN HIDDEN TESTS" in p.read_text()]
    assert not hidden, hidden[:3]
    with os_users("teacher", "stu") as users:
        teacher, student = users["teacher"], users["stu"]
        # The instructor's own checkout of the course, in their private home.
        checkout = _instructor_checkout(teacher)
        secrets_of_teacher = [str(p) for p in (checkout / "solutions").rglob("*") if p.is_file()]
        assert secrets_of_teacher

        probe = (
            "import json, course\n"
            "import course.steps.step02_web_concepts  # a lesson helper\n"
            "from course.platform import paths\n"
            # (This machine's own checkout, which built the class Python, is world-readable here: hub-python warns
            # about that; the class Python no longer needs it, so an administrator can close it.)
            f"readable = []\nfor path in {secrets_of_teacher!r}:\n"
            "    try:\n        open(path, 'rb').read(1)\n        readable.append(path)\n    except OSError:\n        pass\n"
            f"print(json.dumps({{'course': course.__file__, 'release': len(paths.release_path({STEP!r}).read_text()),"
            " 'solutions': paths.solutions_dir().exists(), 'readable': readable}))\n"
        )
        done = _run_as(student, class_python, "python", "-c", probe)
        assert done.returncode == 0, done.stderr[-3000:]
        seen = json.loads(done.stdout.strip().splitlines()[-1])
        assert seen["course"].startswith(str(course)), seen
        assert seen["release"] > 0 and seen["solutions"] is False
        assert seen["readable"] == [], seen["readable"][:3]

        # The instructor, from a terminal: their checkout first on PYTHONPATH, the class Python's commands.
        mine = {"PYTHONPATH": str(checkout)}
        class_dir = f"/home/{teacher}/class"
        done = _run_as(teacher, class_python, "python", "-c", "import course; print(course.__file__)", env=mine)
        assert done.stdout.strip() == str(checkout / "course" / "__init__.py"), done.stderr[-2000:]
        for command in (["init", class_dir], ["release", "01", "--course-dir", class_dir]):
            done = _run_as(teacher, class_python, "course", "classroom", *command, env=mine)
            assert done.returncode == 0, done.stdout + done.stderr[-3000:]
        done = _run_as(teacher, class_python, "python", "-c",
                       "from course.classroom.samples import make_submission; "
                       f"make_submission({class_dir!r}, 'ann', {STEP!r}, 'correct')", env=mine)
        assert done.returncode == 0, done.stderr[-2000:]
        done = _run_as(teacher, class_python, "course", "classroom", "autograde", "01", "--sandbox",
                       "--course-dir", class_dir, env=mine)
        assert re.search(r"ann\s+20/20\s+graded", done.stdout), done.stdout + done.stderr[-3000:]
        assert "sandbox: user/mount/pid/net" in done.stdout, done.stdout  # in the sandbox, as the instructor
        done = _run_as(teacher, class_python, "course", "classroom", "feedback", "01", "--course-dir", class_dir,
                       env=mine)
        assert done.returncode == 0, done.stdout + done.stderr[-3000:]  # no JUPYTER_PATH given: still found
        assert Path(f"{class_dir}/feedback/ann/{STEP}/{STEP}.html").exists()
        hub_config = Path(f"{class_dir}/jupyterhub_config.py").read_text(encoding="utf-8")
        assert f"instructor_course={str(checkout)!r}" in hub_config
        assert f"user_python={str(class_python)!r}" in hub_config  # the class Python, not its bare binary


# -- the hub's settings that matter beyond the end-to-end run -------------------------------------------------

def _configured(tmp_state: Path, **overrides):
    from traitlets.config import Config

    from course.classroom import core as classroom
    from course.classroom.hub import configure

    room = classroom.init(tmp_state / "class", instructors=("teacher",))
    c = Config()
    state = tmp_state / "hub"
    state.mkdir(mode=0o711)
    state.chmod(0o711)
    configure(c, **{"course_dir": str(room.root), "course_id": room.course_id, "db_url": room.db_url,
                    "exchange": str(room.exchange), "instructors": ["teacher"], "bind_url": "http://127.0.0.1:8123",
                    "user_python": sys.executable, "state_dir": state, **overrides})
    return c, state


def test_hub_config_frames_formgrader_waits_for_slow_servers_and_gives_instructors_their_checkout(public_tmp):
    from types import SimpleNamespace

    from course.classroom.hub import PROXY_TIMEOUT, SPAWN_TIMEOUT

    c, state = _configured(public_tmp, instructor_course="/home/teacher/backend-course")
    path_of = c.Spawner.environment["JUPYTER_CONFIG_PATH"]
    for user, csp in (("teacher", "frame-ancestors 'self'"), ("ada", None)):  # students keep JupyterHub's 'none'
        config_path = path_of(SimpleNamespace(user=SimpleNamespace(name=user)))
        code = ("from jupyter_server.serverapp import ServerApp\napp = ServerApp()\n"
                "app.initialize(argv=['--no-browser'], find_extensions=False, new_httpserver=False)\n"
                "print((app.web_app.settings.get('headers') or {}).get('Content-Security-Policy'))\n")
        done = _run(sys.executable, "-c", code, env={**os.environ, "JUPYTER_CONFIG_PATH": config_path},
                    cwd=public_tmp, timeout=WAIT)
        assert done.stdout.strip().splitlines()[-1] == str(csp), done.stderr[-2000:]
    assert c.Spawner.start_timeout == c.Spawner.http_timeout == SPAWN_TIMEOUT >= 120
    command = c.ConfigurableHTTPProxy.command
    assert f"--proxy-timeout={PROXY_TIMEOUT * 1000}" in command and f"--timeout={PROXY_TIMEOUT * 1000}" in command
    assert PROXY_TIMEOUT > SPAWN_TIMEOUT  # the spawn page's progress stream outlives the slowest spawn
    pythonpath = c.Spawner.environment["PYTHONPATH"]
    assert pythonpath(SimpleNamespace(user=SimpleNamespace(name="teacher"))) == "/home/teacher/backend-course"
    assert pythonpath(SimpleNamespace(user=SimpleNamespace(name="ada"))) == ""


def test_the_hubs_proxy_lets_a_slow_answer_through(public_tmp):
    """tornado's default request timeout is 20 s: the proxy, started as the hub starts it, must outwait it."""
    from course.components.servers import serve_wsgi

    def slow_server(environ, start_response):  # a single-user server slow to answer, as while spawning
        time.sleep(21)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"spawned"]

    c, _ = _configured(public_tmp)
    backend = serve_wsgi(slow_server, name="slow-server")
    port, api = free_port(), free_port()
    token = secrets.token_hex(16)
    proxy = subprocess.Popen([*c.ConfigurableHTTPProxy.command, "--ip", "127.0.0.1", "--port", str(port),
                              "--api-ip", "127.0.0.1", "--api-port", str(api)],
                             env={**os.environ, "CONFIGPROXY_AUTH_TOKEN": token},
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        headers = {"Authorization": f"token {token}"}

        def route_added():
            try:
                return httpx.post(f"http://127.0.0.1:{api}/api/routes/slow", headers=headers,
                                  json={"target": backend.url}, timeout=10).status_code == 201
            except httpx.HTTPError:
                return False

        _wait_for("the proxy's API", route_added)
        answer = httpx.get(f"http://127.0.0.1:{port}/slow/", timeout=WAIT)
        assert (answer.status_code, answer.text) == (200, "spawned")
    finally:
        os.killpg(proxy.pid, signal.SIGTERM)
        proxy.wait(timeout=30)
        backend.stop()
