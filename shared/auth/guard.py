"""The gate in front of every HTTP route but the consent callback and the liveness probe.

    @app.route(route="runs", methods=["POST"])
    @gate.requires(Role.PLAN, audit=True)
    async def post_runs(req: func.HttpRequest, caller: Caller) -> ApiResponse: ...

For each call: the settings must load (else 503, no details: the caller is not known yet); the
bearer token must verify (else 401 with a `WWW-Authenticate: Bearer` challenge, RFC 6750); the
caller must hold the route's role (else 403 naming it); then the handler runs with the verified
`Caller`. A route marked `audit` writes one audit record for every authenticated call, whatever
its answer (a refused attempt is worth knowing too); an anonymous one writes none, so strangers
cannot fill the trail. Nothing here knows the Functions host: the gate reads a request through
`HttpCall` and hands its answer to `respond`.
"""

from __future__ import annotations

import json
import logging
import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import urlsplit

from shared.api import ApiResponse, error, forbidden, unhealthy
from shared.auth.audit import ALL_TENANTS, Actor, AuditRecord, summarize
from shared.auth.principal import Principal
from shared.auth.roles import Role
from shared.auth.tokens import InvalidToken, KeysUnavailable, MissingToken
from shared.services import Services

log = logging.getLogger(__name__)

#: The attributes a guarded function carries: the role its route needs, whether it is audited.
REQUIRED_ROLE = "required_role"
AUDITED = "audited"


