"""The learner's workspace: their own copies of the lessons and exercises, never overwritten.

Layout of a workspace (default ``./workspace``, git-ignored)::

    lessons/NN-title.ipynb            the lessons
    exercises/NN-title/NN-title.ipynb the exercise assignments (and their data files)
    feedback/NN-title/...             feedback HTML written by `course grade`
    .course/shipped.json              what the course shipped last, to tell learner edits from updates
    .course/progress.db               grades and saved results (course.platform.progress)

:func:`sync` copies what is missing. A file the learner changed is never touched: when the course ships a
newer version of it, the new version is written beside it as ``NAME.course-update.EXT`` and reported. A file
the learner never changed is brought up to date in place (nothing of theirs is lost).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from course.platform import manifest, paths
from course.platform.paths import STATE_DIR

__all__ = ["SyncReport", "sync", "lesson_copy", "exercise_copy", "update_name", "ensure_workspace"]

SHIPPED = "shipped.json"


@dataclass
class SyncReport:
    workspace: Path
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    beside: list[tuple[str, str]] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = []
        if self.created:
            out.append(f"copied {len(self.created)} new file(s) into {self.workspace}")
        for name in self.updated:
            out.append(f"updated {name} (you had not changed it)")
        for name, new in self.beside:
            out.append(f"the course has a newer {name}; you changed yours, so it is untouched and the new "
                       f"version is beside it: {new}")
        return out


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def update_name(path: Path) -> Path:
    """Where a newer course version of a learner-changed file goes: ``NAME.course-update.EXT``."""
    return path.with_name(f"{path.stem}.course-update{path.suffix}")


def _shipped_files() -> list[tuple[Path, str]]:
    """(source file, path relative to the workspace) for every file the course ships now."""
    files = []
    for step in manifest.steps(ready_only=True):
        lesson = paths.lesson_path(step.stem)
        if lesson.exists():
            files.append((lesson, f"lessons/{lesson.name}"))
        release = paths.exercises_dir() / step.stem
        if step.exercise and release.is_dir():
            for source in sorted(release.rglob("*")):
                if source.is_file() and ".ipynb_checkpoints" not in source.parts:
                    files.append((source, f"exercises/{step.stem}/{source.relative_to(release).as_posix()}"))
    return files


def ensure_workspace(workspace: Path) -> Path:
    workspace = Path(workspace).resolve()
    if workspace.exists() and not workspace.is_dir():
        raise NotADirectoryError(f"the workspace {workspace} is a file, not a folder")
    (workspace / STATE_DIR).mkdir(parents=True, exist_ok=True)
    return workspace


def sync(workspace: Path | str) -> SyncReport:
    """Bring the workspace up to date with the course without losing any of the learner's changes."""
    workspace = ensure_workspace(Path(workspace))
    record_path = workspace / STATE_DIR / SHIPPED
    shipped: dict[str, str] = json.loads(record_path.read_text()) if record_path.exists() else {}
    report = SyncReport(workspace)
    for source, rel in _shipped_files():
        target = workspace / rel
        new = _digest(source)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            shipped[rel] = new
            report.created.append(rel)
            continue
        mine = _digest(target)
        if mine == new:
            shipped[rel] = new
            report.kept.append(rel)
        elif shipped.get(rel) == mine:
            # The learner never changed this file since we shipped it: replacing it loses nothing.
            _atomic_copy(source, target)
            shipped[rel] = new
            report.updated.append(rel)
        else:
            beside = update_name(target)
            if not beside.exists() or _digest(beside) != new:
                _atomic_copy(source, beside)
            report.beside.append((rel, str(beside.relative_to(workspace))))
    _atomic_write(record_path, json.dumps(shipped, indent=1, sort_keys=True))
    return report


def _atomic_copy(source: Path, target: Path) -> None:
    tmp = target.with_name(f".{target.name}.tmp")
    shutil.copyfile(source, tmp)
    os.replace(tmp, target)


def _atomic_write(target: Path, text: str) -> None:
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, target)


def lesson_copy(workspace: Path, stem: str) -> Path:
    return Path(workspace) / "lessons" / f"{stem}.ipynb"


def exercise_copy(workspace: Path, stem: str) -> Path:
    return Path(workspace) / "exercises" / stem / f"{stem}.ipynb"
