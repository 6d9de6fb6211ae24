"""Exercise 07b graded on plausible answers, every variant in one kernel: the wrong ones lose marks, the other
correct ones keep them all (the solution's full marks and the release's zero are tests/test_exercises.py's)."""

from __future__ import annotations

import pytest
from factories import assert_judged, exercise_cells, run_variants, variant_cells

KAHN_LEVELS = r'''
def install_order(graph):
    nodes = set(graph) | {n for needs in graph.values() for n in needs}
    waiting = {n: set(graph.get(n, ())) for n in nodes}
    users = {n: [] for n in nodes}
    for n, needs in waiting.items():
        for need in needs:
            users[need].append(n)
    order, wave = [], sorted(n for n in nodes if not waiting[n])
    while wave:  # each wave sorted, instead of the smallest ready package each time
        order += wave
        following = []
        for n in wave:
            for user in users[n]:
                waiting[user].discard(n)
                if not waiting[user]:
                    following.append(user)
        wave = sorted(following)
    if len(order) < len(nodes):
        left = sorted(nodes - set(order))
        raise CycleError(left + left[:1])
    return order
'''

GRAPHLIB = r'''
import graphlib, heapq

def install_order(graph):
    sorter = graphlib.TopologicalSorter(graph)
    try:
        sorter.prepare()
    except graphlib.CycleError as error:
        raise CycleError({reverse}) from None
    ready = list(sorter.get_ready())
    heapq.heapify(ready)
    order = []
    while ready:
        node = heapq.heappop(ready)
        order.append(node)
        sorter.done(node)
        for more in sorter.get_ready():
            heapq.heappush(ready, more)
    return order
'''

RECURSIVE_DFS = r'''
def install_order(graph):
    nodes = sorted(set(graph) | {n for needs in graph.values() for n in needs})
    state, order = {}, []
    def visit(node, path):
        if state.get(node) == "done":
            return
        if state.get(node) == "open":
            raise CycleError(path[path.index(node):] + [node])
        state[node] = "open"
        for need in sorted(graph.get(node, ())):
            visit(need, path + [node])
        state[node] = "done"
        order.append(node)
    for node in nodes:
        visit(node, [])
    return order
'''

RETRY = r'''
IDEMPOTENT = {{"GET", "HEAD", "OPTIONS", "PUT", "DELETE"}}

def call_with_retries(send, method, *, attempts=4, base=0.05, cap=1.0, deadline=2.0, sleep=time.sleep,
                      now=time.monotonic, rand=random.random):
    started = now()
    k = 0
    while True:
        error = status = None
        try:
            status = send()
        except (TimeoutError, ConnectionError) as caught:
            error = caught
        temporary = {temporary}
        if not ({retryable} and temporary) or k + 1 >= {attempts}:
            break
        wait = {wait}
        if {deadline_check}:
            break
        sleep(wait)
        k += 1
    if error is not None:
        {last_error}
    return status
'''
RETRY_OK = {"temporary": "error is not None or status == 429 or 500 <= status <= 599", "retryable": "method in IDEMPOTENT",
            "attempts": "attempts", "wait": "rand() * min(cap, base * 2 ** k)",
            "deadline_check": "now() - started + wait > deadline", "last_error": "raise error"}


def retry(**changes):
    return RETRY.format(**{**RETRY_OK, **changes})


TRANSFER = r'''
{prelude}
def transfer(source, target, amount):
    {same}
    first, second = {order}
    with {locks}:
        if {overdraft}:
            return False
        source.balance -= amount
        target.balance += amount
        return True
'''
TRANSFER_OK = {"prelude": "", "locks": "first.lock, second.lock", "same": "if source is target:\n        return False",
               "order": "sorted((source, target), key=lambda account: account.number)",
               "overdraft": "source.balance < amount"}


def transfer_with(**changes):
    return TRANSFER.format(**{**TRANSFER_OK, **changes})


