"""Operation counters and small helpers for step 07 (the computer-science fundamentals).

Wall-clock time depends on the machine and on whatever else runs on it; the number of operations an
algorithm performs does not. So step 07 measures time once, to show it, and judges growth by counting:

- :class:`OpCounter` tallies operations by kind (``compare``, ``eq``, ``hash``, ``read``);
- :class:`Counted` wraps a value and reports every comparison, equality test and hash to a counter, so
  ``sorted``, ``heapq``, ``dict`` and ``list.remove`` reveal how much work they did;
- :class:`CountingList` is a read-only sequence that counts element reads (binary search reads ~log2 n);
- :func:`counting_lines` counts the lines of Python that run, which sees a scan that never touches a
  counted value (``min(...)`` with a ``key`` function, a ``for`` loop over entries);
- :class:`Census` streams values and records how many of them the reader still holds (a heap of k);
- :func:`measure_counts` and :func:`measure_seconds` run a function over growing inputs.

It also holds the pieces the lesson's concurrency demos need in an importable module (a worker process
cannot import a function defined in a notebook): :func:`fetch` and :func:`fetch_async` (the same request,
blocking and with asyncio), :func:`serve_slow` (a local server that answers slowly, like a busy database),
:func:`bump_state` (a change that stays in the process that made it), :func:`cpu_work` (CPU-bound work),
:func:`start_process_pool` and :func:`best_of_each`.

The lesson's sentences about its measurements are written by the ``describe_*`` functions at the end,
from the measured numbers, never as fixed words: a run where threads lose must not read as if they won.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import os
import statistics
import threading
import time
import timeit
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import total_ordering
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

__all__ = [
    "OpCounter", "Counted", "counted", "CountingList", "TooManyOperations", "counting_lines", "Census",
    "measure_counts",
    "measure_seconds", "fetch", "fetch_async", "slow_handler", "serve_slow", "SlowServer", "STATE",
    "bump_state", "cpu_work", "start_process_pool", "best_of_each", "compared_with",
    "describe_growth", "describe_bst_heights", "describe_isolation", "describe_io_timings",
    "describe_cpu_timings",
]


class TooManyOperations(RuntimeError):
    """A counter went past its limit: the code did far more work than it should (or loops forever)."""


class OpCounter:
    """Counts operations by kind. ``counter.total`` is the sum; ``counter["compare"]`` one kind."""

    def __init__(self, limit: int | None = None):
        self.counts: Counter = Counter()
        self.limit = limit

    def add(self, kind: str, amount: int = 1) -> None:
        self.counts[kind] += amount
        if self.limit is not None and self.total > self.limit:
            raise TooManyOperations(f"more than {self.limit} operations ({dict(self.counts)})")

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def __getitem__(self, kind: str) -> int:
        return self.counts[kind]

    def reset(self) -> None:
        self.counts.clear()

    def __repr__(self) -> str:
        kinds = ", ".join(f"{k}={v}" for k, v in sorted(self.counts.items()))
        return f"OpCounter(total={self.total}{', ' if kinds else ''}{kinds})"


def _plain(other):
    return other.value if isinstance(other, Counted) else other


@total_ordering
class Counted:
    """A value that reports every ``<``/``>`` (``compare``), ``==`` (``eq``) and ``hash`` to a counter.

    It behaves like the value it wraps: it compares with plain numbers and strings, negates, and converts
    with ``int()``/``float()``/``str()``. Negation keeps counting, so ``key=lambda x: -x`` still counts.
    """

    __slots__ = ("value", "counter")

    def __init__(self, value, counter: OpCounter):
        self.value = value
        self.counter = counter

    def __lt__(self, other):
        self.counter.add("compare")
        return self.value < _plain(other)

    def __eq__(self, other):
        self.counter.add("eq")
        return self.value == _plain(other)

    def __hash__(self):
        self.counter.add("hash")
        return hash(self.value)

    def __neg__(self):
        return Counted(-self.value, self.counter)

    def __int__(self):
        return int(self.value)

    def __float__(self):
        return float(self.value)

    def __str__(self):
        return str(self.value)

    def __repr__(self):
        return repr(self.value)


def counted(values: Iterable, counter: OpCounter) -> list[Counted]:
    """Wrap every value so that ``counter`` sees the operations done on it."""
    return [Counted(v, counter) for v in values]


class CountingList(Sequence):
    """A read-only list that counts element reads (``read``) on ``counter``; ``len()`` is free."""

    def __init__(self, values: Iterable, counter: OpCounter | None = None):
        self._values = list(values)
        self.counter = counter if counter is not None else OpCounter()

    @property
    def reads(self) -> int:
        return self.counter["read"]

    def __len__(self) -> int:
        return len(self._values)

    def __getitem__(self, index):
        if isinstance(index, slice):
            picked = self._values[index]
            self.counter.add("read", len(picked))  # a slice copies, and copying reads every element
            return picked
        self.counter.add("read")
        return self._values[index]

    def __repr__(self) -> str:
        return f"CountingList(<{len(self._values)} items>, reads={self.reads})"


@contextmanager
def counting_lines(counter: OpCounter) -> Iterator[OpCounter]:
    """Count, as kind ``line``, every line of Python run by functions called inside the block.

    Lines of this module (the counted values' own methods) are not counted; C code such as ``dict`` or
    ``heapq`` has no lines. Tracing is per thread and is stopped afterwards. The counting is
    :func:`course.grading.checks.count_lines` (a trace function the grading kernel's guard knows as the
    course's own, not a student's watching the tests); the counter's limit stops the code at once.
    """
    from course.grading.checks import TooManyLines, count_lines

    left = None if counter.limit is None else max(counter.limit - counter.total, 0)
    block = count_lines(limit=left, skip=[__file__])
    try:
        with block:
            yield counter
    except TooManyLines:
        counter.add("line", block.count)
        raise TooManyOperations(f"more than {counter.limit} operations ({dict(counter.counts)})") from None
    counter.add("line", block.count)


class Census:
    """Streams values and records ``peak``: the most of them the reader held at once while reading.

    ``census.stream(values, counter)`` yields a fresh :class:`Counted` per value; each time the reader asks
    for the next one, the values it still holds (in a heap, a list, a loop variable; negated copies too)
    are counted.
    """

    def __init__(self):
        self.alive = self.peak = 0

    def stream(self, values: Iterable, counter: OpCounter) -> Iterator[Counted]:
        for value in values:
            self.peak = max(self.peak, self.alive)
            yield _Tracked(value, counter, self)
        self.peak = max(self.peak, self.alive)


class _Tracked(Counted):
    __slots__ = ("census",)

    def __init__(self, value, counter: OpCounter, census: Census):
        super().__init__(value, counter)
        self.census = census
        census.alive += 1

    def __neg__(self):  # a negated copy kept in a heap is a value held too
        return _Tracked(-self.value, self.counter, self.census)

    def __del__(self):
        self.census.alive -= 1


def measure_counts(func: Callable, sizes: Iterable[int],
                   make_input: Callable[[int, OpCounter], object]) -> list[int]:
    """For each size ``n``: build ``make_input(n, counter)``, run ``func`` on it, record ``counter.total``.

    Building the input is not counted: the counter is reset just before ``func`` runs.
    """
    totals = []
    for n in sizes:
        counter = OpCounter()
        data = make_input(n, counter)
        counter.reset()
        func(data)
        totals.append(counter.total)
    return totals


def measure_seconds(func: Callable, sizes: Iterable[int], make_input: Callable[[int], object], *,
                    repeat: int = 3, number: int | None = 1, min_time: float = 0.005) -> list[float]:
    """For each size, the best of ``repeat`` timeit runs of ``func(make_input(n))`` (seconds per call).

    The best run, not the mean, is the least disturbed by other work on the machine; even so, timings
    move from run to run, which is why step 07 judges growth from counts. With ``number=None`` each run
    calls ``func`` as often as it takes to last at least ``min_time`` seconds (1, 2, 5, 10, 20, ... calls),
    so that microsecond calls are not lost in the timer's own noise.
    """
    seconds = []
    for n in sizes:
        data = make_input(n)
        timer = timeit.Timer(lambda data=data: func(data))
        calls = number if number is not None else _calls_lasting(timer, min_time)
        seconds.append(min(timer.repeat(repeat=repeat, number=calls)) / calls)
    return seconds


def _calls_lasting(timer: timeit.Timer, min_time: float) -> int:
    calls = 1
    while True:
        for step in (1, 2, 5):
            if timer.timeit(calls * step) >= min_time:
                return calls * step
        calls *= 10


def fetch(url: str, timeout: float = 10.0) -> int:
    """GET ``url`` and return how many body bytes came back (an I/O-bound task for threads and processes)."""
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - only 127.0.0.1 in the course
        return len(response.read())


async def fetch_async(url: str, timeout: float = 10.0) -> int:
    """The request :func:`fetch` makes, with asyncio streams: a new connection, one GET, the body's length.

    Like ``urllib`` it asks the server to close the connection after the answer, so the two do the same I/O.
    """
    parts = urllib.parse.urlsplit(url)
    reader, writer = await asyncio.wait_for(asyncio.open_connection(parts.hostname, parts.port), timeout)
    try:
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        writer.write(f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), timeout)  # until the server closes the connection
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, body = raw.partition(b"\r\n\r\n")
    status = head.split(b" ", 2)[1] if head.count(b" ") >= 1 else b""
    if status != b"200":
        raise OSError(f"GET {url}: {head.splitlines()[0] if head else 'no answer'!r}")
    return len(body)


def slow_handler(delay: float = 0.2, body: bytes = b"done\n") -> type[BaseHTTPRequestHandler]:
    """A request handler that waits ``delay`` seconds (like a slow database) and then answers 200."""

    class SlowHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):  # noqa: N802 - the name http.server calls
            time.sleep(delay)
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args):  # noqa: A002 - signature of the base class
            pass

    return SlowHandler


class _WideBacklogServer(ThreadingHTTPServer):
    # The standard library listens with a backlog of 5: when more connections arrive at the same instant,
    # the kernel drops the extra ones and the clients retry a second later, which would spoil the timings.
    request_queue_size = 128
    daemon_threads = True


class SlowServer:
    """A :func:`slow_handler` server on 127.0.0.1 in a background thread; ``url``, ``stop()``."""

    def __init__(self, delay: float = 0.2):
        self._httpd = _WideBacklogServer(("127.0.0.1", 0), slow_handler(delay))
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="course-slow-server", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._httpd.shutdown()
            self._thread.join(timeout=10)
        self._httpd.server_close()

    def __enter__(self) -> SlowServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def serve_slow(delay: float = 0.2) -> SlowServer:
    """Start a local HTTP server whose every answer takes ``delay`` seconds; call ``stop()`` when done."""
    return SlowServer(delay)


# --- processes, threads and CPU work ---------------------------------------------------------------------

STATE = {"hits": 0}  # every process that imports this module has its own copy


def bump_state() -> tuple[int, int]:
    """Add 1 to this process's ``STATE["hits"]``; return ``(process id, hits now)`` as this process sees it."""
    STATE["hits"] += 1
    return os.getpid(), STATE["hits"]


def cpu_work(rounds: int) -> int:
    """Pure-Python arithmetic that never waits: CPU-bound work (the result only proves it ran)."""
    total = 0
    for i in range(rounds):
        total = (total + i * i) % 1_000_003
    return total


def _process_id(_: object = None) -> int:
    time.sleep(0.05)  # long enough that every warm-up task needs its own worker
    return os.getpid()


def start_process_pool(workers: int) -> tuple[ProcessPoolExecutor, float]:
    """Start ``workers`` spawned worker processes and wait until each is up; return the pool and the seconds.

    A pool starts its workers on demand; timing the start-up here keeps it out of the work timed later.
    """
    from concurrent.futures import ProcessPoolExecutor  # here: importing the module stays light
    from multiprocessing import get_context

    start = time.perf_counter()
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"))
    list(pool.map(_process_id, range(workers)))
    return pool, time.perf_counter() - start


async def best_of_each(runs: Mapping[str, Callable[[], object]], repeat: int = 3) -> dict[str, float]:
    """The fastest of ``repeat`` wall-clock runs of each ``runs[name]()``, in seconds, by name.

    The runs take turns (one of each, then again), so a burst of other work on the machine slows one round
    of all of them rather than every run of one. A run that returns an awaitable is awaited (asyncio).
    """
    best = dict.fromkeys(runs, math.inf)
    for _ in range(repeat):
        for name, run in runs.items():
            start = time.perf_counter()
            result = run()
            if inspect.isawaitable(result):
                await result
            best[name] = min(best[name], time.perf_counter() - start)
    return best


# --- sentences from measurements ---------------------------------------------------------------------------

SAME = 1.15  # within this factor of each other, two timings are "about as fast"
RANDOM_BST_HEIGHT = 4.311  # E(height) / ln n as n grows (Devroye, J. ACM 33(3), 1986; Reed, J. ACM 50(3), 2003)
SCATTER = 1.6  # growth factors further apart than this did not come from the growth rate alone


def compared_with(seconds: float, baseline: float, name: str) -> str:
    """``"3.1× faster than <name>"``, ``"1.4× slower than <name>"`` or ``"about as fast as <name>"``."""
    ratio = baseline / seconds
    if 1 / SAME <= ratio <= SAME:
        return f"about as fast as {name}"
    return f"{ratio:.1f}× faster than {name}" if ratio > 1 else f"{1 / ratio:.1f}× slower than {name}"


def describe_growth(sizes: Sequence[int], columns: Mapping[str, Sequence[float]],
                    models: Mapping[str, Callable[[float], float]]) -> str:
    """One line per column: by what factor it grew from each size to the next, against its model's factor.

    ``models[name]`` is the function the column should follow (``lambda n: n * n``); missing values (NaN)
    are skipped. The verdict ("close to", "above", "below") compares the median factor with the model's.
    """
    lines = []
    for name, values in columns.items():
        steps = [(a, b, va, vb) for a, b, va, vb in zip(sizes, sizes[1:], values, values[1:], strict=False)
                 if not (math.isnan(va) or math.isnan(vb)) and va > 0]
        if not steps:
            continue
        factors = [vb / va for _, _, va, vb in steps]
        ideal = statistics.median(models[name](b) / models[name](a) for a, b, _, _ in steps)
        median = statistics.median(factors)
        verdict = ("close to" if 1 / 1.25 <= median / ideal <= 1.25 else
                   "above" if median > ideal else "below")
        shown = ", ".join(f"×{f:.1f}" for f in factors)
        line = f"- {name}: {shown} (median ×{median:.1f}, {verdict} the ×{ideal:.1f} its growth rate predicts)"
        if max(factors) / min(factors) > SCATTER:
            line += (f"; the factors scatter from ×{min(factors):.1f} to ×{max(factors):.1f}, a sign that other work "
                     "on the machine disturbed these timings")
        lines.append(line)
    return "\n".join(lines)


def describe_bst_heights(rows: Sequence[tuple[int, float]]) -> str:
    """A sentence on random-BST heights ``(n, mean height)`` measured against ``log2 n``."""
    ratios = [height / math.log2(n) for n, height in rows]
    low, high = min(ratios), max(ratios)
    spread = f"{low:.2f}" if round(low, 2) == round(high, 2) else f"{low:.2f} to {high:.2f}"
    trend = ("rose with n" if all(b > a for a, b in zip(ratios, ratios[1:], strict=False)) else
             "fell with n" if all(b < a for a, b in zip(ratios, ratios[1:], strict=False)) else
             "did not move steadily with n")
    limit = RANDOM_BST_HEIGHT * math.log(2)  # the same limit as a multiple of log2 n (ln n = ln 2 · log2 n)
    where = ("these trees stayed below it" if high < limit else "these trees already reached it")
    return (f"With keys in random order, the trees were {spread} times as high as log2 n, and that ratio "
            f"{trend} over these sizes. The lowest possible height is ⌈log2(n+1)⌉. For very large n the "
            f"expected height is known to grow like {RANDOM_BST_HEIGHT:.3f}·ln n, about {limit:.2f}·log2 n "
            f"(Devroye 1986; Reed 2003); {where}.")


def describe_isolation(*, before: int, after_thread: int, after_child: int, child_saw: int) -> str:
    """What a thread's and a child process's ``bump_state()`` changed, in this process and in the child."""
    thread = ("the thread's change is visible here" if after_thread == before + 1 else
              f"the thread's change is not what we expected (hits went from {before} to {after_thread})")
    if after_child == after_thread:
        child = (f"the child process counted hits = {child_saw} in its own copy of the module, while here hits "
                 f"is still {after_child}: the child's change stayed in the child")
    else:
        child = f"hits changed here from {after_thread} to {after_child} while the child ran"
    return f"Hits went from {before} to {after_thread} after one thread ran `bump_state()`: {thread}. Then {child}."


def describe_io_timings(seconds: Mapping[str, float], *, requests: int, delay: float, threads: int,
                        processes: int, pool_start: float) -> str:
    """Sentences on the I/O timings (keys ``sequential``, ``threads``, ``processes``, ``asyncio``)."""
    base = seconds["sequential"]
    rounds = math.ceil(requests / processes)
    parts = [
        f"One after another, the {requests} requests took {base:.2f} s (their waits alone add up to "
        f"{requests} × {delay:g} s = {requests * delay:.2f} s).",
        f"{threads} threads took {seconds['threads']:.2f} s, {compared_with(seconds['threads'], base, 'the loop')}; "
        f"asyncio took {seconds['asyncio']:.2f} s, {compared_with(seconds['asyncio'], base, 'the loop')}.",
        f"{processes} processes took {seconds['processes']:.2f} s, "
        f"{compared_with(seconds['processes'], base, 'the loop')} ({processes} workers need {rounds} "
        f"round{'s' if rounds != 1 else ''} of {delay:g} s for {requests} requests).",
    ]
    total = seconds["processes"] + pool_start
    cost = (f"Starting the {processes} worker processes took {pool_start:.2f} s more, timed separately; counted "
            f"in, the processes were {compared_with(total, base, 'the loop')}.")
    parts.append(cost)
    ways = sorted(("threads", "asyncio", "processes"), key=seconds.__getitem__)
    tied = [way for way in ways[1:] if seconds[way] <= seconds[ways[0]] * SAME]
    if tied:
        parts.append(f"Fastest this run: {' and '.join([ways[0], *tied])}, within {SAME - 1:.0%} of each other.")
    else:
        parts.append(f"Fastest this run: {ways[0]}.")
    return " ".join(parts)


def describe_cpu_timings(seconds: Mapping[str, float], *, tasks: int, workers: int, cores: int,
                         gil: bool) -> str:
    """Sentences on CPU-bound timings (keys ``sequential``, ``threads``, ``processes``), honest about cores."""
    base = seconds["sequential"]
    threads = compared_with(seconds["threads"], base, "the loop")
    processes = compared_with(seconds["processes"], base, "the loop")
    parts = [f"One after another, the {tasks} tasks took {base:.2f} s; {workers} threads took "
             f"{seconds['threads']:.2f} s ({threads}); {workers} processes took {seconds['processes']:.2f} s "
             f"({processes})."]
    if gil:
        why = "this Python has the global interpreter lock, so only one thread runs Python code at a time"
        if threads.endswith("faster than the loop"):
            parts.append(f"The threads gained although {why}: other programs on the machine make such small "
                         "differences move from run to run.")
        else:
            parts.append(f"The threads gained nothing: {why}.")
    else:
        parts.append("This Python runs without the global interpreter lock (a free-threaded build), so threads "
                     "can run Python code on several cores at once, as processes do, without their start-up.")
    if processes.endswith("faster than the loop"):
        parts.append(f"The processes ran on several of the {cores} cores at once.")
    else:
        parts.append(f"The processes did not pay off here: the machine has {cores} core{'s' if cores != 1 else ''} "
                     "available to this program, shared with whatever else runs, and every task and result "
                     "travels between processes.")
    return " ".join(parts)
