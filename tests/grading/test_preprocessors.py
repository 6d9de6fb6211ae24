"""course.grading.preprocessors through nbgrader: forged submissions gain nothing unflagged, and a part whose
kernel ignores interrupts or dies fails alone while the rest is graded (``course grade`` and the classroom).

The exercise here is a small one laid out like the course's: a locked setup cell imports the check helpers,
and the test cells call them by name (the names a student's answer could shadow)."""

from __future__ import annotations

import csv
import html
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from factories import answer_with, make_course

from course.grading.grader import grade_notebook
from course.platform import authoring as a

pytestmark = pytest.mark.slow

STEM = "98-guarded"
SETUP = "from course import check, check_that, check_raises"
ADD_TESTS = '''"""add() adds two numbers."""
check("add(2, 3)", add(2, 3), 5)
### BEGIN HIDDEN TESTS
check("add(-1, 1)", add(-1, 1), 0)  # hidden-marker-7f3a
### END HIDDEN TESTS'''
HALF_TESTS = '''"""half() halves, and refuses what is not a number."""
check("half(4)", half(4), 2.0)
check_raises("half('x')", half, "x", exception=TypeError)'''
SOLUTION_ADD = "def add(a, b):\n    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION"
SOLUTION_HALF = "def half(x):\n    ### BEGIN SOLUTION\n    return x / 2\n    ### END SOLUTION"
HALF = "def half(x):\n    return x / 2"
WRONG_ADD = "def add(a, b):\n    return 0\n"


def _source() -> nbformat.NotebookNode:
    return a.notebook([
        a.markdown("# 98 · Guarded fixture"),
        a.locked_code(SETUP, "setup"),
        a.markdown("## Part A · add (3 points)"),
        a.answer(SOLUTION_ADD, "add"),
        a.tests(ADD_TESTS, "add_tests", 3),
        a.markdown("## Part B · half (2 points)"),
        a.answer(SOLUTION_HALF, "half"),
        a.tests(HALF_TESTS, "half_tests", 2),
    ])


