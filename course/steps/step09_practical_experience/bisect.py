"""A real git history with a regression in it, for ``git bisect`` (deep dive 09b).

:func:`make_regression_repo` builds a repository of a small invoicing module, ``invoice.py``, in a new
temporary folder: one commit per change, the first tagged ``v1.0`` (known good). Most commits add a discount
code (harmless); one "simplifies" the tax computation and truncates where it rounded (the regression: an
invoice with tax comes out a cent short); one is *untestable*: it imports a ``settings`` module that only the
next commit adds, so ``import invoice`` fails there, as happens in a real history when a change is split
across commits.

:data:`CHECK_SCRIPT` is a script for ``git bisect run``: exit 125 when the module does not import (git skips
that commit), 1 when the regression test fails (bad), 0 when it passes (good). :func:`bisect_run` runs
``git bisect start/bad/good`` and ``git bisect run`` and reads what git said: the first bad commit and how
many commits it tested. Git runs through step 06's helpers (no global config read, a logical clock), so the
same arguments give the same commit ids on every run.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from course.steps.step06_open_source import repos

__all__ = [
    "RegressionRepo", "BisectResult", "make_regression_repo", "CHECK_SCRIPT", "write_check_script",
    "bisect_run", "tested_commits", "is_good", "run_at",
]

_HEADER = '''"""Invoices of the shop: line totals and tax, in cents."""

{imports}
DISCOUNT_CODES = {{
{codes}}}


def subtotal_cents(lines):
    """Sum of quantity times unit price (in cents) over ``lines`` of ``(quantity, unit_cents)``."""
    return sum(quantity * unit_cents for quantity, unit_cents in lines)


def total_cents(lines, tax_percent={tax_default}, code=None):
    """Subtotal, less the discount of ``code`` (a percentage), plus tax; each rounded half up to the cent."""
    subtotal = subtotal_cents(lines)
    discount = (subtotal * DISCOUNT_CODES.get(code, 0) + 50) // 100
    taxed = subtotal - discount
{tax_line}
    return taxed + tax
'''
_ROUNDED = "    tax = (taxed * tax_percent + 50) // 100"
_TRUNCATED = "    tax = taxed * tax_percent // 100  # simpler"
_CODES = ["WELCOME", "SPRING", "STAFF", "SUMMER", "LOYAL", "FRIENDS", "AUTUMN", "WINTER", "STUDENT", "BULK",
          "VIP", "EARLY", "LATE", "REFER", "BIRTHDAY", "FLASH", "NEWS", "MEMBER", "PARTNER", "RETURN"]

# The regression test a bug report becomes: 3 x 3.33 with 20 % tax is 999 + 199.8 -> 200, so 1199 cents.
REGRESSION_TEST = '''from invoice import total_cents


def test_tax_rounds_half_up_to_the_cent():
    assert total_cents([(3, 333)], tax_percent=20) == 1199
'''

CHECK_SCRIPT = '''"""Run by `git bisect run` at each commit: 0 good, 1 bad, 125 cannot be tested (skip it)."""
import subprocess
import sys

# 125 tells git this commit cannot be tested: it skips it and picks a neighbour instead.
if subprocess.run([sys.executable, "-c", "import invoice"], capture_output=True).returncode != 0:
    sys.exit(125)
test = sys.argv[1]  # the regression test lives outside the repository, so every checkout sees the same one
done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test], capture_output=True)
sys.exit(0 if done.returncode == 0 else 1)
'''


@dataclass
class RegressionRepo:
    """The repository and what the tests know about its history (a learner finds it with ``git bisect``)."""

    repo: repos.Repo
    commits: list[str]            # every commit id, oldest first
    first_bad: str                # the commit that introduced the regression
    untestable: str | None        # the commit whose module does not import
    good: str = "v1.0"            # the tag of the first commit, known good
    bad: str = "main"             # the branch tip, known bad
    folder: Path = field(default=None)  # holds the regression test and the check script, outside the repo

    @property
    def path(self) -> Path:
        return self.repo.path

    def subject(self, commit: str) -> str:
        """The first line of a commit's message."""
        return self.repo.git("log", "-1", "--format=%s", commit).strip()


def _module(codes: dict[str, int], *, truncated: bool, imports_settings: bool) -> str:
    rates = "".join(f'    "{code}": {rate},\n' for code, rate in codes.items())
    imports = "from settings import DEFAULT_TAX_PERCENT\n" if imports_settings else ""
    return _HEADER.format(imports=imports, codes=rates, tax_line=_TRUNCATED if truncated else _ROUNDED,
                          tax_default="DEFAULT_TAX_PERCENT" if imports_settings else "0")


