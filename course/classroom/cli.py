"""``course classroom``: an instructor's commands, run in the class folder or given ``--course-dir DIR``."""

from __future__ import annotations

import sys
from functools import wraps
from pathlib import Path

import click

from course.classroom.core import ClassroomError

COURSE_DIR_HELP = "The class folder made by 'course classroom init' (default: the current folder)."


def _fail(message: str, code: int = 1):
    click.echo(f"course classroom: {message}", err=True)
    sys.exit(code)


def _errors_reported(func):
    @wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except ClassroomError as error:
            _fail(str(error))
    return wrapper


def course_dir_option(func):
    return click.option("--course-dir", "course_dir", type=click.Path(file_okay=False, path_type=Path),
                        default=Path("."), envvar="COURSE_CLASSROOM_DIR", show_default=True,
                        help=COURSE_DIR_HELP)(func)


def _open(course_dir: Path):
    from course.classroom.core import Classroom

    return Classroom.open(course_dir)


def _stem(name: str) -> str:
    from course.classroom.core import resolve_stem

    return resolve_stem(name)


classroom = click.Group(
    "classroom", help="Teach a class with this course: nbgrader course folder, roster, release, collect, "
                      "autograde (in parallel), feedback and grade export; JupyterHub config.",
)


@classroom.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--course-id", default=None, help="nbgrader's course id (default: backend-course).")
@click.option("--db-url", default=None, help="Gradebook URL (default: SQLite in DIR), e.g. "
              "postgresql+psycopg://user:password@host/db.")
@click.option("--exchange", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="nbgrader's exchange folder, shared by the class (default: DIR/exchange).")
@click.option("--instructor", "instructors", multiple=True, help="Login name of an instructor (repeat).")
@click.option("--hub-url", default=None, help="Where JupyterHub listens (default: http://127.0.0.1:8000).")
@click.option("--user-python", default=None, help="The Python the users' servers run (default: this one).")
@click.option("--late-penalty", default=None, help="For submissions after the due date: none (default), zero, "
              "or a percentage of the score per day or hour late or part of one, e.g. 10%/day, 5%/hour.")
@_errors_reported
def init(directory, course_id, db_url, exchange, instructors, hub_url, user_python, late_penalty):
    """Create the class folder DIR: nbgrader config, gradebook, exchange, JupyterHub config.

    Run again on the same DIR to refresh it: options not given keep their earlier values (change the late
    penalty with 'init DIR --late-penalty ...'; the next autograde applies it)."""
    from course.classroom.core import init as run_init

    room = run_init(directory, course_id=course_id, db_url=db_url, exchange=exchange,
                    instructors=tuple(instructors) or None,
                    hub_url=hub_url, user_python=user_python, late_penalty=late_penalty)
    click.echo(f"class folder: {room.root} (course id {room.course_id})")
    click.echo(f"late penalty: {room.config.LatePenalty.rule} (due dates: 'course classroom release STEP --due')")
    click.echo(f"gradebook:    {room.db_url.split('@')[-1] if '@' in room.db_url else room.db_url}")
    click.echo(f"exchange:     {room.exchange} (mode 1777)")
    click.echo(f"JupyterHub:   {room.root / 'jupyterhub_config.py'} (for the administrator; see docs/instructors.md)")
    click.echo("next: course classroom roster add students.csv; course classroom release 01")


@classroom.group()
def roster():
    """The students of the class (kept in nbgrader's gradebook)."""


@roster.command("add")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@course_dir_option
@_errors_reported
def roster_add(csv_file, course_dir):
    """Add or update students from a CSV file with columns id, first_name, last_name, email, lms_user_id."""
    from course.classroom.core import add_roster

    added, updated = add_roster(_open(course_dir), csv_file)
    click.echo(f"roster: {added} added, {updated} updated")


@roster.command("list")
@course_dir_option
@_errors_reported
def roster_list(course_dir):
    """List the students."""
    from course.classroom.core import roster as read_roster

    for student in read_roster(_open(course_dir)):
        name = " ".join(filter(None, [student["first_name"], student["last_name"]]))
        click.echo(f"{student['id']:24} {name:32} {student['email'] or ''}")


@classroom.command()
@click.argument("step")
@course_dir_option
@click.option("--due", default=None, help="Due date, e.g. '2025-06-01 17:00:00 UTC' (late penalties).")
@click.option("--force", is_flag=True, help="Release again over an earlier release.")
@_errors_reported
def release(step, course_dir, due, force):
    """Generate STEP's student version from the course's solutions and release it to the class."""
    from course.classroom.core import release as run_release

    stem = _stem(step)
    where = run_release(_open(course_dir), stem, due=due, force=force)
    click.echo(f"released {stem}: {where}")


@classroom.command()
@click.argument("step")
@course_dir_option
@_errors_reported
def collect(step, course_dir):
    """Collect the students' latest submissions of STEP into submitted/."""
    from course.classroom.core import collect as run_collect

    stem = _stem(step)
    students, refused = run_collect(_open(course_dir), stem)
    click.echo(f"{stem}: {len(students)} submission(s) in submitted/: {', '.join(students) or 'none'}")
    for refusal in refused:
        click.echo(f"WARNING: {refusal}", err=True)
    if refused:
        _fail(f"{len(refused)} submission(s) refused (made by someone other than the student they name); "
              "the others were collected")


