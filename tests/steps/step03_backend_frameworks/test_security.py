"""course.steps.step03_backend_frameworks.security (OWASP's parameters, forged tokens, the Authlib authorization
server, the rate-limited app), and exercise 03b graded on plausible answers: each wrong one loses marks in the
test cell that states the rule it breaks, and each other correct answer keeps every point of its part."""

from __future__ import annotations

import re
import secrets

import argon2
import httpx
import jwt
import nbformat
import pytest
from factories import without_solution_markers

from course.components import servers
from course.platform import paths
from course.steps.step03_backend_frameworks import security

STEM = "03b-security"


# --- the helpers ----------------------------------------------------------------------------------------

def test_the_hasher_uses_owasps_argon2id_minimum_from_the_data_file():
    guidance = security.password_guidance()
    assert guidance["argon2id"] == {"memory_kib": 19456, "time_cost": 2, "parallelism": 1}  # 19 MiB, t=2, p=1
    assert guidance["bcrypt"] == {"work_factor": 10, "max_password_bytes": 72}
    params = argon2.extract_parameters(security.owasp_hasher().hash("x"))
    assert (params.type, params.memory_cost, params.time_cost, params.parallelism) == (argon2.Type.ID, 19456, 2, 1)
    assert argon2.extract_parameters(security.owasp_hasher(time_cost=3).hash("x")).time_cost == 3


def test_best_of_returns_the_fastest_run():
    calls = []
    assert security.best_of(lambda: calls.append(1), runs=4) >= 0 and len(calls) == 4


def test_the_top10_lists_the_ten_2021_categories_in_order():
    top10 = security.owasp_top10()
    assert [c["id"] for c in top10["categories"]] == [f"A{n:02d}:2021" for n in range(1, 11)]
    assert top10["categories"][0]["name"] == "Broken Access Control"
    assert top10["categories"][9]["name"].startswith("Server-Side Request Forgery")


def test_forged_tokens_are_what_an_attacker_sends_and_pyjwt_refuses_them():
    key = secrets.token_bytes(32)
    token = jwt.encode({"sub": "bob", "role": "reader"}, key, algorithm="HS256")
    changed = security.tampered(token, role="admin")
    assert changed.split(".")[2] == token.split(".")[2]
    assert jwt.decode(changed, options={"verify_signature": False})["role"] == "admin"
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(changed, key, algorithms=["HS256"])
    unsigned = security.unsigned_token({"sub": "ada"}, kid="k1")
    assert unsigned.endswith(".") and jwt.get_unverified_header(unsigned) == {"alg": "none", "typ": "JWT", "kid": "k1"}
    with pytest.raises(jwt.InvalidAlgorithmError):
        jwt.decode(unsigned, key, algorithms=["HS256"])


def test_cookie_attributes_reads_flags_and_values():
    found = security.cookie_attributes("session=abc=; HttpOnly; Path=/; SameSite=lax; Secure; Max-Age=60")
    assert found == {"name": "session", "value": "abc=", "httponly": True, "path": "/", "samesite": "lax",
                     "secure": True, "max-age": "60"}


@pytest.mark.service
def test_the_rate_limited_app_keys_by_the_function_it_is_given():
    app = security.rate_limited_app(lambda peer, forwarded, n: (forwarded or peer).split(",")[-1].strip(),
                                    trusted_proxies=1, limit=2)
    with security.serve_app(app) as api:
        statuses = [httpx.get(api.url, headers={"X-Forwarded-For": "203.0.113.7"}).status_code for _ in range(3)]
        other = httpx.get(api.url, headers={"X-Forwarded-For": "203.0.113.8"})
    assert statuses == [200, 200, 429] and other.json() == {"client": "203.0.113.8", "left": 1}


