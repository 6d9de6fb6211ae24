"""course.grading.grader on a small fixture exercise: scores, messages, bad input, and feedback without hidden tests."""

from __future__ import annotations

import html
import os
import re
from pathlib import Path

import psutil
import pytest
from factories import answer_with, drop_cell, edit_cell, solved

from course.grading.grader import GradingError, grade_notebook

pytestmark = pytest.mark.slow


def _grade(notebook: Path, cache: Path, **kwargs):
    return grade_notebook("99-fixture", notebook, cache_dir=cache, **kwargs)


def test_untouched_release_scores_zero(fixture_course, gradebook_cache):
    result = _grade(fixture_course, gradebook_cache)
    assert (result.score, result.max_score) == (0, 5)
    assert all("NotImplementedError" in p.message for p in result.parts)


def test_a_different_correct_solution_gets_full_marks(fixture_course, gradebook_cache):
    solved(fixture_course)
    announced = []
    result = _grade(fixture_course, gradebook_cache, progress=announced.append)
    assert (result.score, result.max_score) == (5, 5)
    assert [p.message for p in result.parts] == ["passed", "passed"]
    # each part is announced as the kernel reaches it, by the title the learner reads
    assert announced == ["Part A · add", "Part B · status class"]
    assert [(p.part, p.description) for p in result.parts] == [
        ("Part A · add", "add() adds two numbers."),
        ("Part B · status class", "status_class() names the class and rejects codes outside 100-599.")]


def test_hidden_test_catches_a_plausible_wrong_answer(fixture_course, gradebook_cache):
    solved(fixture_course)
    answer_with(fixture_course, "status_class", "def status_class(code):\n    return f'{code // 100}xx'")
    result = _grade(fixture_course, gradebook_cache)
    assert result.score == 3
    failed = result.parts[1]
    assert not failed.passed
    assert failed.message.startswith("FAIL ✘ status_class(600): expected ValueError to be raised")


def test_infinite_loop_times_out_and_other_parts_are_graded(fixture_course, gradebook_cache):
    solved(fixture_course)
    answer_with(fixture_course, "add", "def add(a, b):\n    while True:\n        pass")
    result = _grade(fixture_course, gradebook_cache, timeout=2)
    assert result.parts[0].message.startswith("timed out after 2 s")
    assert result.parts[1].passed
    assert result.score == 2


def test_dead_kernel_fails_its_part_and_the_rest_is_graded(fixture_course, gradebook_cache):
    solved(fixture_course)
    answer_with(fixture_course, "add", "import os\nos._exit(1)")
    result = _grade(fixture_course, gradebook_cache, timeout=5)
    assert result.parts[0].points == 0
    assert "kernel died" in result.parts[0].message and "restarted" in result.parts[0].message
    assert result.parts[1].passed  # the kernel was restarted, part B's answer run again and graded
    assert result.score == 2


def test_deleted_test_cell_is_restored_graded_and_reported(fixture_course, gradebook_cache):
    solved(fixture_course)
    drop_cell(fixture_course, "status_class_tests")
    result = _grade(fixture_course, gradebook_cache)
    assert [p.grade_id for p in result.parts] == ["add_tests", "status_class_tests"]
    assert result.score == 5
    assert any("'status_class_tests' is missing from your notebook" in note for note in result.restored)


def test_changed_nbgrader_metadata_is_put_back_graded_and_named(fixture_course, gradebook_cache):
    """An answer cell made a test cell, a test cell renamed, another duplicated: nbgrader alone stops with an
    opaque NbGraderException; the cells come back from the release, the work is graded, each change named."""
    import copy

    import nbformat

    solved(fixture_course)
    nb = nbformat.read(fixture_course, as_version=4)
    by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}
    by_id["add"].metadata.nbgrader.update(grade=True, points=3)
    by_id["add_tests"].metadata.nbgrader["grade_id"] = "my_add_tests"
    twin = copy.deepcopy(by_id["status_class_tests"])
    twin.id = "twin"
    nb.cells.append(twin)
    nbformat.write(nb, fixture_course)
    result = _grade(fixture_course, gradebook_cache)
    assert [(p.grade_id, p.points) for p in result.parts] == [("add_tests", 3), ("status_class_tests", 2)]
    notes = " | ".join(result.restored)
    assert "answer cell 'add' had its nbgrader metadata changed" in notes
    assert "test cell 'add_tests' had lost its nbgrader metadata (or had it changed)" in notes
    assert "test cell 'status_class_tests' appeared twice" in notes


