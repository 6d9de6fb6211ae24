"""course.steps.step07_formal_education (operation counters, the slow local server) and step 07's hidden tests.

The counters must count exactly what the exercise's checks rely on: a sort's comparisons, a dict's hashes,
a binary search's reads. No test here asserts a wall-clock time. The last group runs the exercise's own
test cells against other correct answers (which must pass) and plausible wrong ones (which must fail).
"""

from __future__ import annotations

import bisect
import heapq
import math
import random
import socket
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import pytest
from factories import graded_cells
from factories import part_runner as run_parts

from course.steps.step07_formal_education import (
    Counted,
    CountingList,
    OpCounter,
    TooManyOperations,
    counted,
    fetch,
    measure_counts,
    measure_seconds,
    serve_slow,
)

STEM = "07-formal-education"


# --- counters ------------------------------------------------------------------------------------------

def test_counted_values_report_comparisons_equality_and_hashes():
    counter = OpCounter()
    a, b = Counted(1, counter), Counted(2, counter)
    assert a < b and b > a and a <= b and b >= a
    assert a == 1 and a != b and {a: "x"}[Counted(1, counter)] == "x"
    assert counter["compare"] >= 4 and counter["eq"] >= 2 and counter["hash"] == 2
    assert counter.total == sum(counter.counts.values())


def test_counted_values_behave_like_their_value():
    counter = OpCounter()
    value = Counted(7, counter)
    assert (-value) < 0 and isinstance(-value, Counted)  # negation keeps counting
    assert int(value) == 7 and float(value) == 7.0 and str(value) == "7" and repr(value) == "7"
    assert sorted(counted([3, 1, 2], counter)) == [1, 2, 3]
    assert Counted("b", counter) > "a"


def test_sorting_counts_about_n_log_n_comparisons():
    rng = random.Random(0)
    n = 1024
    counts = measure_counts(sorted, [n], lambda size, c: counted(rng.sample(range(10 * size), size), c))[0]
    assert 0.7 * n * math.log2(n) < counts < 1.1 * n * math.log2(n)
    ordered = measure_counts(sorted, [n], lambda size, c: counted(range(size), c))[0]
    assert ordered == n - 1  # Timsort finds the single run: the lesson's "Try it" relies on this


def test_a_dict_lookup_is_constant_and_a_list_scan_linear():
    lookups = measure_counts(lambda d: d[Counted(3, OpCounter())], [10, 1000, 100_000],
                             lambda n, c: {Counted(i, c): i for i in range(n)})
    assert len(set(lookups)) == 1 and lookups[0] <= 3
    scans = measure_counts(lambda values: -1 in values, [10, 1000], lambda n, c: counted(range(n), c))
    assert scans == [10, 1000]


def test_counting_list_counts_reads_and_slices_but_not_len():
    items = CountingList(range(100))
    assert len(items) == 100 and items.reads == 0
    assert items[5] == 5 and items[-1] == 99 and items.reads == 2
    assert items[10:20] == list(range(10, 20)) and items.reads == 12
    assert bisect.bisect_left(items, 64) == 64 and items.reads <= 12 + 8


def test_counting_list_stops_runaway_code_at_its_limit():
    items = CountingList(range(1000), OpCounter(limit=50))
    with pytest.raises(TooManyOperations, match="more than 50"):
        items.index(999)


def test_measure_counts_ignores_the_work_of_building_the_input():
    def make(n, counter):
        values = counted(range(n), counter)
        sorted(values)  # work while building: must not be counted
        return values
    assert measure_counts(lambda values: None, [100, 200], make) == [0, 0]


def test_counter_reset_and_repr():
    counter = OpCounter()
    counter.add("read", 3)
    assert "read=3" in repr(counter)
    counter.reset()
    assert counter.total == 0


