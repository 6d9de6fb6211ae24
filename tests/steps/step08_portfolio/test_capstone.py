"""course.steps.step08_portfolio.capstone: the sample capstone reviewed on a real PostgreSQL, fixed, and
reviewed again all green; the learner's own capstone is copied, never written to."""

from __future__ import annotations

import hashlib
import subprocess

import pytest

from course.components import services
from course.steps import step08_portfolio as portfolio
from course.steps.step05_build_projects import project as step05
from course.steps.step08_portfolio import capstone

MYPY = """
[tool.mypy]
# What CI type-checks today (the noxfile's typecheck session); the rest of the code is not annotated yet.
files = ["tasktrack/settings.py", "tasktrack/clients.py", "deploy"]
follow_imports = "skip"
ignore_missing_imports = true
"""


@pytest.fixture(scope="module")
def journey(tmp_path_factory):
    """Review the sample capstone, fix what the review finds, review it again."""
    before = services.status()
    folder, which = capstone.prepare(tmp_path_factory.mktemp("portfolio"), own=tmp_path_factory.mktemp("none") / "x")
    env, service_env = capstone.review_env("portfolio_test", redis_db=8)
    first = portfolio.review(folder, env=env, service_env=service_env)
    sentence, measured = capstone.measure(folder, service_env, requests=100, runs=2)
    added = capstone.extend_readme(folder, {
        "stack": "## Stack\nPython 3.11, FastAPI, SQLAlchemy 2 and Alembic, PostgreSQL, Redis, uvicorn/gunicorn.\n",
        "architecture": "## Architecture\n" + capstone.ARCHITECTURE,
        "results": "## Results\n" + sentence + "\n",
    })
    files = capstone.add_missing(folder, {"LICENSE": capstone.licence_text("A. Learner"), "noxfile.py": "x = 1\n"})
    with open(folder / "pyproject.toml", "a", encoding="utf-8") as pyproject:
        pyproject.write(MYPY)
    capstone.commit(folder, "portfolio: README sections, a licence, the type-check scope")
    second = portfolio.review(folder, env=env, service_env=service_env)
    yield {"folder": folder, "which": which, "first": first, "second": second, "sentence": sentence,
           "measured": measured, "added": added, "files": files}
    step05.stop_all()
    after = services.status()
    if after["redis"] and not before["redis"]:
        services.stop_redis()
    if after["postgres"] and not before["postgres"]:
        services.stop_postgres()


def test_the_sample_capstone_is_reviewed_on_a_real_database(journey):
    first = journey["first"]
    assert "sample capstone" in journey["which"]
    assert first.failing() == ["readme", "licence", "types"], str(first)
    assert "stack" in first["readme"].seen and "architecture" in first["readme"].seen
    tests = first["tests"].details
    assert tests["tests"] >= 17 and tests["skipped"] == 0  # PostgreSQL and the Redis tests really ran
    assert first["ci"].details["kind"] == "nox" and first["ci"].details["tests"] == tests["tests"]
    assert '"database":"ok"' in first["health"].seen


def test_fixing_each_finding_makes_it_green(journey):
    second = journey["second"]
    assert second.passed, str(second)
    assert journey["added"] == ["stack", "architecture", "results"]
    assert journey["files"] == {"added": ["LICENSE"], "kept": ["noxfile.py"]}  # the existing noxfile stays
    assert second["licence"].details["spdx"] == "MIT"
    measured = journey["measured"]
    assert measured.errors == 0 and f"p50 {measured.p50_ms:.1f} ms" in journey["sentence"]
    assert journey["sentence"] in (journey["folder"] / "README.md").read_text()


def test_the_learners_own_capstone_is_copied_not_changed(tmp_path):
    workspace = tmp_path / "workspace"
    own = workspace / "lessons" / capstone.PROJECT
    step05.write_files({"tasktrack/app.py": "# mine\n", "README.md": "# my tasktrack\n"}, own)
    subprocess.run(["git", "init", "-q", str(own)], check=True)
    capstone.commit(own, "mine")
    assert capstone.find_capstone(workspace) == own.resolve()
    assert capstone.find_capstone(tmp_path / "elsewhere") is None

    def digest():
        return {p.relative_to(own): hashlib.sha256(p.read_bytes()).hexdigest() for p in own.rglob("*") if p.is_file()}

    before = digest()
    folder, which = capstone.prepare(tmp_path / "step08", own=own)
    assert "your own capstone" in which and folder != own
    assert capstone.add_missing(folder, {"README.md": "replaced?\n"}) == {"added": [], "kept": ["README.md"]}
    assert capstone.extend_readme(folder, {"stack": "## Stack\nFastAPI\n"}) == ["stack"]
    assert (folder / "README.md").read_text().startswith("# my tasktrack\n")
    capstone.commit(folder, "more")
    assert digest() == before  # the learner's folder, history included, is untouched
