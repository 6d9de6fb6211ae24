"""Step 08 · a portfolio: the tools of the lesson (:mod:`.tools`) and the "first five minutes" review of a
project folder (:mod:`.review`).

``from course.steps import step08_portfolio`` keeps giving the names it always did (the sample project, the
OpenAPI and page readers); :func:`review` and its report types are new.
"""

from . import capstone
from .review import CHECKS, README_SECTIONS, Check, Review, ci_commands, licence_id, readme_sections, review
from .tools import (
    HTTP_METHODS,
    SAMPLE_FILES,
    Element,
    endpoints,
    html_outline,
    http_transcript,
    load_app,
    markdown_headings,
    markdown_to_html,
    write_sample_project,
)

__all__ = [
    "SAMPLE_FILES", "HTTP_METHODS", "Element", "write_sample_project", "load_app", "endpoints",
    "http_transcript", "html_outline", "markdown_to_html", "markdown_headings",
    "capstone", "Check", "Review", "review", "readme_sections", "licence_id", "ci_commands", "README_SECTIONS", "CHECKS",
]
