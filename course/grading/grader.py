"""Grade a learner's exercise notebook with the hidden tests, through nbgrader, in this process.

``grade(step, workspace)`` runs nbgrader's Autograde converter on the learner's workspace copy inside a scratch
course folder, reads the scores back from that folder's gradebook, explains each part in one line, writes
feedback HTML (hidden tests removed) into the workspace and records the result in the progress store.

The pipeline, in order (each step needs the one before):

1. check the learner's notebook is JSON — broken JSON stops here with one clear message, nothing touched;
2. lay out the scratch course: a copy of the prepared gradebook (cached per version of the source), the
   source folder, and the learner's folder as ``submitted/learner/<stem>``; start the kernel there;
3. repair the copy to grade: locked cells (setup, tests) the learner deleted, edited or re-labelled, and changed
   nbgrader metadata, are put back from the release, and noted (course.grading.repair);
4. autograde with nbgrader (sanitize, restore test cells, execute with a per-cell timeout, save scores);
5. read the scores and explain every part (passed, the check's own message, timed out, kernel died);
6. generate feedback HTML without hidden tests (readied in a child forked before step 4, rendered by it while
   step 5 runs: course.grading.feedback), copy it into the workspace, record the grade.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from course.grading import feedback as feedback_page
from course.grading.nbconfig import quiet
from course.grading.process import check_each_schema_once, prepare_grading_process
from course.platform import manifest, paths

__all__ = ["PartResult", "GradeResult", "GradingError", "grade", "grade_notebook", "read_notebook", "check_json",
           "prepare_grading_process", "remove_stale_scratch", "part_title", "docstring_line", "DEFAULT_TIMEOUT"]

STUDENT = "learner"
DEFAULT_TIMEOUT = 30
TIMEOUT_NAMES = {"KeyboardInterrupt", "CellTimeoutError", "TimeoutError"}


class GradingError(Exception):
    """Grading could not run at all (for example, the notebook is not valid JSON); one line says why."""


@dataclass
class PartResult:
    grade_id: str
    points: float
    max_points: float
    passed: bool
    message: str
    part: str = ""         # the heading the learner reads, e.g. "Part D · Normalise and deduplicate e-mail addresses"
    description: str = ""  # the test cell's one-line docstring: what it checks


@dataclass
class GradeResult:
    stem: str
    score: float
    max_score: float
    parts: list[PartResult]
    restored: list[str] = field(default_factory=list)
    feedback: str | None = None
    problems: list[str] = field(default_factory=list)  # what could not be saved (feedback, the record), and why
    review: list[str] = field(default_factory=list)  # why the tamper check flagged it (course.grading.tamper)

    def to_dict(self) -> dict:
        return asdict(self)


def check_json(path: Path) -> str:
    """The text of a notebook file that is valid JSON, or :class:`GradingError` with one line saying why."""
    path = Path(path)
    if not path.exists():
        raise GradingError(f"{path} does not exist; run 'course start' to copy the exercises into your workspace")
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        json.loads(text)
    except json.JSONDecodeError as error:
        raise GradingError(
            f"{path} is not valid notebook JSON (line {error.lineno}, column {error.colno}: {error.msg}); "
            "undo the last edit made outside Jupyter, or rename the file and run 'course start' for a fresh copy"
        ) from None
    return text


def read_notebook(path: Path, text: str | None = None):
    """Read a notebook, or raise :class:`GradingError` with one line saying what is wrong."""
    import nbformat

    text = text if text is not None else check_json(path)
    try:
        return nbformat.reads(text, as_version=4)
    except Exception as error:  # noqa: BLE001 - any reason nbformat refuses it is reported the same way
        raise GradingError(f"{path} is JSON but not a notebook nbformat can read ({error})") from None


def _test_cells(text: str) -> dict[str, str]:
    """The test cells of a notebook's JSON text (plain JSON: nbformat's validation is not needed here)."""
    cells = {}
    for cell in json.loads(text).get("cells", []):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution") and "grade_id" in meta:
            source = cell.get("source", "")
            cells[meta["grade_id"]] = "".join(source) if isinstance(source, list) else source
    return cells


def _tampered(learner_text: str, release_text: str) -> list[str]:
    mine = _test_cells(learner_text)
    notes = []
    for grade_id, source in _test_cells(release_text).items():
        if grade_id not in mine:
            notes.append(f"test cell '{grade_id}' was deleted; it was restored from the course and graded")
        elif mine[grade_id].strip() != source.strip():
            notes.append(f"test cell '{grade_id}' was edited; the course's version was restored and graded")
    return notes


def _repaired_copy(learner, stem: str, target: Path) -> list[str]:
    """Write the notebook to grade to ``target``: the learner's, with deleted, edited or re-labelled locked cells
    and changed nbgrader metadata put back from the release (course.grading.repair); returns the notes."""
    import nbformat

    from course.grading.repair import repair

    graded, notes = repair(learner, read_notebook(paths.release_path(stem)))
    nbformat.write(graded, target)
    return notes


SCRATCH_PREFIXES = ("course-grade-", "course-prepare-")
OWNER_FILE = ".course-owner"  # "<pid> <process start time>" of the run that made the scratch folder


def _process_start(pid: int) -> float | None:
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except (psutil.Error, ValueError):
        return None


@contextmanager
def _scratch(prefix: str):
    """A scratch folder (mode 0700: it holds the hidden tests) that names the process it belongs to, so a later
    run can tell a folder left by a killed run from one a concurrent run still uses."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:  # mkdtemp makes it 0700
        (Path(tmp) / OWNER_FILE).write_text(f"{os.getpid()} {_process_start(os.getpid())}", encoding="utf-8")
        yield tmp


