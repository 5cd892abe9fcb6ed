"""Entra ID's authorization endpoint, for the console's sign-in (authorization code with PKCE).

    GET  /{tenant}/oauth2/v2.0/authorize   the sign-in page: the operators the scenario (or a
                                           test, `Controller.set_operators`) defines, one button
                                           each, with their app roles
    POST /{tenant}/oauth2/v2.0/authorize   the operator picked: a code, redirected to redirect_uri
    POST /{tenant}/oauth2/v2.0/token       grant_type=authorization_code: `redeem` (entra.py)

As Entra does (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow):
an unknown client id or a redirect URI the app has not registered gets an error page, never a
redirect; any other bad request is redirected back with `error`. A code lives 10 minutes and is
redeemed once, by the client it was issued to, with the same redirect URI and a `code_verifier`
whose S256 digest is the challenge (RFC 7636 section 4.6); the client authenticates as for
client credentials (assertions.py). The fake insists on PKCE with S256, which Entra only
recommends for a web app: the console always sends it, and a client that stopped would fail here.

The answer carries an access token for the app's own API (`aud` = the client id, the operator's
app roles, `scp`) and an ID token (`aud` = the client id, the request's `nonce`), both signed
with the home tenant's operator key, as operators.py signs tokens.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from devtools.fakecloud.aadsts import aadsts
from devtools.fakecloud.assertions import Rejected
from devtools.fakecloud.operators import OperatorIssuer
from devtools.fakecloud.scenario import OperatorSpec
from devtools.fakecloud.state import CloudState

PATH = "/{tenant}/oauth2/v2.0/authorize"
CODE_LIFETIME_S = 600
_RESERVED_SCOPES = {"openid", "profile", "offline_access", "email"}
_REQUEST_FIELDS = (
    "client_id",
    "response_type",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "response_mode",
)


@dataclass(frozen=True)
class Grant:
    """What a code stands for: who signed in, for which client, bound to which challenge."""

    client_id: str
    redirect_uri: str
    scope: str
    nonce: str
    code_challenge: str
    operator: OperatorSpec
    expires_at: float


@dataclass
class AuthorizationCodes:
    """Codes issued and not yet redeemed; a redeemed code is remembered to say so (54005)."""

    _grants: dict[str, Grant] = field(default_factory=dict)
    _redeemed: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def issue(self, grant: Grant) -> str:
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._grants[code] = grant
        return code

    def take(self, code: str) -> Grant:
        """The code's grant, once; Rejected for an unknown, used or expired code."""
        with self._lock:
            if code in self._redeemed:
                raise Rejected(aadsts(54005))
            grant = self._grants.pop(code, None)
            if grant is not None:
                self._redeemed.add(code)
        if grant is None:
            raise Rejected(aadsts(70000))
        if grant.expires_at < time.time():
            raise Rejected(aadsts(70008))
        return grant


def own_api_scopes(client_id: str) -> set[str]:
    """The scopes that name the app's own API: its delegated scope or `.default`."""
    return {
        f"api://{client_id}/user_impersonation",
        f"api://{client_id}/.default",
        f"{client_id}/.default",
    }


def _page(status: int, title: str, body: str) -> web.Response:
    text = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1>"
        f"{body}</body></html>"
    )
    return web.Response(status=status, text=text, content_type="text/html")


def _error_page(code: int, text: str) -> web.Response:
    detail = f"<p>AADSTS{code}: {html.escape(text)}</p>"
    return _page(400, "Sorry, but we're having trouble signing you in.", detail)


def _redirect(redirect_uri: str, answer: dict[str, str], state: str | None) -> web.Response:
    if state:
        answer["state"] = state
    joiner = "&" if "?" in redirect_uri else "?"
    return web.Response(status=302, headers={"Location": redirect_uri + joiner + urlencode(answer)})


def _unredirectable(
    state: CloudState, tenant: str, query: Mapping[str, str]
) -> web.Response | None:
    """The error page for a request Entra would not send back to its redirect URI, else None."""
    client_id = query.get("client_id", "")
    if client_id.lower() != state.app_client_id:
        text = f"Application with identifier '{client_id}' was not found in the directory."
        return _error_page(700016, text)
    redirect_uri = query.get("redirect_uri", "")
    if redirect_uri not in state.redirect_uris():
        text = (
            f"The redirect URI '{redirect_uri}' specified in the request does not match the "
            f"redirect URIs configured for the application '{client_id}'."
        )
        return _error_page(50011, text)
    if tenant.lower() != state.home_tenant_id:
        return _error_page(90002, f"Tenant '{tenant}' not found (operators sign in at home).")
    return None


