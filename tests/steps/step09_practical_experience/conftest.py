"""Step 09's fixtures: the course's PostgreSQL for deep dive 09b's integration tests (a real engine only).

A PostgreSQL that cannot start skips its tests on a laptop and fails them in CI.
"""

from __future__ import annotations

import os

import pytest

from course.components import services

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture(scope="module")
def pg_url():
    """The libpq URL of the course's PostgreSQL (embedded unless DATABASE_URL is set), stopped after the module
    if it started here."""
    import psycopg

    started_here = services.status()["postgres"] is None
    try:
        url = services.postgres_url()
        with psycopg.connect(url) as conn:
            conn.execute("SELECT 1")
    except Exception as error:  # noqa: BLE001 - any failure to start means: no PostgreSQL here
        message = f"PostgreSQL could not start here: {type(error).__name__}: {error}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    yield url
    if started_here:
        services.stop_postgres()
