"""course.steps.step08_portfolio.tools: OpenAPI endpoints, the database link the lesson cuts, the sample project and
page readers of the exercise; then the exercise's hidden tests against plausible wrong answers."""

from __future__ import annotations

import socket

import pytest
import sqlalchemy

from course.components import services
from course.steps import step08_portfolio as portfolio
from course.steps import step09_practical_experience as practice


@pytest.fixture
def project(tmp_path):
    """The sample bookmarks project (exercise 08's first version reads its README) written to a folder."""
    for name, text in portfolio.SAMPLE_FILES.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def test_sample_readme_has_the_sections_the_exercise_expects():
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").parse(portfolio.SAMPLE_FILES["README.md"])
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open" and t.tag == "h2"]
    assert headings == ["Problem", "Design", "How to run", "Tests", "API"]


@pytest.mark.slow
def test_sample_project_tests_pass_in_a_subprocess(project):
    run = practice.run_pytest(project, timeout=120)
    assert run.passed, run.output
    assert run.counts == {"passed": 5}


def test_endpoints_counts_only_http_methods():
    doc = {"paths": {"/a": {"parameters": [], "summary": "x", "get": {"summary": "A",
                                                                    "responses": {"404": {}, "200": {}}}},
                     "/b": {"post": {}, "head": {}}}}
    rows = portfolio.endpoints(doc)
    assert [(r["method"], r["path"]) for r in rows] == [("GET", "/a"), ("POST", "/b"), ("HEAD", "/b")]
    assert rows[0]["statuses"] == "200, 404"


def test_database_link_url_points_at_the_relay_and_keeps_the_rest():
    with portfolio.DatabaseLink("postgresql+psycopg://app:s3cret@db.internal:6543/tasks?options=-csearch_path%3Dx") as link:
        url = sqlalchemy.make_url(link.url)
        assert (url.host, url.port) == ("127.0.0.1", link.port)
        assert (url.username, url.password, url.database) == ("app", "s3cret", "tasks")
        assert url.query == {"options": "-csearch_path=x"}
    socket_url = "postgresql+psycopg://postgres:@/postgres?host=/tmp/pg-folder&options=-csearch_path%3Dy"
    with portfolio.DatabaseLink(socket_url) as link:
        assert "host" not in sqlalchemy.make_url(link.url).query  # the relay is TCP, the socket folder its upstream
        assert link.up
    assert not link.up


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


@pytest.mark.service
def test_database_link_cut_is_a_database_down_and_restore_brings_it_back():
    url = services.schema_url("test_step08_link")
    with portfolio.DatabaseLink(url) as link:
        engine = sqlalchemy.create_engine(link.url, pool_pre_ping=True)
        try:
            with engine.connect() as connection:  # the search path goes through: the relay passes bytes only
                assert connection.execute(sqlalchemy.text("SELECT current_schema()")).scalar() == "test_step08_link"
            held = engine.connect()  # a pooled connection open across the cut
            link.cut()
            assert not link.up and _refused(link.port)
            with pytest.raises(sqlalchemy.exc.OperationalError):
                held.execute(sqlalchemy.text("SELECT 1"))  # cut closes open connections, not only the port
            held.invalidate()
            with pytest.raises(sqlalchemy.exc.OperationalError, match="refused"):
                engine.connect()
            link.restore()
            link.restore()  # twice is once
            with engine.connect() as connection:
                assert connection.execute(sqlalchemy.text("SELECT 1")).scalar() == 1
        finally:
            engine.dispose()
    assert _refused(link.port)
    link.close()  # closing again is harmless


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
