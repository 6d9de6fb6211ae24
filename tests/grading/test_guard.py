"""course.grading.guard in a real IPython shell (a subprocess each: its audit hook cannot be removed): it
undoes and reports what a student's code changed, and stays silent for an honest answer."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

GUARD_SCRIPT = r'''
import json, sys, tempfile
from pathlib import Path
from IPython.core.interactiveshell import InteractiveShell
from course.grading import guard

folder, student, test = sys.argv[1], sys.argv[2], sys.argv[3]
shell = InteractiveShell.instance()
source = Path(guard.__file__).read_text()
allowed = [tempfile.gettempdir(), "/dev"]  # as SafeExecute gives it
install = shell.run_cell(guard.install_code(source, "n0nce", folder, allowed, [sys.argv[4]]), silent=True)
assert install.success, install.error_in_exec
shell.run_cell("from course import check, check_that, check_raises", silent=True)

def call(method, *args):
    return json.loads(shell.ev(guard.guard_call("n0nce", method, *args)))

call("remember", ["check", "check_that", "check_raises"])
clean = call("before_test")
call("after_test")  # as the executor does after each test cell: the student's cell runs outside any test
shell.run_cell(student, silent=True)
call("before_test")
passed = shell.run_cell(test, silent=True).success
sys.stdout.write(json.dumps({"clean": clean, "passed": passed, "findings": call("report")}))
'''


def _guarded(tmp_path: Path, student: str, test: str = "check('add', add(2, 3), 5)") -> dict:
    folder = tmp_path / "submission"
    folder.mkdir(exist_ok=True)
    forbidden = tmp_path / "class"
    (forbidden / "solutions").mkdir(parents=True, exist_ok=True)
    (forbidden / "gradebook.db").write_text("")
    run = subprocess.run([sys.executable, "-c", GUARD_SCRIPT, str(folder), textwrap.dedent(student), test,
                          str(forbidden)], capture_output=True, text=True, cwd=folder, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_guard_is_silent_for_an_honest_answer(tmp_path):
    result = _guarded(tmp_path, """
        from pathlib import Path
        import tempfile
        Path('scratch.txt').write_text('mine')
        with tempfile.TemporaryDirectory() as folder:
            (Path(folder) / 'x').write_text('tmp is fine')
        def add(a, b):
            return a + b
    """)
    assert result == {"clean": [], "passed": True, "findings": []}


@pytest.mark.parametrize("student, reason", [
    ("check = check_that = check_raises = lambda *a, **k: True\ndef add(a, b): return 0",
     "'check', which the tests use, was rebound"),
    ("import course.grading.checks as c\nc._equal = lambda *a, **k: True\ndef add(a, b): return 0",
     "course.grading.checks._equal was replaced"),
    ("import course.grading.checks as c\nc.check.__code__ = (lambda *a, **k: True).__code__\ndef add(a, b): return 0",
     "the code of course.grading.checks.check was replaced"),
    ("import builtins\nbuiltins.isinstance = lambda *a: True\nclass E:\n    def __eq__(s, o): return True\n"
     "def add(a, b): return E()", "builtins.isinstance was replaced"),
    ("import sys, types\nfake = types.ModuleType('course.grading.checks')\n"
     "sys.modules['course.grading.checks'] = fake\ndef add(a, b): return 0",
     "sys.modules['course.grading.checks'] was replaced"),
    ("import ast\nclass Empty(ast.NodeTransformer):\n    def visit_Module(self, node):\n"
     "        return ast.Module(body=[], type_ignores=[])\nget_ipython().ast_transformers.append(Empty())\n"
     "def add(a, b): return 0", "shell hooks was changed"),
    ("get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)\ndef add(a, b): return 0",
     "shell hooks was changed"),
])
def test_guard_undoes_and_reports_a_forgery(tmp_path, student, reason):
    result = _guarded(tmp_path, student)
    assert result["clean"] == []
    assert result["passed"] is False  # the wrong answer fails: the guard put the course's helpers back
    assert any(reason in line for line in result["findings"]), result["findings"]


@pytest.mark.parametrize("student, reason", [
    ("open('../class/gradebook.db', 'rb').close()", "(the grader's files)"),
    ("import sqlite3\nsqlite3.connect('../class/gradebook.db').close()", "(the grader's files)"),
    ("import os\nos.listdir('../class/solutions')\nopen('../class/solutions/x', 'w').close()", "(the grader's files)"),
    ("import os, pathlib\np = pathlib.Path(os.environ.get('HOME', '/root')) / '.course-forgery-test'\n"
     "p.write_text('x'); p.unlink()", "outside its folder"),
    ("import gc\ngc.get_objects()", "gc.get_objects"),
])
def test_guard_reports_files_and_interpreter_games(tmp_path, student, reason):
    result = _guarded(tmp_path, student + "\ndef add(a, b): return a + b")
    assert result["passed"] is True  # nothing unearned here: only reported
    assert any(reason in line for line in result["findings"]), result["findings"]


# A test cell may count hmac.compare_digest calls with checks.compare_digest_calls(): a profile function in the
# threads it starts (a server's). That is no finding; a profiler or trace function of the student's still is,
# also one set around, or through, the course's helper.
COUNTING_TEST = """
import threading, hmac
from course.grading.checks import compare_digest_calls
with compare_digest_calls() as seen:
    worker = threading.Thread(target=lambda: add(2, 3) and hmac.compare_digest(b'a', b'b'))
    worker.start()
    worker.join()
