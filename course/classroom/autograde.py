"""Autograde a class through nbgrader, several students at once, with the results of ``nbgrader autograde``.

nbgrader grades one student after another: its gradebook is one database that every step of grading writes
(student, submission, each score, the late penalty), and a SQLite file does not take several writers at once.
Here each student is graded in a process of its own against a *private* gradebook, and only the parent writes
the class's gradebook, one student at a time. The pipeline, in order (each step needs the one before):

1. snapshot — from the class's gradebook, each student's current state (scores, manual grades, extension),
   and who needs grading by nbgrader's own rule (never autograded, a newer submission, or ``force``);
2. template — the assignment's definition (notebooks, cells, checksums) copied into a scratch SQLite
   gradebook, once;
3. grade, ``jobs`` at a time — a worker (forked after nbgrader is imported, so it is imported once) copies
   the template, seeds it with its student's state, and runs nbgrader's Autograde converter with the class's
   configuration, writing ``autograded/<student>/<stem>/`` in the class folder (one folder per student). The
   student's code runs in a kernel in the grading sandbox (course.grading.sandbox), on a private copy of the
   submission: it reads and writes nothing of the class, and nothing it starts outlives its grading;
4. merge, serially in the parent — what autograding changed for that student (timestamp, automatic scores,
   needs-manual-grade flags, automatic comments, late penalties) goes into the class's gradebook (SQLite or
   PostgreSQL) through nbgrader's Gradebook API, committed once per student;
5. report — score per student, and notes: test cells restored, invalid JSON, timed-out parts, dead kernel,
   and ``needs review: …`` when the tamper check (:mod:`course.grading.tamper`) caught the submission
   switching its tests off; such a submission keeps its score, flagged, with every grade marked
   needs-manual-grade in the gradebook (formgrader shows it) and the reason in the export.

A submission that cannot be graded is reported ``not graded``; the rest of the class is still graded. If an
earlier submission of that student had scores, they are not kept against the new submission's timestamp: its
automatic scores become zero, marked needs-manual-grade and flagged, with the reason in the export.
"""

from __future__ import annotations

import copy
import multiprocessing
import shutil
import tempfile
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from course.classroom.core import Classroom, ClassroomError, submitted_students
from course.grading import sandbox as sandboxing
from course.grading.grader import GradingError, PartResult, _parts, _tampered, check_json, read_notebook
from course.grading.nbconfig import GAVE_UP, prestart_kernel, quiet, stop_kernel
from course.grading.sandbox import Sandbox
from course.grading.tamper import review_notes
from course.platform import paths

__all__ = ["autograde", "AutogradeReport", "StudentReport"]

NOTEBOOK_FIELDS = ("flagged", "late_submission_penalty")
GRADE_FIELDS = ("auto_score", "manual_score", "extra_credit", "needs_manual_grade")
COMMENT_FIELDS = ("auto_comment", "manual_comment")
# What nbgrader's autograde writes; the merge copies only these (manual grades stay the graders').
AUTOGRADER_FIELDS = {"notebook": ("late_submission_penalty",), "grade": ("auto_score", "needs_manual_grade"),
                     "comment": ("auto_comment",)}
ALL_FIELDS = {"notebook": NOTEBOOK_FIELDS, "grade": GRADE_FIELDS, "comment": COMMENT_FIELDS, "extension": True}
DEFINITION_TABLES = ("course", "assignment", "notebook", "base_cell", "source_cell", "grade_cells",
                     "solution_cells", "task_cells")

_JOB: dict = {}  # set by the parent before it forks: the workers inherit it instead of unpickling it


@dataclass
class StudentReport:
    student: str
    status: str  # "graded", "not graded" or "skipped" (already autograded, nothing newer)
    score: float | None = None
    max_score: float | None = None
    notes: list[str] = field(default_factory=list)
    parts: list[PartResult] = field(default_factory=list)
    late_penalty: float = 0.0  # points taken off ``score`` (the raw score) for a late submission

    @property
    def final_score(self) -> float | None:
        return None if self.score is None else max(0.0, self.score - self.late_penalty)
    review: list[str] = field(default_factory=list)  # why it needs review (the tamper check), if it does


@dataclass
class AutogradeReport:
    stem: str
    jobs: int
    students: list[StudentReport]
    sandbox: str = ""  # how the students' code was isolated, in a few words ("off: ..." when it was not)

    @property
    def not_graded(self) -> list[StudentReport]:
        return [s for s in self.students if s.status == "not graded"]


@dataclass
class _Outcome:
    student: str
    success: bool
    state: dict | None
    parts: list[PartResult]
    notes: list[str]
    review: list[str] = field(default_factory=list)
    newer: bool = False  # the gradebook's timestamp moved on: the scores in ``state`` belong to this submission


