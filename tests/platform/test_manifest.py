"""The manifest and the files match one to one; steps resolve by number or stem."""

from __future__ import annotations

from pathlib import Path

import pytest

from course.platform import manifest

REPO = Path(__file__).resolve().parents[2]
EXPECTED_STEMS = [
    "00-welcome", "01-programming-basics", "02-web-concepts", "03-backend-frameworks", "04-databases",
    "05-build-projects", "06-open-source", "07-formal-education", "08-portfolio", "09-practical-experience",
    "10-networking-and-job-search", "11-fit-quiz-and-certifications",
]


def test_the_twelve_notebooks_in_order():
    steps = manifest.load_manifest()
    assert [s.stem for s in steps] == EXPECTED_STEMS
    for step in steps:
        assert step.title and step.summary and step.objectives and step.minutes > 0
    assert [s.exercise for s in steps] == [False] + [True] * 10 + [False]


def test_manifest_and_files_match_one_to_one():
    steps = {s.stem: s for s in manifest.load_manifest()}
    lessons = {p.stem for p in (REPO / "notebooks").glob("*.ipynb")}
    sources = {p.name for p in (REPO / "solutions").iterdir() if p.is_dir()}
    releases = {p.name for p in (REPO / "exercises").iterdir() if p.is_dir()}
    ready = {stem for stem, s in steps.items() if s.ready}
    graded = {stem for stem, s in steps.items() if s.ready and s.exercise}
    assert lessons == ready, "a lesson exists exactly for each ready step"
    assert sources == graded, "an exercise source exists exactly for each ready step with an exercise"
    assert releases == graded, "a release exists exactly for each ready step with an exercise"
    for stem in graded:
        assert (REPO / "solutions" / stem / f"{stem}.ipynb").is_file()
        assert (REPO / "exercises" / stem / f"{stem}.ipynb").is_file()


def test_each_lesson_opens_with_its_manifest_title():
    import nbformat

    for step in manifest.steps(ready_only=True):
        nb = nbformat.read(REPO / "notebooks" / f"{step.stem}.ipynb", as_version=4)
        first = nb.cells[0].source.splitlines()[0]
        assert first == f"# {step.number} · {step.title}", step.stem


@pytest.mark.parametrize("name", ["1", "01", "01-programming-basics", " 01 "])
def test_resolve_accepts_numbers_and_stems(name):
    assert manifest.resolve(name).stem == "01-programming-basics"


@pytest.mark.parametrize("name", ["99", "basics", "", "01-basics"])
def test_unknown_step_names_the_valid_ones(name):
    with pytest.raises(manifest.UnknownStep) as error:
        manifest.resolve(name)
    assert "valid steps: 00-welcome, 01-programming-basics" in str(error.value)
    assert "\n" not in str(error.value)


def test_a_step_without_exercise_cannot_be_graded():
    with pytest.raises(manifest.UnknownStep, match="has no exercise assignment"):
        manifest.resolve("00", need_exercise=True)
