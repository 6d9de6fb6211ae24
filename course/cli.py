"""The ``course`` command: start the course, grade exercises, show progress, build and check the course."""

from __future__ import annotations

import gc
import sys
from pathlib import Path

import click

from course.platform import manifest

WORKSPACE_HELP = "The learner's workspace folder (default ./workspace)."


def workspace_option(func):
    return click.option(
        "--workspace", "workspace", type=click.Path(file_okay=False, path_type=Path),
        default=Path("workspace"), show_default=True, help=WORKSPACE_HELP,
    )(func)


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
        click.echo(f"{step.stem:34} {step.title}{state}")


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
@click.option("--port", type=int, default=8888, show_default=True, help="Port on 127.0.0.1 (0: any free).")
def start(workspace, no_browser, port):
    """Create or update the workspace, then start JupyterLab on the course home."""
    from course.platform import workspace as ws
    from course.platform.jupyter import run_jupyterlab

    report = ws.sync(workspace)
    for line in report.lines():
        click.echo(line)
    code = run_jupyterlab(report.workspace, port=port, open_browser=not no_browser, echo=click.echo)
    sys.exit(code)


def _print_result(result) -> None:
    width = max((len(p.grade_id) for p in result.parts), default=10)
    click.echo(f"{'part':{width}}  points   result")
    for part in result.parts:
        mark = "PASS" if part.passed else "FAIL"
        click.echo(f"{part.grade_id:{width}}  {part.points:g}/{part.max_points:g}".ljust(width + 10)
                   + f" {mark}  {'' if part.passed else part.message}".rstrip())
    click.echo(f"score: {result.score:g} / {result.max_score:g}")
    for note in result.restored:
        click.echo(f"note: {note}")
    if result.review:
        click.echo(f"needs review: {result.review[0]}"
                   + (f" (and {len(result.review) - 1} more)" if len(result.review) > 1 else ""))
    if result.feedback:
        click.echo(f"feedback: {result.feedback}")


@main.command()
@click.argument("step")
@workspace_option
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable results.")
@click.option("--timeout", type=int, default=None, help="Seconds each cell may run (default: nbgrader_config).")
def grade(step, workspace, as_json, timeout):
    """Grade your exercise for STEP (e.g. 01 or 01-programming-basics) with the hidden tests."""
    import json

    from course.grading.grader import GradingError, prepare_grading_process
    from course.grading.grader import grade as run_grade

    prepare_grading_process()
    chosen = resolve_step(step, need_exercise=True)
    try:
        result = run_grade(chosen, workspace, timeout=timeout)
    except GradingError as error:
        fail(str(error), 1)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        _print_result(result)
    # Grading imported a large module graph; freezing it spares the final garbage collection walking it all
    # at exit (about a tenth of a second). Nothing is skipped: exit handlers still run.
    gc.freeze()


@main.command()
@workspace_option
def progress(workspace):
    """Show the roadmap with your status and scores."""
    from course.platform.progress import progress_rows

    click.echo(f"{'step':34} {'status':12} score")
    for row in progress_rows(workspace):
        score = f"{row['score']:g}/{row['max_score']:g}" if row["score"] is not None else ""
        click.echo(f"{row['stem']:34} {row['status']:12} {score}")


@main.command()
@workspace_option
def quiz(workspace):
    """Take the career-fit quiz in the terminal (answers are saved to your workspace)."""
    from course.steps.step11_fit_quiz_and_certifications.quiz import run_terminal_quiz

    sys.exit(0 if run_terminal_quiz(workspace=workspace) else 1)


@main.command()
def doctor():
    """Check Python, packages, the Jupyter kernel, git and optional components."""
    from course.platform.doctor import run_checks

    findings = run_checks()
    for finding in findings:
        line = f"[{finding.level:4}] {finding.name}: {finding.detail}"
        click.echo(line + (f"\n       fix: {finding.fix}" if finding.fix else ""))
    failures = [f for f in findings if f.level == "fail"]
    click.echo("all good" if not failures else f"{len(failures)} problem(s) to fix")
    sys.exit(1 if failures else 0)


from course.classroom.cli import classroom  # noqa: E402 - the instructor's commands, in their own module

main.add_command(classroom)
