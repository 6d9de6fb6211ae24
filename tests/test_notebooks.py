"""Every ready lesson executes without error from a workspace copy, as a learner runs it."""

from __future__ import annotations

import nbformat
import pytest
from factories import REPO, learner_lesson
from nbclient import NotebookClient

from course.platform import manifest

pytestmark = pytest.mark.slow
# Lessons that their step's own test runs end to end the same way (factories.learner_lesson: a workspace copy,
# its folder as the kernel's working directory), with more checks: what they leave running, what their output
# shows. A lesson is the suite's slowest thing to run, so these run there only, not twice.
RUN_BY_STEP_TESTS = {
    "02-web-concepts": "tests/steps/test_step02_web_concepts.py",
    "03-backend-frameworks": "tests/steps/step03_backend_frameworks/test_frameworks.py",
    "04-databases": "tests/steps/step04_databases/test_relational.py",
    "05-build-projects": "tests/steps/step05_build_projects/test_project.py",
    "05b-ship": "tests/steps/step05_build_projects/test_ship.py",
}
READY = [s.stem for s in manifest.steps(ready_only=True) if s.stem not in RUN_BY_STEP_TESTS]


@pytest.mark.parametrize("stem", READY)
def test_lesson_runs_from_the_workspace(stem, tmp_path, monkeypatch):
    path = learner_lesson(stem, tmp_path, monkeypatch)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=180, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.output_type == "error"]
    assert not errors


def test_the_lessons_left_to_step_tests_are_ready_and_run_there_from_a_workspace_copy():
    ready = {s.stem for s in manifest.steps(ready_only=True)}
    assert set(RUN_BY_STEP_TESTS) <= ready
    for stem, test_file in RUN_BY_STEP_TESTS.items():
        source = (REPO / test_file).read_text(encoding="utf-8")
        assert f"step{stem[:2]}_" in test_file, (stem, test_file)
        assert "learner_lesson(" in source, f"{test_file} no longer runs lesson {stem} from a workspace copy"
