"""Onboarding a customer tenant: admin consent with a single-use state, then a connection check.

    GET  /api/onboard                start(): the admin-consent URL, with a fresh state
    GET  /api/consent/callback       callback(): Entra's answer -> registry + check -> HTML page
    POST /api/tenants/{id}/check     check(): token exchange + one cheap Graph read -> JSON

The URL is Entra's v2 admin-consent endpoint with scope `<graph>/.default`, the only way to ask
for application permissions (https://learn.microsoft.com/entra/identity-platform/v2-admin-consent).
The `state` is random, kept server-side in the tenants table (partition `onboarding`) with an
expiry, and spent exactly once by a conditional write: nothing is signed, so no signing secret
exists. The callback is anonymous (it is the redirect URI): the state is what ties an answer to
an operator's `GET /api/onboard`.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

from shared.api import ApiResponse, error
from shared.errors import InvalidTenantId, XtenantError
from shared.identity import validate_tenant_id
from shared.onboarding_check import CheckResult, check_connection
from shared.onboarding_pages import HtmlPage, callback_page, invalid_state_page
from shared.pipeline import Services
from shared.settings import Settings
from shared.tenants import Tenant

CALLBACK_ROUTE = "consent/callback"
STATE_TTL = timedelta(hours=1)
_PARTITION = "onboarding"
_STATE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # secrets.token_urlsafe(32)
#: Spent and expired states are kept this long (to tell "used" and "expired" from "unknown").
_KEEP = timedelta(days=1)
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}

__all__ = ["CheckResult", "ConsentStates", "HtmlPage", "InvalidState", "callback", "check", "start"]


class InvalidState(XtenantError, ValueError):
    """The callback's state is unknown, expired or already used: the answer is not trusted."""

    error_class = "invalid_state"


@dataclass(frozen=True)
class PendingConsent:
    """One `GET /api/onboard`, waiting for Entra's answer."""

    state: str
    expires_at: datetime
    redirect_uri: str
    tenant_hint: str | None = None
    name: str = ""


def utc_now() -> datetime:
    return datetime.now(UTC)


class ConsentStates:
    """Single-use, expiring states in the tenants table (partition `onboarding`)."""

    def __init__(self, table: Any, *, ttl: timedelta = STATE_TTL) -> None:
        self.table = table
        self.ttl = ttl

    async def issue(
        self, *, redirect_uri: str, now: datetime, tenant_hint: str | None = None, name: str = ""
    ) -> PendingConsent:
        await self._purge(now)
        pending = PendingConsent(
            secrets.token_urlsafe(32), now + self.ttl, redirect_uri, tenant_hint, name
        )
        await self.table.create_entity(
            {
                "PartitionKey": _PARTITION,
                "RowKey": pending.state,
                "expires_at": pending.expires_at.isoformat(),
                "redirect_uri": redirect_uri,
                "tenant_hint": tenant_hint or "",
                "name": name,
                "used_at": "",
            }
        )
        return pending

    async def consume(self, state: str, *, now: datetime) -> PendingConsent:
        """The pending consent for `state`, now spent; InvalidState if it cannot be."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

        if not _STATE.match(state or ""):
            raise _unknown()
        try:
            found = await self.table.get_entity(_PARTITION, state)
        except ResourceNotFoundError:
            raise _unknown() from None
        entity = dict(found)
        if entity.get("used_at"):
            raise _used()
        if datetime.fromisoformat(entity["expires_at"]) <= now:
            raise _expired()
        entity["used_at"] = now.isoformat()
        try:  # conditional: of two callbacks racing with the same state, one wins
            await self.table.update_entity(
                entity, etag=found.metadata["etag"], match_condition=MatchConditions.IfNotModified
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            raise _used() from None
        return _pending(state, entity)

    async def _purge(self, now: datetime) -> None:
        """Delete states expired more than a day ago; cheap, and keeps the partition small."""
        cutoff = (now - _KEEP).isoformat()
        old = self.table.query_entities(
            "PartitionKey eq @p and expires_at lt @cutoff",
            parameters={"p": _PARTITION, "cutoff": cutoff},
            select=["PartitionKey", "RowKey"],
        )
        async for entity in old:
            await self.table.delete_entity(_PARTITION, entity["RowKey"])


def _pending(state: str, entity: dict[str, Any]) -> PendingConsent:
    return PendingConsent(
        state,
        datetime.fromisoformat(entity["expires_at"]),
        str(entity.get("redirect_uri", "")),
        str(entity.get("tenant_hint") or "") or None,
        str(entity.get("name", "")),
    )


def _restart(why: str) -> InvalidState:
    return InvalidState(
        why, remediation="Ask the operator for a new consent link (GET /api/onboard)."
    )


def _unknown() -> InvalidState:
    return _restart("This consent link is not one this app issued, or it expired long ago.")


def _used() -> InvalidState:
    return _restart("This consent link has already been used.")


def _expired() -> InvalidState:
    return _restart("This consent link has expired (links are valid for one hour).")


def public_base_url(base_url: str) -> str:
    """The app's URL as a browser reaches it: https, except on a loopback address (dev host).

    Behind App Service's front end the worker may see the request as http; Entra accepts only
    https redirect URIs (localhost excepted), and the registered one is https (infra/).
    """
    parts = urlsplit(base_url)
    if parts.hostname in _LOOPBACK or parts.scheme == "https":
        return base_url.rstrip("/")
    return f"https://{parts.netloc}{parts.path}".rstrip("/")


def consent_url(settings: Settings, *, tenant: str, redirect_uri: str, state: str) -> str:
    """Entra's v2 admin-consent URL for this app: `tenant` is a tenant id or `organizations`."""
    query = urlencode(
        {
            "client_id": settings.app_client_id,
            "scope": settings.graph_scope,
            "redirect_uri": redirect_uri,
            "state": state,
        }
    )
    return f"{settings.authority_host}/{tenant}/v2.0/adminconsent?{query}"


