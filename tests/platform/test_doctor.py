"""course.platform.doctor: what it finds here, and what it says when something is missing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
from click.testing import CliRunner

from course.platform import doctor


def test_everything_required_is_found_here():
    findings = {f.name: f for f in doctor.run_checks()}
    for name, _why in doctor.REQUIRED:
        assert findings[name].level == "ok"
    assert findings["kernel"].level == "ok"
    assert findings["git"].level == "ok"
    assert findings["course files"].level == "ok"


def test_a_missing_package_says_how_to_fix_it():
    finding = doctor._package("surely-not-installed-pkg", "a reason", "fail")
    assert finding.level == "fail" and "a reason" in finding.detail and "pip install" in finding.fix


def test_missing_git_is_a_failure_with_a_fix(monkeypatch):
    monkeypatch.setattr(doctor.shutil, "which", lambda name: None)
    finding = doctor._git()
    assert finding.level == "fail" and finding.fix


def test_environment_services_are_reported(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://x@y/z")
    names = [f.name for f in doctor.run_checks()]
    assert "DATABASE_URL" in names


def test_old_git_is_a_warning(monkeypatch):
    class Done:
        stdout = "git version 2.30.1\n"

    monkeypatch.setattr(doctor.subprocess, "run", lambda *a, **k: Done())
    finding = doctor._git()
    assert finding.level == "warn" and "2.32" in finding.fix


def test_a_home_that_is_not_a_writable_folder_fails_with_a_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert doctor._home().level == "ok"
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("HOME", str(blocker / "home"))
    finding = doctor._home()
    assert finding.level == "fail" and "HOME" in finding.detail and "set HOME" in finding.fix
    assert "home" in {f.name for f in doctor.run_checks() if f.level == "fail"}


def _dead_owner() -> dict:
    """The identity (pid, start time) of a process that has exited."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    identity = {"pid": child.pid, "started": psutil.Process(child.pid).create_time()}
    child.kill()
    child.wait()
    return identity


def _leftover(tmp: Path, prefix: str, owner: dict) -> Path:
    folder = tmp / f"{prefix}x1"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "base").write_bytes(b"\0" * 2_000_000)
    (folder / "owner.json").write_text(json.dumps({"service": "postgres", **owner}))
    return folder


def test_a_server_folder_whose_kernel_is_gone_is_reported_and_cleaned(monkeypatch, tmp_path):
    """`course doctor` names what a killed kernel left (not "all good"); `--clean` removes it, and leaves a
    folder whose owner lives and one the course did not mark."""
    from course.cli import main

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    left = _leftover(tmp_path, "course-postgres-", _dead_owner())
    alive = _leftover(tmp_path, "course-redis-", {"pid": os.getpid(), "started": psutil.Process().create_time()})
    unmarked = tmp_path / "course-postgres-unmarked"
    unmarked.mkdir()

    report = CliRunner().invoke(main, ["doctor"])
    assert f"postgres in {left}" in report.output and "2 MB" in report.output
    assert "course doctor --clean" in report.output and "all good" not in report.output
    assert str(alive) not in report.output and str(unmarked) not in report.output

    cleaned = CliRunner().invoke(main, ["doctor", "--clean"])
    assert f"cleaned: the postgres server in {left} (0 process(es) stopped, 2 MB removed)" in cleaned.output
    assert not left.exists() and alive.exists() and unmarked.exists()
    assert "left running" not in CliRunner().invoke(main, ["doctor"]).output
