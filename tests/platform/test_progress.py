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
    assert [r["stem"][:2] for r in rows] == [f"{i:02d}" for i in range(12)]
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
