"""The learner's progress store: grades and saved results, in SQLite inside the workspace.

The store is ``<workspace>/.course/progress.db``, reached through SQLAlchemy; every write is one transaction,
so an interrupted grade never leaves half a record. The CLI (``course progress``), the welcome notebook's chart
and the quiz all read and write through :class:`ProgressStore`.
"""

from __future__ import annotations

import json
import os
import re
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Float, Integer, String, Text, create_engine, event, select
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from course.platform import manifest
from course.platform.paths import STATE_DIR, find_workspace

__all__ = ["ProgressStore", "ProgressStoreError", "keep_unrecorded_grade", "find_workspace", "progress_rows",
           "score_text", "progress_frame", "progress_table", "plot_progress", "STATE_DIR", "UNRECORDED"]

# Grades that could not be recorded (the store was damaged or not writable) wait here, one JSON line each, and
# move into the store the next time it opens healthy.
UNRECORDED = "unrecorded-grades.jsonl"
_DAMAGED = ("malformed", "not a database", "encrypted", "file is empty")


class ProgressStoreError(Exception):
    """The progress store cannot be read or written; the one-line message names the file and how to repair it."""

    def __init__(self, path: Path, reason: str):
        self.path, self.reason = Path(path), reason
        if any(word in reason for word in _DAMAGED):
            how = (f"move it (and any {self.path.name}-wal or {self.path.name}-shm beside it) out of "
                   f"{self.path.parent}, or put back a backup, then run the command again: a new store is made, "
                   f"and grades kept meanwhile in {self.path.parent / UNRECORDED} move into it")
        else:
            how = f"check that {self.path.parent} is writable and that no other program holds {self.path.name}"
        super().__init__(f"the progress store {self.path} cannot be used ({reason}); {how}")



class _Base(DeclarativeBase):
    pass


class Grade(_Base):
    __tablename__ = "grades"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    stem: Mapped[str] = mapped_column(String(80), index=True)
    score: Mapped[float] = mapped_column(Float)
    max_score: Mapped[float] = mapped_column(Float)
    graded_at: Mapped[str] = mapped_column(String(40))
    parts_json: Mapped[str] = mapped_column(Text)


class SavedResult(_Base):
    __tablename__ = "results"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(80), index=True)
    saved_at: Mapped[str] = mapped_column(String(40))
    payload_json: Mapped[str] = mapped_column(Text)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class ProgressStore:
    """Grades and saved results of one workspace."""

    def __init__(self, workspace: Path | str | None = None):
        self.workspace = Path(workspace).resolve() if workspace else find_workspace()
        state = self.workspace / STATE_DIR
        self.path = state / "progress.db"
        # A read-only workspace (a read-only mount, say): its grades can still be read, as they are on disk.
        self.read_only = self.path.is_file() and not os.access(state, os.W_OK)
        with self._guard():
            if self.path.is_file() and self.path.stat().st_size == 0:
                # SQLite reads a zero-byte file as a new, empty database: every recorded grade would silently
                # read as "not graded". Only SQLite writes this file, and never leaves it empty once opened.
                raise ProgressStoreError(self.path, "the file is empty (0 bytes): it was truncated, or its "
                                                    "first write was cut off")
            if self.read_only:
                self.engine = create_engine(f"sqlite:///file:{self.path}?mode=ro&immutable=1&uri=true")
                return
            state.mkdir(parents=True, exist_ok=True)
            self.engine = create_engine(f"sqlite:///{self.path}")
            event.listen(self.engine, "connect", _sqlite_pragmas)
            _Base.metadata.create_all(self.engine)
        self._take_unrecorded()

    @contextmanager
    def _guard(self):
        """SQLite's and the file system's errors, as one :class:`ProgressStoreError` naming the file."""
        try:
            yield
        except DatabaseError as error:
            raise ProgressStoreError(self.path, str(error.orig)) from None
        except OSError as error:
            raise ProgressStoreError(self.path, f"{error.strerror or error}: {error.filename or self.path}") from None

    def _take_unrecorded(self) -> None:
        """Move grades kept in the side file (while the store could not be written) into the store."""
        side = self.path.parent / UNRECORDED
        claimed = side.with_name(f"{UNRECORDED}.{os.getpid()}")
        try:
            side.replace(claimed)  # atomic: two processes opening the store never both take the same lines
            lines = claimed.read_text(encoding="utf-8").splitlines()
        except OSError:
            return
        rows = []
        for line in lines:
            try:
                entry = json.loads(line)
                rows.append(Grade(stem=entry["stem"], score=float(entry["score"]),
                                  max_score=float(entry["max_score"]), graded_at=entry["graded_at"],
                                  parts_json=json.dumps(entry.get("parts", []))))
            except (ValueError, KeyError, TypeError):
                continue  # a line cut off by a crash: the others still count
        try:
            with self._guard(), Session(self.engine) as session, session.begin():
                session.add_all(rows)
        except ProgressStoreError:
            with side.open("a", encoding="utf-8") as out:  # back in the side file, to move in next time
                out.writelines(line + "\n" for line in lines)
        claimed.unlink(missing_ok=True)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> ProgressStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def record_grade(self, stem: str, score: float, max_score: float, parts: list[dict]) -> None:
        """Store one grading result (one transaction)."""
        with self._guard(), Session(self.engine) as session, session.begin():
            session.add(Grade(stem=stem, score=score, max_score=max_score, graded_at=_now(),
                              parts_json=json.dumps(parts)))

    def latest_grades(self) -> dict[str, dict]:
        """The latest grade of each step: ``{stem: {score, max_score, graded_at, parts}}``."""
        latest: dict[str, dict] = {}
        with self._guard(), Session(self.engine) as session:
            for row in session.scalars(select(Grade).order_by(Grade.id)):
                latest[row.stem] = {"score": row.score, "max_score": row.max_score,
                                    "graded_at": row.graded_at, "parts": json.loads(row.parts_json)}
        return latest

    def best_grades(self) -> dict[str, float]:
        best: dict[str, float] = {}
        with self._guard(), Session(self.engine) as session:
            for row in session.scalars(select(Grade)):
                best[row.stem] = max(best.get(row.stem, 0.0), row.score)
        return best

    def save_result(self, kind: str, payload: dict) -> None:
        """Save a result (e.g. the quiz's answers and outcome) as JSON (one transaction)."""
        with self._guard(), Session(self.engine) as session, session.begin():
            session.add(SavedResult(kind=kind, saved_at=_now(), payload_json=json.dumps(payload)))

    def load_result(self, kind: str) -> dict | None:
        """The latest saved result of ``kind``, or ``None``."""
        with self._guard(), Session(self.engine) as session:
            row = session.scalars(
                select(SavedResult).where(SavedResult.kind == kind).order_by(SavedResult.id.desc()).limit(1)
            ).first()
            return json.loads(row.payload_json) if row else None


