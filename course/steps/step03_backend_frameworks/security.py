"""Helpers for deep dive 03b (authentication, authorisation and security) and its exercise.

- :func:`password_guidance` and :func:`owasp_hasher` read OWASP's password-storage parameters
  (``course/data/password_storage.yaml``) and build an Argon2id hasher from them; :func:`best_of` times a
  call the way the lesson quotes timings (the fastest of several runs). :func:`owasp_top10` reads the list
  the lesson attacks (``course/data/owasp_top10.yaml``).
- :func:`unsigned_token` and :func:`tampered` forge the bearer tokens an attacker would send (``alg=none``,
  a changed payload under the old signature), so lessons and hidden tests attack with real JWTs.
- :func:`serve_authorization_server` runs a real OAuth 2.0 authorization server on 127.0.0.1, built on
  Authlib's own grant classes (authorization code + PKCE, S256 required for public clients), and logs every
  request it answers. Its users are approved without a login page: the lesson is about the protocol.
- :func:`cookie_attributes` reads a ``Set-Cookie`` header; :func:`rate_limited_app` is a small FastAPI app
  whose limiter keys clients with a function the learner writes (exercise 03b Part D).
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections import defaultdict
from collections.abc import Callable

from fastapi import Request  # at module level: FastAPI resolves the (postponed) annotation in this module

from course import data
from course.components import servers

__all__ = [
    "password_guidance", "owasp_hasher", "best_of", "owasp_top10",
    "b64url", "unsigned_token", "tampered",
    "AuthorizationServerLog", "serve_authorization_server",
    "cookie_attributes", "rate_limited_app", "serve_app",
]


# --- passwords ------------------------------------------------------------------------------------------

def password_guidance() -> dict:
    """OWASP's password-storage parameters with their source (``course/data/password_storage.yaml``)."""
    return data.load("password_storage.yaml")


def owasp_hasher(**changes):
    """An ``argon2.PasswordHasher`` for Argon2id at OWASP's minimum (19 MiB, 2 iterations, 1 lane).

    ``changes`` override its keyword arguments (``time_cost=3``...), to show a parameter change.
    """
    from argon2 import PasswordHasher, Type

    argon = password_guidance()["argon2id"]
    settings = {"time_cost": argon["time_cost"], "memory_cost": argon["memory_kib"],
                "parallelism": argon["parallelism"], "type": Type.ID, **changes}
    return PasswordHasher(**settings)


def best_of(call: Callable[[], object], runs: int = 5) -> float:
    """The fastest of ``runs`` timed calls of ``call()``, in seconds (the least disturbed by other work)."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


def owasp_top10() -> dict:
    """The OWASP Top 10:2021 categories, each with the lesson section that shows it, and the list's source."""
    return data.load("owasp_top10.yaml")


# --- forged tokens --------------------------------------------------------------------------------------