def test_edited_test_cell_is_restored_and_the_wrong_answer_still_fails(fixture_course, gradebook_cache):
    answer_with(fixture_course, "add", "def add(a, b):\n    return 0")
    edit_cell(fixture_course, "add_tests", "pass  # nothing to see here")
    result = _grade(fixture_course, gradebook_cache)
    assert result.parts[0].points == 0
    assert any("'add_tests' was edited" in note for note in result.restored)


def test_broken_json_is_one_clear_error(fixture_course, gradebook_cache):
    fixture_course.write_text('{"cells": [', encoding="utf-8")
    with pytest.raises(GradingError, match=r"not valid notebook JSON \(line 1"):
        _grade(fixture_course, gradebook_cache)


def test_a_killed_runs_hidden_tests_are_removed_by_the_next_run(fixture_course, gradebook_cache, tmp_path,
                                                               monkeypatch):
    """A `course grade` killed mid-run leaves its scratch folder (hidden tests inside); the next run removes
    it, but never the folder of a run still going. Scratch folders are 0700 while they exist."""
    import subprocess
    import sys
    import tempfile

    from course.grading.grader import OWNER_FILE

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    # The answer looks at the real scratch folder from inside the kernel; in the grading sandbox it sees only
    # its own copy (tests/grading/test_sandbox.py covers that), so this runs where there is no sandbox.
    monkeypatch.setenv("COURSE_SANDBOX", "off")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    left, live, old = (tmp_path / name for name in ("course-grade-killed", "course-grade-running",
                                                      "course-prepare-unowned"))
    for folder in (left, live, old):
        folder.mkdir()
        (folder / "hidden-tests.ipynb").write_text("SECRET", encoding="utf-8")
    (left / OWNER_FILE).write_text(f"{dead.pid} 1.0", encoding="utf-8")
    (live / OWNER_FILE).write_text(f"{os.getpid()} {psutil.Process().create_time()}", encoding="utf-8")
    os.utime(old, (1, 1))  # an unowned folder from 1970: from a run long gone
    solved(fixture_course)
    answer_with(fixture_course, "add", (
        "import os, stat\n"
        "def add(a, b):\n"
        "    scratch = os.path.abspath(os.path.join(os.getcwd(), '..', '..', '..'))\n"
        "    assert os.path.basename(scratch).startswith('course-grade-'), scratch\n"
        "    assert stat.S_IMODE(os.stat(scratch).st_mode) == 0o700, oct(os.stat(scratch).st_mode)\n"
        "    return a + b"))
    result = _grade(fixture_course, gradebook_cache)
    assert result.parts[0].passed, result.parts[0].message
    assert not left.exists() and not old.exists()
    assert (live / "hidden-tests.ipynb").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("course-grade-") and p != live]


@pytest.mark.parametrize("timeout", [0, -1])
def test_a_timeout_that_means_no_limit_is_refused(fixture_course, gradebook_cache, timeout):
    with pytest.raises(GradingError, match="would let a cell run for ever"):
        _grade(fixture_course, gradebook_cache, timeout=timeout)


def test_feedback_never_shows_hidden_test_code(fixture_course, gradebook_cache, tmp_path):
    answer_with(fixture_course, "add", "def add(a, b):\n    return a + b if a < 10 else 0")  # fails hidden line
    result = _grade(fixture_course, gradebook_cache, feedback_to=tmp_path / "feedback")
    assert result.parts[0].message == "a hidden test failed: check the edge cases named in the instructions"
    page = Path(result.feedback).read_text(encoding="utf-8")
    text = html.unescape(re.sub(r"<[^>]+>", "", page))  # highlighted code is split into spans
    assert 'check("add(2, 3)", add(2, 3), 5)' in text  # the visible test is shown  # the visible test is shown
    # Hidden code never appears, neither as source nor quoted in a traceback. (A hidden check's own output
    # line, such as "PASS ✔ add(-1, 1)", may: it is feedback on a case, not test code.)
    for hidden in ("SECRET", "assert add(10, 5) == 15", "BEGIN HIDDEN TESTS", 'check("add(-1, 1)"'):
        assert hidden not in text
    # Only the learner's notebook: not the grader's own cell that moved the kernel into nbgrader's folder
    assert "chdir" not in text and "course-grade-" not in text
    # Markdown tables get their cells' padding back (Bootstrap sets it to 0: headers ran together)
    assert re.search(r"\.rendered_html th, \.rendered_html td \{padding: 0\.3em", page)