async def start(
    services: Services,
    *,
    base_url: str,
    tenant: str | None = None,
    name: str | None = None,
    now: datetime | None = None,
) -> ApiResponse:
    """GET /api/onboard[?tenant=<id>][&name=<display name>] -> the consent URL, with a state."""
    try:
        tenant_hint = validate_tenant_id(tenant) if tenant else None
    except InvalidTenantId as exc:
        return error(400, exc.error_class, exc.message)
    if name is not None and len(name) > 256:
        return error(400, "invalid_name", "name must be at most 256 characters")
    redirect_uri = f"{public_base_url(base_url)}/api/{CALLBACK_ROUTE}"
    pending = await ConsentStates(services.registry.table).issue(
        redirect_uri=redirect_uri, now=now or utc_now(), tenant_hint=tenant_hint, name=name or ""
    )
    where = tenant_hint or "organizations"
    url = consent_url(
        services.settings, tenant=where, redirect_uri=redirect_uri, state=pending.state
    )
    return ApiResponse(
        200,
        {
            "consent_url": url,
            "expires_at": pending.expires_at.isoformat(),
            "redirect_uri": redirect_uri,
            "tenant": tenant_hint,
            "next": "Send consent_url to a Global Administrator (or Privileged Role "
            "Administrator) of the customer tenant. It works once, within the hour.",
        },
        {"Cache-Control": "no-store"},
    )


async def callback(
    services: Services, query: dict[str, str], *, now: datetime | None = None
) -> HtmlPage:
    """GET /api/consent/callback: spend the state, then register and check the tenant."""
    now = now or utc_now()
    try:
        pending = await ConsentStates(services.registry.table).consume(
            query.get("state", ""), now=now
        )
    except InvalidState as exc:
        return invalid_state_page(exc)
    if query.get("error"):
        return callback_page(declined=(query["error"], query.get("error_description", "")))
    tenant_id, problem = _granted_tenant(query, pending)
    if problem:
        return invalid_state_page(_restart(problem), status=400)
    await _register(services, tenant_id, pending.name)
    result = await check_connection(services, tenant_id)
    await _record(services, result, now=now)
    return callback_page(result=result)


def _granted_tenant(query: dict[str, str], pending: PendingConsent) -> tuple[str, str]:
    """The consenting tenant from a success answer, or what is wrong with the answer."""
    if query.get("admin_consent", "").lower() != "true":
        return "", "The answer says neither that consent was granted nor why it was not."
    try:
        tenant_id = validate_tenant_id(query.get("tenant", ""))
    except InvalidTenantId:
        return "", "The answer does not name a valid tenant id."
    if pending.tenant_hint and pending.tenant_hint != tenant_id:
        return "", f"Consent came from tenant {tenant_id}, not {pending.tenant_hint}."
    return tenant_id, ""


async def _register(services: Services, tenant_id: str, name: str) -> None:
    """A new tenant: enabled, enrolled in nothing. A known one keeps everything it has."""
    if await services.registry.get(tenant_id) is None:
        await services.registry.put(Tenant(tenant_id, name=name, enabled=True, enrolments={}))


async def _record(services: Services, result: CheckResult, *, now: datetime) -> None:
    """A success heals the tenant; a tenant-level refusal is recorded; a transient one is not."""
    if result.ok:
        await services.registry.record(result.tenant_id, None, now=now)
    elif result.error is not None and result.error.health is not None:
        await services.registry.record(result.tenant_id, result.error, now=now)


async def check(services: Services, tenant_id: str, *, now: datetime | None = None) -> ApiResponse:
    """POST /api/tenants/{tenant_id}/check: the connection check, on demand, for a registered
    tenant. Success resets its health to healthy (tenants.py: "until a run or check succeeds")."""
    try:
        tid = validate_tenant_id(tenant_id)
    except InvalidTenantId as exc:
        return error(400, exc.error_class, exc.message)
    if await services.registry.get(tid) is None:
        return error(404, "tenant_not_found", f"tenant {tid} is not registered")
    result = await check_connection(services, tid)
    await _record(services, result, now=now or utc_now())
    saved = await services.registry.get(tid)
    body = result.as_record() | {"health": saved.as_record()["health"] if saved else None}
    return ApiResponse(200, body)
