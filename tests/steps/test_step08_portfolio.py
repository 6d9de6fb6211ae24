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


def test_part_a_states_that_a_url_with_a_space_is_refused():
    import nbformat

    from course.platform import paths

    nb = nbformat.read(paths.solution_path("08-portfolio"), as_version=4)
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in nb.cells}
    assert "a repo_url with a space" in cells["portfolio_entry_rejects_bad_input"]
    row = next(line for line in cells["portfolio_entry_instructions"].splitlines() if line.startswith("| `repo_url`"))
    assert "no whitespace" in row


def test_the_lesson_gives_no_unsourced_count_of_projects_as_a_fact():
    """Issue 19: "three small projects … beat ten half-finished ones" had no source; it is advice, said so."""
    import nbformat

    from course.platform import paths

    text = "\n".join(c.source for c in nbformat.read(paths.lesson_path("08-portfolio"), as_version=4).cells)
    assert "beat ten half-finished" not in text
    assert "This is advice, not a measured result" in text


# --- the exercise's hidden tests against plausible wrong answers ------------------------------------------------

STEM = "08-portfolio"


@pytest.fixture(scope="module")
def part_runner():
    from factories import part_runner as run_parts

    with run_parts(STEM, ["setup", "render_html", "render_markdown", "readme_sections", "missing_sections"]) as run:
        yield run


def _changed(grade_id, *replacements):
    from factories import graded_cells, without_solution_markers

    source = without_solution_markers(graded_cells(STEM)[grade_id])
    for old, new in replacements:
        assert old in source, f"the wrong answer no longer applies to {grade_id}: {old!r}"
        source = source.replace(old, new)
    return source


WRONG = {
    "one <p> for the three texts, <br> between": ("render_html", "render_html_escapes_untrusted_text", [
        ('{esc(entry.problem)}</p>\\n"', '{esc(entry.problem)}<br>"'),
        ('f"  <p><strong>My part:</strong> {esc(entry.role)}</p>\\n"', 'f"<strong>My part:</strong> {esc(entry.role)}<br>"'),
        ('f"  <p><strong>Results:</strong>', 'f"<strong>Results:</strong>')]),
    "a <div> each instead of a <p>": ("render_html", "render_html_escapes_untrusted_text", [
        ("<p><strong>", "<div><strong>"), (')}</p>\\n"', ')}</div>\\n"')]),
    "the URL as the link's text, unescaped": ("render_html", "render_html_escapes_untrusted_text", [
        ('">Code</a>', '">{entry.repo_url}</a>')]),
    "the three texts as one Markdown paragraph": ("render_markdown", "render_markdown_escapes_untrusted_text", [
        ('{text(entry.problem)}", "",\n', '{text(entry.problem)}",\n'),
        ('{text(entry.role)}", "", f"**Results:**', '{text(entry.role)}", f"**Results:**')]),
    "heading words split at spaces only": ("missing_sections", "missing_sections_reports_gaps", [
        ('set(re.findall(r"[a-z0-9]+", (match.group(1) or "").lower()))',
         'set((match.group(1) or "").lower().split())')]),
}


def test_the_reference_answers_pass(part_runner):
    for cell in ("render_html_escapes_untrusted_text", "render_markdown_escapes_untrusted_text",
                 "missing_sections_reports_gaps"):
        assert part_runner(cell), cell


@pytest.mark.parametrize("wrong", sorted(WRONG))
def test_a_plausible_wrong_answer_loses_the_part(part_runner, wrong):
    answer, cell, replacements = WRONG[wrong]
    assert not part_runner(cell, **{answer: _changed(answer, *replacements)})


def test_other_right_answers_keep_full_marks(part_runner):
    # paragraphs as <section><p>…</p></section>, and the URL itself as the link text, escaped
    wrapped = _changed("render_html", ("<p><strong>", "<section><p><strong>"), (')}</p>\\n"', ')}</p></section>\\n"'),
                       ('">Code</a>', '">{esc(entry.repo_url)}</a>'))
    assert part_runner("render_html_escapes_untrusted_text", render_html=wrapped)
    # words found with \w+ (letters, digits and _): the same sections for these headings
    words = _changed("missing_sections", ('re.findall(r"[a-z0-9]+",', 're.findall(r"\\w+",'))
    assert part_runner("missing_sections_reports_gaps", missing_sections=words)
