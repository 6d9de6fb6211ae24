"""Step 08 · the learner's capstone (step 05's tasktrack) as the portfolio piece: find it, copy it, review it
with a real database, and add what a reviewer finds missing.

- :func:`find_capstone` looks for the learner's own ``tasktrack-project`` (lesson 05 writes it next to itself,
  in the workspace's ``lessons/`` folder); :func:`prepare` copies it, or the course's sample capstone when
  there is none, into a folder of the step's own, commits it, and says which one it is: the learner's folder is
  never written to.
- :func:`review_env` is the environment the review runs the capstone's CI, tests and service in: a fresh
  schema on the course's real PostgreSQL (and Valkey for the Redis tests).
- :func:`measure` loads the running service and words the README's results line from the measurement.
- :func:`add_missing` writes files only where none exists; :func:`extend_readme` appends only the sections a
  README lacks; :func:`commit` commits with real git (what is not committed, a reviewer never sees).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from pathlib import Path

__all__ = ["PROJECT", "MIT_TEXT", "ARCHITECTURE", "find_capstone", "prepare", "review_env", "measure",
           "add_missing", "extend_readme", "commit", "licence_text", "ship_files"]

PROJECT = "tasktrack-project"

# The MIT License's canonical text, https://spdx.org/licenses/MIT.html (the copyright line is the holder's).
MIT_TEXT = """MIT License

Copyright (c) {year} {holder}

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""

ARCHITECTURE = """```mermaid
flowchart LR
  client[HTTP client] --> api[tasktrack: FastAPI under uvicorn]
  api --> db[(PostgreSQL: users, tasks; Alembic migrations)]
  api -. cache, rate limits .-> redis[(Redis, optional)]
  digest[digest service] -- HTTP, timeouts, circuit breaker --> api
```
"""


def licence_text(holder: str, year: int = 2026) -> str:
    """The MIT License for ``holder``."""
    return MIT_TEXT.format(year=year, holder=holder)


def find_capstone(workspace: str | os.PathLike | None = None) -> Path | None:
    """The learner's own capstone (``<workspace>/lessons/tasktrack-project``), or ``None`` if there is none."""
    from course.platform import paths

    root = Path(workspace) if workspace is not None else paths.find_workspace()
    folder = root / "lessons" / PROJECT
    return folder.resolve() if (folder / "tasktrack" / "app.py").is_file() else None


def prepare(destination: str | os.PathLike, *, own: str | os.PathLike | None = None) -> tuple[Path, str]:
    """A committed copy of the capstone to review and improve, at ``destination/tasktrack-project``, and a
    sentence saying which capstone it is. ``own`` (default: :func:`find_capstone`) is copied with its git
    history if it has one; without it, the course's sample capstone (lessons 05 and 05b) is written."""
    from course.steps.step05_build_projects import ship

    own = Path(own) if own is not None else find_capstone()
    target = Path(destination).resolve() / PROJECT
    if target.exists():
        shutil.rmtree(target)
    if own is not None and own.is_dir():
        shutil.copytree(own, target, ignore=shutil.ignore_patterns("__pycache__", ".venv", "*.db", ".nox"))
        which = f"your own capstone from {own} (a copy: your folder is not changed)"
    else:
        ship.capstone_copy(target)
        ship.capstone.write_files(ship_files(), target)
        which = "a copy of the course's sample capstone (no tasktrack-project of yours was found)"
    if not (target / ".git").exists():
        subprocess.run(["git", "init", "-q", str(target)], check=True, capture_output=True, timeout=60)
        add_missing(target, {".gitignore": "__pycache__/\n*.db\n.nox/\nreports/\n.review-mypy/\n.mypy_cache/\n"})
        commit(target, "the capstone as step 05 left it")
    return target, which


def ship_files() -> dict[str, str]:
    """The files lesson 05b adds to the capstone (its noxfile, Containerfile, deploy/ …)."""
    from course.platform import paths
    from course.steps.step05_build_projects import ship

    prefix = ship.PROJECT + "/"
    files = ship.capstone.notebook_files(paths.lesson_path(ship.LESSON_STEM))
    return {path[len(prefix):]: text for path, text in files.items() if path.startswith(prefix)}