def test_measure_seconds_returns_one_positive_time_per_size():
    seconds = measure_seconds(sorted, [10, 20, 40], lambda n: list(range(n, 0, -1)), repeat=2)
    assert len(seconds) == 3 and all(s > 0 for s in seconds)


def test_heap_top_k_is_far_cheaper_than_sorting_on_random_data():
    rng = random.Random(1)
    n = 4000
    data = [rng.randrange(10**6) for _ in range(n)]
    heap_counter, sort_counter = OpCounter(), OpCounter()
    heapq.nlargest(10, counted(data, heap_counter))
    sorted(counted(data, sort_counter), reverse=True)
    assert heap_counter.total < 3 * n < sort_counter.total  # the margin Part C's check relies on


# --- the slow server ------------------------------------------------------------------------------------

@pytest.mark.service
def test_the_slow_server_answers_and_frees_its_port_when_stopped():
    with serve_slow(delay=0.01) as server:
        assert fetch(server.url + "/x") == len(b"done\n")
        port = server.port
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


@pytest.mark.service
@pytest.mark.slow
def test_fetch_runs_in_spawned_worker_processes():
    with serve_slow(delay=0.01) as server, \
            ProcessPoolExecutor(max_workers=2, mp_context=get_context("spawn")) as pool:
        assert list(pool.map(fetch, [server.url + f"/{i}" for i in range(4)])) == [5] * 4


@pytest.mark.service
def test_the_slow_server_accepts_many_connections_at_once():
    with serve_slow(delay=0.05) as server:
        sockets = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(40)]
        for sock in sockets:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        replies = [sock.recv(64) for sock in sockets]
        for sock in sockets:
            sock.close()
    assert all(reply.startswith(b"HTTP/1.") and b" 200 " in reply for reply in replies)


# --- step 07's hidden tests against other answers --------------------------------------------------------

def _cells() -> dict[str, str]:
    return graded_cells(STEM)


ANSWERS = ["binary_search", "lru_cache", "top_k", "classify_growth", "safe_seat_booking", "fetch_all"]


@pytest.fixture(scope="module")
def part_runner():
    """Run the setup cells, answers and one test cell in a fresh IPython namespace; True if it passed."""
    with run_parts(STEM, ["setup", "seat_booking_racy", *ANSWERS]) as run:
        yield run


@pytest.mark.slow
def test_the_reference_answers_pass_every_test_cell(part_runner):
    tests = [k for k in _cells() if k.endswith(("_tests", "_reads", "_behaviour", "_operations", "_comparisons"))]
    assert len(tests) == 9
    for test_id in tests:
        assert part_runner(test_id), test_id