def remove_stale_scratch(folder: Path | None = None, *, unowned_after: float = 3600) -> list[Path]:
    """Remove scratch folders that killed ``course grade`` runs left in the temporary folder (they hold hidden
    tests): this user's folders whose process is gone, or that name none and are older than ``unowned_after``
    seconds. A folder of a run still going is left alone."""
    import time

    folder = Path(folder or tempfile.gettempdir())
    removed = []
    for path in folder.iterdir() if folder.is_dir() else ():
        try:
            if not path.name.startswith(SCRATCH_PREFIXES) or path.is_symlink() or not path.is_dir() \
                    or path.stat().st_uid != os.getuid():
                continue
            try:
                pid, started = (path / OWNER_FILE).read_text(encoding="utf-8").split()
                alive = _process_start(int(pid))
                stale = alive is None or (started != "None" and abs(alive - float(started)) > 1)
            except (OSError, ValueError):
                stale = time.time() - path.stat().st_mtime > unowned_after
        except OSError:
            continue
        if stale:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _source_digest(stem: str) -> str:
    digest = hashlib.sha256()
    for path in sorted((paths.solutions_dir() / stem).rglob("*")):
        if path.is_file() and ".ipynb_checkpoints" not in path.parts:
            digest.update(path.relative_to(paths.solutions_dir()).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _need_hidden_tests(stem: str) -> None:
    """:class:`GradingError` saying what is missing when this copy of the course has no hidden tests for ``stem``
    (a class's Python holds the release only: its students' work is graded at the instructor's autograde)."""
    source = paths.solutions_dir() / stem / f"{stem}.ipynb"
    if source.is_file():
        return
    if os.environ.get("COURSE_CLASS_PYTHON"):
        raise GradingError(
            f"this class's copy of the course has no hidden tests ({source} is not here), so 'course grade' "
            f"cannot grade {stem}: your instructor grades it with the hidden tests when they autograde your "
            "submission (submit it with 'nbgrader submit' or the Assignments tab); the check cells in the "
            "notebook still give instant feedback when you run them")
    raise GradingError(
        f"the hidden tests of {stem} are missing ({source} not found), so it cannot be graded: install the "
        "course from its full checkout ('pip install -e .' there) or set BACKEND_COURSE_ROOT to a folder "
        "holding solutions/; the check cells in the notebook still give instant feedback when you run them")


def _prepared_gradebook(stem: str, cache_dir: Path) -> Path:
    """A gradebook holding the assignment ``stem``, generated once per version of its source."""
    target = cache_dir / f"{stem}-{_source_digest(stem)}.db"
    if not target.exists():
        from course.platform.build import _generate_into

        cache_dir.mkdir(parents=True, exist_ok=True, mode=0o700)  # gradebooks hold the hidden tests
        with _scratch("course-prepare-") as tmp:
            _generate_into(stem, Path(tmp))
            partial = target.with_suffix(".partial")
            shutil.copyfile(Path(tmp) / "gradebook.db", partial)
            partial.replace(target)
    return target


def _explain(cell, answer_cells, timeout: int) -> str:
    """One line on why a test cell failed (or 'passed')."""
    from course.grading.preprocessors import KERNEL_DIED, KERNEL_RESTARTED

    for source in [*answer_cells, cell]:
        for output in source.get("outputs", []):
            if output.get("output_type") == "error" and output.get("ename") == KERNEL_RESTARTED:
                return output["evalue"]  # timed out or died, and the kernel was restarted: it says which
            if output.get("output_type") == "error" and output.get("ename") in TIMEOUT_NAMES:
                return f"timed out after {timeout} s (an infinite loop, or work that never ends?)"

    errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    if not errors:
        return "passed"
    error = errors[-1]
    if error["ename"] == KERNEL_DIED:
        return "the kernel died before this part ran (a crash, or memory exhausted); scored zero"
    if error["ename"] == "NotImplementedError":
        return "not answered yet: the answer cell still raises NotImplementedError"
    if error["ename"] == "CheckFailed":
        return error["evalue"]
    if error["ename"] == "AssertionError" and not error["evalue"]:
        return "a hidden test failed: check the edge cases named in the instructions"
    return f"{error['ename']}: {error['evalue']}"


_PART_HEADING = re.compile(r"^#{1,4}\s+(Parts?\b.*?)(?:\s*\([^()]*\bpoints?\))?\s*$")
_DOCSTRING = re.compile(r'^\s*[rRuU]?("""|\'\'\')\s*(.*?)\s*(?:\1|$)', re.M)


def part_title(markdown: str) -> str | None:
    """The part a markdown cell opens ("Part A · Parse a log line"), from its "## Part A · … (N points)"
    heading; None for any other cell."""
    first = markdown.lstrip().split("\n", 1)[0] if markdown.strip() else ""
    found = _PART_HEADING.match(first)
    return found.group(1).strip() if found else None


def docstring_line(source: str) -> str:
    """The first line of a cell's opening docstring (what a test cell checks), or ""."""
    found = _DOCSTRING.match(source)
    return found.group(2) if found else ""


def _parts(autograded_path: Path, grades: dict[str, tuple[float, float]], timeout: int) -> list[PartResult]:
    import nbformat

    nb = nbformat.read(autograded_path, as_version=4)
    parts, answers, title = [], [], ""
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type == "markdown":
            title = part_title(cell.source) or title
        if cell.cell_type != "code":
            continue
        if meta.get("solution"):
            answers.append(cell)
        elif meta.get("grade") and meta.get("grade_id") in grades:
            score, max_score = grades[meta["grade_id"]]
            message = _explain(cell, answers, timeout)
            if message == "passed" and score < max_score:
                # nbgrader scores a cell whose last line displays a number as that many points (stderr, which
                # it would score zero, reaches the grading kernel's output as stdout: nbconfig.stderr_as_output);
                # say so rather than "passed".
                message = (f"no check failed, but nbgrader gave {score:g}/{max_score:g}: the cell's last line "
                           "displayed a number, which nbgrader reads as points")
            passed = score >= max_score and message == "passed"
            parts.append(PartResult(meta["grade_id"], score if passed else 0.0, max_score, passed, message,
                                    title, docstring_line(cell.source)))
            answers = []
    return parts


def grade_notebook(stem: str, notebook: Path, *, timeout: int | None = None, feedback_to: Path | None = None,
                   cache_dir: Path | None = None, progress: Callable[[str], None] | None = None) -> GradeResult:
    """Grade one exercise notebook of step ``stem``; see the module docstring for the pipeline.

    ``progress``, if given, is called with each part's title ("Part B · …") as the kernel starts on it."""
    from course.grading.nbconfig import nbgrader_config, prestart_kernel, stop_kernel, unsynced_gradebook

    if timeout is not None and timeout < 1:
        # nbclient reads 0 or less as "no limit": an answer that never ends would hang grading for ever
        raise GradingError(f"a timeout of {timeout} s would let a cell run for ever; give 1 s or more")
    notebook = Path(notebook)
    _need_hidden_tests(stem)
    text = check_json(notebook)                                                 # 1
    cache_dir = cache_dir or Path(tempfile.gettempdir()) / "backend-course-gradebooks"
    remove_stale_scratch()
    with _scratch("course-grade-") as tmp:                                      # 2
        scratch = Path(tmp)
        shutil.copyfile(_prepared_gradebook(stem, cache_dir), scratch / "gradebook.db")
        shutil.copytree(paths.solutions_dir() / stem, scratch / "solutions" / stem)
        submitted = scratch / "submitted" / STUDENT / stem
        shutil.copytree(notebook.parent, submitted, ignore=shutil.ignore_patterns(
            ".ipynb_checkpoints", "*.course-update.*", "__pycache__"))
        if notebook.name != f"{stem}.ipynb":
            shutil.copyfile(notebook, submitted / f"{stem}.ipynb")
        config = nbgrader_config(scratch, timeout=timeout)
        writers: list = []
        if progress is not None:
            config.Execute.on_cell_start = _on_cell_start(progress)  # nbclient runs it before each cell
        # The grading kernel must not open the scratch course (gradebook, hidden tests) or the solutions.
        config.SafeExecute.guard_forbidden = [str(scratch), str(paths.solutions_dir())]
        # Nothing keeps more of a failed test cell's traceback than its last line (the feedback page cuts it
        # to that; the autograded notebook goes with the scratch folder): the kernel formats no more.
        config.SafeExecute.brief_test_tracebacks = True
        # The kernel boots in its own process (on the other core) while this one imports nbformat and
        # nbgrader: the slowest steps of grading, overlapped. In the sandbox where it can run.
        kernel = prestart_kernel(config, submitted, sandbox=_sandbox(config, scratch, stem, cache_dir))
        scored = False
        try:
            # a JSON file nbformat cannot read is one clear error too
            restored = _repaired_copy(read_notebook(notebook, text), stem, submitted / f"{stem}.ipynb")  # 3
            import nbgrader.converters  # noqa: F401 - imported here so that the feedback child has it too

            check_each_schema_once()

            if feedback_to is not None:
                # The feedback page is readied in a child forked now (course.grading.feedback), with nbgrader
                # imported: it warms up on the core the kernel leaves idle until nbgrader's steps before
                # execution are done, and while the kernel runs the cells this process mostly waits.
                writers.append(feedback_page.prepare(config, paths.release_path(stem), stem, _run_converter))
            with unsynced_gradebook(scratch / "gradebook.db"):
                outcome = _run_converter("Autograde", config, stem)             # 4
            autograded = scratch / "autograded" / STUDENT / stem / f"{stem}.ipynb"
            graded = outcome["success"] and autograded.exists()
            # The feedback page renders in the readied child while this process reads the scores and stops
            # the kernel.
            if graded and writers:
                feedback_page.start(writers[0])
            if not graded:
                raise GradingError(f"nbgrader could not grade {notebook}: {_last_error(outcome)}")
            parts = _parts(autograded, _scores(config, stem), int(config.Execute.timeout))   # 5
            from course.grading.tamper import review_notes

            review = review_notes(autograded)
            scored = True
        finally:
            stop_kernel(kernel)
            if not scored and writers and writers[0] is not None:
                writers[0].cancel()  # no page after all: the child ends now, not at this process's exit
        feedback, problems = None, []
        if feedback_to is not None:                                             # 6
            html = scratch / "feedback" / STUDENT / stem / f"{stem}.html"
            writer = writers[0] if writers else None
            if feedback_page.finish(writer, config, stem, _run_converter) and html.exists():
                target = feedback_to / html.name
                try:
                    feedback_to.mkdir(parents=True, exist_ok=True)
                    target.write_text(feedback_page.with_table_style(html.read_text(encoding="utf-8")), encoding="utf-8")
                    feedback = str(target)
                except OSError as error:  # the grade still counts: say what failed and how to fix it
                    problems.append(f"the feedback page could not be written to {target} "
                                    f"({error.strerror or error}); make {feedback_to} a folder you can "
                                    "write to, and grade again for the page")
    score = sum(p.points for p in parts)
    return GradeResult(stem, score, sum(p.max_points for p in parts), parts, restored, feedback, problems, review)


def _on_cell_start(progress: Callable[[str], None]):
    """nbclient's hook before each cell: ``progress`` with each part's title."""
    def on_cell_start(cell, cell_index):
        title = part_title(cell.source) if cell.get("cell_type") == "markdown" else None
        if title:
            progress(title)
    return on_cell_start


def _sandbox(config, scratch: Path, stem: str, cache_dir: Path):
    """The grading sandbox for the learner's kernel (course.grading.sandbox), or None, said once, where this
    machine cannot run it (or ``COURSE_SANDBOX=off``)."""
    from course.grading import sandbox

    if not sandbox.wanted(config):
        return None
    ok, how = sandbox.available(cache=cache_dir / "sandbox.json")
    if not ok:
        sandbox.note_once(f"note: {how}; your code is graded with your own rights (not isolated from your "
                          "files, network and processes)")
        return None
    return sandbox.Sandbox([scratch / "submitted" / STUDENT / stem, scratch / "solutions" / stem],
                           scratch / "autograded" / STUDENT / stem, sandbox.limits_from(config))


def _run_converter(name: str, config, stem: str) -> dict:
    """Run one of nbgrader's converters in this process (nbgrader.converters, not the slower nbgrader.apps)."""
    from nbgrader import converters
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import capture_log

    coursedir = CourseDirectory(config=config)
    coursedir.assignment_id = stem
    coursedir.student_id = STUDENT
    app = getattr(converters, name)(coursedir=coursedir, config=config)
    app.force = True
    if name == "Autograde":
        app.create_student = True
    with quiet():
        return capture_log(app)


def _scores(config, stem: str) -> dict[str, tuple[float, float]]:
    from nbgrader.api import Gradebook

    with quiet(), Gradebook(config.CourseDirectory.db_url) as gradebook:
        submission = gradebook.find_submission_notebook(stem, stem, STUDENT)
        return {g.name: (g.score, g.max_score) for g in submission.grades if g.cell_type == "code"}


def _last_error(outcome: dict) -> str:
    text = (outcome.get("error") or outcome.get("log") or "no details").strip().splitlines()
    return text[-1] if text else "no details"


def grade(step: str | manifest.Step, workspace: Path | str, *, timeout: int | None = None,
          record: bool = True, progress: Callable[[str], None] | None = None) -> GradeResult:
    """Grade the workspace copy of a step's exercise, write its feedback, and record it as progress."""
    from course.platform.workspace import exercise_copy

    step = step if isinstance(step, manifest.Step) else manifest.resolve(step, need_exercise=True)
    workspace = Path(workspace).resolve()
    result = grade_notebook(step.stem, exercise_copy(workspace, step.stem), timeout=timeout,
                            feedback_to=workspace / "feedback" / step.stem,
                            cache_dir=workspace / ".course" / "gradebooks", progress=progress)
    if record:
        _record(workspace, result)
    return result


def _record(workspace: Path, result: GradeResult) -> None:
    """Record the grade; a store that is damaged or not writable keeps it in a side file instead, and says so."""
    # imported late: SQLAlchemy loads while nothing waits on it
    from course.platform.progress import ProgressStore, ProgressStoreError, keep_unrecorded_grade

    parts = [asdict(p) for p in result.parts]
    try:
        with ProgressStore(workspace) as store:
            store.record_grade(result.stem, result.score, result.max_score, parts)
    except ProgressStoreError as error:
        lost = f"this grade ({result.score:g}/{result.max_score:g}) was not recorded: {error}"
        try:
            kept = keep_unrecorded_grade(workspace, result.stem, result.score, result.max_score, parts)
        except OSError as side_error:
            result.problems.append(f"{lost}; it could not be kept aside either ({side_error.strerror or side_error}):"
                                   " note it down")
        else:
            result.problems.append(f"{lost}. The grade is kept in {kept} and moves into the store once it is "
                                   "repaired")