@pytest.mark.service
def test_the_authorization_server_runs_pkce_and_refuses_what_it_should():
    from authlib.integrations.httpx_client import OAuth2Client

    redirect = "http://127.0.0.1:9/cb"
    server, log = security.serve_authorization_server(client_id="spa", redirect_uri=redirect, user="ada")
    try:
        client = OAuth2Client("spa", redirect_uri=redirect, scope="notes:read", code_challenge_method="S256",
                              token_endpoint_auth_method="none")
        verifier = secrets.token_urlsafe(48)
        url, _ = client.create_authorization_url(f"{server.url}/authorize", code_verifier=verifier)
        location = httpx.get(url).headers["location"]
        code = re.search(r"code=([^&]+)", location)[1]
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect, "client_id": "spa"}
        assert httpx.post(f"{server.url}/token", data=form).json()["error"] == "invalid_request"  # no verifier
        token = client.fetch_token(f"{server.url}/token", authorization_response=location, code_verifier=verifier)
        assert token["expires_in"] == 900
        me = httpx.get(f"{server.url}/userinfo", headers={"Authorization": f"Bearer {token['access_token']}"})
        assert me.json() == {"sub": "ada", "scope": "notes:read"}
        assert httpx.get(f"{server.url}/userinfo", headers={"Authorization": "Bearer forged"}).status_code == 401
        again = httpx.post(f"{server.url}/token", data={**form, "code_verifier": verifier})
        assert again.json()["error"] == "invalid_grant"  # a code works once
        plain = httpx.get(f"{server.url}/authorize", params={"response_type": "code", "client_id": "spa",
                                                             "redirect_uri": redirect, "code_challenge": "a" * 43,
                                                             "code_challenge_method": "plain"})
        no_challenge = httpx.get(f"{server.url}/authorize", params={"response_type": "code", "client_id": "spa",
                                                                    "redirect_uri": redirect})
        assert (plain.status_code, no_challenge.status_code) == (400, 400)
        assert [row["status"] for row in log][:2] == [302, 400]
    finally:
        server.stop()
    assert server.name not in [s.name for s in servers.running()]


# --- exercise 03b graded: plausible answers ---------------------------------------------------------------
# A variant is the reference answer of a part with one change (or a whole other answer). A wrong one must fail
# the test cell named with it (the rule it breaks is stated in that part's instructions); a correct one must
# pass every test cell of its part. The answers, by part:
# - passwords: SHA-256, too-weak Argon2 parameters, Argon2i, raising on a wrong password, raising on a
#   malformed hash, never rehashing, always rehashing, comparing a fresh hash with ==; right: argon2-cffi's
#   defaults with 19 MiB (3 iterations, 4 lanes), comparing extract_parameters by hand.
# - tokens: no signature check, the algorithm taken from the token, no issuer, no leeway, an hour's leeway,
#   the current key only, no required claims, a KeyError for a missing kid, any key tried whatever the kid;
#   right: datetimes for iat/exp and the claims checked by hand after decode.
# - notes_api: no HttpOnly, SameSite=None, the planted session id kept, no ownership check, 403 instead of
#   the stated 404, a CSRF header only checked for presence, one CSRF token for every session, the owner
#   taken from the body, the note stored before the CSRF check, the headers on successful responses only, the
#   CSRF token compared with != or ==, SHA-256 digests of both compared with !=, a hand-written loop; right:
#   dependencies, HTTPException, SameSite=Strict and secrets.compare_digest on str in a sync route,
#   `from hmac import compare_digest as cd`, a length check before compare_digest.
# - client_ip: the left-most entry, always the peer, always the last entry, the header trusted with no proxy;
#   right: a walk from the right.
# - check_url: string prefixes, IP literals only (names pass), loopback only, no scheme check; right: is_global.

