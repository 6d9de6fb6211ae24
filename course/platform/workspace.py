"""The learner's workspace: their own copies of the lessons and exercises, never overwritten.

Layout of a workspace (default ``./workspace``, git-ignored)::

    lessons/NN-title.ipynb            the lessons
    exercises/NN-title/NN-title.ipynb the exercise assignments (and their data files)
    feedback/NN-title/...             feedback HTML written by `course grade`
    .course/shipped.json              what the course wrote where, to tell learner edits from updates
    .course/progress.db               grades and saved results (course.platform.progress)

:func:`sync` copies what is missing. A file the learner may have edited is never overwritten:

- a file the learner never changed is brought up to date in place (nothing of theirs is lost);
- a file the learner changed is left alone; only when the course ships a version that differs from the one
  their copy was made from is the new version written beside it, as ``NAME.course-update.EXT``, and reported;
- a beside-copy is the learner's too once they edit it: a later update goes to ``NAME.course-update-2.EXT``;
- a beside-copy byte-identical to the current release, with no update pending, holds nothing of the learner's
  and is removed (earlier versions of this module wrote such copies for notebooks that were merely run).

``.course/shipped.json`` maps each path (beside-copies included) to the digest of what the course wrote there.
When it is missing or unreadable it is rebuilt from the workspace and the release, every file that differs from
the release counting as the learner's.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from course.platform import manifest, paths
from course.platform.paths import STATE_DIR, find_workspace

__all__ = ["SyncReport", "WorkspaceError", "sync", "locate", "lesson_copy", "exercise_copy", "update_name",
           "ensure_workspace"]

SHIPPED = "shipped.json"


class WorkspaceError(Exception):
    """The workspace cannot be used as it is; the message says why and what to do, in one line."""


@dataclass
class SyncReport:
    workspace: Path
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    beside: list[tuple[str, str]] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # beside-copies identical to the release, no update pending
    problems: list[str] = field(default_factory=list)  # one line each: a file that could not be synced
    rebuilt: int | None = None  # the record was rebuilt: how many files were taken as the learner's

    def lines(self) -> list[str]:
        out = []
        if self.rebuilt is not None:
            out.append(f"the record of what the course shipped ({STATE_DIR}/{SHIPPED}) was missing or unreadable; "
                       f"rebuilt it from your workspace: {self.rebuilt} file(s) that differ from the course count "
                       "as yours and are untouched")
        if self.created:
            out.append(f"copied {len(self.created)} new file(s) into {self.workspace}")
        for name in self.updated:
            out.append(f"updated {name} (you had not changed it)")
        for name, new in self.beside:
            out.append(f"the course has a newer {name}; you changed yours, so it is untouched and the new "
                       f"version is beside it: {new}")
        for name in self.removed:
            out.append(f"removed {name}: it was the same as the course's current version (no update is pending)")
        out.extend(f"problem: {problem}" for problem in self.problems)
        return out


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def update_name(path: Path, number: int = 1) -> Path:
    """Where a newer course version of a learner-changed file goes: ``NAME.course-update.EXT``, then
    ``NAME.course-update-2.EXT`` and so on when the learner edited the earlier beside-copies."""
    tail = "" if number == 1 else f"-{number}"
    return path.with_name(f"{path.stem}.course-update{tail}{path.suffix}")


def _beside_pattern(name: str) -> re.Pattern:
    """Matches the beside-copies' names (or paths) of the file named (or at) ``name``; group 1 is the number."""
    stem, dot, suffix = name.rpartition(".") if "." in name.rpartition("/")[2] else (name, "", "")
    return re.compile(rf"{re.escape(stem)}\.course-update(?:-(\d+))?{re.escape(dot + suffix)}")


def _beside_copies(target: Path) -> list[Path]:
    """The beside-copies of ``target`` present now, in the order of their numbers."""
    pattern = _beside_pattern(target.name)
    found = []
    for candidate in target.parent.glob(f"{_glob_escape(target.stem)}.course-update*{_glob_escape(target.suffix)}"):
        match = pattern.fullmatch(candidate.name)
        if match and candidate.is_file():
            found.append((int(match[1] or 1), candidate))
    return [path for _, path in sorted(found)]


def _glob_escape(text: str) -> str:
    """``text`` matched literally in a glob pattern."""
    return re.sub(r"([*?\[])", r"[\1]", text)


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


def _reason(error: OSError) -> str:
    return error.strerror or type(error).__name__


def ensure_workspace(workspace: Path) -> Path:
    """Create the workspace (and its ``.course`` folder) if needed; it must be a folder the learner can write."""
    workspace = Path(workspace).resolve()
    if workspace.exists() and not workspace.is_dir():
        raise NotADirectoryError(f"the workspace {workspace} is a file, not a folder")
    state = workspace / STATE_DIR
    try:
        state.mkdir(parents=True, exist_ok=True)
        probe = state / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise WorkspaceError(
            f"the workspace {workspace} is not writable ({_reason(error)}), so your work could not be saved; "
            "fix its permissions, or choose another folder with --workspace DIR") from None
    return workspace


