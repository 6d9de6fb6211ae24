"""Exercise 08 graded on plausible answers, every variant in one kernel: the wrong ones lose marks, the other
correct ones keep them all (the solution's full marks and the release's zero are tests/test_exercises.py's);
and course.steps.step08_portfolio.capstone_exercise, the helpers its setup and checks use, on the real folder."""

from __future__ import annotations

import json

import nbformat
import pytest
from factories import assert_judged, exercise_cells, graded_cells, run_variants, variant_cells

from course.steps.step08_portfolio import capstone
from course.steps.step08_portfolio import capstone_exercise as exercise

STEM = "08-portfolio"

HEALTH = '''%%writefile tasktrack-project/tasktrack/health.py
"""What GET /health answers."""
{body}'''

README_RESET = '(PROJECT / "README.md").write_text(START_README, encoding="utf-8")\n'
CI_RESET = '(PROJECT / "noxfile.py").unlink(missing_ok=True)\nshutil.rmtree(PROJECT / ".github", ignore_errors=True)\n'
# Part E's variants each start from a fresh folder with the four fixes written and not committed.
FRESH = '''PROJECT = exercise.setup(Path.cwd())
(PROJECT / "LICENSE").write_text(capstone.licence_text(HOLDER), encoding="utf-8")
(PROJECT / "README.md").write_text(START_README + "\\n## Stack\\nFastAPI\\n", encoding="utf-8")
(PROJECT / "noxfile.py").write_text("import nox\\n", encoding="utf-8")
(PROJECT / "tasktrack" / "health.py").write_text(exercise.NAIVE_HEALTH + "# changed\\n", encoding="utf-8")
'''
IDENTITY = '"-c", "user.name=Lee", "-c", "user.email=lee@example.org"'


def readme(stack="## Tech stack\nFastAPI, PostgreSQL.\n", architecture="## How it works\n```\nclient -> api -> postgres\n```\n",
           results='f"## Performance\\nMedian latency {report.p50_ms:.1f} ms over {report.requests} requests.\\n"',
           keep=True):
    start = 'Path(folder, "README.md").read_text(encoding="utf-8")' if keep else '"# tasktrack\\n"'
    return README_RESET + f'''
def fix_readme(folder, report):
    text = {start} + "\\n" + {stack!r} + {architecture!r} + {results}
    Path(folder, "README.md").write_text(text, encoding="utf-8")
'''


def licence(text):
    return f'''
def write_licence(folder, holder):
    Path(folder, "LICENSE").write_text({text}, encoding="utf-8")
'''


def nox(tests_session):
    return CI_RESET + f'''
NOXFILE = \'\'\'import nox


@nox.session(python=False)
def tests(session):
    {tests_session}
\'\'\'


def write_ci(folder):
    Path(folder, "noxfile.py").write_text(NOXFILE, encoding="utf-8")
'''


def workflow(run):
    return CI_RESET + f'''
WORKFLOW = """name: ci
on: [push]
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: {run}
"""


def write_ci(folder):
    Path(folder, ".github", "workflows").mkdir(parents=True, exist_ok=True)
    Path(folder, ".github", "workflows", "ci.yml").write_text(WORKFLOW, encoding="utf-8")
'''


def commit(body):
    return FRESH + f'''
def commit_fixes(folder):
{body}'''


