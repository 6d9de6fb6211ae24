"""Step 08 · a "first five minutes" review of a project folder, the way a hiring lead would look at it.

:func:`review` clones the folder with real git into a temporary folder (so only *committed* files count:
work that is not committed is invisible to anyone who clones the repository, and the report lists it), then
checks, in the order a reviewer meets them:

1. ``readme``: a README with the sections a reviewer looks for (the problem, the stack, how to run it, the
   architecture with a diagram, results with numbers);
2. ``licence``: a LICENSE whose licence is recognised (an SPDX identifier from ``course/data/licences.yaml``);
3. ``ci``: a CI configuration (``noxfile.py`` or ``.github/workflows/*.yml``), run here, and shown to run tests;
4. ``tests``: the test suite from the clone, read back from a JUnit XML report: the CI's own pytest run when it
   passed with one (not run a second time), else pytest run here in a subprocess;
5. ``lint`` and ``types``: ``ruff check`` and ``mypy`` clean;
6. ``container``: a Containerfile (or Dockerfile) that passes step 05b's checker (built only when asked to
   and a container engine answers; never required);
7. ``health``: the service starts (:func:`course.steps.step05_build_projects.start_service`) and its health
   endpoint answers 200; then it is stopped.

Every subprocess is time-bound: a suite that hangs or a service that crashes gives one clear line. The
result is a :class:`Review` of :class:`Check` rows (passed, what a reviewer sees, how to fix) whose ``str``
is a short readable summary.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from course.components.waits import scaled

__all__ = ["Check", "Review", "review", "readme_sections", "licence_id", "ci_commands", "README_SECTIONS",
           "CHECKS"]

CHECKS = ("clone", "readme", "licence", "ci", "tests", "lint", "types", "container", "health")

# Section -> words one of the README's headings must contain (lower case).
README_SECTIONS = {
    "problem": ("problem", "what it does", "why", "about", "overview"),
    "stack": ("stack", "built with", "technolog", "tools"),
    "how to run": ("run", "install", "getting started", "usage", "quick start", "set up", "setup"),
    "architecture": ("architecture", "design", "how it works"),
    "results": ("results", "performance", "benchmark", "measurements", "numbers"),
}
_DIAGRAM = re.compile(r"-->|->|<-|[│┌┐└┘├┤─▶►]|\+-{2,}|\|\s*\n\s*v\b")
# Phrases of the canonical licence texts (https://spdx.org/licenses/) that identify them without an SPDX line.
_LICENCE_TEXTS = (
    ("Apache-2.0", ("Apache License", "Version 2.0")),
    ("MIT", ("Permission is hereby granted, free of charge",)),
    ("BSD-3-Clause", ("Redistribution and use in source and binary forms", "Neither the name of")),
    ("BSD-2-Clause", ("Redistribution and use in source and binary forms",)),
)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")  # colour codes: a tool run from a notebook may be told to use them
_LICENCE_FILES = ("LICENSE", "LICENSE.md", "LICENSE.txt", "LICENCE", "LICENCE.md", "COPYING")


@dataclass
class Check:
    """One thing a reviewer looks at: whether it passed, what they see, and how to fix it."""

    name: str
    passed: bool
    seen: str
    fix: str = ""
    details: dict = field(default_factory=dict, repr=False)

    def __str__(self) -> str:
        line = f"{'✓' if self.passed else '✗'} {self.name:<9} {self.seen}"
        return line if self.passed or not self.fix else f"{line}\n              fix: {self.fix}"


@dataclass
class Review:
    """What a reviewer sees of ``project`` at ``commit`` in the first five minutes."""

    project: str
    commit: str
    checks: list[Check]
    uncommitted: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    def __getitem__(self, name: str) -> Check:
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(name)

    def failing(self) -> list[str]:
        return [check.name for check in self.checks if not check.passed]

    def __str__(self) -> str:
        good = sum(check.passed for check in self.checks)
        lines = [f"Review of {self.project} at {self.commit or '(no commit)'}: "
                 f"{good} of {len(self.checks)} checks pass"]
        lines += [str(check) for check in self.checks]
        if self.uncommitted:
            shown = ", ".join(self.uncommitted[:6]) + (" …" if len(self.uncommitted) > 6 else "")
            lines.append(f"! not committed, so a reviewer never sees them: {shown}")
        return "\n".join(lines)


# --- reading files ---------------------------------------------------------------------------------------


def readme_sections(markdown: str) -> dict[str, bool]:
    """Which of :data:`README_SECTIONS` a README has; ``architecture`` needs a diagram in its section and
    ``results`` a number in its section (a Mermaid block, or a fenced block drawn with arrows or boxes)."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").parse(markdown)
    sections: list[tuple[str, list]] = []  # (heading text, tokens under it)
    for i, token in enumerate(tokens):
        if token.type == "heading_open":
            sections.append((tokens[i + 1].content.lower(), []))
        elif sections:
            sections[-1][1].append(token)
    found = dict.fromkeys(README_SECTIONS, False)
    for heading, body in sections:
        for section, words in README_SECTIONS.items():
            if not any(word in heading for word in words):
                continue
            if section == "architecture":
                found[section] |= any(t.type == "fence" and (t.info.strip() == "mermaid" or _DIAGRAM.search(t.content))
                                      for t in body)
            elif section == "results":
                found[section] |= any(re.search(r"\d", t.content) for t in body if t.type in ("inline", "fence"))
            else:
                found[section] = True
    return found