class HttpCall(Protocol):
    """What the gate reads of a request (azure.functions.HttpRequest has all of it)."""

    @property
    def method(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def params(self) -> Mapping[str, str]: ...
    @property
    def route_params(self) -> Mapping[str, str]: ...
    def get_body(self) -> bytes: ...


@dataclass(frozen=True)
class Caller:
    """A verified caller, and the process's services to serve it with."""

    principal: Principal
    services: Services


Req = TypeVar("Req", bound=HttpCall)
Resp = TypeVar("Resp")
Handler = Callable[[Req, Caller], Awaitable[ApiResponse]]
Endpoint = Callable[[Req], Awaitable[Resp]]


def unauthorized(refused: InvalidToken) -> ApiResponse:
    """401 with the challenge RFC 6750 section 3 describes; the reason is short and fixed."""
    if isinstance(refused, MissingToken):
        message = "this API needs an Entra ID access token for the app (Authorization: Bearer)"
        response = error(401, "unauthenticated", message)
        return ApiResponse(401, response.body, {"WWW-Authenticate": "Bearer"})
    challenge = f'Bearer error="invalid_token", error_description="{refused.reason}"'
    response = error(401, "invalid_token", f"the access token was refused: {refused.reason}")
    return ApiResponse(401, response.body, {"WWW-Authenticate": challenge})


def unavailable() -> ApiResponse:
    return error(503, "unavailable", "the app cannot serve requests now; its logs say why")


def required_role(function: Callable[..., Any]) -> Role | None:
    """The role a guarded function's route needs; None for a function the gate does not guard."""
    role = getattr(function, REQUIRED_ROLE, None)
    return role if isinstance(role, Role) else None


def is_audited(function: Callable[..., Any]) -> bool:
    """Whether a guarded function writes an audit record for each authenticated call."""
    return getattr(function, AUDITED, False) is True


class Gate(Generic[Req, Resp]):
    """Authenticates, authorizes and audits calls to the routes it guards."""

    def __init__(
        self, services: Callable[[], Services], *, respond: Callable[[ApiResponse], Resp]
    ) -> None:
        self._services = services
        self._respond = respond

    def requires(
        self, role: Role, *, audit: bool = False
    ) -> Callable[[Handler[Req]], Endpoint[Req, Resp]]:
        """Guard a handler: only callers holding `role` reach it."""

        def decorate(handler: Handler[Req]) -> Endpoint[Req, Resp]:
            async def endpoint(req: Req) -> Resp:
                return self._respond(await self.serve(req, handler, role=role, audit=audit))

            presented = _presented_as(endpoint, handler, self._respond)
            setattr(presented, REQUIRED_ROLE, role)
            setattr(presented, AUDITED, audit)
            return presented

        return decorate

    async def serve(
        self, req: Req, handler: Handler[Req], *, role: Role, audit: bool
    ) -> ApiResponse:
        try:
            services = self._services()
        except Exception:
            log.exception("cannot serve %s %s: the settings are invalid", req.method, _path(req))
            return unavailable()
        try:
            principal = await services.operator_tokens.principal(req.headers.get("Authorization"))
        except InvalidToken as refused:
            return unauthorized(refused)
        except KeysUnavailable:
            log.exception("cannot verify tokens: the home tenant's signing keys are unavailable")
            return unavailable()
        try:
            await services.ready()
        except Exception as exc:  # storage unreachable while creating the tables: say so
            log.exception("storage is not ready")
            return unhealthy(storage=type(exc).__name__)
        return await self._authorized(req, handler, Caller(principal, services), role, audit)

    async def _authorized(
        self, req: Req, handler: Handler[Req], caller: Caller, role: Role, audit: bool
    ) -> ApiResponse:
        try:
            response = await handler(req, caller) if caller.principal.may(role) else forbidden(role)
        except Exception:
            if audit:
                await caller.services.audit.write(audit_record(req, caller.principal, 500))
            raise
        if audit:
            await caller.services.audit.write(audit_record(req, caller.principal, response))
        return response


def _presented_as(
    endpoint: Endpoint[Req, Resp],
    handler: Handler[Req],
    respond: Callable[[ApiResponse], Any],
) -> Endpoint[Req, Resp]:
    """Give the endpoint the handler's name and the signature the Functions worker checks.

    The worker matches parameters to bindings by name and checks their annotations
    (`req: func.HttpRequest`, returns `func.HttpResponse`), so the endpoint takes the handler's
    `req` annotation and `respond`'s return type, resolved where those were written.
    """
    hints = typing.get_type_hints(handler)
    endpoint.__name__ = handler.__name__
    endpoint.__qualname__ = handler.__qualname__
    endpoint.__doc__ = handler.__doc__
    endpoint.__module__ = handler.__module__
    returns = typing.get_type_hints(respond)["return"]
    endpoint.__annotations__ = {"req": hints["req"], "return": returns}
    return endpoint


def audit_record(req: HttpCall, principal: Principal, answer: ApiResponse | int) -> AuditRecord:
    """The record of one call: who, what (method, path, targets, summary) and the status."""
    body = _json_body(req)
    status = answer if isinstance(answer, int) else answer.status
    answered = answer.body if isinstance(answer, ApiResponse) else {}
    run_id = answered.get("run_id") if isinstance(answered, dict) else None
    return AuditRecord(
        actor=Actor.of(principal),
        method=req.method.upper(),
        path=_path(req),
        status=status,
        summary=summarize(req.params, body),
        tenant_ids=_targets(req, body),
        run_id=str(run_id or ""),
    )


def _path(req: HttpCall) -> str:
    return urlsplit(req.url).path


def _json_body(req: HttpCall) -> Any:
    raw = req.get_body()
    if not raw:
        return None
    if len(raw) > _AUDITED_BODY_BYTES:
        return f"<{len(raw)} bytes, too large to summarise>"
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return f"<{len(raw)} bytes, not JSON>"


#: Bodies the API refuses as too large are not parsed for the audit summary either.
_AUDITED_BODY_BYTES = 1_000_000


def _targets(req: HttpCall, body: Any) -> tuple[str, ...]:
    """The tenants a call names: in its route, its `tenant` query, or a run's `tenants`.

    A tenant id spelt like the all-tenants marker (`/api/tenants/all`, refused as no GUID) is
    not kept: it would make the record match every tenant filter. A run over a group carries
    the marker: which tenants the group held then is not in the request.
    """
    named = [req.route_params.get("tenant_id"), req.params.get("tenant")]
    tenants = body.get("tenants") if isinstance(body, dict) else None
    if isinstance(tenants, list):
        named += [t for t in tenants[:100] if isinstance(t, str)]
    kept = [t.strip().lower()[:64] for t in named if t]
    marker = [ALL_TENANTS] if tenants == "all" or isinstance(tenants, dict) else []
    return tuple(dict.fromkeys([t for t in kept if t != ALL_TENANTS] + marker))
