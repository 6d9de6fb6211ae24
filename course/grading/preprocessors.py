"""The course's glue to nbgrader: its configuration, and the preprocessors nbgrader lacks.

- :func:`nbgrader_config` loads ``nbgrader_config.py`` from the course root, rooted in any folder.
- :class:`HideTestTracebacks` keeps hidden test lines out of feedback: a traceback quotes the line that
  failed, which may be a hidden one, so test-cell tracebacks are cut to ``Name: message``.
- :class:`SafeExecute` is nbgrader's executor with three more duties:

  1. *a part that hangs or kills the kernel fails alone*: a cell whose kernel ignores the interrupt after the
     timeout (``except: continue``, ``sum(range(10**12))``) or dies (``os.kill(os.getpid(), 9)``) gets an
     error saying so; the kernel is restarted, the setup and answer cells before the next part run again
     (silently), and grading goes on. A part whose answer cell was the one that hung fails with it. After
     :data:`MAX_RESTARTS` restarts, or when a restart fails, the remaining cells fail ("not graded").
  2. *the tests cannot be switched off quietly*: before the first cell, nothing of the student's having
     run yet, it installs the guard of :mod:`course.grading.guard` in the kernel; after each locked setup
     cell the guard remembers what that cell bound; before each test cell it restores the check helpers
     and those names, silently. The guard's and the static check's findings go to
     ``resources["course_review"]``. Test cells run without history, and after each one the guard clears
     what would let a later cell read its hidden tests back (``linecache``, the last traceback). The guard
     calls due between two cells go to the kernel in one request, before the next cell.
  3. it runs on a kernel started in advance (:data:`course.grading.nbconfig.PRESTARTED`), so the kernel
     boots while nbgrader is still being imported.

- :class:`FlagForReview` (after nbgrader's SaveAutoGrades) marks a submission with findings: every grade of
  the notebook ``needs_manual_grade`` and the notebook ``flagged`` in the gradebook (formgrader shows both),
  and the reasons in the autograded notebook's metadata (``course.needs_review``), where ``course grade``,
  the classroom's autograde summary and its export read them.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

from jupyter_core.utils import run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import ensure_async
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from traitlets import Bool, Integer, List, Unicode

from course.grading import guard, tamper
from course.grading.nbconfig import GAVE_UP, KERNEL_DIED, KERNEL_RESTARTED, PRESTARTED, nbgrader_config

__all__ = ["nbgrader_config", "HideTestTracebacks", "SafeExecute", "FlagForReview", "KERNEL_DIED",
           "KERNEL_RESTARTED", "MAX_RESTARTS", "GAVE_UP"]

MAX_RESTARTS = 3
REVIEW_RESOURCE = "course_review"


def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _is_test_cell(cell) -> bool:
    meta = _meta(cell)
    return bool(meta.get("grade")) and not meta.get("solution")


def _is_answer_cell(cell) -> bool:
    return bool(_meta(cell).get("solution"))


def _error(ename: str, message: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=message, traceback=[f"{ename}: {message}"])


class HideTestTracebacks(NbGraderPreprocessor):
    """Cut every test cell's tracebacks to their last line (the exception's name and message)."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and _is_test_cell(cell):
            for output in cell.get("outputs", []):
                if output.output_type == "error":
                    output.traceback = [f"{output.ename}: {output.evalue}"]
        return cell, resources