def licence_id(text: str) -> str | None:
    """The SPDX id of a licence text: from an ``SPDX-License-Identifier:`` line, else from the canonical
    text's wording; ``None`` when it is not one of the licences in ``course/data/licences.yaml``."""
    from course import data

    known = {row["spdx"] for row in data.load("licences.yaml")["licences"]}
    declared = re.search(r"SPDX-License-Identifier:\s*([\w.+-]+)", text)
    if declared:
        return declared.group(1) if declared.group(1) in known else None
    for spdx, phrases in _LICENCE_TEXTS:
        if spdx in known and all(phrase.lower() in " ".join(text.split()).lower() for phrase in phrases):
            return spdx
    return None


def ci_commands(project: str | os.PathLike) -> tuple[str, list[list[str]]] | None:
    """How to run a project's CI here: ``("nox", [command])`` for a ``noxfile.py``, else ``("workflow",
    [["bash", "-c", step], ...])``: the ``run:`` steps of its GitHub workflows, in order; ``None`` if neither.

    A noxfile wins: its sessions are what the CI server itself calls, and they run here the same way. A
    workflow's ``uses:`` steps (checkout, setup-python) need GitHub's runner, so only its ``run:`` steps are
    run, in the order the workflow lists them.
    """
    import yaml

    project = Path(project)
    if (project / "noxfile.py").is_file():
        return "nox", [[sys.executable, "-m", "nox", "--non-interactive"]]
    workflows = sorted((project / ".github" / "workflows").glob("*.y*ml"))
    if not workflows:
        return None
    steps = []
    for workflow in workflows:
        document = yaml.safe_load(workflow.read_text(encoding="utf-8")) or {}
        for job in (document.get("jobs") or {}).values():
            steps += [["bash", "-e", "-c", step["run"]] for step in job.get("steps") or [] if "run" in step]
    return "workflow", steps


# --- running things --------------------------------------------------------------------------------------


def _run(command: list[str], cwd: Path, env: dict[str, str], timeout: float) -> tuple[int | None, str]:
    """(exit code, output tail) of ``command``; the code is ``None`` when it ran longer than ``timeout`` s."""
    try:
        result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                                timeout=scaled(timeout))
    except subprocess.TimeoutExpired as error:
        output = error.stdout or ""
        return None, _ANSI.sub("", output.decode(errors="replace") if isinstance(output, bytes) else output)[-2000:]
    except FileNotFoundError as error:
        return 127, str(error)
    return result.returncode, _ANSI.sub("", result.stdout + result.stderr)[-2000:]


def _last_line(output: str) -> str:
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    return lines[-1][:160] if lines else "(no output)"


def _git(arguments: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *arguments], cwd=cwd, capture_output=True, text=True, timeout=scaled(60))


