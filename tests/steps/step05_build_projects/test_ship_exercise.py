"""course.steps.step05_build_projects.ship_exercise, and exercise 05b graded on plausible answers: every wrong
answer below loses marks in its part, every other correct answer keeps them all. The variants run in one
kernel, each answer cell followed by its part's test cells (hidden tests included), as nbgrader would run them.

Wrong answers, by part:
- settings: a default secret when none is set; a KeyError instead of one clear RuntimeError; os.environ read
  instead of the mapping given; no length check; the secret echoed in the message; workers left a str.
- app: /healthz that checks the database; /readyz always 200; /readyz letting the error out (500); /readyz
  saying "not ready" with 200.
- server_block: X-Forwarded-For appended ($proxy_add_x_forwarded_for: the client's forged header survives);
  no X-Forwarded-Proto; no body limit (nginx's default 1 MiB lets 65 KiB through); no proxy_bind (nginx
  connects from 127.0.0.1); no HTTP/2; a plain-HTTP listener.
- gunicorn config: gunicorn's default sync worker; a graceful timeout shorter than the requests (SIGTERM
  drops them); forwarded headers trusted from everybody ("*"); not trusted from the proxy (the default).
- Containerfile: python:latest; no USER (root); no HEALTHCHECK; shell-form CMD; the secret in ENV; a
  HEALTHCHECK that probes / instead of /healthz.
"""

from __future__ import annotations

import nbformat
import pytest
from factories import assert_judged, exercise_cells, run_variants

from course.steps.step05_build_projects import ship_exercise as grading

STEM = "05b-ship"

SETTINGS_OK = '''
def load_settings(environ) -> dict:
    """The settings in ``environ``; RuntimeError naming the variable when one is missing or wrong."""
    secret = environ.get("SHIPIT_SECRET_KEY", ""){check}
    workers = environ.get("SHIPIT_WORKERS", "2").strip()
    if not workers.isdigit() or not 1 <= int(workers) <= 16:
        raise RuntimeError(f"SHIPIT_WORKERS must be a whole number from 1 to 16, not {{workers!r}}")
    return {{"secret_key": secret, "database_url": environ.get("SHIPIT_DATABASE_URL", "sqlite:///shipit.db"),
            "workers": {workers}}}
'''
LENGTH = '''
    if len(secret) < 32:
        raise RuntimeError("SHIPIT_SECRET_KEY must be set to at least 32 random characters")'''


def settings(check=LENGTH, workers="int(workers)", head="", read='environ.get("SHIPIT_SECRET_KEY", "")'):
    body = SETTINGS_OK.format(check=check, workers=workers).replace('environ.get("SHIPIT_SECRET_KEY", "")', read)
    return "%%writefile shipit/settings.py\n" + head + body


APP_HEAD = '''%%writefile shipit/app.py
import asyncio
import os

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import create_engine, text

from shipit.settings import load_settings


def create_app(settings: dict | None = None) -> FastAPI:
    settings = settings or load_settings(os.environ)
    engine = create_engine(settings["database_url"])
    app = FastAPI(title="shipit")
    app.state.engine = engine
'''


def app(body):
    return APP_HEAD + body + "\n    return app\n"


HEALTHZ = '''
    @app.get("/healthz")
    def healthz():
        return {"status": "up"}
'''
READYZ_RIGHT = '''
    @app.get("/readyz")
    def readyz(response: Response):
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception:
            response.status_code = 503
            return {"status": "not ready"}
        return {"status": "ready"}
'''

BLOCK = '''
def server_block(listen_port, upstream_port, certificate, key):
    return f"""
server {{{{
    listen 127.0.0.1:{{listen_port}} {ssl};
    {http2}
    ssl_certificate {{certificate}};
    ssl_certificate_key {{key}};
    {limit}
    location / {{{{
        proxy_pass http://127.0.0.1:{{upstream_port}};
        {bind}
        proxy_set_header X-Forwarded-For {xff};
        {proto}
    }}}}
}}}}
"""
'''


def block(ssl="ssl", http2="http2 on;", limit="client_max_body_size 64k;", bind="proxy_bind 127.0.0.2;",
          xff="$remote_addr", proto="proxy_set_header X-Forwarded-Proto $scheme;"):
    return BLOCK.format(ssl=ssl, http2=http2, limit=limit, bind=bind, xff=xff, proto=proto)


UPSTREAM_BLOCK = '''
def server_block(listen_port, upstream_port, certificate, key):
    upstream = "\\n".join(["upstream shipit {", f"    server 127.0.0.1:{upstream_port};", "    keepalive 8;", "}"])
    return upstream + f"""
server {{
    listen 127.0.0.1:{listen_port} ssl;
    http2 on;
    ssl_certificate     {certificate};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.3;
    client_max_body_size 64K;
    location / {{
        proxy_pass http://shipit;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header X-Forwarded-Proto https;
        proxy_set_header X-Forwarded-For $remote_addr;
        proxy_bind 127.0.0.2;
    }}
}}
"""
'''


