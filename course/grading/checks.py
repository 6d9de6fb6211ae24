"""Instant feedback for exercise notebooks: one clear line per check, and a failing cell when it fails.

Visible test cells call these helpers, so a learner sees at once what was expected, what came back and a
hint; nbgrader grades the same cell the same way, because a failed check raises :class:`CheckFailed`.
A pass prints ``PASS ✔ …``; a failure shows as the exception's one line (nothing else). Each check costs
microseconds: no imports beyond the standard library, no I/O but that one line.

A check fails its cell at once. A test cell with many checks runs them inside ``with all_checks():``
instead: each failing check is noted, the rest still run, and the cell fails once at the end with every
failing check on a line of its own (a cell whose checks all pass shows their ``PASS`` lines and nothing more).

A test cell that grades *how* a server compares a secret (in constant time, with ``hmac.compare_digest``)
counts those calls with :func:`compare_digest_calls`: a profile function in the threads started inside the
block, which the grading kernel's guard recognises (it is this module's own function, restored before every
test cell) and does not report as a tamper finding.
"""

from __future__ import annotations

import _operator
import hmac
import math
import numbers
import operator
import reprlib
import sys
import threading

__all__ = ["CheckFailed", "Passed", "check", "check_that", "check_raises", "all_checks", "compare_digest_calls",
           "count_lines", "TooManyLines"]

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
        return str(self).splitlines() or [""]


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


def _equal(got, expected, depth: int = 0) -> bool:
    """``got == expected``, judged by ``expected``'s type so that the learner's object cannot decide it.

    - ``True``, ``False`` and ``None`` want exactly themselves (``True == 1`` in Python, not here);
    - a number wants a number (an ``int`` subclass such as ``HTTPStatus``, a numpy number, a float for an
      int of the same value), compared as the plain value it converts to (``__index__``, ``__float__``
      must return a real ``int`` or ``float``, so an object that "equals anything" has nothing to offer);
    - a ``str``, ``bytes``, list, tuple, dict or set wants one of those (subclasses welcome), compared
      element by element with these same rules, through the built-in type's own methods;
    - anything else wants an instance of ``expected``'s type, compared by that type's ``__eq__``: a
      subclass overriding ``__eq__`` is not asked.
    """
    if depth > 100:
        return False  # a structure nested this deep is not an answer a check expects
    try:
        return _equal_by_type(got, expected, depth)
    except Exception:  # noqa: BLE001 - e.g. an array compared with a list, a broken __index__: not equal
        return False


def _equal_by_type(got, expected, depth: int) -> bool:
    if expected is None or isinstance(expected, bool):
        return got is expected
    if isinstance(got, bool):
        return False  # a bool where a number, a string or a list is expected
    if isinstance(expected, numbers.Number):
        return _same_number(got, expected)
    for kind in (str, bytes, list, tuple, dict, set, frozenset):
        if isinstance(expected, kind):
            return _SAME[kind](got, expected, depth)
    kind = type(expected)
    if not isinstance(got, kind) or type(got).__eq__ is not kind.__eq__:
        return False  # a subclass with an __eq__ of its own (datetime for a date, or a forgery): not equal
    result = kind.__eq__(expected, got)
    return result is not NotImplemented and bool(result)


def _same_number(got, expected) -> bool:
    if not isinstance(got, numbers.Number):
        return False
    if isinstance(expected, numbers.Integral) and isinstance(got, numbers.Integral):
        return operator.index(got) == operator.index(expected)
    if isinstance(expected, numbers.Real) and isinstance(got, numbers.Real):
        mine, theirs = float(got), float(expected)
        if isinstance(expected, numbers.Integral):
            return mine == theirs  # 2.0 for 2 passes, as it always did; 2.5 does not
        if math.isnan(theirs):
            return math.isnan(mine)
        return math.isclose(mine, theirs, rel_tol=1e-9, abs_tol=1e-9)
    if not isinstance(got, numbers.Real | type(expected)):
        return False
    result = type(expected).__eq__(expected, got)  # Decimal, complex: the expected type's own comparison
    return result is True


