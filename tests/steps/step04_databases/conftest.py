"""Step 04's fixtures: the course's PostgreSQL and a scratch SQLite file, on real engines only.

A PostgreSQL that cannot start skips its tests on a laptop and fails them in CI.
"""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa

from course.components import services
from course.steps.step04_databases import relational as databases

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def unavailable(what: str, error: BaseException):
    """Skip on a developer's machine, fail in CI: a real-engine test must never silently skip there."""
    message = f"{what} could not start here: {type(error).__name__}: {error}"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def pg_url():
    """The SQLAlchemy URL of the course's PostgreSQL (embedded unless DATABASE_URL is set)."""
    started_here = services.status()["postgres"] is None
    try:
        url = services.sqlalchemy_url()
        with sa.create_engine(url).connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except Exception as error:  # noqa: BLE001 - any failure to start means: no PostgreSQL here
        unavailable("PostgreSQL", error)
    yield url
    databases.stop_all()
    if started_here:
        services.stop_postgres()


@pytest.fixture
def lite():
    engine = databases.scratch_engine("sqlite")
    yield engine
    engine.dispose()
    databases.stop_all()