@classroom.command()
@click.argument("step")
@course_dir_option
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=1, show_default=True,
              help="Students graded at once (one process each).")
@click.option("--force", is_flag=True, help="Grade again students already autograded.")
@click.option("--timeout", type=click.IntRange(min=1), default=None,
              help="Seconds each cell may run (default: the course's nbgrader_config).")
@click.option("--student", "students", multiple=True, help="Only this student (repeat).")
@click.option("--sandbox/--no-sandbox", default=None,
              help="Run each submission in the grading sandbox (the default where it can run; an error where "
                   "it cannot) or, with --no-sandbox, with your rights. Also: COURSE_SANDBOX=off.")
@_errors_reported
def autograde(step, course_dir, jobs, force, timeout, students, sandbox):
    """Autograde every submission of STEP in submitted/, JOBS students at a time; print a summary."""
    from course.grading.process import prepare_grading_process

    prepare_grading_process()  # before nbgrader is imported: faster notebook validation in every worker
    from course.classroom.autograde import autograde as run_autograde

    stem = _stem(step)
    room = _open(course_dir)
    report = run_autograde(room, stem, jobs=jobs, force=force, timeout=timeout, students=list(students) or None,
                           progress=_progress_bar(stem), sandbox=sandbox)
    _print_report(report)
    if report.not_graded:
        sys.exit(1)


def _progress_bar(stem: str):
    stream = click.get_text_stream("stderr")
    tty = stream.isatty()

    def show(done: int, total: int, student: str) -> None:
        width = 24
        filled = width * done // max(total, 1)
        line = f"autograde {stem} [{'#' * filled}{'-' * (width - filled)}] {done}/{total} done, " \
               f"{total - done} left ({student})"
        click.echo(("\r" + line.ljust(100)) if tty else line, nl=not tty or done == total, err=True)

    return show


def _print_report(report) -> None:
    width = max([len(s.student) for s in report.students] + [7])
    click.echo(f"{'student':{width}}  {'score':>11}  {'late penalty':18}  status")
    for student in report.students:
        score = f"{student.score:g}/{student.max_score:g}" if student.score is not None else "-"
        late = f"-{student.late_penalty:g} = {student.final_score:g}/{student.max_score:g}" \
            if student.score is not None and student.late_penalty else ""
        click.echo(f"{student.student:{width}}  {score:>11}  {late:18}  {student.status}")
        for note in student.notes:
            click.echo(f"{'':{width}}    note: {note}")
    graded = [s for s in report.students if s.status == "graded"]
    if report.sandbox:
        click.echo(report.sandbox)
    click.echo(f"{report.stem}: {len(graded)} graded, {len(report.not_graded)} not graded, "
               f"{len(report.students) - len(graded) - len(report.not_graded)} skipped (jobs: {report.jobs})")


@classroom.command()
@click.argument("step")
@course_dir_option
@_errors_reported
def feedback(step, course_dir):
    """Generate feedback (no hidden tests) for STEP's autograded submissions and release it to the students."""
    from course.classroom.core import feedback as run_feedback

    stem = _stem(step)
    room = _open(course_dir)
    released, kept, failed = run_feedback(room, stem)
    click.echo(f"{stem}: feedback released to {len(released)} student(s): {', '.join(released) or 'none'}")
    if kept:
        click.echo(f"not through the exchange (placed by hand), in {room.root / 'feedback'}: {', '.join(kept)}")
    _report_failures(failed)


def _report_failures(failed: dict[str, str]) -> None:
    """Name each student a command could not handle, with the reason; exit 1 once the rest is done."""
    for student, reason in failed.items():
        click.echo(f"{student}: {reason}", err=True)
    if failed:
        _fail(f"{len(failed)} student(s) not done: {', '.join(failed)}; the others were")


@classroom.command()
@course_dir_option
@click.option("--output", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for the CSV files (default: DIR/exports).")
@_errors_reported
def export(course_dir, output):
    """Write grades.csv (nbgrader's columns) and grades-lms.csv (a row per student) for an LMS."""
    from course.classroom.core import export as run_export

    long_path, wide_path, failed = run_export(_open(course_dir), output)
    click.echo(f"grades: {long_path}")
    click.echo(f"for an LMS: {wide_path}")
    _report_failures(failed)


@classroom.command("hub-python")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def hub_python(directory):
    """Make the class Python in DIRECTORY (the course package and its release, no solutions) and print it.

    Run it before 'init' (as root when this course's interpreter is out of the instructor's reach), then pass
    the printed path to 'course classroom init --user-python'. DIRECTORY must be world-searchable (/opt/...)."""
    from course.classroom.hub import shared_python, solutions_readable_by_others

    try:
        click.echo(shared_python(directory))
    except RuntimeError as error:
        _fail(str(error))
    solutions = solutions_readable_by_others()
    if solutions is not None:
        click.echo(f"warning: {solutions} (the hidden tests) is readable by every user of this machine; the "
                   f"class Python does not need it: chmod 700 {solutions.parent}", err=True)
