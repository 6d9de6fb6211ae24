"""The platform tests share the deep-dive fixtures (tests/fixture_manifests.py)."""

from fixture_manifests import deep_dive_course, deep_dive_manifest  # noqa: F401 (fixtures)
