"""course.grading.checks: one clear line, and a failing cell exactly when the check fails."""

import pytest

from course import CheckFailed, check, check_raises, check_that


def test_check_passes_and_prints_one_line(capsys):
    passed = check("sum", 2 + 2, 4)
    assert passed and passed == True  # noqa: E712 - `assert check(...)` and `check(...) == True` still hold
    assert capsys.readouterr().out == "PASS ✔ sum\n"


def test_check_fails_with_expected_got_and_hint(capsys):
    with pytest.raises(CheckFailed) as failure:
        check("count", 3, 4, hint="count the last item too")
    line = "FAIL ✘ count: expected 4, got 3. Hint: count the last item too"
    assert str(failure.value) == line
    assert failure.value._render_traceback_() == [line]  # how IPython shows it: that line, no traceback
    assert capsys.readouterr().out == ""  # not printed as well: the learner reads it once
    assert isinstance(failure.value, AssertionError)  # nbgrader grades an AssertionError as a failed cell


@pytest.mark.slow
def test_in_a_real_kernel_a_failure_is_one_line_and_a_pass_shows_no_value():
    """What JupyterLab and nbgrader receive from the kernel: a failed check is one error line (the cell
    fails), a passing check prints its PASS line and displays no `Out[n]: True` (nor a number nbgrader would
    read as points)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("from course import check"),
        nbformat.v4.new_code_cell('check("two", 1 + 1, 2)'),
        nbformat.v4.new_code_cell('assert check("two", 1 + 1, 2)'),
        nbformat.v4.new_code_cell('check("count", 3, 4, hint="count the last item too")'),
    ])
    NotebookClient(nb, kernel_name="python3", timeout=120, allow_errors=True).execute()
    passing, asserted, failing = nb.cells[1].outputs, nb.cells[2].outputs, nb.cells[3].outputs
    assert [(o.output_type, o.get("text")) for o in passing] == [("stream", "PASS ✔ two\n")]
    assert [(o.output_type, o.get("text")) for o in asserted] == [("stream", "PASS ✔ two\n")]
    assert len(failing) == 1 and failing[0].output_type == "error"
    assert failing[0].traceback == ["FAIL ✘ count: expected 4, got 3. Hint: count the last item too"]


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
