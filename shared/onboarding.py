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

from datetime import UTC, datetime
from urllib.parse import urlsplit

from shared.api import ApiResponse, error
from shared.consent_states import ConsentStates, InvalidState, PendingConsent, restart
from shared.errors import InvalidTenantId, PermissionMissing, consent_remediation
from shared.ids import validate_tenant_id
from shared.jobs import JOBS
from shared.onboarding_check import CheckResult, check_connection
from shared.onboarding_pages import HtmlPage, callback_page, invalid_state_page
from shared.services import Services
from shared.tenants import Tenant

CALLBACK_ROUTE = "consent/callback"
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}

__all__ = ["CheckResult", "ConsentStates", "HtmlPage", "InvalidState", "callback", "check", "start"]


def public_base_url(base_url: str) -> str:
    """The app's URL as a browser reaches it: https, except on a loopback address (dev host).

    Behind App Service's front end the worker may see the request as http; Entra accepts only
    https redirect URIs (localhost excepted), and the registered one is https (infra/).
    """
    parts = urlsplit(base_url)
    if parts.hostname in _LOOPBACK or parts.scheme == "https":
        return base_url.rstrip("/")
    return f"https://{parts.netloc}{parts.path}".rstrip("/")


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
    pending = await services.consent_states.issue(
        redirect_uri=redirect_uri,
        now=now or datetime.now(UTC),
        tenant_hint=tenant_hint,
        name=name or "",
    )
    where = tenant_hint or "organizations"
    url = services.settings.admin_consent_url(where, redirect_uri=redirect_uri, state=pending.state)
    return ApiResponse(
        200,
        {
            "consent_url": url,
            "expires_at": pending.expires_at.isoformat(),
            "redirect_uri": redirect_uri,
            "tenant": tenant_hint,
            "next": "Send consent_url to a Global Administrator (or Privileged Role "
            "Administrator) of the customer tenant. It works once, until expires_at.",
        },
        {"Cache-Control": "no-store"},
    )


async def callback(
    services: Services, query: dict[str, str], *, now: datetime | None = None
) -> HtmlPage:
    """GET /api/consent/callback: spend the state, then register and check the tenant."""
    now = now or datetime.now(UTC)
    try:
        pending = await services.consent_states.consume(query.get("state", ""), now=now)
    except InvalidState as exc:
        return invalid_state_page(exc)
    if query.get("error"):
        return callback_page(declined=(query["error"], query.get("error_description", "")))
    tenant_id, problem = _granted_tenant(query, pending)
    if problem:
        return invalid_state_page(restart(problem), status=400)
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
    """A reachable tenant is healed, and each job's own health follows its permissions; a
    tenant-level refusal is recorded; a transient one is not."""
    registry, tid = services.registry, result.tenant_id
    if result.reachable:
        await registry.record(tid, None, None, now=now)
        granted = [job for job in JOBS if job not in result.missing]
        await registry.clear_job_health(tid, granted)
        tenant = await registry.get(tid)
        enrolled = tenant.enrolments if tenant else {}
        for job, lacking in result.missing.items():
            if job in enrolled:  # a job the tenant does not run needs no health of its own
                await registry.record(tid, job, _lacking(tid, job, lacking), now=now)
    elif result.error is not None and result.error.health is not None:
        await registry.record(tid, None, result.error, now=now)


def _lacking(tenant_id: str, job: str, permissions: list[str]) -> PermissionMissing:
    return PermissionMissing(
        f"the connection check found {job}'s permissions not granted: {', '.join(permissions)}",
        tenant_id=tenant_id,
        remediation=consent_remediation(tenant_id),
    )


async def check(services: Services, tenant_id: str, *, now: datetime | None = None) -> ApiResponse:
    """POST /api/tenants/{tenant_id}/check: the connection check, on demand, for a registered
    tenant. Success resets its health to healthy (tenants.py: "until a run or check succeeds")."""
    try:
        tid = validate_tenant_id(tenant_id)
    except InvalidTenantId as exc:
        return error(400, exc.error_class, exc.message)
    registered = await services.registry.get(tid)
    if registered is None:
        return error(404, "tenant_not_registered", f"tenant {tid} is not registered")
    result = await check_connection(services, tid, enrolled=sorted(registered.enrolments))
    await _record(services, result, now=now or datetime.now(UTC))
    saved = await services.registry.get(tid)
    record = saved.as_record() if saved else {}
    body = result.as_record() | {
        "health": record.get("health"),
        "job_health": record.get("job_health"),
    }
    return ApiResponse(200, body)
