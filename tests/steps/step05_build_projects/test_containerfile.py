"""course.steps.step05_build_projects.containerfile: a Containerfile parsed and judged from its text alone."""

from __future__ import annotations

import pytest

from course.steps.step05_build_projects import containerfile as cf

GOOD = '''# a comment
FROM docker.io/library/python:3.11.11-slim-bookworm AS base
RUN pip install gunicorn \\
    uvicorn-worker
USER 10001
HEALTHCHECK --interval=10s CMD ["python", "-c", "print(1)"]
CMD ["gunicorn", "app:create_app()"]
'''


def test_instructions_are_read_with_continuations_joined_and_comments_dropped():
    steps = cf.parse_containerfile(GOOD)
    assert [word for word, _ in steps] == ["FROM", "RUN", "USER", "HEALTHCHECK", "CMD"]
    assert steps[1] == ("RUN", "pip install gunicorn  uvicorn-worker")


def test_a_good_file_has_no_problem_and_other_good_forms_pass_too():
    assert cf.containerfile_problems(GOOD) == []
    digest = GOOD.replace("python:3.11.11-slim-bookworm AS base", "python@sha256:" + "a" * 64)
    entrypoint = GOOD.replace('CMD ["gunicorn", "app:create_app()"]', 'ENTRYPOINT ["gunicorn"]\nCMD ["app:create_app()"]')
    named_user = GOOD.replace("USER 10001", "USER app:app")
    registry_port = GOOD.replace("docker.io/library/python:3.11.11-slim-bookworm", "registry.local:5000/python:3.12.1")
    for text in (digest, entrypoint, named_user, registry_port):
        assert cf.containerfile_problems(text) == [], text


@pytest.mark.parametrize(("change", "problem"), [
    (("python:3.11.11-slim-bookworm", "python:latest"), "not pinned"),
    (("python:3.11.11-slim-bookworm", "python"), "not pinned"),
    (("python:3.11.11-slim-bookworm", "python:slim"), "not pinned"),
    (("USER 10001\n", ""), "runs as root"),
    (("USER 10001", "USER root"), "runs as root"),
    (("USER 10001", "USER 0:0"), "runs as root"),
    (('HEALTHCHECK --interval=10s CMD ["python", "-c", "print(1)"]', "HEALTHCHECK NONE"), "no HEALTHCHECK"),
    (('HEALTHCHECK --interval=10s CMD ["python", "-c", "print(1)"]\n', ""), "no HEALTHCHECK"),
    (('CMD ["gunicorn", "app:create_app()"]', 'CMD gunicorn "app:create_app()"'), "shell form"),
    (('CMD ["gunicorn", "app:create_app()"]\n', ""), "no CMD"),
    (("USER 10001", "ENV SECRET_KEY=abc\nUSER 10001"), "bakes a secret"),
    (("USER 10001", "ARG DB_PASSWORD=hunter2\nUSER 10001"), "bakes a secret"),
    (("USER 10001", "ENV API_TOKEN abc\nUSER 10001"), "bakes a secret"),
])
def test_each_unsafe_choice_is_named(change, problem):
    text = GOOD.replace(*change)
    assert text != GOOD
    found = cf.containerfile_problems(text)
    assert any(problem in p for p in found), found


def test_only_the_last_stage_counts_and_a_name_without_a_value_is_no_secret():
    builder = "FROM python:latest AS build\nUSER root\n" + GOOD  # a build stage may run as root
    assert cf.containerfile_problems(builder) == []
    assert cf.containerfile_problems(GOOD.replace("USER 10001", "ARG SECRET_KEY\nUSER 10001")) == []
    assert cf.containerfile_problems("") == ["no FROM: a Containerfile starts from a base image"]


def test_container_engine_is_none_or_one_that_answers():
    assert cf.container_engine() in {None, "podman", "docker"}
