"""course.steps.step10_networking_and_job_search.cv: the CV rubric names each broken rule, links are judged offline
by form, the HTML rendering escapes text and reads back through outline."""

from __future__ import annotations

import copy

import pytest

from course.steps.step10_networking_and_job_search import cv

GOOD = {
    "basics": {"name": "Ann & Bo <Lee>", "label": "Junior developer", "email": "ann@example.org",
               "summary": "I build small tested APIs.", "profiles": [{"network": "GitHub",
                                                                   "url": "https://github.com/ann"}]},
    "projects": [{"name": "api", "description": "An API", "url": "https://example.org/api?a=1&b=\"2\"",
                  "highlights": ["Wrote 40 tests", "Cut p95 latency from 300 to 40 ms",
                                 "Wrote <script>alert(1)</script> docs for 3 endpoints"]}],
    "work": [{"name": "Shop", "position": "Clerk", "startDate": "2023-01", "endDate": "2024-06",
              "highlights": ["Automated a report, saving 2 hours a week"]}],
    "education": [], "skills": [{"name": "Back end", "keywords": ["Python", "SQL"]}],
}


def _with(path, value):
    changed = copy.deepcopy(GOOD)
    *head, last = path
    target = changed
    for key in head:
        target = target[key]
    target[last] = value
    return changed


def test_a_good_cv_passes(tmp_path):
    assert cv.cv_problems(GOOD, tmp_path) == []


@pytest.mark.parametrize(("path", "value", "fragment"), [
    (("basics", "email"), "ann at example", "not an email address"),
    (("basics", "name"), " ", "basics.name is empty"),
    (("basics", "summary"), "word " * 51, "write 1 to 50"),
    (("projects", 0, "highlights"), ["Wrote tests", "Fixed bugs", "Cut 3 ms"], "2 of 4 highlights have a number"),
    (("projects", 0, "highlights"), [], "1 highlights in work and projects"),
    (("projects", 0, "highlights", 0), "Wrote " + "many " * 30 + "1 test", "keep each to 30"),
    (("projects", 0, "url"), "", "no project with a link"),
    (("projects", 0, "url"), "https://localhost/x", "no host a browser can reach"),
    (("projects", 0, "url"), "https://exa mple.org", "contains a space"),
    (("projects", 0, "url"), "/home/ann/portfolio", "neither an http(s) address"),
    (("projects", 0, "url"), "ftp://example.org/x", "neither an http(s) address"),
    (("projects", 0, "url"), "../secret.html", "leaves the portfolio folder"),
    (("projects", 0, "url"), "portfolio/index.html", "which is not in"),
    (("work", 0, "endDate"), "2022-12", "ends (2022-12) before it starts"),
    (("work", 0, "startDate"), "Jan 2023", "write dates as YYYY-MM"),
    (("basics", "label"), "A dynamic go-getter", "'go-getter'"),
    (("skills", 0, "keywords"), ["Team\n player"], "'team player'"),
    (("basics", "label"), "word " * 600, "keep the CV to 600"),
])
def test_each_broken_rule_is_named(tmp_path, path, value, fragment):
    problems = cv.cv_problems(_with(path, value), tmp_path)
    assert any(fragment in p for p in problems), problems


def test_a_local_link_counts_when_the_path_exists_in_the_folder(tmp_path):
    local = _with(("projects", 0, "url"), "portfolio/index.html")
    (tmp_path / "portfolio").mkdir()
    (tmp_path / "portfolio" / "index.html").write_text("<h1>hi</h1>")
    assert cv.cv_problems(local, tmp_path) == []
    assert cv.cv_problems("not a dict")[0].startswith("give the CV as a dict")


def test_buzzwords_match_whole_words_only():
    assert cv.has_buzzword("a Rock-solid NINJA") == "ninja"
    assert cv.has_buzzword("dynamically sized, dispassionate") is None
    assert cv.has_buzzword("team   players") is None


def test_the_rendering_escapes_text_and_outline_reads_it_back():
    page = cv.render_html(GOOD)
    seen = cv.outline(page)
    assert seen["doctype"] and seen["print_css"] and seen["title"] == "Ann & Bo <Lee>"
    assert seen["h1"] == ["Ann & Bo <Lee>"]
    assert seen["h2"] == ["Work", "Projects", "Skills"]          # the empty education section is left out
    assert "Wrote <script>alert(1)</script> docs for 3 endpoints" in seen["li"]
    assert "script" not in seen["tags"]
    assert "https://example.org/api?a=1&b=\"2\"" in seen["links"] and "mailto:ann@example.org" in seen["links"]
    assert [w for w, _ in cv.links(GOOD)] == ["basics.profiles[0].url", "projects[0].url"]


def test_outline_of_unescaped_html_shows_the_injected_tag():
    seen = cv.outline("<ul><li>Wrote <script>x</script> docs</li></ul><h1>A\n  B</h1>")
    assert "script" in seen["tags"] and seen["h1"] == ["A B"] and not seen["doctype"] and not seen["print_css"]
