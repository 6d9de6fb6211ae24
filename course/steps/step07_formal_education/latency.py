"""The memory hierarchy and the latency of a few real operations, measured on this machine (deep dive 07b).

Every figure is measured in the run, best of several runs (the least disturbed one), and reported as a ratio to
another measured figure: absolute nanoseconds depend on the machine and on what else runs on it.

- :func:`chase` follows a pointer-chasing cycle through an ``array`` of 8-byte integers (each read gives the
  next index, so no read can start before the previous one ends); :func:`memory_table` times one step for
  arrays that fit the CPU caches and one far larger than them, in a random and a sequential order. Python
  adds tens of nanoseconds of interpreter work to every step, so the gaps it shows are smaller than the
  hardware's own: a lower bound, not the cache's latency.
- :func:`operation_table` times a page-cache read, a read after the file's pages were dropped with
  ``posix_fadvise`` (where the system offers it: no root needed), a ``write`` + ``fsync``, a loopback TCP round
  trip and an indexed SQLite query.
- :func:`describe_memory` and :func:`describe_operations` word the sentences from the numbers.
"""

from __future__ import annotations

import os
import socket
import socketserver
import sqlite3
import tempfile
import time
from array import array
from collections.abc import Callable, Sequence

from course.components import servers

__all__ = ["cycle_array", "chase", "best_seconds", "memory_table", "operation_table", "describe_memory",
           "describe_operations", "MEMORY_SIZES"]

# Array sizes in bytes (8 per entry): one fits a typical L1 data cache (32-48 KiB), one a typical L2 (0.5-2 MiB),
# and one is larger than any desktop CPU's last-level cache.
MEMORY_SIZES = {"16 KiB": 16 << 10, "512 KiB": 512 << 10, "64 MiB": 64 << 20}


def cycle_array(entries: int, *, random_order: bool = True) -> array:
    """An ``array('q')`` whose values form one cycle through every index. ``entries`` is a power of two; in
    random order the next index is a full-period linear congruential step (``1103515245 i + 12345 mod n``: Hull-Dobell's
    conditions hold for a power of two), so
    consecutive reads land far apart and no prefetcher can guess them; in sequential order it is ``i + 1``."""
    if entries & (entries - 1) or entries < 2:
        raise ValueError(f"entries must be a power of two, not {entries}")
    mask = entries - 1
    if random_order:
        return array("q", ((1103515245 * i + 12345) & mask for i in range(entries)))
    return array("q", ((i + 1) & mask for i in range(entries)))


def chase(table: array, steps: int) -> int:
    """Follow the cycle ``steps`` times from index 0; return where it ended (so the work cannot be skipped)."""
    i = 0
    for _ in range(steps):
        i = table[i]
    return i


