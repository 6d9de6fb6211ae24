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


EXERCISE = "exercises/01-programming-basics/01-programming-basics.ipynb"
BESIDE = "exercises/01-programming-basics/01-programming-basics.course-update.ipynb"
LESSON = "lessons/01-programming-basics.ipynb"


def _ship(fake_course, text: str) -> None:
    (fake_course / EXERCISE).write_text(text)


def _v2_offered_beside_my_answers(fake_course, ws):
    """A workspace whose exercise the learner answered, then the course shipped v2: it is beside theirs."""
    workspace.sync(ws)
    (ws / EXERCISE).write_text("my answers")
    _ship(fake_course, "exercise v2")
    assert workspace.sync(ws).beside == [(EXERCISE, BESIDE)]
    return ws


def test_run_and_saved_files_get_no_update_notice_on_any_restart(fake_course, tmp_path):
    ws = tmp_path / "ws"
    workspace.sync(ws)
    (ws / LESSON).write_text("lesson v1, run and saved with outputs")
    (ws / EXERCISE).write_text("exercise v1, run and saved")
    for _ in range(2):
        report = workspace.sync(ws)
        assert report.beside == [] and report.lines() == []
    assert not list(ws.rglob("*.course-update*"))
    assert (ws / LESSON).read_text() == "lesson v1, run and saved with outputs"


def test_bogus_beside_copies_equal_to_the_release_are_removed_and_edited_ones_kept(fake_course, tmp_path):
    ws = tmp_path / "ws"
    workspace.sync(ws)
    (ws / EXERCISE).write_text("my answers")
    (ws / BESIDE).write_text("exercise v1")  # what the old sync wrote for a notebook that was merely run
    (ws / "lessons" / "01-programming-basics.course-update.ipynb").write_text("lesson v1 plus my notes")
    report = workspace.sync(ws)
    assert not (ws / BESIDE).exists()
    assert report.removed == [BESIDE] and report.beside == []
    assert (ws / "lessons" / "01-programming-basics.course-update.ipynb").read_text() == "lesson v1 plus my notes"
    assert (ws / EXERCISE).read_text() == "my answers"
    assert workspace.sync(ws).lines() == []


def test_an_edited_beside_copy_survives_restarts_and_later_updates(fake_course, tmp_path):
    ws = _v2_offered_beside_my_answers(fake_course, tmp_path / "ws")
    (ws / BESIDE).write_text("exercise v2 with my answers merged in")
    report = workspace.sync(ws)
    assert (ws / BESIDE).read_text() == "exercise v2 with my answers merged in"
    assert report.beside == []  # the learner took the copy over: it is theirs, and v2 was offered already
    _ship(fake_course, "exercise v3")
    report = workspace.sync(ws)
    second = "exercises/01-programming-basics/01-programming-basics.course-update-2.ipynb"
    assert report.beside == [(EXERCISE, second)]
    assert (ws / second).read_text() == "exercise v3"
    assert (ws / BESIDE).read_text() == "exercise v2 with my answers merged in"
    assert (ws / EXERCISE).read_text() == "my answers"


def test_an_untouched_beside_copy_takes_the_next_update(fake_course, tmp_path):
    ws = _v2_offered_beside_my_answers(fake_course, tmp_path / "ws")
    _ship(fake_course, "exercise v3")
    report = workspace.sync(ws)
    assert report.beside == [(EXERCISE, BESIDE)]
    assert (ws / BESIDE).read_text() == "exercise v3"
    assert not list(ws.rglob("*.course-update-2*"))


def test_an_update_the_learner_removed_is_not_offered_again_but_the_next_one_is(fake_course, tmp_path):
    ws = _v2_offered_beside_my_answers(fake_course, tmp_path / "ws")
    (ws / BESIDE).unlink()
    assert workspace.sync(ws).lines() == [] and not (ws / BESIDE).exists()
    _ship(fake_course, "exercise v3")
    assert workspace.sync(ws).beside == [(EXERCISE, BESIDE)]


