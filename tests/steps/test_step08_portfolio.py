"""course.steps.step08_portfolio: the sample project, OpenAPI endpoints, HTTP transcripts, and the page readers of step 08."""

from __future__ import annotations

import httpx
import pytest

from course.components import servers
from course.steps import step08_portfolio as portfolio
from course.steps import step09_practical_experience as practice


@pytest.fixture
def project(tmp_path):
    return portfolio.write_sample_project(tmp_path / "bookmarks")


def test_sample_project_has_code_tests_and_a_readme_with_every_section(project):
    files = {p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file()}
    assert files == set(portfolio.SAMPLE_FILES)
    headings = [text for level, text in portfolio.markdown_headings((project / "README.md").read_text())
                if level == 2]
    assert headings == ["Problem", "Design", "How to run", "Tests", "API"]


@pytest.mark.slow
def test_sample_project_tests_pass_in_a_subprocess(project):
    run = practice.run_pytest(project, timeout=120)
    assert run.passed, run.output
    assert run.counts == {"passed": 5}


@pytest.mark.service
def test_served_sample_project_documents_and_records_its_api(project):
    app = portfolio.load_app(project)
    with servers.serve_asgi(app, name="test-bookmarks") as server, httpx.Client(base_url=server.url) as client:
        rows = portfolio.endpoints(client.get("/openapi.json").json())
        transcript = portfolio.http_transcript(client, [
            ("POST", "/bookmarks", {"url": "https://example.org/", "title": "Ex"}),
            ("GET", "/bookmarks/1"),
            ("GET", "/bookmarks/99"),
        ])
    assert {(r["method"], r["path"]) for r in rows} == {
        ("GET", "/health"), ("GET", "/bookmarks"), ("POST", "/bookmarks"),
        ("GET", "/bookmarks/{bookmark_id}"), ("DELETE", "/bookmarks/{bookmark_id}"),
    }
    assert "HTTP/1.1 201 Created\nLocation: /bookmarks/1" in transcript
    assert "HTTP/1.1 404 Not Found" in transcript
    assert transcript.count("```http") == 6


def test_endpoints_counts_only_http_methods():
    doc = {"paths": {"/a": {"parameters": [], "summary": "x", "get": {"summary": "A",
                                                                    "responses": {"404": {}, "200": {}}}},
                     "/b": {"post": {}, "head": {}}}}
    rows = portfolio.endpoints(doc)
    assert [(r["method"], r["path"]) for r in rows] == [("GET", "/a"), ("POST", "/b"), ("HEAD", "/b")]
    assert rows[0]["statuses"] == "200, 404"


def test_html_outline_reads_text_as_a_browser_shows_it():
    outline = portfolio.html_outline('<article><h2>A &amp; B &lt;i&gt;</h2><img src="x"><ul><li>one<li>two</ul>'
                                     '<a href="https://e.org/?a=1&amp;b=&quot;2&quot;">go</a></article>')
    tags = [e.tag for e in outline]
    assert tags == ["article", "h2", "img", "ul", "li", "li", "a"]
    assert outline[1].text == "A & B <i>"
    assert [e.text for e in outline if e.tag == "li"] == ["one", "two"]
    assert outline[-1].attrs["href"] == 'https://e.org/?a=1&b="2"'
    assert outline[0].text == "A & B <i>onetwogo"


def test_markdown_to_html_lets_raw_html_through_and_backslashes_escape_it():
    # The premise of the exercise's Markdown part: raw HTML is live unless escaped.
    assert "<script>" in portfolio.markdown_to_html("## T <script>x</script>")
    escaped = portfolio.markdown_to_html("## T \\<script\\>x\\</script\\>")
    assert "<script>" not in escaped
    assert [e.text for e in portfolio.html_outline(escaped)] == ["T <script>x</script>"]


def test_markdown_headings_skip_code_and_read_setext():
    text = "Title\n=====\n\n```\n# not a heading\n```\n\n   ## Indented ##\n#hashtag\n"
    assert portfolio.markdown_headings(text) == [(1, "Title"), (2, "Indented")]


def test_load_app_imports_a_fresh_module_each_time(project):
    first, second = portfolio.load_app(project), portfolio.load_app(project)
    assert first.title == second.title == "Bookmarks API"


def test_the_lesson_gives_no_unsourced_count_of_projects_as_a_fact():
    """Issue 19: "three small projects … beat ten half-finished ones" had no source; it is advice, said so."""
    import nbformat

    from course.platform import paths

    text = "\n".join(c.source for c in nbformat.read(paths.lesson_path("08-portfolio"), as_version=4).cells)
    assert "beat ten half-finished" not in text
    assert "This is advice, not a measured result" in text
