"""Entra ID's v2.0 token endpoint (client credentials) and discovery documents.

`POST /{tenant}/oauth2/v2.0/token` checks, in Entra's order, each failure answered in Entra's
error shape (aadsts.py): injected faults; the tenant (90002); the client id (700016); the
credential (assertions.py); the scope (500011); the tenant's state of the app (not installed
700016, consent missing 65001, disabled 7000112, Conditional Access 53003). A success is a Graph
access token carrying the tenant's consented application roles.

Discovery (`/{tenant}/v2.0/.well-known/openid-configuration`, `/{tenant}/discovery/v2.0/keys`,
`/common/discovery/instance`) follows Entra's shapes so MSAL-based clients work against it. The
keys are the fake's main key and the keys of operators' tokens (operators.py), which rotate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from devtools.fakecloud.aadsts import EntraError, aadsts, error_body, transient
from devtools.fakecloud.assertions import (
    AuthMethod,
    ClientCheck,
    Rejected,
    authenticate,
    unverified_claims,
)
from devtools.fakecloud.faults import Fault, FaultBook
from devtools.fakecloud.operators import OperatorIssuer
from devtools.fakecloud.requestlog import RequestLog
from devtools.fakecloud.scenario import is_guid
from devtools.fakecloud.signin import AuthorizationCodes, add_signin_routes, redeem
from devtools.fakecloud.state import CloudState, TenantRecord, service_principal_id
from devtools.fakecloud.tokens import SigningKey, standard_claims
from devtools.fakecloud.wire import recording_middleware, send_retry_after, suffer

PUBLIC_GRAPH = "https://graph.microsoft.com"
# Scopes MSAL may add to any request; they do not name a resource.
_RESERVED_SCOPES = {"openid", "profile", "offline_access"}
_STATE_ERRORS = {
    "not_installed": 700016,
    "consent_missing": 65001,
    "app_disabled": 7000112,
    "blocked_by_policy": 53003,
}
_ANY_TENANT = {"common", "organizations", "consumers"}


@dataclass
class EntraContext:
    signing_key: SigningKey
    state: CloudState
    faults: FaultBook
    log: RequestLog
    authority_url: str
    graph_url: str
    #: codes the authorization endpoint issued for the console's sign-in (signin.py)
    codes: AuthorizationCodes = field(default_factory=AuthorizationCodes)

    @property
    def operators(self) -> OperatorIssuer:
        return OperatorIssuer(
            self.authority_url, self.state.home_tenant_id, self.state.app_client_id
        )

    def token_endpoint(self, tenant: str) -> str:
        return f"{self.authority_url}/{tenant}/oauth2/v2.0/token"

    def issuer(self, tenant: str) -> str:
        return f"{self.authority_url}/{tenant}/v2.0"


def _error_response(ctx: EntraContext, request: web.Request, error: EntraError) -> web.Response:
    body = error_body(
        error,
        correlation_id=request.headers.get("client-request-id"),
        error_uri_base=ctx.authority_url,
    )
    return web.json_response(body, status=error.status)


async def _fault_response(
    ctx: EntraContext, request: web.Request, fault: Fault, tenant_id: str
) -> web.Response | None:
    if fault.kind == "status":
        error = transient(fault.status)
    elif fault.kind == "aadsts":
        form = _form_fields(await request.post())
        claims = unverified_claims(form.get("client_assertion", ""))
        context = {key: str(claims.get(key, "")) for key in ("iss", "sub", "aud")}
        error = aadsts(
            int(fault.code or 0), tenant=tenant_id, app_id=form.get("client_id"), **context
        )
    else:
        return None
    response = _error_response(ctx, request, error)
    send_retry_after(
        response, fault, log=ctx.log, service="token", tenant_id=tenant_id, request=request
    )
    return response


def _form_fields(form: Mapping[str, object]) -> dict[str, str]:
    return {key: value for key, value in form.items() if isinstance(value, str)}


def _known_tenant(ctx: EntraContext, tenant_id: str) -> TenantRecord:
    record = ctx.state.tenant(tenant_id) if is_guid(tenant_id) else None
    if record is None and tenant_id == ctx.state.home_tenant_id:
        # the app's own tenant: its service principal is there, with no Graph permission
        record = TenantRecord(tenant_id, "home", "consented", ())
    if record is None or record.state == "deleted":
        raise Rejected(aadsts(90002, tenant=tenant_id))
    return record


def _check_request(ctx: EntraContext, tenant_id: str, form: Mapping[str, str]) -> None:
    for parameter in ("grant_type", "client_id", "scope"):
        if not form.get(parameter):
            raise Rejected(aadsts(900144, parameter=parameter))
    if form["grant_type"] != "client_credentials":
        raise Rejected(aadsts(70003, grant_type=form["grant_type"]))
    if form["client_id"].lower() != ctx.state.app_client_id:
        raise Rejected(aadsts(700016, app_id=form["client_id"], tenant=tenant_id))


def _check_scope(ctx: EntraContext, tenant_id: str, scope: str) -> None:
    """The scope must be the Graph resource's `.default` (client credentials, Entra docs)."""
    scopes = [s for s in scope.split() if s not in _RESERVED_SCOPES]
    accepted = {f"{ctx.graph_url}/.default", f"{PUBLIC_GRAPH}/.default"}
    if len(scopes) == 1 and scopes[0] in accepted:
        return
    resource = scopes[0].removesuffix("/.default") if scopes else scope
    raise Rejected(aadsts(500011, resource=resource, tenant=tenant_id))