SEARCH_WALKS_LEFT = '''
def binary_search(items, target):
    i = bisect.bisect_left(items, target)
    if i == len(items) or items[i] != target:
        return -1
    j = bisect.bisect_right(items, target) - 1
    while j > 0 and items[j - 1] == target:
        j -= 1
    return j
'''
SEARCH_BISECT = '''
import bisect

def binary_search(items, target):
    i = bisect.bisect_left(items, target)
    return i if i < len(items) and items[i] == target else -1
'''
LRU_WITH_A_LIST = '''
class LRUCache:
    def __init__(self, capacity):
        if capacity < 1:
            raise ValueError(capacity)
        self.capacity, self.data, self.order = capacity, {}, []
    def get(self, key, default=None):
        if key not in self.data:
            return default
        self.order.remove(key)
        self.order.append(key)
        return self.data[key]
    def put(self, key, value):
        if key in self.data:
            self.order.remove(key)
        self.data[key] = value
        self.order.append(key)
        if len(self.order) > self.capacity:
            del self.data[self.order.pop(0)]
    def __len__(self):
        return len(self.data)
'''
LRU_ORDEREDDICT = '''
from collections import OrderedDict

class LRUCache(OrderedDict):
    def __init__(self, capacity):
        if capacity < 1:
            raise ValueError(capacity)
        super().__init__()
        self.capacity = capacity
    def get(self, key, default=None):
        if key not in self:
            return default
        self.move_to_end(key)
        return self[key]
    def put(self, key, value):
        self[key] = value
        self.move_to_end(key)
        if len(self) > self.capacity:
            self.popitem(last=False)
'''
TOP_K_SORTED = '''
def top_k(latencies, k):
    return sorted(latencies, reverse=True)[:max(k, 0)]
'''
GROWTH_BY_RATIO_THRESHOLDS = '''
def classify_growth(sizes, counts):
    ratio = counts[-1] / counts[-2]
    if ratio < 1.1:
        return "O(1)"
    if ratio < 1.5:
        return "O(log n)"
    if ratio < 2.1:
        return "O(n)"
    if ratio < 3:
        return "O(n log n)"
    return "O(n^2)"
'''
BOOKING_UNLOCKED = '''
class SafeSeatBooking(SeatBooking):
    pass
'''
BOOKING_LOCK_NEVER_RELEASED_ON_ERROR = '''
class SafeSeatBooking(SeatBooking):
    def __init__(self, seats, pause):
        super().__init__(seats, pause)
        self._lock = asyncio.Lock()

    async def book(self, user):
        await self._lock.acquire()
        ok = await super().book(user)
        self._lock.release()
        return ok
'''
FAN_OUT_IN_BATCHES = '''
async def fetch_all(urls, fetch, limit):
    if limit < 1:
        raise ValueError(limit)
    results = []
    for i in range(0, len(urls), limit):
        results += await asyncio.gather(*(fetch(u) for u in urls[i:i + limit]), return_exceptions=True)
    return results
'''
FAN_OUT_WORKERS = '''
async def fetch_all(urls, fetch, limit):
    if limit < 1:
        raise ValueError("limit")
    queue = asyncio.Queue()
    for item in enumerate(urls):
        queue.put_nowait(item)
    results = [None] * queue.qsize()

    async def worker():
        while not queue.empty():
            index, url = queue.get_nowait()
            try:
                results[index] = await fetch(url)
            except Exception as error:
                results[index] = error

    await asyncio.gather(*(worker() for _ in range(limit)))
    return results
'''


@pytest.mark.slow
@pytest.mark.parametrize(("test_id", "answer_id", "answer", "passes"), [
    ("binary_search_reads", "binary_search", SEARCH_WALKS_LEFT, False),
    ("binary_search_reads", "binary_search", SEARCH_BISECT, True),
    ("binary_search_tests", "binary_search", SEARCH_BISECT, True),
    ("lru_cache_operations", "lru_cache", LRU_WITH_A_LIST, False),
    ("lru_cache_behaviour", "lru_cache", LRU_ORDEREDDICT, True),
    ("lru_cache_operations", "lru_cache", LRU_ORDEREDDICT, True),
    ("top_k_comparisons", "top_k", TOP_K_SORTED, False),
    ("classify_growth_tests", "classify_growth", GROWTH_BY_RATIO_THRESHOLDS, False),
    ("safe_seat_booking_tests", "safe_seat_booking", BOOKING_UNLOCKED, False),
    ("safe_seat_booking_tests", "safe_seat_booking", BOOKING_LOCK_NEVER_RELEASED_ON_ERROR, False),
    ("fetch_all_tests", "fetch_all", FAN_OUT_IN_BATCHES, False),
    ("fetch_all_tests", "fetch_all", FAN_OUT_WORKERS, True),
], ids=["search-walks-left", "search-bisect-reads", "search-bisect", "lru-list-scan", "lru-ordereddict",
        "lru-ordereddict-counts", "topk-sorts-everything", "growth-naive-thresholds", "booking-unlocked",
        "booking-lock-leaks-on-error", "fanout-batches", "fanout-worker-pool"])
def test_hidden_tests_judge_other_answers(part_runner, test_id, answer_id, answer, passes):
    assert part_runner(test_id, **{answer_id: answer}) is passes
