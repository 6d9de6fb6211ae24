"""course classroom on step 01: class folder, roster, the one-machine workflow through nbgrader's exchange,
parallel autograding identical to `nbgrader autograde` (SQLite and PostgreSQL), feedback, export, hub config."""

from __future__ import annotations

import csv
import html
import os
import re
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
from click.testing import CliRunner
from traitlets.config import Config

from course.classroom import core as classroom
from course.classroom.autograde import autograde
from course.classroom.cli import classroom as classroom_cli
from course.classroom.samples import make_submission
from course.platform import paths

STEP = "01-programming-basics"
TIMEOUT = 3  # seconds per cell while grading: the looping submission fails its part fast
KINDS = {"ann": "correct", "bob": "wrong", "cat": "blank", "dan": "tampered", "eve": "invalid", "fay": "timeout",
         "gus": "wrong"}


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(scope="module")
def released(tmp_path_factory) -> Path:
    """A class folder with step 01 released, made once; tests work on copies (see _copy)."""
    root = tmp_path_factory.mktemp("released") / "class"
    room = classroom.init(root, instructors=("teacher",))
    classroom.release(room, STEP)
    return root


def _copy(released: Path, dest: Path) -> classroom.Classroom:
    shutil.copytree(released, dest)
    return classroom.init(dest)  # re-points its config (root, gradebook, exchange) at the copy


def _cells(db_url: str) -> dict:
    """Everything autograding writes, per student and cell, read through nbgrader's API."""
    from nbgrader.api import Gradebook

    result = {}
    with classroom.quiet(), Gradebook(db_url) as gradebook:
        for submission in gradebook.find_assignment(STEP).submissions:
            notebooks = {}
            for notebook in submission.notebooks:
                notebooks[notebook.name] = {
                    "late_submission_penalty": notebook.late_submission_penalty,
                    "grades": {g.name: (g.auto_score, g.manual_score, g.needs_manual_grade) for g in notebook.grades},
                    "comments": {c.name: c.auto_comment for c in notebook.comments},
                }
            result[submission.student_id] = {"timestamp": submission.timestamp, "notebooks": notebooks}
    return result


def _hidden_lines(stem: str) -> list[str]:
    """Lines of the hidden tests that appear nowhere in the students' release."""
    release = "\n".join(cell.source for cell in nbformat.read(paths.release_path(stem), as_version=4).cells)
    lines = []
    for cell in nbformat.read(paths.solution_path(stem), as_version=4).cells:
        for block in re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", cell.source, re.S):
            lines += [line.strip() for line in block.splitlines() if len(line.strip()) > 25]
    assert lines, "step 01 has hidden tests"
    return [line for line in lines if line not in release]


# -- the class folder --------------------------------------------------------------------------------------

def test_init_makes_a_private_class_folder_with_a_safe_exchange(tmp_path):
    room = classroom.init(tmp_path / "class", course_id="be-2025", instructors=("teacher",))
    root = room.root
    assert _mode(root) == 0o711  # the exchange is inside: students pass through, cannot list
    assert _mode(root / "exchange") == 0o1777
    for private in classroom.PRIVATE_FOLDERS:
        assert _mode(root / private) == 0o700
    for private in ("gradebook.db", "nbgrader_config.py", ".nbgrader.log", "jupyterhub_config.py"):
        assert _mode(root / private) == 0o600, private
    reopened = classroom.Classroom.open(root)
    assert reopened.course_id == "be-2025"
    assert reopened.config.CourseDirectory.source_directory == str(paths.solutions_dir())
    assert reopened.config.Execute.timeout == 30  # the course-wide settings are loaded first
    assert "SafeExecute" in str(reopened.config.Autograde.autograde_preprocessors)
    hub = (root / "jupyterhub_config.py").read_text()
    compile(hub, "jupyterhub_config.py", "exec")
    assert "'teacher'" in hub and str(root) in hub


def test_init_with_an_exchange_outside_keeps_the_folder_closed(tmp_path):
    room = classroom.init(tmp_path / "class", exchange=tmp_path / "srv" / "exchange")
    assert _mode(room.root) == 0o700
    assert _mode(tmp_path / "srv" / "exchange") == 0o1777


