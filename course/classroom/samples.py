"""Made-up submissions of a step, laid out as nbgrader collects them, to rehearse a class and to test it.

Each is built from the step's student release and its nbgrader source, as a student would edit it:

- ``correct``: every answer cell holds the source's solution;
- ``wrong``: some answers are the solution, the others a function that returns ``None`` (a plausible wrong
  answer: it runs, and fails the checks), chosen from a seed, at least one of each;
- ``blank``: the release untouched (every part raises ``NotImplementedError``);
- ``tampered``: correct answers, but one test cell deleted and another emptied;
- ``invalid``: a notebook cut off mid-file (not valid JSON);
- ``timeout``: correct answers, except the first, which loops forever.
"""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime
from pathlib import Path

import nbformat

from course.platform import paths

__all__ = ["KINDS", "make_submission", "make_class"]

KINDS = ("correct", "wrong", "blank", "tampered", "invalid", "timeout")
SOLUTION_BLOCK = re.compile(r"^([ \t]*)### BEGIN SOLUTION\n.*?^[ \t]*### END SOLUTION[ \t]*$", re.M | re.S)


def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _solutions(stem: str) -> dict[str, str]:
    source = nbformat.read(paths.solution_path(stem), as_version=4)
    return {_meta(c)["grade_id"]: c.source for c in source.cells if _meta(c).get("solution")}


def _wrong(solution: str) -> str:
    """The solution with its body replaced by ``return None``: it runs, and gives the wrong answer."""
    return SOLUTION_BLOCK.sub(lambda m: f"{m.group(1)}return None", solution)


def make_submission(folder: Path, student: str, stem: str, kind: str, *, seed: int = 0,
                    release: Path | None = None, timestamp: datetime | None = None) -> Path:
    """Write ``folder/submitted/<student>/<stem>/<stem>.ipynb`` (and nbgrader's timestamp.txt); returns it."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    nb = nbformat.read(release or paths.release_path(stem), as_version=4)
    solutions = _solutions(stem)
    rng = random.Random(f"{seed}-{student}")
    answers = [c for c in nb.cells if _meta(c).get("solution") and _meta(c).get("grade_id") in solutions]
    for index, cell in enumerate(answers):
        solution = solutions[_meta(cell)["grade_id"]]
        if kind == "wrong":
            cell.source = solution if rng.random() < 0.5 else _wrong(solution)
        elif kind in ("correct", "tampered", "timeout"):
            cell.source = solution
        if kind == "timeout" and index == 0:
            cell.source = "while True:  # never ends\n    pass\n\n" + solution
    if kind == "wrong":  # at least one part right and one wrong, whatever the draw
        right = [c.source == solutions[_meta(c)["grade_id"]] for c in answers]
        if all(right):
            answers[-1].source = _wrong(answers[-1].source)
        elif not any(right):
            answers[0].source = solutions[_meta(answers[0])["grade_id"]]
    if kind == "tampered":
        tests = [c for c in nb.cells if _meta(c).get("grade") and not _meta(c).get("solution")]
        tests[-1].source = "pass  # nothing to see here"
        nb.cells.remove(tests[0])
    target = Path(folder) / "submitted" / student / stem
    target.mkdir(parents=True, exist_ok=True)
    notebook = target / f"{stem}.ipynb"
    text = nbformat.writes(nb)
    notebook.write_text(text[: len(text) // 2] if kind == "invalid" else text, encoding="utf-8")
    when = timestamp or datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
    (target / "timestamp.txt").write_text(when.strftime("%Y-%m-%d %H:%M:%S.%f %Z"), encoding="utf-8")
    return notebook


def make_class(folder: Path, stem: str, count: int, *, seed: int = 0, kinds=("correct", "wrong", "blank"),
               prefix: str = "student") -> dict[str, str]:
    """``count`` submissions cycling through ``kinds``; returns {student: kind}."""
    students = {f"{prefix}{n:02d}": kinds[n % len(kinds)] for n in range(1, count + 1)}
    for student, kind in students.items():
        make_submission(folder, student, stem, kind, seed=seed)
    return students
