"""course.steps.step08_portfolio.tools: OpenAPI endpoints and the database link the lesson and the exercise cut;
and lesson 08's wording."""

from __future__ import annotations

import socket

import pytest
import sqlalchemy

from course.components import services
from course.steps import step08_portfolio as portfolio


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


def test_the_lesson_gives_no_unsourced_count_of_projects_as_a_fact():
    """Issue 19: "three small projects … beat ten half-finished ones" had no source; it is advice, said so."""
    import nbformat

    from course.platform import paths

    text = "\n".join(c.source for c in nbformat.read(paths.lesson_path("08-portfolio"), as_version=4).cells)
    assert "beat ten half-finished" not in text
    assert "This is advice, not a measured result" in text