def _check_tenant_state(ctx: EntraContext, record: TenantRecord) -> None:
    code = _STATE_ERRORS.get(record.state)
    if code is not None:
        app = ctx.state
        raise Rejected(
            aadsts(
                code,
                tenant=record.tenant_id,
                app_id=app.app_client_id,
                app_name=app.app_display_name,
            )
        )


def _access_token(ctx: EntraContext, record: TenantRecord, method: AuthMethod) -> dict[str, Any]:
    app = ctx.state
    sp_id = service_principal_id(app.app_client_id, record.tenant_id)
    lifetime = app.access_token_lifetime_s
    claims = standard_claims(
        issuer=ctx.issuer(record.tenant_id),
        subject=sp_id,
        audience=ctx.graph_url,
        lifetime_s=lifetime,
        now=ctx.signing_key.now(),
    )
    claims.update(
        oid=sp_id,
        tid=record.tenant_id,
        azp=app.app_client_id,
        appid=app.app_client_id,
        azpacr="1" if method == "secret" else "2",
        roles=list(record.roles),
        idtyp="app",
        ver="2.0",
    )
    return {
        "token_type": "Bearer",
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": ctx.signing_key.sign(claims),
    }


async def _token(ctx: EntraContext, request: web.Request) -> web.Response:
    tenant_id = request.match_info["tenant"].lower()
    fault = await suffer(ctx.faults, "token", tenant_id, request)
    answer = await _fault_response(ctx, request, fault, tenant_id) if fault else None
    if answer is not None:
        return answer
    form = _form_fields(await request.post())
    check = ClientCheck(
        ctx.state, ctx.signing_key, tenant_id, ctx.token_endpoint(request.match_info["tenant"])
    )
    try:
        record = _known_tenant(ctx, tenant_id)
        if form.get("grant_type") == "authorization_code":
            return web.json_response(_redeemed(ctx, check, tenant_id, form))
        _check_request(ctx, tenant_id, form)
        method = authenticate(check, form)
        _check_scope(ctx, tenant_id, form["scope"])
        _check_tenant_state(ctx, record)
    except Rejected as rejected:
        return _error_response(ctx, request, rejected.error)
    return web.json_response(_access_token(ctx, record, method))


def _redeemed(
    ctx: EntraContext, check: ClientCheck, tenant_id: str, form: Mapping[str, str]
) -> dict[str, Any]:
    """An operator's sign-in, completed: the client authenticates as for client credentials."""
    if tenant_id != ctx.state.home_tenant_id:
        raise Rejected(aadsts(90002, tenant=tenant_id))
    if form.get("client_id", "").lower() != ctx.state.app_client_id:
        raise Rejected(aadsts(700016, app_id=form.get("client_id"), tenant=tenant_id))
    authenticate(check, form)
    return redeem(ctx.state, ctx.codes, ctx.operators, form)


def _tenant_exists(ctx: EntraContext, tenant: str) -> bool:
    if tenant.lower() in _ANY_TENANT or tenant.lower() == ctx.state.home_tenant_id:
        return True
    record = ctx.state.tenant(tenant) if is_guid(tenant) else None
    return record is not None and record.state != "deleted"


