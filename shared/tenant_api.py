"""The tenant registry over HTTP: list, read, replace (PUT), change (PATCH), remove, and a
tenant's recent rows across runs.

Reading needs the read role; changing needs admin. An enrolment in apply mode makes the schedule
change the tenant, so adding one, or changing one's params, needs the apply role as well; so does
any change (tags, a removed enrolment) after which the tenant's groups make the schedule apply
what it did not apply before: an admin without apply cannot reach a tenant through the schedule
(docs/security.md). A tenant is shown with its groups and its effective enrolments, each with
its source (shared/groups.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shared.api import ApiResponse, check_params, error, forbidden, json_error, parse_json
from shared.auth.principal import Principal
from shared.auth.roles import Role
from shared.errors import InvalidTenantId
from shared.groups import Targeting, enrolment_records, gains_apply
from shared.ids import validate_tenant_id
from shared.results import Mode
from shared.services import Services
from shared.tenant_requests import InvalidTenant, tenant_from_patch, tenant_from_put
from shared.tenants import ConcurrentChange, Enrolment, Tenant

#: Not `tenant_not_found`: that class is Entra's AADSTS90002 (the tenant does not exist).
NOT_REGISTERED = "tenant_not_registered"


class ApplyRoleNeeded(Exception):
    """A registry change would let the schedule apply changes the caller may not apply."""


def not_registered(tenant_id: str) -> ApiResponse:
    return error(404, NOT_REGISTERED, f"tenant {tenant_id} is not registered")


def tenant_view(tenant: Tenant, targeting: Targeting) -> dict[str, Any]:
    """The tenant as the API shows it: its record, its groups, its effective enrolments."""
    effective = targeting.effective(tenant)
    enrolments = enrolment_records({job: e for job, (e, _) in effective.items()})
    return tenant.as_record() | {
        "groups": targeting.groups_of(tenant),
        "effective_enrolments": {
            job: enrolments[job] | {"source": source} for job, (_, source) in effective.items()
        },
    }


async def list_tenants(services: Services) -> ApiResponse:
    tenants = await services.registry.list()
    targeting = await services.groups.targeting()
    return ApiResponse(200, {"tenants": [tenant_view(t, targeting) for t in tenants]})


async def get_tenant(services: Services, tenant_id: str) -> ApiResponse:
    """GET /api/tenants/{tenant_id}."""
    try:
        tid = validate_tenant_id(tenant_id)
    except InvalidTenantId as exc:
        return error(400, exc.error_class, exc.message)
    found = await services.registry.get(tid)
    if found is None:
        return not_registered(tid)
    return ApiResponse(200, tenant_view(found, await services.groups.targeting()))


async def change_tenant(
    services: Services, method: str, tenant_id: str, body: bytes, *, caller: Principal
) -> ApiResponse:
    """PUT | PATCH | DELETE /api/tenants/{tenant_id} (admin; apply enrolments need apply)."""
    try:
        tid = validate_tenant_id(tenant_id)
    except InvalidTenantId as exc:
        return error(400, exc.error_class, exc.message)
    if method == "DELETE":
        now = datetime.now(UTC)
        existed = await services.registry.delete(tid, now=now, by=caller.display)
        return ApiResponse(200 if existed else 404, {"deleted": existed, "tenant_id": tid})
    try:
        return await _write(services, method, tid, parse_json(body), caller)
    except InvalidTenant as exc:
        return error(400, exc.error_class, exc.message, exc.problems)
    except ConcurrentChange as exc:
        return error(409, exc.error_class, exc.message)
    except ApplyRoleNeeded:
        return forbidden(Role.APPLY)
    except ValueError as exc:
        return json_error(exc)


async def _write(
    services: Services, method: str, tid: str, body: object, caller: Principal
) -> ApiResponse:
    created = False
    targeting = await services.groups.targeting()

    def put(current: Tenant | None) -> Tenant:
        nonlocal created
        created = current is None
        changed = tenant_from_put(tid, body, existing=current, check_params=check_params)
        return _within_roles(caller, current, changed, targeting)

    def patch(current: Tenant | None) -> Tenant:
        assert current is not None
        changed = tenant_from_patch(current, body, check_params=check_params)
        return _within_roles(caller, current, changed, targeting)

    if method == "PATCH":
        saved = await services.registry.update(tid, patch)
        if saved is None:
            return not_registered(tid)
        return ApiResponse(200, tenant_view(saved, targeting))
    saved = await services.registry.update(tid, put, create=True)
    assert saved is not None
    await services.registry.clear_tombstone(tid)  # an admin's PUT brings a deleted tenant back
    return ApiResponse(201 if created else 200, tenant_view(saved, targeting))


def _within_roles(
    caller: Principal, current: Tenant | None, changed: Tenant, targeting: Targeting
) -> Tenant:
    """`changed`, unless it adds or alters an apply enrolment, of its own or through its
    groups, and the caller may not apply."""
    if current is not None:
        changed.plans = current.plans  # runs set them; a dynamic group may select on them
    if caller.may(Role.APPLY):
        return changed
    before = _apply_enrolments(current.enrolments if current else {})
    after = _apply_enrolments(changed.enrolments)
    if any(before.get(job) != enrolment for job, enrolment in after.items()):
        raise ApplyRoleNeeded()
    # a new tenant is compared with a bare one: what `all` enrols, every tenant gets
    was = targeting.effective(current or Tenant(changed.tenant_id))
    if gains_apply(was, targeting.effective(changed)):
        raise ApplyRoleNeeded()
    return changed


def _apply_enrolments(enrolments: dict[str, Enrolment]) -> dict[str, Enrolment]:
    return {job: e for job, e in enrolments.items() if e.mode is Mode.APPLY}


async def tenant_runs(services: Services, tenant_id: str) -> ApiResponse:
    """GET /api/tenants/{id}/runs: the tenant's recent rows across runs, newest first."""
    try:
        tid = validate_tenant_id(tenant_id)
    except InvalidTenantId as exc:
        return error(400, exc.error_class, exc.message)
    if await services.registry.get(tid) is None:
        return not_registered(tid)
    return ApiResponse(200, {"tenant_id": tid, "rows": await services.runs.tenant_rows(tid)})
