"""course.steps.step07_formal_education.systems: a deadlock detected on real threads, removed by a lock order;
growth counted; space measured."""

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
