"""Step 10 · a CV as data: the schema, the rubric a hiring lead reads it with, an HTML rendering, its outline.

The CV is a dict in a subset of the JSON Resume schema (https://jsonresume.org/schema), documented in
:data:`SCHEMA`. :func:`cv_problems` is the course's rubric: it names what a hiring lead would stop at (no
numbers in the bullets, a link a reader cannot open, too long, buzzwords from :data:`BUZZWORDS`), never
the story. :func:`render_html` writes the CV as one HTML page with a print style sheet (the browser's
"Print → Save as PDF" makes the PDF: no PDF tool is assumed offline); :func:`outline` reads the headings,
bullets and links back from any HTML, so that a rendering can be checked by its structure, not its bytes.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

__all__ = ["SCHEMA", "BUZZWORDS", "SECTIONS", "MAX_WORDS", "cv_problems", "render_html", "outline", "links",
           "has_buzzword"]

SCHEMA = """\
basics:    {name, label, email, url (optional), summary, profiles (optional): [{network, url}]}
work:      [{name, position, startDate, endDate (optional: absent means now), url (optional), highlights: [text]}]
projects:  [{name, description, url, highlights: [text]}]
education: [{institution, area, studyType, endDate}]
skills:    [{name, keywords: [text]}]
dates are "YYYY-MM" or "YYYY-MM-DD"; a url is an http(s) address or a path relative to the portfolio folder"""

# Words a hiring lead skims past: they claim a quality instead of showing it. Matched as whole words or
# phrases, in any case.
BUZZWORDS = ("synergy", "rockstar", "ninja", "guru", "wizard", "go-getter", "team player", "hard-working",
             "hardworking", "detail-oriented", "passionate", "self-starter", "results-driven", "dynamic",
             "think outside the box", "best of breed", "thought leader")

SECTIONS = (("work", "Work"), ("projects", "Projects"), ("education", "Education"), ("skills", "Skills"))
MAX_WORDS = 600          # about one printed page
MAX_SUMMARY_WORDS = 50
MAX_BULLET_WORDS = 30
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
DATE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?$")


def _words(text) -> int:
    return len(str(text).split())


def has_buzzword(text: str) -> str | None:
    """The first buzzword of :data:`BUZZWORDS` in ``text`` (whole words, any case, any whitespace), or None."""
    flat = " ".join(str(text).lower().split())
    for word in BUZZWORDS:
        if re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", flat):
            return word
    return None


def _texts(value):
    """Every string inside ``value`` (dicts, lists), depth first."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _texts(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _texts(item)


def links(cv: dict) -> list[tuple[str, str]]:
    """``(where, url)`` for every url of the CV: basics, profiles, work and projects."""
    found = []
    basics = cv.get("basics") or {}
    if basics.get("url"):
        found.append(("basics.url", basics["url"]))
    for i, profile in enumerate(basics.get("profiles") or []):
        found.append((f"basics.profiles[{i}].url", profile.get("url", "")))
    for section in ("work", "projects"):
        for i, entry in enumerate(cv.get(section) or []):
            if entry.get("url") or section == "projects":
                found.append((f"{section}[{i}].url", entry.get("url", "")))
    return found


def _link_problem(url, root: Path) -> str | None:
    url = str(url or "").strip()
    if not url:
        return "is empty"
    if re.search(r"\s", url):
        return "contains a space"
    parts = urlsplit(url)
    if parts.scheme in ("http", "https"):
        host = parts.hostname or ""
        if "." not in host or host.startswith(".") or host.endswith("."):
            return f"has no host a browser can reach ({host or 'none'})"
        return None
    if parts.scheme or url.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", url):
        return "is neither an http(s) address nor a path inside the portfolio folder"
    path = PurePosixPath(url)
    if ".." in path.parts:
        return "leaves the portfolio folder (..)"
    if not (root / path).exists():
        return f"names {url}, which is not in {root}"
    return None


