"""course.steps.step08_portfolio.review: the "first five minutes" review, run on small real git repositories.

One good project (a Starlette service on SQLite with its tests, a noxfile, a LICENSE, a Containerfile) is
reviewed in full once; each missing piece is a copy of it with that piece broken, reviewed with only the
checks that piece concerns (so the module stays fast), plus a suite that hangs and a service that crashes.
"""

from __future__ import annotations

import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from course.steps import step08_portfolio as portfolio
from course.steps.step05_build_projects import project as capstone

README = """# notes

## The problem
Keeping short notes behind an HTTP API.

## Stack
Python, Starlette, SQLite through the standard library.

## How to run
`uvicorn --factory notes.app:create_app`

## Architecture
```mermaid
flowchart LR
  client --> api[notes.app] --> db[(SQLite)]
```

## Results
12 tests pass; GET /health answers in 2 ms at p50.
"""

APP = '''"""A tiny service: /health reports whether its SQLite database answers."""

import os
import sqlite3

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route


def database_ok(path: str) -> bool:
    try:
        with sqlite3.connect(f"file:{path}?mode=rwc", uri=True, timeout=1) as connection:
            connection.execute("SELECT 1")
    except sqlite3.Error:
        return False
    return True


def create_app() -> Starlette:
    path = os.environ.get("NOTES_DB", "notes.db")

    async def health(request):
        ok = database_ok(path)
        return JSONResponse({"database": "ok" if ok else "failing"}, status_code=200 if ok else 503)

    return Starlette(routes=[Route("/health", health)])
'''

TESTS = '''from notes.app import database_ok


def test_database_answers(tmp_path):
    assert database_ok(str(tmp_path / "notes.db"))


def test_missing_folder_fails(tmp_path):
    assert not database_ok(str(tmp_path / "missing" / "notes.db"))
'''

NOXFILE = '''import nox


@nox.session(python=False)
def tests(session):
    session.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider")
'''

CONTAINERFILE = """FROM docker.io/library/python:3.11.11-slim-bookworm
WORKDIR /app
COPY . .
RUN pip install starlette uvicorn
USER 10001
HEALTHCHECK CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health')"]
CMD ["uvicorn", "--factory", "notes.app:create_app", "--host", "0.0.0.0"]
"""

MIT = """MIT License

Copyright (c) 2026 A. Learner

Permission is hereby granted, free of charge, to any person obtaining a copy of this software ...
"""

FILES = {
    "README.md": README, "LICENSE": MIT, "noxfile.py": NOXFILE, "Containerfile": CONTAINERFILE,
    "notes/__init__.py": "", "notes/app.py": APP, "tests/test_app.py": TESTS,
    "pyproject.toml": '[project]\nname = "notes"\nversion = "1.0"\n\n[tool.pytest.ini_options]\n'
                      'pythonpath = ["."]\n',
    ".gitignore": "*.db\n__pycache__/\n",
}


def _commit(folder: Path, message: str = "work") -> None:
    for command in (["add", "-A"], ["-c", "user.name=L", "-c", "user.email=l@example.org", "commit", "-qm", message]):
        subprocess.run(["git", *command], cwd=folder, check=True, capture_output=True)


def _project(tmp: Path, name: str, changes: dict[str, str | None] | None = None) -> Path:
    """The good project with ``changes`` (path -> text, or None to remove), as a committed repository."""
    folder = tmp / name
    files = {**FILES, **(changes or {})}
    capstone.write_files({path: text for path, text in files.items() if text is not None}, folder)
    subprocess.run(["git", "init", "-q", str(folder)], check=True)
    _commit(folder)
    return folder


HEAVY = ("ci", "tests", "lint", "types", "health")


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    folder = _project(tmp_path_factory.mktemp("review"), "notes")
    return folder, portfolio.review(folder, app="notes.app:create_app", timeout=90)


def test_a_good_project_passes_every_check(good):
    folder, report = good
    assert [check.name for check in report.checks] == list(portfolio.CHECKS)
    assert report.passed, str(report)
    assert report["licence"].details["spdx"] == "MIT"
    assert report["ci"].details == {"kind": "nox", "tests": 2}
    assert report["tests"].details["tests"] == 2
    assert f"{len(report.checks)} of {len(report.checks)} checks pass" in str(report)
    assert not list(folder.glob("*.db"))  # the review works on a clone, never in the folder


def test_only_committed_work_is_reviewed(good, tmp_path):
    folder = _project(tmp_path, "notes", {"LICENSE": None})
    shutil.copy(good[0] / "LICENSE", folder / "LICENSE")  # fixed, but not committed
    report = portfolio.review(folder, skip=HEAVY)
    assert not report["licence"].passed
    assert report.uncommitted == ["LICENSE"]
    assert "not committed" in str(report)
    _commit(folder)
    assert portfolio.review(folder, skip=HEAVY).passed