def _exercise():
    """(setup source, {answer id: (reference source, [test ids])}, {test id: source}) of exercise 03b."""
    nb = nbformat.read(paths.solution_path(STEM), as_version=4)
    setup, parts, tests, current = None, {}, {}, None
    for cell in nb.cells:
        info = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code":
            continue
        if info.get("solution"):
            current = info["grade_id"]
            parts[current] = (without_solution_markers(cell.source), [])
        elif info.get("grade"):
            parts[current][1].append(info["grade_id"])
            tests[info["grade_id"]] = cell.source
        elif setup is None:
            setup = cell.source
    return setup, parts, tests


SETUP, PARTS, TESTS = _exercise()


def swap(part: str, old: str, new: str) -> str:
    """The reference answer of ``part`` with ``old`` replaced by ``new`` (``old`` must be in it)."""
    source = PARTS[part][0]
    assert old in source, (part, old)
    return source.replace(old, new)


CSRF_COMPARISON = 'if not hmac.compare_digest(sent.encode(), session["csrf"].encode()):'

WRONG = [  # (variant id, part, the test cell that must fail, source)
    ("passwords-sha256", "passwords", "passwords_tests", '''
import hashlib
def hash_password(password):
    return hashlib.sha256(password.encode()).hexdigest()
def check_password(stored, password):
    return (hashlib.sha256(password.encode()).hexdigest() == stored, None)
'''),
    ("passwords-too-weak", "passwords", "passwords_tests",
     swap("passwords", "time_cost=2, memory_cost=19456", "time_cost=1, memory_cost=4096")),
    ("passwords-argon2i", "passwords", "passwords_tests", swap("passwords", "type=argon2.Type.ID", "type=argon2.Type.I")),
    ("passwords-raises-on-wrong-password", "passwords", "passwords_tests", swap(
        "passwords", "    try:\n        HASHER.verify(stored, password)\n    except (argon2.exceptions.VerificationError, "
                     "argon2.exceptions.InvalidHashError):\n        return False, None\n", "    HASHER.verify(stored, password)\n")),
    ("passwords-raises-on-malformed-hash", "passwords", "passwords_tests", swap(
        "passwords", "except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):",
        "except argon2.exceptions.VerificationError:")),
    ("passwords-never-rehash", "passwords", "passwords_tests",
     swap("passwords", "(hash_password(password) if HASHER.check_needs_rehash(stored) else None)", "None")),
    ("passwords-always-rehash", "passwords", "passwords_tests",
     swap("passwords", "(hash_password(password) if HASHER.check_needs_rehash(stored) else None)", "hash_password(password)")),
    ("passwords-compare-fresh-hash", "passwords", "passwords_tests", swap(
        "passwords", "        HASHER.verify(stored, password)\n",
        "        if HASHER.hash(password) != stored:\n            raise argon2.exceptions.VerifyMismatchError()\n")),
    ("tokens-no-signature-check", "tokens", "tokens_tampering_tests",
     swap("tokens", 'options={"require": ["exp", "iat", "sub"]}', 'options={"require": ["exp", "iat", "sub"], "verify_signature": False}')),
    ("tokens-alg-from-header", "tokens", "tokens_tampering_tests",
     swap("tokens", 'algorithms=["HS256"]', 'algorithms=[jwt.get_unverified_header(token)["alg"]]')),
    ("tokens-no-issuer", "tokens", "tokens_tampering_tests", swap("tokens", " issuer=ISSUER,", "")),
    ("tokens-no-leeway", "tokens", "tokens_expiry_tests", swap("tokens", "leeway=LEEWAY", "leeway=0")),
    ("tokens-an-hours-leeway", "tokens", "tokens_expiry_tests", swap("tokens", "leeway=LEEWAY", "leeway=3600")),
    ("tokens-current-key-only", "tokens", "tokens_issue_tests", swap("tokens", "jwt.decode(token, KEYS[kid]", "jwt.decode(token, KEYS[CURRENT_KID]")),
    ("tokens-no-required-claims", "tokens", "tokens_tampering_tests",
     swap("tokens", ',\n                      options={"require": ["exp", "iat", "sub"]}', "")),
    ("tokens-missing-kid-keyerror", "tokens", "tokens_tampering_tests", swap(
        "tokens", '    kid = jwt.get_unverified_header(token).get("kid")\n    if kid not in KEYS:\n'
                  '        raise jwt.InvalidTokenError(f"unknown key id {kid!r}")\n',
        '    kid = jwt.get_unverified_header(token)["kid"]\n')),
    ("tokens-any-key-whatever-the-kid", "tokens", "tokens_tampering_tests", PARTS["tokens"][0].split("def read_token")[0] + '''
def read_token(token):
    for key in KEYS.values():
        try:
            return jwt.decode(token, key, algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER, leeway=LEEWAY,
                              options={"require": ["exp", "iat", "sub"]})
        except jwt.InvalidSignatureError:
            pass
    raise jwt.InvalidSignatureError("no key matches")
'''),
    ("notes-no-httponly", "notes_api", "notes_api_session_tests", swap("notes_api", "httponly=True, ", "")),
    ("notes-samesite-none", "notes_api", "notes_api_session_tests", swap("notes_api", 'samesite="lax"', 'samesite="none"')),
    ("notes-keeps-planted-session-id", "notes_api", "notes_api_session_tests", swap(
        "notes_api", "session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)",
        "session_id, csrf = request_session or secrets.token_urlsafe(32), secrets.token_urlsafe(32)")),
    ("notes-no-ownership-check", "notes_api", "notes_api_idor_tests",
     swap("notes_api", 'if note is None or note["owner"] != session["user"]:', "if note is None:")),
    ("notes-403-for-others-notes", "notes_api", "notes_api_idor_tests", swap(
        "notes_api", 'if note is None or note["owner"] != session["user"]:',
        'if note is not None and note["owner"] != session["user"]:\n'
        '            return JSONResponse({"error": "not yours"}, status_code=403)\n        if note is None:')),
    ("notes-csrf-presence-only", "notes_api", "notes_api_csrf_tests", swap("notes_api", CSRF_COMPARISON, "if not sent:")),
    ("notes-one-csrf-token-for-all", "notes_api", "notes_api_csrf_tests", swap(
        "notes_api", "session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)",
        'session_id, csrf = secrets.token_urlsafe(32), sessions.setdefault("csrf", "one-token-for-everyone-0123")')),
    ("notes-owner-from-body", "notes_api", "notes_api_csrf_tests",
     swap("notes_api", '{"owner": session["user"],', '{"owner": body.get("owner", session["user"]),')),
    ("notes-stored-before-csrf-check", "notes_api", "notes_api_csrf_tests", swap(
        "notes_api", '        sent = request.headers.get("x-csrf-token", "")\n',
        '        sent = request.headers.get("x-csrf-token", "")\n        notes.insert({"owner": session["user"], '
        '"text": "draft"})\n')),
    ("notes-csrf-compared-with-not-equal", "notes_api", "notes_api_constant_time_tests",
     swap("notes_api", CSRF_COMPARISON, 'if sent != session["csrf"]:')),
    ("notes-csrf-compared-with-equal", "notes_api", "notes_api_constant_time_tests",
     swap("notes_api", CSRF_COMPARISON, 'if not sent == session["csrf"]:')),
    ("notes-csrf-hashes-compared-with-equal", "notes_api", "notes_api_constant_time_tests", "import hashlib\n" + swap(
        "notes_api", CSRF_COMPARISON, 'if hashlib.sha256(sent.encode()).digest() != hashlib.sha256(session["csrf"].encode()).digest():')),
    ("notes-csrf-hand-written-loop", "notes_api", "notes_api_constant_time_tests", swap(
        "notes_api", CSRF_COMPARISON, 'if len(sent) != len(session["csrf"]) or not all(a == b for a, b in zip(sent, session["csrf"])):')),
    ("notes-headers-on-successes-only", "notes_api", "notes_api_headers_tests", swap(
        "notes_api", "        response = await call_next(request)\n",
        "        response = await call_next(request)\n        if response.status_code >= 400:\n            return response\n")),
    ("client-ip-leftmost", "client_ip", "client_ip_tests", '''
def client_ip(peer, forwarded_for, trusted_proxies):
    return forwarded_for.split(",")[0].strip() if forwarded_for else peer
'''),
    ("client-ip-always-peer", "client_ip", "client_ip_tests", "def client_ip(peer, forwarded_for, trusted_proxies):\n    return peer\n"),
    ("client-ip-always-last-entry", "client_ip", "client_ip_tests", '''
def client_ip(peer, forwarded_for, trusted_proxies):
    return forwarded_for.split(",")[-1].strip() if forwarded_for else peer
'''),
    ("client-ip-header-without-proxies", "client_ip", "client_ip_tests",
     swap("client_ip", "    if trusted_proxies == 0:\n        return peer\n",
          "    if trusted_proxies == 0:\n        return (forwarded_for or peer).split(\",\")[-1].strip()\n")),
    ("check-url-string-prefixes", "check_url", "check_url_tests", '''
def check_url(url):
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(url)
    host = parts.hostname
    if host == "localhost" or host.startswith(("127.", "10.", "192.168.", "172.16.", "169.254.", "0.")):
        raise ValueError(url)
    return host
'''),
    ("check-url-literals-only", "check_url", "check_url_tests", '''
def check_url(url):
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(url)
    try:
        ip = ipaddress.ip_address(parts.hostname)
    except ValueError:
        return parts.hostname  # a name: fetched as it is
    if not ip.is_global or ip.is_multicast:
        raise ValueError(url)
    return str(ip)
'''),
    ("check-url-loopback-only", "check_url", "check_url_tests", swap(
        "check_url", "if (ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_unspecified or ip.is_reserved\n"
                     "                or ip.is_multicast):", "if ip.is_loopback:")),
    ("check-url-no-scheme-check", "check_url", "check_url_tests",
     swap("check_url", 'parts.scheme not in {"http", "https"} or not parts.hostname', "not parts.hostname")),
]

