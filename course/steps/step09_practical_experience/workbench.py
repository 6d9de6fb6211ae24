"""Tools for step 09, working in code you did not write: run pytest, debug with pdb, mutate code, review.

- :func:`write_module` / :func:`source`: small modules written by "someone else" that the lesson and the
  exercise work on (some with bugs on purpose, each marked as such in :data:`SOURCES`).
- :func:`run_pytest` runs ``python -m pytest`` in a subprocess with a time limit and reads its summary;
  :func:`run_tests_against` does it in a fresh temporary folder holding just the files given, which is how
  the exercise grades a learner's tests against the correct module and against mutants.
- :func:`mutants` makes small AST mutations of a module (a flipped comparison, an off-by-one constant):
  a tiny mutation tester, to measure how much a test suite really checks.
- :func:`pdb_transcript` drives the real ``pdb`` with scripted commands and returns what it printed.
- :data:`REVIEW_CHECKLIST` is the code-review checklist of the lesson and the exercise.
"""

from __future__ import annotations

import ast
import contextlib
import io
import os
import pdb
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "SOURCES", "REVIEW_CHECKLIST", "PytestRun", "Mutant", "source", "write_module", "run_pytest",
    "run_tests_against", "run_many", "mutants", "mutation_report", "pdb_transcript", "run_ci",
]

# The modules "someone else wrote". Keys are module names; buggy ones say so here, never in their text.
SOURCES: dict[str, str] = {}

# Lesson: a bill splitter with a bug (the remainder of the division is lost).
SOURCES["billing"] = '''"""Split a restaurant bill between people, in cents (used by the group-orders service)."""

import logging

log = logging.getLogger("billing")


def split_bill(total_cents, people):
    """Shares of ``total_cents`` for ``people`` people: they differ by at most one cent and add up to the total.

    The first people in the list pay the extra cents. ``people`` must be at least 1.
    """
    if people < 1:
        raise ValueError("people must be at least 1")
    share = total_cents // people
    remainder = total_cents - share * people
    log.debug("total=%s people=%s share=%s remainder=%s", total_cents, people, share, remainder)
    shares = [share] * people
    for i in range(remainder - 1):
        shares[i] += 1
    return shares
'''

SOURCES["test_billing"] = '''from billing import split_bill


def test_even_split():
    assert split_bill(900, 3) == [300, 300, 300]


def test_shares_add_up():
    assert sum(split_bill(1000, 3)) == 1000
'''

# Exercise part A: three functions with four bugs between them; test_shop.py misses most of them.
SOURCES["shop"] = '''"""Order helpers of the checkout service (written by a colleague who has since moved on)."""


def page_slice(items, page, per_page=20):
    """The items on page number ``page`` (the first page is 1), ``per_page`` items a page.

    ``page`` or ``per_page`` below 1 raise ValueError; a page past the end is an empty list.
    """
    if page < 0 or per_page < 1:
        raise ValueError("page and per_page start at 1")
    start = page * per_page
    return items[start:start + per_page]


def line_total(unit_cents, quantity, discount_percent=0):
    """Total of one order line in cents: unit price times quantity, minus the discount.

    The discount (a percentage of the line) is rounded to the nearest cent, and half a cent rounds up
    (a discount of 12.5 cents is 13 cents).
    """
    gross = unit_cents * quantity
    discount = round(gross * discount_percent / 100)
    return gross - discount


def parse_tags(text):
    """Tags from a comma-separated string: trimmed, lower-cased, empty ones dropped, and each tag kept
    once, in the order it first appears."""
    tags = [tag.strip().lower() for tag in text.split(",")]
    return sorted(set(tags))
'''

SOURCES["test_shop"] = '''from shop import line_total, page_slice, parse_tags


def test_first_page():
    assert page_slice(list(range(50)), 1, 20) == list(range(20))


def test_line_total_without_discount():
    assert line_total(250, 4) == 1000


def test_tags_are_lower_case():
    assert parse_tags("API") == ["api"]
'''

