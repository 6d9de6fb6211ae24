"""The package layout: the maps in docs/authoring.md and the README match course/'s folders, every step's helper
module is named after its step and none is orphaned, and tests/ mirrors course/."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from course.platform import manifest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "course"


def subpackages() -> set[str]:
    return {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}


def mapped_subpackages(document: Path) -> set[str]:
    """The `  name/` lines under `course/` in the document's code-block tree."""
    text = document.read_text(encoding="utf-8")
    tree = re.search(r"```\ncourse/ .*?\n((?:  \S.*\n)+)", text)
    assert tree, f"{document.name}: no tree of course/ found"
    return {line.split()[0].rstrip("/") for line in tree[1].splitlines()}


@pytest.mark.parametrize("document", ["docs/authoring.md", "README.md"])
def test_the_map_lists_every_subpackage_and_nothing_else(document):
    assert mapped_subpackages(REPO / document) == subpackages()


def test_the_readme_and_the_authoring_guide_show_the_same_tree():
    def tree(path):
        return re.search(r"```\n(course/ .*?)```", (REPO / path).read_text(encoding="utf-8"), re.S)[1]

    assert tree("README.md") == tree("docs/authoring.md")


def step_module_name(step) -> str:
    return "course.steps.step" + step.stem.replace("-", "_")


@pytest.mark.parametrize("step", manifest.load_manifest(), ids=lambda s: s.stem)
def test_each_steps_helpers_are_named_after_it_and_import(step):
    if step.helpers is None:
        return  # a step whose lessons need no helper of their own (the welcome, programming basics)
    # A deep dive deepens its step's topic and uses its step's helpers (course/steps/step04_databases/
    # concurrency.py for 04b): one package per roadmap step, however many notebooks the step has.
    owner = manifest.resolve(step.parent) if step.deep_dive else step
    assert step.helpers == step_module_name(owner)
    module = importlib.import_module(step.helpers)
    assert module.__doc__, f"{step.helpers} has no docstring"


def test_no_step_module_is_orphaned():
    named = {s.helpers.rpartition(".")[2] for s in manifest.load_manifest() if s.helpers}
    present = {p.stem for p in (PACKAGE / "steps").iterdir()
               if (p.suffix == ".py" and p.name != "__init__.py") or (p / "__init__.py").is_file()}
    assert present == named


def test_lessons_import_helpers_of_steps_only_through_course_steps():
    # A lesson that reached for an old flat module (course.web, course.capstone) would fail at run time.
    flat = re.compile(r"\bcourse\.(web|frameworks|databases|documents|capstone|gitrepo|fundamentals|portfolio|"
                      r"practice|jobsearch|quiz|quiz_widget|certifications|servers|services)\b")
    for folder in ("notebooks", "solutions", "exercises"):
        for path in (REPO / folder).rglob("*.ipynb"):
            assert not flat.search(path.read_text(encoding="utf-8")), path


def test_tests_mirror_the_package():
    stems = {"step" + s.stem.replace("-", "_") for s in manifest.load_manifest()}
    for test in (REPO / "tests").rglob("test_*.py"):
        folder = test.parent.relative_to(REPO / "tests")
        if folder == Path("."):
            continue  # cross-cutting tests: the CLI, notebooks, exercises, lint, packaging, this layout
        name = test.stem.removeprefix("test_")
        target = PACKAGE / folder / name
        assert target.with_suffix(".py").is_file() or target.is_dir() or (
            folder == Path("steps") and name in stems
        ), f"{test.relative_to(REPO)} names no module of course/{folder}/ and no step"


def test_the_schedulers_lists_name_only_test_files_that_exist():
    """tests/conftest.py's SHARED_MODULE_FIXTURES and LONGEST_FIRST name files by path: a moved or renamed test
    file silently drops out of them (its module fixture is rebuilt on both workers, or it runs last)."""
    import ast

    # Read, not imported: in an xdist worker, the module named "conftest" can be another folder's.
    tree = ast.parse((REPO / "tests" / "conftest.py").read_text(encoding="utf-8"))
    lists = {node.targets[0].id: ast.literal_eval(node.value) for node in tree.body
             if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
             and node.targets[0].id in ("SHARED_MODULE_FIXTURES", "LONGEST_FIRST")}
    assert len(lists) == 2, sorted(lists)
    named = set(lists["SHARED_MODULE_FIXTURES"]) | set(lists["LONGEST_FIRST"])
    assert sorted(path for path in named if not (REPO / path).is_file()) == []
