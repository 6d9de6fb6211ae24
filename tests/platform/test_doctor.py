"""course.platform.doctor: what it finds here, and what it says when something is missing."""

from __future__ import annotations

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