# -- the gradebook state of one student's submission, read and written through nbgrader's API --------------

def _read_state(gradebook, stem: str, student: str) -> dict | None:
    from nbgrader.api import MissingEntry

    try:
        submission = gradebook.find_submission(stem, student)
    except MissingEntry:
        return None
    return {"timestamp": submission.timestamp, "extension": submission.extension, "notebooks": {
        notebook.name: {
            "fields": {name: getattr(notebook, name) for name in NOTEBOOK_FIELDS},
            "grades": {g.name: {name: getattr(g, name) for name in GRADE_FIELDS} for g in notebook.grades},
            "comments": {c.name: {name: getattr(c, name) for name in COMMENT_FIELDS} for c in notebook.comments},
        } for notebook in submission.notebooks}}


def _write_state(gradebook, stem: str, student: str, state: dict, fields: dict) -> None:
    """Create the student and submission if needed (as nbgrader does), then set ``fields``; one commit."""
    gradebook.update_or_create_student(student)
    values = {"timestamp": state["timestamp"]} if state["timestamp"] is not None else {}
    if fields.get("extension") and state["extension"] is not None:
        values["extension"] = state["extension"]
    gradebook.update_or_create_submission(stem, student, **values)
    for name, saved in state["notebooks"].items():
        notebook = gradebook.find_submission_notebook(name, stem, student)
        for key in fields["notebook"]:
            setattr(notebook, key, saved["fields"][key])
        for kind, rows in (("grade", notebook.grades), ("comment", notebook.comments)):
            for row in rows:
                for key in fields[kind]:
                    setattr(row, key, saved[f"{kind}s"][row.name][key])
    gradebook.db.commit()


def _make_template(room: Classroom, target: Path) -> Path:
    """A scratch SQLite gradebook holding the class's assignment definitions (no students).

    nbgrader's schema comes from its own models, and the migration stamp from the class's gradebook, so
    nbgrader never has to ask alembic for it (a subprocess each time a gradebook is created)."""
    from nbgrader.api import Base
    from sqlalchemy import MetaData, create_engine

    source, dest = create_engine(room.db_url), create_engine(f"sqlite:///{target}")
    try:
        Base.metadata.create_all(bind=dest)
        stamp = MetaData()
        stamp.reflect(bind=source, only=["alembic_version"])
        stamp.create_all(bind=dest)
        tables = [stamp.tables["alembic_version"], *(Base.metadata.tables[name] for name in DEFINITION_TABLES)]
        with source.connect() as read, dest.begin() as write:
            for table in tables:  # parents before children: foreign keys
                rows = [dict(row._mapping) for row in read.execute(table.select())]
                if rows:
                    write.execute(table.insert(), rows)
    finally:
        source.dispose()
        dest.dispose()
    return target


def _needs_grading(room: Classroom, stem: str, student: str, force: bool) -> bool:
    """nbgrader's rule: grade when never autograded, when forced, or when the submission is newer."""
    dest = room.root / "autograded" / student / stem
    if force or not dest.exists():
        return True
    coursedir = room.coursedir()
    new = coursedir.get_existing_timestamp(str(room.root / "submitted" / student / stem))
    old = coursedir.get_existing_timestamp(str(dest))
    return new is not None and old is not None and new > old


# -- one student, in a worker ------------------------------------------------------------------------------

def _precheck(room_root: Path, stem: str, student: str, release: Path) -> list[str]:
    """Notes on the submitted notebook before nbgrader sees it: invalid JSON, edited or deleted test cells."""
    notebook = room_root / "submitted" / student / stem / f"{stem}.ipynb"
    if not notebook.exists():
        return [f"no {stem}.ipynb in the submission: nothing to grade"]
    try:
        text = check_json(notebook)
        read_notebook(notebook, text)
    except GradingError as error:
        reason = str(error).split(";")[0].replace(str(notebook), f"{stem}.ipynb")
        return [f"not graded: {reason}; ask for a fresh submission"]
    return _tampered(text, release.read_text(encoding="utf-8"))


