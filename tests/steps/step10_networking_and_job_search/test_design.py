"""course.steps.step10_networking_and_job_search.design: capacity figures compared within the tolerance, and the
trade-off rubric names each rule a decision breaks."""

from __future__ import annotations

import copy

import pytest

from course.steps.step10_networking_and_job_search import design

EXPECTED = {"writes_per_s": 11.574, "reads_per_s": 1157.4, "peak_reads_per_s": 2314.8, "storage_bytes": 9.125e11,
            "read_bandwidth_bytes_per_s": 578_700, "cache_bytes": 1e10, "key_length": 6}


def test_capacity_problems_allow_the_tolerance_and_name_each_figure():
    assert design.capacity_problems(dict(EXPECTED), EXPECTED) == []
    assert design.capacity_problems({**EXPECTED, "reads_per_s": 1170}, EXPECTED) == []          # 1.1% off
    problems = design.capacity_problems({**EXPECTED, "reads_per_s": 1000, "key_length": 5}, EXPECTED)
    assert len(problems) == 2 and "reads_per_s is 1,000" in problems[0] and "key_length is 5" in problems[1]
    assert design.capacity_problems({"writes_per_s": "11"}, EXPECTED)[0] == "missing 'reads_per_s'"
    assert "give a number" in design.capacity_problems({**EXPECTED, "cache_bytes": True}, EXPECTED)[0]
    assert "return a dict" in design.capacity_problems(None, EXPECTED)[0]


def test_numbers_in_reads_commas_and_decimals():
    assert design.numbers_in("about 2,315 reads/s, 0.91 TB and 913 GB; v2") == [2315, 0.91, 913]


GOOD = {
    "key": {"choice": "random key", "because": "random keys of 7 characters rarely collide and a collision is "
                                               "simply retried before the insert commits"},
    "store": {"choice": "relational database", "because": "five years of links take about 0.9 TB which one "
                                                          "PostgreSQL server with a replica holds"},
    "cache": {"choice": "cache-aside", "because": "the peak is 2300 reads per second and one database serves "
                                                  "1000 so the hot links go to Redis"},
    "redirect": {"choice": "302", "because": "we count clicks and a 302 is not cached by the browser so every "
                                             "click reaches us"},
}


def _with(decision, **change):
    changed = copy.deepcopy(GOOD)
    changed[decision].update(change)
    return changed


def test_a_fitting_argued_design_passes():
    assert design.tradeoff_problems(GOOD, design.REQUIREMENTS, EXPECTED) == []


@pytest.mark.parametrize(("decisions", "fragment"), [
    (_with("redirect", choice="301"), "use 302"),
    (_with("cache", choice="no cache"), "add a cache"),
    (_with("cache", because="a cache helps with many reads from many users at the busiest hours of the day"),
     "cite the peak reads per second"),
    (_with("store", because="a relational database is familiar and well understood by the whole team here"),
     "cite the storage"),
    (_with("key", because="random keys of seven characters are short and easy to type for the users here"),
     "collide"),
    (_with("key", choice="counter in base 62"), "predictable"),
    (_with("store", choice="spreadsheet"), "choose one of"),
    (_with("redirect", because="it is fine"), "at least 12 words"),
    ({"key": GOOD["key"]}, "exactly the decisions"),
])
def test_each_broken_rule_is_named(decisions, fragment):
    problems = design.tradeoff_problems(decisions, design.REQUIREMENTS, EXPECTED)
    assert any(fragment in p for p in problems), problems


def test_without_click_counts_a_301_and_without_load_no_cache_are_fine():
    relaxed = {"count_clicks": False, "database_reads_per_s": 10_000}
    decisions = _with("redirect", choice="301")
    decisions["cache"]["choice"] = "no cache"
    assert design.tradeoff_problems(decisions, relaxed, EXPECTED) == []
