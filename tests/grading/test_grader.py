"""course.grading.grader on a small fixture exercise: scores, messages, bad input, and feedback without hidden tests."""

from __future__ import annotations

import html
import re
from pathlib import Path

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
    result = _grade(fixture_course, gradebook_cache)
    assert (result.score, result.max_score) == (5, 5)
    assert [p.message for p in result.parts] == ["passed", "passed"]


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
    assert any("'status_class_tests' was deleted" in note for note in result.restored)


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


def test_a_test_cell_writing_to_stderr_is_explained_not_called_passed(fixture_course, gradebook_cache):
    solved(fixture_course)
    answer_with(fixture_course, "add", (
        "import sys\n"
        "def add(a, b):\n"
        "    print('deprecated: use plus()', file=sys.stderr)\n"
        "    return a + b"))
    result = _grade(fixture_course, gradebook_cache)
    part = result.parts[0]
    assert part.points == 0 and not part.passed
    assert "wrote to stderr" in part.message


def test_the_notebook_runs_in_nbgraders_autograded_folder(fixture_course, gradebook_cache):
    """The kernel starts before nbgrader makes its folder; it must still run the notebook there."""
    solved(fixture_course)
    answer_with(fixture_course, "add", (
        "import os\n"
        "def add(a, b):\n"
        "    assert os.getcwd().endswith(os.path.join('autograded', 'learner', '99-fixture')), os.getcwd()\n"
        "    return a + b"))
    assert _grade(fixture_course, gradebook_cache).parts[0].passed