def _date_problems(entry: dict, where: str) -> list[str]:
    problems = []
    for key in ("startDate", "endDate"):
        if key in entry and not DATE.match(str(entry[key])):
            problems.append(f"{where}.{key} {entry[key]!r}: write dates as YYYY-MM or YYYY-MM-DD")
    start, end = str(entry.get("startDate", "")), str(entry.get("endDate", ""))
    if DATE.match(start) and DATE.match(end) and end[:7] < start[:7]:
        problems.append(f"{where}: ends ({end}) before it starts ({start})")
    return problems


def cv_problems(cv, root=".") -> list[str]:
    """What a hiring lead would stop at in ``cv`` (see :data:`SCHEMA`); an empty list means it passes.

    The rubric: a name and an email address; a summary of 1 to 50 words; at least 3 highlights (work and
    projects together), each at most 30 words, and at least two thirds of them with a number in them (impact
    you can check); at least one project with a link; every link an http(s) address of a real-looking host or
    a path that exists inside ``root`` (the portfolio folder: checked offline, never fetched); dates as
    YYYY-MM(-DD), none ending before it starts; at most 600 words in all; no word of :data:`BUZZWORDS`.
    """
    if not isinstance(cv, dict) or not isinstance(cv.get("basics"), dict):
        return ["give the CV as a dict with at least a 'basics' dict (see SCHEMA)"]
    root = Path(root)
    problems = []
    basics = cv["basics"]
    if not str(basics.get("name", "")).strip():
        problems.append("basics.name is empty: put your name at the top")
    if not EMAIL.match(str(basics.get("email", "")).strip()):
        problems.append(f"basics.email {basics.get('email', '')!r} is not an email address")
    summary = _words(basics.get("summary", ""))
    if not 1 <= summary <= MAX_SUMMARY_WORDS:
        problems.append(f"basics.summary has {summary} words: write 1 to {MAX_SUMMARY_WORDS}")
    bullets = [(f"{section}[{i}]", text) for section in ("work", "projects")
               for i, entry in enumerate(cv.get(section) or []) for text in entry.get("highlights") or []]
    if len(bullets) < 3:
        problems.append(f"{len(bullets)} highlights in work and projects: give at least 3")
    for where, text in bullets:
        if _words(text) > MAX_BULLET_WORDS:
            problems.append(f"{where}: a highlight of {_words(text)} words; keep each to {MAX_BULLET_WORDS}")
    numbered = sum(bool(re.search(r"\d", str(text))) for _, text in bullets)
    if bullets and 3 * numbered < 2 * len(bullets):
        problems.append(f"{numbered} of {len(bullets)} highlights have a number: show the impact (users, "
                        "ms, %, tests) in at least two thirds")
    if not any((entry.get("url") or "").strip() for entry in cv.get("projects") or []):
        problems.append("no project with a link: link at least one project a reader can open")
    for where, url in links(cv):
        problem = _link_problem(url, root)
        if problem:
            problems.append(f"{where} {url!r} {problem}")
    for section in ("work", "education"):
        for i, entry in enumerate(cv.get(section) or []):
            problems += _date_problems(entry, f"{section}[{i}]")
    total = sum(_words(text) for text in _texts(cv))
    if total > MAX_WORDS:
        problems.append(f"{total} words: keep the CV to {MAX_WORDS} (about one page)")
    for text in _texts(cv):
        word = has_buzzword(text)
        if word:
            problems.append(f"{word!r} in {text[:60]!r}: show it with a fact instead of claiming it")
    return problems


PRINT_CSS = """body { font: 11pt/1.4 system-ui, sans-serif; max-width: 46em; margin: 2em auto; }
h1 { margin-bottom: 0; } h2 { border-bottom: 1px solid #999; font-size: 1.1em; }
@media print { body { margin: 0; max-width: none; font-size: 10pt; } a { color: inherit; }
  a[href^="http"]::after { content: " (" attr(href) ")"; font-size: 0.8em; } h2 { break-after: avoid; } }"""


