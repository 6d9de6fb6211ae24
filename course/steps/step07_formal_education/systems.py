"""Deadlock, amortised cost and space, shown on real threads and measured in the run (deep dive 07b).

- :func:`transfer_opposite_orders` runs two threads that take two locks in opposite orders; each waits for its
  second lock with ``acquire(timeout=...)``, so a deadlock is *detected* (and both back off) instead of
  hanging the kernel. :func:`transfer_ordered` takes the same locks in one global order and never deadlocks.
- :func:`list_growth` records every size at which CPython's ``list.append`` reallocated (``sys.getsizeof``
  jumps), and :func:`copies` counts the element copies of a dynamic array under a growth policy (doubling
  against a fixed increment): amortised O(1) against O(n) per append.
- :func:`peak_bytes` measures the peak memory a call allocates with ``tracemalloc`` (a list against a
  generator).
"""

from __future__ import annotations

import sys
import threading
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Account", "transfer_opposite_orders", "transfer_ordered", "list_growth", "copies", "peak_bytes"]


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
