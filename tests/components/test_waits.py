"""course.components.waits: waits written for an idle machine, scaled by an env var or the measured load."""

from __future__ import annotations

import itertools

import pytest

from course.components import waits


def test_the_env_var_sets_the_factor(monkeypatch):
    monkeypatch.setenv("COURSE_SLOWNESS", "3")
    assert waits.slowness() == 3
    assert waits.scaled(10) == 30


@pytest.mark.parametrize("written", ["fast", "0.5", "0", "-2", "nan"])
def test_a_factor_that_would_shorten_or_break_waits_is_refused_by_name(monkeypatch, written):
    monkeypatch.setenv("COURSE_SLOWNESS", written)
    with pytest.raises(ValueError, match="COURSE_SLOWNESS"):
        waits.slowness()


@pytest.mark.parametrize(("load", "expected"), [(0.3, 1.0), (2.0, 1.0), (8.0, 4.0), (500.0, waits.MOST)])
def test_without_the_env_var_the_load_per_core_is_the_factor(monkeypatch, load, expected):
    monkeypatch.delenv("COURSE_SLOWNESS", raising=False)
    monkeypatch.setattr(waits.os, "getloadavg", lambda: (load, 0.0, 0.0))
    monkeypatch.setattr(waits.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert waits.slowness() == expected


def test_wait_until_returns_what_the_condition_found():
    calls = itertools.count()
    assert waits.wait_until(lambda: next(calls) >= 3 and "up", 60, what="a counter", interval=0) == "up"


def test_wait_until_waits_the_scaled_time(monkeypatch):
    # A condition that needs 4 "seconds" on a clock we control: a 1 s wait fails on an idle machine and
    # succeeds when the machine is 5 times slower.
    now = [0.0]
    monkeypatch.setattr(waits.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(waits.time, "sleep", lambda seconds: now.__setitem__(0, now[0] + 1))
    monkeypatch.setenv("COURSE_SLOWNESS", "1")
    with pytest.raises(TimeoutError, match=r"after 1 s waiting for the thing .*COURSE_SLOWNESS"):
        waits.wait_until(lambda: now[0] >= 4, 1, what="the thing")
    now[0] = 0.0
    monkeypatch.setenv("COURSE_SLOWNESS", "5")
    assert waits.wait_until(lambda: now[0] >= 4, 1, what="the thing")
