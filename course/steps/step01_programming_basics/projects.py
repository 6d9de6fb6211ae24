"""Tools for deep dive 01b, Python for real projects: run real mypy, build and install a real package into a
real virtual environment (offline), and grade a learner's pytest file against a function and its mutants.

- :func:`run_mypy` writes files into a fresh folder and runs ``python -m mypy --strict`` on them (a
  subprocess, with an empty configuration and a cache kept between runs), returning each error it printed.
- :func:`load_module` imports a module from a file, fresh each time (the learner rewrites it and runs again).
- :func:`make_venv`, :func:`pip`, :func:`build`, :func:`wheel_metadata`: ``python -m venv`` without pip, this
  Python's pip pointed at the new environment with ``--python``, and a build with the ``flit_core`` backend
  already installed here (``--no-build-isolation``), so no package index is ever asked.
- :data:`LOGTOOLS` is the small package of the exercise; :func:`build_logtools` builds it with a learner's
  ``pyproject.toml``.
- :data:`SHIPPING` is the function whose tests the learner writes, :data:`MUTANTS` its plausible bugs, and
  :func:`grade_tests` runs a test file with real pytest against each (step 09's runner, one process a run).
"""

from __future__ import annotations

import email.parser
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from course.components.waits import scaled

__all__ = [
    "MypyError", "MypyRun", "run_mypy", "load_module", "make_venv", "venv_python", "pip", "build",
    "wheel_metadata", "write_project", "LOGTOOLS", "build_logtools", "SHIPPING", "MUTANTS", "TestsGrade",
    "grade_tests",
]

# -- mypy -----------------------------------------------------------------------------------------------------

_ERROR = re.compile(r"^(?P<file>[^:\n]+\.py):(?P<line>\d+): error: (?P<message>.*?)(?:  \[(?P<code>[\w-]+)\])?$",
                    re.MULTILINE)


@dataclass(frozen=True)
class MypyError:
    """One error line of mypy: ``file:line: error: message  [code]``."""

    file: str
    line: int
    message: str
    code: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}  [{self.code}]"


@dataclass
class MypyRun:
    """What one mypy run printed and returned (0: no error, 1: errors found, 2: mypy itself failed)."""

    returncode: int
    output: str
    errors: list[MypyError] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return self.returncode == 0 and not self.errors

    def errors_in(self, file: str) -> list[MypyError]:
        return [error for error in self.errors if error.file == file]


def _mypy_cache() -> Path:
    """A cache kept between runs (the standard library's stubs are read once, not on every run)."""
    return Path(tempfile.gettempdir()) / f"course-mypy-cache-{os.getuid() if hasattr(os, 'getuid') else 0}"