def _junit(path: Path) -> dict | None:
    from course.steps.step05_build_projects.ship import junit_summary

    try:
        return junit_summary(path)
    except (OSError, SyntaxError):  # ElementTree.ParseError is a SyntaxError
        return None


def _check_readme(clone: Path) -> Check:
    readme = next((clone / name for name in ("README.md", "README.rst", "README") if (clone / name).is_file()), None)
    if readme is None:
        return Check("readme", False, "no README: the first page of the repository is a file list",
                     "write README.md: the problem, the stack, how to run it, the architecture (a diagram), "
                     "results with numbers")
    found = readme_sections(readme.read_text(encoding="utf-8", errors="replace"))
    missing = [section for section, present in found.items() if not present]
    if not missing:
        return Check("readme", True, f"{readme.name} has {', '.join(found)}", details=found)
    return Check("readme", False, f"{readme.name} lacks: {', '.join(missing)}",
                 "add a heading for each (an architecture section with a Mermaid or ASCII diagram, a results "
                 "section with measured numbers)", details=found)


def _check_licence(clone: Path) -> Check:
    path = next((clone / name for name in _LICENCE_FILES if (clone / name).is_file()), None)
    if path is None:
        return Check("licence", False, "no LICENSE: copyright law then gives nobody else the right to reuse the code",
                     "add a LICENSE file with a licence's canonical text (e.g. MIT from spdx.org/licenses)")
    spdx = licence_id(path.read_text(encoding="utf-8", errors="replace"))
    if spdx is None:
        return Check("licence", False, f"{path.name} is not a licence the review recognises",
                     "use a licence's canonical text, or add 'SPDX-License-Identifier: <id>' with a known id")
    return Check("licence", True, f"{path.name}: {spdx}", details={"spdx": spdx})


def _check_ci(clone: Path, env: dict[str, str], timeout: float, kept: dict) -> Check:
    """Run the CI; ``kept["junit"]`` gets the summary of its own pytest run, which the tests check reuses."""
    found = ci_commands(clone)
    if found is None:
        return Check("ci", False, "no CI configuration: nothing shows the tests run on every change",
                     "add a noxfile.py or .github/workflows/ci.yml whose steps run ruff, mypy and pytest")
    kind, commands = found
    if not commands:
        return Check("ci", False, "the workflow has no run: steps", "add steps that run the linters and the tests")
    report_dir = Path(tempfile.mkdtemp(prefix="review-ci-"))
    try:
        # The CI's own pytest run writes its JUnit report here too (unless its command line names another).
        ci_env = {**env, "PYTEST_ADDOPTS": f"--junitxml={report_dir / 'junit.xml'}"}
        for command in commands:
            code, output = _run(command, clone, ci_env, timeout)
            shown = command[-1] if kind == "workflow" else "nox"
            if code is None:
                return Check("ci", False, f"{kind}: `{shown}` did not finish within {timeout:.0f} s",
                             "find what hangs (a test waiting for a service, an input prompt)")
            if code != 0:
                return Check("ci", False, f"{kind}: `{shown}` failed (exit {code}): {_last_line(output)}",
                             "run the same command locally and fix what it reports")
        reports = [report_dir / "junit.xml", *clone.rglob("*.xml")]
        summaries = [summary for summary in map(_junit, reports) if summary]
        best = max(summaries, key=lambda summary: summary["tests"], default=None)
        ran = best["tests"] if best else 0
    finally:
        shutil.rmtree(report_dir, ignore_errors=True)
    if not ran:
        return Check("ci", False, f"{kind} passes but runs no tests: a green badge that proves nothing",
                     "make a CI step run pytest on the project's tests")
    kept["junit"] = best
    return Check("ci", True, f"{kind} passes and runs {ran} tests", details={"kind": kind, "tests": ran})


