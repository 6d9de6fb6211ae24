"""Line and branch coverage with coverage.py, next to mutants (deep dive 09b).

:func:`coverage_of` runs ``python -m coverage run --branch -m pytest`` on a module and its tests in a fresh
folder, then ``coverage json``, and returns what coverage.py measured for the module: the share of lines and
of branches run, and which lines and branch arcs were missed. :data:`SHIPPING` is the module of the lesson and
the exercise: three ``if`` statements, so that tests can run every line and still miss a branch (an ``if``
whose body always ran, never skipped). :func:`surviving_mutants` runs tests against hand-picked mutants of it:
coverage says what ran, mutants say what was checked.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from course.steps.step09_practical_experience.workbench import _pytest_env, run_many

__all__ = ["Coverage", "coverage_of", "SHIPPING", "SHIPPING_MUTANTS", "shipping_mutant", "surviving_mutants"]

SHIPPING = '''"""Shipping prices of the shop, in cents."""


def shipping_cents(weight_grams, country, express=False):
    """Price of a parcel: 500 cents in France, 900 elsewhere, plus 100 cents per started kilogram above 2 kg;
    express doubles the price. A weight of zero grams or less raises ValueError."""
    if weight_grams <= 0:
        raise ValueError("a parcel weighs something")
    cost = 500 if country == "FR" else 900
    if weight_grams > 2000:
        cost += 100 * ((weight_grams - 2000 + 999) // 1000)
    if express:
        cost *= 2
    return cost
'''

# Small changes a test suite that checks the docstring must catch (each one a plausible slip).
SHIPPING_MUTANTS = {
    "zero-weight-allowed": ("if weight_grams <= 0:", "if weight_grams < 0:"),
    "surcharge-from-zero": ("(weight_grams - 2000 + 999)", "(weight_grams + 999)"),
    "kilograms-truncated": ("+ 999) // 1000", ") // 1000"),
    "express-adds": ("cost *= 2", "cost += 2"),
    "country-ignored": ('500 if country == "FR" else 900', "500"),
}


def shipping_mutant(name: str) -> str:
    old, new = SHIPPING_MUTANTS[name]
    assert old in SHIPPING, name
    return SHIPPING.replace(old, new, 1)


@dataclass(frozen=True)
class Coverage:
    """What coverage.py measured for one module under a test run."""

    tests_passed: bool
    line_percent: float         # statements run / statements
    branch_percent: float       # branch arcs taken / branch arcs
    missing_lines: list[int]
    missing_branches: list[tuple[int, int]]  # (from line, to line); a negative "to" is the function's exit
    total_percent: float        # coverage.py's own figure: statements and branches together
    output: str                 # `coverage report -m`


def coverage_of(module_name: str, module_source: str, tests: str, *, timeout: float = 60) -> Coverage:
    """Measure the line and branch coverage of ``module_source`` (saved as ``module_name``.py) under the test
    file ``tests`` (saved as ``test_it.py``): real ``coverage run --branch -m pytest`` and ``coverage json``."""
    from course.components.waits import scaled

    folder = Path(tempfile.mkdtemp(prefix="course-coverage-"))
    try:
        (folder / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
        (folder / f"{module_name}.py").write_text(module_source, encoding="utf-8")
        (folder / "test_it.py").write_text(tests, encoding="utf-8")

        def run(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run([sys.executable, "-m", "coverage", *args], cwd=folder, capture_output=True,
                                  text=True, timeout=scaled(timeout), env=_pytest_env(), check=False)

        ran = run("run", "--branch", f"--source={module_name}", "-m", "pytest", "-q", "-p", "no:cacheprovider")
        report = run("report", "-m")
        run("json", "-o", "coverage.json")
        data = json.loads((folder / "coverage.json").read_text(encoding="utf-8")) \
            if (folder / "coverage.json").is_file() else {"files": {}}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    measured = data["files"].get(f"{module_name}.py")
    if measured is None:
        return Coverage(ran.returncode == 0, 0.0, 0.0, [], [], 0.0, report.stdout + report.stderr + ran.stdout)
    summary = measured["summary"]
    lines = 100.0 * summary["covered_lines"] / summary["num_statements"] if summary["num_statements"] else 100.0
    branches = 100.0 * summary["covered_branches"] / summary["num_branches"] if summary["num_branches"] else 100.0
    return Coverage(tests_passed=ran.returncode == 0, line_percent=round(lines, 1), branch_percent=round(branches, 1),
                    missing_lines=list(measured["missing_lines"]),
                    missing_branches=[tuple(arc) for arc in measured.get("missing_branches", [])],
                    total_percent=round(summary["percent_covered"], 1), output=report.stdout.strip())


def surviving_mutants(tests: str, *, workers: int = 2) -> list[str]:
    """The :data:`SHIPPING_MUTANTS` that ``tests`` (a test file) let through: every test passed on them."""
    names = list(SHIPPING_MUTANTS)
    runs = run_many([{"shipping.py": shipping_mutant(name), "test_it.py": tests} for name in names],
                    workers=workers)
    return [name for name, run in zip(names, runs, strict=True) if run.passed]