VARIANTS = [
    # Part A: the health check
    ("health_exec_driver_sql", "health", True, HEALTH.format(body='''
def status(engine, store):
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("select 1")
    except Exception:
        return 503, {"database": "down"}
    return 200, {"database": "up"}
''')),
    ("health_always_200", "health", False, HEALTH.format(body='''
def status(engine, store):
    return 200, {"status": "ok"}
''')),
    ("health_500_when_the_database_is_down", "health", False, HEALTH.format(body='''
from sqlalchemy import text


def status(engine, store):
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    return 200, {"status": "ok"}
''')),
    ("health_200_saying_failing", "health", False, HEALTH.format(body='''
from sqlalchemy import text


def status(engine, store):
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:
        return 200, {"status": "failing"}
    return 200, {"status": "ok"}
''')),
    ("health_asks_the_database_once", "health", False, HEALTH.format(body='''
from sqlalchemy import text

_ready = None


def status(engine, store):
    global _ready
    if _ready is None:  # asked once, remembered for ever
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            _ready = True
        except Exception:
            _ready = False
    return (200, {"status": "ok"}) if _ready else (503, {"status": "failing"})
''')),
    ("health_503_when_redis_fails", "health", False, HEALTH.format(body='''
from sqlalchemy import text


def status(engine, store):
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        if store is not None:
            store.ping()
    except Exception:
        return 503, {"status": "failing"}
    return 200, {"status": "ok"}
''')),
    # Part B: the README
    ("readme_other_headings_ascii_diagram", "readme", True, readme()),
    ("readme_without_stack", "readme", False, readme(stack="")),
    ("readme_architecture_without_diagram", "readme", False,
     readme(architecture="## Architecture\nA FastAPI service in front of PostgreSQL.\n")),
    ("readme_made_up_number", "readme", False, readme(results='"## Results\\np50 0.1 ms on my laptop.\\n"')),
    ("readme_replaced_not_extended", "readme", False, readme(keep=False)),
    # Part C: the licence
    ("licence_spdx_line", "licence", True,
     licence('f"SPDX-License-Identifier: Apache-2.0\\n\\nCopyright 2026 {holder}\\n"')),
    ("licence_bad_spdx_id", "licence", False, licence('f"SPDX-License-Identifier: MIT-License\\nCopyright (c) 2026 {holder}\\n"')),
    ("licence_placeholder_left", "licence", False, licence('capstone.MIT_TEXT.format(year="[year]", holder="[fullname]")')),
    ("licence_holder_constant", "licence", False, licence('capstone.licence_text("Ada Lovelace")')),
    ("licence_no_holder", "licence", False,
     licence('capstone.MIT_TEXT.replace("Copyright (c) {year} {holder}\\n", "")')),
    # Part D: the CI
    ("ci_workflow_runs_pytest", "ci", True, workflow("python -m pytest -q -p no:cacheprovider")),
    ("ci_echo_only", "ci", False, workflow('echo "all tests pass"')),
    ("ci_pytest_or_true", "ci", False, workflow("python -m pytest -q || true")),
    ("ci_ignores_pytest_exit_code", "ci", False, nox('session.run("pytest", "-q", success_codes=[0, 1])')),
    ("ci_only_lints", "ci", False, nox('session.run("ruff", "check", ".")')),
    ("ci_runs_one_test", "ci", False, nox('session.run("pytest", "-q", "tests/test_api.py::test_health")')),
    # Part E: committing
    ("commit_in_two_commits", "commit", True, commit(f'''    git("add", "LICENSE", "README.md", cwd=folder)
    git({IDENTITY}, "commit", "-m", "docs: a licence and the README", cwd=folder)
    git("add", ".", cwd=folder)
    git({IDENTITY}, "commit", "-m", "a truthful health check, CI", cwd=folder)
''')),
    ("commit_all_tracked_only", "commit", False, commit(f'''    git({IDENTITY}, "commit", "-a", "-m", "fixes", cwd=folder)
''')),
    ("commit_staged_not_committed", "commit", False, commit('''    git("add", "-A", cwd=folder)
''')),
    ("commit_gitignore_hides_licence", "commit", False, commit(f'''    ignore = Path(folder, ".gitignore")
    ignore.write_text(ignore.read_text() + "LICENSE\\n*.tmp\\n")
    git("add", "-A", cwd=folder)
    git({IDENTITY}, "commit", "-m", "fixes", cwd=folder)
''')),
    ("commit_amends_the_start", "commit", False, commit(f'''    git("add", "-A", cwd=folder)
    git({IDENTITY}, "commit", "--amend", "--no-edit", cwd=folder)
''')),
]