RIGHT = [  # (variant id, part, source): other correct answers keep every point of their part
    ("passwords-library-defaults-at-19-mib", "passwords", '''
HASHER = argon2.PasswordHasher(memory_cost=19456)  # argon2-cffi's defaults otherwise: t=3, p=4, Argon2id
def hash_password(password):
    return HASHER.hash(password)
def check_password(stored, password):
    try:
        HASHER.verify(stored, password)
    except Exception:
        return False, None
    return True, hash_password(password) if HASHER.check_needs_rehash(stored) else None
'''),
    ("passwords-parameters-compared-by-hand", "passwords", '''
WANTED = dict(time_cost=3, memory_cost=19456, parallelism=1)
def hash_password(password):
    return argon2.PasswordHasher(**WANTED).hash(password)
def check_password(stored, password):
    try:
        argon2.PasswordHasher().verify(stored, password)
        params = argon2.extract_parameters(stored)
    except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
        return (False, None)
    current = (params.type == argon2.Type.ID and params.time_cost == 3 and params.memory_cost == 19456
               and params.parallelism == 1)
    return (True, None) if current else (True, hash_password(password))
'''),
    ("tokens-datetimes-and-claims-by-hand", "tokens", '''
from datetime import datetime, timedelta, timezone
def issue_token(subject, role="reader"):
    now = datetime.now(timezone.utc).replace(microsecond=0)
    return jwt.encode({"sub": subject, "role": role, "iss": ISSUER, "aud": AUDIENCE, "iat": now,
                       "exp": now + timedelta(seconds=LIFETIME)}, KEYS[CURRENT_KID], "HS256", headers={"kid": CURRENT_KID})
def read_token(token):
    header = jwt.get_unverified_header(token)
    key = KEYS.get(header.get("kid"))
    if key is None:
        raise jwt.InvalidTokenError("unknown kid")
    claims = jwt.decode(token, key, algorithms=["HS256"], audience=AUDIENCE, leeway=timedelta(seconds=LEEWAY),
                        options={"require": ["exp"]})
    if claims.get("iss") != ISSUER:
        raise jwt.InvalidIssuerError("issuer")
    for name in ("iat", "sub"):
        if name not in claims:
            raise jwt.MissingRequiredClaimError(name)
    return claims
'''),
    ("notes-dependencies-httpexception-strict", "notes_api", '''
from fastapi import Depends, HTTPException, Response
from pydantic import BaseModel

class Credentials(BaseModel):
    username: str
    password: str

class NewNote(BaseModel):
    text: str

def build_app(notes):
    app = FastAPI()
    sessions = {}

    @app.middleware("http")
    async def headers(request, call_next):
        response = await call_next(request)
        response.headers.update({"X-Content-Type-Options": "nosniff",
                                 "Content-Security-Policy": "default-src 'self'",
                                 "Strict-Transport-Security": "max-age=63072000"})
        return response

    def user_session(request: Request):
        found = sessions.get(request.cookies.get("session"))
        if not found:
            raise HTTPException(401, "log in first")
        return found

    @app.post("/login")
    def login(credentials: Credentials, response: Response):
        if not authenticate(credentials.username, credentials.password):
            raise HTTPException(401, "wrong credentials")
        sid = secrets.token_hex(32)
        sessions[sid] = {"user": credentials.username, "csrf": secrets.token_hex(16)}
        response.set_cookie("session", sid, httponly=True, secure=True, samesite="strict")
        return {"csrf_token": sessions[sid]["csrf"]}

    @app.get("/notes/{note_id}")
    def read(note_id: int, session=Depends(user_session)):
        note = notes.get(note_id)
        if not note or note["owner"] != session["user"]:
            raise HTTPException(404, "no such note")
        return note

    @app.post("/notes", status_code=201)
    def create(new: NewNote, request: Request, session=Depends(user_session)):
        if not secrets.compare_digest(request.headers.get("X-CSRF-Token", ""), session["csrf"]):
            raise HTTPException(403, "CSRF")
        return notes.insert({"owner": session["user"], "text": new.text})

    return app
'''),
    ("notes-csrf-compare-digest-imported-as-cd", "notes_api", "from hmac import compare_digest as cd\n" + swap(
        "notes_api", CSRF_COMPARISON, 'if not cd(sent, session["csrf"]):')),
    ("notes-csrf-length-checked-first", "notes_api", swap(
        "notes_api", CSRF_COMPARISON, 'if len(sent) != len(session["csrf"]) or not hmac.compare_digest(sent, session["csrf"]):')),
    ("client-ip-walk-from-the-right", "client_ip", '''
def client_ip(peer, forwarded_for, trusted_proxies):
    hops = [peer] + [a.strip() for a in reversed((forwarded_for or "").split(",")) if a.strip()]
    if trusted_proxies and len(hops) > trusted_proxies:
        return hops[trusted_proxies]
    return peer
'''),
    ("check-url-is-global", "check_url", '''
def check_url(url):
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or parts.hostname is None:
        raise ValueError("scheme")
    try:
        infos = socket.getaddrinfo(parts.hostname, None)
    except OSError:
        raise ValueError("unresolvable") from None
    for info in infos:
        ip = ipaddress.ip_address(info[4][0])
        if not ip.is_global or ip.is_multicast:
            raise ValueError(str(ip))
    return infos[0][4][0]
'''),
]


