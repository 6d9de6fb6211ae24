"""Build the generated parts of the course from their sources.

1. ``exercises/`` from ``solutions/`` through nbgrader's GenerateAssignment, run in a scratch course folder
   so the repository never holds a gradebook;
2. the navigation cell of every lesson, and the course index in the welcome notebook, from the manifest.

``check=True`` changes nothing and returns what is stale, for ``course build --check`` and the tests.
"""

from __future__ import annotations

import filecmp
import shutil
import tempfile
from pathlib import Path

import nbformat

from course.platform import manifest, paths

__all__ = ["strip_outputs", "generate_release", "release_stale", "update_navigation", "build", "NAV_TAG", "INDEX_TAG"]

NAV_TAG = "course-navigation"
INDEX_TAG = "course-index"


def _generate_into(stem: str, scratch: Path, solutions: Path | None = None) -> Path:
    """Run nbgrader's GenerateAssignment for ``stem`` (from ``solutions``, default the course's) in
    ``scratch``; return the release folder."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    from course.grading.nbconfig import nbgrader_config

    shutil.copytree((solutions or paths.solutions_dir()) / stem, scratch / "solutions" / stem,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    config = nbgrader_config(scratch)
    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    result = api.generate_assignment(stem, force=True, create=True)
    if not result["success"]:
        raise RuntimeError(f"nbgrader could not generate {stem}:\n{result.get('error') or result.get('log')}")
    return scratch / "exercises" / stem


def _tree_differences(fresh: Path, committed: Path) -> list[str]:
    different = []
    fresh_files = {p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file()}
    committed_files = {p.relative_to(committed) for p in committed.rglob("*") if p.is_file()} \
        if committed.exists() else set()
    for rel in sorted(fresh_files | committed_files):
        a, b = fresh / rel, committed / rel
        if not (a.exists() and b.exists() and filecmp.cmp(a, b, shallow=False)):
            different.append(str(Path("exercises") / committed.name / rel))
    return different


def generate_release(stems=None, *, check: bool = False) -> list[str]:
    """Regenerate ``exercises/<stem>`` (or, with ``check``, list the files that differ from a fresh build)."""
    targets = [s.stem for s in manifest.steps(ready_only=True, with_exercise=True)]
    if stems:
        targets = [s for s in targets if s in stems]
    changed: list[str] = []
    for stem in targets:
        with tempfile.TemporaryDirectory(prefix="course-build-") as tmp:
            fresh = _generate_into(stem, Path(tmp))
            committed = paths.exercises_dir() / stem
            differences = _tree_differences(fresh, committed)
            changed.extend(differences)
            if differences and not check:
                shutil.rmtree(committed, ignore_errors=True)
                shutil.copytree(fresh, committed)
    known = {s.stem for s in manifest.steps(ready_only=True, with_exercise=True)}
    for folder in sorted(paths.exercises_dir().glob("*")):
        if folder.is_dir() and folder.name not in known and not stems:
            changed.append(f"exercises/{folder.name} (no ready step with an exercise has this stem)")
    return changed


def release_stale(stems=None) -> list[str]:
    return generate_release(stems, check=True)


def navigation_markdown(step: manifest.Step) -> str:
    before, after = manifest.neighbours(step.stem, ready_only=True)
    parts = []
    if step.deep_dive:
        parent = manifest.resolve(step.parent)
        parts.append(f"Deep dive of [{parent.heading}]({parent.stem}.ipynb)")
    if before and before.stem != step.parent:
        parts.append(f"⬅ [{before.heading}]({before.stem}.ipynb)")
    parts.append("[Course index](00-welcome.ipynb#Roadmap)")
    if step.exercise:
        parts.append(f"✍ [Exercise](../exercises/{step.stem}/{step.stem}.ipynb)")
    if after:
        parts.append(f"[{after.heading}]({after.stem}.ipynb) ➡")
    minutes = f"About {step.minutes} minutes."
    return " · ".join(parts) + f"\n\n*{minutes} Generated from the course manifest by `course build`.*"


def index_markdown() -> str:
    lines = ["| Step | What you will do | Time | Exercise |", "|---|---|---|---|"]
    for step in manifest.load_manifest():
        link = f"[{step.heading}]({step.stem}.ipynb)" if step.ready else f"{step.heading} *(planned)*"
        if step.deep_dive:
            link = f"↳ deep dive: {link}"
        exercise = "yes" if step.exercise else "—"
        lines.append(f"| {link} | {step.summary} | {step.minutes} min | {exercise} |")
    return "\n".join(lines) + "\n\n*Generated from the course manifest by `course build`.*"


def _generated_cells(step: manifest.Step) -> dict[str, str]:
    cells = {NAV_TAG: navigation_markdown(step)}
    if step.stem == "00-welcome":
        cells[INDEX_TAG] = index_markdown()
    return cells


def update_navigation(stems=None, *, check: bool = False) -> list[str]:
    """Write (or, with ``check``, compare) the generated cells of every ready lesson (or of ``stems``)."""
    changed = []
    for step in manifest.steps(ready_only=True):
        if stems and step.stem not in stems:
            continue
        path = paths.lesson_path(step.stem)
        if not path.exists():
            continue
        nb = nbformat.read(path, as_version=4)
        dirty = False
        for tag, text in _generated_cells(step).items():
            cell = next((c for c in nb.cells if tag in c.metadata.get("tags", [])), None)
            if cell is None:
                cell = nbformat.v4.new_markdown_cell(text, metadata={"tags": [tag]})
                nb.cells.insert(1 if tag == NAV_TAG else 2, cell)  # under the title
                dirty = True
            elif cell.source != text:
                cell.source = text
                dirty = True
        if dirty:
            changed.append(str(path.relative_to(paths.course_root())))
            if not check:
                nbformat.write(nb, path)
    return changed


def _has_outputs(nb) -> bool:
    return any(c.cell_type == "code" and (c.get("outputs") or c.get("execution_count") is not None)
               for c in nb.cells)


def strip_outputs(stems=None, *, check: bool = False) -> list[str]:
    """Clear outputs and execution counts of the committed sources (lessons and exercise sources)."""
    changed = []
    root = paths.course_root()
    for path in sorted([*paths.notebooks_dir().glob("*.ipynb"), *paths.solutions_dir().glob("*/*.ipynb")]):
        if stems and path.stem not in stems:
            continue
        nb = nbformat.read(path, as_version=4)
        if _has_outputs(nb):
            changed.append(f"{path.relative_to(root)} (has outputs)")
            if not check:
                for cell in nb.cells:
                    if cell.cell_type == "code":
                        cell.outputs = []
                        cell.execution_count = None
                nbformat.write(nb, path)
    return changed


def build(stems=None, *, check: bool = False) -> list[str]:
    """Build everything (or only the steps ``stems``); returns the files changed (or stale, with ``check``)."""
    # Order matters: outputs are stripped before the release is generated from the sources, and navigation
    # (fast, independent of nbgrader) comes first so a check reports it even if nbgrader fails.
    return (strip_outputs(stems, check=check) + update_navigation(stems, check=check)
            + generate_release(stems, check=check))
