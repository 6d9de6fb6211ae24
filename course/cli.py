"""The ``course`` command: start the course, grade exercises, show progress, build and check the course."""

from __future__ import annotations

import gc
import sys
import time
from pathlib import Path

import click

from course.platform import manifest

WORKSPACE_HELP = ("Your workspace folder (default: the one you are in: $COURSE_WORKSPACE, or the folder holding "
                  ".course/ here or above; else ./workspace).")


def workspace_option(func):
    return click.option(
        "--workspace", "workspace", type=click.Path(path_type=Path), default=None, help=WORKSPACE_HELP,
    )(func)


def existing_workspace(workspace: Path | None) -> Path:
    """The workspace a command other than ``start`` works on; it must exist (only ``start`` creates one)."""
    from course.platform.workspace import WorkspaceError, locate

    try:
        return locate(workspace)
    except WorkspaceError as error:
        fail(str(error))


def fail(message: str, code: int = 1):
    click.echo(f"course: {message}", err=True)
    sys.exit(code)


def resolve_step(name: str, *, need_exercise: bool = False) -> manifest.Step:
    try:
        step = manifest.resolve(name, need_exercise=need_exercise)
    except manifest.UnknownStep as error:
        fail(str(error), 2)
    if not step.ready:
        fail(f"step {step.stem} is planned but not in the course yet", 2)
    return step


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="backend-course")
def main():
    """Becoming a Back-End Developer: a self-study course in Jupyter notebooks."""


@main.command()
def steps():
    """List the roadmap's steps and which are in the course yet."""
    for step in manifest.load_manifest():
        state = "" if step.ready else "  (planned)"
        dive = f"  (deep dive of {step.parent[:2]}; name: {step.number})" if step.deep_dive else ""
        click.echo(f"{step.stem:34} {step.title}{dive}{state}")


@main.command()
@click.argument("steps_to_build", metavar="[STEP]...", nargs=-1)
@click.option("--check", is_flag=True, help="Change nothing; exit 1 and name the files that are stale.")
def build(steps_to_build, check):
    """Regenerate exercises/ (nbgrader) and the lessons' navigation from the sources and the manifest.

    With STEP arguments (01, 01-programming-basics...), only those steps are built or checked."""
    from course.platform.build import build as run_build

    stems = [resolve_step(name).stem for name in steps_to_build] or None
    changed = run_build(stems, check=check)
    if check and changed:
        click.echo("stale generated files (run 'course build'):")
        for name in changed:
            click.echo(f"  {name}")
        sys.exit(1)
    verb = "up to date" if not changed else f"rebuilt {len(changed)} file(s)"
    click.echo(f"course build: {verb}")
    for name in changed if not check else []:
        click.echo(f"  {name}")


@main.command()
@workspace_option
@click.option("--no-browser", is_flag=True, help="Print the URL instead of opening a browser.")
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="Port on 127.0.0.1 (default 8888, or any free port if 8888 is taken; 0: any free port).")
def start(workspace, no_browser, port):
    """Create or update the workspace, then start JupyterLab on the course home."""
    from course.platform import workspace as ws
    from course.platform.jupyter import PortInUse, run_jupyterlab
    from course.platform.paths import find_workspace

    try:
        report = ws.sync(workspace if workspace is not None else find_workspace())
    except (ws.WorkspaceError, NotADirectoryError) as error:
        fail(str(error))
    for line in report.lines():
        click.echo(line)
    try:
        code = run_jupyterlab(report.workspace, port=port, open_browser=not no_browser, echo=click.echo)
    except PortInUse as error:
        fail(str(error))
    sys.exit(code)


SHOWN_FAILURES = 5  # a part's failing checks listed in the terminal; the feedback file lists them all


def _failure_lines(message: str) -> list[str]:
    """A failed part's message as terminal lines: each failing check on its own line without its "FAIL ✘ "
    (the row already says FAIL), the first few only when ``all_checks()`` listed many."""
    lines = [line.removeprefix("FAIL ✘ ") for line in message.splitlines() if line.strip()] or [message]
    if len(lines) > SHOWN_FAILURES:
        more = len(lines) - SHOWN_FAILURES + 1
        lines = [*lines[:SHOWN_FAILURES - 1], f"… and {more} more failing checks (the feedback file lists them all)"]
    return lines


def _print_result(result) -> None:
    """Parts as the learner knows them ("Part D · …"), each test with what it checks, PASS or FAIL, and why."""
    groups: dict[str, list] = {}
    for part in result.parts:
        groups.setdefault(part.part, []).append(part)
    for title, tests in groups.items():
        if title:
            earned = sum(p.points for p in tests)
            total = sum(p.max_points for p in tests)
            click.echo(f"{title}  ({earned:g}/{total:g})")
        for part in tests:
            mark = "PASS" if part.passed else "FAIL"
            click.echo(f"  {f'{part.points:g}/{part.max_points:g}':>5}  {mark}  {part.description or part.grade_id}")
            if not part.passed:
                for line in _failure_lines(part.message):
                    click.echo(f"               {line}")
    click.echo(f"score: {result.score:g} / {result.max_score:g}")
    for note in result.restored:
        click.echo(f"note: {note}")
    if result.review:
        click.echo(f"needs review: {result.review[0]}"
                   + (f" (and {len(result.review) - 1} more)" if len(result.review) > 1 else ""))
    if result.feedback:
        click.echo(f"feedback: {result.feedback}")