@pytest.fixture(scope="module")
def graded():
    """``run(answer source, [test ids]) -> {test id: passed}`` in one IPython shell that ran the setup once."""
    import sys

    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    main_module = sys.modules["__main__"]
    config = Config()
    config.HistoryManager.enabled = False
    shell = InteractiveShell.instance(config=config)
    assert shell.run_cell(SETUP, silent=True).success
    baseline = dict(shell.user_ns)

    def run(source: str, test_ids: list[str]) -> dict[str, bool]:
        shell.user_ns.clear()
        shell.user_ns.update(baseline)  # no name of an earlier variant survives
        assert shell.run_cell(source, silent=True).success, source
        return {test_id: shell.run_cell(TESTS[test_id], silent=True).success for test_id in test_ids}

    yield run
    servers.stop_all()
    sys.modules["__main__"] = main_module


@pytest.mark.service
@pytest.mark.parametrize(("part", "source"), [(p, s) for p, (s, _) in PARTS.items()], ids=list(PARTS))
def test_the_reference_answers_pass_in_process(graded, part, source):
    assert graded(source, PARTS[part][1]) == dict.fromkeys(PARTS[part][1], True)


@pytest.mark.service
@pytest.mark.parametrize(("variant_id", "part", "test_id", "source"), WRONG, ids=[v[0] for v in WRONG])
def test_a_wrong_answer_loses_the_marks_of_the_rule_it_breaks(graded, variant_id, part, test_id, source):
    assert test_id in PARTS[part][1]
    assert graded(source, [test_id]) == {test_id: False}, f"{variant_id} kept the points of {test_id}"