ARRAY = r'''
class DynamicArray:
    {shared}
    def __init__(self):
        {init}
        self._length = 0

    def __len__(self):
        return self._length

    def __getitem__(self, index):
        return self._block[index]

    def append(self, item):
        if self._length == len(self._block):
            bigger = Block({grow})
            for i in range({copied}):
                bigger[i] = self._block[i]
            self._block = bigger
        self._block[self._length] = item
        self._length += 1
'''
ARRAY_OK = {"shared": "", "init": "self._block = Block(1)", "grow": "2 * len(self._block)", "copied": "self._length"}


def array_with(**changes):
    return ARRAY.format(**{**ARRAY_OK, **changes})


COUNTS = r'''
from collections import Counter

def status_counts(lines):
    {body}
'''


VARIANTS = [
    # Part A: install order
    ("a-heap-kahn-other-style", "install_order", True, GRAPHLIB.format(reverse="error.args[1][::-1]")),
    ("a-graphlib-cycle-not-reversed", "install_order", False, GRAPHLIB.format(reverse="error.args[1]")),
    ("a-level-by-level", "install_order", False, KAHN_LEVELS),
    ("a-recursive-dfs", "install_order", False, RECURSIVE_DFS),
    ("a-leaves-forgotten", "install_order", False, GRAPHLIB.format(reverse="error.args[1][::-1]").replace(
        "return order", "return [n for n in order if n in graph]")),
    ("a-users-first", "install_order", False, GRAPHLIB.format(reverse="error.args[1][::-1]").replace(
        "return order", "return order[::-1]")),
    ("a-cycle-missed", "install_order", False, r'''
import heapq
def install_order(graph):
    nodes = set(graph) | {n for needs in graph.values() for n in needs}
    waiting = {n: set(graph.get(n, ())) for n in nodes}
    users = {n: [] for n in nodes}
    for n, needs in waiting.items():
        for need in needs:
            users[need].append(n)
    ready = [n for n in nodes if not waiting[n]]
    heapq.heapify(ready)
    order = []
    while ready:
        n = heapq.heappop(ready)
        order.append(n)
        for user in users[n]:
            waiting[user].discard(n)
            if not waiting[user]:
                heapq.heappush(ready, user)
    return order
'''),
    # Part B: fewest hops
    ("b-dict-of-paths", "fewest_hops", True, r'''
def fewest_hops(graph, start, goal):
    paths, frontier = {start: [start]}, [start]
    while frontier:
        following = []
        for node in frontier:
            if node == goal:
                return paths[node]
            for nxt in graph.get(node, ()):
                if nxt not in paths:
                    paths[nxt] = paths[node] + [nxt]
                    following.append(nxt)
        frontier = following
    return None
'''),
    ("b-depth-first", "fewest_hops", False, r'''
def fewest_hops(graph, start, goal):
    stack, parent = [start], {start: None}
    while stack:
        node = stack.pop()
        if node == goal:
            path = [node]
            while parent[path[-1]] is not None:
                path.append(parent[path[-1]])
            return path[::-1]
        for nxt in reversed(list(graph.get(node, ()))):
            if nxt not in parent:
                parent[nxt] = node
                stack.append(nxt)
    return None
'''),
    ("b-empty-list-when-unreachable", "fewest_hops", False, r'''
from collections import deque
def fewest_hops(graph, start, goal):
    parent, queue = {start: None}, deque([start])
    while queue:
        node = queue.popleft()
        if node == goal:
            path = [node]
            while parent[path[-1]] is not None:
                path.append(parent[path[-1]])
            return path[::-1]
        for nxt in graph.get(node, ()):
            if nxt not in parent:
                parent[nxt] = node
                queue.append(nxt)
    return []
'''),
    # Part C: retries
    ("c-while-loop", "call_with_retries", True, retry()),
    ("c-retries-post", "call_with_retries", False, retry(retryable="True")),
    ("c-retries-4xx", "call_with_retries", False, retry(temporary="error is not None or status >= 400")),
    ("c-429-not-retried", "call_with_retries", False, retry(temporary="error is not None or 500 <= status <= 599")),
    ("c-no-jitter", "call_with_retries", False, retry(wait="min(cap, base * 2 ** k)")),
    ("c-no-cap", "call_with_retries", False, retry(wait="rand() * base * 2 ** k")),
    ("c-no-deadline", "call_with_retries", False, retry(deadline_check="False")),
    ("c-one-attempt-too-many", "call_with_retries", False, retry(attempts="attempts + 1")),
    ("c-last-error-swallowed", "call_with_retries", False, retry(last_error="return None")),
    ("c-timeouts-not-retried", "call_with_retries", False, retry(temporary="error is None and (status == 429 or 500 <= status <= 599)")),
    # Part D: idempotency keys
    ("d-events-per-key", "make_idempotent", True, r'''
def make_idempotent(effect):
    results, pending, guard = {}, {}, threading.Lock()
    def handle(key, request):
        while True:
            with guard:
                if key in results:
                    return results[key]
                event = pending.get(key)
                if event is None:
                    pending[key] = event = threading.Event()
                    break
            event.wait()
        try:
            result = effect(request)
            with guard:
                results[key] = result
            return result
        finally:
            with guard:
                del pending[key]
            event.set()
    return handle
'''),
    ("d-check-then-set", "make_idempotent", False, r'''
def make_idempotent(effect):
    results = {}
    def handle(key, request):
        if key in results:
            return results[key]
        results[key] = effect(request)
        return results[key]
    return handle
'''),
    ("d-one-lock-for-all-keys", "make_idempotent", False, r'''
def make_idempotent(effect):
    results, lock = {}, threading.Lock()
    def handle(key, request):
        with lock:
            if key not in results:
                results[key] = effect(request)
            return results[key]
    return handle
'''),
    ("d-failure-remembered", "make_idempotent", False, r'''
def make_idempotent(effect):
    results, locks, guard = {}, {}, threading.Lock()
    def handle(key, request):
        with guard:
            lock = locks.setdefault(key, threading.Lock())
        with lock:
            if key in results:
                return results[key]
            results[key] = None
            results[key] = effect(request)
            return results[key]
    return handle
'''),
    ("d-duplicate-gets-none", "make_idempotent", False, r'''
def make_idempotent(effect):
    results, guard = {}, threading.Lock()
    def handle(key, request):
        with guard:
            if key in results:
                return results[key]
            results[key] = None  # claimed: a duplicate gets the placeholder instead of waiting
        results[key] = effect(request)
        return results[key]
    return handle
'''),
    # Part E: transfers
    ("e-ordered-by-id-explicit-acquire", "transfer", True, r'''
def transfer(source, target, amount):
    if source is target:
        return False
    locks = sorted((source, target), key=id)  # an object's id never changes while it lives
    locks[0].lock.acquire()
    locks[1].lock.acquire()
    try:
        if amount > source.balance:
            return False
        source.balance, target.balance = source.balance - amount, target.balance + amount
        return True
    finally:
        locks[1].lock.release()
        locks[0].lock.release()
'''),
    ("e-one-global-lock", "transfer", True, transfer_with(
        prelude="BANK = threading.Lock()  # correct, but every transfer waits for every other: allowed", locks="BANK")),
    ("e-try-lock-and-back-off", "transfer", True, r'''
def transfer(source, target, amount):
    if source is target:
        return False
    while True:  # no order: take one lock, try the other, give both back and retry after a random pause
        with source.lock:
            if target.lock.acquire(blocking=False):
                try:
                    if source.balance < amount:
                        return False
                    source.balance -= amount
                    target.balance += amount
                    return True
                finally:
                    target.lock.release()
        time.sleep(random.random() / 500)
'''),
    ("e-locks-in-argument-order", "transfer", False, transfer_with(order="source, target")),
    ("e-ordered-by-id-of-the-balance", "transfer", False,
     transfer_with(order="sorted((source, target), key=lambda account: id(account.balance))")),
    ("e-ordered-by-the-balance", "transfer", False,
     transfer_with(order="sorted((source, target), key=lambda account: account.balance)")),
    ("e-same-account-forgotten", "transfer", False, transfer_with(same="pass")),
    ("e-exact-balance-refused", "transfer", False, transfer_with(overdraft="source.balance <= amount")),
    ("e-only-the-source-locked", "transfer", False,
     transfer_with(locks="source.lock")),  # no deadlock, but the target's balance changes without its lock
    ("e-balance-checked-before-locking", "transfer", False, r'''
def transfer(source, target, amount):
    if source is target or source.balance < amount:  # checked, then locked: another thread may move it first
        return False
    first, second = sorted((source, target), key=lambda account: account.number)
    with first.lock, second.lock:
        source.balance -= amount
        target.balance += amount
        return True
'''),
    # Part F: a dynamic array
    ("f-factor-one-and-a-half", "dynamic_array", True, array_with(grow="max(len(self._block) + 1, len(self._block) * 3 // 2)")),
    ("f-factor-three-from-eight", "dynamic_array", True, array_with(init="self._block = Block(8)", grow="3 * len(self._block)")),
    ("f-plus-64", "dynamic_array", False, array_with(grow="len(self._block) + 64")),
    ("f-grows-to-fit", "dynamic_array", False, array_with(grow="self._length + 1")),
    ("f-factor-exactly-one", "dynamic_array", False, array_with(grow="int(len(self._block) * 1.0)")),
    ("f-factor-one-and-a-half-stuck-at-one", "dynamic_array", False, array_with(grow="int(len(self._block) * 1.5)")),
    ("f-items-not-copied", "dynamic_array", False, array_with(copied="0")),
    ("f-block-on-the-class", "dynamic_array", False, array_with(shared="_block = Block(1)", init="pass")),
    ("f-python-list", "dynamic_array", False, r'''
class DynamicArray:
    def __init__(self):
        self._items = []

    def __len__(self):
        return len(self._items)

    def __getitem__(self, index):
        return self._items[index]

    def append(self, item):
        self._items.append(item)
'''),
    # Part G: constant space
    ("g-counter-of-a-generator", "status_counts", True, COUNTS.format(
        body="return dict(Counter(int(line.rsplit(' ', 2)[1]) for line in lines))")),
    ("g-list-of-the-lines", "status_counts", False, COUNTS.format(
        body="lines = list(lines)\n    return {s: sum(1 for l in lines if int(l.split()[-2]) == s) for s in {int(l.split()[-2]) for l in lines}}")),
    ("g-list-of-statuses", "status_counts", False, COUNTS.format(
        body="return dict(Counter([int(line.split()[-2]) for line in lines]))")),
    ("g-reads-the-stream-twice", "status_counts", False, COUNTS.format(
        body="statuses = {int(l.split()[-2]) for l in lines}\n    return {s: sum(1 for l in lines if int(l.split()[-2]) == s) for s in statuses}")),
]


@pytest.fixture(scope="module")
def graded_variants(tmp_path_factory):
    """{variant id: [error or None per test cell of its part]}: every variant run once, in one kernel."""
    cells, positions, trusted = variant_cells("07b-systems-fundamentals", VARIANTS)
    return run_variants(cells, positions, trusted=trusted, folder=tmp_path_factory.mktemp("variants"),
                        timeout=120)


def test_every_part_has_a_correct_and_wrong_variants():
    _, parts, _ = exercise_cells("07b-systems-fundamentals")
    for part in parts:
        judged = [correct for _, p, correct, _ in VARIANTS if p == part]
        assert True in judged and judged.count(False) >= 2, part


@pytest.mark.slow
@pytest.mark.service
@pytest.mark.parametrize(("variant_id", "correct"), [(v[0], v[2]) for v in VARIANTS], ids=[v[0] for v in VARIANTS])
def test_hidden_tests_judge_each_variant(graded_variants, variant_id, correct):
    assert_judged(graded_variants[variant_id], correct)
