"""The ``course`` command: start the course, grade exercises, show progress, build and check the course."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from course import manifest

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
@click.option("--check", is_flag=True, help="Change nothing; exit 1 and name the files that are stale.")
def build(check):
    """Regenerate exercises/ (nbgrader) and the lessons' navigation from the sources and the manifest."""
    from course.build import build as run_build

    changed = run_build(check=check)
    if check and changed:
        click.echo("stale generated files (run 'course build'):")
        for name in changed:
            click.echo(f"  {name}")
        sys.exit(1)
    verb = "up to date" if not changed else f"rebuilt {len(changed)} file(s)"
    click.echo(f"course build: {verb}")
    for name in changed if not check else []:
        click.echo(f"  {name}")
