"""Every ready lesson executes without error from a workspace copy, as a learner runs it."""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient

from course.platform import manifest, workspace

pytestmark = pytest.mark.slow
READY = [s.stem for s in manifest.steps(ready_only=True)]


@pytest.fixture(scope="module")
def learner_workspace(tmp_path_factory):
    ws = tmp_path_factory.mktemp("workspace")
    workspace.sync(ws)
    return ws


@pytest.mark.parametrize("stem", READY)
def test_lesson_runs_from_the_workspace(stem, learner_workspace, monkeypatch):
    monkeypatch.setenv("COURSE_WORKSPACE", str(learner_workspace))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    path = workspace.lesson_copy(learner_workspace, stem)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=180, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.output_type == "error"]
    assert not errors