def _same_str(got, expected, depth) -> bool:
    return isinstance(got, str) and str.__eq__(got, expected) is True


def _same_bytes(got, expected, depth) -> bool:
    return isinstance(got, bytes | bytearray) and bytes(memoryview(got)) == bytes(memoryview(expected))


def _same_sequence(kind):
    def same(got, expected, depth) -> bool:
        if not isinstance(got, kind):
            return False
        length = kind.__len__(got)
        if length != kind.__len__(expected):
            return False
        return all(_equal(kind.__getitem__(got, i), kind.__getitem__(expected, i), depth + 1)
                   for i in range(length))
    return same


def _key(value, depth: int = 0):
    """A dict key or set element as the plain built-in value it stands for (``TypeError`` for others)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, numbers.Integral):
        return operator.index(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, bytes):
        return bytes(memoryview(value))
    if isinstance(value, tuple) and depth < 20:
        return tuple(_key(item, depth + 1) for item in tuple.__iter__(value))
    if isinstance(value, frozenset) and depth < 20:
        return frozenset(_key(item, depth + 1) for item in frozenset(value))
    if type(value).__hash__ is object.__hash__ and type(value).__eq__ is object.__eq__:
        return value  # identity semantics (an enum member, a plain object): nothing to forge
    raise TypeError(f"not a plain key: {type(value).__name__}")


def _same_dict(got, expected, depth) -> bool:
    if not isinstance(got, dict) or dict.__len__(got) != dict.__len__(expected):
        return False
    plain = {_key(k): k for k in dict.keys(expected)}
    for key, value in dict.items(got):
        mine = _key(key)
        if mine not in plain or not _equal(key, plain[mine], depth + 1):
            return False
        if not _equal(value, dict.__getitem__(expected, plain[mine]), depth + 1):
            return False
    return True


def _same_set(got, expected, depth) -> bool:
    if not isinstance(got, set | frozenset):
        return False
    return {_key(item) for item in frozenset(got)} == {_key(item) for item in frozenset(expected)}


_SAME = {str: _same_str, bytes: _same_bytes, list: _same_sequence(list), tuple: _same_sequence(tuple),
         dict: _same_dict, set: _same_set, frozenset: _same_set}


def _truth(ok) -> bool:
    """Whether a condition holds: a bool (or numpy's), or a built-in value's truth; an object of another
    type does not get to say that it is true."""
    if isinstance(ok, bool):
        return ok
    kind = type(ok)
    if kind.__module__ in ("builtins", "numpy"):
        try:
            return bool(ok)
        except Exception:  # noqa: BLE001 - e.g. an array of several booleans: not a condition
            return False
    return False


def _fail(label: str, detail: str, hint: str) -> None:
    """Raise the failure's one line, or note it in the ``all_checks()`` block this check runs in."""
    line = f"FAIL ✘ {label}: {detail}"
    if hint:
        line += f" Hint: {hint}"
    collector = _collector_around(sys._getframe(1))
    if collector is None:
        raise CheckFailed(line)  # not printed too: the notebook shows the exception as this one line
    collector.failures.append(line)


# -- every check of a cell, one failure at the end ----------------------------------------------------------

_OPEN: list = []  # the all_checks() blocks entered and not yet left, innermost last


def _collector_around(frame):
    """The innermost open ``all_checks()`` block whose ``with`` statement is running in ``frame`` or in one
    of its callers, or None. A block is found only from inside it: one that a learner's code entered and
    never left (its frame has returned) does not swallow a later test cell's failures."""
    if not _OPEN:
        return None
    callers = set()
    while frame is not None:
        callers.add(id(frame))
        frame = frame.f_back
    for collector in reversed(_OPEN):
        if id(collector.frame) in callers:
            return collector
    return None


def _enter(self):
    self.frame, self.failures = sys._getframe(1), []
    _OPEN.append(self)
    return self


def _exit(self, kind, error, traceback) -> bool:
    _OPEN[:] = [collector for collector in _OPEN if collector is not self]
    failures, self.frame = self.failures, None
    if isinstance(error, CheckFailed):
        failures.append(str(error))  # a check outside this block's reach, or a nested block: listed too
    elif error is not None:
        if not failures or not isinstance(error, Exception):
            return False  # the exception as it is (the cell fails), as without the block
        stopped = ("the function is not written yet (it raised NotImplementedError)"
                   if isinstance(error, NotImplementedError) else f"{kind.__name__}: {str(error)[:200]}")
        failures.append(f"FAIL ✘ the checks stopped here: {stopped}.")
    if failures:
        raise CheckFailed("\n".join(failures)) from None
    return False


def all_checks():
    """A ``with`` block in which every check runs: a failing check is noted instead of raised, and leaving
    the block raises one :class:`CheckFailed` listing every failing check, one line each (so the cell still
    fails, and nbgrader scores it zero). A failing check inside returns None instead of raising.

    An exception from the learner's code ends the block early; the failures noted before it are listed,
    followed by a line naming that exception.

    Each call makes its own small class, so code that reaches a block's type cannot change how other blocks
    end (``__exit__`` is looked up on the type); its methods are this module's functions, which the grading
    kernel's guard restores before every test cell.
    """
    kind = type("all_checks", (), {"__slots__": ("frame", "failures"), "__enter__": _enter, "__exit__": _exit})
    return kind()


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
    return _fail(label, detail, hint)


def check_that(label: str, ok: bool, hint: str = "", *, got=None, expected: str = "") -> Passed:
    """Pass when ``ok`` is true; otherwise say what was expected (in words) and what came back."""
    __tracebackhide__ = True
    if _truth(ok):
        return _pass(label)
    detail = f"expected {expected}, got {_show(got)}." if expected else "the condition did not hold."
    return _fail(label, detail, hint)


def check_raises(label: str, func, *args, exception: type[BaseException] = ValueError, hint: str = "",
                 **kwargs) -> Passed:
    """Pass when ``func(*args, **kwargs)`` raises ``exception`` (or a subclass)."""
    __tracebackhide__ = True
    try:
        result = func(*args, **kwargs)
    except exception:
        return _pass(label)
    except NotImplementedError:
        return _fail(label, "the function is not written yet (it raised NotImplementedError).", hint)
    except Exception as error:  # noqa: BLE001 - any other exception is the learner's answer, reported
        return _fail(label, f"expected {exception.__name__}, got {type(error).__name__}: {error}.", hint)
    detail = f"expected {exception.__name__} to be raised, got a return value {_show(result)}."
    return _fail(label, detail, hint)


# -- constant-time comparisons, counted ---------------------------------------------------------------------

# hmac.compare_digest is secrets.compare_digest (OpenSSL's, in _hashlib) or _operator's: C functions, found
# here before any student code runs (a Python stand-in that uses == is not counted). They, and the list of open
# blocks, are bound as defaults: the guard restores these functions' code and defaults before every test cell.
_COMPARE_DIGESTS = (hmac.compare_digest, _operator._compare_digest)
_WATCHING: list = []  # the lists of the compare_digest_calls() blocks now open


def _count_compare_digest(frame, event, arg, targets=_COMPARE_DIGESTS, watching=_WATCHING) -> None:
    """The profile function of :func:`compare_digest_calls` (the guard knows it by identity): a C call of
    ``compare_digest``, under any name, adds the calling function's name to every open block's list."""
    if event == "c_call" and watching and (arg is targets[0] or arg is targets[1]):
        for seen in watching:
            seen.append(frame.f_code.co_name)


def _watch_enter(self, watching=_WATCHING, profile=_count_compare_digest) -> list:
    self.seen, self.previous = [], threading.getprofile()
    watching.append(self.seen)
    threading.setprofile(profile)
    return self.seen


def _watch_exit(self, kind, error, traceback, watching=_WATCHING) -> bool:
    threading.setprofile(self.previous)
    watching[:] = [seen for seen in watching if seen is not self.seen]
    return False


def compare_digest_calls():
    """A ``with`` block whose value is a list that gets one entry (the calling function's name) for every call
    of ``hmac.compare_digest`` (``secrets.compare_digest`` too, or either imported under another name) made by
    a thread started inside the block, such as a server's (``threading.setprofile``; the test's own thread is
    not watched). Timing a comparison is too noisy to grade; whether the constant-time function ran is not.

    Like :func:`all_checks`, each call makes its own small class whose methods are this module's functions
    (the grading kernel's guard restores them before every test cell), and the value is a plain list.
    """
    kind = type("compare_digest_calls", (), {"__slots__": ("seen", "previous"), "__enter__": _watch_enter,
                                             "__exit__": _watch_exit})
    return kind()


# -- lines of Python run, counted ---------------------------------------------------------------------------

class TooManyLines(Exception):
    """More lines of Python ran inside a :func:`count_lines` block than its ``limit``."""


_COUNTING: list = []  # the open count_lines() blocks' (count and limit, skipped files), innermost last
# The trace functions run inside the code they trace (a hidden test's too): they call nothing the student's
# code could have replaced or subclassed. Every name they use is bound as a default (the guard restores
# defaults before every test cell, and reports a change to them), and each entry of _COUNTING is used only if
# it is made of exact lists, tuples, ints and frozensets, which run no Python code of anyone's.


def _count_line(frame, event, arg, counting=_COUNTING, me=None, _type=type, _list=list, _tuple=tuple, _int=int,
                _len=len):
    """The local trace function of :func:`count_lines`: each line run adds one to every open block."""
    if event == "line":
        for entry in counting:
            if _type(entry) is _tuple and _len(entry) == 2 and _type(entry[0]) is _list and _len(entry[0]) == 2:
                cell = entry[0]
                if _type(cell[0]) is _int and _type(cell[1]) is _int:
                    cell[0] += 1
                    if 0 <= cell[1] < cell[0]:
                        raise TooManyLines(f"more than {cell[1]} lines of Python ran")  # tracing stops with it
    return me


_count_line.__defaults__ = (_COUNTING, _count_line, type, list, tuple, int, len)


def _trace_call(frame, event, arg, counting=_COUNTING, line=_count_line, _type=type, _tuple=tuple,
                _frozenset=frozenset, _len=len, _own=__file__):
    """The global trace function of :func:`count_lines`: a function whose file the innermost block skips (the
    counted values' own methods), or of this module (the block's own exit), is not traced."""
    if not counting or frame.f_code.co_filename == _own:
        return None
    entry = counting[-1]
    if _type(entry) is _tuple and _len(entry) == 2 and _type(entry[1]) is _frozenset \
            and frame.f_code.co_filename in entry[1]:
        return None
    return line


def _lines_enter(self, tracer=_trace_call, counting=_COUNTING):
    counting.append(self.entry)
    sys.settrace(tracer)  # the guard lets this call through only with this very tracer, in a test cell
    return self


def _lines_exit(self, kind, error, traceback, counting=_COUNTING, tracer=_trace_call) -> bool:
    counting[:] = [entry for entry in counting if entry is not self.entry]
    sys.settrace(tracer if counting else None)  # the grading kernel has no tracer of its own to put back
    return False


def _lines_count(self) -> int:
    return self.entry[0][0]


def count_lines(limit: int | None = None, skip=()):
    """A ``with`` block whose value's ``count`` is the number of lines of Python run inside it, in this
    thread, by functions called there (not those defined in a file named in ``skip``; C code such as ``dict``
    or ``heapq`` has no lines). Past ``limit`` lines, :class:`TooManyLines` is raised into the running code.

    A trace function could watch the hidden tests run, so the grading kernel's guard reports every
    ``sys.settrace`` but this module's own: :func:`_lines_enter` or :func:`_lines_exit` installing
    :func:`_trace_call` (known by identity, their code and defaults restored before every test cell), in a
    test cell. Like :func:`all_checks`, each call makes its own small class whose methods are this module's
    functions.
    """
    kind = type("count_lines", (), {"__slots__": ("entry",), "__enter__": _lines_enter, "__exit__": _lines_exit,
                                    "count": property(_lines_count)})
    block = kind()
    block.entry = ([0, -1 if limit is None else int(limit)], frozenset(str(path) for path in skip))
    return block
