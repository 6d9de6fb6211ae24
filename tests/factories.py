"""Factories for nbgrader exercise notebooks and a small self-contained course used by the grading tests."""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import nbformat

from course.platform import authoring as a

FIXTURE = "99-fixture"
REPO = Path(__file__).resolve().parents[1]

SOLUTION_ADD = '''def add(a, b):
    """Return a + b."""
    ### BEGIN SOLUTION
    return a + b
    ### END SOLUTION'''

SOLUTION_STATUS = '''def status_class(code):
    """Return '2xx', '4xx'... for an HTTP status code; raise ValueError outside 100-599."""
    ### BEGIN SOLUTION
    if not 100 <= code <= 599:
        raise ValueError(code)
    return f"{code // 100}xx"
    ### END SOLUTION'''

TESTS_ADD = '''"""add() adds two numbers."""
from course import check
check("add(2, 3)", add(2, 3), 5)
### BEGIN HIDDEN TESTS
check("add(-1, 1)", add(-1, 1), 0)
assert add(10, 5) == 15  # SECRET-HIDDEN-LINE
### END HIDDEN TESTS'''

TESTS_STATUS = '''"""status_class() names the class and rejects codes outside 100-599."""
from course import check, check_raises
check("status_class(404)", status_class(404), "4xx", hint="integer division by 100")
### BEGIN HIDDEN TESTS
check("status_class(599)", status_class(599), "5xx")
check_raises("status_class(600)", status_class, 600)  # SECRET-HIDDEN-CHECK
### END HIDDEN TESTS'''


def fixture_source() -> nbformat.NotebookNode:
    """The nbgrader source of a two-part exercise (3 + 2 points)."""
    return a.notebook([
        a.markdown("# 99 · Fixture exercise"),
        a.markdown("## Part A · add (3 points)"),
        a.answer(SOLUTION_ADD, "add"),
        a.tests(TESTS_ADD, "add_tests", 3),
        a.markdown("## Part B · status class (2 points)"),
        a.answer(SOLUTION_STATUS, "status_class"),
        a.tests(TESTS_STATUS, "status_class_tests", 2),
    ])


def make_course(root: Path, stem: str = FIXTURE, source: nbformat.NotebookNode | None = None) -> Path:
    """A course root holding an exercise's source (the fixture's unless ``source`` is given) and its nbgrader
    release; returns the release notebook."""
    from course.platform.build import _generate_into

    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    path = root / "solutions" / stem / f"{stem}.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(source if source is not None else fixture_source(), path)
    scratch = root / ".scratch"
    scratch.mkdir()
    release = _generate_into(stem, scratch, solutions=root / "solutions")
    shutil.copytree(release, root / "exercises" / stem)
    shutil.rmtree(scratch)
    return root / "exercises" / stem / f"{stem}.ipynb"


def learner_lesson(stem: str, folder: Path, monkeypatch) -> Path:
    """Lesson ``stem`` as a learner runs it: a workspace synced into ``folder``, ``COURSE_WORKSPACE`` naming it
    (``course start`` sets it for JupyterLab's kernels) and matplotlib headless, through ``monkeypatch`` (a
    ``pytest.MonkeyPatch``). Returns the workspace copy of the lesson: run it with its own folder as the kernel's
    working directory, as JupyterLab does. tests/test_notebooks.py runs every ready lesson this way, except those
    whose step tests run them so (with more checks), so that no lesson runs twice."""
    from course.platform import workspace

    ws = Path(folder) / "workspace"
    workspace.sync(ws)
    monkeypatch.setenv("COURSE_WORKSPACE", str(ws))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    return workspace.lesson_copy(ws, stem)


def answer_with(notebook: Path, grade_id: str, source: str) -> None:
    """Replace the answer cell ``grade_id`` of a notebook (as a learner would)."""
    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            cell.source = source
    nbformat.write(nb, notebook)


def drop_cell(notebook: Path, grade_id: str) -> None:
    nb = nbformat.read(notebook, as_version=4)
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != grade_id]
    nbformat.write(nb, notebook)


def edit_cell(notebook: Path, grade_id: str, source: str) -> None:
    answer_with(notebook, grade_id, source)


def solved(notebook: Path) -> None:
    """Fill both answers with correct (differently written) solutions."""
    answer_with(notebook, "add", "def add(a, b):\n    return sum((a, b))")
    answer_with(notebook, "status_class", (
        "def status_class(code):\n"
        "    if code < 100 or code > 599:\n"
        "        raise ValueError('out of range')\n"
        "    return str(code)[0] + 'xx'"))


