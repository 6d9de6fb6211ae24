"""Factories for notebooks and nbgrader cells: used to write exercise sources and in the tests.

nbgrader marks a cell's role in ``metadata.nbgrader`` (schema version 3). These helpers spell that out
once, so a hand-written notebook and a test fixture mean the same thing.
"""

from __future__ import annotations

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

__all__ = ["markdown", "code", "answer", "tests", "locked_code", "locked_markdown", "notebook", "nbgrader_role"]

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def _meta(grade_id: str, *, grade: bool, solution: bool, locked: bool, points: float | None = None) -> dict:
    meta = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": locked,
        "schema_version": 3,
        "solution": solution,
        "task": False,
    }
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def markdown(source: str, **metadata):
    return new_markdown_cell(source, metadata=metadata)


def code(source: str, **metadata):
    return new_code_cell(source, metadata=metadata)


def answer(source: str, grade_id: str):
    """An autograded answer cell: its ``### BEGIN SOLUTION`` block becomes a stub in the release."""
    return new_code_cell(source, metadata=_meta(grade_id, grade=False, solution=True, locked=False))


def tests(source: str, grade_id: str, points: float):
    """An autograded test cell (locked); ``### BEGIN HIDDEN TESTS`` blocks are removed from the release."""
    return new_code_cell(source, metadata=_meta(grade_id, grade=True, solution=False, locked=True, points=points))


def locked_code(source: str, grade_id: str):
    """A read-only code cell (setup, given code): nbgrader restores it if a learner edits it."""
    return new_code_cell(source, metadata=_meta(grade_id, grade=False, solution=False, locked=True))


def locked_markdown(source: str, grade_id: str):
    """A read-only instructions cell: nbgrader restores it if a learner edits it."""
    return new_markdown_cell(source, metadata=_meta(grade_id, grade=False, solution=False, locked=True))


def notebook(cells) -> nbformat.NotebookNode:
    nb = new_notebook(cells=list(cells))
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def nbgrader_role(cell) -> str | None:
    """``answer``, ``tests``, ``locked`` or ``None`` for a plain cell."""
    meta = cell.get("metadata", {}).get("nbgrader")
    if not meta:
        return None
    if meta.get("grade") and not meta.get("solution"):
        return "tests"
    if meta.get("solution"):
        return "answer"
    if meta.get("locked"):
        return "locked"
    return None