def gunicorn(text):
    return "%%writefile shipit/gunicorn.conf.py\n" + text


CONTAINER = '''%%writefile Containerfile
FROM {base}
WORKDIR /srv
RUN pip install --no-cache-dir fastapi sqlalchemy gunicorn uvicorn-worker && useradd --system --uid 10001 shipit
COPY shipit ./shipit
{env}{user}
{health}
{cmd}
'''


def container(base="python:3.11.11-slim-bookworm", env="", user="USER shipit",
              health='HEALTHCHECK CMD ["python", "-c", "import urllib.request as u; u.urlopen(\'http://127.0.0.1:8000/healthz\')"]',
              cmd='CMD ["gunicorn", "-c", "shipit/gunicorn.conf.py", "shipit.app:create_app()"]'):
    return CONTAINER.format(base=base, env=env, user=user, health=health, cmd=cmd)


VARIANTS = [  # (id, part, correct, answer source)
    ("settings-default-secret", "settings", False, settings(check="", read='environ.get("SHIPIT_SECRET_KEY", "dev-" * 10)')),
    ("settings-keyerror", "settings", False, settings(check="", read='environ["SHIPIT_SECRET_KEY"]')),
    ("settings-os-environ", "settings", False, settings(head="import os\n", read='os.environ.get("SHIPIT_SECRET_KEY", "")')),
    ("settings-no-length-check", "settings", False, settings(check='''
    if not secret:
        raise RuntimeError("SHIPIT_SECRET_KEY must be set")''')),
    ("settings-echoes-the-secret", "settings", False, settings(check='''
    if len(secret) < 32:
        raise RuntimeError(f"SHIPIT_SECRET_KEY {secret!r} is shorter than 32 characters")''')),
    ("settings-workers-a-str", "settings", False, settings(workers="workers")),
    ("settings-try-int", "settings", True, '''%%writefile shipit/settings.py
def load_settings(environ):
    secret = environ.get("SHIPIT_SECRET_KEY") or ""
    if len(secret) < 32:
        raise RuntimeError("set SHIPIT_SECRET_KEY (32 characters or more)")
    raw = environ.get("SHIPIT_WORKERS", "2")
    try:
        workers = int(raw)
    except ValueError:
        workers = 0
    if str(workers) != raw.strip() or not 1 <= workers <= 16:
        raise RuntimeError("SHIPIT_WORKERS: give a whole number from 1 to 16")
    return dict(secret_key=secret, database_url=environ.get("SHIPIT_DATABASE_URL") or "sqlite:///shipit.db",
                workers=workers)
'''),
    ("app-healthz-checks-the-database", "app", False, app('''
    @app.get("/healthz")
    def healthz(response: Response):
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception:
            response.status_code = 503
            return {"status": "down"}
        return {"status": "up"}
''' + READYZ_RIGHT)),
    ("app-readyz-always-200", "app", False, app(HEALTHZ + '''
    @app.get("/readyz")
    def readyz():
        return {"status": "ready"}
''')),
    ("app-readyz-lets-the-error-out", "app", False, app(HEALTHZ + '''
    @app.get("/readyz")
    def readyz():
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return {"status": "ready"}
''')),
    ("app-readyz-not-ready-with-200", "app", False, app(HEALTHZ + '''
    @app.get("/readyz")
    def readyz():
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception:
            return {"status": "not ready"}
        return {"status": "ready"}
''')),
    ("app-json-response-and-driver-sql", "app", True, app('''
    @app.get("/healthz", status_code=200)
    async def healthz():
        return {"status": "up"}

    @app.get("/readyz")
    def readyz():
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
            return {"status": "ready"}
        except Exception:
            return JSONResponse({"status": "not ready"}, status_code=503)
''')),
    ("block-appends-x-forwarded-for", "server_block", False, block(xff="$proxy_add_x_forwarded_for")),
    ("block-no-x-forwarded-proto", "server_block", False, block(proto="")),
    ("block-no-body-limit", "server_block", False, block(limit="")),
    ("block-no-proxy-bind", "server_block", False, block(bind="")),
    ("block-no-http2", "server_block", False, block(http2="")),
    ("block-plain-http", "server_block", False, block(ssl="")),
    ("block-upstream-keepalive", "server_block", True, UPSTREAM_BLOCK),
    ("gunicorn-sync-worker", "gunicorn_config", False, gunicorn('graceful_timeout = 20\nforwarded_allow_ips = "127.0.0.2"\n')),
    ("gunicorn-short-graceful-timeout", "gunicorn_config", False, gunicorn(
        'worker_class = "uvicorn_worker.UvicornWorker"\ngraceful_timeout = 1\nforwarded_allow_ips = "127.0.0.2"\n')),
    ("gunicorn-trusts-everybody", "gunicorn_config", False, gunicorn(
        'worker_class = "uvicorn_worker.UvicornWorker"\ngraceful_timeout = 20\nforwarded_allow_ips = "*"\n')),
    ("gunicorn-trusts-nobody", "gunicorn_config", False, gunicorn(
        'worker_class = "uvicorn_worker.UvicornWorker"\ngraceful_timeout = 20\n')),
    ("gunicorn-h11-worker-and-a-list", "gunicorn_config", True, gunicorn(
        'import os\n\nworker_class = "uvicorn_worker.UvicornH11Worker"\ngraceful_timeout = int(os.environ.get("GRACE", "10"))\n'
        'keepalive = 10\nforwarded_allow_ips = "127.0.0.2,10.1.2.3"\n')),
    ("container-latest", "containerfile", False, container(base="python:latest")),
    ("container-root", "containerfile", False, container(user="")),
    ("container-no-healthcheck", "containerfile", False, container(health="")),
    ("container-shell-cmd", "containerfile", False, container(cmd='CMD gunicorn -c shipit/gunicorn.conf.py "shipit.app:create_app()"')),
    ("container-secret-in-env", "containerfile", False, container(env="ENV SHIPIT_SECRET_KEY=" + "x" * 40 + "\n")),
    ("container-healthcheck-of-root", "containerfile", False, container(
        health='HEALTHCHECK CMD ["python", "-c", "import urllib.request as u; u.urlopen(\'http://127.0.0.1:8000/\')"]')),
    ("container-digest-and-entrypoint", "containerfile", True, container(
        base="python@sha256:" + "ab" * 32, user="USER 10001:10001",
        health='HEALTHCHECK --interval=5s CMD ["curl", "-fsS", "http://127.0.0.1:8000/healthz"]',
        cmd='ENTRYPOINT ["gunicorn", "-c", "shipit/gunicorn.conf.py"]\nCMD ["shipit.app:create_app()"]')),
]


