"""course.steps.step10_networking_and_job_search.interview: operations are counted on the values, a budget stops
an answer that cannot swallow the stop, and growth names the class the counts follow."""

from __future__ import annotations

import math

import pytest

from course.steps.step10_networking_and_job_search import interview


def test_operations_on_counted_numbers_are_counted():
    nums = interview.counted([3, 1, 2])
    assert interview.operations(sorted, nums).count >= 2
    assert interview.operations(sum, nums) == interview.Measured(6, 3, False)
    assert interview.operations(lambda: {nums[0]: 1}).count == 1           # a hash
    assert interview.operations(lambda: nums[0] - nums[1] > 0).count == 1  # the result is a plain int
    assert interview.operations(lambda: sum([1, 2])).count == 0           # plain ints are not counted
    assert nums[0] + 0 == 3 and type(nums[0] + 0) is int                   # outside a run: no tally


def test_counted_calls_and_a_budget_that_except_exception_cannot_swallow():
    probe = interview.counted_calls(lambda v: v > 5)

    def stubborn(n):
        found = 0
        for v in range(n):
            try:  # noqa: SIM105 - the learner-style loop under test
                found += probe(v)
            except Exception:  # noqa: BLE001 - what a learner might write
                pass
        return found

    assert interview.operations(stubborn, 10) == interview.Measured(4, 10, False)
    assert interview.operations(stubborn, 10**9, budget=100) == interview.Measured(None, 101, True)


@pytest.mark.parametrize(("f", "expected"), [
    (lambda n: 7, "O(1)"),
    (lambda n: math.ceil(math.log2(n)) + 1, "O(log n)"),
    (lambda n: 2 * n + 5, "O(n)"),
    (lambda n: int(n * math.log2(n)), "O(n log n)"),
    (lambda n: n * (n - 1) // 2, "O(n^2)"),
])
def test_growth_names_the_class(f, expected):
    assert interview.growth({n: f(n) for n in (128, 256, 512, 1024, 2048)}) == expected


def test_measured_growth_runs_the_function_at_each_size():
    klass, counts = interview.measured_growth(sum, lambda n: (interview.counted(range(n)),), (64, 128, 256))
    assert (klass, counts) == ("O(n)", {64: 64, 128: 128, 256: 256})


@pytest.mark.parametrize(("stated", "expected"), [
    ("O(n²)", "O(n^2)"), ("o(N*N)", "O(n^2)"), ("O(n**2)", "O(n^2)"), ("O( log(n) )", "O(log n)"),
    ("O(n log n)", "O(n log n)"), ("O(1)", "O(1)"), ("linear", None), (None, None), ("O(n*k)", None),
])
def test_normalise_reads_the_usual_spellings(stated, expected):
    assert interview.normalise(stated) == expected
