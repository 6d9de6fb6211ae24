"""An instructor's class on this course, run through nbgrader: set-up, roster, release, collect, feedback, export.

``course classroom init DIR`` makes DIR an nbgrader course directory wired to the course's ``solutions/``;
every other command opens it with :meth:`Classroom.open` and drives nbgrader's own API on it. Autograding
(sequential or parallel) lives in :mod:`course.classroom.autograde`, the JupyterHub set-up in
:mod:`course.classroom.hub`.

The course directory and who may read what:

- ``DIR/`` — private to the instructor (0700), or 0711 when the exchange sits inside it (students must be
  able to pass through to reach it, but not list it);
- ``DIR/nbgrader_config.py`` (0600: a database URL may hold a password) loads the course-wide settings
  (per-cell timeout, the course's safe executor and feedback filters) and points nbgrader at DIR;
- ``gradebook.db`` (0600), ``release/ submitted/ autograded/ feedback/ exports/`` (0700): the gradebook and
  the students' work, for the instructor only;
- the exchange (``DIR/exchange`` or ``--exchange``) is 1777, world-writable with the sticky bit, as nbgrader
  asks: everyone may create files, nobody may delete or rename another's. nbgrader then makes the class's
  ``inbound`` 2733 (students drop submissions they cannot list) and ``feedback`` 0711;
- ``jupyterhub_config.py`` is for the machine's administrator (see :mod:`course.classroom.hub`);
- ``.classroom.json`` (0600) keeps what ``init`` was given, so running it again refreshes the folder.

Late penalties (``init --late-penalty``): ``none`` (nbgrader's default), ``zero`` (a late submission scores
0), or ``P%/day`` / ``P%/hour``: P per cent of the score earned, for every day (hour) or part of one past
the due date (with the student's extension), at most the whole score. nbgrader's AssignLatePenalties step
asks :class:`LatePenalty` for the penalty and records it in the gradebook beside the raw score; the export's
``score`` is the raw score minus the penalty.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import stat
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from course.grading.nbconfig import quiet
from course.platform import manifest, paths

__all__ = ["Classroom", "ClassroomError", "late_penalty_rule", "penalty_for", "init", "add_roster", "roster",
           "release", "collect", "feedback", "export", "submitted_students", "CONFIG_NAME", "DEFAULT_COURSE_ID"]

CONFIG_NAME = "nbgrader_config.py"
SETTINGS_NAME = ".classroom.json"  # what init was given, for a later refresh
DEFAULT_COURSE_ID = "backend-course"
PRIVATE_FOLDERS = ("release", "submitted", "autograded", "feedback", "exports")
STUDENT_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}$")
ROSTER_COLUMNS = {"id": ("id", "student_id", "username", "user"), "first_name": ("first_name", "first"),
                  "last_name": ("last_name", "last"), "email": ("email", "e-mail"),
                  "lms_user_id": ("lms_user_id", "lms_id", "sis_id")}


class ClassroomError(Exception):
    """A classroom command cannot go on; the message says why and what to do."""


LATE_RULE = re.compile(r"^(?P<percent>\d+(\.\d+)?)\s*%\s*(/|per)\s*(?P<period>day|hour)$")
PERIODS = {"day": 86400, "hour": 3600}


def late_penalty_rule(text: str) -> str:
    """The late-penalty rule ``text`` in its one spelling (``none``, ``zero``, ``10%/day``, ``5%/hour``)."""
    rule = " ".join(str(text).split()).lower()
    if rule in ("none", "zero"):
        return rule
    found = LATE_RULE.match(rule)
    if not found or not 0 < float(found["percent"]) <= 100:
        raise ClassroomError(f"late penalty {text!r}: expected none, zero, or a percentage of the score per "
                             "day or hour late, e.g. 10%/day or 2.5%/hour (0 < percentage <= 100)")
    return f"{float(found['percent']):g}%/{found['period']}"


def penalty_for(rule: str, score: float, seconds_late: float) -> float | None:
    """The penalty ``rule`` gives a notebook that scored ``score``, ``seconds_late`` past its due date."""
    if rule == "none" or seconds_late <= 0:
        return None
    if rule == "zero":
        return score
    found = LATE_RULE.match(rule)
    periods = math.ceil(seconds_late / PERIODS[found["period"]])  # every day (hour) or part of one
    return min(score, score * float(found["percent"]) / 100 * periods)


def __getattr__(name: str):
    # The nbgrader plugin class is made on first use, so importing this module does not import nbgrader
    # (``course classroom`` loads it for every command); nbgrader finds it by its dotted name.
    if name == "LatePenalty":
        globals()["LatePenalty"] = _late_penalty_plugin()
        return globals()["LatePenalty"]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _late_penalty_plugin():
    from nbgrader.plugins import LateSubmissionPlugin
    from traitlets import Unicode

    class LatePenalty(LateSubmissionPlugin):
        """nbgrader's late-submission plugin with the class's rule (see the module docstring)."""

        rule = Unicode("none", help="none, zero, or P%/day or P%/hour of the score earned.").tag(config=True)

        def late_submission_penalty(self, student_id: str, score: float, total_seconds_late: float):
            penalty = penalty_for(late_penalty_rule(self.rule), score, total_seconds_late)
            self.log.info("late penalty for %s (%s, %.0f s late): %s", student_id, self.rule, total_seconds_late,
                          penalty)
            return penalty

    LatePenalty.__module__ = __name__
    return LatePenalty


CONFIG_TEMPLATE = '''"""nbgrader configuration of the class {course_id!r}, written by `course classroom init`.

