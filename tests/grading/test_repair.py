"""course.grading.repair on exercise 01's release: changed nbgrader metadata and locked cells put back, named."""

from __future__ import annotations

import copy

import nbformat
import pytest
from nbgrader.utils import compute_checksum

from course.grading.repair import repair
from course.platform import paths

STEP = "01-programming-basics"


@pytest.fixture(scope="module")
def release():
    return nbformat.read(paths.release_path(STEP), as_version=4)


@pytest.fixture
def mine(release):
    return copy.deepcopy(release)


def _ids(nb) -> list:
    return [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]


def _cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _same_shape(graded, release) -> None:
    assert _ids(graded) == _ids(release)
    for got, want in zip(graded.cells, release.cells, strict=True):
        assert got.metadata.get("nbgrader") == want.metadata.get("nbgrader")
    nbformat.validate(graded)


def test_an_untouched_copy_is_graded_as_it_is(mine, release):
    graded, notes = repair(mine, release)
    assert notes == []
    _same_shape(graded, release)
    assert [c.source for c in graded.cells] == [c.source for c in release.cells]


def test_a_deleted_setup_cell_is_restored_in_its_place_and_said(mine, release):
    mine.cells = [c for c in mine.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "setup"]
    graded, notes = repair(mine, release)
    _same_shape(graded, release)
    assert notes == ["locked setup cell 'setup' is missing from your notebook (deleted?); the course's version "
                     "was restored and graded"]


def test_a_setup_cell_that_gained_an_import_is_restored_and_said(mine, release):
    _cell(mine, "setup").source += "\nimport math"
    graded, notes = repair(mine, release)
    assert _cell(graded, "setup").source == _cell(release, "setup").source
    assert notes == ["locked setup cell 'setup' was edited; the course's version was restored and graded "
                     "(put your own imports in your answer cells)"]


def test_an_answer_cell_made_a_test_cell_keeps_the_code_and_gets_its_metadata_back(mine, release):
    answer = _cell(mine, "unique_emails")
    answer.source = "def unique_emails(emails):\n    return []"
    answer.metadata.nbgrader.update(grade=True, points=5, locked=True)
    graded, notes = repair(mine, release)
    _same_shape(graded, release)
    assert _cell(graded, "unique_emails").source == "def unique_emails(emails):\n    return []"
    assert notes == ["answer cell 'unique_emails' had its nbgrader metadata changed (made a test cell?); the "
                     "course's metadata was restored and your code in it graded as your answer"]


def test_a_renamed_and_edited_test_cell_runs_as_an_ordinary_cell_and_the_test_is_restored(mine, release):
    _cell(mine, "paginate_pages").metadata.nbgrader["grade_id"] = "my_pages"
    _cell(mine, "my_pages").source = "pass"
    graded, notes = repair(mine, release)
    index = _ids(graded).index("paginate_pages")
    # restored right after its answer cell; the renamed copy follows it, as an ordinary cell
    assert _ids(graded)[index - 1] == "paginate"
    assert "nbgrader" not in graded.cells[index + 1].metadata
    assert graded.cells[index].source == _cell(release, "paginate_pages").source
    assert notes == [
        "cell 'my_pages' is not a cell of this exercise (was its nbgrader grade_id changed?); it ran as an "
        "ordinary cell, not graded",
        "test cell 'paginate_pages' is missing from your notebook (deleted?); the course's version was restored "
        "and graded",
    ]


def test_a_renamed_but_unchanged_test_cell_is_known_by_its_source(mine, release):
    _cell(mine, "paginate_pages").metadata.nbgrader["grade_id"] = "my_pages"
    _cell(mine, "my_pages").metadata.nbgrader["grade"] = False
    graded, notes = repair(mine, release)
    _same_shape(graded, release)
    assert notes == ["test cell 'paginate_pages' had lost its nbgrader metadata (or had it changed); it was "
                     "restored from the course and graded"]


def test_a_duplicated_test_cell_is_graded_once(mine, release):
    index = _ids(mine).index("read_jsonl_bad_lines")
    mine.cells.insert(index, copy.deepcopy(mine.cells[index]))
    graded, notes = repair(mine, release)
    _same_shape(graded, release)
    assert notes == ["test cell 'read_jsonl_bad_lines' appeared twice; the copy was removed and the course's "
                     "version graded once"]


def test_a_duplicated_answer_cell_runs_both_copies_and_grades_one(mine, release):
    index = _ids(mine).index("paginate")
    mine.cells.insert(index + 1, copy.deepcopy(mine.cells[index]))
    mine.cells[index + 1].source = "def paginate(items, page, per_page=10):\n    return {}"
    graded, notes = repair(mine, release)
    assert notes == []
    assert _ids(graded).count("paginate") == 1
    assert graded.cells[index + 1].source.endswith("return {}") and "nbgrader" not in graded.cells[index + 1].metadata
    assert len({c.id for c in graded.cells}) == len(graded.cells)  # nbformat refuses two cells with one id
    nbformat.validate(graded)


def test_stripped_metadata_everywhere_is_restored(mine, release):
    for cell in mine.cells:
        cell.metadata.pop("nbgrader", None)
    graded, notes = repair(mine, release)
    locked_code = [c for c in release.cells if c.cell_type == "code" and c.metadata.nbgrader.get("locked")]
    assert len(notes) == len(locked_code)
    assert all("had lost its nbgrader metadata" in note for note in notes)
    # every test cell and the setup cell once, in place; the answers are still there, as ordinary cells
    assert [i for i in _ids(graded) if i] == [i for i in _ids(release)
                                              if i and not _cell(release, i).metadata.nbgrader.get("solution")]
    assert len(graded.cells) == len(release.cells)


def test_a_course_update_to_a_test_is_not_called_the_learners_edit(mine, release):
    """The learner's copy holds last month's version of a test (a different hint), untouched since it was
    copied: its nbgrader checksum still matches. The new version is graded, and nothing is said."""
    old = _cell(mine, "paginate_bad_arguments")
    old.source = old.source.replace('hint="pages count from 1."', 'hint="count pages from one."')
    old.metadata.nbgrader["checksum"] = compute_checksum(old)
    graded, notes = repair(mine, release)
    assert notes == []
    assert _cell(graded, "paginate_bad_arguments").source == _cell(release, "paginate_bad_arguments").source


def test_a_learners_edit_of_a_test_is_said(mine, release):
    _cell(mine, "paginate_bad_arguments").source = "pass"
    graded, notes = repair(mine, release)
    assert _cell(graded, "paginate_bad_arguments").source == _cell(release, "paginate_bad_arguments").source
    assert notes == ["test cell 'paginate_bad_arguments' was edited; the course's version was restored and graded"]


def test_the_learners_own_cells_stay_where_they_are(mine, release):
    index = _ids(mine).index("paginate")
    mine.cells.insert(index + 1, nbformat.v4.new_code_cell("HELPER = 1"))
    mine.cells.insert(index + 1, nbformat.v4.new_markdown_cell("my notes"))
    graded, notes = repair(mine, release)
    assert notes == []
    assert [c.source for c in graded.cells[index + 1:index + 3]] == ["my notes", "HELPER = 1"]