@pytest.mark.parametrize(("changes", "failing", "seen"), [
    ({"README.md": README.replace("```mermaid", "```text").replace("-->", "to")}, "readme", "architecture"),
    ({"README.md": README.replace("12 tests pass; GET /health answers in 2 ms at p50.", "Fast.")}, "readme",
     "results"),
    ({"LICENSE": None}, "licence", "no LICENSE"),
    ({"LICENSE": "All rights reserved.\n"}, "licence", "not a licence"),
    ({"Containerfile": CONTAINERFILE.replace("USER 10001\n", "")}, "container", "USER"),
    ({"Containerfile": None}, "container", "no Containerfile"),
], ids=["no-diagram", "results-without-numbers", "no-licence", "unknown-licence", "root-container",
        "no-containerfile"])
def test_each_missing_piece_fails_its_own_check(tmp_path, changes, failing, seen):
    report = portfolio.review(_project(tmp_path, "notes", changes), skip=HEAVY)
    assert report.failing() == [failing], str(report)
    assert seen.lower() in report[failing].seen.lower() + report[failing].fix.lower()
    assert report[failing].fix


@pytest.mark.parametrize(("changes", "seen"), [
    ({"noxfile.py": NOXFILE.replace('"python", "-m", "pytest", "-q", "-p", "no:cacheprovider"',
                                    '"echo", "tests pass"')}, "runs no tests"),
    ({"noxfile.py": None}, "no CI"),
    ({"noxfile.py": None, ".github/workflows/ci.yml":
      "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n"
      "      - run: echo lint ok\n      - run: exit 3\n"}, "failed (exit 3)"),
], ids=["ci-only-echoes", "no-ci", "workflow-step-fails"])
def test_a_ci_that_proves_nothing_fails(tmp_path, changes, seen):
    report = portfolio.review(_project(tmp_path, "notes", changes), skip=("tests", "lint", "types", "health"))
    assert report.failing() == ["ci"], str(report)
    assert seen in report["ci"].seen


def test_a_workflow_runs_its_run_steps_in_order(tmp_path):
    folder = _project(tmp_path, "notes", {"noxfile.py": None, ".github/workflows/ci.yml": textwrap.dedent("""\
        on: push
        jobs:
          test:
            steps:
              - uses: actions/checkout@v4
              - run: python -m ruff --version
              - run: python -m pytest -q -p no:cacheprovider
        """)})
    kind, commands = portfolio.ci_commands(folder)
    assert kind == "workflow" and [c[-1] for c in commands] == ["python -m ruff --version",
                                                                "python -m pytest -q -p no:cacheprovider"]
    report = portfolio.review(folder, skip=("tests", "lint", "types", "health"))
    assert report["ci"].passed and report["ci"].details == {"kind": "workflow", "tests": 2}, str(report)


def test_a_hanging_suite_is_stopped_by_the_time_limit(tmp_path):
    folder = _project(tmp_path, "notes", {"tests/test_hang.py": "import time\n\n\ndef test_hangs():\n"
                                                                "    time.sleep(600)\n"})
    report = portfolio.review(folder, timeout=3, skip=("ci", "lint", "types", "health"))
    assert report.failing() == ["tests"] and "did not finish within 3 s" in report["tests"].seen


def test_lint_and_type_problems_are_reported(tmp_path):
    folder = _project(tmp_path, "notes", {"notes/extra.py": "import os\n\n\ndef half(n: int) -> int:\n"
                                                            "    return n / 2\n"})
    report = portfolio.review(folder, skip=("ci", "tests", "health"))
    assert report.failing() == ["lint", "types"], str(report)
    assert "extra.py" in report["lint"].seen and "extra.py" in report["types"].seen


def test_a_crashing_start_and_an_unready_database_fail_health(tmp_path):
    folder = _project(tmp_path, "notes", {"notes/app.py": APP.replace(
        "def create_app() -> Starlette:\n", "def create_app() -> Starlette:\n    raise SystemExit('no config')\n")})
    report = portfolio.review(folder, app="notes.app:create_app", timeout=30, skip=HEAVY[:-1])
    assert report.failing() == ["health"] and "did not start" in report["health"].seen, str(report)
    # The database unreachable: a readiness check answers 503, and the review says what it saw.
    folder = _project(tmp_path, "notes-db")
    report = portfolio.review(folder, app="notes.app:create_app", skip=HEAVY[:-1],
                              service_env={"NOTES_DB": str(tmp_path / "missing" / "notes.db")})
    assert report.failing() == ["health"] and "503" in report["health"].seen
    assert not capstone.running()


def test_a_folder_that_is_no_repository(tmp_path):
    report = portfolio.review(tmp_path)
    assert report.failing() == ["clone"] and "not a git repository" in str(report)


def test_licence_ids_come_from_the_course_table():
    assert portfolio.licence_id("SPDX-License-Identifier: Apache-2.0\n") == "Apache-2.0"
    assert portfolio.licence_id("SPDX-License-Identifier: WTFPL\n") is None  # not in licences.yaml
    assert portfolio.licence_id("Apache License\n  Version 2.0, January 2004\n") == "Apache-2.0"
    assert portfolio.licence_id(MIT) == "MIT"