check('one compare_digest call seen', len(seen), 1)
check('add', add(2, 3), 5)
"""
SPY = "import sys, threading\nfrom course.grading.checks import compare_digest_calls\nspy = lambda *a: None\n"


def test_the_test_cells_own_call_counter_is_no_finding(tmp_path):
    result = _guarded(tmp_path, "def add(a, b):\n    return a + b", COUNTING_TEST)
    assert result == {"clean": [], "passed": True, "findings": []}


@pytest.mark.parametrize("student, reason", [
    (SPY + "sys.setprofile(spy)\nsys.setprofile(None)", "called sys.setprofile()"),
    (SPY + "sys.settrace(spy)\nsys.settrace(None)", "called sys.settrace()"),
    (SPY + "threading.setprofile(spy)", "called threading.setprofile()"),
    (SPY + "threading.settrace(spy)", "called threading.settrace()"),
    (SPY + "with compare_digest_calls():\n    sys.setprofile(spy)\nsys.setprofile(None)", "called sys.setprofile()"),
    (SPY + "with compare_digest_calls():\n    threading.setprofile(spy)\n"
     "    threading.Thread(target=print).start()", "called sys.setprofile()"),
    (SPY + "import course.grading.checks as c\nc._count_compare_digest = spy", "_count_compare_digest was replaced"),
])
def test_a_students_profiler_is_noted_even_around_the_course_helper(tmp_path, student, reason):
    result = _guarded(tmp_path, student + "\ndef add(a, b):\n    return a + b", COUNTING_TEST)
    assert any(reason in line for line in result["findings"]), result["findings"]


@pytest.mark.parametrize("inside", [
    "sys.setprofile(spy)",  # a direct call inside the test's own block, from the student's function
    "threading.setprofile(spy)\n        worker = threading.Thread(target=print)\n        worker.start()\n"
    "        worker.join()",  # a thread of the student's, started with the student's hook
])
def test_a_profiler_the_students_code_sets_during_a_test_is_noted(tmp_path, inside):
    student = SPY + f"def add(a, b):\n    with compare_digest_calls():\n        {inside}\n    return a + b"
    result = _guarded(tmp_path, student, COUNTING_TEST)
    assert "called sys.setprofile()" in result["findings"], result["findings"]


# A test cell may count the lines of Python a function runs with checks.count_lines() (step 07 grades growth
# that way): a trace function, which is no finding; a trace function of the student's still is, also one
# passed to the course's own setter, and an entry forged into the counter's list is never called.
LINES_TEST = """
from course.grading.checks import count_lines
with count_lines() as lines:
    add(2, 3)
