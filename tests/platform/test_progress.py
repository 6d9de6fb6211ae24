"""course.platform.progress: the SQLite progress store in the workspace."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from course.platform import manifest, progress


def test_grades_and_latest(tmp_path):
    with progress.ProgressStore(tmp_path) as store:
        store.record_grade("01-programming-basics", 4, 10, [{"grade_id": "a"}])
        store.record_grade("01-programming-basics", 9, 10, [])
        store.record_grade("02-web-concepts", 3, 12, [])
        latest = store.latest_grades()
        assert latest["01-programming-basics"]["score"] == 9
        assert store.best_grades() == {"01-programming-basics": 9, "02-web-concepts": 3}
    assert (tmp_path / ".course" / "progress.db").exists()


def test_saved_results_round_trip_and_latest_wins(tmp_path):
    with progress.ProgressStore(tmp_path) as store:
        assert store.load_result("quiz") is None
        store.save_result("quiz", {"answers": {"q1": 5}})
        store.save_result("quiz", {"answers": {"q1": 2}})
        assert store.load_result("quiz") == {"answers": {"q1": 2}}


def test_each_write_is_one_transaction(tmp_path):
    with progress.ProgressStore(tmp_path) as store:
        def fail_after_flush(session):
            session.flush()  # the row is written inside the transaction...
            raise RuntimeError("disk full")  # ...and the failure must roll it back

        event.listen(Session, "before_commit", fail_after_flush)
        try:
            with pytest.raises(RuntimeError):
                store.record_grade("01-programming-basics", 1, 2, [])
        finally:
            event.remove(Session, "before_commit", fail_after_flush)
    rows = sqlite3.connect(tmp_path / ".course" / "progress.db").execute("select count(*) from grades").fetchone()
    assert rows == (0,)


def test_rows_cover_the_manifest_with_statuses(tmp_path):
    with progress.ProgressStore(tmp_path) as store:
        store.record_grade("01-programming-basics", 10, 10, [])
    rows = progress.progress_rows(tmp_path)
    assert [r["stem"] for r in rows] == [s.stem for s in manifest.load_manifest()]
    assert [r["stem"][:2] for r in rows if not manifest.resolve(r["stem"]).deep_dive] == [f"{i:02d}" for i in range(12)]
    first = rows[1]
    assert first["score"] == 10
    expected = "complete" if manifest.resolve("01").ready else "planned"
    assert first["status"] == expected
    assert rows[0]["score"] is None


def test_workspace_is_found_from_a_lesson_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("COURSE_WORKSPACE", raising=False)
    (tmp_path / ".course").mkdir()
    (tmp_path / "lessons").mkdir()
    monkeypatch.chdir(tmp_path / "lessons")
    assert progress.find_workspace() == tmp_path
    monkeypatch.setenv("COURSE_WORKSPACE", str(tmp_path / "elsewhere"))
    assert progress.find_workspace() == tmp_path / "elsewhere"


def test_progress_chart_and_frame(tmp_path):
    frame = progress.progress_frame(tmp_path)
    assert list(frame.columns) == ["stem", "title", "status", "score", "max_score", "graded_at"]
    figure = progress.plot_progress(tmp_path)
    assert figure.axes[0].get_title() == "Your progress through the roadmap"


def test_the_progress_table_shows_scores_as_a_learner_reads_them_never_none(tmp_path):
    with progress.ProgressStore(tmp_path) as store:
        store.record_grade("01-programming-basics", 7.5, 10, [])
    table = progress.progress_table(tmp_path)
    assert list(table.columns) == ["title", "status", "score"] and table.index.name == "step"
    assert table.loc["01-programming-basics", "score"] == "7.5/10"
    assert table.loc["02-web-concepts", "score"] == ""
    html = table._repr_html_()
    for leak in ("None", "NaN", "&lt;NA&gt;", "nan"):
        assert leak not in html
    frame = progress.progress_frame(tmp_path)
    assert frame["score"].dtype == float and frame["max_score"].dtype == float
    assert frame["score"].isna().sum() == len(frame) - 1


@pytest.mark.skipif(not manifest.resolve("11").ready, reason="step 11 is not in the course yet")
def test_a_lesson_without_an_exercise_is_not_opened_until_the_learner_opens_it(tmp_path):
    from course.platform import workspace

    workspace.sync(tmp_path)
    status = {r["stem"][:2]: r["status"] for r in progress.progress_rows(tmp_path)}
    assert status["11"] == "not opened" and status["00"] == "not opened"
    lessons = tmp_path / "lessons"
    (lessons / ".ipynb_checkpoints").mkdir()  # JupyterLab checkpoints a notebook when it opens it
    (lessons / ".ipynb_checkpoints" / "11-fit-quiz-and-certifications-checkpoint.ipynb").write_text("{}")
    welcome = lessons / "00-welcome.ipynb"
    welcome.write_text(welcome.read_text().replace('"execution_count": null', '"execution_count": 1', 1))
    status = {r["stem"][:2]: r["status"] for r in progress.progress_rows(tmp_path)}
    assert status["11"] == "opened" and status["00"] == "opened"


def test_a_folder_where_a_lesson_belongs_reads_as_not_opened(tmp_path):
    (tmp_path / "lessons" / "00-welcome.ipynb").mkdir(parents=True)
    assert progress.progress_rows(tmp_path)[0]["status"] == "not opened"


def test_a_deep_dive_has_its_own_row_grade_and_bar(deep_dive_manifest, tmp_path):
    with progress.ProgressStore(tmp_path) as store:
        store.record_grade("01b-deeper", 3, 4, [])
    rows = {r["stem"]: r for r in progress.progress_rows(tmp_path)}
    assert list(rows) == ["00-welcome", "01-basics", "01b-deeper", "02-later"]
    assert rows["01b-deeper"]["status"] == "in progress" and rows["01b-deeper"]["score"] == 3
    assert rows["01-basics"]["status"] == "not graded"  # the deep dive's grade is not its step's
    labels = [t.get_text() for t in progress.plot_progress(tmp_path).axes[0].get_yticklabels()]
    assert labels == ["01 Basics", "01b Deeper basics", "02 Later"]
