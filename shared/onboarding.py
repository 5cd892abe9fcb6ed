"""Onboarding a customer tenant: admin consent with a single-use state, then a connection check.

    GET  /api/onboard?tenant=<id>    start(): the admin-consent URL for that tenant, fresh state
    GET  /api/consent/callback       callback(): Entra's answer -> check -> registry -> HTML page
    POST /api/tenants/{id}/check     check(): token exchange + one cheap Graph read -> JSON

The URL is Entra's v2 admin-consent endpoint with scope `<graph>/.default`, the only way to ask
for application permissions (https://learn.microsoft.com/entra/identity-platform/v2-admin-consent).
The `state` is random, kept server-side (shared/consent_states.py) with the one tenant the link
is for, and nothing is signed, so no signing secret exists.

The callback is anonymous (it is the redirect URI), so anyone can call it with any query. It
therefore trusts nothing but a state it issued, and:
- refuses an answer for any tenant but the link's, without spending the state (a stranger
  holding a copy of the link cannot burn the real administrator's);
- registers a tenant only once the connection check obtained a token from it, and registers it
  disabled, enrolled in nothing, until an admin enables it;
- never registers a tenant deleted since (its tombstone: only an admin's PUT brings it back);
- answers one of two fixed pages, done or not completed, so it tells no one whether a tenant
  exists or is already a customer. The reasons go to the audit trail (and, for a registered
  tenant, its health), for the operator.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from shared.api import ApiResponse, error
from shared.auth.audit import CONSENT_CALLBACK, AuditRecord
from shared.auth.principal import Principal
from shared.consent_states import ConsentStates, InvalidState, Link, PendingConsent
from shared.errors import InvalidTenantId, PermissionMissing, consent_remediation
from shared.ids import validate_tenant_id
from shared.jobs import JOBS
from shared.onboarding_check import CheckResult, check_connection
from shared.onboarding_pages import HtmlPage, done_page, not_completed_page
from shared.services import Services
from shared.tenants import Tenant

log = logging.getLogger(__name__)

CALLBACK_ROUTE = "consent/callback"

__all__ = ["CheckResult", "ConsentStates", "HtmlPage", "InvalidState", "callback", "check", "start"]


async def start(
    services: Services,
    *,
    tenant: str | None,
    name: str | None = None,
    issued_by: Principal,
    now: datetime | None = None,
) -> ApiResponse:
    """GET /api/onboard?tenant=<id>[&name=<display name>] -> the consent URL, with a state."""
    if not tenant:
        message = "tenant=<customer tenant id> is required: a consent link is for one tenant"
        return error(400, "tenant_required", message)
    try:
        tenant_id = validate_tenant_id(tenant)
    except InvalidTenantId as exc:
        return error(400, exc.error_class, exc.message)
    if name is not None and len(name) > 256:
        return error(400, "invalid_name", "name must be at most 256 characters")
    deleted_at = await services.registry.tombstone(tenant_id)
    if deleted_at is not None:
        return _deleted(tenant_id, deleted_at)
    redirect_uri = f"{services.settings.public_url}/api/{CALLBACK_ROUTE}"
    link = Link(tenant_id, name or "", issued_by.display, issued_by.object_id)
    pending = await services.consent_states.issue(
        redirect_uri=redirect_uri, now=now or datetime.now(UTC), pending=link
    )
    url = services.settings.admin_consent_url(
        tenant_id, redirect_uri=redirect_uri, state=pending.state
    )
    return ApiResponse(
        200,
        {
            "consent_url": url,
            "expires_at": pending.expires_at.isoformat(),
            "redirect_uri": redirect_uri,
            "tenant": tenant_id,
            "next": "Send consent_url to a Global Administrator (or Privileged Role "
            "Administrator) of the customer tenant. It works once, until expires_at.",
        },
        {"Cache-Control": "no-store"},
    )


def _deleted(tenant_id: str, deleted_at: datetime) -> ApiResponse:
    return error(
        409,
        "tenant_deleted",
        f"tenant {tenant_id} was deleted on {deleted_at.isoformat()}: bring it back with "
        f"PUT /api/tenants/{tenant_id} (admin) first, then issue a link",
    )


@dataclass(frozen=True)
class Outcome:
    """What a callback with a known state came to, for the page (done or not) and the audit."""

    done: bool
    tenant_id: str
    detail: str


async def callback(
    services: Services, query: dict[str, str], *, now: datetime | None = None
) -> HtmlPage:
    """GET /api/consent/callback: check the answer, then check, spend, register, record."""
    now = now or datetime.now(UTC)
    try:
        pending = await services.consent_states.find(query.get("state", ""), now=now)
    except InvalidState as exc:  # not audited: strangers must not be able to fill the trail
        log.warning("consent callback refused: %s", exc.message)
        return not_completed_page()
    outcome = await _complete(services, query, pending, now)
    page = done_page() if outcome.done else not_completed_page()
    await services.audit.write(_record(pending, outcome, page.status))
    return page


async def _complete(
    services: Services, query: dict[str, str], pending: PendingConsent, now: datetime
) -> Outcome:
    tenant_id = pending.tenant_id
    refused = _refusal(query, tenant_id)
    if refused:
        return Outcome(False, tenant_id, refused + "; the link was not spent")
    known = await services.registry.get(tenant_id)
    enrolled = await _jobs_run(services, known)
    result = await check_connection(services, tenant_id, enrolled=enrolled)
    if not result.token_obtained:
        await _record_health(services, result, now=now)  # a registered tenant's health says why
        return Outcome(False, tenant_id, "no token from the tenant: " + _failure(result))
    # Read as late as possible: a DELETE while the check ran still wins.
    if await services.registry.tombstone(tenant_id) is not None:
        return Outcome(False, tenant_id, "the tenant was deleted after the link was issued")
    try:
        await services.consent_states.spend(pending, now=now)
    except InvalidState:
        return Outcome(False, tenant_id, "another callback spent the link at the same moment")
    created = await _register(services, tenant_id, pending.name)
    await _record_health(services, result, now=now)
    registered = "registered, disabled, enrolled in nothing" if created else "already registered"
    checked = "check ok" if result.ok else "check failed: " + _failure(result)
    return Outcome(True, tenant_id, f"{registered}; {checked}")


def _refusal(query: dict[str, str], tenant_id: str) -> str:
    """Why the answer cannot complete this link's onboarding; empty when it can be tried."""
    if query.get("error"):
        described = query.get("error_description", "")[:300]
        return f"consent not granted: {query['error'][:60]}: {described}"
    if query.get("admin_consent", "").lower() != "true":
        return "the answer says neither that consent was granted nor why not"
    answered = query.get("tenant", "").lower()
    if answered != tenant_id:
        return f"the answer names tenant {answered[:64]!r}, the link is for {tenant_id}"
    return ""


