"""Bring a learner's exercise notebook back to the exercise's shape before nbgrader grades it.

nbgrader grades by the cells' metadata (``metadata.nbgrader``: ``grade_id``, ``grade``, ``solution``, ``locked``,
``points``). A notebook edited outside JupyterLab, or with a cell copied, can lose or change it, and nbgrader then
stops with an opaque ``NbGraderException`` or grades every part zero (a deleted setup cell: ``NameError: check``).
:func:`repair` compares the learner's notebook with the release it came from and returns the notebook to grade,
with one note per change the learner should know about:

- a locked cell (the setup cell, a test cell, instructions) deleted, renamed, edited or stripped of its metadata
  comes back from the release, in its place;
- an answer cell whose metadata changed (made a test cell, say) keeps the learner's code and gets the release's
  metadata back;
- a second copy of a locked cell is dropped; a second copy of an answer cell runs as an ordinary cell;
- a cell with an ``nbgrader`` id the exercise does not have runs as an ordinary cell.

A locked cell counts as edited by the learner only when it no longer matches the checksum nbgrader stored in it
when the copy was made: a course update that changed a test's hint since then is not the learner's edit.
The learner's file is never changed; only the copy that is graded.
"""

from __future__ import annotations

import copy

__all__ = ["repair"]

_FLAGS = ("grade", "solution", "locked", "points")


def _meta(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta if isinstance(meta, dict) else {}


def _source(cell) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _name(release_cell) -> str:
    meta, grade_id = _meta(release_cell), _meta(release_cell).get("grade_id")
    if release_cell.cell_type != "code":
        return f"instructions cell '{grade_id}'"
    return f"test cell '{grade_id}'" if meta.get("grade") else f"locked setup cell '{grade_id}'"


def _flags(meta: dict) -> tuple:
    return tuple(bool(meta.get(f)) if f != "points" else float(meta.get(f) or 0) for f in _FLAGS)


def _untouched_since_copied(cell) -> bool:
    """The cell still matches the checksum nbgrader wrote into it when the release was made."""
    from nbgrader.utils import compute_checksum

    meta = _meta(cell)
    try:
        return bool(meta.get("checksum")) and compute_checksum(cell) == meta["checksum"]
    except (KeyError, TypeError, ValueError):
        return False


def _fresh(release_cell):
    cell = copy.deepcopy(release_cell)
    if cell.cell_type == "code":
        cell.outputs, cell.execution_count = [], None
    return cell


def _ordinary(cell):
    """The cell without nbgrader metadata: it runs, and nbgrader neither grades nor restores it."""
    cell = copy.deepcopy(cell)
    cell.metadata.pop("nbgrader", None)
    return cell


def repair(learner, release) -> tuple[object, list[str]]:
    """The notebook to grade (a copy of ``learner``, an nbformat v4 node, fixed against ``release``) and notes."""
    import nbformat

    release_cells = [c for c in release.cells if _meta(c).get("grade_id")]
    by_id = {_meta(c)["grade_id"]: c for c in release_cells}
    order = [_meta(c)["grade_id"] for c in release_cells]
    locked = {gid for gid, c in by_id.items() if _meta(c).get("locked") and not _meta(c).get("solution")}
    present = {_meta(c).get("grade_id") for c in learner.cells} & set(by_id)
    # a locked cell that lost its id (stripped or renamed) is known by its unchanged source
    missing_by_source = {(by_id[g].cell_type, _source(by_id[g]).strip()): g for g in order
                         if g in locked and g not in present}

    cells, notes, placed = [], [], {}
    for cell in learner.cells:
        grade_id = _meta(cell).get("grade_id")
        if grade_id not in by_id:
            claimed = missing_by_source.pop((cell.cell_type, _source(cell).strip()), None)
            if claimed is not None and claimed not in placed:
                placed[claimed] = len(cells)
                cells.append(_fresh(by_id[claimed]))
                if cell.cell_type == "code":
                    notes.append(f"{_name(by_id[claimed])} had lost its nbgrader metadata (or had it changed); "
                                 "it was restored from the course and graded")
                continue
            if grade_id is not None and _meta(cell).get("grade"):
                notes.append(f"cell '{grade_id}' is not a cell of this exercise (was its nbgrader grade_id "
                             "changed?); it ran as an ordinary cell, not graded")
            cells.append(_ordinary(cell) if "nbgrader" in cell.get("metadata", {}) else copy.deepcopy(cell))
            continue
        original = by_id[grade_id]
        if grade_id in placed:  # a second copy of a cell
            if grade_id in locked:
                if cell.cell_type == "code":
                    notes.append(f"{_name(original)} appeared twice; the copy was removed and the course's "
                                 "version graded once")
            else:
                cells.append(_ordinary(cell))
            continue
        placed[grade_id] = len(cells)
        if grade_id in locked:
            cells.append(_fresh(original))
            same_source = _source(cell).strip() == _source(original).strip()
            same_flags = _flags(_meta(cell)) == _flags(_meta(original)) and cell.cell_type == original.cell_type
            if original.cell_type == "code" and not (same_source and same_flags) and not _untouched_since_copied(cell):
                what = "was edited" if not same_source else "had its nbgrader metadata changed"
                notes.append(f"{_name(original)} {what}; the course's version was restored and graded"
                             + (" (put your own imports in your answer cells)" if not _meta(original).get("grade")
                                else ""))
        else:  # an answer cell: the learner's code, the release's metadata
            answer = copy.deepcopy(cell)
            answer.cell_type = original.cell_type
            if answer.cell_type == "code":
                answer.setdefault("outputs", [])
                answer.setdefault("execution_count", None)
            else:
                answer.pop("outputs", None)
                answer.pop("execution_count", None)
            answer.metadata["nbgrader"] = copy.deepcopy(_meta(original))
            if _flags(_meta(cell)) != _flags(_meta(original)):
                notes.append(f"answer cell '{grade_id}' had its nbgrader metadata changed (made a test cell?); "
                             "the course's metadata was restored and your code in it graded as your answer")
            cells.append(answer)

    # Locked cells the learner's notebook does not have: back in their place, after the release cell before them.
    for index, grade_id in enumerate(order):
        if grade_id in placed or grade_id not in locked:
            continue
        before = [placed[g] for g in order[:index] if g in placed]
        after = [placed[g] for g in order[index + 1:] if g in placed]
        at = max(before) + 1 if before else (min(after) if after else len(cells))
        cells.insert(at, _fresh(by_id[grade_id]))
        placed = {g: i + (i >= at) for g, i in placed.items()}
        placed[grade_id] = at
        if by_id[grade_id].cell_type == "code":
            notes.append(f"{_name(by_id[grade_id])} is missing from your notebook (deleted?); the course's version was "
                         "restored and graded")

    graded = copy.deepcopy(learner)
    graded.nbformat, graded.nbformat_minor = 4, max(learner.get("nbformat_minor", 0), release.nbformat_minor)
    graded.cells = cells
    seen = set()
    for cell in cells:  # copies share ids, which nbformat refuses
        if graded.nbformat_minor >= 5 and (not cell.get("id") or cell.id in seen):
            cell.id = nbformat.v4.new_code_cell().id
        seen.add(cell.get("id"))
    return graded, notes