def test_init_again_keeps_earlier_choices_and_a_copy_points_at_itself(tmp_path):
    outside = tmp_path / "srv" / "exchange"
    classroom.init(tmp_path / "class", course_id="be-2025", exchange=outside, instructors=("teacher",))
    again = classroom.init(tmp_path / "class")
    assert (again.course_id, again.exchange) == ("be-2025", outside)
    assert "'teacher'" in (again.root / "jupyterhub_config.py").read_text()
    first = classroom.init(tmp_path / "inside")
    shutil.copytree(first.root, tmp_path / "copy")
    copy = classroom.init(tmp_path / "copy")
    assert copy.db_url == f"sqlite:///{tmp_path / 'copy' / 'gradebook.db'}"
    assert copy.exchange == tmp_path / "copy" / "exchange"
    assert _mode(copy.root / classroom.SETTINGS_NAME) == 0o600


def test_cli_init_and_roster(tmp_path):
    runner = CliRunner()
    result = runner.invoke(classroom_cli, ["init", str(tmp_path / "class"), "--instructor", "teacher"])
    assert result.exit_code == 0, result.output
    assert "exchange:" in result.output and "mode 1777" in result.output
    roster = tmp_path / "roster.csv"
    roster.write_text("id,first_name,last_name,email\nada,Ada,Lovelace,ada@example.org\n", encoding="utf-8")
    course_dir = ["--course-dir", str(tmp_path / "class")]
    result = runner.invoke(classroom_cli, ["roster", "add", str(roster), *course_dir])
    assert (result.exit_code, result.output.strip()) == (0, "roster: 1 added, 0 updated")
    result = runner.invoke(classroom_cli, ["roster", "list", *course_dir])
    assert re.match(r"ada\s+Ada Lovelace\s+ada@example.org", result.output)
    roster.write_text("id\nnot a login\n", encoding="utf-8")
    result = runner.invoke(classroom_cli, ["roster", "add", str(roster), *course_dir])
    assert result.exit_code == 1 and "line 2" in result.output