def _strip(source: str) -> str:
    return "\n".join(line for line in source.splitlines() if "### BEGIN SOLUTION" not in line
                     and "### END SOLUTION" not in line) + "\n"


@pytest.fixture(scope="module")
def graded_variants(tmp_path_factory):
    """{variant id: [error or None per test cell of its part]}: every variant run once, in one kernel; each part's
    other answers (the reference ones) are written first, so a part is judged on its own answer."""
    setup, parts, cleanup = exercise_cells(STEM)
    cells = [nbformat.v4.new_code_cell(source) for source in setup]
    cells += [nbformat.v4.new_code_cell(_strip(answer)) for answer, _ in parts.values()]  # every reference file
    positions = {}
    for variant_id, part, _correct, source in VARIANTS:
        reference, tests = parts[part]
        cells.append(nbformat.v4.new_code_cell(source))
        positions[variant_id] = list(range(len(cells), len(cells) + len(tests)))
        cells += [nbformat.v4.new_code_cell(test) for test in tests]
        cells.append(nbformat.v4.new_code_cell(_strip(reference) + "\ngrading.stop_all()"))  # back to the reference
    cells.append(nbformat.v4.new_code_cell(cleanup))
    return run_variants(cells, positions, trusted=len(setup) + len(parts), folder=tmp_path_factory.mktemp("variants"))


@pytest.mark.slow
@pytest.mark.service
@pytest.mark.parametrize(("variant_id", "correct"), [(v[0], v[2]) for v in VARIANTS], ids=[v[0] for v in VARIANTS])
def test_hidden_tests_judge_each_variant(graded_variants, variant_id, correct):
    errors = graded_variants[variant_id]
    assert_judged(errors, correct)


def test_every_part_has_a_wrong_and_a_right_variant():
    _, parts, _ = exercise_cells(STEM)
    for part in parts:
        kinds = {correct for _, p, correct, _ in VARIANTS if p == part}
        assert kinds == {True, False}, part


def test_unwritten_finds_a_stub_behind_a_start_failure():
    assert grading.unwritten(NotImplementedError())
    assert grading.unwritten(RuntimeError("shipit exited with code 3 before answering:\n... NotImplementedError"))
    try:
        try:
            raise NotImplementedError
        except NotImplementedError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as outer:
        assert grading.unwritten(outer)
    assert not grading.unwritten(ValueError("no"))


def test_the_databases_given_answer_and_do_not(tmp_path):
    import sqlalchemy as sa

    engine = sa.create_engine(grading.sqlite_url(tmp_path))
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT 1").scalar() == 1
    engine.dispose()
    dead = sa.create_engine(grading.unreachable_url())
    with pytest.raises(sa.exc.OperationalError):
        dead.connect()
    dead.dispose()
