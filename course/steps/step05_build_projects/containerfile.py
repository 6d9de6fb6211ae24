"""Step 05b · a Containerfile (Dockerfile) checked from its text: what makes an image unsafe to ship.

- :func:`parse_containerfile` reads the instructions (comments dropped, ``\\`` continuations joined).
- :func:`containerfile_problems` lists what is wrong for shipping a service: an unpinned base image, root as
  the user, no ``HEALTHCHECK``, a shell-form ``CMD`` (the service would not get ``SIGTERM``), a secret baked
  into ``ENV`` or ``ARG``; ``[]`` when nothing is.
- :func:`container_engine` says whether podman or docker is installed *and answers* here: the lesson builds
  the image only then, and never depends on one.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess

from course.components.waits import scaled

__all__ = ["parse_containerfile", "containerfile_problems", "container_engine", "SECRET_NAME"]

SECRET_NAME = re.compile(r"(SECRET|PASSWORD|PASSWD|TOKEN|API_?KEY|PRIVATE_?KEY)", re.IGNORECASE)


def parse_containerfile(text: str) -> list[tuple[str, str]]:
    """``[(INSTRUCTION, arguments)]`` of a Containerfile: comments dropped, ``\\`` continuations joined."""
    instructions, pending = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        if line:
            word, _, rest = line.partition(" ")
            instructions.append((word.upper(), rest.strip()))
    if pending.strip():
        word, _, rest = pending.strip().partition(" ")
        instructions.append((word.upper(), rest.strip()))
    return instructions


def _exec_form(arguments: str) -> bool:
    try:
        value = json.loads(arguments)
    except ValueError:
        return False
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)


def _env_names(arguments: str) -> list[tuple[str, str]]:
    """``ENV A=1 B=2`` and the old ``ENV A 1`` as (name, value) pairs."""
    try:
        words = shlex.split(arguments)
    except ValueError:
        words = arguments.split()
    if words and "=" not in words[0]:
        return [(words[0], " ".join(words[1:]))]
    return [tuple(w.split("=", 1)) if "=" in w else (w, "") for w in words]


def containerfile_problems(text: str) -> list[str]:
    """What is wrong with a Containerfile for shipping a service; ``[]`` when nothing is.

    Checked: the last stage's base image is pinned (a version tag, not ``latest``, or a digest); the
    process runs as a user other than root; a ``HEALTHCHECK`` exists (not ``NONE``); ``CMD`` (or
    ``ENTRYPOINT``) is in exec form, so the service is PID 1 and gets ``SIGTERM`` itself; no ``ENV``/``ARG``
    bakes a secret into the image.
    """
    instructions = parse_containerfile(text)
    problems = []
    stages = [i for i, (word, _) in enumerate(instructions) if word == "FROM"]
    if not stages:
        return ["no FROM: a Containerfile starts from a base image"]
    last = instructions[stages[-1]:]
    image = [w for w in instructions[stages[-1]][1].split() if not w.startswith("--")][0]
    name, _, tag = image.partition("@")[0].rpartition(":") if ":" in image.partition("@")[0].rsplit("/", 1)[-1] \
        else (image.partition("@")[0], "", "")
    if "@sha256:" not in image and (not tag or tag == "latest" or not re.search(r"\d", tag)):
        problems.append(f"the base image {image!r} is not pinned: name a version tag (python:3.11.9-slim) or a digest")
    users = [args.split()[0] for word, args in last if word == "USER" and args.split()]
    if not users or users[-1].split(":")[0] in {"root", "0"}:
        problems.append("the service runs as root: add a USER that is not root (after installing)")
    checks = [args for word, args in last if word == "HEALTHCHECK"]
    if not checks or checks[-1].upper().startswith("NONE"):
        problems.append("no HEALTHCHECK: the engine cannot tell a hung service from a healthy one")
    commands = [(word, args) for word, args in last if word in {"CMD", "ENTRYPOINT"}]
    if not commands:
        problems.append("no CMD or ENTRYPOINT: the image does not say what to run")
    elif not all(_exec_form(args) for _, args in commands):
        problems.append("CMD/ENTRYPOINT in shell form: /bin/sh is PID 1 and the service never gets SIGTERM; "
                        'use the exec form ["gunicorn", ...]')
    for word, args in instructions:
        if word in {"ENV", "ARG"}:
            for pair in _env_names(args):
                key, value = pair[0], pair[1] if len(pair) > 1 else ""
                if SECRET_NAME.search(key) and value:
                    problems.append(f"{word} {key}=… bakes a secret into the image: pass it at run time")
    return problems


def container_engine() -> str | None:
    """``podman`` or ``docker`` if one is installed here *and answers* (``docker info`` needs its daemon);
    else ``None``: the lesson builds the image only when this says which."""
    for engine in ("podman", "docker"):
        if shutil.which(engine):
            try:
                done = subprocess.run([engine, "info"], capture_output=True, timeout=scaled(20))
            except (OSError, subprocess.TimeoutExpired):
                continue
            if done.returncode == 0:
                return engine
    return None