@pytest.mark.service
@pytest.mark.parametrize(("variant_id", "part", "source"), RIGHT, ids=[v[0] for v in RIGHT])
def test_another_correct_answer_keeps_every_point(graded, variant_id, part, source):
    assert graded(source, PARTS[part][1]) == dict.fromkeys(PARTS[part][1], True), variant_id


def test_every_part_has_wrong_and_right_variants_and_the_points_add_up():
    assert {v[1] for v in WRONG} == set(PARTS) and {v[1] for v in RIGHT} == set(PARTS)
    nb = nbformat.read(paths.solution_path(STEM), as_version=4)
    points = sum(c.metadata.get("nbgrader", {}).get("points", 0) for c in nb.cells)
    assert points == 20 and "20 points" in nb.cells[0].source


def test_part_a_states_and_grades_owasps_figures():
    guidance = security.password_guidance()["argon2id"]
    nb = nbformat.read(paths.solution_path(STEM), as_version=4)
    text = next(c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "passwords_instructions")
    assert f"memory at least {guidance['memory_kib']} KiB" in text and f"at least {guidance['time_cost']} iterations" in text
    assert f"params.memory_cost >= {guidance['memory_kib']}" in TESTS["passwords_tests"]


@pytest.mark.slow
@pytest.mark.service
def test_the_constant_time_check_through_nbgrader_and_its_guard(tmp_path, gradebook_cache):
    """Graded as a learner's submission is (nbgrader, the kernel's guard): a sync route calling
    secrets.compare_digest in anyio's worker threads keeps every point and raises no finding about the test's
    profiler; a comparison with != loses the constant-time cell's point and nothing else."""
    from course.grading.grader import grade_notebook

    right = next(source for variant, _, source in RIGHT if variant == "notes-dependencies-httpexception-strict")
    answers = {"right": right, "not-equal": swap("notes_api", CSRF_COMPARISON, 'if sent != session["csrf"]:')}
    for name, answer in answers.items():
        nb = nbformat.read(paths.solution_path(STEM), as_version=4)
        cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "notes_api")
        cell.source = answer
        folder = tmp_path / name
        folder.mkdir()
        nbformat.write(nb, folder / f"{STEM}.ipynb")
        result = grade_notebook(STEM, folder / f"{STEM}.ipynb", cache_dir=gradebook_cache)
        assert not [f for f in result.review if "setprofile" in f or "settrace" in f], result.review
        lost = [p.grade_id for p in result.parts if not p.passed]
        assert lost == ([] if name == "right" else ["notes_api_constant_time_tests"]), (name, lost)
