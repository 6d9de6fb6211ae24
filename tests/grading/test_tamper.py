"""course.grading.tamper: the static look at a submission's cells, and the guard that runs in its kernel."""

from __future__ import annotations

import pytest

from course.grading import tamper
from course.platform import authoring as a
from course.platform import manifest

SETUP = "from course import check, check_that, check_raises\nfrom course.steps import step02_web_concepts as web"
TESTS = 'check("add", add(2, 3), 5)'


def _findings(answer: str, *, extra_cells=()) -> list[str]:
    nb = a.notebook([
        a.locked_code(SETUP, "setup"),
        a.answer(answer, "add"),
        a.tests(TESTS, "add_tests", 1),
        *extra_cells,
    ])
    trusted = {"setup": SETUP, "add_tests": TESTS}
    return tamper.static_findings(nb, trusted)


@pytest.mark.parametrize(("answer", "flagged"), [
    ("import time\nimport sqlite3\nfrom pathlib import Path\n\ndef add(a, b):\n    return a + b", []),
    ("import os as time\n\ndef add(a, b):\n    return a + b", ["rebinds 'time'"]),
    ("import time as sqlite3\n\ndef add(a, b):\n    return a + b", ["rebinds 'sqlite3'"]),
    ("from os import path as Path\n\ndef add(a, b):\n    return a + b", ["rebinds 'Path'"]),
    ("from mymodule import time\n\ndef add(a, b):\n    return a + b", ["rebinds 'time'"]),
    ("time = None\n\ndef add(a, b):\n    return a + b", ["rebinds 'time'"]),
])
def test_importing_what_the_setup_imported_again_is_not_a_rebinding(answer, flagged):
    """`import time` in an answer, as the setup did, binds the same module again (05c's learners write it at the
    top of their answer); the same name bound to anything else still is one."""
    setup = "import time\nimport sqlite3\nfrom pathlib import Path\n" + SETUP
    nb = a.notebook([a.locked_code(setup, "setup"), a.answer(answer, "add"), a.tests(TESTS, "add_tests", 1)])
    found = tamper.static_findings(nb, {"setup": setup, "add_tests": TESTS})
    assert [f.split(" ", 3)[3].split(",")[0] for f in found] == flagged, found


@pytest.mark.parametrize("answer", [
    "def add(a, b):\n    return a + b",
    "import math\nimport json\n\ndef add(a, b):\n    total = sum((a, b))\n    return int(math.fsum([total]))",
    "import sqlite3\nconn = sqlite3.connect(':memory:')\nconn.execute('select 1')\ndef add(a, b):\n    return a + b",
    "from pathlib import Path\nPath('notes.txt').write_text('ok')\ndef add(a, b):\n    return a + b",
    "from course import check\n\ndef add(a, b):\n    def check(x):\n        return x\n    return check(a) + b",
    "class Point:\n    def __eq__(self, other):\n        return (self.x, self.y) == (other.x, other.y)\n"
    "def add(a, b):\n    return a + b",
    "%%time\ndef add(a, b):\n    return a + b",
    "ROUTES = {'list': ('GET', '/books')}\ndef add(a, b):\n    return a + b",
])
def test_honest_answers_are_not_flagged(answer):
    assert _findings(answer) == []


