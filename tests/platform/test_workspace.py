"""course.platform.workspace: copies what is missing and never overwrites a learner's work."""

from __future__ import annotations

import json

import pytest

from course.platform import manifest, workspace

READY = [s for s in manifest.steps(ready_only=True)]


@pytest.fixture
def fake_course(tmp_path, monkeypatch):
    """A course root with one lesson and one exercise folder, under a manifest step that is ready."""
    step = manifest.Step("01-programming-basics", "Basics", "", (), 10, True, "ready")
    monkeypatch.setattr(manifest, "steps", lambda **_: [step])
    root = tmp_path / "course"
    (root / "solutions").mkdir(parents=True)
    (root / "notebooks").mkdir()
    (root / "exercises" / step.stem).mkdir(parents=True)
    (root / "notebooks" / f"{step.stem}.ipynb").write_text("lesson v1")
    (root / "exercises" / step.stem / f"{step.stem}.ipynb").write_text("exercise v1")
    (root / "exercises" / step.stem / "access.log").write_text("data v1")
    monkeypatch.setenv("BACKEND_COURSE_ROOT", str(root))
    return root


def test_first_sync_copies_lessons_exercises_and_their_data(fake_course, tmp_path):
    report = workspace.sync(tmp_path / "ws")
    ws = tmp_path / "ws"
    assert (ws / "lessons" / "01-programming-basics.ipynb").read_text() == "lesson v1"
    assert (ws / "exercises" / "01-programming-basics" / "access.log").read_text() == "data v1"
    assert len(report.created) == 3
    assert (ws / ".course" / "shipped.json").exists()


def test_learner_changes_are_never_overwritten(fake_course, tmp_path):
    ws = tmp_path / "ws"
    workspace.sync(ws)
    mine = ws / "exercises" / "01-programming-basics" / "01-programming-basics.ipynb"
    mine.write_text("my answers")
    (fake_course / "exercises" / "01-programming-basics" / "01-programming-basics.ipynb").write_text("exercise v2")
    report = workspace.sync(ws)
    assert mine.read_text() == "my answers"
    beside = ws / "exercises" / "01-programming-basics" / "01-programming-basics.course-update.ipynb"
    assert beside.read_text() == "exercise v2"
    assert report.beside == [("exercises/01-programming-basics/01-programming-basics.ipynb",
                              "exercises/01-programming-basics/01-programming-basics.course-update.ipynb")]
    assert "you changed yours, so it is untouched" in report.lines()[0]
    # A second sync changes nothing and says the same.
    assert workspace.sync(ws).beside == report.beside
    assert mine.read_text() == "my answers"


def test_unchanged_files_are_updated_in_place(fake_course, tmp_path):
    ws = tmp_path / "ws"
    workspace.sync(ws)
    (fake_course / "notebooks" / "01-programming-basics.ipynb").write_text("lesson v2")
    report = workspace.sync(ws)
    assert (ws / "lessons" / "01-programming-basics.ipynb").read_text() == "lesson v2"
    assert report.updated == ["lessons/01-programming-basics.ipynb"]


def test_a_deleted_file_comes_back_and_nothing_else_moves(fake_course, tmp_path):
    ws = tmp_path / "ws"
    workspace.sync(ws)
    (ws / "lessons" / "01-programming-basics.ipynb").unlink()
    (ws / "notes.txt").write_text("mine")
    report = workspace.sync(ws)
    assert report.created == ["lessons/01-programming-basics.ipynb"]
    assert (ws / "notes.txt").read_text() == "mine"
    shipped = json.loads((ws / ".course" / "shipped.json").read_text())
    assert set(shipped) == {"lessons/01-programming-basics.ipynb",
                            "exercises/01-programming-basics/01-programming-basics.ipynb",
                            "exercises/01-programming-basics/access.log"}


def test_a_file_where_the_workspace_should_be_is_an_error(fake_course, tmp_path):
    (tmp_path / "ws").write_text("oops")
    with pytest.raises(NotADirectoryError, match="is a file"):
        workspace.sync(tmp_path / "ws")


@pytest.mark.skipif(not READY, reason="no step of the course is ready yet")
def test_the_real_course_syncs_every_ready_lesson(tmp_path):
    report = workspace.sync(tmp_path / "ws")
    for step in READY:
        assert workspace.lesson_copy(tmp_path / "ws", step.stem).exists()
        if step.exercise:
            assert workspace.exercise_copy(tmp_path / "ws", step.stem).exists()
    assert report.created