# Exercise part B: a correct HTTP Range parser; the learner's tests must pass on it and catch mutants.
SOURCES["ranges"] = '''"""Parse an HTTP ``Range`` request header for a file of ``size`` bytes (RFC 9110, section 14)."""


class RangeNotSatisfiable(ValueError):
    """A well-formed range that selects no byte of the file: the server answers 416."""


def parse_range(header, size):
    """The inclusive byte positions ``(first, last)`` that ``header`` selects in a file of ``size`` bytes.

    - ``bytes=0-499``: the first 500 bytes, ``(0, 499)``; a last position past the end is cut to
      ``size - 1``.
    - ``bytes=500-``: from byte 500 to the end.
    - ``bytes=-300``: the last 300 bytes (all of them if the file is shorter).
    - The unit ``bytes`` is case-insensitive, and spaces around the parts are allowed.
    - Raises ``ValueError`` for a malformed header: another unit, no ``=``, no digits, a first position
      after the last one, or several ranges (``bytes=0-1,5-6``, not supported here).
    - Raises ``RangeNotSatisfiable`` when the range is well formed but selects nothing: a first position
      at or past the end of the file, or a suffix of zero bytes (``bytes=-0``).
    """
    unit, sep, spec = header.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        raise ValueError(f"not a bytes range: {header!r}")
    spec = spec.strip()
    if "," in spec:
        raise ValueError("several ranges are not supported")
    first_text, dash, last_text = spec.partition("-")
    first_text, last_text = first_text.strip(), last_text.strip()
    if not dash or not (first_text or last_text):
        raise ValueError(f"malformed range: {spec!r}")
    if not all(part.isdigit() for part in (first_text, last_text) if part):
        raise ValueError(f"positions must be digits: {spec!r}")
    if not first_text:
        suffix = int(last_text)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable(f"empty suffix range of a {size}-byte file")
        return max(size - suffix, 0), size - 1
    first = int(first_text)
    if last_text and int(last_text) < first:
        raise ValueError(f"first position after the last: {spec!r}")
    if first >= size:
        raise RangeNotSatisfiable(f"range starts at {first}, the file has {size} bytes")
    last = int(last_text) if last_text else size - 1
    return first, min(last, size - 1)
'''

# Exercise part C: a cookie parser with the bug of the exercise's bug report.
SOURCES["sessions"] = '''"""Read the ``Cookie`` request header of the login service."""


def parse_cookie(header):
    """A dict of cookie names to values from a ``Cookie`` header (``"a=1; b=2"``); spaces are trimmed and
    parts without ``=`` are skipped."""
    cookies = {}
    for part in header.split(";"):
        if "=" not in part:
            continue
        name, value = part.split("=")[:2]
        cookies[name.strip()] = value.strip()
    return cookies
'''

REVIEW_CHECKLIST: dict[str, str] = {
    "sql-injection": "Is user input put into SQL text, instead of passed as a query parameter?",
    "secret-in-code": "Is a password, API key or token written in the source code?",
    "swallowed-error": "Is an exception caught and then ignored, hiding the failure?",
    "debug-leftover": "Are print calls, breakpoints or commented-out code left in?",
    "no-timeout": "Does a network call run without a timeout?",
    "missing-tests": "Does behaviour change without a test that shows it?",
    "mutable-default": "Is a list, dict or set used as a default argument value?",
    "query-in-loop": "Is a database query run once per item of a loop (N+1)?",
    "unclear-name": "Does a name hide what a thing is or does (data2, tmp, do_stuff)?",
    "wrong-status": "Does an endpoint answer with a status code that does not fit (200 for a create)?",
}

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _plain(text: str) -> str:
    """Text without terminal colour codes (a notebook kernel may ask tools for colour)."""
    return _ANSI.sub("", text)


def source(name: str) -> str:
    """The text of one of the :data:`SOURCES` modules."""
    try:
        return SOURCES[name]
    except KeyError:
        raise KeyError(f"no practice module {name!r}; there are: {', '.join(sorted(SOURCES))}") from None


def write_module(name: str, folder: str | Path = ".") -> Path:
    """Write ``<name>.py`` from :data:`SOURCES` into ``folder`` and return its path."""
    target = Path(folder) / f"{name}.py"
    target.write_text(source(name), encoding="utf-8")
    return target