First the course-wide settings (per-cell timeout, the course's safe executor, feedback without hidden tests),
then this class: its folder, the course's solutions as the assignments' source, the gradebook, the exchange.
"""

c = get_config()  # noqa: F821 - injected by traitlets
load_subconfig("nbgrader_config.py", path={course_root!r})  # noqa: F821

c.CourseDirectory.root = {root!r}
c.CourseDirectory.course_id = {course_id!r}
# nbgrader joins root with the source folder; an absolute path keeps the course's solutions the one source.
c.CourseDirectory.source_directory = {source!r}
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.db_url = {db_url!r}
c.Exchange.root = {exchange!r}
# Late submissions (course classroom init --late-penalty): none, zero, P%/day or P%/hour of the score earned.
c.AssignLatePenalties.plugin_class = "course.classroom.core.LatePenalty"
c.LatePenalty.rule = {late_penalty!r}
'''


@dataclass
class Classroom:
    """An instructor course directory made by :func:`init`, with its loaded nbgrader configuration."""

    root: Path
    config: object  # traitlets.config.Config

    @classmethod
    def open(cls, directory: Path | str) -> Classroom:
        from traitlets.config import PyFileConfigLoader

        root = Path(directory).expanduser().resolve()
        if not (root / CONFIG_NAME).is_file():
            raise ClassroomError(f"{root} is not a classroom folder (no {CONFIG_NAME}); "
                                 "create one with 'course classroom init DIR', or pass --course-dir")
        config = PyFileConfigLoader(CONFIG_NAME, path=str(root)).load_config()
        return cls(root, config)

    @property
    def course_id(self) -> str:
        return self.config.CourseDirectory.course_id

    @property
    def db_url(self) -> str:
        return self.config.CourseDirectory.db_url

    @property
    def exchange(self) -> Path:
        return Path(self.config.Exchange.root)

    def coursedir(self, **attributes):
        from nbgrader.coursedir import CourseDirectory

        coursedir = CourseDirectory(config=self.config)
        for name, value in attributes.items():
            setattr(coursedir, name, value)
        return coursedir

    def api(self):
        from nbgrader.apps import NbGraderAPI

        with quiet():
            return NbGraderAPI(coursedir=self.coursedir(), config=self.config)

    @contextmanager
    def gradebook(self):
        from nbgrader.api import Gradebook

        with quiet(), Gradebook(self.db_url, self.course_id) as gradebook:
            yield gradebook

    def release_notebook(self, stem: str) -> Path:
        """The student version of a step's notebook: this class's release, else the course's exercises/."""
        mine = self.root / "release" / stem / f"{stem}.ipynb"
        return mine if mine.exists() else paths.release_path(stem)


def _check(outcome: dict, what: str) -> str:
    """nbgrader's API returns {'success', 'log', 'error'}; turn a failure into one ClassroomError."""
    if outcome and outcome.get("success"):
        return outcome.get("log", "")
    outcome = outcome or {}
    lines = f"{outcome.get('log') or ''}\n{outcome.get('error') or ''}".strip().splitlines() or ["no details"]
    # nbgrader logs the cause (an exception's last line) before its summary: keep those lines, then the tail.
    causes = [line for line in lines if re.match(r"^\w+(\.\w+)*(Error|Exception): ", line.strip())]
    shown = list(dict.fromkeys([*causes[-4:], *lines[-3:]]))
    raise ClassroomError(f"{what} failed:\n" + "\n".join(shown))


def resolve_stem(name: str) -> str:
    try:
        step = manifest.resolve(name, need_exercise=True)
    except manifest.UnknownStep as error:
        raise ClassroomError(str(error)) from None
    if not step.ready:
        raise ClassroomError(f"step {step.stem} is planned but not in the course yet")
    return step.stem


def _make_exchange(exchange: Path) -> None:
    if not exchange.exists():
        try:
            exchange.mkdir(parents=True)
        except PermissionError:
            raise ClassroomError(f"cannot create the exchange {exchange}; as root: "
                                 f"install -d -m 1777 {exchange}") from None
    mode = stat.S_IMODE(exchange.stat().st_mode)
    if mode != 0o1777:
        try:
            exchange.chmod(0o1777)
        except PermissionError:
            raise ClassroomError(f"the exchange {exchange} has mode {mode:o}, it needs 1777 (everyone may drop "
                                 f"files, nobody may delete another's); as root: chmod 1777 {exchange}") from None


def _earlier_choices(root: Path) -> dict:
    """What an earlier ``init`` of this folder chose; paths inside the folder are kept relative, so a copied
    class folder re-initialised in its new place points at its own gradebook and exchange."""
    saved = root / SETTINGS_NAME
    return json.loads(saved.read_text(encoding="utf-8")) if saved.exists() else {}


def init(directory: Path | str, *, course_id: str | None = None, db_url: str | None = None,
         exchange: Path | str | None = None, instructors: tuple[str, ...] | None = None,
         hub_url: str | None = None, user_python: str | None = None, late_penalty: str | None = None) -> Classroom:
    """Create (or refresh) an instructor course directory; see the module docstring for its layout.

    Refreshing keeps what an earlier ``init`` chose for every option not given again."""
    from course.classroom.hub import write_hub_config

    root = Path(directory).expanduser().resolve()
    earlier = _earlier_choices(root)
    course_id = course_id or earlier.get("course_id") or DEFAULT_COURSE_ID
    exchange = Path(exchange or earlier.get("exchange") or "exchange").expanduser()
    exchange = (exchange if exchange.is_absolute() else root / exchange).resolve()
    inside = exchange.is_relative_to(root)
    db_url = db_url or earlier.get("db_url")
    late = late_penalty_rule(late_penalty or earlier.get("late_penalty") or "none")
    hub = {"instructors": list(instructors if instructors is not None else earlier.get("instructors", [])),
           "hub_url": hub_url or earlier.get("hub_url"), "user_python": user_python or earlier.get("user_python")}
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o711 if inside else 0o700)
    for name in PRIVATE_FOLDERS:
        (root / name).mkdir(exist_ok=True)
        (root / name).chmod(0o700)
    _make_exchange(exchange)
    for private in (CONFIG_NAME, SETTINGS_NAME, ".nbgrader.log", *([] if db_url else ["gradebook.db"])):
        (root / private).touch(mode=0o600)
        (root / private).chmod(0o600)
    (root / SETTINGS_NAME).write_text(json.dumps({
        "course_id": course_id, "db_url": db_url, "late_penalty": late, **hub,
        "exchange": str(exchange.relative_to(root)) if inside else str(exchange)}, indent=2), encoding="utf-8")
    (root / CONFIG_NAME).write_text(CONFIG_TEMPLATE.format(
        course_id=course_id, course_root=str(paths.course_root()), root=str(root),
        source=str(paths.solutions_dir()), db_url=db_url or f"sqlite:///{root / 'gradebook.db'}",
        exchange=str(exchange), late_penalty=late), encoding="utf-8")
    room = Classroom.open(root)
    with room.gradebook():
        pass  # creates the tables (SQLite or PostgreSQL) now, so a wrong URL fails here and not mid-class
    write_hub_config(room, instructors=hub["instructors"], hub_url=hub["hub_url"],
                     user_python=hub["user_python"] or os.environ.get("COURSE_CLASS_PYTHON") or sys.executable,
                     instructor_course=str(paths.course_root()) if paths.solutions_dir().is_dir() else None)
    return room