def best_seconds(func: Callable[[], object], *, repeat: int = 5) -> float:
    """The fastest of ``repeat`` runs of ``func()``, in seconds: the run least disturbed by the rest of the
    machine."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - start)
    return best


def memory_table(sizes: dict[str, int] | None = None, *, steps: int = 200_000,
                 repeat: int = 5) -> list[tuple[str, float]]:
    """``[(label, seconds per step)]`` of :func:`chase` for each size in random order, and the largest size in
    sequential order too. The largest array is touched once before timing, so page faults are not counted."""
    sizes = sizes or MEMORY_SIZES
    rows = []
    for label, size in sizes.items():
        table = cycle_array(size // 8)
        chase(table, len(table))
        rows.append((f"{label}, random order", best_seconds(lambda t=table: chase(t, steps), repeat=repeat) / steps))
    label, size = list(sizes.items())[-1]
    table = cycle_array(size // 8, random_order=False)
    rows.append((f"{label}, sequential", best_seconds(lambda: chase(table, steps), repeat=repeat) / steps))
    return rows


def describe_memory(rows: Sequence[tuple[str, float]]) -> str:
    """Sentences comparing the rows of :func:`memory_table` (the first row is the cache-sized one)."""
    per = dict(rows)
    labels = [label for label, _ in rows]
    small, large, sequential = labels[0], labels[-2], labels[-1]
    ratio = per[large] / per[small]
    seq_ratio = per[large] / per[sequential]
    first = (f"A step through the {large.split(',')[0]} array in random order took {ratio:.1f} times as long as "
             f"through the {small.split(',')[0]} one" if ratio >= 1.15 else
             f"A step through the {large.split(',')[0]} array in random order took about as long as through the "
             f"{small.split(',')[0]} one (ratio {ratio:.2f}): here the interpreter's own work hid the cache misses")
    second = (f"visiting the same large array in sequential order was {seq_ratio:.1f} times as fast as in random "
              "order: neighbouring entries share a cache line (64 bytes, eight entries, on most CPUs), and the CPU "
              "fetches the next lines before they are asked for" if seq_ratio >= 1.15 else
              f"sequential order was about as fast as random order (ratio {seq_ratio:.2f})")
    return first + "; " + second + "."


class _Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while data := self.request.recv(64):
            self.request.sendall(data)


def _round_trips(port: int, count: int) -> float:
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.sendall(b"x")
        conn.recv(1)  # the connection is set up before timing
        best = float("inf")
        for _ in range(count):
            start = time.perf_counter()
            conn.sendall(b"x")
            conn.recv(1)
            best = min(best, time.perf_counter() - start)
    return best


def _sqlite_query(repeat: int) -> float:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)")
    db.executemany("INSERT INTO users VALUES (?, ?)", ((i, f"u{i}@example.org") for i in range(10_000)))
    query = "SELECT email FROM users WHERE id = ?"
    runs = 200
    seconds = best_seconds(lambda: [db.execute(query, (i * 37 % 10_000,)).fetchone() for i in range(runs)],
                           repeat=repeat) / runs
    db.close()
    return seconds


def _file_reads(folder: str, repeat: int) -> dict[str, float]:
    path = os.path.join(folder, "block.bin")
    block = os.urandom(4096)
    out = {}
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        def write_and_sync():
            os.pwrite(fd, block, 0)
            os.fsync(fd)
        out["write 4 KiB + fsync"] = best_seconds(write_and_sync, repeat=repeat)
        out["read 4 KiB, page cache"] = best_seconds(lambda: os.pread(fd, 4096, 0), repeat=repeat)
        if hasattr(os, "posix_fadvise"):
            def cold_read():
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)  # drop this file's clean pages (no root)
                start = time.perf_counter()
                os.pread(fd, 4096, 0)
                return time.perf_counter() - start
            out["read 4 KiB, pages dropped"] = min(cold_read() for _ in range(repeat))
    finally:
        os.close(fd)
    return out


def operation_table(*, repeat: int = 5) -> list[tuple[str, float]]:
    """``[(operation, best seconds)]``: file reads and an fsync'd write in a temporary folder, a loopback TCP
    round trip to an echo server started and stopped here, and an indexed SQLite query, fastest first."""
    with tempfile.TemporaryDirectory() as folder:
        rows = _file_reads(folder, repeat)
    echo = servers.serve_handler(_Echo, name="echo")
    try:
        rows["TCP round trip on 127.0.0.1"] = _round_trips(echo.port, 50 * repeat)
    finally:
        echo.stop()
    rows["SQLite query by primary key"] = _sqlite_query(repeat)
    return sorted(rows.items(), key=lambda row: row[1])


def describe_operations(rows: Sequence[tuple[str, float]]) -> str:
    """One sentence per row after the first: how many times as long as the fastest operation it took."""
    fastest, base = rows[0]
    lines = [f"The fastest operation here was: {fastest}."]
    for name, seconds in rows[1:]:
        ratio = seconds / base
        lines.append(f"{name}: {ratio:,.0f} times as long." if ratio >= 1.5 else
                     f"{name}: about as long ({ratio:.1f} times).")
    cold, warm = dict(rows).get("read 4 KiB, pages dropped"), dict(rows).get("read 4 KiB, page cache")
    if cold is not None and warm is not None:
        lines.append(f"Dropping the page cache made the read {cold / warm:,.1f} times as slow: the data came from "
                     "the storage device, not from RAM." if cold / warm >= 3 else
                     f"Dropping the page cache changed the read little ({cold / warm:.1f} times): this file system "
                     "kept the data close (a RAM disk or a fast device), which a measurement must show, not hide.")
    return "\n".join(lines)