def test_warnings_and_logging_from_a_correct_answer_never_cost_points(fixture_course, gradebook_cache):
    """The instant check passes such an answer, so grading must too: nbgrader would score zero any test cell
    with stderr output, and libraries warn there (redis-py's setex, say) and logging writes there."""
    solved(fixture_course)
    (fixture_course.parent / "oldlib.py").write_text(
        "import warnings\n\n"
        "def plus(a, b):\n"
        "    warnings.warn('plus() is deprecated; use add()', DeprecationWarning, stacklevel=2)\n"
        "    return a + b\n", encoding="utf-8")
    answer_with(fixture_course, "add", (
        "import logging, sys\n"
        "from oldlib import plus\n"
        "def add(a, b):\n"
        "    logging.warning('adding %s and %s', a, b)\n"
        "    print('debug: add called', file=sys.stderr)\n"
        "    return plus(a, b)"))
    result = _grade(fixture_course, gradebook_cache)
    assert [(p.points, p.message) for p in result.parts] == [(3, "passed"), (2, "passed")]


def test_the_notebook_runs_in_nbgraders_autograded_folder(fixture_course, gradebook_cache):
    """The kernel starts before nbgrader makes its folder; it must still run the notebook there."""
    solved(fixture_course)
    answer_with(fixture_course, "add", (
        "import os\n"
        "def add(a, b):\n"
        "    assert os.getcwd().endswith(os.path.join('autograded', 'learner', '99-fixture')), os.getcwd()\n"
        "    return a + b"))
    assert _grade(fixture_course, gradebook_cache).parts[0].passed


@pytest.mark.parametrize("class_python", [True, False])
def test_grading_without_hidden_tests_is_one_true_message_and_exit_1(tmp_path, monkeypatch, class_python):
    """A class's Python has the release but no solutions/ (course classroom hub-python): `course grade` says
    what is missing and what to do instead of failing with a FileNotFoundError, and exits 1."""
    from click.testing import CliRunner

    from course import cli
    from course.platform import paths, workspace

    workspace.sync(tmp_path / "ws")
    release_only = tmp_path / "course"
    release_only.mkdir()
    for name in ("exercises", "notebooks"):
        (release_only / name).symlink_to(paths.course_root() / name, target_is_directory=True)
    monkeypatch.setenv("BACKEND_COURSE_ROOT", str(release_only))
    if class_python:
        monkeypatch.setenv("COURSE_CLASS_PYTHON", "/opt/class/bin/python")
    else:
        monkeypatch.delenv("COURSE_CLASS_PYTHON", raising=False)
    result = CliRunner().invoke(cli.main, ["grade", "01", "--workspace", str(tmp_path / "ws")])
    assert result.exit_code == 1, result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output, result.output
    missing = release_only / "solutions" / "01-programming-basics" / "01-programming-basics.ipynb"
    assert result.output.startswith("course: ") and f"({missing} " in result.output
    assert "instant feedback" in result.output
    assert ("when they autograde your submission" in result.output) is class_python
    assert ("BACKEND_COURSE_ROOT" in result.output) is not class_python


def test_only_the_scratch_gradebook_skips_waiting_for_the_disk_and_only_while_grading(tmp_path):
    """course.grading.nbconfig.unsynced_gradebook: PRAGMA synchronous=OFF on the scratch copy that grading
    writes and deletes; any other SQLite database of the process (a class gradebook) keeps its default."""
    import sqlalchemy

    from course.grading.nbconfig import unsynced_gradebook

    def synchronous(path: Path) -> int:
        engine = sqlalchemy.create_engine(f"sqlite:///{path}")
        try:
            with engine.connect() as connection:
                return connection.exec_driver_sql("PRAGMA synchronous").scalar()
        finally:
            engine.dispose()

    scratch, other = tmp_path / "gradebook.db", tmp_path / "class-gradebook.db"
    default = synchronous(scratch)
    assert default != 0
    with unsynced_gradebook(scratch):
        assert (synchronous(scratch), synchronous(other)) == (0, default)
    assert synchronous(scratch) == default
