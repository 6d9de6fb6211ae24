"""The course's glue to nbgrader: its configuration, and two preprocessors nbgrader lacks.

- :func:`nbgrader_config` loads ``nbgrader_config.py`` from the course root, rooted in any folder.
- :class:`HideTestTracebacks` keeps hidden test lines out of feedback: a traceback quotes the line that
  failed, which may be a hidden one, so test-cell tracebacks are cut to ``Name: message``.
- :class:`SafeExecute` grades a notebook whose kernel dies: the cell that was running and every cell after
  it get an error output, so nbgrader scores them zero instead of treating "no output" as passed. It also
  runs on a kernel started in advance (:data:`course.grading.nbconfig.PRESTARTED`), so the kernel boots while
  nbgrader is still being imported.
"""

from __future__ import annotations

from nbclient.exceptions import DeadKernelError
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute, NbGraderPreprocessor

from course.grading.nbconfig import KERNEL_DIED, PRESTARTED, nbgrader_config

__all__ = ["nbgrader_config", "HideTestTracebacks", "SafeExecute", "KERNEL_DIED"]


def _is_test_cell(cell) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution")


class HideTestTracebacks(NbGraderPreprocessor):
    """Cut every test cell's tracebacks to their last line (the exception's name and message)."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and _is_test_cell(cell):
            for output in cell.get("outputs", []):
                if output.output_type == "error":
                    output.traceback = [f"{output.ename}: {output.evalue}"]
        return cell, resources


class SafeExecute(Execute):
    """nbgrader's Execute, but a dead kernel fails the running cell and every cell not run yet."""

    _running_index = -1
    _move_to: str | None = None

    def preprocess_cell(self, cell, resources, index):
        self._running_index = index
        if self._move_to:
            # A prestarted kernel was launched before nbgrader made the folder it grades in: move it there
            # first, so the notebook reads and writes files where nbgrader would have started it.
            move, self._move_to = self._move_to, None
            self.execute_cell(NotebookNode(cell_type="code", source=f"import os as _os; _os.chdir({move!r}); del _os",
                                           metadata={}, outputs=[]), index, store_history=False)
            self.nb.cells[index] = cell  # nbclient stores the cell it ran at `index`: keep it out of the notebook
        return super().preprocess_cell(cell, resources, index)

    def preprocess(self, nb, resources=None, km=None):
        self._running_index = -1
        self._move_to = None
        if km is None and PRESTARTED:
            km = PRESTARTED.pop()  # used once: a second notebook gets a kernel of its own
            self._move_to = ((resources or {}).get("metadata") or {}).get("path") or None
        try:
            return super().preprocess(nb, resources, km=km)
        except DeadKernelError:
            self._fail_from(nb, max(self._running_index, 0))
            return nb, resources

    @staticmethod
    def _fail_from(nb, first: int) -> None:
        for cell in nb.cells[first:]:
            if cell.cell_type != "code":
                continue
            cell.outputs = [*cell.get("outputs", []), NotebookNode(
                output_type="error",
                ename=KERNEL_DIED,
                evalue="the kernel died before this cell finished; it was not graded as passed",
                traceback=[f"{KERNEL_DIED}: the kernel died before this cell finished"],
            )]