def _column(header: list[str], names: tuple[str, ...]) -> str | None:
    lowered = {h.strip().lower(): h for h in header}
    return next((lowered[n] for n in names if n in lowered), None)


def add_roster(room: Classroom, csv_path: Path | str) -> tuple[int, int]:
    """Import students from a CSV file (id, first_name, last_name, email, lms_user_id); returns (added, updated).

    The id is the student's login name on the class's machine: nbgrader checks that a submission's owner
    matches it when collecting.
    """
    from nbgrader.api import MissingEntry

    with open(csv_path, newline="", encoding="utf-8-sig") as file:
        reader = csv.DictReader(file)
        header = reader.fieldnames or []
        columns = {key: _column(header, names) for key, names in ROSTER_COLUMNS.items()}
        if columns["id"] is None:
            raise ClassroomError(f"{csv_path}: no id column (expected one of {', '.join(ROSTER_COLUMNS['id'])})")
        rows = []
        for number, row in enumerate(reader, start=2):
            student = (row.get(columns["id"]) or "").strip()
            if not STUDENT_ID.match(student):
                raise ClassroomError(f"{csv_path}, line {number}: {student!r} is not a usable login name "
                                     "(letters, digits, _ . @ -; nothing imported)")
            fields = {key: (row.get(col) or "").strip() or None
                      for key, col in columns.items() if key != "id" and col}
            rows.append((student, fields))
    duplicates = sorted({s for s, _ in rows if [r[0] for r in rows].count(s) > 1})
    if duplicates:
        raise ClassroomError(f"{csv_path}: the same id on several lines: {', '.join(duplicates)}")
    added = updated = 0
    with room.gradebook() as gradebook:
        for student, fields in rows:
            try:
                gradebook.find_student(student)
                updated += 1
            except MissingEntry:
                added += 1
            gradebook.update_or_create_student(student, **fields)
    return added, updated