class SafeExecute(Execute):
    """nbgrader's Execute; a part that hangs or kills the kernel fails alone, and the tests run with the
    course's own helpers, watched by the guard (see the module docstring)."""

    guard_allowed = List(Unicode(), help="Folders besides the notebook's where the kernel may write files "
                                         "without being reported (the temporary folder is always one).").tag(config=True)
    guard_forbidden = List(Unicode(), help="Folders the kernel must not open (the class folder, the "
                                           "gradebook's scratch, the solutions).").tag(config=True)
    max_restarts = Integer(MAX_RESTARTS, help="Kernel restarts after which the remaining cells fail.").tag(config=True)
    brief_test_tracebacks = Bool(False, help="A failed test cell's traceback is IPython's shortest (the error's "
                                             "name and message): for a run that keeps no more of it (course "
                                             "grade: the feedback page cuts it to that, HideTestTracebacks; "
                                             "the autograded notebook is deleted).").tag(config=True)
    watch_unchanged = List(Unicode(), help="Folders grading must leave as they were, whatever wrote to them (a "
                                           "subprocess too), checked after the run; default: guard_forbidden. "
                                           "In the sandbox, the folder it shares with the grader.").tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        from nbconvert.preprocessors.execute import NotebookClient

        resources = resources if resources is not None else {}
        self._path = ((resources.get("metadata") or {}).get("path")) or None
        moved = False
        if km is None and PRESTARTED:
            km = PRESTARTED.pop()  # used once: a second notebook gets a kernel of its own
            moved = True  # launched before nbgrader made the folder it grades in: move it there first
        NotebookClient.__init__(self, nb, km)  # as ExecutePreprocessor.preprocess does
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        self._findings: list[str] = []
        self._nonce = secrets.token_hex(8)
        self._restarts = 0
        self._guarded = False
        self._pending: list[tuple] = []  # guard calls made with the next one, before the next cell runs
        self._protected: set[str] = set()
        trusted = self._source_cells(resources)
        self._findings.extend(tamper.static_findings(nb, trusted))
        self._trusted_ids = {k for k, v in trusted.items()}
        try:
            with self.setup_kernel():
                info = self.wait_for_reply(self.kc.kernel_info())
                self.nb.metadata["language_info"] = info["content"]["language_info"]
                watched = self._watched()
                before = _files(watched, self._path)
                self._begin(chdir=moved)
                self._run_cells(resources)
                self._collect("report")
                self._compare_files(watched, before)
        finally:
            # nbclient stops its client only for a kernel it started itself; a prestarted kernel's client kept
            # its channels running, and when it was garbage-collected jupyter_client logged "Could not destroy
            # zmq context". Closed here, whoever started the kernel (the grader stops the kernel after).
            self._close_client()
        self.set_widgets_metadata()
        resources[REVIEW_RESOURCE] = list(dict.fromkeys(self._findings))
        return self.nb, self.resources

    async def async_start_new_kernel_client(self):
        """nbclient's, with a quicker readiness check (:func:`_wait_for_ready`)."""
        from nbclient.util import run_hook

        self.kc = self.km.client()
        try:
            await ensure_async(self.kc.start_channels())
            await _wait_for_ready(self.kc, self.startup_timeout)
        except Exception:
            await self._async_cleanup_kernel()
            raise
        self.kc.allow_stdin = False
        await run_hook(self.on_notebook_start, notebook=self.nb)
        return self.kc

    start_new_kernel_client = run_sync(async_start_new_kernel_client)  # nbclient binds its own at class level

    # -- the cells, in order --------------------------------------------------------------------------------

    def _run_cells(self, resources) -> None:
        broken: dict[int, str] = {}  # answer cells that hung or killed the kernel -> why
        part_answers: list[int] = []
        previous_test = False
        index = 0
        cells = self.nb.cells
        while index < len(cells):
            cell = cells[index]
            if cell.cell_type != "code":
                self.preprocess_cell(cell, resources, index)  # runs nothing; nbclient's on_cell_start still sees it
                index += 1
                continue
            if _is_answer_cell(cell):
                if previous_test:
                    part_answers = []
                part_answers.append(index)
            previous_test = _is_test_cell(cell)
            reason = next((broken[i] for i in part_answers if i in broken), None)
            if previous_test and reason:
                cell.outputs = [_error(KERNEL_RESTARTED, reason)]  # its answer is what hung: not run again
                index += 1
                continue
            # The guard's calls due since the last cell ran (after a test, what a cell bound) go in one request
            # with this one, before this cell: the same calls in the same order, one round trip.
            if previous_test:
                self._collect("before_test")
            else:
                self._flush()
            try:
                self.preprocess_cell(cell, resources, index)
            except (CellTimeoutError, DeadKernelError) as error:
                why = self._restart_message(error)
                cells[index].outputs = [*cells[index].get("outputs", []), _error(KERNEL_RESTARTED, why)]
                if _is_answer_cell(cell):
                    broken[index] = why
                if not self._restart(upto=index, skip=set(broken)):
                    self._fail_from(self.nb, index + 1, GAVE_UP)
                    return
            else:
                if previous_test:
                    self._defer("after_test")
                self._remember(cells[index])
            index += 1

    def _remember(self, cell) -> None:
        """After a trusted cell: the guard notes what it bound that the tests use. A setup cell's names become
        the tests' (a student's cell rebinding one is reported, and undone); a test cell may rebind them."""
        if self._is_trusted_setup(cell):
            names = tamper.setup_names([cell.source])
            self._protected |= names
        elif _is_test_cell(cell) and _meta(cell).get("grade_id") in self._trusted_ids:
            # A test cell may rebind them (in a loop, say): what it left is the tests'.
            names = tamper.bound_names(cell.source) & self._protected
        else:
            return
        if names:
            self._defer("remember", sorted(names))

    def preprocess_cell(self, cell, resources, index):
        """Execute one cell; a test cell without history (no ``In``/``_ih``/``Out`` entry: a later cell of the
        student's must not read the hidden tests back), other cells as nbconvert runs them."""
        self._running_index = index
        self._check_assign_resources(resources)
        cell = self.execute_cell(cell, index, store_history=not _is_test_cell(cell))
        return cell, self.resources

    def _restart_message(self, error) -> str:
        if isinstance(error, DeadKernelError):
            return ("the kernel died while this cell ran (a crash, os._exit, a signal, or memory exhausted); "
                    "it was restarted and the remaining parts graded")
        return (f"timed out after {self.timeout} s; the kernel did not stop, so it was restarted "
                "(an infinite loop that ignores interrupts?)")

    def _is_trusted_setup(self, cell) -> bool:
        meta = _meta(cell)
        return bool(meta.get("locked")) and not meta.get("grade") and not meta.get("solution") and \
            meta.get("grade_id") in self._trusted_ids

    # -- the kernel: first cell, hidden calls, restarts ---------------------------------------------------

    def _begin(self, chdir: bool) -> None:
        """Move the kernel into the notebook's folder and install the guard; nothing of the student's ran yet."""
        if chdir and self._path:
            self._hidden(f"import os as _os; _os.chdir({self._path!r}); del _os")
        folder = self._path or "."
        allowed = [tempfile.gettempdir(), "/tmp", "/dev", *self.guard_allowed,
                   *(str(Path.home() / sub) for sub in (".cache", ".config/matplotlib", ".matplotlib",
                                                        ".local/share/jupyter", ".ipython"))]
        forbidden = list(self.guard_forbidden) or self._default_forbidden()
        source = Path(guard.__file__).read_text(encoding="utf-8")
        reply = self._hidden(guard.install_code(source, self._nonce, folder, allowed, forbidden,
                                                self.brief_test_tracebacks))
        self._guarded = bool(reply) and reply.get("status") == "ok"
        if not self._guarded:
            self._findings.append("the course's integrity guard could not be installed in the kernel "
                                  f"({(reply or {}).get('ename', 'no reply')}); the run was not watched")

    def _watched(self) -> list[Path]:
        """The folders the student's code must leave unchanged (see :attr:`watch_unchanged`)."""
        box = getattr(self.km, "sandbox", None)
        if box is not None and box.base is not None:
            return [box.run]  # the rest of the sandbox is private, or read-only
        return [Path(p) for p in (self.watch_unchanged or self.guard_forbidden or self._default_forbidden())]

    def _compare_files(self, watched: list[Path], before: dict) -> None:
        """Files created, changed or removed in the watched folders while the notebook ran: the guard's audit
        hook sees what Python writes, this also what a subprocess (``os.system``, ``subprocess.run``) did."""
        after = _files(watched, self._path)
        changed = sorted(path for path in before.keys() | after.keys() if before.get(path) != after.get(path))
        said = " ".join(self._findings)
        for path in changed[:10]:
            if path in said:
                continue  # the guard saw the same write
            what = "created" if path not in before else "removed" if path not in after else "changed"
            self._findings.append(f"{path} was {what} while the notebook ran, outside its folder (a subprocess "
                                  "or other code the guard does not see)")

    def _default_forbidden(self) -> list[str]:
        from course.platform import paths

        forbidden = [str(paths.solutions_dir())]
        if self._path and Path(self._path).parent.parent.name == "autograded":
            forbidden.append(str(Path(self._path).parents[2]))  # the course folder of plain nbgrader
        return forbidden

    def _hidden(self, code: str, expression: str | None = None) -> dict | None:
        """Run ``code`` in the kernel with no output kept and nothing in the history; the reply's content."""
        msg_id = run_sync(ensure_async)(self.kc.execute(
            code, silent=True, store_history=False, allow_stdin=False, stop_on_error=False,
            user_expressions={"r": expression} if expression else None))
        reply = self.wait_for_reply(msg_id)
        return reply["content"] if reply else None

    def _defer(self, method: str, *args) -> None:
        """A guard call made with the next one (:meth:`_collect`, :meth:`_flush`), before the next cell runs."""
        if self._guarded:
            self._pending.append((method, *args))

    def _flush(self) -> None:
        """Make the deferred guard calls now."""
        if self._pending:
            self._collect(*self._pending.pop())

    def _collect(self, method: str, *args) -> None:
        """Call the guard, after the deferred calls, and keep its findings; a guard that cannot answer is a
        finding itself."""
        steps, self._pending = [*self._pending, (method, *args)], []
        if not self._guarded:
            return
        try:
            reply = self._hidden("pass", guard.guard_calls(self._nonce, steps) if len(steps) > 1
                                 else guard.guard_call(self._nonce, method, *args))
        except DeadKernelError:
            return  # the next cell finds the kernel dead and restarts it
        result = ((reply or {}).get("user_expressions") or {}).get("r") or {}
        found = guard.parse_findings(((result.get("data") or {}).get("text/plain")) or "")
        if found is None:
            if reply is not None:
                self._findings.append(f"the course's integrity guard did not answer ({result.get('ename') or 'no reply'}: "
                                      f"{result.get('evalue', '')[:80]}); something in the kernel changed it")
            return
        self._findings.extend(f for f in found if f not in self._findings)

    def _restart(self, upto: int, skip: set[int]) -> bool:
        """A new kernel, with the guard and every setup and answer cell before ``upto`` run again."""
        self._restarts += 1
        self._pending = []  # calls meant for the kernel that is gone
        if self._restarts > self.max_restarts:
            return False
        try:
            run_sync(ensure_async)(self.km.restart_kernel(now=True))
            self._close_client()
            self.start_new_kernel_client()
            self._begin(chdir=bool(self._path))
            for index, cell in enumerate(self.nb.cells[:upto]):
                if cell.cell_type != "code" or index in skip or _is_test_cell(cell) or not cell.source.strip():
                    continue
                reply = self._hidden(cell.source)
                if reply is None:
                    return False  # it hangs again: give up on the rest rather than loop
                self._remember(cell)
                self._flush()  # before the next cell runs again
        except (CellTimeoutError, DeadKernelError, RuntimeError, OSError):
            return False
        return True

    def _close_client(self) -> None:
        """Stop the kernel client's channels and destroy the ZeroMQ context it made (the kernel is the manager's)."""
        client, self.kc = self.kc, None
        if client is None:
            return
        client.stop_channels()
        if client._created_context and not client.context.closed:
            client.context.destroy(linger=100)

    # -- helpers ------------------------------------------------------------------------------------------

    @staticmethod
    def _source_cells(resources) -> dict[str, str]:
        """The assignment's locked cells from the gradebook (the course's own code), by grade_id."""
        info = (resources or {}).get("nbgrader") or {}
        if not {"db_url", "assignment", "notebook"} <= set(info):
            return {}
        from nbgrader.api import Gradebook, MissingEntry

        from course.grading.nbconfig import quiet

        try:
            with quiet(), Gradebook(info["db_url"]) as gradebook:
                notebook = gradebook.find_notebook(info["notebook"], info["assignment"])
                return {cell.name: cell.source for cell in notebook.source_cells if cell.locked}
        except MissingEntry:
            return {}

    @staticmethod
    def _fail_from(nb, first: int, why: str | None = None) -> None:
        for cell in nb.cells[first:]:
            if cell.cell_type != "code":
                continue
            cell.outputs = [*cell.get("outputs", []), _error(KERNEL_RESTARTED, why) if why else _error(
                KERNEL_DIED, "the kernel died before this cell finished; it was not graded as passed")]


