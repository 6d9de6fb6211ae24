"""Tools for step 10, networking and job search: sourced career figures, a STAR rubric, a week-plan check.

- :func:`survey_figures` and :func:`career_facts` read ``course/data/survey_figures.csv`` and
  ``course/data/careers_facts.yaml`` into pandas tables; every row carries its source and as-of date, and
  :func:`sources_note` / :func:`caption` turn the rows behind a chart into its caption.
- :func:`star_problems` is the rubric for a behavioural interview answer in STAR form (situation, task,
  action, result): it judges the structure, never the story.
- :func:`schedule_problems` checks a weekly networking plan against its constraints (time a day, allowed
  days, sessions a week); the exercise's planner is graded with it, on hand-picked weeks and on the small
  :func:`random_weeks`, whose feasibility an exhaustive search decides.
- :func:`stored_values` reads every value of an SQLite file from a fresh Python process: the exercise's
  tracker is graded on what reached the file, not on what its kernel remembers.
"""

from __future__ import annotations

import itertools
import json
import random
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd

from course import data
from course.components.waits import scaled

__all__ = [
    "WEEKDAYS", "STAR_PARTS", "survey_figures", "career_facts", "fact", "sources_note", "caption",
    "star_problems", "schedule_problems", "word_count", "random_weeks", "stored_values",
]

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
STAR_PARTS = ("situation", "task", "action", "result")

SURVEY_FILE = "survey_figures.csv"
FACTS_FILE = "careers_facts.yaml"


def survey_figures() -> pd.DataFrame:
    """Published survey shares (percent of respondents using a database, language or framework)."""
    frame = pd.read_csv(data.path(SURVEY_FILE), dtype={"as_of": str})
    frame["year"] = frame["year"].astype(int)
    frame["share_pct"] = frame["share_pct"].astype(float)
    for column in ("approximate", "second_hand"):
        frame[column] = frame[column].astype(bool)
    return frame


def career_facts() -> pd.DataFrame:
    """Pay, jobs and outlook (BLS) and survey facts, one row per figure, indexed by ``key``."""
    rows = data.load(FACTS_FILE)["facts"]
    frame = pd.DataFrame(rows)
    for column, default in (("via", ""), ("period", ""), ("approximate", False), ("second_hand", False)):
        if column not in frame:
            frame[column] = default
        frame[column] = frame[column].fillna(default)
    frame["approximate"] = frame["approximate"].astype(bool)
    frame["second_hand"] = frame["second_hand"].astype(bool)
    return frame.set_index("key")


def fact(key: str) -> dict:
    """One career fact as a dict (value, unit, as_of, source, via...); KeyError names the known keys."""
    facts = career_facts()
    if key not in facts.index:
        raise KeyError(f"no career fact {key!r}; known: {', '.join(facts.index)}")
    return {"key": key, **facts.loc[key].to_dict()}


def sources_note(rows: pd.DataFrame) -> str:
    """A caption naming every source (and the page it was read from) and as-of date behind ``rows``."""
    parts = []
    for (source, via), group in rows.groupby(["source", "via"], sort=False, dropna=False):
        dates = ", ".join(sorted({str(d) for d in group["as_of"]}))
        text = f"{source}, as of {dates}"
        if isinstance(via, str) and via:
            text += f" (read second-hand: {via})"
        parts.append(text)
    return "Sources: " + "; ".join(parts) + "."


def caption(fig, rows: pd.DataFrame, width: int = 130):
    """Write :func:`sources_note` of ``rows`` under a matplotlib figure, wrapped, in small type.

    Use a figure made with ``layout="constrained"``: it keeps room for the caption below the axes.
    """
    return fig.supxlabel(textwrap.fill(sources_note(rows), width), fontsize=7, x=0.01, ha="left")


def word_count(text: str) -> int:
    return len(str(text).split())


def star_problems(answer) -> list[str]:
    """What to fix in a STAR answer (a dict with the four parts as text); an empty list means well built.

    The rubric: exactly the four parts, none empty and each at least 5 words; 80 to 300 words in all;
    situation and task together at most 40% of the words; the action the longest part, told in the first person ("I"); a result with a
    number in it, so it can be checked.
    """
    if not isinstance(answer, dict) or set(answer) != set(STAR_PARTS):
        keys = sorted(answer) if isinstance(answer, dict) else type(answer).__name__
        return [f"give exactly the four parts {', '.join(STAR_PARTS)} (got {keys})"]
    problems = []
    empty = [part for part in STAR_PARTS if not isinstance(answer[part], str) or not answer[part].strip()]
    problems += [f"the {part} part is empty: write it as text" for part in empty]
    if empty:
        return problems
    words = {part: word_count(answer[part]) for part in STAR_PARTS}
    total = sum(words.values())
    problems += [f"the {part} part has {words[part]} words: give it at least 5" for part in STAR_PARTS
                 if words[part] < 5]
    if not 80 <= total <= 300:
        problems.append(f"the answer has {total} words; keep it between 80 and 300 so it stays short spoken")
    context = words["situation"] + words["task"]
    if context > 0.4 * total:
        problems.append(f"situation and task take {context} of {total} words; set the scene in at most 40%")
    if words["action"] <= max(words["situation"], words["task"], words["result"]):
        problems.append("make the action the longest part: it is what the interviewer wants to hear")
    if not re.search(r"\bI\b", answer["action"]):
        problems.append("tell the action in the first person: say what *I* did, not only what *we* did")
    if not re.search(r"\d", answer["result"]):
        problems.append("make the result checkable: give a number (minutes saved, errors fewer, users helped)")
    return problems