def roster(room: Classroom) -> list[dict]:
    with room.gradebook() as gradebook:
        return [student.to_dict() for student in gradebook.students]


def release(room: Classroom, stem: str, *, due: str | None = None, force: bool = False) -> Path:
    """Generate the student version of a step from the course's solutions, and release it to the exchange."""
    api = room.api()
    with quiet():
        _check(api.generate_assignment(stem, force=True, create=True), f"generating {stem}")
        if due:
            with room.gradebook() as gradebook:
                gradebook.update_or_create_assignment(stem, duedate=due)
        app = api.exchange.ReleaseAssignment(coursedir=room.coursedir(assignment_id=stem),
                                             authenticator=api.authenticator, parent=api)
        app.force = force
        from nbgrader.utils import capture_log

        _check(capture_log(app), f"releasing {stem} to the exchange {room.exchange}")
    return room.exchange / room.course_id / "outbound" / stem


def submitted_students(room: Classroom, stem: str) -> list[str]:
    """Students with a submission of ``stem`` in submitted/ (collected, or placed there by hand)."""
    folder = room.root / "submitted"
    return sorted(p.parent.name for p in folder.glob(f"*/{stem}") if p.is_dir())


def collect(room: Classroom, stem: str) -> tuple[list[str], list[str]]:
    """Collect the latest submission of every student from the exchange into submitted/.

    Returns (students with a submission in submitted/, refusals). nbgrader names a submission after the
    student it claims to be (``nbgrader submit --student ann`` works for anyone) and only logs a warning when
    the file's owner in the inbound is someone else. Here such a submission is refused, named with both
    students, and never collected: it cannot replace the real student's work, and their own latest genuine
    submission is the one collected. It stays in the inbound for the instructor to look at.
    """
    from nbgrader.utils import capture_log

    api = room.api()
    app = _owner_checked_collect()(coursedir=room.coursedir(assignment_id=stem), authenticator=api.authenticator,
                                   parent=api)
    app.update = True
    with quiet():
        _check(capture_log(app), f"collecting {stem}")
    refused = [f"refused {filename}: it claims to be {claimed}'s submission but was made by {owner}; "
               f"{claimed}'s own latest submission (if any) was collected instead"
               for claimed, owner, filename in app.refused]
    return submitted_students(room, stem), refused