@pytest.mark.parametrize("damage", ["", '{"lessons/01-prog', "[1, 2]", "null", '{"a": 1}'])
def test_a_damaged_record_is_rebuilt_and_differing_files_count_as_the_learners(fake_course, tmp_path, damage):
    ws = tmp_path / "ws"
    workspace.sync(ws)
    (ws / EXERCISE).write_text("my answers")
    (ws / ".course" / "shipped.json").write_text(damage)
    report = workspace.sync(ws)
    assert report.rebuilt == 1 and report.beside == []
    assert "rebuilt it from your workspace: 1 file(s) that differ from the course count as yours" in report.lines()[0]
    assert (ws / EXERCISE).read_text() == "my answers"
    assert json.loads((ws / ".course" / "shipped.json").read_text())[EXERCISE]
    # From then on updates work as usual: the untouched lesson in place, the learner's file beside.
    (fake_course / LESSON.replace("lessons", "notebooks")).write_text("lesson v2")
    _ship(fake_course, "exercise v2")
    report = workspace.sync(ws)
    assert report.updated == [LESSON] and report.beside == [(EXERCISE, BESIDE)]
    assert (ws / EXERCISE).read_text() == "my answers"


def test_a_folder_where_a_notebook_belongs_is_one_line_and_the_rest_syncs(fake_course, tmp_path):
    ws = tmp_path / "ws"
    (ws / LESSON).mkdir(parents=True)
    report = workspace.sync(ws)
    assert report.problems == [f"{LESSON} is a folder where the course keeps a file; rename it, then run "
                               "'course start' again to get the course's file back"]
    assert (ws / EXERCISE).read_text() == "exercise v1"
    assert report.lines()[-1].startswith("problem: lessons/")


def test_an_existing_workspace_is_located_and_a_missing_one_is_an_error(tmp_path, monkeypatch):
    monkeypatch.delenv("COURSE_WORKSPACE", raising=False)
    (tmp_path / "ws" / ".course").mkdir(parents=True)
    (tmp_path / "ws" / "lessons").mkdir()
    assert workspace.locate(tmp_path / "ws") == tmp_path / "ws"
    monkeypatch.chdir(tmp_path / "ws" / "lessons")
    assert workspace.locate() == tmp_path / "ws"
    with pytest.raises(workspace.WorkspaceError, match=r"no course workspace at .*typo.*course start --workspace"):
        workspace.locate(tmp_path / "typo")
    assert not (tmp_path / "typo").exists()


@pytest.mark.skipif(not READY, reason="no step of the course is ready yet")
def test_restarting_twice_after_running_and_saving_the_real_notebooks_offers_no_update(tmp_path):
    import nbformat

    ws = tmp_path / "ws"
    workspace.sync(ws)
    run = [workspace.lesson_copy(ws, s.stem) for s in READY]
    run += [workspace.exercise_copy(ws, s.stem) for s in READY if s.exercise]
    for path in run:  # what JupyterLab saves after "Run All": execution counts and outputs
        notebook = nbformat.read(path, as_version=4)
        for number, cell in enumerate((c for c in notebook.cells if c.cell_type == "code"), start=1):
            cell.execution_count = number
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="ran\n")]
        nbformat.write(notebook, path)
    for _ in range(2):
        report = workspace.sync(ws)
        assert report.lines() == [] and report.beside == []
    assert not list(ws.rglob("*.course-update*"))


def test_sync_copies_a_deep_dives_lesson_and_exercise(deep_dive_course, tmp_path):
    release = deep_dive_course / "exercises" / "01b-deeper"
    release.mkdir()
    (release / "01b-deeper.ipynb").write_text("released")  # what `course build` puts there
    ws = tmp_path / "ws"
    workspace.sync(ws)
    assert (ws / "lessons" / "01b-deeper.ipynb").is_file()
    assert (ws / "exercises" / "01b-deeper" / "01b-deeper.ipynb").is_file()
    assert not (ws / "lessons" / "02-later.ipynb").exists()