check('lines counted', lines.count > 0, True)
check('add', add(2, 3), 5)
"""
TRACER = "import sys\nimport course.grading.checks as c\nspy = lambda *a: spy\n"


def test_the_test_cells_own_line_counter_is_no_finding(tmp_path):
    result = _guarded(tmp_path, "def add(a, b):\n    x = a\n    return x + b", LINES_TEST)
    assert result == {"clean": [], "passed": True, "findings": []}


@pytest.mark.parametrize("student", [
    TRACER + "with c.count_lines():\n    pass",  # the course's counter, but in the student's own cell
    TRACER + "class B:\n    entry = ([0, -1], frozenset())\nc._lines_enter(B(), spy)\nsys.settrace(None)",
    TRACER + "def add(a, b):\n    c._lines_enter(type('B', (), {'entry': ([0, -1], frozenset())})(), spy)\n"
    "    return a + b",  # the student's tracer through the course's setter, during the test
    TRACER + "def add(a, b):\n    with c.count_lines():\n        sys.settrace(spy)\n    return a + b",
])
def test_a_students_tracer_is_noted_even_through_the_course_counter(tmp_path, student):
    if "def add" not in student:
        student += "\ndef add(a, b):\n    return a + b"
    result = _guarded(tmp_path, student, LINES_TEST)
    assert "called sys.settrace()" in result["findings"], result["findings"]


def test_an_entry_forged_into_the_line_counter_is_never_called(tmp_path):
    leak = tmp_path / "submission" / "leaked.txt"
    student = TRACER + textwrap.dedent(f"""
        import sys
        class Sneaky(list):
            def __setitem__(self, index, value):
                open({str(leak)!r}, 'w').write(repr(sys._getframe(2).f_code.co_filename))
        def add(a, b):
            c._COUNTING.append((Sneaky([0, -1]), frozenset()))
            return a + b
    """)
    result = _guarded(tmp_path, student, LINES_TEST)
    assert result["passed"] is True
    assert not leak.exists()


BRIEF_SCRIPT = r'''
import json, sys
from IPython.core.interactiveshell import InteractiveShell
from course.grading import guard

shell = InteractiveShell.instance()
source = open(guard.__file__).read()
seen = []
shell._showtraceback = lambda etype, evalue, stb: seen.append(len(stb))  # before the guard: its baseline
assert shell.run_cell(guard.install_code(source, "n0nce", sys.argv[1], [], [], sys.argv[2] == "brief"),
                      silent=True).success
call = lambda method: shell.ev(guard.guard_call("n0nce", method))
shell.run_cell("def deep():\n    raise ValueError('student')\ndef f():\n    deep()\nf()")  # a student's cell
call("before_test")
shell.run_cell("f()")  # a test cell calling the student's code
mode_in_test = shell.InteractiveTB.mode
call("after_test")
shell.run_cell("f()")
print(json.dumps({"frames": seen, "in_test": mode_in_test, "after": shell.InteractiveTB.mode}))
'''


@pytest.mark.parametrize("brief", [True, False], ids=["brief", "default"])
def test_brief_tests_give_a_test_cells_traceback_one_line_and_only_there(tmp_path, brief):
    """With brief_tests (course grade: nothing keeps more of it), a test cell's traceback is IPython's
    shortest; the student's cells before and after keep the full one, in the mode they had."""
    run = subprocess.run([sys.executable, "-c", BRIEF_SCRIPT, str(tmp_path), "brief" if brief else "full"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    full, test, after = seen["frames"]
    assert full > 1 and after == full and seen["after"] == "Context"
    assert (test == 1, seen["in_test"]) == ((True, "Minimal") if brief else (False, "Context"))
