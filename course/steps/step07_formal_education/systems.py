"""Deadlock, amortised cost and space, shown on real threads and measured in the run (deep dive 07b).

- :func:`transfer_opposite_orders` runs two threads that take two locks in opposite orders; each waits for its
  second lock with ``acquire(timeout=...)``, so a deadlock is *detected* (and both back off) instead of
  hanging the kernel. :func:`transfer_ordered` takes the same locks in one global order and never deadlocks.
- :func:`list_growth` records every size at which CPython's ``list.append`` reallocated (``sys.getsizeof``
  jumps), and :func:`copies` counts the element copies of a dynamic array under a growth policy (doubling
  against a fixed increment): amortised O(1) against O(n) per append.
- :func:`peak_bytes` measures the peak memory a call allocates with ``tracemalloc`` (a list against a
  generator).

Exercise 07b's tests use the rest on the learner's code: :class:`SlowAccount` (its lock holds on a moment after
it is taken and its balance reads take a moment, so a missing lock or a bad lock order shows every run, not
once in a thousand), :func:`run_together` (calls on daemon threads started at once and joined against one
deadline, so a deadlocked answer is reported instead of hanging the grader) and :class:`Block` with
:func:`counting_writes` (the fixed-size blocks of a dynamic array, every write counted).
"""

from __future__ import annotations

import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

__all__ = ["Account", "transfer_opposite_orders", "transfer_ordered", "list_growth", "copies", "peak_bytes",
           "SlowLock", "SlowAccount", "Together", "run_together", "Block", "Writes", "counting_writes"]


@dataclass
class Account:
    """A balance with its own lock; ``number`` gives the global lock order."""

    number: int
    balance: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)


