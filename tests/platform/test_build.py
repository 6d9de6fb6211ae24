"""exercises/ is exactly what nbgrader generates from solutions/; sources are committed clean."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from course.platform import build, manifest

REPO = Path(__file__).resolve().parents[2]
GRADED = [s.stem for s in manifest.steps(ready_only=True, with_exercise=True)]


@pytest.mark.slow
def test_exercises_equal_a_fresh_generate_assignment():
    assert build.generate_release(check=True) == []


def test_navigation_and_index_are_up_to_date():
    assert build.update_navigation(check=True) == []


def test_committed_notebooks_carry_no_outputs():
    assert build.strip_outputs(check=True) == []
    for path in (REPO / "exercises").rglob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        assert not any(c.get("outputs") or c.get("execution_count") for c in nb.cells if c.cell_type == "code")


def _split(source: str, begin: str, end: str) -> tuple[set[str], set[str]]:
    """(lines inside begin/end blocks, lines outside them), stripped, ignoring short and comment lines."""
    inside, outside, inner = set(), set(), False
    for line in source.splitlines():
        text = line.strip()
        if begin in text:
            inner = True
        elif end in text:
            inner = False
        elif len(text) > 8 and not text.startswith("#"):
            (inside if inner else outside).add(text)
    return inside, outside


def _by_grade_id(nb) -> dict[str, str]:
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells
            if c.cell_type == "code" and "grade_id" in c.metadata.get("nbgrader", {})}


@pytest.mark.parametrize("stem", GRADED)
def test_no_solution_code_or_hidden_test_text_in_the_release(stem):
    source = _by_grade_id(nbformat.read(REPO / "solutions" / stem / f"{stem}.ipynb", as_version=4))
    release_nb = nbformat.read(REPO / "exercises" / stem / f"{stem}.ipynb", as_version=4)
    release = _by_grade_id(release_nb)
    everything = "\n".join(c.source for c in release_nb.cells)
    assert "BEGIN SOLUTION" not in everything and "BEGIN HIDDEN TESTS" not in everything
    assert set(release) == set(source), "every graded cell of the source is in the release"
    for grade_id, text in source.items():
        released = {line.strip() for line in release[grade_id].splitlines()}
        for begin, end in (("### BEGIN SOLUTION", "### END SOLUTION"),
                           ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")):
            inside, outside = _split(text, begin, end)
            leaked = (inside - outside) & released
            assert not leaked, f"{stem}/{grade_id}: {sorted(leaked)[:3]} leaked into the release"


def test_generated_navigation_links_neighbours():
    step = manifest.resolve("02")
    text = build.navigation_markdown(step)
    # the lesson before 02 is step 01's deep dive, 01b
    assert "01b-python-for-projects.ipynb" in text and "03-backend-frameworks.ipynb" in text
    assert "../exercises/02-web-concepts/02-web-concepts.ipynb" in text


def test_index_lists_every_step_and_marks_planned_ones():
    text = build.index_markdown()
    for step in manifest.load_manifest():
        assert step.heading in text
        assert (f"({step.stem}.ipynb)" in text) == step.ready


def test_a_deep_dive_sits_between_its_step_and_the_next_in_navigation(deep_dive_manifest):
    step = build.navigation_markdown(manifest.resolve("01"))
    assert "[01b · Deeper basics](01b-deeper.ipynb) ➡" in step
    dive = build.navigation_markdown(manifest.resolve("01b"))
    assert dive.startswith("Deep dive of [01 · Basics](01-basics.ipynb) · [Course index]")
    assert "✍ [Exercise](../exercises/01b-deeper/01b-deeper.ipynb)" in dive
    assert "02-later" not in dive, "a planned step has no notebook to link to"


def test_the_index_lists_a_deep_dive_under_its_step(deep_dive_manifest):
    rows = [line for line in build.index_markdown().splitlines() if line.startswith("| ")][1:]
    assert rows[1].startswith("| [01 · Basics](01-basics.ipynb)")
    assert rows[2].startswith("| ↳ deep dive: [01b · Deeper basics](01b-deeper.ipynb) | What one lesson")


@pytest.mark.slow
def test_build_generates_a_deep_dives_release_and_navigation(deep_dive_course):
    changed = build.build()
    assert "exercises/01b-deeper/01b-deeper.ipynb" in changed and "notebooks/01b-deeper.ipynb" in changed
    release = nbformat.read(deep_dive_course / "exercises" / "01b-deeper" / "01b-deeper.ipynb", as_version=4)
    assert "return 42" not in release.cells[1].source and "NotImplementedError" in release.cells[1].source
    lesson = nbformat.read(deep_dive_course / "notebooks" / "01b-deeper.ipynb", as_version=4)
    assert build.NAV_TAG in lesson.cells[1].metadata["tags"]
    assert build.build(check=True) == []