def _request_problem(state: CloudState, query: Mapping[str, str]) -> str | None:
    """Why Entra would redirect back with an error (response type, scope, PKCE), else None."""
    if query.get("response_type") != "code":
        return "AADSTS700054: response_type 'code' is required for this flow."
    scopes = {s for s in query.get("scope", "").split() if s not in _RESERVED_SCOPES}
    if len(scopes) != 1 or not scopes <= own_api_scopes(state.app_client_id):
        return "AADSTS70011: The provided value for the input parameter 'scope' is not valid."
    if not query.get("code_challenge") or query.get("code_challenge_method") != "S256":
        return "AADSTS9002325: Proof Key for Code Exchange (S256) is required."
    return None


def _checked(state: CloudState, tenant: str, query: Mapping[str, str]) -> web.Response | None:
    """None when the request may go on to the picker; else its error page or redirect."""
    page = _unredirectable(state, tenant, query)
    if page is not None:
        return page
    problem = _request_problem(state, query)
    if problem is None:
        return None
    answer = {"error": "invalid_request", "error_description": problem}
    return _redirect(query["redirect_uri"], answer, query.get("state"))


def _picker(state: CloudState, query: Mapping[str, str]) -> web.Response:
    operators = state.operators()
    if not operators:
        return _page(409, "Pick an account", "<p>fake cloud: no operator is defined</p>")
    hidden = "".join(
        f'<input type="hidden" name="{name}" value="{html.escape(query[name])}">'
        for name in _REQUEST_FIELDS
        if name in query
    )
    buttons = "".join(
        f'<li><button type="submit" name="operator" value="{html.escape(o.name)}">'
        f"{html.escape(o.name)}</button> {html.escape(', '.join(o.roles) or 'no app role')}</li>"
        for o in operators
    )
    return _page(200, "Pick an account", f'<form method="post">{hidden}<ul>{buttons}</ul></form>')


def _issue(state: CloudState, codes: AuthorizationCodes, form: Mapping[str, str]) -> web.Response:
    chosen = [o for o in state.operators() if o.name == form.get("operator")]
    if not chosen:
        return _error_page(50034, "The user account does not exist in the directory.")
    grant = Grant(
        client_id=form["client_id"].lower(),
        redirect_uri=form["redirect_uri"],
        scope=form["scope"],
        nonce=form.get("nonce", ""),
        code_challenge=form["code_challenge"],
        operator=chosen[0],
        expires_at=time.time() + CODE_LIFETIME_S,
    )
    code = codes.issue(grant)
    return _redirect(form["redirect_uri"], {"code": code}, form.get("state"))


def add_signin_routes(app: web.Application, state: CloudState, codes: AuthorizationCodes) -> None:
    """Serve the authorization endpoint on the login listener."""

    async def authorize(request: web.Request) -> web.Response:
        query = dict(request.query)
        return _checked(state, request.match_info["tenant"], query) or _picker(state, query)

    async def pick(request: web.Request) -> web.Response:
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        checked = _checked(state, request.match_info["tenant"], form)
        return checked or _issue(state, codes, form)

    app.router.add_get(PATH, authorize)
    app.router.add_post(PATH, pick)


def redeem(
    state: CloudState, codes: AuthorizationCodes, issuer: OperatorIssuer, form: Mapping[str, str]
) -> dict[str, Any]:
    """The token answer for an authorization code (the client authenticated already)."""
    for parameter in ("code", "redirect_uri", "code_verifier"):
        if not form.get(parameter):
            raise Rejected(aadsts(900144, parameter=parameter))
    grant = codes.take(form["code"])
    if grant.client_id != form.get("client_id", "").lower():
        raise Rejected(aadsts(70000))
    if grant.redirect_uri != form["redirect_uri"]:
        raise Rejected(aadsts(500112))
    if not hmac.compare_digest(_s256(form["code_verifier"]), grant.code_challenge):
        raise Rejected(aadsts(501481))
    return _tokens(state, issuer, grant)


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii", errors="replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _tokens(state: CloudState, issuer: OperatorIssuer, grant: Grant) -> dict[str, Any]:
    key = state.operator_keys()[-1]
    operator = grant.operator
    access = issuer.claims(name=operator.name, roles=operator.roles)
    access.update(azp=state.app_client_id, azpacr="2")
    identity = {
        k: access[k]
        for k in ("iss", "sub", "aud", "iat", "nbf", "exp", "tid", "oid", "name", "roles")
    }
    identity.update(preferred_username=operator.name, nonce=grant.nonce, ver="2.0")
    client_info = json.dumps({"uid": access["oid"], "utid": access["tid"]}).encode()
    scope = " ".join(s for s in grant.scope.split() if s not in _RESERVED_SCOPES)
    return {
        "token_type": "Bearer",
        "scope": scope,
        "expires_in": access["exp"] - access["iat"],
        "access_token": key.sign(access),
        "id_token": key.sign(identity),
        "client_info": base64.urlsafe_b64encode(client_info).rstrip(b"=").decode(),
    }