def _run_pair(work: Callable[[Account, Account, threading.Barrier], bool], a: Account, b: Account) -> list[bool]:
    barrier = threading.Barrier(2, timeout=30)
    results: list[bool] = [False, False]

    def run(slot, first, second):
        results[slot] = work(first, second, barrier)

    threads = [threading.Thread(target=run, args=(0, a, b)), threading.Thread(target=run, args=(1, b, a))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def transfer_opposite_orders(a: Account, b: Account, *, wait: float = 0.5) -> list[bool]:
    """Thread 1 moves 1 from ``a`` to ``b`` locking ``a`` then ``b``; thread 2 moves 1 back locking ``b`` then
    ``a``. Both hold their first lock before either asks for its second (a barrier makes sure), so each waits
    for a lock the other holds: a deadlock. ``acquire(timeout=wait)`` ends the wait; returns whether each
    thread completed its transfer (``[False, False]`` is the deadlock, detected)."""

    def work(source, target, barrier):
        with source.lock:
            barrier.wait()
            if not target.lock.acquire(timeout=wait):
                barrier.wait()  # both gave up while holding their first lock: neither slipped through
                return False  # release the first lock (leaving the with) and report
            return _move_one(source, target, target.lock)

    return _run_pair(work, a, b)


def transfer_ordered(a: Account, b: Account, *, wait: float = 5.0) -> list[bool]:
    """The same two transfers, each taking the lower-numbered account's lock first: no thread can hold the
    second lock of the order while waiting for the first, so no cycle of waits (and no deadlock) can form."""

    def work(source, target, barrier):
        barrier.wait()
        first, second = sorted((source, target), key=lambda account: account.number)
        with first.lock:
            if not second.lock.acquire(timeout=wait):
                return False
            return _move_one(source, target, second.lock)

    return _run_pair(work, a, b)


def _move_one(source: Account, target: Account, acquired) -> bool:
    """Move one unit with both locks held, then release ``acquired`` (the second lock taken)."""
    try:
        source.balance -= 1
        target.balance += 1
        return True
    finally:
        acquired.release()


def list_growth(appends: int = 1000) -> list[tuple[int, int]]:
    """``[(length, bytes)]`` at each append after which ``sys.getsizeof`` of a list grew: the reallocations."""
    items: list = []
    steps = [(0, sys.getsizeof(items))]
    for i in range(appends):
        items.append(i)
        size = sys.getsizeof(items)
        if size != steps[-1][1]:
            steps.append((len(items), size))
    return steps


def copies(appends: int, grow: Callable[[int], int], start: int = 1) -> tuple[int, int]:
    """``(element copies, resizes)`` of a dynamic array that starts with room for ``start`` and, when full,
    moves to a new block of ``grow(capacity)`` slots (copying every element it holds)."""
    if start < 1:
        raise ValueError("start must be at least 1")
    capacity, moved, resizes = start, 0, 0
    for length in range(appends):  # ``length`` elements are held when the next one is appended
        if length == capacity:
            new = grow(capacity)
            if new <= capacity:
                raise ValueError(f"grow({capacity}) = {new} does not grow")
            moved += length
            resizes += 1
            capacity = new
    return moved, resizes


def peak_bytes(func: Callable[[], object]) -> int:
    """The peak memory, in bytes, that ``func()`` allocated while it ran (``tracemalloc``), above what was
    allocated before it started."""
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        func()
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        if not was_tracing:
            tracemalloc.stop()


class SlowLock:
    """A ``threading.Lock`` that, once taken, keeps its taker ``hold`` seconds before returning: a thread that
    takes one lock and then asks for another gives every other thread time to take theirs, so two threads
    locking in opposite orders deadlock every time. ``with``, ``acquire(blocking, timeout)``, ``release`` and
    ``locked`` behave as the Lock's."""

    def __init__(self, hold: float = 0.001):
        self._lock, self.hold = threading.Lock(), hold

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        taken = self._lock.acquire(blocking, timeout)
        if taken:
            time.sleep(self.hold)
        return taken

    def release(self) -> None:
        self._lock.release()

    def locked(self) -> bool:
        return self._lock.locked()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


class SlowAccount(Account):
    """An :class:`Account` whose balance reads take ``delay`` seconds (as a read from a remote store does) and
    whose lock is a :class:`SlowLock`: a read-modify-write of the balance without the account's lock overlaps
    another thread's, and loses its update, nearly every time two of them run together."""

    def __init__(self, number: int, balance: int = 0, delay: float = 0.001):
        self.number, self.delay, self._balance = number, delay, balance
        self.lock = SlowLock(delay)

    @property
    def balance(self) -> int:  # type: ignore[override]
        value = self._balance
        time.sleep(self.delay)  # another thread may write meanwhile: this read is then stale
        return value

    @balance.setter
    def balance(self, value: int) -> None:
        self._balance = value

    def __repr__(self) -> str:
        return f"SlowAccount(number={self.number}, balance={self._balance})"


@dataclass
class Together:
    """What :func:`run_together` saw: whether every call returned within the deadline, each call's result
    (None while unfinished) and each call's exception (None when it returned)."""

    finished: bool
    results: list
    errors: list[BaseException | None]

    def reraise(self) -> None:
        """Raise the first exception a call raised, if any (so a learner's error shows as itself)."""
        for error in self.errors:
            if error is not None:
                raise error


def run_together(calls: list[Callable[[], object]], *, timeout: float) -> Together:
    """Run every call on its own daemon thread, all released at once by a barrier, and wait at most ``timeout``
    seconds in all. A call that never returns (a deadlock) leaves ``finished`` False; its thread stays blocked
    but, being a daemon, never stops the interpreter from exiting."""
    results: list = [None] * len(calls)
    errors: list[BaseException | None] = [None] * len(calls)
    done = [False] * len(calls)
    start = threading.Barrier(len(calls))

    def run(i: int) -> None:
        try:
            start.wait(timeout)
            results[i] = calls[i]()
        except BaseException as error:  # noqa: BLE001 - reported to the caller, who judges it
            errors[i] = error
        done[i] = True

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return Together(all(done), results, errors)


class Writes:
    """The writes counted by :func:`counting_writes`: element writes to blocks and the slots of blocks made."""

    def __init__(self) -> None:
        self.writes = self.slots = self.blocks = 0


_meters: list[Writes] = []


class Block:
    """``size`` slots (``None`` at first), a dynamic array's one allocation: ``len``, ``block[i]`` and
    ``block[i] = x`` for ``0 <= i < size`` (no slices, no negative indexes, no growing). Every write and every
    block made is counted by each :func:`counting_writes` in force."""

    def __init__(self, size: int):
        if not isinstance(size, int) or size < 1:
            raise ValueError(f"a Block has at least 1 slot (an int), not {size!r}")
        self._slots = [None] * size
        for meter in _meters:
            meter.blocks += 1
            meter.slots += size

    def __len__(self) -> int:
        return len(self._slots)

    def _check(self, index) -> int:
        if not isinstance(index, int) or not 0 <= index < len(self._slots):
            raise IndexError(f"Block index {index!r} out of range 0..{len(self._slots) - 1}")
        return index

    def __getitem__(self, index: int):
        return self._slots[self._check(index)]

    def __setitem__(self, index: int, value) -> None:
        self._slots[self._check(index)] = value
        for meter in _meters:
            meter.writes += 1

    def __repr__(self) -> str:
        return f"Block({len(self._slots)})"


@contextmanager
def counting_writes() -> Iterator[Writes]:
    """Count the writes to every :class:`Block`, and the blocks made, while the ``with`` block runs."""
    meter = Writes()
    _meters.append(meter)
    try:
        yield meter
    finally:
        _meters.remove(meter)
