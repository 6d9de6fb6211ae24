"""Instant feedback for exercise notebooks: one clear line per check, and a failing cell when it fails.

Visible test cells call these helpers, so a learner sees at once what was expected, what came back and a
hint; nbgrader grades the same cell the same way, because a failed check raises :class:`CheckFailed`.
A pass prints ``PASS ✔ …``; a failure shows as the exception's one line (nothing else). Each check costs
microseconds: no imports beyond the standard library, no I/O but that one line.
"""

from __future__ import annotations

import math
import reprlib

__all__ = ["CheckFailed", "Passed", "check", "check_that", "check_raises"]

_short = reprlib.Repr()
_short.maxstring = 80
_short.maxother = 80
_short.maxlist = 8
_short.maxdict = 8
_short.maxset = 8
_short.maxtuple = 8


class CheckFailed(AssertionError):
    """A check that did not pass; its message is the one line the learner sees.

    IPython (the notebook, and nbgrader's kernel) shows an exception through its ``_render_traceback_`` when it
    has one: a failed check shows that one line, not a traceback into this module that repeats it. The cell
    still fails (an error output), so nbgrader scores it zero.
    """

    def _render_traceback_(self) -> list[str]:
        return [str(self)]


class Passed:
    """What a passing check returns: true, so ``assert check(...)`` and ``if check(...)`` work, and shown as
    nothing when it ends a cell (a plain ``True`` shows a stray ``Out[n]: True``; and nbgrader reads a displayed
    number as the cell's points, so a check shows no value at all)."""

    __slots__ = ()

    def __bool__(self) -> bool:
        return True

    def __eq__(self, other) -> bool:
        return other is True or isinstance(other, Passed)

    def __hash__(self) -> int:
        return hash(True)

    def __repr__(self) -> str:
        return "PASSED"

    def _ipython_display_(self) -> None:
        """Display nothing (IPython calls this instead of showing the repr)."""


PASSED = Passed()


def _show(value) -> str:
    return _short.repr(value)


def _equal(got, expected) -> bool:
    if isinstance(got, bool) != isinstance(expected, bool):
        return False  # True == 1 in Python, but a check that wants a bool wants a bool
    if isinstance(expected, float) and isinstance(got, int | float):
        return math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-9)
    try:
        return bool(got == expected)
    except Exception:  # noqa: BLE001 - e.g. an array compared with a list: not equal
        return False


def _fail(label: str, detail: str, hint: str):
    line = f"FAIL ✘ {label}: {detail}"
    if hint:
        line += f" Hint: {hint}"
    raise CheckFailed(line)  # not printed too: the notebook shows the exception as this one line


def _pass(label: str) -> Passed:
    print(f"PASS ✔ {label}")
    return PASSED


def check(label: str, got, expected, hint: str = "") -> Passed:
    """Pass when ``got == expected`` (floats compared with a small tolerance, ``True`` never equals ``1``)."""
    __tracebackhide__ = True
    if _equal(got, expected):
        return _pass(label)
    detail = f"expected {_show(expected)}, got {_show(got)}."
    if type(got) is not type(expected) and got == expected:
        detail = f"expected a {type(expected).__name__}, got a {type(got).__name__} ({_show(got)})."
    _fail(label, detail, hint)


def check_that(label: str, ok: bool, hint: str = "", *, got=None, expected: str = "") -> Passed:
    """Pass when ``ok`` is true; otherwise say what was expected (in words) and what came back."""
    __tracebackhide__ = True
    if ok:
        return _pass(label)
    detail = f"expected {expected}, got {_show(got)}." if expected else "the condition did not hold."
    _fail(label, detail, hint)


def check_raises(label: str, func, *args, exception: type[BaseException] = ValueError, hint: str = "",
                 **kwargs) -> Passed:
    """Pass when ``func(*args, **kwargs)`` raises ``exception`` (or a subclass)."""
    __tracebackhide__ = True
    try:
        result = func(*args, **kwargs)
    except exception:
        return _pass(label)
    except NotImplementedError:
        _fail(label, "the function is not written yet (it raised NotImplementedError).", hint)
    except Exception as error:  # noqa: BLE001 - any other exception is the learner's answer, reported
        _fail(label, f"expected {exception.__name__}, got {type(error).__name__}: {error}.", hint)
    _fail(label, f"expected {exception.__name__} to be raised, got a return value {_show(result)}.", hint)
