"""Grade a learner's exercise notebook with the hidden tests, through nbgrader, in this process.

``grade(step, workspace)`` runs nbgrader's Autograde converter on the learner's workspace copy inside a scratch
course folder, reads the scores back from that folder's gradebook, explains each part in one line, writes
feedback HTML (hidden tests removed) into the workspace and records the result in the progress store.

The pipeline, in order (each step needs the one before):

1. check the learner's notebook is JSON — broken JSON stops here with one clear message, nothing touched;
2. lay out the scratch course: a copy of the prepared gradebook (cached per version of the source), the
   source folder, and the learner's folder as ``submitted/learner/<stem>``; start the kernel there;
3. note which test cells the learner deleted or edited (nbgrader restores them from the source in step 4);
4. autograde with nbgrader (sanitize, restore test cells, execute with a per-cell timeout, save scores);
5. read the scores and explain every part (passed, the check's own message, timed out, kernel died);
6. generate feedback HTML without hidden tests (in a forked child, while step 5 runs), copy it into the
   workspace, record the grade.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from course.grading.nbconfig import quiet
from course.platform import manifest, paths

__all__ = ["PartResult", "GradeResult", "GradingError", "grade", "grade_notebook", "read_notebook", "check_json",
           "prepare_grading_process", "DEFAULT_TIMEOUT"]

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


@dataclass
class GradeResult:
    stem: str
    score: float
    max_score: float
    parts: list[PartResult]
    restored: list[str] = field(default_factory=list)
    feedback: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def prepare_grading_process() -> None:
    """Make a process that only grades start faster; called first by the ``course grade`` command.

    - nbformat validates notebooks with its documented faster validator, fastjsonschema (installed with
      nbformat), instead of jsonschema: nbgrader reads and writes the notebook several times.
    - jsonschema does not import ``rfc3987_syntax``: when installed, that optional package builds a full
      grammar parser at import (over a second) only to check the "iri" string format, which notebook schemas
      never use; jsonschema then checks "iri" as it does when the package is absent.
    """
    os.environ.setdefault("NBFORMAT_VALIDATOR", "fastjsonschema")
    if "jsonschema" not in sys.modules:
        sys.modules.setdefault("rfc3987_syntax", None)


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


def _source_digest(stem: str) -> str:
    digest = hashlib.sha256()
    for path in sorted((paths.solutions_dir() / stem).rglob("*")):
        if path.is_file() and ".ipynb_checkpoints" not in path.parts:
            digest.update(path.relative_to(paths.solutions_dir()).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _prepared_gradebook(stem: str, cache_dir: Path) -> Path:
    """A gradebook holding the assignment ``stem``, generated once per version of its source."""
    target = cache_dir / f"{stem}-{_source_digest(stem)}.db"
    if not target.exists():
        from course.platform.build import _generate_into

        cache_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="course-prepare-") as tmp:
            _generate_into(stem, Path(tmp))
            partial = target.with_suffix(".partial")
            shutil.copyfile(Path(tmp) / "gradebook.db", partial)
            partial.replace(target)
    return target


def _explain(cell, answer_cells, timeout: int) -> str:
    """One line on why a test cell failed (or 'passed')."""
    for source in [*answer_cells, cell]:
        for output in source.get("outputs", []):
            if output.get("output_type") == "error" and output.get("ename") in TIMEOUT_NAMES:
                return f"timed out after {timeout} s (an infinite loop, or work that never ends?)"
    from course.grading.preprocessors import KERNEL_DIED

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


def _parts(autograded_path: Path, grades: dict[str, tuple[float, float]], timeout: int) -> list[PartResult]:
    import nbformat

    nb = nbformat.read(autograded_path, as_version=4)
    parts, answers = [], []
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type != "code":
            continue
        if meta.get("solution"):
            answers.append(cell)
        elif meta.get("grade") and meta.get("grade_id") in grades:
            score, max_score = grades[meta["grade_id"]]
            message = _explain(cell, answers, timeout)
            if message == "passed" and score < max_score:
                # nbgrader scores a cell that wrote to stderr (a warning, say) zero, and one that ends with a
                # number as that many points; say so rather than "passed".
                message = (f"no check failed, but nbgrader gave {score:g}/{max_score:g}: the cell wrote to "
                           "stderr (a warning?) or its last line returned a number")
            passed = score >= max_score and message == "passed"
            parts.append(PartResult(meta["grade_id"], score if passed else 0.0, max_score, passed, message))
            answers = []
    return parts


def grade_notebook(stem: str, notebook: Path, *, timeout: int | None = None, feedback_to: Path | None = None,
                   cache_dir: Path | None = None) -> GradeResult:
    """Grade one exercise notebook of step ``stem``; see the module docstring for the pipeline."""
    from course.grading.nbconfig import nbgrader_config, prestart_kernel, stop_kernel

    notebook = Path(notebook)
    text = check_json(notebook)                                                 # 1
    cache_dir = cache_dir or Path(tempfile.gettempdir()) / "backend-course-gradebooks"
    with tempfile.TemporaryDirectory(prefix="course-grade-") as tmp:            # 2
        scratch = Path(tmp)
        shutil.copyfile(_prepared_gradebook(stem, cache_dir), scratch / "gradebook.db")
        shutil.copytree(paths.solutions_dir() / stem, scratch / "solutions" / stem)
        submitted = scratch / "submitted" / STUDENT / stem
        shutil.copytree(notebook.parent, submitted, ignore=shutil.ignore_patterns(
            ".ipynb_checkpoints", "*.course-update.*", "__pycache__"))
        if notebook.name != f"{stem}.ipynb":
            shutil.copyfile(notebook, submitted / f"{stem}.ipynb")
        config = nbgrader_config(scratch, timeout=timeout)
        # The kernel boots in its own process (on the other core) while this one imports nbformat and
        # nbgrader: the slowest steps of grading, overlapped. In the sandbox where it can run.
        kernel = prestart_kernel(config, submitted, sandbox=_sandbox(config, scratch, stem, cache_dir))
        try:
            read_notebook(notebook, text)  # a JSON file nbformat cannot read is one clear error too
            restored = _tampered(text, paths.release_path(stem).read_text(encoding="utf-8"))   # 3
            outcome = _run_converter("Autograde", config, stem)                 # 4
            autograded = scratch / "autograded" / STUDENT / stem / f"{stem}.ipynb"
            graded = outcome["success"] and autograded.exists()
            # Feedback HTML renders in a forked copy of this process while this one reads the scores and
            # stops the kernel: the two take about as long.
            writer = _start_feedback(config, stem) if graded and feedback_to is not None else None
            if not graded:
                raise GradingError(f"nbgrader could not grade {notebook}: {_last_error(outcome)}")
            parts = _parts(autograded, _scores(config, stem), int(config.Execute.timeout))   # 5
        finally:
            stop_kernel(kernel)
        feedback = None
        if writer is not None:                                                  # 6
            html = scratch / "feedback" / STUDENT / stem / f"{stem}.html"
            if _finish_feedback(writer, config, stem) and html.exists():
                feedback_to.mkdir(parents=True, exist_ok=True)
                feedback = str(shutil.copy(html, feedback_to / html.name))
    score = sum(p.points for p in parts)
    return GradeResult(stem, score, sum(p.max_points for p in parts), parts, restored, feedback)


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


def _feedback_job(config, stem: str) -> None:
    config.HTMLExporter.template_name = "feedback"
    outcome = _run_converter("GenerateFeedback", config, stem)
    os._exit(0 if outcome["success"] else 1)


def _start_feedback(config, stem: str):
    """Generate feedback in a forked child where fork exists (everything is imported already, so the
    child starts at once); elsewhere return "inline", and :func:`_finish_feedback` does it in this process."""
    import multiprocessing

    if "fork" not in multiprocessing.get_all_start_methods():
        return "inline"
    child = multiprocessing.get_context("fork").Process(target=_feedback_job, args=(config, stem),
                                                        name="course-feedback", daemon=True)
    child.start()
    return child


def _finish_feedback(writer, config, stem: str) -> bool:
    if writer == "inline":
        config.HTMLExporter.template_name = "feedback"
        return _run_converter("GenerateFeedback", config, stem)["success"]
    writer.join(timeout=120)
    if writer.is_alive():
        writer.kill()
        return False
    return writer.exitcode == 0


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
          record: bool = True) -> GradeResult:
    """Grade the workspace copy of a step's exercise, write its feedback, and record it as progress."""
    from course.platform.workspace import exercise_copy

    step = step if isinstance(step, manifest.Step) else manifest.resolve(step, need_exercise=True)
    workspace = Path(workspace).resolve()
    result = grade_notebook(step.stem, exercise_copy(workspace, step.stem), timeout=timeout,
                            feedback_to=workspace / "feedback" / step.stem,
                            cache_dir=workspace / ".course" / "gradebooks")
    if record:
        from course.platform.progress import (
            ProgressStore,  # imported late: SQLAlchemy loads while nothing waits on it
        )

        with ProgressStore(workspace) as store:
            store.record_grade(step.stem, result.score, result.max_score, [asdict(p) for p in result.parts])
    return result