def _check_tests(clone: Path, env: dict[str, str], timeout: float, ci_run: dict | None = None) -> Check:
    """The suite from the fresh clone: the CI's own pytest run when the CI passed with one (the same tests
    from the same clone, not run twice), else pytest run here."""
    if ci_run:
        code, output, summary, where = 0, "", ci_run, ", in the CI's run"
    else:
        report = Path(tempfile.mkdtemp(prefix="review-tests-")) / "junit.xml"
        try:
            code, output = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--color=no",
                                 f"--junitxml={report}"], clone, env, timeout)
            summary = _junit(report)
        finally:
            shutil.rmtree(report.parent, ignore_errors=True)
        where = ""
    if code is None:
        return Check("tests", False, f"the test suite did not finish within {timeout:.0f} s",
                     "find the test that hangs (a missing timeout, a service that is not there)")
    if not summary or not summary["tests"]:
        return Check("tests", False, f"no tests ran: {_last_line(output)}", "add tests under tests/ that pytest finds")
    bad = summary["failures"] + summary["errors"]
    counts = f"{summary['tests']} tests, {bad} failing, {summary['skipped']} skipped"
    if code != 0 or bad:
        failed = ", ".join(summary["failed"][:3]) or _last_line(output)
        return Check("tests", False, f"{counts}: {failed}", "make the suite pass from a fresh clone",
                     details=summary)
    return Check("tests", True, f"{counts} ({summary['seconds']:.1f} s{where})", details=summary)


def _check_tool(name: str, command: list[str], clone: Path, env: dict[str, str], timeout: float) -> Check:
    shown = " ".join(word for word in command[2:] if not word.startswith("-") and word != ".review-mypy")
    code, output = _run(command, clone, env, timeout)
    if code is None:
        return Check(name, False, f"`{shown}` did not finish within {timeout:.0f} s", f"run `{shown}` locally")
    if code != 0:
        problems = [line for line in output.splitlines() if re.match(r"\S+\.py:\d+", line)]
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}" if problems else "problems"
        return Check(name, False, f"`{shown}`: {count}, e.g. {(problems or [_last_line(output)])[0][:140]}",
                     f"run `{shown}` and fix them")
    return Check(name, True, f"`{shown}` is clean")


def _check_container(clone: Path, build: bool, timeout: float) -> Check:
    from course.steps.step05_build_projects.containerfile import container_engine, containerfile_problems

    path = next((clone / name for name in ("Containerfile", "Dockerfile") if (clone / name).is_file()), None)
    if path is None:
        return Check("container", False, "no Containerfile: the reviewer cannot run it without your setup",
                     "add a Containerfile: a pinned base image, a non-root USER, a HEALTHCHECK, an exec-form CMD")
    problems = containerfile_problems(path.read_text(encoding="utf-8"))
    if problems:
        return Check("container", False, f"{path.name}: {problems[0]}" + (f" (+{len(problems) - 1} more)"
                                                                           if len(problems) > 1 else ""),
                     "; ".join(problems[1:]) if len(problems) > 1 else "fix that line", details={"problems": problems})
    engine = container_engine()
    if not (build and engine):
        return Check("container", True, f"{path.name} passes the checker (not built: "
                     f"{'no container engine here' if not engine else 'build not asked for'})")
    code, output = _run([engine, "build", "-f", path.name, "-t", "review-image", "."], clone, dict(os.environ), timeout)
    if code != 0:
        return Check("container", False, f"{engine} build failed: {_last_line(output)}", "build it locally and fix it")
    return Check("container", True, f"{path.name} passes the checker and builds with {engine}")


def _check_health(clone: Path, app: str, health: str, env: dict[str, str], timeout: float) -> Check:
    from course.steps.step05_build_projects import project

    try:
        service = project.start_service(app, project=clone, env=env, ready_path=health, timeout=timeout,
                                        name="review")
    except (RuntimeError, TimeoutError) as error:
        first = str(error).splitlines()
        tail = first[-1].strip() if len(first) > 1 else ""
        return Check("health", False, f"the service did not start: {first[0][:120]}" + (f" … {tail[:100]}" if tail else ""),
                     f"start it as the README says (`uvicorn --factory {app}`) and read its log")
    try:
        response = httpx.get(service.url + health, timeout=scaled(5))
    except httpx.HTTPError as error:
        return Check("health", False, f"GET {health} failed: {error}", "")
    finally:
        logs = service.logs(last=5)
        service.stop()
        shutil.rmtree(service.log_path.parent, ignore_errors=True)
    body = response.text[:120]
    if response.status_code != 200:
        return Check("health", False, f"GET {health} answered {response.status_code}: {body}",
                     "a health endpoint answers 200 when the service can serve (its database reachable)",
                     details={"logs": logs})
    return Check("health", True, f"starts; GET {health} answered 200 {body}")


