"""course.steps.step01_programming_basics.projects with the real tools (mypy, venv, pip, flit_core, pytest), and
exercise 01b graded on plausible answers: each wrong answer loses marks in its part, each other correct answer
keeps them all.

The answers are judged by running the exercise source's cells in one in-process IPython shell (setup, the
part's answer, then its test cells in order, as nbgrader runs them), in a temporary working folder, since
parts C and E write files there. tests/test_exercises.py grades the solution and the release through nbgrader
once; tests/test_notebooks.py runs the lesson once.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from factories import graded_cells, without_solution_markers

from course.steps.step01_programming_basics import projects

pytestmark = pytest.mark.slow
STEM = "01b-python-for-projects"
CELLS = graded_cells(STEM)


# --- the helpers ----------------------------------------------------------------------------------------------

def test_run_mypy_reports_each_error_with_its_file_line_and_code():
    run = projects.run_mypy({
        "bad.py": "def f(x):\n    return x\n\n\ndef g(n: int) -> str:\n    return n\n",
        "good.py": "def h(n: int) -> int:\n    return n + 1\n",
    })
    assert run.returncode == 1 and not run.clean
    assert [(e.line, e.code) for e in run.errors_in("bad.py")] == [(1, "no-untyped-def"), (6, "return-value")]
    assert run.errors_in("good.py") == []
    assert "bad.py:6: Incompatible return value type" in str(run.errors_in("bad.py")[1])


def test_load_module_sees_the_files_new_text(tmp_path):
    path = tmp_path / "answer_mod.py"
    path.write_text("VALUE = 1\n", encoding="utf-8")
    assert projects.load_module(path).VALUE == 1
    path.write_text("VALUE = 2\n", encoding="utf-8")
    assert projects.load_module(path).VALUE == 2
    path.write_text("raise NotImplementedError()\n", encoding="utf-8")
    with pytest.raises(NotImplementedError):
        projects.load_module(path)
    assert "answer_mod" not in sys.modules


GREET = {
    "pyproject.toml": '[build-system]\nrequires = ["flit_core>=3.9"]\nbuild-backend = "flit_core.buildapi"\n\n'
                      '[project]\nname = "greet"\nversion = "0.2.0"\ndescription = "Hi."\n'
                      'dependencies = ["packaging>=24"]\n\n[project.scripts]\ngreet = "greet.cli:main"\n',
    "greet/__init__.py": '"""Hi."""\n',
    "greet/cli.py": 'def main():\n    print("hi from greet")\n',
}


@pytest.mark.service
def test_an_editable_install_into_a_new_venv_runs_its_command_from_the_source(tmp_path):
    python = projects.make_venv(tmp_path / "venv")
    probe = subprocess.run([str(python), "-c", "import sys; print(sys.prefix != sys.base_prefix)"],
                           capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == "True"
    project = projects.write_project(tmp_path / "greet", GREET)
    # editable (a normal wheel is built by exercise part F's tests): the installed wheel points at the source
    # folder, so an edit shows without reinstalling
    editable = projects.build(project, tmp_path / "dist", editable=True)
    meta = projects.wheel_metadata(editable)
    assert (meta["Name"], meta["Version"], meta["Requires-Dist"]) == ("greet", "0.2.0", ["packaging>=24"])
    assert meta["entry_points"] == {"console_scripts": {"greet": "greet.cli:main"}}
    done = projects.pip("install", "--no-deps", "-q", str(editable), python=python)
    assert done.returncode == 0, done.stderr
    script = python.parent / "greet"
    assert subprocess.run([str(script)], capture_output=True, text=True).stdout == "hi from greet\n"
    (project / "greet" / "cli.py").write_text('def main():\n    print("edited")\n', encoding="utf-8")
    assert subprocess.run([str(script)], capture_output=True, text=True).stdout == "edited\n"


def test_each_mutant_is_one_changed_line_of_the_function():
    original = projects.SHIPPING.splitlines()
    assert len(projects.MUTANTS) == 9
    for name, source in projects.MUTANTS.items():
        changed = [i for i, (a, b) in enumerate(zip(original, source.splitlines(), strict=True)) if a != b]
        assert len(changed) == 1, name
        namespace: dict = {}
        exec(compile(source, name, "exec"), namespace)  # each mutant is valid Python
        assert callable(namespace["shipping_cents"])


def test_grade_tests_runs_each_copy_in_its_own_folder():
    imports_inside = ("import shipping\n\n\ndef test_500():\n    assert shipping.shipping_cents(500) == 450\n\n\n"
                      "def test_express():\n    import shipping as s\n    assert s.shipping_cents(600, express=True) == 1500\n")
    # a module imported at the top and again inside a test: both are the folder's copy
    graded = projects.grade_tests(imports_inside)
    assert graded.passed and graded.collected == 2 and graded.summary.endswith("0 failing")
    assert {name for name, killed in graded.killed.items() if killed} == {
        "500 g costs 750", "express ignored", "express adds 450 instead of doubling"}
    assert graded.survivors == [name for name in projects.MUTANTS if not graded.killed[name]]


# --- exercise 01b graded: plausible answers ---------------------------------------------------------------------

def _parts() -> dict[str, list[str]]:
    """{answer grade_id: [its test cell grade_ids, in order]} from the exercise source."""
    import nbformat

    from course.platform import paths

    nb = nbformat.read(paths.solution_path(STEM), as_version=4)
    parts, current = {}, None
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or "grade_id" not in meta:
            continue
        if meta.get("solution"):
            current = meta["grade_id"]
            parts[current] = []
        elif meta.get("grade"):
            parts[current].append(meta["grade_id"])
    return parts


PARTS = _parts()


@pytest.fixture(scope="module")
def judge(tmp_path_factory):
    """``judge(part, source=None) -> [passed? per test cell of the part]``: the setup cell, the part's answer
    (the reference, or ``source``), then each of its test cells, in one fresh IPython namespace (with
    ``until_failure``, up to the first cell that fails)."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    main_module = sys.modules["__main__"]
    config = Config()
    config.HistoryManager.enabled = False
    shell = InteractiveShell.instance(config=config)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path_factory.mktemp("answers"))

        def run(part: str, source: str | None = None, *, until_failure: bool = False) -> list[bool]:
            shell.reset(new_session=False)
            assert shell.run_cell(CELLS["setup"], silent=True).success
            shell.run_cell(source if source is not None else without_solution_markers(CELLS[part]), silent=True)
            passed = []
            for test in PARTS[part]:
                passed.append(shell.run_cell(CELLS[test], silent=True).success)
                if until_failure and not passed[-1]:
                    break  # the answer has lost marks: the later cells (a build, mypy) need not run
            return passed

        run.namespace = lambda: shell.user_ns
        try:
            yield run
        finally:
            sys.modules["__main__"] = main_module