def locate(workspace: Path | str | None = None) -> Path:
    """The existing workspace a command works on: ``workspace`` if given, else the one the learner is in
    (``COURSE_WORKSPACE``, or a folder holding ``.course/`` here or above). Only ``course start`` creates one,
    so a folder without ``.course/`` (a typo) is an error rather than a new, empty store."""
    folder = Path(workspace).resolve() if workspace is not None else find_workspace()
    if not (folder / STATE_DIR).is_dir():
        hint = f" --workspace {workspace}" if workspace is not None else ""
        raise WorkspaceError(f"no course workspace at {folder} (it has no {STATE_DIR} folder); "
                             f"run 'course start{hint}' to create it, or give the right folder with --workspace")
    return folder


def _load_record(path: Path) -> dict[str, str] | None:
    """The record of what the course wrote where, or ``None`` when it is missing or unreadable."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in record.items()):
        return None
    return record


def sync(workspace: Path | str) -> SyncReport:
    """Bring the workspace up to date with the course without losing any of the learner's changes."""
    workspace = ensure_workspace(Path(workspace))
    record_path = workspace / STATE_DIR / SHIPPED
    files = _shipped_files()
    record = _load_record(record_path)
    report = SyncReport(workspace)
    shipped: dict[str, str] = record or {}
    if record is None and any((workspace / rel).exists() for _, rel in files):
        report.rebuilt = 0
    for source, rel in files:
        try:
            _sync_file(workspace, source, rel, shipped, report)
        except OSError as error:
            where = getattr(error, "filename", None) or workspace / rel
            report.problems.append(f"{rel} was not synced: {_reason(error)} ({where})")
    try:
        _atomic_write(record_path, json.dumps(shipped, indent=1, sort_keys=True))
    except OSError as error:
        report.problems.append(f"{STATE_DIR}/{SHIPPED} could not be written: {_reason(error)}")
    return report


def _sync_file(workspace: Path, source: Path, rel: str, shipped: dict[str, str], report: SyncReport) -> None:
    target = workspace / rel
    new = _digest(source)
    if target.is_dir():
        report.problems.append(f"{rel} is a folder where the course keeps a file; rename it, then run "
                               "'course start' again to get the course's file back")
        return
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        _atomic_copy(source, target)
        shipped[rel] = new
        report.created.append(rel)
        return
    mine = _digest(target)
    if rel not in shipped:
        # The record is lost: nothing says which version the learner's copy came from. Take it as the current
        # one, so a file that differs is the learner's own and no update is offered for it.
        shipped[rel] = new
        if report.rebuilt is not None:
            report.rebuilt += mine != new
    before = shipped.get(rel)
    if mine == new:
        shipped[rel] = new
        report.kept.append(rel)
    elif before == mine:
        # The learner never changed this file since we shipped it: replacing it loses nothing.
        _atomic_copy(source, target)
        shipped[rel] = new
        report.updated.append(rel)
    # Else the learner changed it; an update is pending only if the course changed since their copy was made.
    pending = mine != new and before not in (mine, new)
    _settle_beside(workspace, source, target, new, shipped, report, pending=pending)


def _settle_beside(workspace: Path, source: Path, target: Path, new: str, shipped: dict[str, str],
                   report: SyncReport, *, pending: bool) -> None:
    """Offer an update beside the learner's file when one is pending, never overwriting an edited beside-copy;
    remove beside-copies that are byte-identical to the release when none is."""
    copies = {path: _digest(path) for path in _beside_copies(target)}
    rel_of = {path: path.relative_to(workspace).as_posix() for path in copies}
    if not pending:
        for path, digest in copies.items():
            if digest == new:  # the release's own bytes: nothing of the learner's is in it
                path.unlink()
                shipped.pop(rel_of[path], None)
                report.removed.append(rel_of[path])
        return
    offered = next((path for path, digest in copies.items() if digest == new), None)
    if offered is None:
        pattern = _beside_pattern(target.relative_to(workspace).as_posix())
        if any(pattern.fullmatch(rel) and digest == new for rel, digest in shipped.items()):
            return  # this very version was offered before and the learner edited or removed the copy: seen
        # A copy still holding what we wrote there can take the new version; one the learner edited cannot.
        offered = next((path for path, digest in copies.items() if shipped.get(rel_of[path]) == digest), None)
        number = 1
        while offered is None:
            candidate = update_name(target, number)
            offered = None if candidate.exists() else candidate
            number += 1
        _atomic_copy(source, offered)
    rel = offered.relative_to(workspace).as_posix()
    shipped[rel] = new
    report.beside.append((target.relative_to(workspace).as_posix(), rel))


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