SKIP_FOLDERS = {"autograded", "feedback", ".ipynb_checkpoints", "__pycache__"}  # written by the grader meanwhile
async def _wait_for_ready(client, timeout: float) -> None:
    """jupyter_client's ``wait_for_ready`` (a kernel_info reply on the shell channel, then a message on IOPub,
    which proves the subscription works, else ask again), but the IOPub messages left over are drained without
    waiting for 0.2 s of silence, as jupyter_client does: that wait cost every grading 0.2 s on its critical
    path. What is drained is only the kernel_info's status messages, and nbclient ignores any message whose
    parent is not the cell it runs, so a late one changes nothing."""
    import time
    from queue import Empty

    deadline = time.monotonic() + timeout
    while True:
        client.kernel_info()
        try:
            reply = await ensure_async(client.shell_channel.get_msg(timeout=1))
        except Empty:
            reply = None
        if reply is not None and reply["msg_type"] == "kernel_info_reply":
            try:
                await ensure_async(client.iopub_channel.get_msg(timeout=0.2))
            except Empty:
                pass
            else:
                client._handle_kernel_info_reply(reply)
                break
        if not await ensure_async(client.is_alive()):
            raise RuntimeError("Kernel died before replying to kernel_info")
        if time.monotonic() > deadline:
            raise RuntimeError(f"Kernel didn't respond in {timeout:.0f} seconds")
    while True:  # drain what is already there
        try:
            await ensure_async(client.iopub_channel.get_msg(timeout=0.01))
        except Empty:
            break


