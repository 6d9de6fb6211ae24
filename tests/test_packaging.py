"""pyproject.toml and environment.yml name the same packages; the package layout follows the style guide."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

import course

REPO = Path(__file__).resolve().parents[1]
# conda-forge names that differ from PyPI's
CONDA_TO_PYPI = {"redis-py": "redis", "prometheus_client": "prometheus-client"}


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~ ;]", requirement.strip(), maxsplit=1)[0].lower()


def _pyproject_names() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    names = {_name(r) for r in project["dependencies"]}
    names |= {_name(r) for extra in project["optional-dependencies"].values() for r in extra}
    return names


def _environment_names() -> set[str]:
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    names = set()
    for entry in env["dependencies"]:
        if isinstance(entry, dict):
            names |= {_name(r) for r in entry["pip"]}
        elif _name(entry) not in {"python", "pip"}:
            names.add(CONDA_TO_PYPI.get(_name(entry), _name(entry)))
    return names


def test_environment_yml_and_pyproject_list_the_same_packages():
    assert _environment_names() == _pyproject_names()


def test_every_environment_line_says_which_step_uses_it():
    text = (REPO / "environment.yml").read_text()
    for line in text.split("dependencies:", 1)[1].splitlines():
        if re.match(r"\s+- [a-z]", line) and not re.match(r"\s+- (python|pip)\b", line):
            assert "#" in line, f"no comment on: {line.strip()}"


def test_console_script_and_main_module():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["course"] == "course.cli:main"
    assert project["requires-python"] == ">=3.11"
    out = subprocess.run([sys.executable, "-m", "course", "--help"], capture_output=True, text=True, check=True)
    assert "Becoming a Back-End Developer" in out.stdout


def test_modules_are_small_and_documented():
    for path in (REPO / "course").rglob("*.py"):
        text = path.read_text()
        assert len(text.splitlines()) <= 550, f"{path.name} is over ~500 lines"
        if path.name != "__main__.py":
            assert text.lstrip().startswith(('"""', "'''")), f"{path.name} has no module docstring"


def test_public_api_names_resolve():
    for name in course.__all__:
        assert getattr(course, name) is not None
