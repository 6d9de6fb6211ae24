"""The roadmap manifest: the ordered steps of the course, read from ``course/data/manifest.yaml``."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from course import data

STATUSES = ("ready", "planned")


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

    @property
    def number(self) -> str:
        return self.stem[:2]

    @property
    def ready(self) -> bool:
        return self.status == "ready"

    @property
    def heading(self) -> str:
        return f"{self.number} · {self.title}"


@lru_cache(maxsize=1)
def load_manifest() -> tuple[Step, ...]:
    raw = data.load("manifest.yaml")
    steps = []
    for entry in raw["steps"]:
        if entry["status"] not in STATUSES:
            raise ValueError(f"manifest: {entry['stem']} has unknown status {entry['status']!r}")
        steps.append(
            Step(
                stem=entry["stem"],
                title=entry["title"],
                summary=entry["summary"],
                objectives=tuple(entry["objectives"]),
                minutes=int(entry["minutes"]),
                exercise=bool(entry["exercise"]),
                status=entry["status"],
                helpers=entry.get("helpers"),
            )
        )
    return tuple(steps)


def steps(*, ready_only: bool = False, with_exercise: bool = False) -> list[Step]:
    return [
        s for s in load_manifest() if (s.ready or not ready_only) and (s.exercise or not with_exercise)
    ]


def valid_names(*, with_exercise: bool = False) -> str:
    return ", ".join(s.stem for s in load_manifest() if s.exercise or not with_exercise)


def resolve(name: str, *, need_exercise: bool = False) -> Step:
    """Find a step by number (``1``, ``01``) or stem (``01-programming-basics``).

    Raises :class:`UnknownStep` with one line naming the valid steps (with ``need_exercise``, only the steps
    that have an exercise: the others cannot be graded).
    """
    text = str(name).strip()
    for step in load_manifest():
        if text in (step.stem, step.number) or (text.isdigit() and int(text) == int(step.number)):
            if need_exercise and not step.exercise:
                raise UnknownStep(f"step {step.stem} has no exercise assignment; "
                                  f"graded steps: {valid_names(with_exercise=True)}")
            return step
    if need_exercise:
        raise UnknownStep(f"unknown step {text!r}; graded steps: {valid_names(with_exercise=True)}")
    raise UnknownStep(f"unknown step {text!r}; valid steps: {valid_names()}")


def neighbours(stem: str) -> tuple[Step | None, Step | None]:
    order = list(load_manifest())
    index = next(i for i, s in enumerate(order) if s.stem == stem)
    before = order[index - 1] if index > 0 else None
    after = order[index + 1] if index + 1 < len(order) else None
    return before, after