def reference(part: str) -> str:
    return without_solution_markers(CELLS[part])


def edited(part: str, *changes: tuple[str, str]) -> str:
    """The reference answer of ``part`` with each (old, new) text replaced (old must occur)."""
    source = reference(part)
    for old, new in changes:
        assert old in source, (part, old)
        source = source.replace(old, new)
    return source


def test_the_parts_and_their_test_cells():
    assert PARTS == {
        "order_classes": ["order_values_tests", "order_rules_tests"], "request_log": ["request_log_tests"],
        "query_params": ["query_params_behaviour", "query_params_mypy"],
        "routes": ["routes_tests", "routes_traps_tests"],
        "test_shipping": ["shipping_tests_pass", "shipping_tests_kill"],
        "pyproject": ["pyproject_tests", "pyproject_build_tests"],
    }


# Part A: frozen and slotted value objects.
ORDER_WRONG = {
    "not frozen": [("@dataclass(frozen=True, slots=True)", "@dataclass(slots=True)")],
    "no slots": [("@dataclass(frozen=True, slots=True)", "@dataclass(frozen=True)")],
    "no validation of the line": [("        if self.quantity < 1:\n", "        if False:\n")],
    "with_item changes the order": [("return replace(self, items=(*self.items, item))",
                                     'object.__setattr__(self, "items", (*self.items, item))\n        return self')],
    "total ignores the quantity": [("return self.quantity * self.unit_cents", "return self.unit_cents")],
    "isupper() lets digits through": [('if not re.fullmatch(r"[A-Z]{3}", self.currency):',
                                       "if not (len(self.currency) == 3 and self.currency.isupper()):")],
    "no equality": [("@dataclass(frozen=True, slots=True)\nclass Order", "@dataclass(frozen=True, slots=True, eq=False)\nclass Order")],
}
ORDER_OTHER = [
    ("return replace(self, items=(*self.items, item))", "return Order(self.order_id, self.items + (item,), self.currency)"),
    ('if not re.fullmatch(r"[A-Z]{3}", self.currency):',
     'if not (len(self.currency) == 3 and all("A" <= c <= "Z" for c in self.currency)):'),
    ("return sum(item.total_cents for item in self.items)",
     "total = 0\n        for item in self.items:\n            total += item.quantity * item.unit_cents\n        return total"),
]