def exercise_cells(stem: str):
    """(setup sources, {answer grade_id: (answer source, [test sources])}, cleanup source) of exercise ``stem``'s
    solution: the code cells before the first answer, each answer with the test cells after it, the last cell."""
    from course.platform import paths

    nb = nbformat.read(paths.solution_path(stem), as_version=4)
    setup, parts, current, cleanup = [], {}, None, ""
    for cell in nb.cells:
        info = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code":
            continue
        if info.get("solution"):
            current = info["grade_id"]
            parts[current] = (cell.source, [])
        elif info.get("grade"):
            parts[current][1].append(cell.source)
        elif current is None:
            setup.append(cell.source)
        else:
            cleanup = cell.source
    return setup, parts, cleanup


def cell_errors(nb, positions: dict[str, list[int]]) -> dict[str, list[str | None]]:
    """``{variant: [error or None per test cell]}`` of an executed notebook: each variant's test cells are at
    ``positions[variant]``; an error is ``"Name: message"`` (the message cut to 300 characters)."""
    return {variant_id: [next((f"{o.ename}: {o.evalue[:300]}" for o in nb.cells[i].outputs
                               if o.output_type == "error"), None)
                         for i in indexes] for variant_id, indexes in positions.items()}


def variant_cells(stem: str, variants: list[tuple]) -> tuple[list, dict[str, list[int]], int]:
    """One notebook's cells for ``variants`` (``(id, answer grade_id, correct, source)``) of exercise ``stem``:
    its setup, then for each variant the reference answer, the variant's source and the part's test cells, then
    its cleanup. Returns the cells, each variant's test-cell positions and how many cells are trusted (the
    setup), as :func:`run_variants` takes them."""
    setup, parts, cleanup = exercise_cells(stem)
    cells = [nbformat.v4.new_code_cell(source) for source in setup]
    positions = {}
    for variant_id, part, _correct, source in variants:
        answer, tests = parts[part]
        cells += [nbformat.v4.new_code_cell(answer), nbformat.v4.new_code_cell(source)]
        positions[variant_id] = list(range(len(cells), len(cells) + len(tests)))
        cells += [nbformat.v4.new_code_cell(test) for test in tests]
    cells.append(nbformat.v4.new_code_cell(cleanup))
    return cells, positions, len(setup)


def run_variants(cells: list, positions: dict[str, list[int]], *, trusted: int, folder, timeout: int = 600,
                 env: dict[str, str] | None = None) -> dict[str, list[str | None]]:
    """Run a notebook of variant cells in one kernel (in ``folder``, with ``env`` set for it) and return
    :func:`cell_errors`; the first ``trusted`` cells (setup, reference answers) must run without an error."""
    import pytest
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(cells=cells)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in (env or {}).items():
            patch.setenv(name, value)  # the test's own server, not a second one
        NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": str(folder)}}).execute()
    errors = [o for c in nb.cells[:trusted] for o in c.outputs if o.output_type == "error"]
    assert not errors, errors
    return cell_errors(nb, positions)


def assert_judged(errors: list[str | None], correct: bool) -> None:
    """A correct variant passes every test cell of its part; a wrong one fails at least one."""
    if correct:
        assert errors == [None] * len(errors), f"a correct answer lost marks: {errors}"
    else:
        assert any(errors), "a wrong answer kept every point"


def graded_cells(stem: str) -> dict[str, str]:
    """``{grade_id: source}`` of the code cells of a step's exercise source (answers, tests, setup)."""
    from course.platform import paths

    nb = nbformat.read(paths.solution_path(stem), as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells
            if c.cell_type == "code" and "grade_id" in c.metadata.get("nbgrader", {})}


def without_solution_markers(source: str) -> str:
    """An answer cell's source as the reference solution: the ``### BEGIN/END SOLUTION`` lines removed."""
    return re.sub(r"^\s*### (BEGIN|END) SOLUTION\n", "", source, flags=re.M)


@contextmanager
def part_runner(stem: str, answer_ids: list[str]):
    """Yield ``run(test_id, **answers) -> bool``: in a fresh IPython shell (no history file), run the cells
    ``answer_ids`` of a step's exercise source — the reference answer, or the source given for that id — then
    the test cell ``test_id``; True if it passed. Hidden tests judge other answers this way, without a kernel."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    main_module = sys.modules["__main__"]  # IPython swaps it; spawned processes need the real one
    config = Config()
    config.HistoryManager.enabled = False
    shell = InteractiveShell.instance(config=config)
    cells = graded_cells(stem)

    def run(test_id: str, **answers: str) -> bool:
        shell.reset(new_session=False)
        for grade_id in answer_ids:
            source = answers[grade_id] if grade_id in answers else without_solution_markers(cells[grade_id])
            assert shell.run_cell(source, silent=True).success, grade_id
        return shell.run_cell(cells[test_id], silent=True).success

    try:
        yield run
    finally:
        sys.modules["__main__"] = main_module


@contextmanager
def orphans_alone():
    """Held by a test that makes orphaned servers (or cleans every orphan on the machine) while it does: it
    waits for any other such test, in another xdist worker or test run, so that one test's clean_orphans()
    never stops the orphans another is about to find."""
    import fcntl

    with open(Path(tempfile.gettempdir()) / "course-test-orphans.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