def _failure(result: CheckResult) -> str:
    if result.error is None:
        return "unknown"
    return f"{result.error.error_class}: {result.error.message[:300]}"


def _record(pending: PendingConsent, outcome: Outcome, status: int) -> AuditRecord:
    issuer = f"{pending.issued_by} ({pending.issued_by_id})" if pending.issued_by_id else "?"
    return AuditRecord(
        actor=CONSENT_CALLBACK,
        method="GET",
        path=f"/api/{CALLBACK_ROUTE}",
        status=status,
        summary=f"link issued by {issuer}: {outcome.detail}",
        tenant_ids=(outcome.tenant_id,),
    )


async def _register(services: Services, tenant_id: str, name: str) -> bool:
    """A new tenant: disabled, enrolled in nothing. A known one keeps everything it has."""
    if await services.registry.get(tenant_id) is not None:
        return False
    await services.registry.put(Tenant(tenant_id, name=name, enabled=False, enrolments={}))
    return True


async def _record_health(services: Services, result: CheckResult, *, now: datetime) -> None:
    """A reachable tenant is healed, and each job's own health follows its permissions; a
    tenant-level refusal is recorded; a transient one is not."""
    registry, tid = services.registry, result.tenant_id
    if result.reachable:
        await registry.record(tid, None, None, now=now)
        granted = [job for job in JOBS if job not in result.missing]
        await registry.clear_job_health(tid, granted)
        enrolled = await _jobs_run(services, await registry.get(tid))
        for job, lacking in result.missing.items():
            if job in enrolled:  # a job the tenant does not run needs no health of its own
                await registry.record(tid, job, _lacking(tid, job, lacking), now=now)
    elif result.error is not None and result.error.health is not None:
        await registry.record(tid, None, result.error, now=now)


async def _jobs_run(services: Services, tenant: Tenant | None) -> list[str]:
    """The jobs the schedule runs in the tenant: its effective enrolments (its groups' too)."""
    if tenant is None:
        return []
    return sorted((await services.groups.targeting()).effective(tenant))


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
    result = await check_connection(services, tid, enrolled=await _jobs_run(services, registered))
    await _record_health(services, result, now=now or datetime.now(UTC))
    saved = await services.registry.get(tid)
    record = saved.as_record() if saved else {}
    body = result.as_record() | {
        "health": record.get("health"),
        "job_health": record.get("job_health"),
    }
    return ApiResponse(200, body)
