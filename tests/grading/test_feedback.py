"""course.grading.feedback: the feedback page's child, readied while the kernel runs, and what it leaves behind."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import jinja2
import psutil
import pytest

from course.components.waits import scaled, wait_until
from course.grading import feedback
from course.grading.nbconfig import nbgrader_config

pytestmark = pytest.mark.slow


def _count_compiles(monkeypatch) -> list[str]:
    compiled: list[str] = []
    original = jinja2.Environment.compile

    def compile_(self, source, name=None, filename=None, *args, **kwargs):
        compiled.append(name)
        return original(self, source, name, filename, *args, **kwargs)

    monkeypatch.setattr(jinja2.Environment, "compile", compile_)
    return compiled


def _render_into(marker):
    def run_converter(name, config, stem):
        marker.write_text(name)
        return {"success": True}
    return run_converter


def test_the_warm_up_compiles_the_feedback_templates_once_for_every_later_exporter(
        fixture_course, tmp_path, monkeypatch):
    monkeypatch.setattr(feedback, "TEMPLATES", feedback._MemoryBytecodeCache())
    compiled = _count_compiles(monkeypatch)
    config = nbgrader_config(tmp_path)
    feedback._warm(config, str(fixture_course), "99-fixture")
    assert "index.html.j2" in compiled and len(feedback.TEMPLATES.codes) >= 5, compiled
    first = len(compiled)
    # A new exporter, as nbgrader's GenerateFeedback makes one: nothing compiled again, the page rendered
    import nbformat

    nb = nbformat.read(fixture_course, as_version=4)
    for cell in nb.cells:
        grading = cell.metadata.get("nbgrader") or {}
        if grading.get("grade"):
            grading.update(score=1, points=grading.get("points", 1))
    page, _ = feedback._exporter(config).from_notebook_node(
        nb, resources={"nbgrader": {"notebook": "x", "score": 1, "max_score": 2, "late_penalty": 0}})
    assert len(compiled) == first, compiled[first:]
    assert "<html" in page and "Score" in page


def test_a_warm_up_that_fails_is_no_error(tmp_path):
    config = nbgrader_config(tmp_path)
    feedback._warm(config, str(tmp_path / "missing.ipynb"), "99-fixture")  # returns: best effort


def test_a_cancelled_child_ends_without_rendering(tmp_path):
    marker = tmp_path / "rendered"
    writer = feedback.prepare(nbgrader_config(tmp_path), tmp_path / "missing.ipynb", "99-fixture",
                              _render_into(marker))
    assert writer is not None and writer.process.is_alive()
    writer.cancel()
    assert not writer.process.is_alive() and writer.process.exitcode == 2
    assert not marker.exists()


def test_a_child_told_to_go_renders_and_reports_success(tmp_path):
    marker = tmp_path / "rendered"
    writer = feedback.prepare(nbgrader_config(tmp_path), tmp_path / "missing.ipynb", "99-fixture",
                              _render_into(marker))
    feedback.start(writer)
    assert feedback.finish(writer, None, "99-fixture", None) is True
    assert marker.read_text() == "GenerateFeedback"


def test_the_child_does_not_outlive_a_grader_that_dies(tmp_path):
    code = textwrap.dedent(f"""
        import os, sys
        from pathlib import Path
        from course.grading import feedback
        from course.grading.nbconfig import nbgrader_config
        writer = feedback.prepare(nbgrader_config(Path({str(tmp_path)!r})), Path({str(tmp_path)!r}) / "x.ipynb",
                                  "99-fixture", lambda *a: {{"success": True}})
        print(writer.process.pid, flush=True)
        os._exit(9)  # killed mid-grading: no cancel, no atexit
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=scaled(60))
    assert done.returncode == 9, done.stderr[-2000:]
    pid = int(done.stdout.split()[0])

    def gone():
        try:
            return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    wait_until(gone, scaled(10), what="the feedback child to exit")


def _render(config, nb):
    for cell in nb.cells:  # as nbgrader's GetGrades leaves them
        grading = cell.metadata.get("nbgrader") or {}
        if grading.get("grade"):
            grading.update(score=0, points=grading.get("points", 1))
    page, _ = feedback._exporter(config).from_notebook_node(
        nb, resources={"nbgrader": {"notebook": "x", "score": 0, "max_score": 2, "late_penalty": 0}})
    return page


def test_a_page_with_nothing_to_edit_is_kept_as_rendered_with_the_same_document(fixture_course, tmp_path,
                                                                                 monkeypatch):
    import nbconvert.exporters.html as html_exporter
    import nbformat
    from bs4 import BeautifulSoup

    config = nbgrader_config(tmp_path)
    nb = nbformat.read(fixture_course, as_version=4)
    parsed = _render(config, nb)
    monkeypatch.setattr(html_exporter, "BeautifulSoup", html_exporter.BeautifulSoup)  # undone after the test
    feedback._parse_only_if_needed()
    kept = _render(config, nb)
    assert html_exporter.BeautifulSoup is feedback._Page
    assert "<img" not in kept.lower() and kept != parsed  # not parsed and written out again...
    assert str(BeautifulSoup(kept, "html.parser")) == str(BeautifulSoup(parsed, "html.parser"))  # ...same page


def test_a_page_with_an_image_without_alt_text_still_gets_it(fixture_course, tmp_path, monkeypatch):
    import nbconvert.exporters.html as html_exporter
    import nbformat

    config = nbgrader_config(tmp_path)
    nb = nbformat.read(fixture_course, as_version=4)
    code = next(cell for cell in nb.cells if cell.cell_type == "code")
    code.outputs = [nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo="})]
    monkeypatch.setattr(html_exporter, "BeautifulSoup", html_exporter.BeautifulSoup)
    feedback._parse_only_if_needed()
    page = _render(config, nb)
    assert 'alt="No description has been provided for this image"' in page


def test_a_selector_the_page_stand_in_does_not_know_is_answered_by_beautifulsoup():
    page = feedback._Page("<html><body><p class='x'>one</p></body></html>", features="html.parser")
    assert [str(p) for p in page.select("p.x")] == ['<p class="x">one</p>']
    page.select("p.x")[0].attrs["id"] = "edited"
    assert 'id="edited"' in str(page)  # once parsed, the page written is BeautifulSoup's, with the edits


def test_any_other_use_of_the_page_stand_in_is_beautifulsoups_own():
    """A later nbconvert may edit the page with something other than select(): the stand-in then parses it."""
    page = feedback._Page("<html><body><p>one</p><p>two</p></body></html>", features="html.parser")
    paragraphs = page.find_all("p")
    assert [p.text for p in paragraphs] == ["one", "two"]
    paragraphs[0]["id"] = "edited"
    assert '<p id="edited">one</p>' in str(page)
