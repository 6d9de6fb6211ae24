"""Every ready exercise, graded through nbgrader: the solution gets full marks, the release zero."""

from __future__ import annotations

import pytest

from course.grading.grader import grade_notebook
from course.platform import manifest, paths

pytestmark = pytest.mark.slow
GRADED = [s.stem for s in manifest.steps(ready_only=True, with_exercise=True)]


@pytest.mark.parametrize("stem", GRADED)
def test_solution_scores_full_marks(stem, gradebook_cache):
    result = grade_notebook(stem, paths.solution_path(stem), cache_dir=gradebook_cache)
    failed = [f"{p.grade_id}: {p.message}" for p in result.parts if not p.passed]
    assert not failed, failed
    assert result.max_score > 0 and result.score == result.max_score


@pytest.mark.parametrize("stem", GRADED)
def test_untouched_release_scores_zero_on_every_part(stem, gradebook_cache):
    result = grade_notebook(stem, paths.release_path(stem), cache_dir=gradebook_cache)
    passed = [p.grade_id for p in result.parts if p.points > 0]
    assert not passed, f"these parts pass without an answer: {passed}"
    assert len(result.parts) >= 5


@pytest.mark.parametrize("stem", GRADED)
def test_every_test_cell_is_documented_and_worth_points(stem):
    import nbformat

    nb = nbformat.read(paths.solution_path(stem), as_version=4)
    tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")
             and not c.metadata["nbgrader"].get("solution")]
    assert tests
    for cell in tests:
        meta = cell.metadata["nbgrader"]
        assert meta.get("points", 0) > 0, meta["grade_id"]
        assert cell.source.lstrip().startswith(('"""', "'''")), f"{meta['grade_id']} has no docstring"