# Part B: a plain class with its own list.
LOG_WRONG = {
    "a shared default list": [("def __init__(self, service, entries=None):", "def __init__(self, service, entries=[]):"),
                              ("list(entries) if entries is not None else []", "entries")],
    "the caller's list kept": [("list(entries) if entries is not None else []", "entries if entries is not None else []")],
    "client errors counted": [("500 <= entry[2] <= 599", "entry[2] >= 400")],
    "no __eq__": [("    def __eq__(self, other):", "    def _eq(self, other):")],
    "__eq__ breaks on other types": [("        if not isinstance(other, RequestLog):\n            return NotImplemented\n",
                                      ""), ("(other.service, other.entries)", "(other.service, other.entries)")],
    "the default repr": [("    def __repr__(self):", "    def _repr(self):")],
}
LOG_OTHER = '''class RequestLog:
    def __init__(self, service, entries=()):
        self.service, self._entries = service, [*entries]

    def record(self, method, path, status):
        self._entries += [(method, path, status)]

    def errors(self):
        return [(m, p, s) for m, p, s in self._entries if s // 100 == 5]

    def __len__(self):
        return len(self._entries)

    def __repr__(self):
        return "RequestLog(service=%r, entries=%d)" % (self.service, len(self))

    def __eq__(self, other):
        return isinstance(other, RequestLog) and self.service == other.service and self._entries == other._entries
'''

# Part C: typed, and clean under mypy --strict.
QP_WRONG = {
    "no annotations": [("(query: str) -> dict[str, list[str]]:", "(query):"),
                       ("    params: dict[str, list[str]] = {}", "    params = {}")],
    "first() promises a str": [("name: str) -> str | None:", "name: str) -> str:")],
    "a bare dict": [("def parse_query(query: str) -> dict[str, list[str]]:", "def parse_query(query: str) -> dict:"),
                    ("    params: dict[str, list[str]] = {}", "    params: dict = {}")],
    "None passed to int(), then silenced": [("return default if value is None else int(value)",
                                             "return int(value) if value else default  # type: ignore")],
    "Any": [("from collections.abc import Mapping, Sequence", "from collections.abc import Mapping, Sequence\nfrom typing import Any"),
            ("def first(params: Mapping[str, Sequence[str]], name: str) -> str | None:",
             "def first(params: Any, name: str) -> str | None:")],
    "None to int()": [("    value = first(params, name)\n    return default if value is None else int(value)",
                       "    try:\n        return int(first(params, name))\n    except TypeError:\n        return default")],
    "the last value wins": [("params.setdefault(name, []).append(value)", "params[name] = [value]")],
    "a part without = dropped": [("        if part:\n", '        if "=" in part:\n')],
}
QP_OTHER = '''%%writefile query_params.py
from typing import Mapping, Optional, Sequence


def parse_query(query: str) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    if query.startswith("?"):
        query = query[1:]
    for piece in filter(None, query.split("&")):
        key, value = (piece.split("=", 1) + [""])[:2]
        result[key] = result.get(key, []) + [value]
    return result


def first(params: Mapping[str, Sequence[str]], name: str) -> Optional[str]:
    for value in params.get(name, ()):
        return value
    return None


def int_param(params: Mapping[str, Sequence[str]], name: str, default: int) -> int:
    text = first(params, name)
    if text is None:
        return default
    return int(text)
'''

# Part D: anchored, ASCII, one segment, literal dots.
ROUTE_WRONG = {
    r"\d for digits": [("'[0-9]+' if found['int']", r"'\\d+' if found['int']")],
    "re.match": [("route_pattern(template).fullmatch(path)", "route_pattern(template).match(path)")],
    "re.search": [("route_pattern(template).fullmatch(path)", "route_pattern(template).search(path)")],
    "^...$ with match": [('return re.compile("".join(parts))', 'return re.compile("^" + "".join(parts) + "$")'),
                         ("route_pattern(template).fullmatch(path)", "route_pattern(template).match(path)")],
    ".+ for a segment": [("else '[^/]+'", "else '.+'")],
    "an empty segment allowed": [("else '[^/]+'", "else '[^/]*'")],
    "no re.escape": [("parts.append(re.escape(template[last:found.start()]))", "parts.append(template[last:found.start()])"),
                     ("parts.append(re.escape(template[last:]))", "parts.append(template[last:])")],
    "ints left as strings": [("int(value) if name in numbers else value", "value")],
}
ROUTE_OTHER = r'''TOKEN = re.compile(r"(\{\w+(?::int)?\})")


def route_pattern(template):
    out = []
    for piece in TOKEN.split(template):
        placeholder = re.fullmatch(r"\{(\w+)(:int)?\}", piece)
        if placeholder:
            out.append(f"(?P<{placeholder[1]}>{'[0-9]+' if placeholder[2] else '[^/]+'})")
        else:
            out.append(re.escape(piece))
    return re.compile("^" + "".join(out) + r"\Z")


def match_route(template, path):
    found = route_pattern(template).match(path)
    if not found:
        return None
    values = found.groupdict()
    for name in re.findall(r"\{(\w+):int\}", template):
        values[name] = int(values[name])
    return values
'''

