"""Step 08 · a portfolio: the learner's capstone made reviewable. The "first five minutes" review of a project
folder (:mod:`.review`), the capstone found, copied, measured and completed (:mod:`.capstone`), and the
lesson's tools (:mod:`.tools`: OpenAPI endpoints, a database link to cut); the exercise's helpers are in :mod:`.capstone_exercise`.
"""

from . import capstone
from .review import CHECKS, README_SECTIONS, Check, Review, ci_commands, licence_id, readme_sections, review
from .tools import HTTP_METHODS, DatabaseLink, endpoints

__all__ = [
    "HTTP_METHODS", "endpoints", "DatabaseLink",
    "capstone", "Check", "Review", "review", "readme_sections", "licence_id", "ci_commands", "README_SECTIONS", "CHECKS",
]