def _grade_student(student: str, prior: dict | None) -> _Outcome:
    from nbgrader.api import Gradebook
    from nbgrader.converters import Autograde
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import capture_log

    job = _JOB
    stem, root = job["stem"], Path(job["root"])
    notes: list[str] = []
    scratch = Path(tempfile.mkdtemp(prefix=f"{student}-", dir=job["scratch"]))
    kernel = None
    try:
        submitted = root / "submitted" / student / stem
        if submitted.is_dir():
            # The kernel boots while this worker checks the notebook and prepares the gradebook (nbgrader
            # moves it into the autograded folder before the first cell runs). In the sandbox it sees a private
            # copy of the submission, with the source's data files as nbgrader adds them, at that folder's path.
            box = None if job["limits"] is None else Sandbox(
                [submitted, Path(job["source"])], root / "autograded" / student / stem, job["limits"])
            kernel = prestart_kernel(job["config"], scratch, sandbox=box)
        notes = _precheck(root, stem, student, job["release"])
        url = f"sqlite:///{scratch / 'gradebook.db'}"
        shutil.copyfile(job["template"], scratch / "gradebook.db")
        with quiet(), Gradebook(url, job["course_id"]) as gradebook:
            if prior is not None:
                _write_state(gradebook, stem, student, prior, ALL_FIELDS)
        config = copy.deepcopy(job["config"])
        config.CourseDirectory.db_url = url
        # The kernel must not open the class folder (gradebook, other submissions), the scratch gradebooks,
        # the solutions or the exchange; only its own autograded folder and the temporary folder.
        config.SafeExecute.guard_forbidden = job["forbidden"]
        # Checked unchanged after the run (without the sandbox: with it, the folder it shares is checked): the
        # class folder and the solutions; not the scratch gradebooks or the exchange, which change meanwhile.
        config.SafeExecute.watch_unchanged = job["forbidden"][:1] + job["forbidden"][2:3]
        coursedir = CourseDirectory(config=config)
        coursedir.assignment_id, coursedir.student_id = stem, student
        app = Autograde(coursedir=coursedir, config=config)
        app.force, app.create_student = True, True  # the parent applied nbgrader's rule for skipping
        with quiet():
            outcome = capture_log(app)
            with Gradebook(url, job["course_id"]) as gradebook:
                state = _read_state(gradebook, stem, student)
                grades = {} if state is None else {
                    g.name: (g.score, g.max_score)
                    for g in gradebook.find_submission_notebook(stem, stem, student).grades if g.cell_type == "code"}
        parts, review = [], []
        autograded = root / "autograded" / student / stem / f"{stem}.ipynb"
        if outcome["success"] and autograded.exists() and grades:
            parts = _parts(autograded, grades, job["timeout"])
            review = review_notes(autograded)
        elif not any(note.startswith("not graded") for note in notes):
            notes.append(f"not graded: nbgrader failed ({_last_line(outcome)})")
        notes.extend(f"needs review: {finding}" for finding in review)
        success = bool(outcome["success"])
        if any(part.message == GAVE_UP for part in parts):
            # A part hung or died and the kernel could not be brought back: the rest was never run.
            notes.append("not graded: a part hung or killed the kernel, and it could not be restarted "
                         "to grade the others")
            success = False
        newer = state is not None and (prior is None or state["timestamp"] != prior["timestamp"])
        return _Outcome(student, success, state, parts, notes, review, newer)
    except Exception:  # noqa: BLE001 - one student's failure must not stop the class
        return _Outcome(student, False, None, [], [*notes, f"not graded: {traceback.format_exc().splitlines()[-1]}"])
    finally:
        if kernel is not None:
            stop_kernel(kernel)
        shutil.rmtree(scratch, ignore_errors=True)


def _last_line(outcome: dict) -> str:
    text = (outcome.get("error") or outcome.get("log") or "no details").strip().splitlines()
    errors = [line for line in text if "Error" in line or "error" in line]
    return (errors or text or ["no details"])[-1].strip()


def _preload() -> None:
    """Import what grading needs in the parent, so forked workers start with it loaded."""
    import jupyter_client.manager  # noqa: F401
    import nbclient  # noqa: F401
    import nbgrader.converters  # noqa: F401
    import nbgrader.preprocessors  # noqa: F401

    import course.grading.preprocessors  # noqa: F401


# -- the class -----------------------------------------------------------------------------------------------

def _notes_from_parts(parts: list[PartResult]) -> list[str]:
    notes = []
    for part in parts:
        if part.message.startswith("timed out"):
            notes.append(f"part {part.grade_id} {part.message.split(' (')[0]}: scored zero")
        elif part.message.startswith("the kernel died"):
            notes.append(f"part {part.grade_id}: the kernel died (a crash, or memory exhausted): scored zero")
    return notes