@dataclass
class PytestRun:
    """What one ``python -m pytest`` run did: its exit code, its output and the counts of its summary."""

    returncode: int
    output: str
    counts: dict[str, int] = field(default_factory=dict)
    timed_out: bool = False
    files: dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """Every collected test passed (and there was at least one)."""
        return self.returncode == 0 and self.counts.get("passed", 0) > 0

    @property
    def failed_cleanly(self) -> bool:
        """Tests ran and at least one failed an assertion, with no collection or setup error."""
        return self.returncode == 1 and self.counts.get("failed", 0) > 0 and not self.counts.get("error")

    def summary(self) -> str:
        if self.timed_out:
            return "timed out"
        lines = [line for line in self.output.strip().splitlines() if line.strip()]
        return lines[-1].strip("= ") if lines else f"exit code {self.returncode}"


_COUNT = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|deselected|warnings?)")


def _counts(output: str) -> dict[str, int]:
    lines = [line for line in output.splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    counts: dict[str, int] = {}
    for number, word in _COUNT.findall(last):
        key = {"errors": "error", "warnings": "warning"}.get(word, word)
        counts[key] = counts.get(key, 0) + int(number)
    return counts


def _pytest_env() -> dict[str, str]:
    env = dict(os.environ)
    # Plugins installed for the course's own tests (schemathesis, playwright...) take seconds to load and
    # are not needed here; a clean environment also keeps an outer pytest's options out of this run.
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PY_COLORS"] = "0"  # plain text output, even when the kernel's environment asks for colour
    for name in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_CURRENT_TEST"):
        env.pop(name, None)
    return env


def run_pytest(folder: str | Path, *args: str, timeout: float = 60) -> PytestRun:
    """Run ``python -m pytest -q <args>`` in ``folder`` (a subprocess, killed after ``timeout`` s, scaled on a
    slow machine by :func:`course.components.waits.scaled`). ``-q`` is left out when ``args`` ask for verbose
    output (``-v``, ``-vv``, ``--verbose``): pytest adds them up, so ``-q -v`` would print no test names."""
    from course.components.waits import scaled

    verbose = any(re.fullmatch(r"-v+|--verbose", arg) for arg in args)
    quiet = [] if verbose else ["-q"]
    command = [sys.executable, "-m", "pytest", *quiet, "--color=no", "-p", "no:cacheprovider", *args]
    try:
        done = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=scaled(timeout),
                              env=_pytest_env(), check=False)
    except subprocess.TimeoutExpired as expired:
        output = (expired.stdout or b"").decode() if isinstance(expired.stdout, bytes) else expired.stdout or ""
        return PytestRun(returncode=-1, output=output, timed_out=True)
    output = _plain(done.stdout + done.stderr)
    return PytestRun(returncode=done.returncode, output=output, counts=_counts(_plain(done.stdout)))


