"""Step 08 · exercise 08: the sample capstone with the gaps a reviewer finds, and the checks that grade the fixes.

- :func:`setup` writes the course's sample capstone (always the sample: the same folder for every learner, so
  the grading is the same for all; from :data:`SAMPLE`, a copy of what :func:`.capstone.prepare` writes, since
  the grading sandbox has the package but not the lessons) and opens four gaps in it, committed as the
  starting point: no CI configuration, no LICENSE, a README without stack, architecture and results, and a
  ``/health`` that answers 200 without asking the database (``tasktrack/health.py``, which the route calls).
- :func:`health_answers` starts the service from the folder on a real PostgreSQL, once per case: with the
  course's database, or with :func:`down_url`, a database URL whose port nothing listens on (the service
  really cannot reach it), with Redis or without; :func:`health_through_outage` cuts the lesson's
  :class:`~.tools.DatabaseLink` to the database while the service runs.
- :func:`worktree_review` reviews the folder *as it is on disk* (a copy committed in a scratch repository);
  :func:`ci_catches_failure` runs the project's CI on a copy whose suite is one failing test;
  :func:`not_in_clone` lists what a reviewer's clone lacks of the folder (uncommitted, or hidden by
  ``.gitignore``); :func:`results_section` is the text under the README's results heading.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import httpx

from course.components.waits import scaled

from . import capstone
from .review import README_SECTIONS, Check, Review, review

__all__ = ["NAIVE_HEALTH", "CANARY", "JUNK", "SAMPLE", "sample_files", "write_sample", "setup", "health_answers", "down_url", "health_through_outage", "worktree_review",
           "ci_catches_failure", "suite_size", "not_in_clone", "results_section", "new_commits"]

# The starting point's health module: it says "ok" without looking, so a reviewer's GET /health is green.
NAIVE_HEALTH = '''"""What GET /health answers: (status code, JSON body)."""


def status(engine, store):
    """Ready to serve? (For now it only says that the process answers.)"""
    return 200, {"status": "ok"}
'''

# The route in app.py that the starting point hands over to tasktrack/health.py.
_ROUTE = '''    @app.get("/health")
    def health(response: Response):
        """Ready to serve? tasktrack/health.py decides, from the database (and the optional Redis)."""
        response.status_code, body = health_status(engine, store)
        return body
'''
_TEST = '''def test_health(client):
    assert client.get("/health").status_code == 200
'''
# A suite of one failing test: a CI that runs the tests must fail on it (ruff-clean, so lint does not decide).
CANARY = '''def test_the_ci_fails_when_a_test_fails():
    assert 1 + 1 == 3
'''
# What a clone may lack without a reviewer missing anything: caches, reports, local databases.
JUNK = ("__pycache__", ".nox", "reports", ".mypy_cache", ".review-mypy", ".pytest_cache", ".ruff_cache")
START = "the capstone as step 05 left it"
SAMPLE = Path(__file__).with_name("sample_capstone.json")


def _git(folder: Path, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(folder), *arguments], capture_output=True, text=True,
                          timeout=scaled(60))


def _between(text: str, start: str, end: str) -> tuple[int, int]:
    first = text.index(start)
    return first, text.index(end, first)


def sample_files() -> dict[str, str]:
    """The sample capstone's files (relative path -> text), as :func:`.capstone.prepare` writes it from
    lessons 05 and 05b (it needs the course's checkout: the grading sandbox has only the package, so
    :func:`setup` reads :data:`SAMPLE`, a copy of these that a test keeps equal to them)."""
    with tempfile.TemporaryDirectory(prefix="course-08-sample-") as scratch:
        folder, _ = capstone.prepare(scratch, own=Path(scratch) / "no-capstone")
        return {path.relative_to(folder).as_posix(): path.read_text(encoding="utf-8")
                for path in sorted(folder.rglob("*")) if path.is_file() and ".git" not in path.relative_to(folder).parts}


def write_sample() -> Path:
    """Write :data:`SAMPLE` afresh from the lessons (after lesson 05 or 05b changes the capstone)."""
    document = {"about": "The sample capstone of lessons 05 and 05b (tasktrack), as course.steps.step08_portfolio."
                         "capstone.prepare writes it; exercise 08's starting point. Made by capstone_exercise.write_sample().",
                "files": sample_files()}
    SAMPLE.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return SAMPLE


def setup(destination: str | os.PathLike) -> Path:
    """``destination/tasktrack-project``: the sample capstone (from :data:`SAMPLE`) with its four gaps,
    committed in one commit (made anew each time: an earlier folder there is removed)."""
    files = dict(json.loads(SAMPLE.read_text(encoding="utf-8"))["files"])
    del files["noxfile.py"]
    app = files["tasktrack/app.py"]
    first, last = _between(app, '    @app.get("/health")', '    @app.post("/users"')
    app = app[:first] + _ROUTE + "\n" + app[last:]
    app = app.replace("from sqlalchemy import create_engine, text\n", "from sqlalchemy import create_engine\n")
    files["tasktrack/app.py"] = app.replace(
        "from tasktrack.db import Repository\n",
        "from tasktrack.db import Repository\nfrom tasktrack.health import status as health_status\n")
    files["tasktrack/health.py"] = NAIVE_HEALTH
    tests = files["tests/test_api.py"]
    first, last = _between(tests, "def test_health(client):", "\n\n\n")
    files["tests/test_api.py"] = tests[:first] + _TEST.rstrip("\n") + tests[last:]
    folder = Path(destination).resolve() / capstone.PROJECT
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    capstone.add_missing(folder, files)
    started = _git(folder, "init", "-q")
    if started.returncode != 0 or not capstone.commit(folder, START):
        raise RuntimeError(f"could not commit the starting point: {started.stderr}")
    return folder


def down_url(scheme: str = "postgresql+psycopg") -> str:
    """A URL the service cannot reach: a port on 127.0.0.1 that nothing listens on (``scheme="redis"`` for
    a Redis that does not answer)."""
    from course.components.servers import free_port

    if scheme == "redis":
        return f"redis://127.0.0.1:{free_port()}/0"
    return f"{scheme}://postgres@127.0.0.1:{free_port()}/postgres?connect_timeout=2"


def _answer(url: str, path: str) -> tuple[int | None, object]:
    """``(status, parsed JSON or text)`` of ``GET url+path``; ``(None, reason)`` when nothing answered."""
    try:
        response = httpx.get(url + path, timeout=scaled(10))
    except httpx.HTTPError as error:
        return None, f"GET {path} failed: {error}"
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, response.text[:300]


def health_answers(folder: str | os.PathLike, cases: dict[str, dict[str, str]],
                   path: str = "/health") -> dict[str, tuple[int | None, object]]:
    """``{case: (status, body)}``: ``GET path`` from the service started from ``folder`` with each case's
    environment (the cases' services run at the same time, each on its own port). ``body`` is the parsed
    JSON, or the text when it is not JSON; ``(None, reason)`` when the service did not start or answer."""
    from concurrent.futures import ThreadPoolExecutor

    from course.steps.step05_build_projects import project

    def answer(name: str) -> tuple[int | None, object]:
        try:
            service = project.start_service("tasktrack.app:create_app", project=folder, env=cases[name],
                                            ready_path=path, name=f"health-{name.replace(' ', '-')}")
        except (RuntimeError, TimeoutError) as error:
            return None, f"the service did not start: {str(error).splitlines()[0][:200]}"
        try:
            return _answer(service.url, path)
        finally:
            service.stop()
            shutil.rmtree(service.log_path.parent, ignore_errors=True)

    with ThreadPoolExecutor(max_workers=len(cases) or 1, thread_name_prefix="course-08-health") as pool:
        return dict(zip(cases, pool.map(answer, cases), strict=True))


def health_through_outage(folder: str | os.PathLike, service_env: dict[str, str],
                          path: str = "/health") -> tuple[tuple[int | None, object], tuple[int | None, object]]:
    """``GET path`` from the service started from ``folder`` with its database reached through a
    :class:`~.tools.DatabaseLink` (a real TCP relay): ``(answer before, answer after)`` the link is cut while
    the service runs."""
    from course.steps.step05_build_projects import project

    from .tools import DatabaseLink

    relay = DatabaseLink(service_env["TASKTRACK_DATABASE_URL"])
    answers = []
    try:
        service = project.start_service("tasktrack.app:create_app", project=folder, ready_path=path,
                                        env={**service_env, "TASKTRACK_DATABASE_URL": relay.url}, name="health-outage")
    except (RuntimeError, TimeoutError) as error:
        relay.cut()
        failed = (None, f"the service did not start: {str(error).splitlines()[0][:200]}")
        return failed, failed
    try:
        for _ in range(2):
            answers.append(_answer(service.url, path))
            relay.cut()
    finally:
        service.stop()
        shutil.rmtree(service.log_path.parent, ignore_errors=True)
    return answers[0], answers[1]


def _snapshot(folder: Path, workspace: Path) -> Path:
    """A copy of ``folder`` as it is on disk, everything committed (ignored files too, caches apart)."""
    copy = workspace / folder.name
    shutil.copytree(folder, copy, ignore=shutil.ignore_patterns(*JUNK))
    _git(copy, "add", "-A", "--force")
    _git(copy, "-c", "user.name=Course", "-c", "user.email=course@example.invalid", "commit", "-q",
         "--allow-empty", "-m", "the folder as it is on disk")
    return copy


def worktree_review(folder: str | os.PathLike, checks: tuple[str, ...], **options) -> Review:
    """:func:`~.review.review` of ``folder`` as it is on disk (committed or not), with only ``checks``."""
    from .review import CHECKS

    workspace = Path(tempfile.mkdtemp(prefix="course-08-worktree-"))
    try:
        copy = _snapshot(Path(folder).resolve(), workspace)
        return review(copy, skip=tuple(name for name in CHECKS if name not in checks), **options)
    finally:
        shutil.rmtree(workspace, ignore_errors=True)


def ci_catches_failure(folder: str | os.PathLike, env: dict[str, str]) -> Check:
    """The project's CI run on a copy of ``folder`` whose tests/ hold only :data:`CANARY`: the check passes
    when the CI *fails* (a CI that passes with a failing test, ``pytest || true``, proves nothing)."""
    workspace = Path(tempfile.mkdtemp(prefix="course-08-canary-"))
    try:
        copy = _snapshot(Path(folder).resolve(), workspace)
        shutil.rmtree(copy / "tests", ignore_errors=True)
        (copy / "tests").mkdir()
        (copy / "tests" / "test_canary.py").write_text(CANARY, encoding="utf-8")
        capstone.commit(copy, "a suite of one failing test")
        ci = review(copy, env=env, skip=("readme", "licence", "tests", "lint", "types", "container", "health"))["ci"]
    finally:
        shutil.rmtree(workspace, ignore_errors=True)
    if ci.passed:
        return Check("ci", False, "with one failing test the CI still passes: " + ci.seen,
                     "let pytest's exit code fail the run (no `|| true`, no error_on_external_run=False)")
    if "no CI configuration" in ci.seen or "no run: steps" in ci.seen:
        return Check("ci", False, ci.seen, ci.fix)
    return Check("ci", True, "with one failing test the CI fails: " + ci.seen)


def suite_size(folder: str | os.PathLike) -> int:
    """How many test functions ``folder/tests`` defines (``def test_...`` in ``test_*.py``): the least a CI
    that runs the suite reports (a parametrised test counts once here, once per case in a report)."""
    import ast

    count = 0
    for path in sorted((Path(folder) / "tests").rglob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        count += sum(isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test")
                     for node in ast.walk(tree))
    return count


def not_in_clone(folder: str | os.PathLike) -> list[str]:
    """Files of ``folder`` a reviewer's clone lacks or has in another state: changed or new and not committed,
    or hidden by ``.gitignore`` (caches, reports and local ``*.db`` files apart)."""
    status = _git(Path(folder), "status", "--porcelain", "--ignored", "--untracked-files=all")
    if status.returncode != 0:
        return ["(not a git repository)"]
    missing = []
    for line in status.stdout.splitlines():
        path = line[3:].strip('"')
        if line.startswith("!!") and (any(part in JUNK for part in Path(path).parts) or path.endswith((".db", ".pyc"))):
            continue
        missing.append(path)
    return missing


def new_commits(folder: str | os.PathLike) -> int:
    """How many commits ``folder`` has after the starting point."""
    log = _git(Path(folder), "log", "--format=%s")
    subjects = log.stdout.splitlines() if log.returncode == 0 else []
    return subjects.index(START) if START in subjects else 0


def results_section(markdown: str) -> str:
    """The text under the README's results heading(s), as :func:`~.review.readme_sections` finds them."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").parse(markdown)
    texts, inside = [], False
    for i, token in enumerate(tokens):
        if token.type == "heading_open":
            heading = tokens[i + 1].content.lower()
            inside = any(word in heading for word in README_SECTIONS["results"])
        elif inside and token.type in ("inline", "fence", "code_block") and tokens[i - 1].type != "heading_open":
            texts.append(token.content)
    return "\n".join(texts)