# --- the review ----------------------------------------------------------------------------------------------


def review(folder: str | os.PathLike, *, app: str = "tasktrack.app:create_app", health: str = "/health",
           env: dict[str, str] | None = None, service_env: dict[str, str] | None = None, timeout: float = 120.0,
           build: bool = False, skip: tuple[str, ...] = ()) -> Review:
    """Review the git repository ``folder`` as a reviewer would who clones it (see the module's docstring).

    ``env`` is added to the environment of the CI, the tests and the service (e.g. the database the tests
    may use); ``service_env`` to the service's only. ``timeout`` bounds each command, in seconds (scaled on a
    slow machine). ``skip`` names checks not to run (they are left out of the report).
    """
    folder = Path(folder).resolve()
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **(env or {})}
    env.pop("PYTEST_ADDOPTS", None)
    status = _git(["status", "--porcelain", "--untracked-files=all"], cwd=folder) if folder.is_dir() else None
    if status is None or status.returncode != 0:
        return Review(str(folder), "", [Check("clone", False, "not a git repository: there is nothing to clone",
                                              "git init, then commit the project")])
    uncommitted = [line[3:] for line in status.stdout.splitlines() if line.strip()]
    workspace = Path(tempfile.mkdtemp(prefix="review-"))
    clone = workspace / folder.name
    try:
        cloned = _git(["clone", "--quiet", str(folder), str(clone)])
        if cloned.returncode != 0:
            return Review(str(folder), "", [Check("clone", False, f"git clone failed: {_last_line(cloned.stderr)}",
                                                  "commit the project first (a repository with no commit clones empty)")],
                          uncommitted)
        commit = _git(["log", "-1", "--format=%h %s"], cwd=clone).stdout.strip()
        checks = [Check("clone", True, f"cloned {commit}" + (f"; {len(uncommitted)} uncommitted files are not in it"
                                                           if uncommitted else ""))]
        kept: dict = {}  # what the CI's run leaves for the checks after it
        steps = {
            "readme": lambda: _check_readme(clone),
            "licence": lambda: _check_licence(clone),
            "ci": lambda: _check_ci(clone, env, timeout, kept),
            "tests": lambda: _check_tests(clone, env, timeout, kept.get("junit")),
            "lint": lambda: _check_tool("lint", [sys.executable, "-m", "ruff", "check", "--output-format=concise", "."], clone, env, timeout),
            "types": lambda: _check_tool("types", [sys.executable, "-m", "mypy", "--no-color-output", *_mypy_targets(clone)], clone, env,
                                         timeout),
            "container": lambda: _check_container(clone, build, timeout),
            "health": lambda: _check_health(clone, app, health, {**env, **(service_env or {})}, timeout),
        }
        checks += [run() for name, run in steps.items() if name not in skip]
        return Review(str(folder), commit, checks, uncommitted)
    finally:
        shutil.rmtree(workspace, ignore_errors=True)


def _mypy_targets(clone: Path) -> list[str]:
    """mypy's arguments: the ``files`` of the project's ``[tool.mypy]`` if it names them, else its top-level
    packages (with its own settings, if any)."""
    import tomllib

    try:
        settings = tomllib.loads((clone / "pyproject.toml").read_text(encoding="utf-8")).get("tool", {}).get("mypy", {})
    except (OSError, tomllib.TOMLDecodeError):
        settings = {}
    cache = ["--cache-dir", ".review-mypy"]
    if settings.get("files"):
        return cache
    packages = sorted(p.name for p in clone.iterdir() if (p / "__init__.py").is_file() and p.name != "tests")
    return ([] if settings else ["--ignore-missing-imports"]) + cache + (packages or ["."])