def keep_unrecorded_grade(workspace: Path | str, stem: str, score: float, max_score: float,
                          parts: list[dict]) -> Path:
    """Keep a grade the store could not take in ``.course/unrecorded-grades.jsonl`` (one appended line); the
    store takes it in when it next opens healthy. Returns the side file; raises OSError if it cannot be written."""
    side = Path(workspace).resolve() / STATE_DIR / UNRECORDED
    entry = {"stem": stem, "score": score, "max_score": max_score, "graded_at": _now(), "parts": parts}
    with side.open("a", encoding="utf-8") as out:
        out.write(json.dumps(entry) + "\n")
    return side


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets a notebook read progress while `course grade` writes it; a busy timeout rides out the overlap.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _opened(workspace: Path, stem: str) -> bool:
    """Whether the learner opened the lesson: JupyterLab made its first checkpoint, or a cell of the workspace
    copy was run and saved."""
    lesson = workspace / "lessons" / f"{stem}.ipynb"
    if (lesson.parent / ".ipynb_checkpoints" / f"{stem}-checkpoint.ipynb").is_file():
        return True
    try:
        return _RUN_CELL.search(lesson.read_text(encoding="utf-8")) is not None
    except (OSError, UnicodeDecodeError):
        return False


_RUN_CELL = re.compile(r'"execution_count":\s*\d')


def _status(step: manifest.Step, grade: dict | None, workspace: Path) -> str:
    if not step.ready:
        return "planned"
    if not step.exercise:
        return "opened" if _opened(workspace, step.stem) else "not opened"
    if grade is None:
        return "not graded"
    return "complete" if grade["score"] >= grade["max_score"] else "in progress"


def progress_rows(workspace: Path | str | None = None) -> list[dict]:
    """One row per step of the manifest with its status and latest score (``None`` when not graded)."""
    with ProgressStore(workspace) as store:
        grades = store.latest_grades()
        workspace = store.workspace
    rows = []
    for step in manifest.load_manifest():
        grade = grades.get(step.stem)
        rows.append({
            "stem": step.stem,
            "title": step.title,
            "status": _status(step, grade, workspace),
            "score": grade["score"] if grade else None,
            "max_score": grade["max_score"] if grade else None,
            "graded_at": grade["graded_at"] if grade else None,
        })
    return rows


def score_text(row: dict) -> str:
    """A row's score as a learner reads it: ``9/10``, or empty when the step was not graded."""
    return f"{row['score']:g}/{row['max_score']:g}" if row["score"] is not None else ""


def progress_frame(workspace: Path | str | None = None):
    """The progress rows as a pandas DataFrame, for computing with: scores are numbers, NaN when not graded."""
    import pandas as pd

    frame = pd.DataFrame(progress_rows(workspace))
    frame[["score", "max_score"]] = frame[["score", "max_score"]].astype(float)
    return frame


def progress_table(workspace: Path | str | None = None):
    """The progress rows for reading (the welcome notebook shows it): one row per step with its title, status
    and score (``9/10``, blank when not graded)."""
    import pandas as pd

    rows = progress_rows(workspace)
    return pd.DataFrame({"title": [r["title"] for r in rows], "status": [r["status"] for r in rows],
                         "score": [score_text(r) for r in rows]},
                        index=pd.Index([r["stem"] for r in rows], name="step"))


def plot_progress(workspace: Path | str | None = None):
    """A horizontal bar chart of the share of points earned per step (a matplotlib Figure)."""
    import matplotlib.pyplot as plt

    rows = [r for r in progress_rows(workspace) if manifest.resolve(r["stem"]).exercise]
    labels = [f"{manifest.resolve(r['stem']).number} {r['title']}" for r in rows]
    shares = [100 * r["score"] / r["max_score"] if r["max_score"] else 0 for r in rows]
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(rows) + 1))
    ax.barh(labels, shares, color="#3b6ea5")
    for y, (share, row) in enumerate(zip(shares, rows, strict=True)):
        ax.text(min(share, 100) + 1, y, row["status"], va="center", fontsize=8)
    ax.set_xlim(0, 115)
    ax.invert_yaxis()
    ax.set_xlabel("points earned (%)")
    ax.set_title("Your progress through the roadmap")
    fig.tight_layout()
    return fig