def openid_configuration(ctx: EntraContext, tenant: str) -> dict[str, Any]:
    """The tenant's OpenID Provider metadata, as Entra publishes it (v2.0)."""
    base = f"{ctx.authority_url}/{tenant}"
    issuer_tenant = "{tenantid}" if tenant.lower() in _ANY_TENANT else tenant
    return {
        "token_endpoint": f"{base}/oauth2/v2.0/token",
        "token_endpoint_auth_methods_supported": [
            "client_secret_post",
            "private_key_jwt",
            "client_secret_basic",
        ],
        "jwks_uri": f"{base}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": ctx.issuer(issuer_tenant),
        "request_uri_parameter_supported": False,
        "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
        "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
        "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "tid", "oid", "roles"],
        "tenant_region_scope": "EU",
        "cloud_instance_name": "microsoftonline.com",
        "msgraph_host": urlsplit(ctx.graph_url).netloc,
    }


def instance_metadata(ctx: EntraContext, authorization_endpoint: str) -> dict[str, Any] | None:
    """MSAL instance discovery: where the tenant's metadata lives, or None for another host."""
    parts = urlsplit(authorization_endpoint)
    # MSAL sends the authority's host name without its port (msal/authority.py, canonicalize).
    if parts.hostname not in ("127.0.0.1", "localhost"):
        return None
    tenant = parts.path.strip("/").split("/")[0] or "common"
    host = urlsplit(ctx.authority_url).netloc
    return {
        "tenant_discovery_endpoint": (
            f"{ctx.authority_url}/{tenant}/v2.0/.well-known/openid-configuration"
        ),
        "api-version": "1.1",
        "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
    }


def _discovery_error(ctx: EntraContext, request: web.Request, tenant: str) -> web.Response:
    return _error_response(ctx, request, aadsts(90002, tenant=tenant))


def _add_discovery_routes(ctx: EntraContext, app: web.Application) -> None:
    async def configuration(request: web.Request) -> web.Response:
        tenant = request.match_info["tenant"]
        if not _tenant_exists(ctx, tenant):
            return _discovery_error(ctx, request, tenant)
        return web.json_response(openid_configuration(ctx, tenant))

    async def keys(request: web.Request) -> web.Response:
        tenant = request.match_info["tenant"]
        if not _tenant_exists(ctx, tenant):
            return _discovery_error(ctx, request, tenant)
        operator_keys = [key.jwk() for key in ctx.state.operator_keys()]
        return web.json_response({"keys": [ctx.signing_key.jwk(), *operator_keys]})

    async def instance(request: web.Request) -> web.Response:
        endpoint = request.query.get("authorization_endpoint", "")
        metadata = instance_metadata(ctx, endpoint)
        if metadata is None:
            body = {
                "error": "invalid_instance",
                "error_description": f"AADSTS50049: Unknown or invalid instance. ({endpoint})",
                "error_codes": [50049],
            }
            return web.json_response(body, status=400)
        return web.json_response(metadata)

    app.router.add_get("/common/discovery/instance", instance)
    app.router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", configuration)
    app.router.add_get("/{tenant}/discovery/v2.0/keys", keys)


def _route(request: web.Request) -> tuple[str, str | None] | None:
    """Which service a login-host request belongs to, for the request log."""
    tenant = request.match_info.get("tenant")
    if request.path.endswith("/oauth2/v2.0/token"):
        return "token", (tenant or "").lower()
    if request.path.endswith("/v2.0/adminconsent"):
        return "consent", (tenant or "").lower()
    if request.path.endswith("/oauth2/v2.0/authorize"):
        return "signin", (tenant or "").lower()
    if request.path.startswith("/_fake/"):
        return None
    return "discovery", tenant.lower() if tenant else None


def create_entra_app(ctx: EntraContext) -> web.Application:
    """The aiohttp app for the login listener (the control API is added by the server)."""

    async def token(request: web.Request) -> web.Response:
        return await _token(ctx, request)

    app = web.Application(middlewares=[recording_middleware(ctx.log, _route)])
    app.router.add_post("/{tenant}/oauth2/v2.0/token", token)
    _add_discovery_routes(ctx, app)
    add_signin_routes(app, ctx.state, ctx.codes)
    return app
