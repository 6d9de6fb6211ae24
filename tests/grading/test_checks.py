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


# -- comparisons a forged answer cannot win, and different correct answers still pass ----------------------

class AlwaysEqual:
    """What a student returns to pass every check: equal to anything, true, and hashing like anything."""

    def __eq__(self, other):
        return True

    __ne__ = lambda self, other: False  # noqa: E731
    __hash__ = object.__hash__

    def __bool__(self):
        return True


class LyingInt(int):
    def __eq__(self, other):
        return True

    __hash__ = int.__hash__


class LyingStr(str):
    def __eq__(self, other):
        return True

    __hash__ = str.__hash__


class LyingDict(dict):
    def __eq__(self, other):
        return True


@pytest.mark.parametrize("expected", [5, 0.3, "GET", b"ok", None, True, [1, 2], (1, 2), {"a": 1}, {1, 2},
                                      frozenset({1}), {"status": 200, "tags": ["x"]}])
def test_an_object_equal_to_anything_fails_every_check(expected):
    with pytest.raises(CheckFailed):
        check("forged", AlwaysEqual(), expected)


@pytest.mark.parametrize("got, expected", [
    (LyingInt(7), 5), (LyingStr("x"), "GET"), (LyingDict(), {"a": 1}), ([AlwaysEqual()], [1]),
    ({"a": AlwaysEqual()}, {"a": 1}), ({AlwaysEqual(): 1}, {"a": 1}), ((1, AlwaysEqual()), (1, 2)),
    ({AlwaysEqual()}, {1}),
])
def test_a_subclass_or_element_overriding_eq_is_not_asked(got, expected):
    with pytest.raises(CheckFailed):
        check("forged", got, expected)


@pytest.mark.parametrize("got, expected", [
    (True, 1), (1, True), (False, 0), ({"status": True}, {"status": 1}), ([1, 0], [True, False]), (1, None),
])
def test_bool_and_int_never_stand_for_each_other_even_nested(got, expected):
    with pytest.raises(CheckFailed):
        check("types", got, expected)


def test_different_correct_answers_still_pass():
    from collections import Counter, OrderedDict, defaultdict, namedtuple
    from enum import StrEnum
    from http import HTTPStatus

    numpy = pytest.importorskip("numpy")

    class Colour(StrEnum):
        RED = "red"

    pair = namedtuple("pair", "a b")
    assert check("an HTTPStatus is an int", HTTPStatus.NOT_FOUND, 404)
    assert check("nested HTTPStatus", {"status": HTTPStatus.CREATED}, {"status": 201})
    assert check("a numpy int", numpy.int64(3), 3)
    assert check("numpy ints in a list", [numpy.int64(2024), numpy.int64(2025), "change"], [2024, 2025, "change"])
    assert check("a numpy float", numpy.float64(0.1) + 0.2, 0.3)
    assert check("an int for a float", 2, 2.0)
    assert check("a whole float for an int", 2.0, 2)
    assert check("a StrEnum is a str", Colour.RED, "red")
    assert check("OrderedDict", OrderedDict(a=1), {"a": 1})
    assert check("defaultdict", defaultdict(int, a=1), {"a": 1})
    assert check("Counter", Counter("aab"), {"a": 2, "b": 1})
    assert check("a namedtuple for a tuple", pair(1, 2), (1, 2))
    assert check("a bytearray for bytes", bytearray(b"ok"), b"ok")
    assert check("a frozenset for a set", frozenset({1, 2}), {1, 2})
    assert check("tuple keys", {(1, "a"): [1.0]}, {(1, "a"): [1]})
    assert check("nan", float("nan"), float("nan"))


def test_other_types_compare_by_the_expected_types_own_eq():
    import datetime as dt
    from decimal import Decimal

    class LyingDate(dt.date):
        def __eq__(self, other):
            return True

        __hash__ = dt.date.__hash__

    assert check("a date", dt.date(2025, 3, 3), dt.date(2025, 3, 3))
    assert check("a Decimal", Decimal("1.10"), Decimal("1.1"))
    with pytest.raises(CheckFailed):
        check("a date subclass that lies", LyingDate(2024, 1, 1), dt.date(2025, 3, 3))
    with pytest.raises(CheckFailed):
        check("a datetime is not the date", dt.datetime(2025, 3, 3), dt.date(2025, 3, 3))