FORGED = "\0forged:"  # a refused record's user name: no student has it, so it never replaces anyone's work


def _owner_checked_collect():
    """nbgrader's collect, refusing every submission whose owner in the inbound is not the student it names."""
    import pwd

    from nbgrader.exchange.default.collect import ExchangeCollect

    class OwnerCheckedCollect(ExchangeCollect):
        refused = ()  # (claimed student, owner, file name) for each refusal; a list once collecting starts

        def _path_to_record(self, path):
            record = super()._path_to_record(path)
            if not self.check_owner:
                return record
            try:
                owner = pwd.getpwuid(Path(path).lstat().st_uid).pw_name
            except KeyError:
                owner = f"an unknown user (uid {Path(path).lstat().st_uid})"
            if owner != record["username"]:
                self.refused.append((record["username"], owner, record["filename"]))
                record["username"] = FORGED + record["filename"]  # grouped alone, dropped before copying
            return record

        def init_src(self):
            self.refused = []
            super().init_src()
            self.src_records = [r for r in self.src_records if not r["username"].startswith(FORGED)]

    return OwnerCheckedCollect


def _cause(outcome: dict) -> str:
    """The cause of a failed nbgrader call in one line (the exception's message, else the last log line)."""
    try:
        _check(outcome, "")
    except ClassroomError as error:
        lines = str(error).splitlines()[1:] or ["no details"]
        causes = [line.strip() for line in lines if re.match(r"^\w+(\.\w+)*(Error|Exception): ", line.strip())]
        cause = re.sub(r"^\w+(\.\w+)*(Error|Exception): ", "", (causes or lines)[0].strip())
        if "hidden tests" in cause.lower():
            cause += " (an answer contains the text '### BEGIN HIDDEN TESTS' or '### END HIDDEN TESTS')"
        return cause
    return ""


def feedback(room: Classroom, stem: str) -> tuple[list[str], list[str], dict[str, str]]:
    """Write feedback HTML (hidden tests removed) for every autograded student and release it to them.

    Returns (released, kept, failed). Submissions placed by hand never went through the exchange, so nbgrader
    has no secret to file their feedback under; it stays in ``feedback/<student>/`` for the instructor to
    send. Each student's feedback is made on its own: one that cannot be made (an answer holding the text
    ``### BEGIN HIDDEN TESTS``, say) is in ``failed`` with the reason, and the rest of the class gets theirs.
    """
    api = room.api()
    students = sorted(p.parent.name for p in (room.root / "autograded").glob(f"*/{stem}") if p.is_dir())
    released, kept, failed = [], [], {}
    with quiet():
        for student in students:
            outcome = api.generate_feedback(stem, student)
            if not (outcome and outcome.get("success")):
                failed[student] = f"feedback not made: {_cause(outcome)}"
                continue
            if not (room.root / "feedback" / student / stem / "submission_secret.txt").exists():
                kept.append(student)
                continue
            outcome = api.release_feedback(stem, student)
            if not (outcome and outcome.get("success")):
                failed[student] = f"feedback not released: {_cause(outcome)}"
                continue
            released.append(student)
    return released, kept, failed


