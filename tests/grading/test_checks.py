"""course.grading.checks: one clear line, and a failing cell exactly when the check fails."""

import pytest

from course import CheckFailed, check, check_raises, check_that


def test_check_passes_and_prints_one_line(capsys):
    assert check("sum", 2 + 2, 4) is True
    assert capsys.readouterr().out == "PASS ✔ sum\n"


def test_check_fails_with_expected_got_and_hint(capsys):
    with pytest.raises(CheckFailed) as failure:
        check("count", 3, 4, hint="count the last item too")
    line = capsys.readouterr().out.strip()
    assert line == "FAIL ✘ count: expected 4, got 3. Hint: count the last item too"
    assert str(failure.value) == line
    assert isinstance(failure.value, AssertionError)  # nbgrader grades an AssertionError as a failed cell


def test_bool_is_not_one():
    with pytest.raises(CheckFailed, match="expected a bool, got a int"):
        check("flag", 1, True)


def test_floats_compare_with_tolerance():
    assert check("ratio", 0.1 + 0.2, 0.3)
    with pytest.raises(CheckFailed):
        check("ratio", 0.31, 0.3)


def test_long_values_are_shortened(capsys):
    with pytest.raises(CheckFailed):
        check("list", list(range(1000)), [])
    assert len(capsys.readouterr().out) < 200


def test_check_that_words():
    assert check_that("sorted", sorted([2, 1]) == [1, 2])
    with pytest.raises(CheckFailed, match="expected a sorted list, got \\[2, 1\\]"):
        check_that("sorted", False, got=[2, 1], expected="a sorted list")


def test_check_raises_all_outcomes():
    def bad(x):
        raise ValueError(x)

    def unwritten(x):
        raise NotImplementedError

    assert check_raises("bad", bad, 1)
    with pytest.raises(CheckFailed, match="not written yet"):
        check_raises("unwritten", unwritten, 1)
    with pytest.raises(CheckFailed, match="expected ValueError, got KeyError"):
        check_raises("other", lambda: {}["x"])
    with pytest.raises(CheckFailed, match="got a return value 1"):
        check_raises("none", lambda: 1)
