"""course.steps.step09_practical_experience.incident: the generated log is deterministic and what its docstring
says is in it is in it, checked on the lines themselves (not on the generator's own truth)."""

from __future__ import annotations

import json
from collections import Counter, defaultdict

import pytest

from course.steps.step09_practical_experience import incident

# The logs the lesson and the exercise use, and a spread of others.
SEEDS = [(0, 21), (9, 26), (31, 17), (44, 33), *[(seed, 12 + seed % 24) for seed in range(100, 112)]]


def _minutes(records, *, rounded=False, count_4xx=False):
    per = defaultdict(lambda: [0, 0])
    for r in records:
        if r["logger"] != "access":
            continue
        minute = incident.minute_of(r["ts"])
        if rounded and int(r["ts"][17:19]) >= 30:
            hour, mins = map(int, minute.split(":"))
            minute = f"{hour + (mins + 1) // 60:02d}:{(mins + 1) % 60:02d}"
        per[minute][0] += 1
        per[minute][1] += r["status"] >= 500 or (count_4xx and r["status"] >= 400)
    return [m for m in sorted(per) if per[m][1] > incident.BAD_SHARE * per[m][0]]


@pytest.mark.parametrize(("seed", "deploy_minute"), SEEDS)
def test_the_truth_is_in_the_lines_and_the_plausible_misreadings_differ(seed, deploy_minute):
    found = incident.generate(seed, deploy_minute=deploy_minute)
    records = [json.loads(line) for line in found.lines]
    assert [r["ts"] for r in records] == sorted(r["ts"] for r in records)
    bad = _minutes(records)
    assert bad[0] == found.first_bad_minute
    assert _minutes(records, rounded=True)[0] != found.first_bad_minute  # rounding shifts it
    assert _minutes(records, count_4xx=True)[0] != found.first_bad_minute  # so does counting 4xx
    failed = [r for r in records if r["logger"] == "access" and r["status"] >= 500
              and incident.minute_of(r["ts"]) == found.first_bad_minute]
    assert sorted(r["request_id"] for r in failed) == found.request_ids
    (top, n), *rest = Counter(f"{r['method']} {r['route']}" for r in failed).most_common()
    assert top == found.route == "POST /orders" and all(n > other for _, other in rest)
    deploys = [r for r in records if r.get("event") == "deploy"]
    assert len(deploys) == 2 and deploys[-1]["deploy_id"] == found.deploy_id != deploys[0]["deploy_id"]
    assert incident.minute_of(deploys[-1]["ts"]) < found.first_bad_minute
    for r in failed:  # each failed request has its error line, tied by the request id
        assert any(e.get("request_id") == r["request_id"] and e["logger"] != "access" for e in records)


def test_the_log_is_deterministic_and_round_trips_through_a_file(tmp_path):
    first = incident.write_log(tmp_path / "a.log", seed=3, deploy_minute=20)
    assert incident.generate(3, deploy_minute=20) == first
    assert incident.load(tmp_path / "a.log") == [json.loads(line) for line in first.lines]
    assert incident.minute_of("2026-11-24T14:22:59.999Z") == "14:22"
    with pytest.raises(ValueError, match="deploy_minute"):
        incident.generate(0, deploy_minute=5)


def test_the_new_version_runs_one_query_per_order_line():
    records = incident.load(incident.generate(0).lines)
    posts = [r for r in records if r["logger"] == "access" and r["method"] == "POST" and "db_queries" in r]
    assert {r["db_queries"] for r in posts if r["version"] == "v2.13.2"} == {3}
    assert all(r["db_queries"] == 2 + r["order_lines"] for r in posts if r["version"] != "v2.13.2")