def test_list_where_a_tuple_is_expected_still_fails_as_python_says():
    with pytest.raises(CheckFailed):
        check("tuple", [1, 2], (1, 2))


def test_check_that_wants_a_real_condition():
    numpy = pytest.importorskip("numpy")
    assert check_that("numpy's bool", numpy.bool_(True))
    assert check_that("a non-empty str is true", "etag")
    with pytest.raises(CheckFailed):
        check_that("an object that says it is true", AlwaysEqual())
    with pytest.raises(CheckFailed):
        check_that("an array of booleans is not one condition", numpy.array([True, False]))


def test_a_deeply_nested_structure_does_not_crash_the_check():
    deep = []
    for _ in range(500):
        deep = [deep]
    with pytest.raises(CheckFailed):
        check("deep", deep, [[1]])


def test_the_exercise_setup_import_loads_only_the_check_helpers():
    """`from course import check, check_that, check_raises` (every exercise's setup cell) imports the checks
    and nothing heavy: no nbgrader, SQLAlchemy, pandas, FastAPI or lesson helpers (issue 15: it took ~23 s on a
    busy machine when it pulled those in). Measured in a fresh interpreter, as a kernel would import it."""
    import subprocess
    import sys

    code = ("import sys, time; t = time.perf_counter(); from course import check, check_that, check_raises, all_checks; "
            "took = time.perf_counter() - t; "
            "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in "
            "{'course', 'nbgrader', 'sqlalchemy', 'pandas', 'fastapi', 'nbformat', 'matplotlib', 'httpx'}))); "
            "print(took, file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(done.stdout.split())
    assert loaded == {"course", "course._lazy", "course.grading", "course.grading.checks"}, loaded


# -- all_checks(): every failing check of a cell, listed once at the end -------------------------------------

def test_all_checks_runs_every_check_and_fails_once_listing_each_failure(capsys):
    from course import all_checks

    with pytest.raises(CheckFailed) as failure, all_checks():
        assert check("one", 1, 1)
        assert check("two", 3, 2, hint="add one") is None  # noted, not raised: the next checks still run
        check_that("sorted", False, got=[2, 1], expected="a sorted list")
        check_raises("raises", lambda: 5)
        check("five", 5, 5)
    assert failure.value._render_traceback_() == [
        "FAIL ✘ two: expected 2, got 3. Hint: add one",
        "FAIL ✘ sorted: expected a sorted list, got [2, 1].",
        "FAIL ✘ raises: expected ValueError to be raised, got a return value 5.",
    ]
    assert isinstance(failure.value, AssertionError)  # the cell fails: nbgrader scores it zero
    assert capsys.readouterr().out == "PASS ✔ one\nPASS ✔ five\n"


def test_all_checks_passing_adds_nothing_and_a_check_after_it_raises_again(capsys):
    from course import all_checks

    with all_checks() as block:
        check("one", 1, 1)
    assert block.failures == [] and capsys.readouterr().out == "PASS ✔ one\n"
    with pytest.raises(CheckFailed):  # outside the block a check fails at once, as always
        check("two", 3, 2)


def test_all_checks_lists_what_failed_before_an_exception_of_the_learners_code():
    from course import all_checks

    def unwritten():
        raise NotImplementedError

    with pytest.raises(CheckFailed) as failure, all_checks():
        check("first", 1, 2)
        check("second", unwritten(), 2)
    assert str(failure.value).splitlines() == [
        "FAIL ✘ first: expected 2, got 1.",
        "FAIL ✘ the checks stopped here: the function is not written yet (it raised NotImplementedError)."]
    # nothing failed before it: the exception as it is, as without the block
    with pytest.raises(KeyError), all_checks():
        check("first", 1, 1)
        check("second", {}["missing"], 2)


def test_a_block_left_open_by_other_code_does_not_swallow_later_failures():
    """A learner's function that enters a block and never leaves it (or a block entered elsewhere) cannot
    turn a later check's failure into a note: a check only reports to a block it runs inside."""
    from course import all_checks

    def sneaky():
        all_checks().__enter__()
        return 3

    got = sneaky()
    with pytest.raises(CheckFailed):
        check("after a sneaky function", got, 2)
    with pytest.raises(CheckFailed) as failure, all_checks():
        check("inside", sneaky(), 2)
    assert str(failure.value) == "FAIL ✘ inside: expected 2, got 3."


@pytest.mark.slow
def test_all_checks_in_a_real_kernel_is_one_error_with_a_line_per_failure():
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("from course import check, all_checks"),
        nbformat.v4.new_code_cell('with all_checks():\n    check("a", 1, 1)\n    check("b", 2, 3)\n    check("c", 4, 5)'),
        nbformat.v4.new_code_cell('with all_checks():\n    check("a", 1, 1)'),
    ])
    NotebookClient(nb, kernel_name="python3", timeout=120, allow_errors=True).execute()
    failing, passing = nb.cells[1].outputs, nb.cells[2].outputs
    assert [o.output_type for o in failing] == ["stream", "error"] and failing[0].text == "PASS ✔ a\n"
    assert failing[1].traceback == ["FAIL ✘ b: expected 3, got 2.", "FAIL ✘ c: expected 5, got 4."]
    assert [(o.output_type, o.get("text")) for o in passing] == [("stream", "PASS ✔ a\n")]


