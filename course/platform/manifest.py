"""The roadmap manifest: the ordered steps of the course and their deep dives, read from
``course/data/manifest.yaml``.

A step may list deep-dive notebooks under ``deep_dives:`` (a topic one lesson cannot hold). A deep dive is a
:class:`Step` too, with ``parent`` set to its step's stem; :func:`load_manifest` gives the course order, each
step followed by its deep dives, so navigation, the index, progress, the workspace and the build treat every
notebook alike. A deep dive's name is its step's number and a letter (``04b``); learners type it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from course import data

STATUSES = ("ready", "planned")
FIELDS = ("stem", "title", "summary", "objectives", "minutes", "exercise", "status")


class UnknownStep(LookupError):
    """A step name that matches no step of the manifest; the message lists the valid ones."""


@dataclass(frozen=True)
class Step:
    stem: str
    title: str
    summary: str
    objectives: tuple[str, ...]
    minutes: int
    exercise: bool
    status: str
    helpers: str | None = None  # e.g. "course.steps.step02_web_concepts"
    parent: str | None = None  # a deep dive's step, e.g. "04-databases"; None for a step of the roadmap

    @property
    def number(self) -> str:
        """``04`` for a step, ``04b`` for a deep dive: the part of the stem before the first hyphen."""
        return self.stem.partition("-")[0]

    @property
    def ready(self) -> bool:
        return self.status == "ready"

    @property
    def deep_dive(self) -> bool:
        return self.parent is not None

    @property
    def heading(self) -> str:
        return f"{self.number} · {self.title}"


def _step(entry: dict, *, parent: dict | None = None) -> Step:
    missing = [name for name in FIELDS if name not in entry]
    label = entry.get("stem", "an entry")
    if missing:
        raise ValueError(f"manifest: {label} lacks {', '.join(missing)}")
    if entry["status"] not in STATUSES:
        raise ValueError(f"manifest: {label} has unknown status {entry['status']!r}")
    if parent is None:
        if not re.fullmatch(r"\d\d-[a-z0-9-]+", entry["stem"]):
            raise ValueError(f"manifest: step stem {label!r} is not NN-kebab-title")
    else:
        if not re.fullmatch(re.escape(parent["stem"][:2]) + r"[b-z]-[a-z0-9-]+", entry["stem"]):
            raise ValueError(f"manifest: deep dive {label!r} of {parent['stem']} must be named "
                             f"{parent['stem'][:2]}<letter>-kebab-title (e.g. {parent['stem'][:2]}b-...)")
        if "helpers" in entry:
            raise ValueError(f"manifest: deep dive {label} inherits the helpers of {parent['stem']}; "
                             "remove its helpers line")
    return Step(
        stem=entry["stem"],
        title=entry["title"],
        summary=entry["summary"],
        objectives=tuple(entry["objectives"]),
        minutes=int(entry["minutes"]),
        exercise=bool(entry["exercise"]),
        status=entry["status"],
        # A deep dive deepens its step's topic, so it uses its step's helper module (or package).
        helpers=(parent or entry).get("helpers"),
        parent=parent["stem"] if parent else None,
    )


def parse(raw: dict) -> tuple[Step, ...]:
    """The course order from a manifest's data: each step, then its deep dives in the order listed."""
    order: list[Step] = []
    for entry in raw["steps"]:
        order.append(_step(entry))
        order.extend(_step(dive, parent=entry) for dive in entry.get("deep_dives") or [])
    seen: set[str] = set()
    for step in order:
        if step.number in seen:
            raise ValueError(f"manifest: two notebooks are numbered {step.number}")
        seen.add(step.number)
    return tuple(order)


@lru_cache(maxsize=1)
def load_manifest() -> tuple[Step, ...]:
    return parse(data.load("manifest.yaml"))


def steps(*, ready_only: bool = False, with_exercise: bool = False) -> list[Step]:
    """Every notebook of the course in order (steps and their deep dives), optionally only the ready ones or
    only those with an exercise."""
    return [
        s for s in load_manifest() if (s.ready or not ready_only) and (s.exercise or not with_exercise)
    ]


def deep_dives(stem: str) -> list[Step]:
    """The deep dives of the step ``stem``, in order."""
    return [s for s in load_manifest() if s.parent == stem]


def valid_names(*, with_exercise: bool = False) -> str:
    return ", ".join(s.stem for s in load_manifest() if s.exercise or not with_exercise)


def _matches(step: Step, text: str) -> bool:
    if text in (step.stem, step.number):
        return True
    # "4" for "04", "4b" for "04b": the number without its leading zero.
    digits, letter = re.fullmatch(r"(\d+)([a-z]?)", step.number).groups()
    found = re.fullmatch(r"(\d+)([a-z]?)", text)
    return bool(found) and int(found[1]) == int(digits) and found[2] == letter


def resolve(name: str, *, need_exercise: bool = False) -> Step:
    """Find a step or deep dive by number (``1``, ``01``, ``04b``) or stem (``01-programming-basics``).

    Raises :class:`UnknownStep` with one line naming the valid steps (with ``need_exercise``, only the steps
    that have an exercise: the others cannot be graded).
    """
    shown = str(name).strip()
    text = shown.lower()
    for step in load_manifest():
        if _matches(step, text):
            if need_exercise and not step.exercise:
                raise UnknownStep(f"step {step.stem} has no exercise assignment; "
                                  f"graded steps: {valid_names(with_exercise=True)}")
            return step
    if need_exercise:
        raise UnknownStep(f"unknown step {shown!r}; graded steps: {valid_names(with_exercise=True)}")
    raise UnknownStep(f"unknown step {shown!r}; valid steps: {valid_names()}")


def neighbours(stem: str, *, ready_only: bool = False) -> tuple[Step | None, Step | None]:
    """The notebooks before and after ``stem`` in course order (a step's deep dives come right after it);
    with ``ready_only``, skipping the planned ones (they have no notebook to link to yet)."""
    order = [s for s in load_manifest() if s.ready or s.stem == stem or not ready_only]
    index = next(i for i, s in enumerate(order) if s.stem == stem)
    before = order[index - 1] if index > 0 else None
    after = order[index + 1] if index + 1 < len(order) else None
    return before, after
