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
    # and it is never flagged for review: not even for Python caching the bytecode of the course's modules it
    # imports (a __pycache__ made beside them is a write outside the submission's folder: every submission
    # that imported course.steps was flagged until the kernels stopped caching bytecode)
    assert result.review == [], result.review


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


# Every exercise's test cells list every failing check (issue 19): each check of a multi-check cell runs inside
# one `with all_checks():` block, the visible checks too (exercise 04's through on_each_engine()).
LISTS_EVERY_FAILURE = GRADED
CHECKS = {"check", "check_that", "check_raises"}


def _checks_outside_all_checks(source: str) -> list[int]:
    """Line numbers of check calls not lexically inside a ``with all_checks():`` block."""
    import ast

    outside = []

    def visit(node, inside: bool):
        if isinstance(node, ast.With) and any(isinstance(item.context_expr, ast.Call)
                                              and getattr(item.context_expr.func, "id", "") == "all_checks"
                                              for item in node.items):
            inside = True
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") in CHECKS and not inside:
            outside.append(node.lineno)
        for child in ast.iter_child_nodes(node):
            visit(child, inside)

    visit(ast.parse(source), False)
    return outside


@pytest.mark.parametrize("stem", LISTS_EVERY_FAILURE)
def test_a_test_cell_with_several_checks_lists_every_failure(stem):
    """Feedback names every failing check of a part, not only the first: each check of a test cell with more
    than one runs inside ``with all_checks():``."""
    import nbformat

    nb = nbformat.read(paths.solution_path(stem), as_version=4)
    stopping = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("grade") or meta.get("solution"):
            continue
        calls = [line for line in cell.source.splitlines() if any(f"{name}(" in line for name in CHECKS)]
        if len(calls) > 1 and (lines := _checks_outside_all_checks(cell.source)):
            stopping[meta["grade_id"]] = lines
    assert not stopping, f"checks outside all_checks() (cell: line numbers): {stopping}"
