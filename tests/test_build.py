"""exercises/ is exactly what nbgrader generates from solutions/; sources are committed clean."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from course import build, manifest

REPO = Path(__file__).resolve().parents[1]
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


def _solution_lines(source: str) -> list[str]:
    lines, inside = [], False
    for line in source.splitlines():
        if "### BEGIN SOLUTION" in line:
            inside = True
        elif "### END SOLUTION" in line:
            inside = False
        elif inside and len(line.strip()) > 15 and not line.strip().startswith("#"):
            lines.append(line.strip())
    return lines


def _hidden_lines(source: str) -> list[str]:
    block = re.findall(r"### BEGIN HIDDEN TESTS(.*?)### END HIDDEN TESTS", source, flags=re.S)
    return [line.strip() for b in block for line in b.splitlines() if len(line.strip()) > 15]


@pytest.mark.parametrize("stem", GRADED)
def test_no_solution_code_or_hidden_test_text_in_the_release(stem):
    source = nbformat.read(REPO / "solutions" / stem / f"{stem}.ipynb", as_version=4)
    release_path = REPO / "exercises" / stem / f"{stem}.ipynb"
    release_text = "\n".join(c.source for c in nbformat.read(release_path, as_version=4).cells)
    assert "BEGIN SOLUTION" not in release_text and "BEGIN HIDDEN TESTS" not in release_text
    for cell in source.cells:
        for line in _solution_lines(cell.source) + _hidden_lines(cell.source):
            assert line not in release_text, f"{stem}: '{line}' leaked into the release"


def test_generated_navigation_links_neighbours():
    step = manifest.resolve("02")
    text = build.navigation_markdown(step)
    assert "01-programming-basics.ipynb" in text and "03-backend-frameworks.ipynb" in text
    assert "../exercises/02-web-concepts/02-web-concepts.ipynb" in text


def test_index_lists_every_step_and_marks_planned_ones():
    text = build.index_markdown()
    for step in manifest.load_manifest():
        assert step.heading in text
        assert (f"({step.stem}.ipynb)" in text) == step.ready
