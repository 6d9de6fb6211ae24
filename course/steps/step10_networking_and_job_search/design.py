"""Step 10 · system design of a URL shortener: capacity from stated assumptions, trade-offs against a rubric.

:data:`ASSUMPTIONS` are the numbers a design interview gives (or that you state aloud); the exercise's
learner turns them into capacity figures, and :func:`capacity_problems` compares those with the figures the
check computed, within a stated tolerance. :func:`tradeoff_problems` reads four design decisions against
:data:`REQUIREMENTS` and the capacity figures: each decision must fit the requirements and give its reason
with the figure it rests on. Nothing here is a measurement of a real service: the assumptions are stated.
"""

from __future__ import annotations

import math
import re

__all__ = ["SECONDS_PER_DAY", "DAYS_PER_YEAR", "ASSUMPTIONS", "CAPACITY_KEYS", "REQUIREMENTS", "OPTIONS",
           "capacity_problems", "tradeoff_problems", "numbers_in"]

SECONDS_PER_DAY = 86_400
DAYS_PER_YEAR = 365

ASSUMPTIONS = {
    "new_links_per_day": 1_000_000,  # short links created a day
    "reads_per_write": 100,          # redirects per link created
    "peak_factor": 2,                # the busiest second against the day's average
    "years": 5,                      # how long links are kept
    "record_bytes": 500,             # one stored link: key, long URL, owner, dates
    "response_bytes": 500,           # one redirect response, headers included
    "hot_share": 0.2,                # the share of a day's redirects whose records the cache holds
}

CAPACITY_KEYS = ("writes_per_s", "reads_per_s", "peak_reads_per_s", "storage_bytes",
                 "read_bandwidth_bytes_per_s", "cache_bytes", "key_length")

REQUIREMENTS = {
    "count_clicks": True,            # the product shows each link's click count
    "database_reads_per_s": 1_000,   # what one database server is assumed to serve
}

OPTIONS = {
    "key": ("counter in base 62", "random key", "hash of the URL"),
    "store": ("relational database", "key-value store"),
    "cache": ("cache-aside", "no cache"),
    "redirect": ("301", "302"),
}


def capacity_problems(got, expected: dict, tolerance: float = 0.02) -> list[str]:
    """Which capacity figures of ``got`` differ from ``expected`` by more than ``tolerance`` (relative);
    ``key_length`` must be exact."""
    if not isinstance(got, dict):
        return [f"return a dict with the keys {', '.join(CAPACITY_KEYS)} (got {type(got).__name__})"]
    problems = [f"missing {key!r}" for key in CAPACITY_KEYS if key not in got]
    for key in CAPACITY_KEYS:
        if key not in got:
            continue
        value, want = got[key], expected[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(f"{key} is {value!r}: give a number")
        elif key == "key_length" and value != want:
            problems.append(f"key_length is {value}; the smallest length with enough keys is {want}")
        elif key != "key_length" and not math.isclose(value, want, rel_tol=tolerance):
            problems.append(f"{key} is {value:,.6g}; the stated assumptions give {want:,.6g}")
    return problems


NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?")


def numbers_in(text: str) -> list[float]:
    """Every number written in ``text`` (``2,315``, ``2315``, ``0.9``…)."""
    return [float(m.group(1).replace(",", "") + ("." + m.group(2) if m.group(2) else ""))
            for m in NUMBER.finditer(str(text))]


def _cites(text, value: float, tolerance: float = 0.1) -> bool:
    return any(math.isclose(number, value, rel_tol=tolerance) for number in numbers_in(text))


def tradeoff_problems(decisions, requirements: dict, capacity: dict) -> list[str]:
    """What the rubric finds wrong in ``decisions`` (``{decision: {"choice": …, "because": …}}``).

    The rubric: the four decisions of :data:`OPTIONS`, each a listed choice with a reason of at least 12
    words; a ``302`` redirect when clicks are counted (a 301 is cached by the browser, so later clicks never
    reach the service); a cache when the peak reads per second pass what one database serves; a key scheme
    that names its risk (``collision`` for a hash or a random key; ``guess``/``predictable`` for a counter);
    the cache's reason citing the peak reads per second and the store's the storage in GB or TB (a number
    within 10%).
    """
    if not isinstance(decisions, dict) or set(decisions) != set(OPTIONS):
        got = sorted(decisions) if isinstance(decisions, dict) else type(decisions).__name__
        return [f"give exactly the decisions {', '.join(OPTIONS)} (got {got})"]
    problems = []
    for name, options in OPTIONS.items():
        decision = decisions[name]
        if not isinstance(decision, dict) or decision.get("choice") not in options:
            problems.append(f"{name}: choose one of {', '.join(options)} as 'choice'")
            continue
        if len(str(decision.get("because", "")).split()) < 12:
            problems.append(f"{name}: give the reason in at least 12 words ('because')")
    if problems:
        return problems
    because = {name: str(decisions[name]["because"]) for name in OPTIONS}
    if requirements.get("count_clicks") and decisions["redirect"]["choice"] != "302":
        problems.append("redirect: clicks are counted, and browsers cache a 301, so later clicks never reach "
                        "you: use 302")
    peak = capacity["peak_reads_per_s"]
    if decisions["cache"]["choice"] == "no cache" and peak > requirements["database_reads_per_s"]:
        problems.append(f"cache: {peak:,.0f} reads/s at peak is more than one database serves "
                        f"({requirements['database_reads_per_s']:,}/s): add a cache")
    key = decisions["key"]["choice"]
    if key in ("random key", "hash of the URL") and not re.search(r"collision|collide", because["key"], re.I):
        problems.append(f"key: a {key} can collide; say how you detect or avoid collisions")
    if key == "counter in base 62" and not re.search(r"guess|predictab", because["key"], re.I):
        problems.append("key: counter keys are predictable; say how you live with keys others can guess")
    if not _cites(because["cache"], peak):
        problems.append(f"cache: cite the peak reads per second you computed (about {peak:,.0f})")
    storage = capacity["storage_bytes"]
    if not (_cites(because["store"], storage / 1e9) or _cites(because["store"], storage / 1e12)):
        problems.append(f"store: cite the storage you computed, in GB or TB (about {storage / 1e9:,.0f} GB)")
    return problems
