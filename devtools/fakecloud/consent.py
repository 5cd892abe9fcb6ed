"""Entra ID's v2 admin-consent endpoint, with the administrator's answer scripted by tests.

    GET {authority}/{tenant}/v2.0/adminconsent?client_id&scope&redirect_uri&state

As Entra does (https://learn.microsoft.com/entra/identity-platform/v2-admin-consent): an unknown
client id or a redirect URI the app has not registered gets an error page, never a redirect
(the answer must not go to an address the app did not register); a bad scope, or the admin
declining, redirects with `error` and `error_description`; consent redirects with
`admin_consent=True`, `tenant`, `scope` and `state`. Consent marks the tenant consented with the
roles answered (by default the app's required roles), so its token requests succeed afterwards.

The administrator is a script: `Controller.answer_admin_consent` / `decline_admin_consent` queue
the answer to the next request; with none queued, the page says so (409).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

from aiohttp import web

from devtools.fakecloud.scenario import is_guid
from devtools.fakecloud.state import CloudState, ConsentAnswer

PATH = "/{tenant}/v2.0/adminconsent"
_GENERIC_TENANTS = {"organizations", "common"}
#: Tenant states that admin consent changes; a disabled app or a blocking policy stays as it is.
_CONSENT_FIXES = {"not_installed", "consent_missing", "consented"}


@dataclass
class ConsentContext:
    state: CloudState
    graph_url: str
    #: marks a tenant consented with the given roles (creates it and its directory if new)
    grant: Callable[[str, str, tuple[str, ...]], object]


def _error_page(status: int, code: int, text: str) -> web.Response:
    body = (
        "<!doctype html><title>Sign in to your account</title>"
        f"<h1>Sorry, but we're having trouble signing you in.</h1><p>AADSTS{code}: "
        f"{html.escape(text)}</p>"
    )
    return web.Response(status=status, text=body, content_type="text/html")


def _redirect(redirect_uri: str, answer: dict[str, str], state: str | None) -> web.Response:
    if state is not None:
        answer["state"] = state
    joiner = "&" if "?" in redirect_uri else "?"
    return web.Response(status=302, headers={"Location": redirect_uri + joiner + urlencode(answer)})


def _scope_ok(ctx: ConsentContext, scope: str) -> bool:
    """Application permissions can only be asked for with the resource's `/.default` scope."""
    scopes = [s for s in scope.split() if s not in ("openid", "profile", "offline_access")]
    return scopes == [f"{ctx.graph_url}/.default"] or scopes == [
        "https://graph.microsoft.com/.default"
    ]


def _check_request(ctx: ConsentContext, tenant: str, query: dict[str, str]) -> web.Response | None:
    """An error page for a request Entra would not redirect back from, else None."""
    client_id = query.get("client_id", "")
    if client_id.lower() != ctx.state.app_client_id:
        text = f"Application with identifier '{client_id}' was not found in the directory."
        return _error_page(400, 700016, text)
    redirect_uri = query.get("redirect_uri", "")
    if redirect_uri not in ctx.state.redirect_uris():
        text = (
            f"The redirect URI '{redirect_uri}' specified in the request does not match the "
            f"redirect URIs configured for the application '{client_id}'."
        )
        return _error_page(400, 50011, text)
    if tenant.lower() not in _GENERIC_TENANTS and not is_guid(tenant):
        return _error_page(400, 90002, f"Tenant '{tenant}' not found.")
    return None


def _consenting_tenant(tenant: str, answer: ConsentAnswer) -> str | None:
    """The admin signs in to the tenant in the path, or (organizations) to the one scripted."""
    if is_guid(tenant):
        return tenant.lower()
    return answer.tenant_id.lower() if answer.tenant_id else None


def _answer(ctx: ConsentContext, tenant: str, query: dict[str, str]) -> web.Response:
    redirect_uri, state = query["redirect_uri"], query.get("state")
    if not _scope_ok(ctx, query.get("scope", "")):
        text = "AADSTS70011: The provided value for the input parameter 'scope' is not valid."
        invalid = {"error": "invalid_request", "error_description": text}
        return _redirect(redirect_uri, invalid, state)
    answer = ctx.state.next_consent_answer()
    if answer is None:
        page = "<!doctype html><p>fake cloud: no administrator answer is scripted</p>"
        return web.Response(status=409, text=page, content_type="text/html")
    if not answer.grant:
        denied = {"error": "access_denied", "error_description": answer.description}
        return _redirect(redirect_uri, denied, state)
    tenant_id = _consenting_tenant(tenant, answer)
    record = ctx.state.tenant(tenant_id) if tenant_id else None
    if tenant_id is None or (record is not None and record.state == "deleted"):
        return _error_page(400, 90002, f"Tenant '{tenant_id or tenant}' not found.")
    roles = answer.roles if answer.roles is not None else ctx.state.required_roles()
    keep = record.state if record is not None and record.state not in _CONSENT_FIXES else None
    ctx.grant(tenant_id, keep or "consented", tuple(roles))
    scope = " ".join(f"{ctx.graph_url}/{role}" for role in roles)
    granted = {"admin_consent": "True", "tenant": tenant_id, "scope": scope}
    return _redirect(redirect_uri, granted, state)


def add_consent_routes(app: web.Application, ctx: ConsentContext) -> None:
    """Serve the admin-consent endpoint on the login listener."""

    async def admin_consent(request: web.Request) -> web.Response:
        tenant, query = request.match_info["tenant"], dict(request.query)
        return _check_request(ctx, tenant, query) or _answer(ctx, tenant, query)

    app.router.add_get(PATH, admin_consent)