def review_env(schema: str = "portfolio_review", redis_db: int = 5) -> tuple[dict[str, str], dict[str, str]]:
    """``(env, service_env)`` for :func:`~course.steps.step08_portfolio.review.review` of the capstone: its
    tests and CI on a fresh schema of the course's PostgreSQL (a real database, emptied first), the Redis tests
    on Valkey's database ``redis_db`` (flushed first: give each concurrent user its own), and the service on
    the same database with a random secret key."""
    from course.components import services

    url = services.schema_url(schema)
    services.redis_client(db=redis_db).flushdb()
    redis = services.status()["redis"] + f"?db={redis_db}"
    env = {"DATABASE_URL": url, "TASKTRACK_TEST_DATABASE_URL": url, "TASKTRACK_TEST_REDIS_URL": redis}
    return env, {"TASKTRACK_DATABASE_URL": url, "TASKTRACK_SECRET_KEY": secrets.token_urlsafe(32),
                 "TASKTRACK_LOG_LEVEL": "WARNING"}


def measure(folder: str | os.PathLike, service_env: dict[str, str], *, requests: int = 400,
            runs: int = 3) -> tuple[str, object]:
    """Start the capstone, load ``GET /health`` (which queries the database) ``runs`` times, and return the
    README's results sentence from the best run (lowest p50) with that run's :class:`LoadReport`."""
    from course.steps.step05_build_projects import project

    with project.start_service("tasktrack.app:create_app", project=folder, env=service_env,
                               name="portfolio-measure") as service:
        reports = [project.load(service.url + "/health", requests=requests, concurrency=4, name="GET /health")
                   for _ in range(runs)]
    shutil.rmtree(service.log_path.parent, ignore_errors=True)
    best = min(reports, key=lambda report: report.p50_ms)
    sentence = (f"`GET /health` (one query to PostgreSQL) from 4 concurrent clients: p50 {best.p50_ms:.1f} ms, "
                f"p95 {best.p95_ms:.1f} ms over {best.requests} requests, {best.errors} errors "
                f"(best of {runs} runs, on the machine that ran the course).")
    return sentence, best


def add_missing(folder: str | os.PathLike, files: dict[str, str]) -> dict[str, list[str]]:
    """Write each of ``files`` (relative path -> text) only where no file exists: ``{"added": [...],
    "kept": [...]}``. An existing file is never replaced."""
    folder = Path(folder)
    done: dict[str, list[str]] = {"added": [], "kept": []}
    for relative, text in files.items():
        target = folder / relative
        if target.exists():
            done["kept"].append(relative)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        done["added"].append(relative)
    return done


def extend_readme(folder: str | os.PathLike, sections: dict[str, str]) -> list[str]:
    """Append to ``folder``'s README.md the ``sections`` (review section name -> Markdown, heading included)
    that it lacks, as :func:`~course.steps.step08_portfolio.review.readme_sections` reads it; returns their
    names. What the README already says stays as it is."""
    from .review import readme_sections

    readme = Path(folder) / "README.md"
    text = readme.read_text(encoding="utf-8") if readme.is_file() else ""
    present = readme_sections(text)
    added = [name for name in sections if not present.get(name, False)]
    if added:
        text = text.rstrip("\n") + "\n\n" + "\n\n".join(sections[name].strip("\n") for name in added) + "\n"
        readme.write_text(text.lstrip("\n"), encoding="utf-8")
    return added


def commit(folder: str | os.PathLike, message: str) -> str:
    """Commit everything in ``folder`` (real git; a course identity when the learner has none set); returns
    the short commit id, or ``""`` when there was nothing to commit."""
    git = ["git", "-C", str(folder)]
    subprocess.run([*git, "add", "-A"], check=True, capture_output=True, timeout=60)
    if subprocess.run([*git, "diff", "--cached", "--quiet"], timeout=60).returncode == 0:
        return ""
    identity = [] if subprocess.run([*git, "config", "user.email"], capture_output=True).stdout.strip() else \
        ["-c", "user.name=Course learner", "-c", "user.email=learner@example.invalid"]
    subprocess.run([*git, *identity, "commit", "-qm", message], check=True, capture_output=True, timeout=60)
    return subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