# Part E: tests that catch the mutants.
TESTS_HEAD = "%%writefile test_shipping.py\nimport pytest\n\nfrom shipping import shipping_cents\n\n\n"
TESTS_WRONG = {
    "only the happy path": TESTS_HEAD + "def test_small():\n    assert shipping_cents(100) == 450\n\n\n"
                           "def test_medium():\n    assert shipping_cents(1000) == 750\n",
    "a wrong expectation": reference("test_shipping").replace("(3000, 950)", "(3000, 1150)"),
    "no edges": TESTS_HEAD + "@pytest.mark.parametrize(('g', 'c'), [(100, 450), (1000, 750), (2500, 950), (4500, 1350)])\n"
                "def test_price(g, c):\n    assert shipping_cents(g) == c\n\n\n"
                "def test_refused():\n    with pytest.raises(ValueError):\n        shipping_cents(-5)\n",
}
TESTS_OTHER = TESTS_HEAD + '''@pytest.fixture
def price():
    return shipping_cents


def test_bands(price):
    cases = {1: 450, 500: 450, 501: 750, 2000: 750, 2001: 950, 3000: 950, 3001: 1150, 30000: 6350}
    assert {grams: price(grams) for grams in cases} == cases


def test_express(price):
    for grams in (400, 1500, 3500):
        assert price(grams, express=True) == 2 * price(grams)
    assert price(2500, True) == 1900


@pytest.mark.parametrize("grams", [0, 30_001])
def test_limits(grams, price):
    with pytest.raises(ValueError, match="30000"):
        price(grams)
'''

# Part F: the pyproject.toml of logtools.
PYPROJECT_WRONG = {
    "a pin": [('"packaging>=24,<26"', '"packaging==24.2"')],
    "no upper bound": [('"packaging>=24,<26"', '"packaging>=24"')],
    "~=24.0 stops before 25": [('"packaging>=24,<26"', '"packaging~=24.0"')],
    "<=26 lets 26.0 in": [('"packaging>=24,<26"', '"packaging>=24,<=26"')],
    "Python 3.10 allowed": [('requires-python = ">=3.11"', 'requires-python = ">=3.10"')],
    "a dotted entry point": [('"logtools.cli:main"', '"logtools.cli.main"')],
    "another backend": [('build-backend = "flit_core.buildapi"', 'build-backend = "setuptools.build_meta"')],
}


@pytest.mark.parametrize(("part", "variant"), [
    *[("order_classes", name) for name in ORDER_WRONG], *[("request_log", name) for name in LOG_WRONG],
    *[("query_params", name) for name in QP_WRONG], *[("routes", name) for name in ROUTE_WRONG],
    *[("pyproject", name) for name in PYPROJECT_WRONG],
])
def test_a_wrong_answer_loses_marks(judge, part, variant):
    changes = {"order_classes": ORDER_WRONG, "request_log": LOG_WRONG, "query_params": QP_WRONG,
               "routes": ROUTE_WRONG, "pyproject": PYPROJECT_WRONG}[part][variant]
    assert not all(judge(part, edited(part, *changes), until_failure=True)), f"{variant} kept every point of {part}"


@pytest.mark.parametrize("variant", list(TESTS_WRONG))
def test_weak_or_wrong_tests_lose_marks(judge, variant):
    assert not all(judge("test_shipping", TESTS_WRONG[variant], until_failure=True))


def test_a_missing_description_fails_only_the_real_build(judge):
    # flit_core refuses it: the static checks pass, the build does not, and says why
    assert judge("pyproject", edited("pyproject", ('description = "Summarise web-server access logs."\n', ""))) == [True, False]
    assert "description must be specified" in judge.namespace()["meta"]["error"]


@pytest.mark.parametrize(("part", "source"), [
    ("order_classes", edited("order_classes", *ORDER_OTHER)), ("request_log", LOG_OTHER), ("query_params", QP_OTHER),
    ("routes", ROUTE_OTHER), ("test_shipping", TESTS_OTHER),
    ("pyproject", edited("pyproject", ('"packaging>=24,<26"', '"packaging >= 24.0, < 26.0"'),
                         ('requires-python = ">=3.11"', 'requires-python = ">=3.11,<4"'),
                         ('version = "0.1.0"\ndescription = "Summarise web-server access logs."\n',
                          'dynamic = ["version", "description"]\n'))),
], ids=["order_classes", "request_log", "query_params", "routes", "test_shipping", "pyproject"])
def test_another_correct_answer_keeps_every_point(judge, part, source):
    assert judge(part, source) == [True] * len(PARTS[part])
