"""The App Service / Functions managed identity endpoint (IDENTITY_ENDPOINT + IDENTITY_HEADER).

Protocol, as azure-identity 1.27 speaks it (read in its `_credentials/app_service.py`):
`GET {IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=<r>[&client_id=<user-assigned MI>]` with
header `X-IDENTITY-HEADER`; answer `{"access_token", "expires_on": "<epoch s as string>",
"resource", "token_type": "Bearer", "client_id"}` (the sync credential needs `expires_on`, the
aio one needs `resource`). Errors are App Service's `{"statusCode", "message", "correlationId"}`.
Served over plain HTTP, as the platform's local endpoint is.
"""

from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from devtools.fakecloud.faults import FaultBook
from devtools.fakecloud.requestlog import RequestLog
from devtools.fakecloud.state import CloudState
from devtools.fakecloud.tokens import SigningKey, standard_claims
from devtools.fakecloud.wire import recording_middleware, send_retry_after, suffer

MSI_PATH = "/msi/token"
API_VERSION = "2019-08-01"
_NO_IDENTITY = (
    "No User Assigned or Delegated Managed Identity found for specified "
    "ClientId/ResourceId/PrincipalId."
)


@dataclass
class MsiContext:
    signing_key: SigningKey
    state: CloudState
    faults: FaultBook
    log: RequestLog
    authority_url: str
    identity_header: str
    resources: set[str] = field(default_factory=set)

    @property
    def issuer(self) -> str:
        return f"{self.authority_url}/{self.state.home_tenant_id}/v2.0"


def _error(status: int, message: str) -> web.Response:
    body = {"statusCode": status, "message": message, "correlationId": str(uuid.uuid4())}
    return web.json_response(body, status=status)


def _problem(ctx: MsiContext, request: web.Request) -> web.Response | None:
    """The error this request earns before a token is issued, if any."""
    presented = request.headers.get("X-IDENTITY-HEADER", "")
    if not hmac.compare_digest(presented.encode(), ctx.identity_header.encode()):
        return _error(401, "Unauthorized: the X-IDENTITY-HEADER header is missing or invalid.")
    query = request.query
    if query.get("api-version") != API_VERSION:
        return _error(400, f"api-version must be {API_VERSION}.")
    resource = query.get("resource", "")
    if not resource:
        return _error(400, "The 'resource' parameter is required.")
    if resource not in ctx.resources:
        return _error(
            400,
            f"AADSTS500011: The resource principal named {resource} was not found in the tenant "
            f"named {ctx.state.home_tenant_id}.",
        )
    mi = ctx.state
    wanted = [
        (query.get("client_id"), mi.mi_client_id),
        (query.get("principal_id") or query.get("object_id"), mi.mi_principal_id),
    ]
    if any(given is not None and given.lower() != own for given, own in wanted):
        return _error(400, _NO_IDENTITY)
    if "mi_res_id" in query:
        return _error(400, _NO_IDENTITY)
    return None


def mi_claims(ctx: MsiContext, resource: str) -> dict[str, Any]:
    """The claims of a managed identity token for `resource` (Entra v2.0 app token)."""
    state = ctx.state
    claims = standard_claims(
        issuer=ctx.issuer,
        subject=state.mi_principal_id,
        audience=resource,
        lifetime_s=state.mi_token_lifetime_s,
        now=ctx.signing_key.now(),
    )
    claims.update(
        oid=state.mi_principal_id,
        tid=state.home_tenant_id,
        azp=state.mi_client_id,
        appid=state.mi_client_id,
        idtyp="app",
        ver="2.0",
    )
    return claims


async def _token(ctx: MsiContext, request: web.Request) -> web.Response:
    fault = await suffer(ctx.faults, "msi", ctx.state.home_tenant_id, request)
    if fault is not None:
        response = _error(fault.status, "The managed identity endpoint is unavailable.")
        send_retry_after(
            response, fault, log=ctx.log, service="msi", tenant_id=ctx.state.home_tenant_id
        )
        return response
    problem = _problem(ctx, request)
    if problem is not None:
        return problem
    resource = request.query["resource"]
    claims = mi_claims(ctx, resource)
    token, expires_on = ctx.signing_key.sign(claims), int(claims["exp"])
    body = {
        "access_token": token,
        "expires_on": str(expires_on),
        "resource": resource,
        "token_type": "Bearer",
        "client_id": ctx.state.mi_client_id,
    }
    return web.json_response(body)


def create_msi_app(ctx: MsiContext) -> web.Application:
    """The aiohttp app for the managed identity listener."""

    def route(request: web.Request) -> tuple[str, str | None] | None:
        return ("msi", ctx.state.home_tenant_id) if request.path == MSI_PATH else None

    async def token(request: web.Request) -> web.Response:
        return await _token(ctx, request)

    app = web.Application(middlewares=[recording_middleware(ctx.log, route)])
    app.router.add_get(MSI_PATH, token)
    return app