def b64url(raw: bytes | dict) -> str:
    """Base64url without padding, as JWTs encode their parts (a dict is written as compact JSON first)."""
    if isinstance(raw, dict):
        raw = json.dumps(raw, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def unsigned_token(claims: dict, **header) -> str:
    """A token with ``{"alg": "none"}`` and an empty signature: what a library must refuse unless asked not to."""
    return f"{b64url({'alg': 'none', 'typ': 'JWT', **header})}.{b64url(claims)}."


def tampered(token: str, **claims) -> str:
    """``token`` with ``claims`` changed in its payload and the original header and signature kept."""
    header, payload, signature = token.split(".")
    changed = {**json.loads(_unb64url(payload)), **claims}
    return f"{header}.{b64url(changed)}.{signature}"


# --- a real OAuth 2.0 authorization server ----------------------------------------------------------------

class AuthorizationServerLog(list):
    """The requests the authorization server answered: one dict each (method, path, parameters, status)."""

    def table(self):
        import pandas as pd

        return pd.DataFrame(self)


def _oauth_models(client_id: str, redirect_uri: str, scope: str):
    from authlib.oauth2.rfc6749 import AuthorizationCodeMixin, ClientMixin

    class Client(ClientMixin):
        """One public client (no secret: a single-page or mobile app), which must use PKCE."""

        def get_client_id(self):
            return client_id

        def get_default_redirect_uri(self):
            return redirect_uri

        def get_allowed_scope(self, wanted):
            allowed = set(scope.split())
            return " ".join(s for s in (wanted or "").split() if s in allowed)

        def check_redirect_uri(self, uri):
            return uri == redirect_uri  # an exact match: a prefix match lets an attacker's page receive codes

        def check_endpoint_auth_method(self, method, endpoint):
            return method == "none"  # a public client cannot keep a secret

        def check_response_type(self, response_type):
            return response_type == "code"

        def check_grant_type(self, grant_type):
            return grant_type == "authorization_code"

    class Code(AuthorizationCodeMixin):
        def __init__(self, code, user, scope, challenge, method, uri):
            self.code, self.user, self.scope = code, user, scope
            self.code_challenge, self.code_challenge_method, self.redirect_uri = challenge, method, uri
            self.expires_at = time.time() + 300

        def get_redirect_uri(self):
            return self.redirect_uri

        def get_scope(self):
            return self.scope

    return Client(), Code


def serve_authorization_server(*, client_id: str, redirect_uri: str, user: str, scope: str = "notes:read"):
    """Start an OAuth 2.0 authorization server on 127.0.0.1; returns ``(server, log)``.

    Endpoints: ``GET /authorize`` (authorization code grant; PKCE with S256 required, ``user`` approves at
    once), ``POST /token`` (code + ``code_verifier`` for a bearer token; each code works once) and
    ``GET /userinfo`` (the bearer token's user and scope). Stop it with ``server.stop()``.
    """
    from authlib.integrations.flask_oauth2 import AuthorizationServer
    from authlib.oauth2 import OAuth2Error
    from authlib.oauth2.rfc6749 import InvalidRequestError, grants
    from authlib.oauth2.rfc7636 import CodeChallenge
    from flask import Flask, jsonify, request

    client, Code = _oauth_models(client_id, redirect_uri, scope)
    codes: dict[str, Code] = {}
    tokens: dict[str, dict] = {}
    log = AuthorizationServerLog()

    class AuthorizationCode(grants.AuthorizationCodeGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = ["none"]

        def save_authorization_code(self, code, req):
            data = req.payload.data
            codes[code] = Code(code, req.user, req.scope, data.get("code_challenge"),
                               data.get("code_challenge_method"), req.payload.redirect_uri)

        def query_authorization_code(self, code, req_client):
            found = codes.get(code)
            return found if found and found.expires_at > time.time() else None

        def delete_authorization_code(self, authorization_code):
            codes.pop(authorization_code.code, None)  # a code is good for one exchange

        def authenticate_user(self, authorization_code):
            return authorization_code.user

    class S256Only(CodeChallenge):
        SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]  # "plain" sends the secret itself: refuse it

        def validate_code_challenge(self, grant, redirect_uri):
            if not grant.request.payload.data.get("code_challenge"):  # Authlib lets a request without one pass
                raise InvalidRequestError("Missing 'code_challenge': this server requires PKCE")
            return super().validate_code_challenge(grant, redirect_uri)

    app = Flask("authorization-server")
    app.config["OAUTH2_TOKEN_EXPIRES_IN"] = {"authorization_code": 900}  # 15 minutes, not Authlib's 10 days

    def save_token(token, req):
        tokens[token["access_token"]] = {"user": req.user, "scope": token.get("scope", ""),
                                         "expires_at": time.time() + token["expires_in"]}

    server = AuthorizationServer(app, query_client=lambda cid: client if cid == client_id else None,
                                 save_token=save_token)
    server.register_grant(AuthorizationCode, [S256Only(required=True)])

    @app.after_request
    def record(response):
        params = dict(request.args) | dict(request.form)
        log.append({"method": request.method, "path": request.path,
                    "parameters": ", ".join(sorted(params)), "status": response.status_code})
        return response

    @app.get("/authorize")
    def authorize():
        try:  # the page where a user would log in and approve; here `user` approves at once
            grant = server.get_consent_grant(end_user=user)
        except OAuth2Error as error:
            return jsonify(error=error.error, error_description=error.description), 400
        return server.create_authorization_response(grant_user=user, grant=grant)

    @app.post("/token")
    def token():
        return server.create_token_response()

    @app.get("/userinfo")
    def userinfo():
        kind, _, value = request.headers.get("Authorization", "").partition(" ")
        found = tokens.get(value) if kind.lower() == "bearer" else None
        if found is None or found["expires_at"] < time.time():
            return jsonify(error="invalid_token"), 401, {"WWW-Authenticate": 'Bearer error="invalid_token"'}
        return jsonify(sub=found["user"], scope=found["scope"])

    return servers.serve_wsgi(app, name="oauth-authorization-server"), log


# --- cookies, rate limits -------------------------------------------------------------------------------

def cookie_attributes(set_cookie: str) -> dict:
    """``Set-Cookie`` as a dict: ``name``, ``value``, then each attribute lower-cased (flags map to True)."""
    first, *attributes = [part.strip() for part in set_cookie.split(";")]
    name, _, value = first.partition("=")
    found = {"name": name.strip(), "value": value.strip()}
    for attribute in attributes:
        key, sep, val = attribute.partition("=")
        found[key.strip().lower()] = val.strip() if sep else True
    return found


def rate_limited_app(client_ip: Callable[[str, str | None, int], str], *, trusted_proxies: int, limit: int,
                     window: float = 60.0):
    """A FastAPI app whose ``GET /`` allows ``limit`` requests per client per ``window`` seconds, then 429.

    The client is ``client_ip(peer, x_forwarded_for, trusted_proxies)``: the TCP peer's address, the
    ``X-Forwarded-For`` header (or None) and how many proxies stand in front of the app. The body names the key.
    """
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    app = FastAPI()
    seen: dict[str, list[float]] = defaultdict(list)

    @app.get("/")
    def root(request: Request):
        key = client_ip(request.client.host, request.headers.get("x-forwarded-for"), trusted_proxies)
        now = time.monotonic()
        recent = [t for t in seen[key] if now - t < window]
        seen[key] = recent
        if len(recent) >= limit:
            return JSONResponse({"client": key, "error": "too many requests"}, status_code=429,
                                headers={"Retry-After": str(int(window))})
        recent.append(now)
        return {"client": key, "left": limit - len(recent)}

    return app


def serve_app(app, name: str | None = None):
    """Serve an ASGI app on 127.0.0.1 (uvicorn in a thread); a context manager that stops it on exit."""
    return servers.serve_asgi(app, name=name or f"03b-{secrets.token_hex(3)}")
