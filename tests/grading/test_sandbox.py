"""The grading sandbox (course/grading/sandbox.py): real namespaces, limits, and a class of attack submissions
(tests/files/attacks/) graded through `course classroom autograde`."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import uuid
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner

from course.classroom import core as classroom
from course.classroom.autograde import autograde
from course.classroom.cli import classroom as classroom_cli
from course.classroom.samples import make_submission
from course.grading import sandbox
from course.grading.sandbox import UID_BASE, Limits, Sandbox, processes_of

STEP = "01-programming-basics"
ATTACKS = Path(__file__).resolve().parents[1] / "files" / "attacks"
CAN_SANDBOX, WHY = sandbox.available()
needs_sandbox = pytest.mark.skipif(not CAN_SANDBOX, reason=WHY)


def _run(box: Sandbox, code: str, **kwargs) -> subprocess.CompletedProcess:
    """Run Python ``code`` in ``box``; its last line of output is JSON."""
    return subprocess.run(box.command([sys.executable, "-c", textwrap.dedent(code)]), cwd=box.work,
                          env=box.environment(os.environ), capture_output=True, text=True, timeout=300, **kwargs)


def _sandbox_processes() -> list[int]:
    """Every process running as a grading uid, but those of a grader still at work that is not this test's.

    A grading uid is ``UID_BASE + 16 * (grader's pid) + n``. With two xdist workers the other worker may be
    grading in its own sandboxes right now: those belong to a live grader that is no descendant of this test.
    A process whose grader is gone outlived its grading, whichever test started it: that is always counted.
    """
    import psutil

    me = psutil.Process()
    ours = {me.pid} | {child.pid for child in me.children(recursive=True)}
    found = []
    for entry in Path("/proc").iterdir():
        try:
            status = (entry / "status").read_text() if entry.name.isdigit() else ""
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("Uid:") and UID_BASE <= (uid := int(line.split()[1])) < UID_BASE + 2 ** 27:
                grader = (uid - UID_BASE) // 16
                if grader not in ours and psutil.pid_exists(grader):
                    continue  # another test's grading, still running
                found.append(int(entry.name))
    return found


# -- settings (no namespaces needed) ------------------------------------------------------------------------

def test_the_kernels_environment_keeps_no_secret_and_caches_no_bytecode(tmp_path):
    """A grading kernel importing the course's modules must not make __pycache__ folders beside them (the
    guard reports a write outside the submission's folder: every honest submission was flagged)."""
    env = Sandbox([tmp_path], tmp_path / "inside").environment(
        {"PATH": "/usr/bin", "DATABASE_URL": "postgresql://secret", "GITHUB_TOKEN": "x"})
    assert env["PYTHONDONTWRITEBYTECODE"] == "1" and env["HOME"] == "/tmp"
    assert "DATABASE_URL" not in env and "GITHUB_TOKEN" not in env


def test_limits_come_from_the_environment_then_the_config(monkeypatch):
    from traitlets.config import Config

    config = Config()
    assert sandbox.limits_from(config) == Limits()
    config.Sandbox.memory = "512M"
    config.Sandbox.processes = 64
    assert sandbox.limits_from(config) == Limits(memory=512 * 1024 ** 2, processes=64)
    monkeypatch.setenv("COURSE_SANDBOX_MEMORY", "1.5GiB")
    monkeypatch.setenv("COURSE_SANDBOX_WALL_TIME", "60")
    assert sandbox.limits_from(config) == Limits(memory=int(1.5 * 1024 ** 3), processes=64, wall_time=60)
    monkeypatch.setenv("COURSE_SANDBOX_MEMORY", "lots")
    with pytest.raises(ValueError, match="not a size"):
        sandbox.limits_from(config)


def test_the_flag_wins_over_the_environment_which_wins_over_the_config(monkeypatch):
    from traitlets.config import Config

    config = Config()
    monkeypatch.delenv("COURSE_SANDBOX", raising=False)
    assert sandbox.wanted(config) is True
    config.Sandbox.enabled = False
    assert sandbox.wanted(config) is False
    monkeypatch.setenv("COURSE_SANDBOX", "on")
    assert sandbox.wanted(config) is True
    monkeypatch.setenv("COURSE_SANDBOX", "off")
    assert sandbox.wanted(config) is False
    assert sandbox.wanted(config, requested=True) is True


def test_course_grade_says_once_what_is_not_isolated(monkeypatch, tmp_path, capsys):
    from course.grading import grader
    from course.grading.nbconfig import nbgrader_config

    monkeypatch.delenv("COURSE_SANDBOX", raising=False)
    monkeypatch.setattr(sandbox, "available", lambda cache=None: (False, "no namespaces here"))
    monkeypatch.setattr(sandbox, "_said", set())
    config = nbgrader_config(tmp_path)
    assert grader._sandbox(config, tmp_path, STEP, tmp_path) is None
    assert grader._sandbox(config, tmp_path, STEP, tmp_path) is None
    err = capsys.readouterr().err
    assert err.count("no namespaces here") == 1 and "your own rights" in err


def test_autograde_refuses_to_run_unsandboxed_unless_told(monkeypatch, tmp_path):
    room = classroom.init(tmp_path / "class")
    monkeypatch.delenv("COURSE_SANDBOX", raising=False)
    monkeypatch.setattr(sandbox, "available", lambda cache=None: (False, "no namespaces here"))
    with pytest.raises(classroom.ClassroomError, match="--no-sandbox"):
        autograde(room, STEP)


# -- one sandbox, real namespaces -----------------------------------------------------------------------------

@pytest.mark.service
@needs_sandbox
def test_the_sandbox_sees_only_its_copy_as_an_unprivileged_uid_on_loopback(tmp_path):
    secret = tmp_path / "class" / "gradebook.db"
    secret.parent.mkdir()
    secret.write_text("gradebook secret")
    mine = tmp_path / "class" / "submitted" / "ann"
    mine.mkdir(parents=True)
    (mine / "data.txt").write_text("my data")
    inside = tmp_path / "class" / "autograded" / "ann" / STEP
    box = Sandbox([mine], inside)
    code = f"""
        import errno, json, os, socket
        import course
        result = {{"uid": os.getuid(), "groups": os.getgroups(), "cwd": os.getcwd(), "data": open("data.txt").read()}}
        result["caps"] = [l.split()[1] for l in open("/proc/self/status") if l.startswith("CapEff")][0]
        result["pids"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
        def reads(path):
            try:
                open(path).read()
                return True
            except OSError:
                return False
        result["reads"] = {{p: reads(p) for p in [{str(secret)!r}, "../../../gradebook.db", "/etc/shadow",
                           os.path.join(os.path.dirname(os.path.dirname(course.__file__)), "pyproject.toml")]}}
        result["top"] = sorted(os.listdir("/"))
        result["root"] = sorted(os.listdir("/root")) if os.path.isdir("/root") else None
        open("written.txt", "w").write("kept")
        result["written"] = open("written.txt").read()
        open("/tmp/private.txt", "w").write("gone")
        try:
            open("/usr/course-sandbox-test", "w")
            result["usr_writable"] = True
        except OSError:
            result["usr_writable"] = False
        s = socket.socket()
        try:
            s.connect(("10.255.255.1", 80))
            result["net"] = "connected"
        except OSError as error:
            result["net"] = errno.errorcode.get(error.errno, str(error))
        server = socket.create_server(("127.0.0.1", 0))
        socket.create_connection(server.getsockname(), timeout=5).close()
        result["loopback"] = True
        print(json.dumps(result))
    """
    try:
        done = _run(box, code)
        assert done.returncode == 0, done.stderr
        seen = json.loads(done.stdout.strip().splitlines()[-1])
        assert (done.stdout.count("gradebook secret"), seen["uid"]) == (0, box.uid)
        assert seen["uid"] >= UID_BASE and seen["groups"] == [] and int(seen["caps"], 16) == 0
        assert seen["cwd"] == str(inside) and seen["data"] == "my data"
        assert seen["reads"] == dict.fromkeys(seen["reads"], False)  # not the class, not the checkout
        assert "home" not in seen["top"]
        assert seen["root"] in (None, [], [".pyenv"])  # at most the path down to the Python install
        assert not seen["usr_writable"] and seen["net"] == "ENETUNREACH" and seen["loopback"]
        assert len(seen["pids"]) <= 4  # pid 1, the watchdog and its sleep, and this process: nothing else
        assert seen["written"] == "kept"  # its own copy is writable, in memory: nothing reaches the disk
        assert not (inside / "written.txt").exists() and not (box.work / "written.txt").exists()
        assert not Path("/tmp/private.txt").exists()
    finally:
        base = box.base
        box.close()
    assert not base.exists()


@pytest.mark.service
@needs_sandbox
def test_the_same_code_outside_reads_the_secret(tmp_path):
    """The attack of the test above, without the sandbox: it does read the file (so that test can fail)."""
    secret = tmp_path / "gradebook.db"
    secret.write_text("gradebook secret")
    done = subprocess.run([sys.executable, "-c", f"print(open({str(secret)!r}).read())"], capture_output=True,
                          text=True, timeout=120)
    assert "gradebook secret" in done.stdout


@pytest.mark.service
@needs_sandbox
def test_memory_processes_and_wall_time_are_limited_and_nothing_survives(tmp_path):
    box = Sandbox([], tmp_path / "inside", Limits(memory=1024 ** 3, processes=40, wall_time=3))
    code = """
        import json, os, time
        result = {}
        try:
            hog = bytearray(2 * 1024 ** 3)
            result["memory"] = "allocated"
        except MemoryError:
            result["memory"] = "MemoryError"
        if os.fork() == 0:  # a detached daemon
            os.setsid()
            if os.fork() == 0:
                time.sleep(3600)
            os._exit(0)
        print(json.dumps(result), flush=True)
    """
    bomb = (ATTACKS / "fork_bomb.py").read_text(encoding="utf-8")
    try:
        done = _run(box, textwrap.dedent(code) + bomb + "\nimport sys, time\nsys.stdout.flush()\ntime.sleep(3600)\n")
        assert done.stdout.strip(), done.stderr
        seen = json.loads(done.stdout.strip().splitlines()[0])
        assert seen["memory"] == "MemoryError"
        refused = re.search(r"DENIED fork refused after (\d+) children: BlockingIOError", done.stdout)
        assert refused and int(refused.group(1)) < 40, done.stdout  # the wall time below ended the sleep
        assert done.returncode != 0 and box.wall_time_exceeded()
        assert processes_of(box.uid) == []  # the pid namespace took every child, the daemon too
    finally:
        box.close()


# -- a class of attackers, graded through `course classroom autograde` ---------------------------------------

LATER = "# ---- in a later answer cell ----"  # an attack's part after this line runs in the last answer cell


def _attacker(root: Path, student: str, attack: Path) -> None:
    """A correct submission whose first answer cell runs ``attack`` first (its part after :data:`LATER`, if
    any, at the end of the last answer cell: after the test cells before it)."""
    notebook = make_submission(root, student, STEP, "correct", seed=3)
    nb = nbformat.read(notebook, as_version=4)
    answers = [c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("solution") and
               c.cell_type == "code"]
    first, _, later = attack.read_text(encoding="utf-8").partition(LATER)
    answers[0].source = first + "\n\n" + answers[0].source
    if later:
        answers[-1].source += "\n\n" + later
    nbformat.write(nb, notebook)


def _hidden_lines() -> list[str]:
    from course.platform import paths

    release = nbformat.read(paths.release_path(STEP), as_version=4)
    shown = "\n".join(c.source for c in release.cells)
    lines = []
    for cell in nbformat.read(paths.solution_path(STEP), as_version=4).cells:
        for block in re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", cell.source, re.S):
            lines += [line.strip() for line in block.splitlines() if len(line.strip()) > 25]
    return [line for line in lines if line not in shown]


def _cells(db: Path) -> dict:
    """(student, cell) -> (automatic score, manual score, needs manual grade), through nbgrader's API."""
    from nbgrader.api import Gradebook

    with classroom.quiet(), Gradebook(f"sqlite:///{db}") as gradebook:
        return {(submission.student_id, grade.name): (grade.auto_score, grade.manual_score, grade.needs_manual_grade)
                for submission in gradebook.find_assignment(STEP).submissions
                for notebook in submission.notebooks for grade in notebook.grades}


def _outputs(notebook: Path) -> str:
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    return "\n".join(json.dumps(cell.get("outputs", [])) for cell in nb["cells"])


@pytest.mark.slow
@pytest.mark.service
@needs_sandbox
def test_attack_submissions_gain_nothing_read_nothing_and_leave_nothing(tmp_path, monkeypatch, request):
    monkeypatch.delenv("COURSE_SANDBOX", raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgresql://teacher:password-of-the-teacher@db.example.org/class")
    marker = uuid.uuid4().hex
    home_secret = Path.home() / f".course-attack-secret-{marker}"
    home_secret.write_text(f"home-secret-{marker}")
    request.addfinalizer(lambda: home_secret.unlink(missing_ok=True))
    room = classroom.init(tmp_path / "class")
    classroom.release(room, STEP)
    roster = tmp_path / "roster.csv"
    roster.write_text(f"id,email\nann,ann-{marker}@example.org\n", encoding="utf-8")
    classroom.add_roster(room, roster)
    plain = tmp_path / "plain"  # the same honest students for plain nbgrader
    shutil.copytree(room.root, plain)
    classroom.init(plain)
    for root in (room.root, plain):
        victim = make_submission(root, "ann", STEP, "correct")
        nb = nbformat.read(victim, as_version=4)
        nb.cells.append(nbformat.v4.new_markdown_cell(f"ann's private note {marker}"))
        nbformat.write(nb, victim)
        make_submission(root, "bob", STEP, "wrong", seed=5)
    attacks = sorted(ATTACKS.glob("*.py"))
    assert len(attacks) >= 7
    for attack in attacks:
        _attacker(room.root, attack.stem.replace("_", "-"), attack)
    victim = room.root / "submitted" / "ann" / STEP / f"{STEP}.ipynb"
    before = hashlib.sha256(victim.read_bytes()).hexdigest()

    result = CliRunner().invoke(classroom_cli, ["autograde", "01", "--course-dir", str(room.root), "--jobs", "2"])
    assert "mount/pid/net/ipc/uts namespaces" in result.output, result.output
    subprocess.run([str(Path(sys.executable).parent / "nbgrader"), "autograde", STEP], cwd=plain,
                   capture_output=True, timeout=900, check=True)

    # Nothing it started survives grading; nothing was left in the machine's /tmp.
    assert _sandbox_processes() == []
    assert not Path("/tmp/course-attack-loot.txt").exists() and not list(Path("/tmp").glob("course-attack-daemon-*"))
    # The honest students get exactly what plain nbgrader gives them, and the attackers forged nothing.
    graded, expected = _cells(room.root / "gradebook.db"), _cells(plain / "gradebook.db")
    honest = {key: value for key, value in graded.items() if key[0] in ("ann", "bob")}
    assert honest == expected and len(expected) > 10
    assert hashlib.sha256(victim.read_bytes()).hexdigest() == before
    assert all(manual is None for (_student, _cell), (_auto, manual, _flag) in graded.items())
    with sqlite3.connect(room.root / "gradebook.db") as connection:
        assert connection.execute("SELECT min(max_score) FROM grade_cells").fetchone()[0] > 0  # not zeroed
    # Every attack ran, every attempt was refused, and no secret reached any output.
    secrets = [marker, "password-of-the-teacher", *_hidden_lines()]
    for attack in attacks:
        student = attack.stem.replace("_", "-")
        text = _outputs(room.root / "autograded" / student / STEP / f"{STEP}.ipynb")
        assert f"ATTACK-RAN {attack.stem}" in text, (student, text[-2000:])
        assert "LEAK" not in text, (student, [line for line in text.split("\\n") if "LEAK" in line][:3])
        assert not [secret for secret in secrets if secret in text], student
    network = _outputs(room.root / "autograded" / "network" / STEP / f"{STEP}.ipynb")
    assert "ENETUNREACH" in network and "LOOPBACK-OK" in network
    fork_bomb = _outputs(room.root / "autograded" / "fork-bomb" / STEP / f"{STEP}.ipynb")
    assert "fork refused after" in fork_bomb
    scores = {line.split()[0]: line.split()[1] for line in result.output.splitlines()
              if line.split() and line.split()[0] in ("ann", "read-secrets", "overwrite-classmate")}
    assert scores == {"ann": "20/20", "read-secrets": "20/20", "overwrite-classmate": "20/20"}, result.output
    peek = _outputs(room.root / "autograded" / "peek-hidden-tests" / STEP / f"{STEP}.ipynb")
    assert "things seen" in peek and "PEEK In |" in peek  # it looked (and, above, found no hidden line)


@pytest.mark.service
@needs_sandbox
def test_the_learners_mode_drops_every_capability_in_a_user_namespace(tmp_path):
    """What `course grade` uses without root: a user namespace, the learner's own uid, no capabilities (run
    here as root, the same commands)."""
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    box = Sandbox([], tmp_path / "inside")
    box.mode, box.uid = "userns", None
    code = f"""
        import json, os, socket
        caps = [line.split()[1] for line in open("/proc/self/status") if line.startswith("CapEff")][0]
        socket.create_server(("127.0.0.1", 0)).close()
        print(json.dumps({{"caps": caps, "secret": os.path.exists({str(secret)!r}), "cwd": os.getcwd()}}))
    """
    try:
        done = _run(box, code)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout.strip().splitlines()[-1]) == {
            "caps": "0000000000000000", "secret": False, "cwd": str(tmp_path / "inside")}
    finally:
        box.close()


@pytest.mark.service
@needs_sandbox
def test_a_sandbox_dies_with_the_grading_process_that_started_it(tmp_path, request):
    grader = textwrap.dedent(f"""
        import subprocess, sys, time
        from pathlib import Path
        from course.grading.sandbox import Sandbox
        box = Sandbox([], Path({str(tmp_path / "inside")!r}))
        box.prepare()
        subprocess.Popen(box.command(["sleep", "600"]), cwd=box.work, start_new_session=True)
        print(box.uid, box.base, *box.cgroups, flush=True)
        time.sleep(600)
    """)
    process = subprocess.Popen([sys.executable, "-c", grader], stdout=subprocess.PIPE, text=True)
    uid, *leftovers = process.stdout.readline().split()
    uid = int(uid)
    for leftover in reversed(leftovers):  # a killed grader cleans nothing up: this test does
        request.addfinalizer(lambda path=Path(leftover): shutil.rmtree(path, ignore_errors=True)
                             if path.is_relative_to(Path(tempfile.gettempdir())) else path.rmdir())
    for _ in range(600):  # the sandbox's sleep starts
        if processes_of(uid):
            break
        subprocess.run(["sleep", "0.1"])
    assert processes_of(uid)
    process.kill()  # as a crash would: no clean-up runs
    process.wait()
    for _ in range(600):
        if not processes_of(uid):
            break
        subprocess.run(["sleep", "0.1"])
    assert processes_of(uid) == []