def autograde(room: Classroom, stem: str, *, jobs: int = 1, force: bool = False, timeout: int | None = None,
              students: list[str] | None = None, progress=None, sandbox: bool | None = None) -> AutogradeReport:
    """Autograde every submission of ``stem`` in ``room`` (see the module docstring); ``progress(done, total,
    student)`` is called after each student is merged. ``sandbox=False`` (or ``COURSE_SANDBOX=off``) runs
    the students' code with the caller's rights; otherwise a machine that cannot run the sandbox is an error."""
    _preload()
    from nbgrader.api import MissingEntry

    limits, isolation = _sandbox_for(room, sandbox)
    everyone = students or submitted_students(room, stem)
    with room.gradebook() as gradebook:                                             # 1
        try:
            gradebook.find_assignment(stem)
        except MissingEntry:
            raise ClassroomError(f"{stem} is not in the gradebook yet: run 'course classroom release "
                                 f"{stem}' first") from None
        prior = {s: _read_state(gradebook, stem, s) for s in everyone}
    todo = [s for s in everyone if _needs_grading(room, stem, s, force)]
    reports = {s: StudentReport(s, "skipped", notes=["already autograded; nothing newer (use --force)"])
               for s in everyone if s not in todo}
    config = copy.deepcopy(room.config)
    if timeout is not None:
        config.Execute.timeout = timeout
    with tempfile.TemporaryDirectory(prefix="course-autograde-") as scratch:
        template = _make_template(room, Path(scratch) / "template.db")                # 2
        _JOB.clear()
        _JOB.update(stem=stem, root=str(room.root), course_id=room.course_id, config=config, scratch=scratch,
                    template=str(template), release=room.release_notebook(stem),
                    timeout=int(config.Execute.timeout), limits=limits,
                    forbidden=[str(room.root), scratch, str(paths.solutions_dir()), str(room.exchange)],
                    source=room.coursedir().format_path(room.config.CourseDirectory.source_directory, ".", stem))
        try:
            with ExitStack() as stack:
                gradebook = None
                for outcome in _outcomes(todo, prior, jobs):                          # 3
                    if gradebook is None:  # opened after the workers are forked: they inherit no connection
                        gradebook = stack.enter_context(room.gradebook())
                    reports[outcome.student] = _merge(gradebook, stem, outcome)       # 4
                    if progress:
                        progress(len(reports) - (len(everyone) - len(todo)), len(todo), outcome.student)
        finally:
            _JOB.clear()
    return AutogradeReport(stem, jobs, [reports[s] for s in everyone], isolation)   # 5


def _sandbox_for(room: Classroom, requested: bool | None):
    """(limits, description) of the sandbox to grade in, or (None, "off: ...") when it is turned off."""
    if not sandboxing.wanted(room.config, requested):
        return None, "sandbox: off (turned off): the students' code ran with your rights"
    ok, how = sandboxing.available()
    if not ok:
        raise ClassroomError(f"{how}. Without it each student's code would run with your rights (your files, "
                             "the gradebook, every submission): run as root, or where unprivileged user "
                             "namespaces are allowed; or pass --no-sandbox (COURSE_SANDBOX=off) to grade anyway")
    try:
        limits = sandboxing.limits_from(room.config)
    except ValueError as error:
        raise ClassroomError(f"sandbox settings: {error}") from None
    return limits, f"{how}: {limits.describe()}"


def _outcomes(todo: list[str], prior: dict, jobs: int):
    if jobs <= 1 or len(todo) <= 1:
        for student in todo:
            yield _grade_student(student, prior[student])
        return
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=min(jobs, len(todo)), mp_context=context) as pool:
        futures = {pool.submit(_grade_student, s, prior[s]): s for s in todo}
        for future in as_completed(futures):
            try:
                yield future.result()
            except BrokenProcessPool:
                yield _Outcome(futures[future], False, None, [], ["not graded: the grading process died"])
            except Exception as error:  # noqa: BLE001 - reported for that student; the class goes on
                yield _Outcome(futures[future], False, None, [], [f"not graded: {type(error).__name__}: {error}"])


def _merge(gradebook, stem: str, outcome: _Outcome) -> StudentReport:
    notes = [*outcome.notes, *_notes_from_parts(outcome.parts)]
    status = "graded" if outcome.success and outcome.parts else "not graded"
    if outcome.state is None:
        return StudentReport(outcome.student, status, notes=notes)
    with quiet():
        _write_state(gradebook, stem, outcome.student, outcome.state, AUTOGRADER_FIELDS)
        submission = gradebook.find_submission(stem, outcome.student)
        if status != "graded" or outcome.review:
            _flag(gradebook, submission, zero=status != "graded" and outcome.newer)
        score, max_score = submission.score, submission.max_score
        penalty = sum(notebook.late_submission_penalty or 0.0 for notebook in submission.notebooks)
    if status != "graded":
        score = None
    return StudentReport(outcome.student, status, score, max_score, notes, outcome.parts, penalty, outcome.review)


def _flag(gradebook, submission, *, zero: bool) -> None:
    """Mark a submission for the instructor: flagged, every grade needs-manual-grade; ``zero`` also sets
    its automatic scores to zero (a submission that was not graded keeps no earlier submission's score)."""
    for notebook in submission.notebooks:
        notebook.flagged = True
        for grade in notebook.grades:
            grade.needs_manual_grade = True
            if zero and grade.auto_score:
                grade.auto_score = 0.0
    gradebook.db.commit()