def run_mypy(files: dict[str, str], *args: str, strict: bool = True, timeout: float = 120) -> MypyRun:
    """Write ``files`` (name -> text) into a fresh folder and run ``python -m mypy`` there on every ``.py`` of
    them: with ``--strict`` unless ``strict`` is false, then ``args``. The folder gets an empty ``mypy.ini`` so
    no configuration around it applies; it is removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="course-mypy-"))
    try:
        (folder / "mypy.ini").write_text("[mypy]\n", encoding="utf-8")
        for name, text in files.items():
            (folder / name).write_text(text, encoding="utf-8")
        command = [sys.executable, "-m", "mypy", "--config-file", "mypy.ini", "--cache-dir", str(_mypy_cache()),
                   "--no-color-output", "--no-pretty", "--show-error-codes", "--hide-error-context",
                   *(["--strict"] if strict else []), *args, *sorted(n for n in files if n.endswith(".py"))]
        env = {**os.environ, "MYPY_FORCE_COLOR": "0", "PYTHONDONTWRITEBYTECODE": "1"}
        env.pop("MYPYPATH", None)
        done = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=scaled(timeout),
                              env=env, check=False)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    output = (done.stdout + done.stderr).strip()
    errors = [MypyError(m["file"], int(m["line"]), m["message"], m["code"] or "") for m in _ERROR.finditer(output)]
    return MypyRun(done.returncode, output, errors)


def load_module(path: str | Path, name: str | None = None):
    """Import the module in file ``path`` afresh (a second call sees the file's new text) and return it."""
    path = Path(path)
    name = name or path.stem
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and typing look a module up by name while it runs
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


# -- virtual environments and packages --------------------------------------------------------------------------

def _pip_env() -> dict[str, str]:
    """pip without the machine's configuration files (an index, constraints) and without asking anything."""
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1", "PIP_NO_INPUT": "1",
           "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_CACHE_DIR": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    for name in ("PIP_FIND_LINKS", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_CONSTRAINT", "PYTHONPATH"):
        env.pop(name, None)
    return env


def venv_python(folder: str | Path) -> Path:
    """The interpreter of the virtual environment in ``folder``."""
    folder = Path(folder)
    return folder / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def make_venv(folder: str | Path) -> Path:
    """``python -m venv --without-pip folder`` (a second of work, no download); returns its interpreter. pip is
    left out because this Python's pip installs into it (:func:`pip` with ``python=``)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True,
                   capture_output=True, text=True, timeout=scaled(120))
    return venv_python(folder)


def pip(*args: str, python: str | Path | None = None, cwd: str | Path | None = None,
        timeout: float = 180) -> subprocess.CompletedProcess:
    """Run this Python's ``pip`` offline (``--no-index`` always); with ``python``, acting on that interpreter's
    environment (pip's ``--python`` option). Returns the finished process; its output is in ``.stdout``."""
    target = ["--python", str(python)] if python else []
    return subprocess.run([sys.executable, "-m", "pip", *target, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=scaled(timeout), env=_pip_env(), check=False)


def write_project(folder: str | Path, files: dict[str, str]) -> Path:
    """Write a project's files (relative path -> text) under ``folder``; returns the folder."""
    folder = Path(folder)
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def build(project: str | Path, out: str | Path, *, editable: bool = False) -> Path:
    """Build a wheel of ``project`` into ``out`` with the backend installed here, offline, and return it.

    A normal wheel: ``pip wheel --no-build-isolation --no-deps``. An editable one: the backend's PEP 660 hook
    ``build_editable``, which is what ``pip install -e`` calls before it installs the wheel it returns.
    Raises ``RuntimeError`` with the backend's last lines when the build fails."""
    project, out = Path(project).resolve(), Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    if editable:
        hook = f"import flit_core.buildapi as b; print(b.build_editable({str(out)!r}))"
        done = subprocess.run([sys.executable, "-c", hook], cwd=project, capture_output=True, text=True,
                              timeout=scaled(120), env=_pip_env(), check=False)
        name = done.stdout.strip().splitlines()[-1] if done.returncode == 0 and done.stdout.strip() else ""
    else:
        before = set(out.glob("*.whl"))
        done = pip("wheel", "--no-build-isolation", "--no-deps", "-q", "-w", str(out), str(project))
        made = sorted(set(out.glob("*.whl")) - before) or sorted(out.glob("*.whl"))
        name = made[-1].name if done.returncode == 0 and made else ""
    if not name:
        lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
        reason = next((line.strip() for line in reversed(lines) if "Error" in line), lines[-1] if lines else "")
        raise RuntimeError(f"the build failed: {reason}")
    return out / name


def wheel_metadata(wheel: str | Path) -> dict:
    """What a wheel says about itself: its core metadata fields (``Name``, ``Version``, ``Requires-Python``,
    ``Requires-Dist`` as a list, ...) and ``entry_points``: {group: {name: target}} from entry_points.txt."""
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        message = email.parser.Parser().parsestr(archive.read(meta_name).decode("utf-8"))
        points_name = next((n for n in names if n.endswith(".dist-info/entry_points.txt")), None)
        points_text = archive.read(points_name).decode("utf-8") if points_name else ""
    found: dict = {key: value for key, value in message.items() if key != "Requires-Dist"}
    found["Requires-Dist"] = message.get_all("Requires-Dist") or []
    groups: dict[str, dict[str, str]] = {}
    group = None
    for line in points_text.splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            group = groups.setdefault(line[1:-1], {})
        elif "=" in line and group is not None:
            key, _, value = line.partition("=")
            group[key.strip()] = value.strip()
    found["entry_points"] = groups
    return found


# The exercise's package: a log summariser with a command-line entry point (its pyproject.toml is the learner's).
LOGTOOLS: dict[str, str] = {
    "logtools/__init__.py": '"""Summarise web-server access logs."""\n\n__version__ = "0.1.0"\n',
    "logtools/cli.py": '''"""The ``logsummary`` command: count the status classes of the log lines read from standard input."""

import sys
from collections import Counter


def main() -> int:
    counts = Counter(line.split()[-2][0] + "xx" for line in sys.stdin if len(line.split()) >= 2)
    for status_class, count in sorted(counts.items()):
        print(status_class, count)
    return 0
''',
}


def build_logtools(pyproject: str, out: str | Path) -> Path:
    """Build the :data:`LOGTOOLS` package with ``pyproject`` as its ``pyproject.toml``, in a fresh folder;
    returns the wheel, written into ``out``."""
    folder = Path(tempfile.mkdtemp(prefix="course-logtools-"))
    try:
        write_project(folder, {**LOGTOOLS, "pyproject.toml": pyproject})
        return build(folder, out)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# -- tests with pytest, graded on mutants -----------------------------------------------------------------------

SHIPPING = '''"""Postage of the shop's parcels."""


def shipping_cents(weight_grams: int, express: bool = False) -> int:
    """The postage of a parcel of ``weight_grams`` grams, in cents.

    - up to and including 500 g: 450 cents;
    - above 500 g, up to and including 2000 g: 750 cents;
    - above 2000 g: 750 cents plus 200 for each started kilogram above 2000 g (2001 g to 3000 g: 950);
    - ``express`` doubles the price;
    - ``ValueError`` for a weight of 0 g or less, or above 30000 g (30 kg is the most a parcel may weigh).
    """
    if weight_grams <= 0 or weight_grams > 30_000:
        raise ValueError(f"a parcel weighs 1 to 30000 g, not {weight_grams}")
    if weight_grams <= 500:
        price = 450
    elif weight_grams <= 2000:
        price = 750
    else:
        started_kilos = -(-(weight_grams - 2000) // 1000)  # rounded up
        price = 750 + 200 * started_kilos
    return price * 2 if express else price
'''

# Plausible bugs, each one change of SHIPPING: name -> (what is wrong, the line as the bug has it, the line it
# replaces). A good test file fails on every one of them and passes on SHIPPING.
_BUGS = {
    "500 g costs 750": ("weight_grams < 500:", "weight_grams <= 500:"),
    "kilograms counted from 0 g, not from 2000 g": ("-(-weight_grams // 1000)", "-(-(weight_grams - 2000) // 1000)"),
    "started kilograms rounded down": ("(weight_grams - 2000) // 1000", "-(-(weight_grams - 2000) // 1000)"),
    "a whole kilogram counted twice": ("(weight_grams - 2000) // 1000 + 1", "-(-(weight_grams - 2000) // 1000)"),
    "0 g accepted": ("weight_grams < 0 or", "weight_grams <= 0 or"),
    "no upper limit": ("weight_grams > 30_000_000", "weight_grams > 30_000"),
    "30 kg refused": ("weight_grams >= 30_000", "weight_grams > 30_000"),
    "express ignored": ("return price", "return price * 2 if express else price"),
    "express adds 450 instead of doubling": ("return price + 450 if express else price",
                                             "return price * 2 if express else price"),
}


def _mutant(buggy: str, correct: str) -> str:
    assert SHIPPING.count(correct) == 1, correct
    return SHIPPING.replace(correct, buggy)


MUTANTS: dict[str, str] = {name: _mutant(*change) for name, change in _BUGS.items()}


@dataclass
class TestsGrade:
    """A test file's runs: on the correct function (``passed``, ``summary``) and on each mutant (killed?)."""

    __test__ = False  # not a pytest test class, whatever its name

    passed: bool
    summary: str
    collected: int
    killed: dict[str, bool]

    @property
    def survivors(self) -> list[str]:
        return [name for name, killed in self.killed.items() if not killed]


# Each copy of the function gets a folder with the learner's test file and this conftest.py, which makes the
# folder's shipping.py the module ``shipping`` while that folder's test file is imported and while its tests run.
_CONFTEST = """import importlib.util
import pathlib
import sys

import pytest

_spec = importlib.util.spec_from_file_location("shipping", pathlib.Path(__file__).with_name("shipping.py"))
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)
sys.modules["shipping"] = _module


def pytest_collect_file(file_path, parent):
    # pytest asks this folder's conftest (and no other) about this folder's files, just before it imports them
    sys.modules["shipping"] = _module


@pytest.fixture(autouse=True)
def _this_folders_shipping(monkeypatch):
    monkeypatch.setitem(sys.modules, "shipping", _module)
"""


def _outcomes(report: str) -> dict[str, list[bool]]:
    """{folder: [passed?, ...]} from a JUnit XML report: one entry per test case (collection errors included)."""
    import xml.etree.ElementTree as ET

    found: dict[str, list[bool]] = {}
    for case in ET.fromstring(report).iter("testcase"):
        folder = case.get("classname", "").split(".")[0]
        ok = not any(child.tag in {"failure", "error"} for child in case)
        skipped = any(child.tag == "skipped" for child in case)
        if not skipped:
            found.setdefault(folder, []).append(ok)
    return found


def grade_tests(test_source: str, mutants: list[str] | None = None, *, test_file: str = "test_shipping.py",
                timeout: float = 90) -> TestsGrade:
    """Run the tests of ``test_source`` with real pytest on :data:`SHIPPING` and on each of ``mutants`` (names of
    :data:`MUTANTS`, all by default). A mutant is killed when a test fails on it; the runs on mutants count
    only when every test passed on the correct function (and there was one).

    One pytest process runs them all (a process per copy costs a second or more each): every copy is a folder
    of its own, imported with ``--import-mode=importlib`` so that the folders' test files do not clash, and
    its conftest.py makes the folder's copy the module ``shipping`` (see ``_CONFTEST``)."""
    from course.steps.step09_practical_experience import run_pytest  # step 09's runner: a clean subprocess

    names = list(MUTANTS) if mutants is None else list(mutants)
    folders = {"correct": SHIPPING, **{f"mutant{i:02d}": MUTANTS[name] for i, name in enumerate(names)}}
    root = Path(tempfile.mkdtemp(prefix="course-mutants-"))
    try:
        (root / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
        for folder, source in folders.items():
            write_project(root / folder, {"shipping.py": source, test_file: test_source, "conftest.py": _CONFTEST})
        run = run_pytest(root, "--import-mode=importlib", "--junitxml=report.xml", "-o", "junit_family=xunit2",
                         "--continue-on-collection-errors", timeout=timeout)
        report = root / "report.xml"
        outcomes = _outcomes(report.read_text(encoding="utf-8")) if report.is_file() else {}
    finally:
        shutil.rmtree(root, ignore_errors=True)
    correct = outcomes.get("correct", [])
    passed = bool(correct) and all(correct) and not run.timed_out
    killed = {name: passed and not all(outcomes.get(f"mutant{i:02d}", [False]))
              for i, name in enumerate(names)}
    failing = correct.count(False)
    summary = ("timed out" if run.timed_out else f"{len(correct)} test(s) on the correct function, {failing} failing"
               if correct else f"no test ran: {run.summary()}")
    return TestsGrade(passed, summary, len(correct), killed)