def test_the_guard_restores_all_checks_before_each_test_cell(tmp_path):
    """Replacing all_checks (or the functions its blocks run) in the learner's code is undone and reported."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("guard_tests", Path(__file__).with_name("test_guard.py"))
    guard_tests = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(guard_tests)
    test = "from course import all_checks\nwith all_checks():\n    check('add', add(2, 3), 5)"
    for student, reason in [
        ("import course\ncourse.all_checks = lambda: open('/dev/null')\ndef add(a, b): return 0",
         "course.all_checks was replaced"),
        ("import course.grading.checks as c\nc._exit.__code__ = (lambda *a: True).__code__\ndef add(a, b): return 0",
         "the code of course.grading.checks._exit was replaced"),
    ]:
        result = guard_tests._guarded(tmp_path, student, test)
        assert result["passed"] is False, student
        assert any(reason in line for line in result["findings"]), result["findings"]
    assert guard_tests._guarded(tmp_path, "def add(a, b): return a + b", test)["passed"] is True


def test_compare_digest_calls_counts_every_name_in_new_threads_only():
    import hmac
    import secrets
    import threading
    from hmac import compare_digest as cd

    from course.grading.checks import compare_digest_calls

    def by_hand(a, b):  # a stand-in that uses ==: not the constant-time function
        return a == b

    def compare():
        hmac.compare_digest(b"a", b"b")
        secrets.compare_digest("x", "x")
        cd("x", "y")
        by_hand("x", "y")

    before = threading.getprofile()
    with compare_digest_calls() as seen:
        compare()  # the test's own thread is not watched
        worker = threading.Thread(target=compare)
        worker.start()
        worker.join()
    assert seen == ["compare", "compare", "compare"]
    assert threading.getprofile() is before
    worker = threading.Thread(target=compare)
    worker.start()
    worker.join()
    assert len(seen) == 3  # nothing counted once the block is left


def _loop(n):
    total = 0
    for i in range(n):
        total += i
    return total


def test_count_lines_counts_the_lines_run_skips_named_files_and_stops_at_its_limit():
    import sys

    from course.grading.checks import TooManyLines, count_lines

    with count_lines() as small:
        _loop(10)
    with count_lines() as large:
        _loop(100)
    assert sys.gettrace() is None
    assert 20 <= small.count < large.count and large.count - small.count == 2 * 90  # two lines per pass
    with count_lines(skip=[__file__]) as skipped:
        _loop(100)
    assert skipped.count == 0
    with pytest.raises(TooManyLines), count_lines(limit=50) as limited:
        _loop(1000)
    assert 50 < limited.count <= 51 and sys.gettrace() is None