def make_regression_repo(path: str | Path | None = None, *, commits: int = 16, regression: int = 11,
                         untestable: int | None = 7) -> RegressionRepo:
    """A repository of ``commits`` commits (numbered 0 to ``commits - 1``; 0 is ``v1.0``) in which commit
    ``regression`` truncates the tax and commit ``untestable`` imports a module that commit
    ``untestable + 1`` adds. Also writes ``test_regression.py`` and ``check.py`` (:data:`CHECK_SCRIPT`)
    into a folder next to the repository, ``RegressionRepo.folder``."""
    if not 0 < regression < commits:
        raise ValueError("the regression must come after the first commit and by the last")
    if untestable is not None and not (untestable > 0 and untestable + 1 < commits and regression not in
                                       (untestable, untestable + 1)):
        raise ValueError("the untestable commit needs a next commit, and neither may be the regression")
    root = repos.temp_dir("course-bisect-")
    repo = repos.init_repo(Path(path) if path is not None else root / "shop", name="Dana Dev",
                           email="dana@shop.example")
    codes: dict[str, int] = {}
    ids: list[str] = []
    for number in range(commits):
        files = {}
        if number == 0:
            message = "Invoices: subtotal, discount codes and tax"
        elif number == regression:
            message = "Simplify the tax computation"
        elif number == untestable:
            message = "Read the default tax rate from settings (WIP)"
        elif untestable is not None and number == untestable + 1:
            message = "Add settings.py with the default tax rate"
            files["settings.py"] = '"""Shop settings."""\n\nDEFAULT_TAX_PERCENT = 0\n'
        else:
            n, rate = len(codes), 5 + (7 * len(codes)) % 26
            code = f"{_CODES[n % len(_CODES)]}{rate}" + ("" if n < len(_CODES) else f"-{n}")
            codes[code] = rate
            message = f"Add discount code {code}"
        imports = untestable is not None and number >= untestable
        files["invoice.py"] = _module(codes, truncated=number >= regression, imports_settings=imports)
        ids.append(repo.commit(message, files))
        if number == 0:
            repo.git("tag", "v1.0")
    folder = root / "bisect-tools"
    folder.mkdir(exist_ok=True)
    (folder / "test_regression.py").write_text(REGRESSION_TEST, encoding="utf-8")
    write_check_script(folder)
    return RegressionRepo(repo=repo, commits=ids, first_bad=ids[regression],
                          untestable=ids[untestable] if untestable is not None else None, folder=folder)


def write_check_script(folder: str | Path, text: str = CHECK_SCRIPT, name: str = "check.py") -> Path:
    """Write a ``git bisect run`` script (the lesson's :data:`CHECK_SCRIPT` unless ``text`` is given)."""
    target = Path(folder) / name
    target.write_text(text, encoding="utf-8")
    return target


@dataclass
class BisectResult:
    """What ``git bisect run`` found: the first bad commit (``None`` if git could not tell), the commits it
    tested in order with each verdict, and git's own output."""

    first_bad: str | None
    tested: list[tuple[str, str]]
    output: str

    @property
    def steps(self) -> int:
        """How many commits the script ran on (skipped ones included)."""
        return len(self.tested)


# pytest plugins installed for the course's own suite take seconds to load in each run and are not needed.
_QUIET_PYTEST = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONDONTWRITEBYTECODE": "1"}
_FIRST_BAD = re.compile(r"^([0-9a-f]{40}) is the first bad commit", re.M)


def tested_commits(bisect_log: str) -> list[tuple[str, str]]:
    """``(commit, verdict)`` for each commit ``git bisect log`` says was marked after the start (the first
    ``bad`` and ``good`` marks are the ones the user gave)."""
    marks = re.findall(r"^git bisect (good|bad|skip) ([0-9a-f]{40})$", bisect_log, re.M)
    return [(commit, verdict) for verdict, commit in marks[2:]]


def bisect_run(path: str | Path, good: str, bad: str, command: list[str], *, timeout: float = 120) -> BisectResult:
    """``git bisect start``, ``bad``, ``good``, then ``git bisect run <command>`` in the repository at
    ``path``; read the result and ``git bisect log``, then ``git bisect reset`` (back to where it was).
    A command starting with ``python`` runs with this Python."""
    argv = [sys.executable, *command[1:]] if command and command[0] == "python" else list(command)
    cwd = Path(path)
    try:
        repos.git("bisect", "start", cwd=cwd)
        repos.git("bisect", "bad", bad, cwd=cwd)
        repos.git("bisect", "good", good, cwd=cwd)
        done = repos.run_git("bisect", "run", *argv, cwd=cwd, timeout=timeout, env=_QUIET_PYTEST)
        log = repos.git("bisect", "log", cwd=cwd)
    finally:
        repos.run_git("bisect", "reset", cwd=cwd)
    output = done.stdout + done.stderr
    found = _FIRST_BAD.search(output)
    return BisectResult(first_bad=found.group(1) if found else None, tested=tested_commits(log), output=output)


def run_at(regression: RegressionRepo, commit: str, command: list[str], *, timeout: float = 60) -> int:
    """The exit code of ``command`` run in the repository with ``commit`` checked out (as ``git bisect run``
    would run it there), then back to the branch; a command starting with ``python`` runs with this Python."""
    import subprocess

    argv = [sys.executable, *command[1:]] if command and command[0] == "python" else list(command)
    with _checked_out(regression.repo, commit):
        return subprocess.run(argv, cwd=regression.path, capture_output=True, timeout=timeout,
                              env=repos.git_env(_QUIET_PYTEST), check=False).returncode


def is_good(regression: RegressionRepo, commit: str) -> bool | None:
    """Whether ``commit`` passes the regression test (``None`` if its module does not import): the truth a
    bisect's answer is checked against, one commit at a time."""
    if run_at(regression, commit, ["python", "-c", "import invoice"]) != 0:
        return None
    test = regression.folder / "test_regression.py"
    return run_at(regression, commit, ["python", "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test)]) == 0


class _checked_out:
    def __init__(self, repo: repos.Repo, commit: str):
        self.repo, self.commit = repo, commit

    def __enter__(self):
        self.before = self.repo.git("rev-parse", "--abbrev-ref", "HEAD").strip()
        self.repo.git("checkout", "--quiet", "--detach", self.commit)

    def __exit__(self, *exc):
        self.repo.git("checkout", "--quiet", self.before)
