"""Operation counters and small helpers for step 07 (the computer-science fundamentals).

Wall-clock time depends on the machine and on whatever else runs on it; the number of operations an
algorithm performs does not. So step 07 measures time once, to show it, and judges growth by counting:

- :class:`OpCounter` tallies operations by kind (``compare``, ``eq``, ``hash``, ``read``);
- :class:`Counted` wraps a value and reports every comparison, equality test and hash to a counter, so
  ``sorted``, ``heapq``, ``dict`` and ``list.remove`` reveal how much work they did;
- :class:`CountingList` is a read-only sequence that counts element reads (binary search reads ~log2 n);
- :func:`measure_counts` and :func:`measure_seconds` run a function over growing inputs.

It also holds the pieces the lesson's concurrency demo needs in an importable module (a worker process
cannot import a function defined in a notebook): :func:`fetch`, :func:`slow_handler` and
:func:`serve_slow`, a local server that answers slowly, like a busy database.
"""

from __future__ import annotations

import threading
import time
import timeit
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from functools import total_ordering
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = [
    "OpCounter", "Counted", "counted", "CountingList", "TooManyOperations", "measure_counts",
    "measure_seconds", "fetch", "slow_handler", "serve_slow", "SlowServer",
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
                    repeat: int = 3, number: int = 1) -> list[float]:
    """For each size, the best of ``repeat`` timeit runs of ``func(make_input(n))`` (seconds per call).

    The best run, not the mean, is the least disturbed by other work on the machine; even so, timings
    move from run to run, which is why step 07 judges growth from counts.
    """
    seconds = []
    for n in sizes:
        data = make_input(n)
        runs = timeit.repeat(lambda data=data: func(data), repeat=repeat, number=number)
        seconds.append(min(runs) / number)
    return seconds


def fetch(url: str, timeout: float = 10.0) -> int:
    """GET ``url`` and return how many body bytes came back (an I/O-bound task for threads and processes)."""
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - only 127.0.0.1 in the course
        return len(response.read())


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