@pytest.fixture(scope="module")
def graded_variants(tmp_path_factory):
    """{variant id: [error or None per test cell of its part]}: every variant run once, in one kernel."""
    cells, positions, trusted = variant_cells(STEM, VARIANTS)
    # Part B's measurement is a locked cell between parts: run it once, right after the setup.
    cells.insert(trusted, nbformat.v4.new_code_cell(graded_cells(STEM)["readme_measure"]))
    cells.insert(trusted, nbformat.v4.new_code_cell("import shutil"))
    positions = {variant: [i + 2 for i in indexes] for variant, indexes in positions.items()}
    return run_variants(cells, positions, trusted=trusted + 2, folder=tmp_path_factory.mktemp("variants"),
                        timeout=300)


def test_every_part_has_a_correct_and_wrong_variants():
    _, parts, _ = exercise_cells(STEM)
    for part in parts:
        judged = [correct for _, p, correct, _ in VARIANTS if p == part]
        assert True in judged and judged.count(False) >= 2, part


@pytest.mark.slow
@pytest.mark.service
@pytest.mark.parametrize(("variant_id", "correct"), [(v[0], v[2]) for v in VARIANTS], ids=[v[0] for v in VARIANTS])
def test_hidden_tests_judge_each_variant(graded_variants, variant_id, correct):
    assert_judged(graded_variants[variant_id], correct)


# --- the helpers, on the real folder ------------------------------------------------------------------------


def test_the_shipped_sample_is_the_lessons_capstone():
    shipped = json.loads(exercise.SAMPLE.read_text(encoding="utf-8"))["files"]
    assert shipped == exercise.sample_files(), "lesson 05 or 05b changed the capstone: run capstone_exercise.write_sample()"


@pytest.mark.service
def test_the_starting_point_has_the_four_gaps_and_nothing_else(tmp_path):
    folder = exercise.setup(tmp_path)
    assert exercise.setup(tmp_path) == folder  # made anew: a second run starts over
    env, service_env = capstone.review_env("exercise_08_test", redis_db=7)
    first = exercise.worktree_review(folder, ("readme", "licence", "ci", "tests", "lint", "health"), env=env,
                                     service_env=service_env)
    assert first.failing() == ["readme", "licence", "ci"], str(first)
    assert first["tests"].details["tests"] == exercise.suite_size(folder) and first["tests"].details["skipped"] == 0
    assert exercise.not_in_clone(folder) == [] and exercise.new_commits(folder) == 0
    answers = exercise.health_answers(folder, {"up": service_env,
                                               "down": {**service_env, "TASKTRACK_DATABASE_URL": exercise.down_url()}})
    assert answers == {"up": (200, {"status": "ok"}), "down": (200, {"status": "ok"})}  # the gap: it never asks
    assert exercise.health_through_outage(folder, service_env) == ((200, {"status": "ok"}),) * 2
    assert not exercise.ci_catches_failure(folder, env).passed  # no CI at all is not a CI that fails


def test_results_section_and_not_in_clone(tmp_path):
    text = "# x\n## Results\np50 4.2 ms\n```\nraw 5 ms\n```\n## Next\n9 ms\n"
    assert exercise.results_section(text) == "p50 4.2 ms\nraw 5 ms\n"
    folder = tmp_path / "repo"
    folder.mkdir()
    assert exercise.not_in_clone(folder) == ["(not a git repository)"]
    exercise._git(folder, "init", "-q")
    (folder / ".gitignore").write_text("LICENSE\n__pycache__/\n")
    (folder / "LICENSE").write_text("MIT\n")
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "x.pyc").write_bytes(b"")
    capstone.commit(folder, "start")
    assert exercise.not_in_clone(folder) == ["LICENSE"]  # hidden by .gitignore; the cache is not missed