@pytest.mark.parametrize("answer, reason", [
    ("check = check_that = check_raises = lambda *a, **k: True", "rebinds 'check'"),
    ("def check(*a, **k):\n    return True", "rebinds 'check'"),
    ("def f():\n    global check_raises\n    check_raises = print", "rebinds 'check_raises' (global)"),
    ("web.call_wsgi = lambda *a, **k: None", "changes web.call_wsgi"),
    ("import course.grading.checks as c\nc._equal = lambda *a: True", "imports course.grading.checks"),
    ("import course\ncourse.check = print", "changes course.check"),
    ("setattr(__import__('course'), 'check', print)", "uses __import__"),
    ("import builtins\nbuiltins.print = lambda *a, **k: None", "imports builtins"),
    ("__builtins__.print = None", "uses __builtins__"),
    ("import sys\nsys.modules['course'] = None", "uses sys.modules"),
    ("import gc\ngc.get_objects()", "imports gc"),
    ("import ctypes", "imports ctypes"),
    ("exec('x = 1')", "calls exec()"),
    ("f = eval", "uses"),  # any mention of a dynamic-code builtin as a bare name is not needed either
    ("check.__code__ = (lambda *a: True).__code__", "uses check.__code__"),
    ("import sys\nsys._getframe(1).f_globals['check'] = print", "uses sys._getframe"),
    ("class Forged:\n    def __eq__(self, other):\n        return True\n", "always returns True"),
    ("class Forged:\n    __eq__ = lambda self, other: True\n", "always returns True"),
    ("class Loud(int):\n    def __eq__(self, other):\n        return int(self) % 2 == 0", "subclass of a built-in"),
    ("get_ipython().set_custom_exc((Exception,), lambda *a, **k: None)", "calls get_ipython()"),
    ("import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)", "imports signal"),
    ("open('../../../gradebook.db', 'rb')", "names the path"),
    ("import sqlite3\nsqlite3.connect('/tmp/course-autograde-x/template.db')", "names the path"),
    ("open('/home/teacher/class/solutions/01/01.ipynb')", "names the path"),
    ("%%writefile helper.py\nimport builtins\nbuiltins.len = lambda x: 0", "imports builtins"),
    ("%run ../../other/01.ipynb", "runs the IPython magic %run"),
    ("import subprocess\nsubprocess.run(['sqlite3', 'x.db'])", "imports subprocess"),
    ("import os\nos.system('echo > ~/x')", "uses os.system"),
    ("from os import fork", "uses"),
])
def test_forgeries_are_named(answer, reason):
    found = _findings(answer)
    assert any(reason in line for line in found), found
    assert all(line.startswith("answer cell 'add'") for line in found)


@pytest.mark.parametrize("stem", [s.stem for s in manifest.steps(ready_only=True, with_exercise=True)])
def test_no_reference_solution_of_the_course_is_flagged(stem):
    """The ten exercises' own solutions: the static check finds nothing in them (the guard's side is checked
    by grading them, in tests/test_exercises.py)."""
    import nbformat

    from course.platform import paths

    nb = nbformat.read(paths.solution_path(stem), as_version=4)
    trusted = {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells
               if c.metadata.get("nbgrader", {}).get("locked")}
    assert tamper.static_findings(nb, trusted) == []


def test_a_cell_the_student_added_is_read_too_and_named_by_position():
    added = a.code("check = lambda *a, **k: True")
    found = _findings("def add(a, b):\n    return a + b", extra_cells=[added])
    assert found == ["cell 4 (added by the student) rebinds 'check', which the tests use"]


def test_a_locked_cell_whose_source_was_changed_is_not_trusted():
    nb = a.notebook([a.locked_code(SETUP + "\ncheck = print", "setup"), a.answer("x = 1", "add")])
    found = tamper.static_findings(nb, {"setup": SETUP})
    assert any("rebinds 'check'" in line for line in found), found


def test_review_notes_round_trip(tmp_path):
    import nbformat

    nb = a.notebook([a.answer("x = 1", "add")])
    tamper.mark_for_review(nb, ["answer cell 'add' calls exec()"])
    path = tmp_path / "n.ipynb"
    nbformat.write(nb, path)
    assert tamper.review_notes(path) == ["answer cell 'add' calls exec()"]
    assert tamper.review_notes(tmp_path / "missing.ipynb") == []


def test_bound_names_sees_loops_and_with_blocks_but_not_function_bodies():
    source = "for x in y:\n    run = f(x)\nwith open(p) as fh:\n    pass\nimport a.b as c, d.e\n" \
             "def g():\n    z = 1\n[q for q in r]\n"
    assert tamper.bound_names(source) == {"x", "run", "fh", "c", "d", "g"}
