"""The course command, run as a learner runs it: unknown steps, broken notebooks, grading, progress, start."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner
from factories import answer_with, drop_cell
from fixture_manifests import deep_dive_course, deep_dive_manifest  # noqa: F401 (fixtures)

from course import cli
from course.components.servers import free_port
from course.platform import workspace

STEP = "01-programming-basics"


def run(*args):
    return CliRunner().invoke(cli.main, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def synced(tmp_path_factory) -> Path:
    ws = tmp_path_factory.mktemp("ws")
    workspace.sync(ws)
    return ws


def test_unknown_step_is_one_line_and_exit_2(tmp_path):
    result = CliRunner().invoke(cli.main, ["grade", "42", "--workspace", str(tmp_path)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("course: unknown step '42'; graded steps: 01-programming-basics, 01b-python-for-projects, 02-web-concepts")
    # 00 and 11 have no exercise: a list of what 'course grade' takes does not offer them
    assert "00-welcome" not in lines[0] and "11-" not in lines[0]


def test_help_gives_the_whole_grade_description():
    listing = run("--help").output
    line = next(line for line in listing.splitlines() if line.strip().startswith("grade "))
    assert line.split(None, 1)[1] == "Grade your exercise for a step with the hidden tests."
    assert "01, or 01-programming-basics" in run("grade", "--help").output


def test_progress_lines_start_once_grading_takes_more_than_two_seconds():
    lines, now = [], [100.0]
    progress = cli.PartProgress(lines.append, clock=lambda: now[0])
    now[0] = 101.0
    progress("Part A · Parse a log line")  # a quick run says nothing extra
    now[0] = 103.4
    progress("Part B · Count requests per status class")
    assert lines == ["grading Part B · Count requests per status class (3 s so far)"]


def test_a_long_setup_is_said_once_unless_a_part_started_first():
    lines, quiet = [], []
    slow = cli.PartProgress(lines.append, after=0.01).waiting("grading 01: starting a kernel")
    busy = cli.PartProgress(quiet.append, after=0.01, clock=lambda: 0.0)
    busy("Part A · Parse a log line")  # a part started: the setup line would be stale
    busy.waiting("grading 01: starting a kernel")
    slow._timer.join(timeout=60)
    busy._timer.join(timeout=60)
    assert lines == ["grading 01: starting a kernel"] and quiet == []


@pytest.mark.parametrize("timeout", ["0", "-1"])
def test_a_timeout_below_one_second_is_refused(tmp_path, timeout):
    result = CliRunner().invoke(cli.main, ["grade", "01", "--timeout", timeout, "--workspace", str(tmp_path)])
    assert result.exit_code == 2
    assert f"Invalid value for '--timeout': {timeout} is not in the range x>=1" in result.output


def test_step_without_exercise_is_refused(tmp_path):
    result = CliRunner().invoke(cli.main, ["grade", "00", "--workspace", str(tmp_path)])
    assert result.exit_code == 2
    assert "has no exercise assignment" in result.output


def test_steps_lists_the_roadmap_and_its_deep_dives():
    result = run("steps")
    assert result.output.count("\n") == 20  # twelve steps, eight deep dives (01b, 03b, 04b, 05b, 05c, 06b, 07b, 09b)
    assert STEP in result.output
    line = next(line for line in result.output.splitlines() if line.startswith("04b-concurrency"))
    assert "(deep dive of 04; name: 04b)" in line


@pytest.mark.usefixtures("deep_dive_course")
def test_a_deep_dive_is_graded_by_its_name_and_a_wrong_one_lists_the_valid_names(tmp_path):
    from course.classroom.core import ClassroomError, resolve_stem

    workspace.sync(tmp_path)
    result = CliRunner().invoke(cli.main, ["grade", "01c", "--workspace", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.strip() == "course: unknown step '01c'; graded steps: 01-basics, 01b-deeper, 02-later"
    assert resolve_stem("1b") == "01b-deeper"  # the classroom commands take the same names
    with pytest.raises(ClassroomError, match="unknown step '01c'; graded steps: 01-basics, 01b-deeper"):
        resolve_stem("01c")
    assert run("steps").output.splitlines()[2].startswith("01b-deeper")


def test_broken_notebook_json_is_one_line_and_nothing_is_touched(tmp_path):
    workspace.sync(tmp_path)
    notebook = workspace.exercise_copy(tmp_path, STEP)
    notebook.write_text('{"cells": [}', encoding="utf-8")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    result = CliRunner().invoke(cli.main, ["grade", "01", "--workspace", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1
    assert "is not valid notebook JSON" in result.output
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and "progress.db" not in p.name}
    assert after == {p: b for p, b in before.items() if "progress.db" not in p.name}
    assert run("progress", "--workspace", str(tmp_path)).output.count("/") == 0  # no grade recorded


@pytest.mark.slow
def test_grade_json_records_progress_and_writes_feedback(synced):
    result = run("grade", "1", "--workspace", str(synced), "--json")
    data = json.loads(result.stdout)
    assert data["stem"] == STEP and data["score"] == 0 and data["max_score"] > 0
    assert {"grade_id", "points", "max_points", "passed", "message"} <= set(data["parts"][0])
    assert Path(data["feedback"]).is_file() and Path(data["feedback"]).is_relative_to(synced / "feedback")
    progress = run("progress", "--workspace", str(synced)).output
    assert f"0/{data['max_score']:g}" in progress
    assert data["parts"][0]["part"] == "Part A · Parse a log line"
    table = run("grade", STEP, "--workspace", str(synced)).output
    assert table.splitlines()[-2].startswith("score: 0 /")
    # The parts as the learner knows them, each test by what it checks; no internal ids, no "FAIL  FAIL ✘"
    assert "Part D · Normalise and deduplicate e-mail addresses  (0/2)\n" in table
    assert "  0/1  FAIL  unique_emails keeps first-seen order, skips None and blanks, and leaves its input alone.\n" in table
    assert "unique_emails_order_and_blanks" not in table
    assert "FAIL ✘" not in table
    # all_checks() lists every failing check: the terminal shows the first few, the feedback file all of them
    assert "more failing checks (the feedback file lists them all)" in table
    assert "status 2_00" not in table and "status 2_00" in Path(data["feedback"]).read_text()
    assert "an empty line: the function is not written yet" in table


@pytest.mark.slow
def test_grade_after_solving_one_part_with_the_solution_source(synced, tmp_path):
    """Copy one answer cell of the source into the learner's copy: exactly that part's points come."""
    from course.platform import paths

    source = nbformat.read(paths.solution_path(STEP), as_version=4)
    first = next(c for c in source.cells if c.metadata.get("nbgrader", {}).get("solution"))
    mine = workspace.exercise_copy(synced, STEP)
    answer_with(mine, first.metadata["nbgrader"]["grade_id"], first.source)
    # ...and the locked setup cell (`from course import check, ...`) deleted outside JupyterLab: it is restored,
    # so the tests still find `check`, and the learner is told
    drop_cell(mine, "setup")
    data = json.loads(run("grade", "01", "--workspace", str(synced), "--json").stdout)
    assert data["score"] > 0
    assert data["parts"][0]["passed"] and not all(p["passed"] for p in data["parts"])
    assert not any("NameError" in p["message"] for p in data["parts"])
    assert any("locked setup cell 'setup' is missing" in note for note in data["restored"])


@pytest.mark.parametrize("damage", ["empty", "truncated", "garbage header"])
def test_a_damaged_progress_store_is_named_never_read_as_nothing_graded(tmp_path, damage):
    from course.platform.progress import ProgressStore

    with ProgressStore(tmp_path) as store:
        for _ in range(50):
            store.record_grade(STEP, 20, 20, [{"message": "passed" * 100}])
        path = store.path
    data = path.read_bytes()
    path.write_bytes({"empty": b"", "truncated": data[:len(data) // 2],
                      "garbage header": b"not a database at all" + data[21:]}[damage])
    result = CliRunner().invoke(cli.main, ["progress", "--workspace", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and "not graded" not in result.output
    assert f"the progress store {path} cannot be used" in result.output
    assert "out of" in result.output and "run the command again" in result.output  # how to repair it


@pytest.mark.slow
def test_grading_into_a_damaged_store_and_a_blocked_feedback_folder_keeps_the_score(tmp_path):
    """The store is garbage and feedback/ cannot take the page: the score is printed and kept aside, each
    problem named; once the store is moved aside, the kept grade is in the progress."""
    workspace.sync(tmp_path)
    store = tmp_path / ".course" / "progress.db"
    store.write_bytes(b"garbage" * 1000)
    (tmp_path / "feedback").mkdir(exist_ok=True)
    (tmp_path / "feedback" / STEP).write_text("a file where the folder goes", encoding="utf-8")  # root too
    result = CliRunner().invoke(cli.main, ["grade", "01", "--workspace", str(tmp_path)])
    assert result.exit_code == 1
    assert "score: 0 / 20" in result.output
    assert f"this grade (0/20) was not recorded: the progress store {store} cannot be used (file is not a " \
           "database)" in result.output
    assert f"the feedback page could not be written to {tmp_path / 'feedback' / STEP}" in result.output
    assert "Traceback" not in result.output
    kept = tmp_path / ".course" / "unrecorded-grades.jsonl"
    assert json.loads(kept.read_text(encoding="utf-8"))["score"] == 0
    store.rename(store.with_name("progress.db.broken"))
    progress = run("progress", "--workspace", str(tmp_path)).output
    assert f"{STEP:34} {'in progress':12} 0/20" in progress
    assert not kept.exists()


def test_doctor_reports_and_exits_zero_here():
    result = run("doctor")
    assert "[ok  ] nbgrader" in result.output
    assert result.exit_code == 0


@pytest.mark.slow
@pytest.mark.service
def test_start_serves_real_jupyterlab_and_stops_on_ctrl_c(tmp_path):
    port = free_port()
    ws = tmp_path / "ws"
    process = subprocess.Popen(
        [sys.executable, "-m", "course", "start", "--no-browser", "--port", str(port), "--workspace", str(ws)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env={**os.environ, "JUPYTER_NO_CONFIG": "1"},
    )
    try:
        url = ""
        deadline = time.monotonic() + 60
        while not url and time.monotonic() < deadline:
            line = process.stdout.readline()
            if line.startswith("open: "):
                url = line.split("open: ", 1)[1].strip()
        assert url.startswith(f"http://127.0.0.1:{port}/lab/tree/lessons/")
        token = url.split("token=")[1]
        status = None
        while status is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}") as response:
                    status = json.load(response)
            except OSError:
                time.sleep(0.3)
        assert status is not None and "started" in status
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents/lessons?token={token}") as response:
            names = {entry["name"] for entry in json.load(response)["content"]}
        assert f"{STEP}.ipynb" in names
        assert workspace.exercise_copy(ws, STEP).exists()
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=30)
    assert code == 0


def test_quiz_in_the_terminal_saves_the_result(tmp_path):
    from course.platform.progress import ProgressStore
    from course.steps.step11_fit_quiz_and_certifications.quiz import load_items

    workspace.ensure_workspace(tmp_path)
    answers = "".join(f"{1 + i % 5}\n" for i in range(len(load_items())))
    result = CliRunner().invoke(cli.main, ["quiz", "--workspace", str(tmp_path)], input=answers)
    assert result.exit_code == 0, result.output
    assert "backend-developer" in result.output.lower() or "back-end" in result.output.lower()
    with ProgressStore(tmp_path) as store:
        assert store.load_result("quiz") is not None


def test_quiz_stopped_early_exits_1_and_saves_nothing(tmp_path):
    from course.platform.progress import ProgressStore

    workspace.ensure_workspace(tmp_path)
    result = CliRunner().invoke(cli.main, ["quiz", "--workspace", str(tmp_path)], input="4\nq\n")
    assert result.exit_code == 1
    with ProgressStore(tmp_path) as store:
        assert store.load_result("quiz") is None


def test_progress_and_grade_find_the_workspace_from_its_root_or_a_subfolder(tmp_path, monkeypatch):
    """A JupyterLab terminal opens in the workspace root: the commands work there, with no --workspace."""
    from course.platform.progress import ProgressStore

    ws = tmp_path / "ws"
    workspace.sync(ws)
    with ProgressStore(ws) as store:
        store.record_grade(STEP, 20, 20, [])
    monkeypatch.delenv("COURSE_WORKSPACE", raising=False)
    for folder in (ws, ws / "exercises" / STEP):
        monkeypatch.chdir(folder)
        assert f"{STEP:34} {'complete':12} 20/20" in run("progress").output
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COURSE_WORKSPACE", str(ws))
    assert "20/20" in run("progress").output
    workspace.exercise_copy(ws, STEP).write_text("{", encoding="utf-8")
    monkeypatch.chdir(ws)
    result = CliRunner().invoke(cli.main, ["grade", "01"])
    assert result.exit_code == 1 and "is not valid notebook JSON" in result.output  # it read the right copy
    assert not (ws / "workspace").exists() and not (tmp_path / "workspace").exists()


@pytest.mark.parametrize("command", [["progress"], ["grade", "01"], ["quiz"]])
def test_a_workspace_that_does_not_exist_is_refused_and_nothing_is_created(tmp_path, command):
    result = CliRunner().invoke(cli.main, [*command, "--workspace", str(tmp_path / "typo")])
    assert result.exit_code == 1
    assert result.output.strip() == (f"course: no course workspace at {tmp_path / 'typo'} (it has no .course "
                                     f"folder); run 'course start --workspace {tmp_path / 'typo'}' to create it, "
                                     "or give the right folder with --workspace")
    assert not (tmp_path / "typo").exists()


def _read_only(folder: Path, *command: str) -> subprocess.CompletedProcess:
    """Run ``course COMMAND`` with ``folder`` mounted read-only, in a private mount namespace (root on Linux;
    permission bits alone do not stop root)."""
    import shlex
    import shutil

    if not shutil.which("unshare") or subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode:
        pytest.skip("cannot make a private read-only mount here (needs unshare -m)")
    where = shlex.quote(str(folder))
    course = shlex.join([sys.executable, "-m", "course", *command])
    script = f"mount --bind {where} {where} && mount -o remount,ro,bind {where} && {course}"
    return subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True)


def test_a_read_only_workspace_shows_progress_and_start_says_why_it_cannot_in_one_line(tmp_path):
    from course.platform.progress import ProgressStore

    ws = tmp_path / "ws"
    workspace.sync(ws)
    with ProgressStore(ws) as store:
        store.record_grade(STEP, 5, 20, [])
    shown = _read_only(ws, "progress", "--workspace", str(ws))
    assert shown.returncode == 0, shown.stderr
    assert f"{STEP:34} {'in progress':12} 5/20" in shown.stdout
    started = _read_only(ws, "start", "--no-browser", "--workspace", str(ws))
    assert started.returncode == 1 and "Traceback" not in started.stderr
    assert started.stderr.strip() == (f"course: the workspace {ws} is not writable (Read-only file system), so your "
                                      "work could not be saved; fix its permissions, or choose another folder with "
                                      "--workspace DIR")