def _a(url, text=None) -> str:
    return f'<a href="{html.escape(str(url), quote=True)}">{html.escape(str(text or url))}</a>'


def _entry(section: str, entry: dict) -> str:
    e = {k: html.escape(str(v)) for k, v in entry.items() if isinstance(v, str)}
    if section == "work":
        dates = f"{e.get('startDate', '')} – {e.get('endDate', 'now')}"
        head = f"<strong>{e.get('position', '')}</strong>, {e.get('name', '')} <span>{dates}</span>"
    elif section == "projects":
        head = f"<strong>{e.get('name', '')}</strong> — {e.get('description', '')}"
    elif section == "education":
        head = f"{e.get('studyType', '')} {e.get('area', '')}, {e.get('institution', '')} {e.get('endDate', '')}"
    else:
        head = f"<strong>{e.get('name', '')}</strong>: " + ", ".join(html.escape(str(k))
                                                                      for k in entry.get("keywords") or [])
    if entry.get("url"):
        head += " · " + _a(entry["url"])
    items = "".join(f"<li>{html.escape(str(h))}</li>" for h in entry.get("highlights") or [])
    return f"<p>{head}</p>" + (f"<ul>{items}</ul>" if items else "")


def render_html(cv: dict) -> str:
    """The CV as one HTML page: name, contact, a section per non-empty part, a print style sheet."""
    basics = cv.get("basics") or {}
    name = html.escape(str(basics.get("name", "")))
    contact = [_a(f"mailto:{basics['email']}", basics["email"])] if basics.get("email") else []
    contact += [_a(basics["url"])] if basics.get("url") else []
    contact += [_a(p["url"], p.get("network") or p["url"]) for p in basics.get("profiles") or [] if p.get("url")]
    body = [f"<h1>{name}</h1>", f"<p>{html.escape(str(basics.get('label', '')))}</p>",
            f"<p>{' · '.join(contact)}</p>", f"<p>{html.escape(str(basics.get('summary', '')))}</p>"]
    for key, title in SECTIONS:
        if cv.get(key):
            body.append(f"<h2>{title}</h2>" + "".join(_entry(key, entry) for entry in cv[key]))
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{name}</title>'
            f"<style>{PRINT_CSS}</style></head><body>{''.join(body)}</body></html>\n")


class _Outline(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found = {"doctype": False, "title": [], "h1": [], "h2": [], "li": [], "links": [], "tags": [],
                      "style": []}
        self.open: list[tuple[str, list[str]]] = []

    def handle_decl(self, decl):
        self.found["doctype"] |= decl.lower().startswith("doctype html")

    def handle_starttag(self, tag, attrs):
        self.found["tags"].append(tag)
        if tag == "a":
            self.found["links"].append(dict(attrs).get("href"))
        if tag in ("title", "h1", "h2", "li", "style"):
            self.open.append((tag, []))

    def handle_endtag(self, tag):
        for i in range(len(self.open) - 1, -1, -1):
            if self.open[i][0] == tag:
                name, parts = self.open.pop(i)
                self.found[name].append(" ".join("".join(parts).split()))
                break

    def handle_data(self, data):
        for _, parts in self.open:
            parts.append(data)


def outline(page: str) -> dict:
    """What a reader sees of an HTML page: ``doctype`` (bool), ``title``, ``h1``, ``h2`` and ``li`` texts
    (whitespace runs as one space), ``links`` (every ``<a href>``), ``tags`` (every start tag, in order) and
    ``print_css`` (a ``<style>`` with an ``@media print`` rule)."""
    parser = _Outline()
    parser.feed(str(page))
    parser.close()
    found = parser.found
    found["print_css"] = any("@media print" in style for style in found.pop("style"))
    found["title"] = found["title"][0] if found["title"] else None
    return found