# The grading parent writes these meanwhile (the class gradebook, nbgrader's log); in the sandbox's shared folder
# the kernel's sockets, its connection file and the watchdog's note are the sandbox's own.
SKIP_FILES = (".nbgrader.log", "gradebook.db", "kernel.json", "wall-time")


def _files(folders: list[Path], own: str | None) -> dict[str, tuple]:
    """path -> (size, mtime, inode) of every file under ``folders`` but the notebook's own folder ``own``,
    the other graded folders (other students', graded at the same time) and the grader's outputs."""
    import stat as stat_module

    own_path = Path(own).resolve() if own else None
    chain = {str(p) for p in own_path.parents} if own_path else set()

    def keep(folder: str, name: str) -> bool:
        path = os.path.join(folder, name)
        if own_path is not None and path == str(own_path):
            return False
        if path in chain:
            return True  # down to the notebook's folder: "../x" lands here
        inside_graded = folder in chain and "autograded" in Path(folder).parts
        return name not in SKIP_FOLDERS and not inside_graded

    found = {}
    for top in folders:
        for folder, subfolders, names in os.walk(os.path.realpath(top)):
            subfolders[:] = [name for name in subfolders if keep(folder, name)]
            for name in names:
                path = os.path.join(folder, name)
                try:
                    info = os.lstat(path)
                except OSError:
                    continue
                if not name.startswith(SKIP_FILES) and not stat_module.S_ISSOCK(info.st_mode):
                    found[path] = (info.st_size, info.st_mtime_ns, info.st_ino)
    return found


class FlagForReview(NbGraderPreprocessor):
    """A submission the static check or the guard reported: ``needs_manual_grade`` on its grades and
    ``flagged`` on its notebook in the gradebook, the reasons in the notebook's metadata."""

    def preprocess(self, nb, resources):
        findings = (resources or {}).get(REVIEW_RESOURCE) or []
        if not findings:
            return nb, resources
        tamper.mark_for_review(nb, findings)
        info = resources.get("nbgrader") or {}
        if {"db_url", "assignment", "notebook", "student"} <= set(info):
            from nbgrader.api import Gradebook

            from course.grading.nbconfig import quiet

            with quiet(), Gradebook(info["db_url"]) as gradebook:
                notebook = gradebook.find_submission_notebook(info["notebook"], info["assignment"], info["student"])
                notebook.flagged = True
                for grade in notebook.grades:
                    grade.needs_manual_grade = True
                gradebook.db.commit()
        return nb, resources
