"""course.steps.step07_formal_education (operation counters, the slow local server) and step 07's hidden tests.

The counters must count exactly what the exercise's checks rely on: a sort's comparisons, a dict's hashes,
a binary search's reads. No test here asserts a wall-clock time. The last group runs the exercise's own
test cells against other correct answers (which must pass) and plausible wrong ones (which must fail).
"""

from __future__ import annotations

import asyncio
import bisect
import heapq
import math
import random
import socket
import threading
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import pytest
from factories import graded_cells
from factories import part_runner as run_parts

from course.steps.step07_formal_education import (
    STATE,
    Counted,
    CountingList,
    OpCounter,
    TooManyOperations,
    best_of_each,
    bump_state,
    compared_with,
    counted,
    cpu_work,
    describe_bst_heights,
    describe_cpu_timings,
    describe_growth,
    describe_io_timings,
    describe_isolation,
    fetch,
    fetch_async,
    measure_counts,
    measure_seconds,
    serve_slow,
    start_process_pool,
)
from course.steps.step07_formal_education import fundamentals as step07

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
    allowed = n * (2 * math.log2(10 + 1) + 2)  # Part C's bound for k = 10
    assert heap_counter.total < 1.5 * n < allowed < sort_counter.total


def test_measure_seconds_repeats_a_fast_call_until_a_run_lasts_min_time():
    calls = []
    seconds = measure_seconds(calls.append, [1], lambda n: n, repeat=2, number=None, min_time=0.001)
    assert len(seconds) == 1 and seconds[0] > 0
    assert len(calls) > 2 * 5  # calibration and both runs called it many times, not once per run


