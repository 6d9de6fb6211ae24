"""course.steps.step07_formal_education.systems: a deadlock detected on real threads, removed by a lock order;
growth counted; space measured."""

import threading

import pytest

from course.steps.step07_formal_education import systems


def test_opposite_lock_orders_deadlock_and_one_order_does_not():
    a, b = systems.Account(1, 10), systems.Account(2, 10)
    assert systems.transfer_opposite_orders(a, b, wait=0.1) == [False, False]
    assert (a.balance, b.balance) == (10, 10)
    assert systems.transfer_ordered(a, b) == [True, True]
    assert (a.balance, b.balance) == (10, 10) and not a.lock.locked() and not b.lock.locked()


def test_copies_count_doubling_against_a_fixed_step():
    assert systems.copies(9, lambda c: 2 * c) == (1 + 2 + 4 + 8, 4)
    assert systems.copies(5, lambda c: c + 2) == (1 + 3, 2)
    with pytest.raises(ValueError, match="does not grow"):
        systems.copies(3, lambda c: c)


def test_list_growth_sees_reallocations_and_tracemalloc_sees_space():
    steps = systems.list_growth(200)
    assert steps[0][0] == 0 and len(steps) > 3
    assert all(later[1] > earlier[1] for earlier, later in zip(steps, steps[1:], strict=False))
    assert systems.peak_bytes(lambda: list(range(100_000))) > 100 * systems.peak_bytes(lambda: sum(range(100_000)))


def test_a_slow_lock_is_a_lock_that_holds_on_a_moment():
    lock = systems.SlowLock(hold=0.001)
    with lock:
        assert lock.locked() and not lock.acquire(blocking=False) and not lock.acquire(timeout=0.01)
    assert not lock.locked() and lock.acquire(blocking=False)
    lock.release()


def test_slow_accounts_lose_updates_without_their_lock_and_keep_them_with_it():
    def add(account, locked):
        def run():
            for _ in range(20):
                if locked:
                    with account.lock:
                        account.balance += 1
                else:
                    account.balance += 1
        return run

    bare, guarded = systems.SlowAccount(1, 0), systems.SlowAccount(2, 0)
    assert systems.run_together([add(bare, False), add(bare, False)], timeout=30).finished
    assert systems.run_together([add(guarded, True), add(guarded, True)], timeout=30).finished
    assert bare.balance < 40 and guarded.balance == 40
    assert repr(guarded) == "SlowAccount(number=2, balance=40)"


def test_run_together_reports_results_errors_and_a_deadlock_without_hanging():
    outcome = systems.run_together([lambda: 1, lambda: 1 / 0], timeout=30)
    assert outcome.finished and outcome.results[0] == 1 and isinstance(outcome.errors[1], ZeroDivisionError)
    with pytest.raises(ZeroDivisionError):
        outcome.reraise()
    a, b, both_hold = systems.Account(1), systems.Account(2), threading.Barrier(2)

    def locking(first, second):
        def run():
            with first.lock:
                both_hold.wait()  # each holds its first lock before asking for its second: a deadlock
                with second.lock:
                    return True
        return run

    outcome = systems.run_together([locking(a, b), locking(b, a)], timeout=1)
    assert not outcome.finished and outcome.results == [None, None]  # each holds one lock, waits for the other
    outcome.reraise()  # nothing raised: they are still waiting (daemon threads, left blocked)


def test_blocks_count_their_writes_and_refuse_what_a_block_cannot_do():
    with systems.counting_writes() as outer:
        block = systems.Block(2)
        with systems.counting_writes() as inner:
            block[0] = "a"
            bigger = systems.Block(4)
            bigger[0] = block[0]
    assert (inner.writes, inner.blocks, inner.slots) == (2, 1, 4)
    assert (outer.writes, outer.blocks, outer.slots) == (2, 2, 6)
    assert (len(bigger), bigger[0], bigger[1], repr(bigger)) == (4, "a", None, "Block(4)")
    block[1] = "b"  # no meter in force: nothing counted, nothing fails
    for index in (2, -1, slice(0, 1)):
        with pytest.raises(IndexError):
            block[index]
    for size in (0, 1.5):
        with pytest.raises(ValueError, match="at least 1 slot"):
            systems.Block(size)