class PartProgress:
    """A line per part as grading reaches it, once grading has taken ``after`` seconds: on a busy machine it can
    take a minute, and the learner sees what it is doing. Quick runs print nothing extra."""

    def __init__(self, echo, *, after: float = 2.0, clock=time.monotonic):
        self.echo, self.after, self.clock = echo, after, clock
        self.start = clock()
        self.started = False
        self._timer = None

    def waiting(self, what: str) -> PartProgress:
        """Say ``what`` is happening if no part has started ``after`` seconds from now (the setup can be long)."""
        import threading

        def say():
            if not self.started:
                self.echo(what)
        self._timer = threading.Timer(self.after, say)
        self._timer.daemon = True
        self._timer.start()
        return self

    def done(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def __call__(self, title: str) -> None:
        self.started = True
        elapsed = self.clock() - self.start
        if elapsed >= self.after:
            self.echo(f"grading {title} ({elapsed:.0f} s so far)")


@main.command(short_help="Grade your exercise for a step with the hidden tests.")
@click.argument("step")
@workspace_option
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable results.")
@click.option("--timeout", type=click.IntRange(min=1), default=None,
              help="Seconds each cell may run, at least 1 (default: the course's nbgrader_config.py).")
def grade(step, workspace, as_json, timeout):
    """Grade your exercise for STEP (01, or 01-programming-basics; a deep dive by its name, 04b) with the
    hidden tests.

    Prints a table of the parts with their points and hints, writes a feedback page into the workspace's
    feedback/ folder and records the score (see 'course progress')."""
    import json

    from course.grading.grader import GradingError
    from course.grading.grader import grade as run_grade
    from course.grading.process import prepare_grading_process

    prepare_grading_process()
    chosen = resolve_step(step, need_exercise=True)
    workspace = existing_workspace(workspace)
    # progress lines go to stderr, and only to a person watching a terminal: --json and pipes stay clean
    progress = None
    if sys.stderr.isatty():
        progress = PartProgress(lambda line: click.echo(line, err=True)).waiting(
            f"grading {chosen.stem}: starting a kernel and nbgrader (slower on a busy machine)")
    try:
        result = run_grade(chosen, workspace, timeout=timeout, progress=progress)
    except GradingError as error:
        fail(str(error), 1)
    finally:
        if progress is not None:
            progress.done()
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        _print_result(result)
    for problem in result.problems:  # the score above stands; this is what could not be saved
        click.echo(f"course: {problem}", err=True)
    # Grading imported a large module graph; freezing it spares the final garbage collection walking it all
    # at exit (about a tenth of a second). Nothing is skipped: exit handlers still run.
    gc.freeze()
    if result.problems:
        sys.exit(1)


@main.command()
@workspace_option
def progress(workspace):
    """Show the roadmap with your status and scores."""
    from course.platform.progress import ProgressStoreError, progress_rows, score_text

    try:
        rows = progress_rows(existing_workspace(workspace))
    except ProgressStoreError as error:
        fail(str(error))
    click.echo(f"{'step':34} {'status':12} score")
    for row in rows:
        click.echo(f"{row['stem']:34} {row['status']:12} {score_text(row)}".rstrip())


@main.command()
@workspace_option
def quiz(workspace):
    """Take the career-fit quiz in the terminal (answers are saved to your workspace)."""
    from course.steps.step11_fit_quiz_and_certifications.terminal import run_terminal_quiz

    sys.exit(0 if run_terminal_quiz(workspace=existing_workspace(workspace)) else 1)


@main.command()
@click.option("--clean", is_flag=True, help="First stop the database servers lessons started whose kernel is gone.")
def doctor(clean):
    """Check Python, packages, the Jupyter kernel, git and optional components."""
    from course.platform import doctor as checks

    for line in checks.clean() if clean else []:
        click.echo(line)
    findings = checks.run_checks()
    for finding in findings:
        line = f"[{finding.level:4}] {finding.name}: {finding.detail}"
        click.echo(line + (f"\n       fix: {finding.fix}" if finding.fix else ""))
    failures = [f for f in findings if f.level == "fail"]
    warnings = [f for f in findings if f.level == "warn"]
    click.echo(f"{len(failures)} problem(s) to fix" if failures else
               f"{len(warnings)} warning(s) above; nothing the course needs is missing" if warnings else "all good")
    sys.exit(1 if failures else 0)


from course.classroom.cli import classroom  # noqa: E402 - the instructor's commands, in their own module

main.add_command(classroom)