def test_bisect_reads_at_most_ceil_log2_n_plus_1_as_the_lesson_prints():
    for n in [1, 2, 3, 7, 8, 9, 1000, 1023, 1024, 1025, 4096]:
        bound = math.ceil(math.log2(n + 1))
        for target in {-1, 0, n // 3, n - 1, n, 2 * n}:
            items = CountingList(range(n))
            bisect.bisect_left(items, target)
            assert items.reads <= bound, (n, target)
    assert math.ceil(math.log2(1001)) == 10 and math.floor(math.log2(1000)) == 9  # not "log2 1000 = 9"


# --- the lesson's sentences follow its measurements (fed measured-like numbers, no clock) --------------------

def test_compared_with_says_faster_slower_or_about_the_same():
    assert compared_with(0.2, 0.8, "the loop") == "4.0× faster than the loop"
    assert compared_with(2.4, 0.8, "the loop") == "3.0× slower than the loop"
    assert compared_with(0.85, 0.8, "the loop") == "about as fast as the loop"


IO = {"sequential": 0.82, "threads": 0.11, "processes": 0.22, "asyncio": 0.12}


def test_io_sentences_follow_the_numbers():
    text = describe_io_timings(IO, requests=8, delay=0.1, threads=8, processes=4, pool_start=2.9)
    assert "took 0.82 s" in text and "8 × 0.1 s = 0.80 s" in text
    assert "8 threads took 0.11 s, 7.5× faster than the loop" in text
    assert "asyncio took 0.12 s, 6.8× faster" in text
    assert "4 processes took 0.22 s, 3.7× faster" in text and "2 rounds" in text
    assert "2.90 s more" in text and "counted in, the processes were 3.8× slower than the loop" in text
    assert "Fastest this run: threads and asyncio, within 15%" in text


def test_io_sentences_when_asyncio_and_processes_lose():
    measured = {"sequential": 0.82, "threads": 0.23, "processes": 2.92, "asyncio": 1.16}  # the reviewers' run
    text = describe_io_timings(measured, requests=8, delay=0.1, threads=8, processes=4, pool_start=0.0)
    assert "asyncio took 1.16 s, 1.4× slower than the loop" in text
    assert "4 processes took 2.92 s, 3.6× slower than the loop" in text
    assert "Fastest this run: threads." in text and "near 0.2" not in text


def test_io_sentences_when_threads_are_slowest():
    measured = {"sequential": 0.82, "threads": 0.9, "processes": 0.3, "asyncio": 0.12}
    text = describe_io_timings(measured, requests=8, delay=0.1, threads=8, processes=4, pool_start=0.1)
    assert "8 threads took 0.90 s, about as fast as the loop" in text
    assert "Fastest this run: asyncio." in text and "1 round " not in text


def test_cpu_sentences_with_the_gil():
    text = describe_cpu_timings({"sequential": 0.4, "threads": 0.42, "processes": 0.21}, tasks=4, workers=4,
                                cores=2, gil=True)
    assert "4 threads took 0.42 s (about as fast as the loop)" in text and "The threads gained nothing" in text
    assert "1.9× faster than the loop" in text and "ran on several of the 2 cores" in text
    slow = describe_cpu_timings({"sequential": 0.4, "threads": 0.64, "processes": 0.55}, tasks=4, workers=4,
                                cores=2, gil=True)
    assert "1.6× slower" in slow and "The processes did not pay off here" in slow and "2 cores" in slow
    lucky = describe_cpu_timings({"sequential": 0.4, "threads": 0.2, "processes": 0.55}, tasks=4, workers=4,
                                 cores=1, gil=True)
    assert "The threads gained although" in lucky and "1 core available" in lucky


def test_cpu_sentences_without_the_gil_claim_no_gil_and_no_numbers_not_measured():
    text = describe_cpu_timings({"sequential": 0.4, "threads": 0.2, "processes": 0.25}, tasks=4, workers=4,
                                cores=2, gil=False)
    assert "without the global interpreter lock" in text and "only one thread runs" not in text
    assert "0.20 s" in text and "2.0× faster" in text


def test_growth_lines_are_computed_from_the_ratios():
    sizes = [100, 200, 400, 800]
    columns = {"quadratic": [1.0, 20.0, 32.0, float("nan")], "linear": [1.0, 2.0, 4.1, 8.0]}
    models = {"quadratic": lambda n: n * n, "linear": lambda n: n}
    text = describe_growth(sizes, columns, models)
    quadratic, linear = text.splitlines()
    assert quadratic.startswith("- quadratic: ×20.0, ×1.6 (") and "quadruples" not in text
    assert "scatter from ×1.6 to ×20.0" in quadratic and "the ×4.0 its growth rate predicts" in quadratic
    assert linear == "- linear: ×2.0, ×2.0, ×2.0 (median ×2.0, close to the ×2.0 its growth rate predicts)"
    assert "below" in describe_growth(sizes, {"linear": [1, 1.1, 1.2, 1.3]}, models)
    assert "above" in describe_growth(sizes, {"linear": [1, 4, 16, 64]}, models)
    nlogn = describe_growth([1000, 3000, 9000], {"f": [1, 3.5, 12]}, {"f": lambda n: n * math.log2(n)})
    assert "×3.5, ×3.4" in nlogn and "predicts" in nlogn  # sizes need not double


def test_bst_sentence_reports_the_measurement_against_log2_n():
    text = describe_bst_heights([(256, 17.33), (2048, 25.0), (16384, 35.0)])
    assert "2.17 to 2.50 times as high as log2 n" in text and "rose with n" in text
    assert "4.311·ln n, about 2.99·log2 n" in text and "stayed below it" in text and "2·log2" not in text
    assert "fell with n" in describe_bst_heights([(256, 20.0), (2048, 22.0)])
    assert "already reached it" in describe_bst_heights([(1024, 31.0)])


def test_isolation_sentence_follows_what_happened():
    text = describe_isolation(before=0, after_thread=1, after_child=1, child_saw=1)
    assert "the thread's change is visible here" in text and "the child's change stayed in the child" in text
    leaked = describe_isolation(before=0, after_thread=1, after_child=2, child_saw=2)
    assert "stayed in the child" not in leaked and "changed here from 1 to 2" in leaked
    lost = describe_isolation(before=3, after_thread=3, after_child=3, child_saw=1)
    assert "visible here" not in lost


def test_best_of_each_takes_turns_keeps_the_fastest_and_awaits_coroutines(monkeypatch):
    order = []
    clock = iter([0.0, 5.0, 10.0, 11.0, 20.0, 22.0, 30.0, 34.0])  # a: 5 then 2, b: 1 then 4
    monkeypatch.setattr(step07.time, "perf_counter", lambda: next(clock))

    async def b():
        order.append("b")

    best = asyncio.run(best_of_each({"a": lambda: order.append("a"), "b": b}, repeat=2))
    assert order == ["a", "b", "a", "b"] and best == {"a": 2.0, "b": 1.0}


def test_cpu_work_is_deterministic():
    assert cpu_work(1000) == cpu_work(1000) == sum(i * i for i in range(1000)) % 1_000_003


def test_bump_state_changes_this_process_from_a_thread():
    before = STATE["hits"]
    thread = threading.Thread(target=bump_state)
    thread.start()
    thread.join()
    assert STATE["hits"] == before + 1


@pytest.mark.slow
def test_a_child_process_changes_only_its_own_copy():
    pool, seconds = start_process_pool(2)
    try:
        before = STATE["hits"]
        results = [pool.submit(bump_state).result() for _ in range(2)]
        assert STATE["hits"] == before  # the parent's copy is untouched
        assert all(hits >= 1 for _, hits in results) and seconds > 0
        assert all(pid != step07.os.getpid() for pid, _ in results)
    finally:
        pool.shutdown()


# --- the lesson ---------------------------------------------------------------------------------------------

def test_the_lesson_writes_measured_claims_from_the_run():
    import nbformat

    from course.platform import paths

    nb = nbformat.read(paths.lesson_path(STEM), as_version=4)
    prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    for fixed in ["near 0.2 s", "in between", "roughly quadruples", "2·log2(n)", "increasingly ask",
                  "bit_length() - 1", "costs more than the waits they save"]:
        assert fixed not in prose + code, fixed
    for call in ["describe_growth(", "describe_bst_heights(", "describe_isolation(", "describe_io_timings(",
                 "describe_cpu_timings(", "start_process_pool(", "best_of_each("]:
        assert call in code, call
    assert "httpx.AsyncClient" not in code  # asyncio does the same I/O as the other three ways


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
def test_fetch_async_makes_the_same_request_as_fetch():
    with serve_slow(delay=0.01) as server:
        url = server.url + "/item/3?x=1"
        assert asyncio.run(fetch_async(url)) == fetch(url) == len(b"done\n")
        port = server.port
    with pytest.raises(OSError):
        asyncio.run(fetch_async(f"http://127.0.0.1:{port}/gone", timeout=2))


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
LRU_MIN_OVER_ITEMS = '''
class LRUCache:
    def __init__(self, capacity):
        if capacity < 1:
            raise ValueError(capacity)
        self.capacity, self.data, self.clock = capacity, {}, 0
    def _touch(self, key, value):
        self.clock += 1
        self.data[key] = (self.clock, value)
    def get(self, key, default=None):
        if key not in self.data:
            return default
        value = self.data[key][1]
        self._touch(key, value)
        return value
    def put(self, key, value):
        self._touch(key, value)
        if len(self.data) > self.capacity:
            oldest = min(self.data.items(), key=lambda item: item[1][0])[0]
            del self.data[oldest]
    def __len__(self):
        return len(self.data)
'''
LRU_LOOP_OVER_ENTRIES = LRU_MIN_OVER_ITEMS.replace(
    "            oldest = min(self.data.items(), key=lambda item: item[1][0])[0]\n",
    "            oldest, first = None, None\n"
    "            for key, (used, _) in self.data.items():\n"
    "                if first is None or used < first:\n"
    "                    oldest, first = key, used\n")
LRU_LINKED_LIST = '''
class _Node:
    __slots__ = ("key", "value", "prev", "next")

class LRUCache:
    def __init__(self, capacity):
        if capacity < 1:
            raise ValueError("capacity")
        self.capacity, self.nodes = capacity, {}
        self.head = _Node()
        self.head.prev = self.head.next = self.head
    def _unlink(self, node):
        node.prev.next, node.next.prev = node.next, node.prev
    def _push(self, node):
        node.prev, node.next = self.head.prev, self.head
        self.head.prev.next = node
        self.head.prev = node
    def get(self, key, default=None):
        node = self.nodes.get(key)
        if node is None:
            return default
        self._unlink(node)
        self._push(node)
        return node.value
    def put(self, key, value):
        node = self.nodes.get(key)
        if node is None:
            node = self.nodes[key] = _Node()
            node.key = key
        else:
            self._unlink(node)
        node.value = value
        self._push(node)
        if len(self.nodes) > self.capacity:
            oldest = self.head.next
            self._unlink(oldest)
            del self.nodes[oldest.key]
    def __len__(self):
        return len(self.nodes)
'''
TOP_K_HEAPIFY_ALL = '''
import heapq

def top_k(latencies, k):
    heap = [-value for value in latencies]
    heapq.heapify(heap)
    return [-heapq.heappop(heap) for _ in range(min(k, len(heap)))] if k > 0 else []
'''
TOP_K_NLARGEST = '''
import heapq

def top_k(latencies, k):
    return heapq.nlargest(k, latencies) if k > 0 else []
'''
TOP_K_PUSH_THEN_POP = '''
import heapq

def top_k(latencies, k):
    heap = []
    for value in latencies:
        heapq.heappush(heap, value)
        if len(heap) > k:
            heapq.heappop(heap)
    return sorted(heap, reverse=True) if k > 0 else []
'''
TOP_K_SCAN_KEPT = '''
def top_k(latencies, k):
    kept = []
    for value in latencies:
        if len(kept) < k:
            kept.append(value)
        elif k > 0:
            smallest = min(kept)
            if smallest < value:
                kept[kept.index(smallest)] = value
    return sorted(kept, reverse=True)
'''
GROWTH_TABLE = '''
GROWTH = {"O(1)": lambda n: 1, "O(log n)": lambda n: math.log2(n), "O(n)": lambda n: n,
          "O(n log n)": lambda n: n * math.log2(n), "O(n^2)": lambda n: n * n}
'''
GROWTH_ASSUMES_DOUBLING = GROWTH_TABLE + '''
def classify_growth(sizes, counts):
    n, factor = sizes[-2], counts[-1] / counts[-2]
    return min(GROWTH, key=lambda name: abs(math.log(factor / (GROWTH[name](2 * n) / GROWTH[name](n)))))
'''
GROWTH_SMALLEST_SPREAD = GROWTH_TABLE + '''
def classify_growth(sizes, counts):
    def spread(name):
        ratios = [c / GROWTH[name](n) for n, c in zip(sizes[-3:], counts[-3:])]
        return (max(ratios) - min(ratios)) / (sum(ratios) / len(ratios))
    return min(GROWTH, key=spread)
'''
GROWTH_LAST_TWO_SIZES = GROWTH_TABLE + '''
def classify_growth(sizes, counts):
    (a, b), (ca, cb) = sizes[-2:], counts[-2:]
    return min(GROWTH, key=lambda name: abs(math.log((cb / ca) / (GROWTH[name](b) / GROWTH[name](a)))))
'''
SEARCH_ANY_MATCH = '''
def binary_search(items, target):
    low, high = 0, len(items) - 1
    while low <= high:
        middle = (low + high) // 2
        if items[middle] == target:
            return middle
        if items[middle] < target:
            low = middle + 1
        else:
            high = middle - 1
    return -1
'''
BOOKING_LOCK_AROUND_THE_WRITE_ONLY = '''
class SafeSeatBooking(SeatBooking):
    def __init__(self, seats, pause):
        super().__init__(seats, pause)
        self._lock = asyncio.Lock()

    async def book(self, user):
        if self.free > 0:
            await self._pause()
            async with self._lock:
                self.free -= 1
                self.holders.append(user)
            return True
        return False
'''
BOOKING_A_NEW_LOCK_PER_CALL = '''
class SafeSeatBooking(SeatBooking):
    async def book(self, user):
        async with asyncio.Lock():
            return await super().book(user)
'''
FAN_OUT_A_SEMAPHORE_PER_CALL = '''
async def fetch_all(urls, fetch, limit):
    if limit < 1:
        raise ValueError(limit)
    async def one(url):
        async with asyncio.Semaphore(limit):
            try:
                return await fetch(url)
            except Exception as error:
                return error
    return list(await asyncio.gather(*(one(u) for u in urls)))
'''
FAN_OUT_UNLIMITED = '''
async def fetch_all(urls, fetch, limit):
    if limit < 1:
        raise ValueError(limit)
    return list(await asyncio.gather(*(fetch(u) for u in urls), return_exceptions=True))
'''
FAN_OUT_EXCEPTIONS_ESCAPE = '''
async def fetch_all(urls, fetch, limit):
    if limit < 1:
        raise ValueError(limit)
    gate = asyncio.Semaphore(limit)
    async def one(url):
        async with gate:
            return await fetch(url)
    return list(await asyncio.gather(*(one(u) for u in urls)))
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
    # issue 19: scans that never touch a counted key, a heap of all n values, sizes that do not double
    ("lru_cache_behaviour", "lru_cache", LRU_MIN_OVER_ITEMS, True),
    ("lru_cache_operations", "lru_cache", LRU_MIN_OVER_ITEMS, False),
    ("lru_cache_operations", "lru_cache", LRU_LOOP_OVER_ENTRIES, False),
    ("lru_cache_behaviour", "lru_cache", LRU_LINKED_LIST, True),
    ("lru_cache_operations", "lru_cache", LRU_LINKED_LIST, True),
    ("top_k_behaviour", "top_k", TOP_K_HEAPIFY_ALL, True),
    ("top_k_comparisons", "top_k", TOP_K_HEAPIFY_ALL, False),
    ("top_k_behaviour", "top_k", TOP_K_NLARGEST, True),
    ("top_k_comparisons", "top_k", TOP_K_NLARGEST, True),
    ("top_k_comparisons", "top_k", TOP_K_PUSH_THEN_POP, True),
    ("top_k_behaviour", "top_k", TOP_K_SCAN_KEPT, True),
    ("top_k_comparisons", "top_k", TOP_K_SCAN_KEPT, False),
    ("classify_growth_tests", "classify_growth", GROWTH_ASSUMES_DOUBLING, False),
    ("classify_growth_tests", "classify_growth", GROWTH_SMALLEST_SPREAD, True),
    ("classify_growth_tests", "classify_growth", GROWTH_LAST_TWO_SIZES, True),
    # the other parts, reviewed the same way
    ("binary_search_tests", "binary_search", SEARCH_ANY_MATCH, False),
    ("safe_seat_booking_tests", "safe_seat_booking", BOOKING_LOCK_AROUND_THE_WRITE_ONLY, False),
    ("safe_seat_booking_tests", "safe_seat_booking", BOOKING_A_NEW_LOCK_PER_CALL, False),
    ("fetch_all_tests", "fetch_all", FAN_OUT_UNLIMITED, False),
    ("fetch_all_tests", "fetch_all", FAN_OUT_A_SEMAPHORE_PER_CALL, False),
    ("fetch_all_tests", "fetch_all", FAN_OUT_EXCEPTIONS_ESCAPE, False),
], ids=["search-walks-left", "search-bisect-reads", "search-bisect", "lru-list-scan", "lru-ordereddict",
        "lru-ordereddict-counts", "topk-sorts-everything", "growth-naive-thresholds", "booking-unlocked",
        "booking-lock-leaks-on-error", "fanout-batches", "fanout-worker-pool",
        "lru-min-over-items-behaves", "lru-min-over-items", "lru-loop-over-entries", "lru-linked-list-behaves",
        "lru-linked-list-counts", "topk-heapify-all-behaves", "topk-heapify-all", "topk-nlargest-behaves",
        "topk-nlargest", "topk-push-then-pop", "topk-scan-kept-behaves", "topk-scan-kept", "growth-assumes-doubling", "growth-smallest-spread",
        "growth-last-two-sizes", "search-any-match", "booking-lock-around-write", "booking-new-lock-per-call", "fanout-unlimited", "fanout-semaphore-per-call",
        "fanout-exceptions-escape"])
def test_hidden_tests_judge_other_answers(part_runner, test_id, answer_id, answer, passes):
    assert part_runner(test_id, **{answer_id: answer}) is passes