def export(room: Classroom, output: Path | str | None = None) -> tuple[Path, Path, dict[str, str]]:
    """Write the grades: ``grades.csv`` (nbgrader's columns, one row per student and assignment, and
    ``needs_review``: why a submission was flagged, empty when it was not) and
    ``grades-lms.csv`` (one row per student, one points column per assignment: what an LMS imports).

    Returns the two paths and ``failed``: a student whose grades cannot be read is left out of both files
    and named there with the reason; everyone else is exported."""
    folder = Path(output) if output else room.root / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    long_rows, wide, failed = [], {}, {}
    with room.gradebook() as gradebook:
        assignments = sorted(gradebook.assignments, key=lambda a: a.name)
        students = sorted(gradebook.students, key=lambda s: s.id)
        for student in students:
            try:
                rows, row = _student_rows(room, gradebook, student, assignments)
            except Exception as error:  # noqa: BLE001 - one student's record must not stop the class's export
                failed[student.id] = f"not exported: {type(error).__name__}: {error}"
                gradebook.db.rollback()
                continue
            long_rows += rows
            wide[student.id] = row
        totals = {a.name: a.max_score for a in assignments}
    long_path, wide_path = folder / "grades.csv", folder / "grades-lms.csv"
    keys = ["assignment", "duedate", "timestamp", "student_id", "last_name", "first_name", "email",
            "raw_score", "late_submission_penalty", "score", "max_score", "needs_review"]
    _write_csv(long_path, keys, long_rows)
    columns = ["student_id", "lms_user_id", "email", "last_name", "first_name",
               *[f"{name} ({points:g})" for name, points in totals.items()]]
    _write_csv(wide_path, columns, list(wide.values()))
    return long_path, wide_path, failed


def _student_rows(room, gradebook, student, assignments) -> tuple[list[dict], dict]:
    """One student's rows of grades.csv and row of grades-lms.csv."""
    from nbgrader.api import MissingEntry

    person = {"last_name": student.last_name or "", "first_name": student.first_name or "",
              "email": student.email or ""}
    wide = {"student_id": student.id, "lms_user_id": student.lms_user_id or "", "email": person["email"],
            "last_name": person["last_name"], "first_name": person["first_name"]}
    long_rows = []
    for assignment in assignments:
        try:
            sub = gradebook.find_submission(assignment.name, student.id)
            raw, penalty, when = sub.score, sub.late_submission_penalty or 0.0, sub.timestamp
            score = max(0.0, raw - penalty)
            review = _review(room, assignment.name, student.id, sub)
        except MissingEntry:
            raw, penalty, score, when, review = 0.0, 0.0, 0.0, None, ""
        long_rows.append({"assignment": assignment.name, "duedate": assignment.duedate or "",
                          "timestamp": when or "", "student_id": student.id, **person, "raw_score": raw,
                          "late_submission_penalty": penalty, "score": score, "max_score": assignment.max_score,
                          "needs_review": review})
        wide[f"{assignment.name} ({assignment.max_score:g})"] = score
    return long_rows, wide


def _review(room: Classroom, stem: str, student: str, submission) -> str:
    """Why a submission needs review: the tamper check's reasons kept in its autograded notebooks, else
    "flagged" when a notebook is flagged in the gradebook (by autograde, or by a grader in formgrader)."""
    from course.grading.tamper import review_notes

    reasons = []
    for notebook in sorted((room.root / "autograded" / student / stem).glob("*.ipynb")):
        reasons.extend(r for r in review_notes(notebook) if r not in reasons)
    if not reasons and any(nb.flagged for nb in submission.notebooks):
        reasons.append("flagged in the gradebook (by autograde: see its summary; or by a grader)")
    return "; ".join(reasons)


def _write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    path.chmod(0o600)