@pytest.fixture(scope="module")
def guarded_course(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("guarded-course")
    make_course(root, STEM, _source())
    return root


@pytest.fixture
def learner(guarded_course, monkeypatch, tmp_path) -> Path:
    monkeypatch.setenv("BACKEND_COURSE_ROOT", str(guarded_course))
    copy = tmp_path / "learner" / STEM
    shutil.copytree(guarded_course / "exercises" / STEM, copy)
    notebook = copy / f"{STEM}.ipynb"
    answer_with(notebook, "half", HALF)
    return notebook


def _grade(notebook: Path, tmp_path: Path, **kwargs):
    return grade_notebook(STEM, notebook, cache_dir=tmp_path / "gradebooks", **kwargs)


# The add part is answered wrongly in every one of these; each tries to get its 3 points anyway.
FORGERIES = {
    "helpers redefined": WRONG_ADD + "check = check_that = check_raises = lambda *a, **k: True",
    "an object equal to anything": (
        "class Anything:\n    def __eq__(self, other):\n        return True\n    __hash__ = object.__hash__\n\n"
        "def add(a, b):\n    return Anything()"),
    "course.grading.checks patched": WRONG_ADD + (
        "import course.grading.checks as checks\nchecks._equal = lambda *a, **k: True"),
    "builtins patched through __import__": WRONG_ADD + (
        "b = __import__('builtins')\nb.isinstance = lambda *a, **k: True\nb.print = lambda *a, **k: None"),
    "sys.modules swapped": WRONG_ADD + (
        "import sys, types\nfake = types.ModuleType('course.grading.checks')\n"
        "fake.check = fake.check_that = fake.check_raises = lambda *a, **k: True\n"
        "sys.modules['course.grading.checks'] = fake\nimport course\ncourse.check = fake.check"),
    "every later cell emptied by an AST transformer": WRONG_ADD + (
        "import ast\nclass Empty(ast.NodeTransformer):\n    def visit_Module(self, node):\n"
        "        return ast.Module(body=[], type_ignores=[])\n"
        "get_ipython().ast_transformers.append(Empty())"),
}


@pytest.mark.parametrize("attack", sorted(FORGERIES))
def test_a_forgery_gains_nothing_and_is_flagged(learner, tmp_path, attack):
    answer_with(learner, "add", FORGERIES[attack])
    result = _grade(learner, tmp_path)
    assert result.parts[0].points == 0, result.parts[0]
    assert result.parts[1].passed, result.parts[1]  # the honest part keeps its marks
    assert result.review, "a forgery must be flagged"


def test_an_honest_submission_is_graded_in_full_and_not_flagged(learner, tmp_path):
    answer_with(learner, "add", "import operator\n\ndef add(a, b):\n    return operator.add(a, b)")
    result = _grade(learner, tmp_path)
    assert (result.score, result.max_score) == (5, 5)
    assert result.review == []


@pytest.mark.parametrize("loop", [
    "def add(a, b):\n    while True:\n        try:\n            while True:\n                pass\n"
    "        except:\n            continue",
    "def add(a, b):\n    while True:\n        try:\n            while True:\n                pass\n"
    "        except KeyboardInterrupt:\n            pass",
    "def add(a, b):\n    return sum(range(10**12))",
])
def test_a_part_that_ignores_interrupts_fails_alone_and_the_rest_is_graded(learner, tmp_path, loop):
    answer_with(learner, "add", loop)
    result = _grade(learner, tmp_path, timeout=2)
    assert result.parts[0].points == 0
    assert result.parts[0].message.startswith("timed out after 2 s")
    assert "restarted" in result.parts[0].message
    assert result.parts[1].passed and result.score == 2


def test_an_answer_cell_that_hangs_fails_its_part_and_the_next_part_is_graded(learner, tmp_path):
    answer_with(learner, "add", "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass")
    result = _grade(learner, tmp_path, timeout=2)
    assert result.parts[0].points == 0 and "restarted" in result.parts[0].message
    assert result.parts[1].passed and result.score == 2


def test_a_kernel_killed_by_a_signal_fails_that_part_only(learner, tmp_path):
    answer_with(learner, "add", "import os\n\ndef add(a, b):\n    os.kill(os.getpid(), 9)")
    result = _grade(learner, tmp_path, timeout=5)
    assert result.parts[0].points == 0 and "kernel died" in result.parts[0].message
    assert result.parts[1].passed and result.score == 2


def test_a_later_cell_cannot_read_the_hidden_tests_back(learner, tmp_path):
    """tests/files/attacks/peek_hidden_tests.py: set up in the first answer cell, it looks in the second
    (after the first test cell) through every route it knows and prints what it found; the feedback shows
    none of the hidden test, and the honest answers keep their marks."""
    attack = (Path(__file__).resolve().parents[1] / "files" / "attacks" / "peek_hidden_tests.py").read_text()
    first, later = attack.split("# ---- in a later answer cell ----")
    answer_with(learner, "add", first + "\n\ndef add(a, b):\n    return a + b")
    answer_with(learner, "half", HALF + "\n\n" + later)
    result = _grade(learner, tmp_path, feedback_to=tmp_path / "feedback")
    assert (result.score, result.max_score) == (5, 5), result.parts
    page = html.unescape(re.sub(r"<[^>]+>", "", Path(result.feedback).read_text(encoding="utf-8")))
    assert re.search(r"ATTACK-RAN peek_hidden_tests \d+ things seen", page), page[-3000:]  # it ran to its end
    assert "PEEK In | def add(a, b):" in page  # and saw the student's own cells
    for hidden in ("hidden-marker-7f3a", "add(-1, 1), 0)", "BEGIN HIDDEN TESTS"):
        assert hidden not in page, [line for line in page.splitlines() if hidden in line][:3]
    assert result.review  # its callbacks and transformer are reported


@pytest.mark.parametrize("sandboxed", [False, True], ids=["no sandbox", "sandbox"])
def test_files_a_subprocess_writes_outside_the_folder_are_flagged_at_run_time(learner, tmp_path, monkeypatch,
                                                                             sandboxed):
    """tests/files/attacks/subprocess_write.py writes through `sh` (which no audit hook sees), called so that
    the static check misses it: without the sandbox the file above the notebook's folder is found, in the
    sandbox the one in the folder it shares with the grader (the folder above is read-only there)."""
    from course.grading import sandbox

    if sandboxed and not sandbox.available()[0]:
        pytest.skip(sandbox.available()[1])
    monkeypatch.setenv("COURSE_SANDBOX", "on" if sandboxed else "off")
    attack = (Path(__file__).resolve().parents[1] / "files" / "attacks" / "subprocess_write.py").read_text()
    answer_with(learner, "add", attack + "\n\ndef add(a, b):\n    return a + b")
    result = _grade(learner, tmp_path)
    assert (result.score, result.max_score) == (5, 5), result.parts  # the honest answers keep their marks
    found = [note for note in result.review if "course-attack-subprocess.txt was created while the notebook ran"
             in note]
    assert len(found) == 1, result.review
    assert ("/run/" in found[0]) is sandboxed and ("autograded" in found[0]) is not sandboxed, found


def test_the_guard_calls_due_between_two_cells_go_in_one_request_in_order(learner, tmp_path, monkeypatch):
    """What the guard does after a cell (a setup cell's names, a test's clean-up) is sent with the next call,
    before the next cell runs: one round trip between two cells, the same calls in the same order."""
    from course.grading import guard, preprocessors

    log = []
    monkeypatch.setattr(guard, "guard_call", lambda nonce, method, *args, _real=guard.guard_call: (
        log.append([method]), _real(nonce, method, *args))[1])
    monkeypatch.setattr(guard, "guard_calls", lambda nonce, steps, _real=guard.guard_calls: (
        log.append([step[0] for step in steps]), _real(nonce, steps))[1])
    original = preprocessors.SafeExecute.preprocess_cell

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code":
            log.append(cell.metadata["nbgrader"]["grade_id"])
        return original(self, cell, resources, index)

    monkeypatch.setattr(preprocessors.SafeExecute, "preprocess_cell", preprocess_cell)
    answer_with(learner, "add", "def add(a, b):\n    return a + b")
    result = _grade(learner, tmp_path)
    assert (result.score, result.review) == (5, []), (result.parts, result.review)
    assert log == ["setup", ["remember"], "add", ["before_test"], "add_tests", ["after_test"], "half",
                   ["before_test"], "half_tests", ["after_test", "report"]]


def test_grading_closes_every_kernel_client_it_opened(learner, tmp_path, monkeypatch):
    """A kernel client dropped with its channels running made jupyter_client log "Could not destroy zmq
    context" when it was garbage-collected (the prestarted kernel's client, and the one before a restart)."""
    import gc

    from jupyter_client.client import KernelClient

    dropped_open = []
    original = KernelClient.__del__

    def watched(client):
        if client.channels_running:
            dropped_open.append(repr(client))
        original(client)

    monkeypatch.setattr(KernelClient, "__del__", watched)
    answer_with(learner, "add", "import os\n\ndef add(a, b):\n    os.kill(os.getpid(), 9)")  # one restart
    assert _grade(learner, tmp_path, timeout=5).score == 2
    gc.collect()
    still_open = [repr(o) for o in gc.get_objects() if isinstance(o, KernelClient) and o.channels_running]
    assert dropped_open + still_open == []


# -- the same through the classroom: summary, gradebook, export -------------------------------------------

def test_classroom_autograde_flags_forgeries_in_summary_gradebook_and_export(guarded_course, monkeypatch, tmp_path):
    from nbgrader.api import Gradebook

    from course.classroom import core as classroom
    from course.classroom.autograde import autograde

    monkeypatch.setenv("BACKEND_COURSE_ROOT", str(guarded_course))
    room = classroom.init(tmp_path / "class")
    classroom.release(room, STEM)
    answers = {"honest": "def add(a, b):\n    return b + a", "helpers": FORGERIES["helpers redefined"],
               "equal": FORGERIES["an object equal to anything"], "modules": FORGERIES["sys.modules swapped"],
               "looping": "def add(a, b):\n    while True:\n        try:\n            pass\n        except:\n"
                          "            continue"}
    for student, add in answers.items():
        folder = room.root / "submitted" / student / STEM
        shutil.copytree(guarded_course / "exercises" / STEM, folder)
        answer_with(folder / f"{STEM}.ipynb", "add", add)
        answer_with(folder / f"{STEM}.ipynb", "half", HALF)
        (folder / "timestamp.txt").write_text("2025-03-01 10:00:00.000000 UTC")
    report = {s.student: s for s in autograde(room, STEM, jobs=2, timeout=2).students}

    assert report["honest"].score == 5 and not report["honest"].review
    assert report["looping"].status == "graded" and report["looping"].score == 2
    assert any("timed out" in note for note in report["looping"].notes)
    for forger in ("helpers", "equal", "modules"):
        assert report[forger].score == 2, forger  # part B only: part A's forgery gained nothing
        assert report[forger].review and any(n.startswith("needs review: ") for n in report[forger].notes)
    with Gradebook(room.db_url, room.course_id) as gradebook:
        for student in answers:
            notebook = gradebook.find_submission_notebook(STEM, STEM, student)
            flagged = student in ("helpers", "equal", "modules")
            assert notebook.flagged is flagged, student
            assert all(g.needs_manual_grade for g in notebook.grades) is flagged, student
    long_path, _, _ = classroom.export(room)
    rows = {row["student_id"]: row for row in csv.DictReader(long_path.open(encoding="utf-8"))}
    assert rows["honest"]["needs_review"] == ""
    assert "rebinds 'check'" in rows["helpers"]["needs_review"]
    assert "always returns True" in rows["equal"]["needs_review"]
    assert "sys.modules" in rows["modules"]["needs_review"]


def test_a_resubmission_that_cannot_be_graded_does_not_keep_the_old_score(guarded_course, monkeypatch, tmp_path):
    """A kernel that cannot be restarted (here: no restart allowed) leaves the submission not graded; the
    earlier submission's 5 points are not kept against the new timestamp: zero, flagged, needs review."""
    from nbgrader.api import Gradebook

    from course.classroom import core as classroom
    from course.classroom.autograde import autograde

    monkeypatch.setenv("BACKEND_COURSE_ROOT", str(guarded_course))
    room = classroom.init(tmp_path / "class")
    with open(room.root / classroom.CONFIG_NAME, "a", encoding="utf-8") as config:
        config.write("c.SafeExecute.max_restarts = 0\n")
    room = classroom.Classroom.open(room.root)
    classroom.release(room, STEM)
    folder = room.root / "submitted" / "sam" / STEM

    def submit(add: str, when: str) -> None:
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(guarded_course / "exercises" / STEM, folder)
        answer_with(folder / f"{STEM}.ipynb", "add", add)
        answer_with(folder / f"{STEM}.ipynb", "half", HALF)
        (folder / "timestamp.txt").write_text(f"{when} UTC")

    submit("def add(a, b):\n    return a + b", "2025-03-01 10:00:00.000000")
    (first,) = autograde(room, STEM, timeout=2).students
    assert (first.status, first.score) == ("graded", 5)
    submit("def add(a, b):\n    return sum(range(10**12))", "2025-03-02 10:00:00.000000")
    (second,) = autograde(room, STEM, timeout=2).students
    assert second.status == "not graded" and second.score is None
    assert any("could not be restarted" in note for note in second.notes)
    with Gradebook(room.db_url, room.course_id) as gradebook:
        submission = gradebook.find_submission(STEM, "sam")
        assert submission.timestamp.day == 2 and submission.score == 0
        assert all(nb.flagged for nb in submission.notebooks)
    long_path, _, _ = classroom.export(room)
    (row,) = list(csv.DictReader(long_path.open(encoding="utf-8")))
    assert row["score"] == "0.0" and row["needs_review"]