def test_open_a_folder_that_is_not_a_class_says_what_to_do(tmp_path):
    with pytest.raises(classroom.ClassroomError, match="classroom init"):
        classroom.Classroom.open(tmp_path)
    result = CliRunner().invoke(classroom_cli, ["collect", "01", "--course-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "is not a classroom folder" in result.output


def test_roster_imports_updates_and_refuses_bad_rows(tmp_path):
    room = classroom.init(tmp_path / "class")
    roster = tmp_path / "roster.csv"
    roster.write_text('Username,First_Name,Last_Name,Email\nada,Ada,"Lovelace, Countess",ada@example.org\n'
                      "bob,Bob,,\n", encoding="utf-8")
    assert classroom.add_roster(room, roster) == (2, 0)
    roster.write_text("id,email,lms_user_id\nada,ada@uni.example,9001\ncy,,\n", encoding="utf-8")
    assert classroom.add_roster(room, roster) == (1, 1)
    students = {s["id"]: s for s in classroom.roster(room)}
    assert sorted(students) == ["ada", "bob", "cy"]
    assert students["ada"]["last_name"] == "Lovelace, Countess"
    assert (students["ada"]["email"], students["ada"]["lms_user_id"]) == ("ada@uni.example", "9001")
    for bad, message in [("id\nok\nnot a login\n", "line 3"), ("id\ndup\ndup\n", "same id"),
                         ("name\nada\n", "no id column")]:
        roster.write_text(bad, encoding="utf-8")
        with pytest.raises(classroom.ClassroomError, match=message):
            classroom.add_roster(room, roster)
    assert len(classroom.roster(room)) == 3  # nothing of a refused file was imported


# -- the one-machine workflow, through nbgrader's exchange -------------------------------------------------

def _student_app(room, home: Path, name: str):
    from nbgrader.auth import Authenticator
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.exchange import ExchangeFactory

    config = Config()
    config.CourseDirectory.course_id = room.course_id
    config.CourseDirectory.root = str(home)
    config.Exchange.root = str(room.exchange)
    config.Exchange.assignment_dir = str(home)
    coursedir = CourseDirectory(config=config)
    coursedir.assignment_id = STEP
    return getattr(ExchangeFactory(config=config), name)(
        coursedir=coursedir, authenticator=Authenticator(config=config), config=config)


@pytest.mark.slow
def test_release_fetch_submit_collect_autograde_feedback_export(released, tmp_path):
    room = _copy(released, tmp_path / "class")
    from nbgrader.utils import get_username

    student = get_username()  # nbgrader submits as the OS user
    home = tmp_path / "home"
    home.mkdir()
    _student_app(room, home, "FetchAssignment").start()
    fetched = home / STEP / f"{STEP}.ipynb"
    solved = make_submission(tmp_path / "scratch", "x", STEP, "correct", release=fetched)
    shutil.copyfile(solved, fetched)
    _student_app(room, home, "Submit").start()
    assert _mode(room.exchange / room.course_id / "inbound") & 0o777 == 0o733  # drop-only for students
    make_submission(room.root, "by-hand", STEP, "wrong")  # placed by hand, graded too
    assert classroom.collect(room, STEP) == (sorted([student, "by-hand"]), [])

    report = autograde(room, STEP, jobs=2)
    scores = {s.student: (s.score, s.max_score, s.status) for s in report.students}
    assert scores[student] == (20, 20, "graded")
    assert scores["by-hand"][2] == "graded" and 0 < scores["by-hand"][0] < 20
    again = autograde(room, STEP, jobs=2)
    assert {s.status for s in again.students} == {"skipped"}  # nbgrader's rule: nothing newer

    assert classroom.feedback(room, STEP) == ([student], ["by-hand"], {})  # by hand: no exchange secret
    _student_app(room, home, "FetchFeedback").start()
    pages = list((home / STEP / "feedback").rglob("*.html"))
    assert len(pages) == 1
    text = html.unescape(pages[0].read_text(encoding="utf-8"))
    assert "20.0 / 20.0" in text or "20 / 20" in text
    for page in [*pages, *(room.root / "feedback").rglob("*.html")]:
        content = html.unescape(page.read_text(encoding="utf-8"))
        leaked = [line for line in _hidden_lines(STEP) if line in content]
        assert not leaked, f"{page} shows hidden test lines: {leaked[:2]}"

    long_path, wide_path, failed = classroom.export(room)
    assert failed == {}
    rows = list(csv.DictReader(long_path.open()))
    assert {(r["student_id"], float(r["score"]), float(r["max_score"])) for r in rows} >= {(student, 20.0, 20.0)}
    wide = {r["student_id"]: r for r in csv.DictReader(wide_path.open())}
    assert float(wide[student][f"{STEP} (20)"]) == 20.0
    assert _mode(long_path) == 0o600


def _answer_with_text(room, student: str, text: str) -> Path:
    """A correct submission whose first answer cell ends with ``text`` (a comment, say)."""
    notebook = make_submission(room.root, student, STEP, "correct")
    nb = nbformat.read(notebook, as_version=4)
    cell = next(c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("solution"))
    cell.source += f"\n{text}\n"
    nbformat.write(nb, notebook)
    return notebook


@pytest.mark.slow
def test_one_students_text_never_blocks_the_class(released, tmp_path, monkeypatch):
    room = _copy(released, tmp_path / "class")
    make_submission(room.root, "ann", STEP, "correct")
    _answer_with_text(room, "bob", "# ### BEGIN HIDDEN TESTS  (my notes: the tests I guessed)")
    make_submission(room.root, "cy", STEP, "wrong")
    report = {s.student: s for s in autograde(room, STEP).students}
    assert (report["ann"].score, report["bob"].score) == (20, 20)  # a comment is no reason to lose marks

    released_to, kept, failed = classroom.feedback(room, STEP)
    assert (released_to, kept, list(failed)) == ([], ["ann", "cy"], ["bob"])
    assert "BEGIN HIDDEN TESTS" in failed["bob"]
    for student in ("ann", "cy"):
        assert (room.root / "feedback" / student / STEP / f"{STEP}.html").exists()
    result = CliRunner().invoke(classroom_cli, ["feedback", "01", "--course-dir", str(room.root)])
    assert result.exit_code == 1
    assert re.search(r"^bob: feedback not made: .*BEGIN HIDDEN TESTS", result.output, re.M), result.output
    assert "1 student(s) not done: bob; the others were" in result.output

    real_rows = classroom._student_rows

    def broken_for_cy(room, gradebook, student, assignments):
        if student.id == "cy":
            raise ValueError("a damaged gradebook row")
        return real_rows(room, gradebook, student, assignments)

    monkeypatch.setattr(classroom, "_student_rows", broken_for_cy)
    long_path, _, failed = classroom.export(room)
    assert failed == {"cy": "not exported: ValueError: a damaged gradebook row"}
    assert sorted(r["student_id"] for r in csv.DictReader(long_path.open())) == ["ann", "bob"]
    result = CliRunner().invoke(classroom_cli, ["export", "--course-dir", str(room.root)])
    assert result.exit_code == 1 and "cy: not exported" in result.output and "grades-lms.csv" in result.output


def test_late_penalty_rules_are_spelled_one_way_and_computed_per_started_period():
    assert [classroom.late_penalty_rule(t) for t in ("None", "zero", "10 % / day", "2.50%/hour", "5% per day")] \
        == ["none", "zero", "10%/day", "2.5%/hour", "5%/day"]
    for bad in ("10", "10%/week", "0%/day", "150%/day", "-5%/day", "ten percent"):
        with pytest.raises(classroom.ClassroomError, match="10%/day"):
            classroom.late_penalty_rule(bad)
    day = 86400
    assert classroom.penalty_for("10%/day", 20, 0) is None  # on time
    assert classroom.penalty_for("10%/day", 20, 1) == 2  # one second late is a started day
    assert classroom.penalty_for("10%/day", 20, 2 * day) == 4
    assert classroom.penalty_for("10%/day", 20, 2 * day + 1) == pytest.approx(6)
    assert classroom.penalty_for("10%/day", 20, 30 * day) == 20  # never more than the score
    assert classroom.penalty_for("5%/hour", 10, 3601) == 1
    assert classroom.penalty_for("zero", 17, 5) == 17
    assert classroom.penalty_for("none", 17, day) is None


@pytest.mark.slow
def test_late_penalty_set_at_init_applied_shown_and_changeable(released, tmp_path):
    shutil.copytree(released, tmp_path / "class")
    room = classroom.init(tmp_path / "class", late_penalty="10%/day")
    with room.gradebook() as gradebook:
        gradebook.update_or_create_assignment(STEP, duedate="2025-03-01 12:00:00 UTC")
        gradebook.update_or_create_student("cy")
        gradebook.update_or_create_submission(STEP, "cy")
        gradebook.grant_extension(STEP, "cy", hours=1)
    make_submission(room.root, "ann", STEP, "correct")  # 10:00, on time
    make_submission(room.root, "bob", STEP, "correct", timestamp=datetime(2025, 3, 3, 13, tzinfo=UTC))  # 2d 1h
    make_submission(room.root, "cy", STEP, "correct", timestamp=datetime(2025, 3, 1, 12, 30, tzinfo=UTC))
    make_submission(room.root, "dee", STEP, "correct", timestamp=datetime(2025, 3, 1, 12, 30, tzinfo=UTC))
    runner = CliRunner()
    result = runner.invoke(classroom_cli, ["autograde", "01", "--course-dir", str(room.root), "--jobs", "2"])
    assert result.exit_code == 0, result.output
    assert re.search(r"^ann\s+20/20\s+graded", result.output, re.M), result.output
    assert re.search(r"^bob\s+20/20\s+-6 = 14/20\s+graded", result.output, re.M), result.output
    assert re.search(r"^cy\s+20/20\s+graded", result.output, re.M), result.output  # within the extension
    assert re.search(r"^dee\s+20/20\s+-2 = 18/20\s+graded", result.output, re.M), result.output
    long_path, _, _ = classroom.export(room)
    rows = {r["student_id"]: r for r in csv.DictReader(long_path.open())}
    assert [(float(rows[s]["raw_score"]), float(rows[s]["late_submission_penalty"]), float(rows[s]["score"]))
            for s in ("ann", "bob", "cy", "dee")] == [(20, 0, 20), (20, 6, 14), (20, 0, 20), (20, 2, 18)]

    result = runner.invoke(classroom_cli, ["init", str(room.root), "--late-penalty", "zero"])
    assert result.exit_code == 0 and "late penalty: zero" in result.output
    again = autograde(classroom.Classroom.open(room.root), STEP, force=True, students=["bob", "ann"])
    assert [(s.student, s.score, s.late_penalty, s.final_score) for s in again.students] == [
        ("bob", 20, 20, 0), ("ann", 20, 0, 20)]
    result = runner.invoke(classroom_cli, ["init", str(room.root), "--late-penalty", "10%/week"])
    assert result.exit_code == 1 and "10%/day" in result.output
    assert classroom.Classroom.open(room.root).config.LatePenalty.rule == "zero"  # a refused rule changes nothing


# -- parallel autograding: identical to nbgrader, no corruption ---------------------------------------------

def _class_of_kinds(room, kinds=KINDS) -> None:
    for student, kind in kinds.items():
        make_submission(room.root, student, STEP, kind, seed=7)


@pytest.mark.slow
def test_parallel_autograde_matches_sequential_nbgrader_cli(released, tmp_path):
    sequential = _copy(released, tmp_path / "sequential")
    parallel = _copy(released, tmp_path / "parallel")
    for room in (sequential, parallel):
        _class_of_kinds(room)
    done = subprocess.run(
        [str(Path(sys.executable).parent / "nbgrader"), "autograde", STEP, f"--Execute.timeout={TIMEOUT}"],
        cwd=sequential.root, capture_output=True, text=True, timeout=600)
    assert done.returncode == 1, done.stderr[-2000:]  # nbgrader reports the invalid notebook, grades the rest
    progress = []
    report = autograde(parallel, STEP, jobs=2, timeout=TIMEOUT, progress=lambda *a: progress.append(a[:2]))

    expected, got = _cells(sequential.db_url), _cells(parallel.db_url)
    assert sorted(got) == sorted(KINDS)
    assert got == expected
    for room in (sequential, parallel):
        with sqlite3.connect(room.root / "gradebook.db") as db:
            assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert sorted(progress) == [(n, len(KINDS)) for n in range(1, len(KINDS) + 1)]

    by_student = {s.student: s for s in report.students}
    assert (by_student["ann"].score, by_student["cat"].score, by_student["dan"].score) == (20, 0, 20)
    assert by_student["eve"].status == "not graded"
    assert any("not valid notebook JSON" in note for note in by_student["eve"].notes)
    assert any("timed out after 3 s" in note for note in by_student["fay"].notes)
    tampered = " ".join(by_student["dan"].notes)
    assert "was deleted" in tampered and "was edited" in tampered
    assert {s.status for s in report.students if s.student != "eve"} == {"graded"}
    assert not (parallel.root / "autograded" / "eve").exists() or not any(
        (parallel.root / "autograded" / "eve").rglob("*.ipynb"))


@pytest.mark.slow
def test_regrade_of_a_newer_submission_keeps_manual_grades(released, tmp_path):
    room = _copy(released, tmp_path / "class")
    make_submission(room.root, "ann", STEP, "blank")
    autograde(room, STEP)
    with room.gradebook() as gradebook:
        grade = gradebook.find_grade("parse_log_line_fields", STEP, STEP, "ann")
        grade.manual_score = 1.5
        gradebook.db.commit()
    make_submission(room.root, "ann", STEP, "correct", timestamp=datetime(2025, 3, 2, tzinfo=UTC))
    (report_student,) = autograde(room, STEP, jobs=2).students
    assert report_student.status == "graded"
    with room.gradebook() as gradebook:
        grade = gradebook.find_grade("parse_log_line_fields", STEP, STEP, "ann")
        assert (grade.auto_score, grade.manual_score, grade.needs_manual_grade) == (2.0, 1.5, True)
        other = gradebook.find_grade("paginate_bad_arguments", STEP, STEP, "ann")
        assert (other.auto_score, other.needs_manual_grade) == (1.0, False)
        assert gradebook.find_submission(STEP, "ann").timestamp.day == 2
    assert report_student.score == 19.5  # the grader's 1.5 replaces the automatic 2 on that part


@pytest.mark.slow
@pytest.mark.service
def test_parallel_autograde_on_postgresql_matches_sqlite(tmp_path):
    from sqlalchemy import create_engine, make_url, text

    from course.components import services

    server = services.sqlalchemy_url()
    database = f"classroom_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{database}"'))
    url = make_url(server).set(database=database).render_as_string(hide_password=False)
    try:
        kinds = {"ann": "correct", "bob": "wrong", "cat": "blank", "eve": "invalid"}
        rooms = [classroom.init(tmp_path / "pg", db_url=url), classroom.init(tmp_path / "sqlite")]
        for room in rooms:
            classroom.release(room, STEP)
            _class_of_kinds(room, kinds)
            autograde(room, STEP, jobs=2)
        on_postgres, on_sqlite = _cells(rooms[0].db_url), _cells(rooms[1].db_url)
        assert sorted(on_postgres) == sorted(kinds)
        assert on_postgres == on_sqlite
        assert not (tmp_path / "pg" / "gradebook.db").exists()
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()
        services.stop_all()


# -- command line and JupyterHub configuration -------------------------------------------------------------

@pytest.mark.slow
def test_cli_release_and_autograde_print_a_summary(released, tmp_path):
    room = _copy(released, tmp_path / "class")
    make_submission(room.root, "ann", STEP, "correct")
    make_submission(room.root, "eve", STEP, "invalid")
    runner = CliRunner()
    result = runner.invoke(classroom_cli, ["autograde", "01", "--course-dir", str(room.root), "--jobs", "2"])
    assert result.exit_code == 1  # one submission could not be graded; the rest was
    assert re.search(r"ann\s+20/20\s+graded", result.output)
    assert "eve" in result.output and "not valid notebook JSON" in result.output
    assert "1 graded, 1 not graded, 0 skipped" in result.output
    result = runner.invoke(classroom_cli, ["export", "--course-dir", str(room.root)])
    assert result.exit_code == 0 and "grades-lms.csv" in result.output


def test_hub_config_gives_each_role_its_extensions(tmp_path, request):
    from course.classroom.hub import configure

    room = classroom.init(tmp_path / "class", instructors=("teacher",))
    roster = tmp_path / "roster.csv"
    roster.write_text("id\nada\nbob\n", encoding="utf-8")
    classroom.add_roster(room, roster)
    c = Config()
    settings = dict(course_dir=str(room.root), course_id=room.course_id, db_url=room.db_url,
                    exchange=str(room.exchange), instructors=["teacher"], bind_url="http://127.0.0.1:8123",
                    user_python=sys.executable)
    with pytest.raises(RuntimeError, match="chmod 711"):  # pytest's tmp_path is closed to other users
        configure(c, **settings, state_dir=tmp_path)
    state = Path(tempfile.mkdtemp(dir="/tmp"))
    request.addfinalizer(lambda: shutil.rmtree(state, ignore_errors=True))
    state.chmod(0o711)
    configure(c, **settings, state_dir=state)
    assert _mode(state / "jupyterhub.sqlite") == 0o600
    assert c.Authenticator.allowed_users == {"teacher", "ada", "bob"}
    assert c.JupyterHub.authenticator_class == "pam" and c.JupyterHub.spawner_class == "localprocess"
    assert c.Spawner.disable_user_config is True
    path_of = c.Spawner.environment["JUPYTER_CONFIG_PATH"]
    student_path = path_of(SimpleNamespace(user=SimpleNamespace(name="ada"))).split(os.pathsep)
    teacher_path = path_of(SimpleNamespace(user=SimpleNamespace(name="teacher"))).split(os.pathsep)
    assert str(room.root) in teacher_path and str(room.root) not in student_path
    student_dir = Path(student_path[0])
    server = (student_dir / "jupyter_server_config.d" / "nbgrader-role.json").read_text()
    assert '"nbgrader.server_extensions.formgrader": false' in server
    assert "@jupyter/nbgrader:formgrader" in (student_dir / "labconfig" / "page_config.json").read_text()
    assert str(room.exchange) in (student_dir / "nbgrader_config.json").read_text()
    assert _mode(student_dir / "nbgrader_config.json") == 0o644


def test_reachable_by_others_follows_every_folder_up():
    from course.classroom.hub import reachable_by_others

    with tempfile.TemporaryDirectory(dir="/tmp") as folder:  # pytest's tmp_path sits in a 0700 folder
        top = Path(folder)
        top.chmod(0o755)
        tool = top / "a" / "b" / "tool"
        tool.parent.mkdir(parents=True)
        tool.write_text("#!/bin/sh\n")
        tool.chmod(0o755)
        assert reachable_by_others(tool)
        (top / "a").chmod(0o700)
        assert not reachable_by_others(tool)
        (top / "a").chmod(0o755)
        tool.chmod(0o700)
        assert not reachable_by_others(tool)
