"""Tools for step 10, networking and job search: sourced career figures, a STAR rubric, the CV, interview and design checks.

- :func:`survey_figures` and :func:`career_facts` read ``course/data/survey_figures.csv`` and
  ``course/data/careers_facts.yaml`` into pandas tables; every row carries its source and as-of date, and
  :func:`sources_note` / :func:`caption` turn the rows behind a chart into its caption.
- :func:`star_problems` is the rubric for a behavioural interview answer in STAR form (situation, task,
  action, result): it judges the structure, never the story.
- :mod:`.cv` is the CV rubric a hiring lead uses (impact with numbers, links that resolve, length, no
  buzzwords) and reads the outline of a rendered CV; :mod:`.interview` counts the operations of a
  phone-screen answer and classifies their growth; :mod:`.design` checks a URL shortener's capacity
  estimate and its trade-offs against stated assumptions.
- :func:`stored_values` reads every value of an SQLite file from a fresh Python process: the exercise's
  tracker is graded on what reached the file, not on what its kernel remembers.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd

from course import data
from course.components.waits import scaled

from . import cv, design, interview  # noqa: E402,F401 - the step's submodules, as jobsearch.cv etc.

__all__ = [
    "STAR_PARTS", "survey_figures", "career_facts", "fact", "sources_note", "caption",
    "star_problems", "word_count", "stored_values", "cv", "interview", "design",
]

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