def run_tests_against(files: dict[str, str], *args: str, timeout: float = 30,
                      read_back: tuple[str, ...] = ()) -> PytestRun:
    """Write ``files`` (name -> text) into a fresh temporary folder, run pytest there, remove the folder.

    The folder gets an empty ``pytest.ini``, so no configuration from around it applies. Files named in
    ``read_back`` (a report the run wrote, say) are read into ``files`` of the result before the folder goes.
    """
    folder = Path(tempfile.mkdtemp(prefix="course-pytest-"))
    try:
        (folder / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
        for name, text in files.items():
            (folder / name).write_text(text, encoding="utf-8")
        run = run_pytest(folder, *args, timeout=timeout)
        run.files = {name: (folder / name).read_text(encoding="utf-8") for name in read_back
                     if (folder / name).is_file()}
        return run
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run_many(jobs: list[dict[str, str]], *args: str, timeout: float = 30, workers: int = 2) -> list[PytestRun]:
    """:func:`run_tests_against` for each file set of ``jobs``, ``workers`` at a time, results in order."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda files: run_tests_against(files, *args, timeout=timeout), jobs))


@dataclass(frozen=True)
class Mutant:
    """A copy of a module with one small change: where it is, what changed, and the new source."""

    line: int
    change: str
    source: str


_FLIPS = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq,
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.FloorDiv, ast.FloorDiv: ast.Mult,
}
_SYMBOL = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=",
           ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.FloorDiv: "//"}


def _mutation_sites(tree: ast.AST):
    """Every (node, kind, index) that can be mutated, in a stable order."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                if type(op) in _FLIPS:
                    yield node, "compare", i
        elif isinstance(node, ast.BinOp) and type(node.op) in _FLIPS:
            yield node, "binop", 0
        elif isinstance(node, ast.Constant) and type(node.value) is int:
            yield node, "plus-one", 0
            yield node, "minus-one", 0


def mutants(module_source: str, *, only_in: str | None = None) -> list[Mutant]:
    """Every single-change mutant of ``module_source``: comparisons and arithmetic flipped (``<`` to
    ``<=``, ``+`` to ``-``), integer constants moved by one. ``only_in`` limits them to one function."""
    tree = ast.parse(module_source)
    scope = tree
    if only_in:
        scope = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == only_in)
    found = []
    for index, (node, kind, i) in enumerate(list(_mutation_sites(scope))):
        copy = ast.parse(module_source)
        target_scope = copy if not only_in else next(
            n for n in ast.walk(copy) if isinstance(n, ast.FunctionDef) and n.name == only_in)
        target, _, _ = list(_mutation_sites(target_scope))[index]
        if kind == "compare":
            old = type(target.ops[i])
            target.ops[i] = _FLIPS[old]()
            change = f"{_SYMBOL[old]} became {_SYMBOL[_FLIPS[old]]}"
        elif kind == "binop":
            old = type(target.op)
            target.op = _FLIPS[old]()
            change = f"{_SYMBOL[old]} became {_SYMBOL[_FLIPS[old]]}"
        else:
            delta = 1 if kind == "plus-one" else -1
            change = f"{target.value} became {target.value + delta}"
            target.value += delta
        found.append(Mutant(line=node.lineno, change=change, source=ast.unparse(copy)))
    return found


def mutation_report(module: str, module_source: str, tests: dict[str, str], *, only_in: str | None = None,
                    timeout: float = 30) -> list[dict]:
    """Run ``tests`` against every mutant of ``module``: one row per mutant, ``killed`` when a test failed."""
    found = mutants(module_source, only_in=only_in)
    runs = run_many([{f"{module}.py": m.source, **tests} for m in found], timeout=timeout)
    return [{"line": m.line, "change": m.change, "killed": not run.passed} for m, run in zip(found, runs, strict=True)]


def pdb_transcript(func, *args, commands: list[str], **kwargs) -> str:
    """Run ``func(*args, **kwargs)`` under the real ``pdb``, typing ``commands``; return what pdb printed.

    pdb stops at the first line of ``func``; a ``continue`` is added at the end so the call always finishes.
    """
    typed = io.StringIO("\n".join([*commands, "continue"]) + "\n")
    printed = io.StringIO()
    debugger = pdb.Pdb(stdin=typed, stdout=printed, nosigint=True, readrc=False)
    debugger.use_rawinput = False
    debugger.prompt = "(Pdb) "
    with contextlib.redirect_stdout(printed):
        debugger.runcall(func, *args, **kwargs)
    return _plain(printed.getvalue())


def run_ci(steps: list[tuple[str, list[str]]], folder: str | Path, *, timeout: float = 60) -> list[dict]:
    """Run a pipeline's steps (name, command) in order in ``folder``, stopping at the first that fails,
    like a CI job does; a command starting with ``python`` runs with this Python."""
    results = []
    for name, command in steps:
        argv = [sys.executable, *command[1:]] if command and command[0] == "python" else list(command)
        try:
            done = subprocess.run(argv, cwd=folder, capture_output=True, text=True, timeout=timeout,
                                  env=_pytest_env(), check=False)
            ok, output = done.returncode == 0, _plain(done.stdout + done.stderr).strip()
        except subprocess.TimeoutExpired:
            ok, output = False, f"timed out after {timeout} s"
        results.append({"step": name, "ok": ok, "last line": output.splitlines()[-1] if output else ""})
        if not ok:
            break
    return results