def _allowed_days(activity: dict) -> tuple[str, ...]:
    return tuple(activity.get("days") or WEEKDAYS)


def schedule_problems(plan, activities: list[dict], available: dict[str, int]) -> list[str]:
    """What breaks the constraints in a weekly plan (a dict weekday -> list of activity names).

    ``activities``: dicts with ``name``, ``minutes``, ``per_week`` and optionally ``days`` (the weekdays it
    may happen on; all by default). ``available``: minutes free each weekday. A valid plan has every weekday
    as a key, each activity exactly ``per_week`` times on different allowed days, and no day over its time.
    """
    if not isinstance(plan, dict) or set(plan) != set(WEEKDAYS):
        keys = sorted(plan) if isinstance(plan, dict) else type(plan).__name__
        return [f"the plan needs exactly one key per weekday {', '.join(WEEKDAYS)} (got {keys})"]
    by_name = {a["name"]: a for a in activities}
    problems = []
    for day in WEEKDAYS:
        names = list(plan[day])
        unknown = [n for n in names if n not in by_name]
        problems += [f"{day}: {n!r} is not one of the activities" for n in unknown]
        known = [n for n in names if n in by_name]
        for name in sorted({n for n in known if known.count(n) > 1}):
            problems.append(f"{day}: {name!r} is planned more than once on the same day")
        for name in dict.fromkeys(known):
            if day not in _allowed_days(by_name[name]):
                problems.append(f"{day}: {name!r} cannot happen on {day}")
        minutes = sum(by_name[n]["minutes"] for n in known)
        if minutes > available.get(day, 0):
            problems.append(f"{day}: {minutes} minutes planned, {available.get(day, 0)} available")
    for name, activity in by_name.items():
        count = sum(list(plan[day]).count(name) for day in WEEKDAYS)
        if count != activity["per_week"]:
            problems.append(f"{name!r} is planned {count} times; it needs {activity['per_week']} a week")
    return problems


def _exhaustive_plan_exists(activities: list[dict], available: dict[str, int]) -> bool:
    """Whether any plan fits: every choice of distinct allowed days for every activity is tried, in the order
    given, with no heuristic (a choice is dropped only when a day it uses has too little time left)."""
    left = {day: available.get(day, 0) for day in WEEKDAYS}

    def fits(i: int) -> bool:
        if i == len(activities):
            return True
        activity = activities[i]
        for days in itertools.combinations(_allowed_days(activity), activity["per_week"]):
            if all(left[day] >= activity["minutes"] for day in days):
                for day in days:
                    left[day] -= activity["minutes"]
                found = fits(i + 1)
                for day in days:
                    left[day] += activity["minutes"]
                if found:
                    return True
        return False

    return fits(0)


def random_weeks(seed: int, count: int) -> list[tuple[list[dict], dict[str, int], bool]]:
    """``count`` small random weeks ``(activities, available, feasible)``, the same for the same seed.

    Each week is built around a plan that fits it exactly or with 10 or 20 minutes to spare (tight weeks are
    where a greedy planner goes wrong); in about 4 weeks out of 10 one day then loses some time, which often
    leaves no plan at all. ``feasible`` comes from an exhaustive search, not from how the week was built.
    """
    rng = random.Random(seed)
    weeks = []
    for _ in range(count):
        days = rng.sample(WEEKDAYS, rng.randint(3, 4))
        used = dict.fromkeys(days, 0)
        activities = []
        for i in range(rng.randint(3, 5)):
            minutes = rng.choice(range(10, 70, 10))
            chosen = rng.sample(days, rng.randint(1, 3))
            activity = {"name": f"activity {i + 1}", "minutes": minutes, "per_week": len(chosen)}
            if rng.random() < 0.3:
                extra = rng.sample(WEEKDAYS, rng.randint(0, 2))
                activity["days"] = [day for day in WEEKDAYS if day in chosen or day in extra]
            for day in chosen:
                used[day] += minutes
            activities.append(activity)
        available = {day: used[day] + rng.choice([0, 0, 10, 20]) for day in days}
        if rng.random() < 0.4:
            day = rng.choice(days)
            available[day] = max(0, available[day] - rng.choice([10, 20, 30]))
        weeks.append((activities, available, _exhaustive_plan_exists(activities, available)))
    return weeks


_DUMP_SQLITE = """
import json, sqlite3, sys
connection = sqlite3.connect(sys.argv[1] + "?mode=ro", uri=True)
values = []
for (table,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
    quoted = '"' + table.replace('"', '""') + '"'
    for row in connection.execute("SELECT * FROM " + quoted):
        values += [str(value) for value in row if value is not None]
print(json.dumps(values))
"""


def stored_values(path, timeout: float = 30) -> list[str]:
    """Every non-NULL value of every table in the SQLite file ``path``, as text, read by a new Python process
    (read-only), so that nothing a caller keeps in memory can stand in for what the file holds."""
    uri = Path(path).resolve().as_uri()
    done = subprocess.run([sys.executable, "-c", _DUMP_SQLITE, uri], capture_output=True, text=True,
                          timeout=scaled(timeout), check=False)
    if done.returncode != 0:
        raise RuntimeError(f"could not read {path} from a new process: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout)
