"""Step 10 · a phone screen graded by counting operations, never by a stopwatch.

A hidden test cannot time an answer fairly (machines differ, a loaded machine is slow), but it can count
what the answer does. :func:`counted` gives numbers (``int`` subclasses) that count every comparison,
arithmetic operation, hash and conversion done on them; :func:`counted_calls` wraps a function and counts
its calls. :func:`operations` runs an answer with a tally, optionally stopping it once it passes a budget
(so a quadratic answer on a large input fails fast instead of running for minutes). :func:`growth` names
the complexity class whose curve best follows the counts at growing sizes, and :func:`normalise` reads a
stated class such as ``"O(n log n)"``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

__all__ = ["CLASSES", "counted", "counted_calls", "operations", "Measured", "growth", "measured_growth",
           "normalise"]

_ACTIVE: list[_Tally] = []


class _OverBudget(BaseException):
    """Raised inside an answer once it passes its budget; a BaseException so ``except Exception`` in the
    answer cannot swallow it."""


class _Tally:
    def __init__(self, budget):
        self.count = 0
        self.budget = budget

    def tick(self):
        self.count += 1
        if self.budget is not None and self.count > self.budget:
            raise _OverBudget


def _tick():
    if _ACTIVE:
        _ACTIVE[-1].tick()


class Counted(int):
    """An int whose operations are counted by the running :func:`operations` (results are plain ints)."""

    __slots__ = ()


_COUNTED_OPS = ("__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__floordiv__",
                "__truediv__", "__mod__", "__neg__", "__abs__", "__lt__", "__le__", "__gt__", "__ge__",
                "__eq__", "__ne__", "__hash__", "__int__", "__index__", "__float__", "__bool__")


def _counting(name):
    base = getattr(int, name)

    def method(self, *args):
        _tick()
        return base(self, *args)

    method.__name__ = name
    return method


for _name in _COUNTED_OPS:
    setattr(Counted, _name, _counting(_name))


def counted(values) -> list[Counted]:
    """``values`` as a list of :class:`Counted` ints."""
    return [Counted(v) for v in values]


def counted_calls(func):
    """``func`` wrapped so that each call counts as one operation."""
    def wrapper(*args, **kwargs):
        _tick()
        return func(*args, **kwargs)

    return wrapper


@dataclass
class Measured:
    result: object
    count: int
    over_budget: bool


def operations(func, *args, budget: int | None = None) -> Measured:
    """Run ``func(*args)`` and count the operations on counted values; stop once ``budget`` is passed."""
    tally = _Tally(budget)
    _ACTIVE.append(tally)
    try:
        return Measured(func(*args), tally.count, False)
    except _OverBudget:
        return Measured(None, tally.count, True)
    finally:
        _ACTIVE.remove(tally)


CLASSES = {
    "O(1)": lambda n: 1.0,
    "O(log n)": lambda n: math.log2(n),
    "O(n)": lambda n: float(n),
    "O(n log n)": lambda n: n * math.log2(n),
    "O(n^2)": lambda n: float(n) * n,
}


def growth(counts: dict[int, int]) -> str:
    """The class of :data:`CLASSES` whose curve the counts follow best: the one for which count / f(n)
    varies least (in log scale) over the sizes."""
    def spread(f):
        ratios = [math.log(max(count, 1) / f(n)) for n, count in counts.items()]
        return max(ratios) - min(ratios)

    return min(CLASSES, key=lambda name: spread(CLASSES[name]))


def measured_growth(func, make_args, sizes) -> tuple[str, dict[int, int]]:
    """``(class, {n: operations})`` of ``func(*make_args(n))`` at each size."""
    counts = {n: operations(func, *make_args(n)).count for n in sizes}
    return growth(counts), counts


def normalise(stated) -> str | None:
    """A stated class as a key of :data:`CLASSES` (``"o(n²)"``, ``"O(N*N)"``, ``"O(log(n))"`` …), or None."""
    text = re.sub(r"\s+", "", str(stated)).lower()
    text = text.replace("²", "^2").replace("**", "^").replace("n*n", "n^2").replace("log(n)", "logn")
    text = text.replace("log2n", "logn").replace("n*logn", "nlogn").replace("n·logn", "nlogn")
    names = {re.sub(r"\s+", "", name).lower(): name for name in CLASSES}
    return names.get(text)
